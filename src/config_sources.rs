//! Where each setting in force came from — flag, environment, settings file (with its path) or
//! default — for `kirim-xray config` and `kirim-xray doctor`. Built from the same layers that
//! [`Settings::from_layers`] stacks, so the table cannot disagree with what a run would use.
//! Credentials appear only as "set" or "not set", with the variable that holds them.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::cli::{ApiArgs, ManifestArgs};
use crate::config::{ConfigError, Layer, Settings, file_layer};
use crate::escape::escape_control;

/// Where one setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// On the command line: the flag, e.g. `--rate`.
    Flag(String),
    /// A `KIRIM_XRAY_*` variable.
    Env(String),
    /// The settings file.
    File(PathBuf),
    Default,
    /// A secret that no variable sets.
    Unset,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag(flag) => write!(f, "flag {flag}"),
            Source::Env(var) => write!(f, "environment {var}"),
            Source::File(path) => write!(f, "file {}", escape_control(&path.display().to_string())),
            Source::Default => f.write_str("default"),
            Source::Unset => f.write_str("-"),
        }
    }
}

/// One line of the table: the settings-file key, the value in force (escaped for a terminal)
/// and its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingRow {
    pub key: String,
    pub value: String,
    pub source: Source,
}

/// The layers one command stacks, kept apart so that each value's source can be told.
#[derive(Debug, Clone)]
pub struct Layers {
    pub flags: Layer,
    pub env: Layer,
    pub file: Layer,
    pub file_path: Option<PathBuf>,
}

impl Layers {
    /// The layers of a command from its flags, the process environment and the settings file.
    pub fn load(api: &ApiArgs, manifest: &ManifestArgs) -> Result<Layers, ConfigError> {
        let lookup = |name: &str| std::env::var(name).ok();
        let (file, file_path) = file_layer(api.config.as_deref())?;
        Ok(Layers {
            flags: Layer::from_args(api, manifest),
            env: Layer::from_env(&lookup)?,
            file,
            file_path,
        })
    }

    /// The settings these layers give, without credentials.
    pub fn settings(&self) -> Result<Settings, ConfigError> {
        let mut s = Settings::from_layers(
            self.flags.clone(),
            self.env.clone(),
            self.file.clone(),
            None,
        )?;
        s.config_file = self.file_path.clone();
        Ok(s)
    }
}

/// Every setting in force with its source. `on_command_line(id)` says whether the flag of the
/// setting `id` (the field name, e.g. `api_url`) was typed on the command line: clap folds the
/// `KIRIM_XRAY_*` variables into the flags, and only it knows which one a value came from.
pub fn table(
    layers: &Layers,
    s: &Settings,
    on_command_line: &dyn Fn(&str) -> bool,
) -> Vec<SettingRow> {
    let mut t = Table {
        layers,
        on_command_line,
        rows: Vec::new(),
    };
    t.pace(s);
    t.files_and_limits(s);
    t.connection_and_logs(s);
    t.rows
}

/// Which layers set a setting: flags, environment, settings file.
macro_rules! said {
    ($layers:expr, $field:ident) => {
        [
            $layers.flags.$field.is_some(),
            $layers.env.$field.is_some(),
            $layers.file.$field.is_some(),
        ]
    };
}

/// The table being built, a row at a time in the order it is shown.
struct Table<'a> {
    layers: &'a Layers,
    on_command_line: &'a dyn Fn(&str) -> bool,
    rows: Vec<SettingRow>,
}

