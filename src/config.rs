//! Settings: flags > `KIRIM_XRAY_*` environment > `kirim-xray.toml` > defaults. Secrets come only
//! from the environment and never reach any output.
//!
//! Every source is first turned into a [`Layer`] (all fields optional), then the layers are
//! stacked and checked once in [`Settings::from_layers`]. clap already folds the environment into
//! the flags, so in the real process the env layer only adds what clap does not cover; keeping it a
//! layer of its own lets the tests inject an environment instead of mutating the process's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::api::{ApiSettings, Credentials, Secret};
use crate::cli::{ApiArgs, ManifestArgs};
use crate::logging::LogFormat;
use crate::progress::ProgressMode;
use crate::sync::SyncSettings;

mod layer;
pub use layer::Layer;

pub const DEFAULT_API_URL: &str = "https://apisdev-gw.beacukai.go.id/openapi/cnpibk";
pub const DEFAULT_AUTH_URL: &str = "https://apisdev-gw.beacukai.go.id";
pub const DEFAULT_CONFIG_FILE: &str = "kirim-xray.toml";
const MIB: u64 = 1024 * 1024;

/// A setting that cannot be used. The message names the flag, variable or file and key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

fn err<T>(message: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError(message.into()))
}

/// Whether the command will talk to the API (and so needs credentials).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Credentials,
    Offline,
}

/// Everything a command needs, merged and checked. No clap here.
#[derive(Debug, Clone)]
pub struct Settings {
    pub api_url: String,
    pub auth_url: String,
    pub rate: f64,
    pub burst: u32,
    pub concurrency: usize,
    pub retries: u32,
    pub timeout: Duration,
    /// How long to wait before asking again after an unclear answer or an unlisted photo.
    pub settle: Duration,
    /// After customs answered "BL/AWB not found" for a document, how long `run` asks about it
    /// with get only (no photos).
    pub recheck_not_found: Duration,
    pub out: PathBuf,
    pub images_root: Option<PathBuf>,
    /// Folders and photo links may resolve outside the images root.
    pub allow_outside_root: bool,
    pub sheet: Option<String>,
    pub max_images_per_request: usize,
    pub max_request_bytes: u64,
    pub max_image_bytes: u64,
    pub allow_http: bool,
    pub ca_cert: Option<PathBuf>,
    pub log_level: String,
    pub quiet: bool,
    /// How progress shows on stderr (`--progress`).
    pub progress: ProgressMode,
    /// Text or JSON lines in stderr and run.log (`--log-format`).
    pub log_format: LogFormat,
    /// The host-wide folder of the per-account locks.
    pub lock_dir: PathBuf,
    /// The settings file that was read, if any.
    pub config_file: Option<PathBuf>,
    /// Only for commands that send (`Need::Credentials`).
    pub credentials: Option<Credentials>,
}

/// A `KIRIM_XRAY_*` switch: `1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off`; unset or empty says
/// nothing.
pub fn env_switch(
    name: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<bool>, ConfigError> {
    match lookup(name).filter(|v| !v.trim().is_empty()) {
        None => Ok(None),
        Some(v) => match v.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(Some(true)),
            "0" | "false" | "no" | "off" => Ok(Some(false)),
            _ => err(format!("{name}: \"{v}\" is not true or false")),
        },
    }
}

fn is_secret_key(key: &str) -> bool {
    key.contains("password") || key.contains("token") || key.contains("secret") || key == "username"
}

