//! One source of settings as a [`Layer`]: every field optional, filled from the flags, the
//! environment or the settings file, and stacked with [`Layer::or`].

use std::path::{Path, PathBuf};

use super::*;

/// One source of settings; `None` = this source does not say.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Layer {
    pub api_url: Option<String>,
    pub auth_url: Option<String>,
    pub rate: Option<f64>,
    pub burst: Option<u32>,
    pub concurrency: Option<usize>,
    pub retries: Option<u32>,
    pub timeout: Option<f64>,
    pub settle: Option<f64>,
    pub recheck_not_found: Option<f64>,
    pub out: Option<PathBuf>,
    pub images_root: Option<PathBuf>,
    pub allow_outside_root: Option<bool>,
    pub sheet: Option<String>,
    pub max_images_per_request: Option<usize>,
    pub max_request_bytes: Option<u64>,
    pub max_image_bytes: Option<u64>,
    pub allow_http: Option<bool>,
    pub ca_cert: Option<PathBuf>,
    pub log_level: Option<String>,
    pub quiet: Option<bool>,
    pub progress: Option<String>,
    pub log_format: Option<String>,
    pub lock_dir: Option<PathBuf>,
}

impl Layer {
    /// Values from flags (which clap has already completed from the environment).
    pub fn from_args(api: &ApiArgs, manifest: &ManifestArgs) -> Layer {
        Layer {
            api_url: api.api_url.clone(),
            auth_url: api.auth_url.clone(),
            rate: api.rate,
            burst: api.burst,
            concurrency: api.concurrency,
            retries: api.retries,
            timeout: api.timeout,
            settle: api.settle,
            recheck_not_found: api.recheck_not_found,
            out: api.out.clone(),
            images_root: manifest.images_root.clone(),
            allow_outside_root: manifest.allow_outside_root.then_some(true),
            sheet: manifest.sheet.clone(),
            max_images_per_request: api.max_images_per_request,
            max_request_bytes: api.max_request_bytes,
            max_image_bytes: manifest.max_image_bytes,
            // A switch that is off on the command line says nothing: the file may turn it on.
            allow_http: api.allow_http.then_some(true),
            ca_cert: api.ca_cert.clone(),
            log_level: api.log_level.clone(),
            quiet: api.quiet.then_some(true),
            progress: api.progress.clone(),
            log_format: api.log_format.clone(),
            lock_dir: api.lock_dir.clone(),
        }
    }

    /// Values from `KIRIM_XRAY_*` variables, read through `lookup`.
    pub fn from_env(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Layer, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        fn num<T: std::str::FromStr>(
            name: &str,
            value: Option<String>,
        ) -> Result<Option<T>, ConfigError> {
            match value {
                None => Ok(None),
                Some(v) => match v.trim().parse() {
                    Ok(n) => Ok(Some(n)),
                    Err(_) => err(format!("{name}: \"{v}\" is not a valid number")),
                },
            }
        }
        let flag = |name: &str| env_switch(name, lookup);
        Ok(Layer {
            api_url: get("KIRIM_XRAY_API_URL"),
            auth_url: get("KIRIM_XRAY_AUTH_URL"),
            rate: num("KIRIM_XRAY_RATE", get("KIRIM_XRAY_RATE"))?,
            burst: num("KIRIM_XRAY_BURST", get("KIRIM_XRAY_BURST"))?,
            concurrency: num("KIRIM_XRAY_CONCURRENCY", get("KIRIM_XRAY_CONCURRENCY"))?,
            retries: num("KIRIM_XRAY_RETRIES", get("KIRIM_XRAY_RETRIES"))?,
            timeout: num("KIRIM_XRAY_TIMEOUT", get("KIRIM_XRAY_TIMEOUT"))?,
            settle: num("KIRIM_XRAY_SETTLE", get("KIRIM_XRAY_SETTLE"))?,
            recheck_not_found: num(
                "KIRIM_XRAY_RECHECK_NOT_FOUND",
                get("KIRIM_XRAY_RECHECK_NOT_FOUND"),
            )?,
            out: get("KIRIM_XRAY_OUT").map(PathBuf::from),
            images_root: get("KIRIM_XRAY_IMAGES_ROOT").map(PathBuf::from),
            allow_outside_root: flag("KIRIM_XRAY_ALLOW_OUTSIDE_ROOT")?,
            sheet: None,
            max_images_per_request: num(
                "KIRIM_XRAY_MAX_IMAGES_PER_REQUEST",
                get("KIRIM_XRAY_MAX_IMAGES_PER_REQUEST"),
            )?,
            max_request_bytes: num(
                "KIRIM_XRAY_MAX_REQUEST_BYTES",
                get("KIRIM_XRAY_MAX_REQUEST_BYTES"),
            )?,
            max_image_bytes: num(
                "KIRIM_XRAY_MAX_IMAGE_BYTES",
                get("KIRIM_XRAY_MAX_IMAGE_BYTES"),
            )?,
            allow_http: flag("KIRIM_XRAY_ALLOW_HTTP")?,
            ca_cert: get("KIRIM_XRAY_CA_CERT").map(PathBuf::from),
            log_level: get("KIRIM_XRAY_LOG"),
            quiet: flag("KIRIM_XRAY_QUIET")?,
            progress: get("KIRIM_XRAY_PROGRESS"),
            log_format: get("KIRIM_XRAY_LOG_FORMAT"),
            lock_dir: get("KIRIM_XRAY_LOCK_DIR").map(PathBuf::from),
        })
    }