impl Table<'_> {
    /// One row: `said` tells which layers set it, `env` names its variable when that is not
    /// `KIRIM_XRAY_` and the key.
    fn add(&mut self, key: &str, env: Option<&str>, said: [bool; 3], value: String) {
        let flag = format!("--{}", key.replace('_', "-"));
        let env_name = env.map_or_else(
            || format!("KIRIM_XRAY_{}", key.to_ascii_uppercase()),
            str::to_string,
        );
        let source = match said {
            [true, ..] if (self.on_command_line)(key) => Source::Flag(flag),
            [true, ..] | [_, true, _] => Source::Env(env_name),
            [_, _, true] => self
                .layers
                .file_path
                .clone()
                .map_or(Source::Default, Source::File),
            _ => Source::Default,
        };
        self.rows.push(SettingRow {
            key: key.to_string(),
            value: escape_control(&value).into_owned(),
            source,
        });
    }

    /// The gateway and the pace of the requests.
    fn pace(&mut self, s: &Settings) {
        let l = self.layers;
        self.add("api_url", None, said!(l, api_url), s.api_url.clone());
        self.add("auth_url", None, said!(l, auth_url), s.auth_url.clone());
        self.add(
            "rate",
            None,
            said!(l, rate),
            format!("{} requests/s", s.rate),
        );
        self.add("burst", None, said!(l, burst), s.burst.to_string());
        let concurrency = s.concurrency.to_string();
        self.add("concurrency", None, said!(l, concurrency), concurrency);
        self.add("retries", None, said!(l, retries), s.retries.to_string());
        self.add("timeout", None, said!(l, timeout), secs(s.timeout));
        self.add("settle", None, said!(l, settle), secs(s.settle));
        let recheck = secs(s.recheck_not_found);
        self.add(
            "recheck_not_found",
            None,
            said!(l, recheck_not_found),
            recheck,
        );
    }

    /// Where the outputs and photos are, and the bounds on photos and requests.
    fn files_and_limits(&mut self, s: &Settings) {
        let l = self.layers;
        self.add("out", None, said!(l, out), path(&s.out));
        let root = or_none(&s.images_root, "(the manifest's folder)");
        self.add("images_root", None, said!(l, images_root), root);
        let outside = s.allow_outside_root.to_string();
        let said = said!(l, allow_outside_root);
        self.add("allow_outside_root", None, said, outside);
        let sheet = s.sheet.clone().unwrap_or_else(|| "(the first)".into());
        self.add("sheet", Some("(no variable)"), said!(l, sheet), sheet);
        let images = s.max_images_per_request.to_string();
        let said = said!(l, max_images_per_request);
        self.add("max_images_per_request", None, said, images);
        let bytes = s.max_request_bytes.to_string();
        let said = said!(l, max_request_bytes);
        self.add("max_request_bytes", None, said, bytes);
        let bytes = s.max_image_bytes.to_string();
        self.add("max_image_bytes", None, said!(l, max_image_bytes), bytes);
    }

    /// How the connection is trusted, and what the run logs where.
    fn connection_and_logs(&mut self, s: &Settings) {
        let l = self.layers;
        let http = s.allow_http.to_string();
        self.add("allow_http", None, said!(l, allow_http), http);
        let ca = or_none(&s.ca_cert, "(none)");
        self.add("ca_cert", None, said!(l, ca_cert), ca);
        let level = s.log_level.clone();
        self.add(
            "log_level",
            Some("KIRIM_XRAY_LOG"),
            said!(l, log_level),
            level,
        );
        self.add("quiet", None, said!(l, quiet), s.quiet.to_string());
        self.add("progress", None, said!(l, progress), s.progress.to_string());
        let format = s.log_format.to_string();
        self.add("log_format", None, said!(l, log_format), format);
        self.add("lock_dir", None, said!(l, lock_dir), path(&s.lock_dir));
    }
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

fn or_none(p: &Option<PathBuf>, none: &str) -> String {
    p.as_deref().map_or(none.to_string(), path)
}