/// Credentials from `KIRIM_XRAY_TOKEN`, else `KIRIM_XRAY_USERNAME` + `KIRIM_XRAY_PASSWORD`.
pub fn credentials_from_env(
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Credentials, ConfigError> {
    let get = |name: &str| lookup(name).filter(|v| !v.is_empty());
    if let Some(token) = get("KIRIM_XRAY_TOKEN") {
        return Ok(Credentials::Token(Secret::new(token.trim())));
    }
    match (get("KIRIM_XRAY_USERNAME"), get("KIRIM_XRAY_PASSWORD")) {
        (Some(username), Some(password)) => Ok(Credentials::Login {
            username,
            password: Secret::new(password),
        }),
        (Some(_), None) => err("KIRIM_XRAY_USERNAME is set but KIRIM_XRAY_PASSWORD is not"),
        (None, Some(_)) => err("KIRIM_XRAY_PASSWORD is set but KIRIM_XRAY_USERNAME is not"),
        (None, None) => err(
            "no credentials: set KIRIM_XRAY_TOKEN, or KIRIM_XRAY_USERNAME and KIRIM_XRAY_PASSWORD \
             (credentials are read only from the environment)",
        ),
    }
}

impl Settings {
    /// Settings of a command from its flags, the process environment and the settings file.
    pub fn load(
        api: &ApiArgs,
        manifest: &ManifestArgs,
        need: Need,
    ) -> Result<Settings, ConfigError> {
        let lookup = |name: &str| std::env::var(name).ok();
        let flags = Layer::from_args(api, manifest);
        let env = Layer::from_env(&lookup)?;
        let (file_layer, config_file) = file_layer(api.config.as_deref())?;
        let credentials = match need {
            Need::Credentials => Some(credentials_from_env(&lookup)?),
            Need::Offline => None,
        };
        let mut settings = Settings::from_layers(flags, env, file_layer, credentials)?;
        settings.config_file = config_file;
        Ok(settings)
    }

    /// Stack the layers (first wins), apply the defaults and check every value.
    pub fn from_layers(
        flags: Layer,
        env: Layer,
        file: Layer,
        credentials: Option<Credentials>,
    ) -> Result<Settings, ConfigError> {
        let l = flags.or(env).or(file);
        let s = Settings {
            api_url: check_url("api_url", l.api_url.as_deref().unwrap_or(DEFAULT_API_URL))?,
            auth_url: check_url(
                "auth_url",
                l.auth_url.as_deref().unwrap_or(DEFAULT_AUTH_URL),
            )?,
            rate: l.rate.unwrap_or(5.0),
            burst: l.burst.unwrap_or(1),
            concurrency: l.concurrency.unwrap_or(4),
            retries: l.retries.unwrap_or(5),
            timeout: check_timeout(l.timeout.unwrap_or(60.0))?,
            settle: check_settle(l.settle.unwrap_or(DEFAULT_SETTLE_SECONDS))?,
            recheck_not_found: check_recheck(
                l.recheck_not_found
                    .unwrap_or(DEFAULT_RECHECK_NOT_FOUND_SECONDS),
            )?,
            out: l.out.unwrap_or_else(|| PathBuf::from("runs")),
            images_root: l.images_root,
            allow_outside_root: l.allow_outside_root.unwrap_or(false),
            sheet: l.sheet,
            max_images_per_request: l.max_images_per_request.unwrap_or(10),
            max_request_bytes: l.max_request_bytes.unwrap_or(20 * MIB),
            max_image_bytes: l.max_image_bytes.unwrap_or(10 * MIB),
            allow_http: l.allow_http.unwrap_or(false),
            ca_cert: l.ca_cert,
            log_level: l
                .log_level
                .unwrap_or_else(|| "info".into())
                .trim()
                .to_ascii_lowercase(),
            quiet: l.quiet.unwrap_or(false),
            progress: match l.progress.as_deref() {
                Some(p) => p.parse().map_err(ConfigError)?,
                None => ProgressMode::default(),
            },
            log_format: match l.log_format.as_deref() {
                Some(f) => f.parse().map_err(ConfigError)?,
                None => LogFormat::default(),
            },
            lock_dir: l.lock_dir.unwrap_or_else(default_lock_dir),
            config_file: None,
            credentials,
        };
        s.check()?;
        Ok(s)
    }

    fn check(&self) -> Result<(), ConfigError> {
        if !(self.rate.is_finite() && self.rate > 0.0) {
            return err(format!(
                "rate must be more than 0 requests per second, not {}",
                self.rate
            ));
        }
        if self.burst < 1 {
            return err("burst must be at least 1");
        }
        if self.concurrency < 1 {
            return err("concurrency must be at least 1");
        }
        if self.concurrency > 256 {
            return err(format!(
                "concurrency {} is more than 256 workers",
                self.concurrency
            ));
        }
        if self.max_images_per_request < 1 {
            return err("max_images_per_request must be at least 1");
        }
        if self.max_request_bytes < 1 || self.max_image_bytes < 1 {
            return err("max_request_bytes and max_image_bytes must be at least 1");
        }
        if self.max_image_bytes > self.max_request_bytes {
            return err(format!(
                "max_image_bytes ({}) is more than max_request_bytes ({}): an image that size could never be sent",
                self.max_image_bytes, self.max_request_bytes
            ));
        }
        if !["error", "warn", "info", "debug", "trace"].contains(&self.log_level.as_str()) {
            return err(format!(
                "log level \"{}\" is not one of error, warn, info, debug, trace",
                self.log_level
            ));
        }
        Ok(())
    }

    /// What the HTTP client needs. Fails when the settings were loaded without credentials.
    pub fn to_api_settings(&self) -> Result<ApiSettings, ConfigError> {
        let Some(credentials) = self.credentials.clone() else {
            return err("no credentials were loaded for a command that sends");
        };
        Ok(ApiSettings {
            api_url: self.api_url.clone(),
            auth_url: self.auth_url.clone(),
            rate: self.rate,
            burst: self.burst,
            timeout: self.timeout,
            allow_http: self.allow_http,
            ca_cert: self.ca_cert.clone(),
            credentials,
        })
    }

    /// Install the global logging as these settings ask (level, quiet, format, progress mode),
    /// for a command that processes rows.
    pub fn start_logging(&self) -> crate::logging::LogHandle {
        crate::logging::init_with(&self.log_level, self.quiet, self.log_format, self.progress)
    }

    /// What the per-row protocol needs.
    pub fn sync_settings(&self) -> SyncSettings {
        SyncSettings {
            max_images_per_request: self.max_images_per_request,
            max_request_bytes: self.max_request_bytes,
            retries: self.retries,
            backoff_base: Duration::from_millis(500),
            backoff_cap: Duration::from_secs(30),
            settle: self.settle,
            settle_checks: SETTLE_CHECKS,
            idle: Default::default(),
        }
    }

    /// The settings as summary.json shows them: no secrets.
    pub fn public_view(&self) -> PublicSettings {
        PublicSettings {
            api_url: self.api_url.clone(),
            auth_url: self.auth_url.clone(),
            rate: self.rate,
            burst: self.burst,
            concurrency: self.concurrency,
            retries: self.retries,
            timeout_seconds: self.timeout.as_secs_f64(),
            settle_seconds: self.settle.as_secs_f64(),
            recheck_not_found_seconds: self.recheck_not_found.as_secs_f64(),
            out: self.out.clone(),
            images_root: self.images_root.clone(),
            allow_outside_root: self.allow_outside_root,
            sheet: self.sheet.clone(),
            max_images_per_request: self.max_images_per_request,
            max_request_bytes: self.max_request_bytes,
            max_image_bytes: self.max_image_bytes,
            allow_http: self.allow_http,
            ca_cert: self.ca_cert.clone(),
            log_level: self.log_level.clone(),
            lock_dir: Some(self.lock_dir.clone()),
            config_file: self.config_file.clone(),
            credentials: self.credentials.as_ref().map(|c| match c {
                Credentials::Token(_) => "KIRIM_XRAY_TOKEN".to_string(),
                Credentials::Login { username, .. } => {
                    format!("KIRIM_XRAY_USERNAME/KIRIM_XRAY_PASSWORD (user {username})")
                }
            }),
        }
    }
}

/// Settings as recorded in summary.json: where the credentials came from, never what they are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublicSettings {
    pub api_url: String,
    pub auth_url: String,
    pub rate: f64,
    pub burst: u32,
    pub concurrency: usize,
    pub retries: u32,
    pub timeout_seconds: f64,
    /// Absent from summaries written before the setting existed.
    #[serde(default = "default_settle_seconds")]
    pub settle_seconds: f64,
    /// Absent from summaries written before the setting existed.
    #[serde(default = "default_recheck_not_found_seconds")]
    pub recheck_not_found_seconds: f64,
    pub out: PathBuf,
    pub images_root: Option<PathBuf>,
    /// Absent from the summary.json of runs made before the setting existed.
    #[serde(default)]
    pub allow_outside_root: bool,
    pub sheet: Option<String>,
    pub max_images_per_request: usize,
    pub max_request_bytes: u64,
    pub max_image_bytes: u64,
    pub allow_http: bool,
    pub ca_cert: Option<PathBuf>,
    pub log_level: String,
    /// Absent from the summary.json of runs made before the setting existed.
    #[serde(default)]
    pub lock_dir: Option<PathBuf>,
    pub config_file: Option<PathBuf>,
    pub credentials: Option<String>,
}