    /// Values from a settings file's text. Keys are the flag names, with `_` or `-`. Relative
    /// paths are taken from the file's folder, so that a nightly job does not depend on its
    /// working directory.
    pub fn from_toml(text: &str, file: &Path) -> Result<Layer, ConfigError> {
        let shown = file.display();
        let table: toml::Table = match text.parse() {
            Ok(t) => t,
            Err(e) => return err(format!("{shown}: not valid TOML: {}", e.message())),
        };
        let base = file.parent().unwrap_or(Path::new(""));
        let mut layer = Layer::default();
        for (raw_key, value) in &table {
            let key = raw_key.replace('-', "_").to_ascii_lowercase();
            if is_secret_key(&key) {
                return err(format!(
                    "{shown}: key `{raw_key}` is refused: credentials come only from the environment \
                     (KIRIM_XRAY_TOKEN, or KIRIM_XRAY_USERNAME and KIRIM_XRAY_PASSWORD)"
                ));
            }
            let bad = |what: &str| {
                ConfigError(format!(
                    "{shown}: key `{raw_key}` must be {what}, not {value}"
                ))
            };
            let string = || {
                value
                    .as_str()
                    .map(str::to_string)
                    .ok_or_else(|| bad("a string"))
            };
            let path = || string().map(|s| base.join(s));
            let int = || {
                value
                    .as_integer()
                    .filter(|n| *n >= 0)
                    .map(|n| n as u64)
                    .ok_or_else(|| bad("a whole number"))
            };
            let float = || {
                value
                    .as_float()
                    .or_else(|| value.as_integer().map(|n| n as f64))
                    .ok_or_else(|| bad("a number"))
            };
            let boolean = || value.as_bool().ok_or_else(|| bad("true or false"));
            match key.as_str() {
                "api_url" => layer.api_url = Some(string()?),
                "auth_url" => layer.auth_url = Some(string()?),
                "rate" => layer.rate = Some(float()?),
                "burst" => layer.burst = Some(u32::try_from(int()?).map_err(|_| bad("smaller"))?),
                "concurrency" => layer.concurrency = Some(int()? as usize),
                "retries" => {
                    layer.retries = Some(u32::try_from(int()?).map_err(|_| bad("smaller"))?)
                }
                "timeout" => layer.timeout = Some(float()?),
                "settle" => layer.settle = Some(float()?),
                "recheck_not_found" => layer.recheck_not_found = Some(float()?),
                "out" => layer.out = Some(path()?),
                "images_root" => layer.images_root = Some(path()?),
                "allow_outside_root" => layer.allow_outside_root = Some(boolean()?),
                "sheet" => layer.sheet = Some(string()?),
                "max_images_per_request" => layer.max_images_per_request = Some(int()? as usize),
                "max_request_bytes" => layer.max_request_bytes = Some(int()?),
                "max_image_bytes" => layer.max_image_bytes = Some(int()?),
                "allow_http" => layer.allow_http = Some(boolean()?),
                "ca_cert" => layer.ca_cert = Some(path()?),
                "log_level" | "log" => layer.log_level = Some(string()?),
                "quiet" => layer.quiet = Some(boolean()?),
                "progress" => layer.progress = Some(string()?),
                "log_format" => layer.log_format = Some(string()?),
                "lock_dir" => layer.lock_dir = Some(path()?),
                _ => return err(format!("{shown}: unknown key `{raw_key}`")),
            }
        }
        Ok(layer)
    }

    /// Fill what `self` does not say from `lower`.
    pub fn or(self, lower: Layer) -> Layer {
        Layer {
            api_url: self.api_url.or(lower.api_url),
            auth_url: self.auth_url.or(lower.auth_url),
            rate: self.rate.or(lower.rate),
            burst: self.burst.or(lower.burst),
            concurrency: self.concurrency.or(lower.concurrency),
            retries: self.retries.or(lower.retries),
            timeout: self.timeout.or(lower.timeout),
            settle: self.settle.or(lower.settle),
            recheck_not_found: self.recheck_not_found.or(lower.recheck_not_found),
            out: self.out.or(lower.out),
            images_root: self.images_root.or(lower.images_root),
            allow_outside_root: self.allow_outside_root.or(lower.allow_outside_root),
            sheet: self.sheet.or(lower.sheet),
            max_images_per_request: self.max_images_per_request.or(lower.max_images_per_request),
            max_request_bytes: self.max_request_bytes.or(lower.max_request_bytes),
            max_image_bytes: self.max_image_bytes.or(lower.max_image_bytes),
            allow_http: self.allow_http.or(lower.allow_http),
            ca_cert: self.ca_cert.or(lower.ca_cert),
            log_level: self.log_level.or(lower.log_level),
            quiet: self.quiet.or(lower.quiet),
            progress: self.progress.or(lower.progress),
            log_format: self.log_format.or(lower.log_format),
            lock_dir: self.lock_dir.or(lower.lock_dir),
        }
    }
}
