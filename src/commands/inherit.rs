//! The settings of a run that continues or retries an earlier one (`run --resume`, `retry`):
//! what the earlier run used, under the flags and variables given now.

use std::path::PathBuf;

use crate::cli::{ApiArgs, ManifestArgs};
use crate::config::{ConfigError, Layer, Need, PublicSettings, Settings, credentials_from_env};

/// The settings of a run that continues or retries an earlier one: flags given now (and the
/// `KIRIM_XRAY_*` variables, which clap folds into them) and a `--config` file given now win;
/// everything else is what the earlier run used, so the manifest is read the same way and the
/// same gateway is used at the same rate. `out` fills in when nothing above says.
pub fn inherited_settings(
    api: &ApiArgs,
    manifest: &ManifestArgs,
    earlier: &PublicSettings,
    out: Option<PathBuf>,
    need: Need,
) -> Result<Settings, ConfigError> {
    let lookup = |name: &str| std::env::var(name).ok();
    inherited_settings_from(api, manifest, earlier, out, need, &lookup)
}

/// [`inherited_settings`] with the environment read through `lookup`. The environment is a layer
/// of its own, under the flags: clap folds most `KIRIM_XRAY_*` variables into the flags, but not
/// the switches (`KIRIM_XRAY_QUIET`, `KIRIM_XRAY_ALLOW_HTTP`).
fn inherited_settings_from(
    api: &ApiArgs,
    manifest: &ManifestArgs,
    earlier: &PublicSettings,
    out: Option<PathBuf>,
    need: Need,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Settings, ConfigError> {
    let flags = Layer::from_args(api, manifest).or(Layer::from_env(lookup)?);
    let file = match &api.config {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => Layer::from_toml(&text, path)?,
            Err(e) => {
                return Err(ConfigError(format!(
                    "cannot read settings file {}: {e}",
                    path.display()
                )));
            }
        },
        None => Layer::default(),
    };
    let earlier = Layer {
        api_url: Some(earlier.api_url.clone()),
        auth_url: Some(earlier.auth_url.clone()),
        rate: Some(earlier.rate),
        burst: Some(earlier.burst),
        concurrency: Some(earlier.concurrency),
        retries: Some(earlier.retries),
        timeout: Some(earlier.timeout_seconds),
        settle: Some(earlier.settle_seconds),
        recheck_not_found: Some(earlier.recheck_not_found_seconds),
        out,
        images_root: earlier.images_root.clone(),
        allow_outside_root: Some(earlier.allow_outside_root),
        sheet: earlier.sheet.clone(),
        max_images_per_request: Some(earlier.max_images_per_request),
        max_request_bytes: Some(earlier.max_request_bytes),
        max_image_bytes: Some(earlier.max_image_bytes),
        allow_http: Some(earlier.allow_http),
        ca_cert: earlier.ca_cert.clone(),
        log_level: Some(earlier.log_level.clone()),
        quiet: None,
        // How this process shows itself is decided now, not by the run it continues.
        progress: None,
        log_format: None,
        lock_dir: earlier.lock_dir.clone(),
    };
    let credentials = match need {
        Need::Credentials => Some(credentials_from_env(lookup)?),
        Need::Offline => None,
    };
    let mut s = Settings::from_layers(flags.or(file), earlier, Layer::default(), credentials)?;
    s.config_file = api.config.clone();
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inherited_settings_take_the_earlier_run_unless_a_flag_says_otherwise() {
        let mut earlier =
            Settings::from_layers(Layer::default(), Layer::default(), Layer::default(), None)
                .unwrap()
                .public_view();
        earlier.rate = 42.0;
        earlier.concurrency = 7;
        earlier.images_root = Some("/photos".into());
        earlier.api_url = "http://127.0.0.1:1/x".into();
        let api = ApiArgs {
            concurrency: Some(2),
            ..ApiArgs::default()
        };
        let s = inherited_settings(
            &api,
            &ManifestArgs::default(),
            &earlier,
            Some("/runs".into()),
            Need::Offline,
        )
        .unwrap();
        assert_eq!(s.rate, 42.0, "from the earlier run");
        assert_eq!(s.concurrency, 2, "the flag given now wins");
        assert_eq!(s.images_root, Some(PathBuf::from("/photos")));
        assert_eq!(s.api_url, "http://127.0.0.1:1/x");
        assert_eq!(s.out, PathBuf::from("/runs"));

        let api = ApiArgs {
            out: Some("elsewhere".into()),
            ..ApiArgs::default()
        };
        let s = inherited_settings(
            &api,
            &ManifestArgs::default(),
            &earlier,
            Some("/runs".into()),
            Need::Offline,
        )
        .unwrap();
        assert_eq!(s.out, PathBuf::from("elsewhere"));
    }

    #[test]
    fn inherited_settings_take_switches_from_the_environment_too() {
        let mut earlier =
            Settings::from_layers(Layer::default(), Layer::default(), Layer::default(), None)
                .unwrap()
                .public_view();
        earlier.allow_http = true;
        let env = |name: &str| match name {
            "KIRIM_XRAY_QUIET" => Some("1".to_string()),
            "KIRIM_XRAY_ALLOW_HTTP" => Some("false".to_string()),
            "KIRIM_XRAY_RATE" => Some("2".to_string()),
            _ => None,
        };
        let s = inherited_settings_from(
            &ApiArgs::default(),
            &ManifestArgs::default(),
            &earlier,
            Some("/runs".into()),
            Need::Offline,
            &env,
        )
        .unwrap();
        assert!(s.quiet, "KIRIM_XRAY_QUIET given now");
        assert!(
            !s.allow_http,
            "KIRIM_XRAY_ALLOW_HTTP given now wins over the earlier run"
        );
        assert_eq!(s.rate, 2.0);
    }
}