/// Where the per-account locks live unless `lock_dir` says: one folder for the whole host, so
/// that runs from any `--out`, by any user, see each other.
pub fn default_lock_dir() -> PathBuf {
    std::env::temp_dir().join("kirim-xray-locks")
}

/// The settings file's layer and path: `config` (from `--config` or `KIRIM_XRAY_CONFIG`), else
/// `./kirim-xray.toml` when it exists, else no file.
pub fn file_layer(config: Option<&Path>) -> Result<(Layer, Option<PathBuf>), ConfigError> {
    match config {
        Some(path) => Ok((read_config(path)?, Some(path.to_path_buf()))),
        None => {
            let default = PathBuf::from(DEFAULT_CONFIG_FILE);
            if default.is_file() {
                Ok((read_config(&default)?, Some(default)))
            } else {
                Ok((Layer::default(), None))
            }
        }
    }
}

fn read_config(path: &Path) -> Result<Layer, ConfigError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Layer::from_toml(&text, path),
        Err(e) => err(format!("cannot read settings file {}: {e}", path.display())),
    }
}

fn check_url(name: &str, url: &str) -> Result<String, ConfigError> {
    // User info in a URL may be a secret (`https://TOKEN@host`): refuse it before it can reach
    // summary.json or a message, and do not repeat the value.
    if url.contains('@') {
        return err(format!(
            "{name} must not carry credentials (it contains '@'); they come only from the environment"
        ));
    }
    let trimmed = url.trim().trim_end_matches('/');
    match reqwest::Url::parse(trimmed) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {
            Ok(trimmed.to_string())
        }
        Ok(_) => err(format!(
            "{name} \"{url}\" must be an http:// or https:// URL"
        )),
        Err(e) => err(format!("{name} \"{url}\" is not a URL: {e}")),
    }
}