fn secs(d: std::time::Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

/// The credential variables: whether each is set, never what it holds (the user name, which
/// summary.json also records, is shown), and which one a run would use.
pub fn credential_rows(lookup: &dyn Fn(&str) -> Option<String>) -> Vec<SettingRow> {
    let set = |name: &str| lookup(name).filter(|v| !v.is_empty());
    let token = set("KIRIM_XRAY_TOKEN").is_some();
    let user = set("KIRIM_XRAY_USERNAME");
    let password = set("KIRIM_XRAY_PASSWORD").is_some();
    let row = |key: &str, value: String, is_set: bool| SettingRow {
        key: key.to_string(),
        value,
        source: if is_set {
            Source::Env(key.to_string())
        } else {
            Source::Unset
        },
    };
    let word = |b: bool| if b { "set" } else { "not set" }.to_string();
    let used = match (token, &user, password) {
        (true, ..) => "a ready token (KIRIM_XRAY_TOKEN)".to_string(),
        (false, Some(u), true) => format!("login as user {}", escape_control(u)),
        _ => "none: a run would stop with exit 2".to_string(),
    };
    vec![
        row("KIRIM_XRAY_TOKEN", word(token), token),
        row(
            "KIRIM_XRAY_USERNAME",
            user.as_deref().map_or("not set".into(), |u| {
                format!("set (user {})", escape_control(u))
            }),
            user.is_some(),
        ),
        row("KIRIM_XRAY_PASSWORD", word(password), password),
        SettingRow {
            key: "credentials".into(),
            value: used,
            source: Source::Unset,
        },
    ]
}

/// Where the settings file itself came from.
pub fn config_file_row(layers: &Layers, on_command_line: bool) -> SettingRow {
    let (value, source) = match &layers.file_path {
        None => ("(none)".to_string(), Source::Default),
        Some(p) if on_command_line => (p.display().to_string(), Source::Flag("--config".into())),
        Some(p) if std::env::var_os("KIRIM_XRAY_CONFIG").is_some() => (
            p.display().to_string(),
            Source::Env("KIRIM_XRAY_CONFIG".into()),
        ),
        Some(p) => (
            format!("{} (found in the working folder)", p.display()),
            Source::Default,
        ),
    };
    SettingRow {
        key: "config".into(),
        value: escape_control(&value).into_owned(),
        source,
    }
}

/// The rows as aligned text, one setting a line: key, value, source.
pub fn render(rows: &[SettingRow]) -> String {
    let key_width = rows.iter().map(|r| r.key.len()).max().unwrap_or(0);
    let value_width = rows
        .iter()
        .map(|r| r.value.chars().count())
        .max()
        .unwrap_or(0);
    let mut text = String::new();
    for r in rows {
        let pad = value_width.saturating_sub(r.value.chars().count());
        text += &format!(
            "{:key_width$}  {}{}  {}\n",
            r.key,
            r.value,
            " ".repeat(pad),
            r.source
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::lookup_in;
    use std::collections::BTreeMap;

    #[test]
    fn each_setting_names_its_source() {
        let vars: BTreeMap<String, String> = [
            ("KIRIM_XRAY_RATE", "7"),
            ("KIRIM_XRAY_BURST", "3"),
            ("KIRIM_XRAY_LOG", "debug"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let file_path = PathBuf::from("conf/kirim-xray.toml");
        let layers = Layers {
            // As clap gives them: --concurrency typed, KIRIM_XRAY_RATE folded into the flags.
            flags: Layer {
                concurrency: Some(2),
                rate: Some(7.0),
                ..Layer::default()
            },
            env: Layer::from_env(&lookup_in(&vars)).unwrap(),
            file: Layer::from_toml("burst = 2\nretries = 9\n", &file_path).unwrap(),
            file_path: Some(file_path.clone()),
        };
        let s = layers.settings().unwrap();
        let rows = table(&layers, &s, &|id| id == "concurrency");
        let find = |key: &str| rows.iter().find(|r| r.key == key).unwrap().clone();
        assert_eq!(
            find("concurrency").source,
            Source::Flag("--concurrency".into())
        );
        assert_eq!(find("rate").source, Source::Env("KIRIM_XRAY_RATE".into()));
        assert_eq!(find("rate").value, "7 requests/s");
        assert_eq!(find("burst").source, Source::Env("KIRIM_XRAY_BURST".into()));
        assert_eq!(find("burst").value, "3", "the environment beats the file");
        assert_eq!(find("retries").source, Source::File(file_path));
        assert_eq!(
            find("log_level").source,
            Source::Env("KIRIM_XRAY_LOG".into())
        );
        assert_eq!(find("timeout").source, Source::Default);
        assert_eq!(find("timeout").value, "60 s");
        assert_eq!(rows.len(), 23, "every Layer field has its row");
    }

    #[test]
    fn secrets_show_only_whether_they_are_set() {
        let vars: BTreeMap<String, String> = [
            ("KIRIM_XRAY_USERNAME", "demo"),
            ("KIRIM_XRAY_PASSWORD", "hunter2"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let text = render(&credential_rows(&lookup_in(&vars)));
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("KIRIM_XRAY_PASSWORD"), "{text}");
        assert!(text.contains("login as user demo"), "{text}");
        let none = render(&credential_rows(&lookup_in(&BTreeMap::new())));
        assert!(none.contains("exit 2"), "{none}");
    }

    #[test]
    fn the_sample_settings_file_lists_every_key() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/kirim-xray.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let keys: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# ").filter(|l| l.contains(" = ")))
            .collect();
        let layer = Layer::from_toml(&keys.join("\n"), &path).unwrap();
        let layers = Layers {
            flags: Layer::default(),
            env: Layer::default(),
            file: layer,
            file_path: Some(path.clone()),
        };
        let s = layers.settings().unwrap();
        let rows = table(&layers, &s, &|_| false);
        let unlisted: Vec<&str> = rows
            .iter()
            .filter(|r| r.source != Source::File(path.clone()))
            .map(|r| r.key.as_str())
            .collect();
        assert!(unlisted.is_empty(), "not in the sample: {unlisted:?}");
        assert_eq!(keys.len(), rows.len(), "each key once");
    }
}