fn check_timeout(seconds: f64) -> Result<Duration, ConfigError> {
    if seconds.is_finite() && seconds > 0.0 && seconds <= 86_400.0 {
        Ok(Duration::from_secs_f64(seconds))
    } else {
        err(format!(
            "timeout must be between 0 and 86400 seconds, not {seconds}"
        ))
    }
}

/// The settle time when nothing sets it: long enough for a gateway's late commit and a read
/// replica's lag, which are seconds in practice (docs/operations.md).
pub const DEFAULT_SETTLE_SECONDS: f64 = 10.0;
/// Gets after the verifying one, a settle time apart, while acknowledged photos are not listed.
pub const SETTLE_CHECKS: u32 = 3;

fn default_settle_seconds() -> f64 {
    DEFAULT_SETTLE_SECONDS
}

fn check_settle(seconds: f64) -> Result<Duration, ConfigError> {
    seconds_up_to("settle", seconds, 3_600.0)
}

/// `seconds` as a duration if it lies from 0 to `max`, else an error that names the setting.
fn seconds_up_to(name: &str, seconds: f64, max: f64) -> Result<Duration, ConfigError> {
    if seconds.is_finite() && (0.0..=max).contains(&seconds) {
        Ok(Duration::from_secs_f64(seconds))
    } else {
        err(format!(
            "{name} must be from 0 to {max} seconds, not {seconds}"
        ))
    }
}

/// How long, after customs answered "BL/AWB not found", a plain run asks with get only: an hour
/// spares a re-run the same night from sending the photos again for the same answer, and a
/// nightly run asks again.
pub const DEFAULT_RECHECK_NOT_FOUND_SECONDS: f64 = 3_600.0;

fn default_recheck_not_found_seconds() -> f64 {
    DEFAULT_RECHECK_NOT_FOUND_SECONDS
}

/// At most 30 days.
fn check_recheck(seconds: f64) -> Result<Duration, ConfigError> {
    seconds_up_to("recheck_not_found", seconds, 2_592_000.0)
}

/// Environment map for tests and for callers that already hold the variables.
pub fn lookup_in(map: &BTreeMap<String, String>) -> impl Fn(&str) -> Option<String> + '_ {
    move |name| map.get(name).cloned()
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
