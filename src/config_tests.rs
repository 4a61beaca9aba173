//! Unit tests of the settings: layers, precedence, the settings file, and the public view.
use super::*;

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn file(text: &str) -> Layer {
    Layer::from_toml(text, Path::new("conf/kirim-xray.toml")).unwrap()
}

#[test]
fn flag_beats_env_beats_file_beats_default() {
    let flags = Layer {
        rate: Some(9.0),
        ..Layer::default()
    };
    let vars = env(&[("KIRIM_XRAY_RATE", "7"), ("KIRIM_XRAY_BURST", "3")]);
    let env_layer = Layer::from_env(&lookup_in(&vars)).unwrap();
    let file_layer = file("rate = 6\nburst = 2\nconcurrency = 8\n");
    let s = Settings::from_layers(flags, env_layer, file_layer, None).unwrap();
    assert_eq!(s.rate, 9.0, "flag wins");
    assert_eq!(s.burst, 3, "env beats file");
    assert_eq!(s.concurrency, 8, "file beats default");
    assert_eq!(s.retries, 5, "default");
    assert_eq!(s.max_request_bytes, 20 * MIB);
    assert_eq!(s.api_url, DEFAULT_API_URL);
}

#[test]
fn file_keys_take_dash_or_underscore_and_paths_are_relative_to_the_file() {
    let l = file(
        "api-url = \"http://127.0.0.1:9/x/\"\nmax_images_per_request = 3\nout = \"runs\"\nallow-http = true\n",
    );
    assert_eq!(l.max_images_per_request, Some(3));
    assert_eq!(l.out, Some(PathBuf::from("conf/runs")));
    let s = Settings::from_layers(Layer::default(), Layer::default(), l, None).unwrap();
    assert_eq!(s.api_url, "http://127.0.0.1:9/x", "trailing slash dropped");
    assert!(s.allow_http);
    assert!(!s.allow_outside_root, "off unless said");
    assert_eq!(s.lock_dir, default_lock_dir());

    let l = file("lock-dir = \"locks\"\nallow_outside_root = true\n");
    let s = Settings::from_layers(Layer::default(), Layer::default(), l, None).unwrap();
    assert_eq!(s.lock_dir, PathBuf::from("conf/locks"));
    assert!(s.allow_outside_root);
    let vars = env(&[
        ("KIRIM_XRAY_LOCK_DIR", "/var/lock/kx"),
        ("KIRIM_XRAY_ALLOW_OUTSIDE_ROOT", "no"),
    ]);
    let env_layer = Layer::from_env(&lookup_in(&vars)).unwrap();
    let s = Settings::from_layers(
        Layer::default(),
        env_layer,
        file("allow_outside_root = true\n"),
        None,
    )
    .unwrap();
    assert_eq!(s.lock_dir, PathBuf::from("/var/lock/kx"));
    assert!(!s.allow_outside_root, "the environment beats the file");
    assert_eq!(
        s.public_view().lock_dir,
        Some(PathBuf::from("/var/lock/kx"))
    );
}

#[test]
fn unknown_and_secret_keys_are_refused_with_the_file_named() {
    let e = Layer::from_toml("rat = 5\n", Path::new("my.toml")).unwrap_err();
    assert_eq!(e.0, "my.toml: unknown key `rat`");
    for key in ["password", "token", "access-token", "username"] {
        let e = Layer::from_toml(&format!("{key} = \"x\"\n"), Path::new("my.toml")).unwrap_err();
        assert!(
            e.0.starts_with(&format!("my.toml: key `{key}` is refused")),
            "{e}"
        );
        assert!(!e.0.contains("\"x\""), "the value is never echoed: {e}");
    }
    let e = Layer::from_toml("rate = \"fast\"\n", Path::new("my.toml")).unwrap_err();
    assert!(e.0.contains("`rate` must be a number"), "{e}");
}

#[test]
fn bad_values_are_refused_clearly() {
    let cases = [
        (
            Layer {
                rate: Some(0.0),
                ..Layer::default()
            },
            "rate must be more than 0",
        ),
        (
            Layer {
                concurrency: Some(0),
                ..Layer::default()
            },
            "concurrency must be at least 1",
        ),
        (
            Layer {
                burst: Some(0),
                ..Layer::default()
            },
            "burst must be at least 1",
        ),
        (
            Layer {
                timeout: Some(-1.0),
                ..Layer::default()
            },
            "timeout must be between",
        ),
        (
            Layer {
                max_images_per_request: Some(0),
                ..Layer::default()
            },
            "max_images_per_request",
        ),
        (
            Layer {
                max_image_bytes: Some(30 * MIB),
                ..Layer::default()
            },
            "could never be sent",
        ),
        (
            Layer {
                log_level: Some("loud".into()),
                ..Layer::default()
            },
            "log level \"loud\"",
        ),
        (
            Layer {
                api_url: Some("ftp://x".into()),
                ..Layer::default()
            },
            "api_url \"ftp://x\"",
        ),
        (
            Layer {
                auth_url: Some("https://SECRET-TOKEN@gw.example".into()),
                ..Layer::default()
            },
            "auth_url must not carry credentials",
        ),
    ];
    for (layer, expected) in cases {
        let e = Settings::from_layers(layer, Layer::default(), Layer::default(), None).unwrap_err();
        assert!(e.0.contains(expected), "{e} should contain {expected}");
        assert!(!e.0.contains("SECRET-TOKEN"), "{e}");
    }
    let vars = env(&[("KIRIM_XRAY_RATE", "abc")]);
    let e = Layer::from_env(&lookup_in(&vars)).unwrap_err();
    assert_eq!(e.0, "KIRIM_XRAY_RATE: \"abc\" is not a valid number");
}

#[test]
fn credentials_come_from_token_or_login_and_name_the_variables_when_missing() {
    let vars = env(&[("KIRIM_XRAY_TOKEN", "t0k"), ("KIRIM_XRAY_USERNAME", "u")]);
    assert!(
        matches!(credentials_from_env(&lookup_in(&vars)), Ok(Credentials::Token(t)) if t.expose() == "t0k")
    );
    let vars = env(&[
        ("KIRIM_XRAY_USERNAME", "demo"),
        ("KIRIM_XRAY_PASSWORD", "pw"),
    ]);
    assert!(
        matches!(credentials_from_env(&lookup_in(&vars)), Ok(Credentials::Login { username, .. }) if username == "demo")
    );
    let e = credentials_from_env(&lookup_in(&env(&[]))).unwrap_err();
    assert!(
        e.0.contains("KIRIM_XRAY_TOKEN") && e.0.contains("KIRIM_XRAY_PASSWORD"),
        "{e}"
    );
    let e = credentials_from_env(&lookup_in(&env(&[("KIRIM_XRAY_USERNAME", "demo")]))).unwrap_err();
    assert!(e.0.contains("KIRIM_XRAY_PASSWORD is not"), "{e}");
}

#[test]
fn public_view_and_api_settings_carry_no_secret_text() {
    let creds = Credentials::Login {
        username: "demo".into(),
        password: Secret::new("hunter2"),
    };
    let s = Settings::from_layers(
        Layer::default(),
        Layer::default(),
        Layer::default(),
        Some(creds),
    )
    .unwrap();
    let json = serde_json::to_string(&s.public_view()).unwrap();
    assert!(!json.contains("hunter2"));
    assert!(json.contains("user demo"));
    assert!(!format!("{:?}", s.to_api_settings().unwrap()).contains("hunter2"));
    let sync = s.sync_settings();
    assert_eq!(
        (sync.backoff_base, sync.backoff_cap),
        (Duration::from_millis(500), Duration::from_secs(30))
    );
    let offline =
        Settings::from_layers(Layer::default(), Layer::default(), Layer::default(), None).unwrap();
    assert!(offline.to_api_settings().is_err());
}

#[test]
fn progress_and_log_format_come_from_flags_env_or_file_and_are_checked() {
    let defaults =
        Settings::from_layers(Layer::default(), Layer::default(), Layer::default(), None).unwrap();
    assert_eq!(defaults.progress, ProgressMode::Auto);
    assert_eq!(defaults.log_format, LogFormat::Text);

    let vars = env(&[("KIRIM_XRAY_PROGRESS", "none")]);
    let env_layer = Layer::from_env(&lookup_in(&vars)).unwrap();
    let file_layer = file("progress = \"bar\"\nlog-format = \"JSON\"\n");
    let s = Settings::from_layers(Layer::default(), env_layer, file_layer, None).unwrap();
    assert_eq!(s.progress, ProgressMode::None, "env beats file");
    assert_eq!(s.log_format, LogFormat::Json, "from the file, any case");

    let flags = Layer {
        progress: Some("lines".into()),
        ..Layer::default()
    };
    let s = Settings::from_layers(flags, Layer::default(), Layer::default(), None).unwrap();
    assert_eq!(s.progress, ProgressMode::Lines);

    for (layer, expected) in [
        (
            Layer {
                progress: Some("fancy".into()),
                ..Layer::default()
            },
            "progress \"fancy\" is not one of auto, bar, lines, none",
        ),
        (
            Layer {
                log_format: Some("xml".into()),
                ..Layer::default()
            },
            "log format \"xml\" is not one of text, json",
        ),
    ] {
        let e = Settings::from_layers(layer, Layer::default(), Layer::default(), None).unwrap_err();
        assert!(e.0.contains(expected), "{e}");
    }
}

#[test]
fn recheck_not_found_comes_from_flags_env_or_file_and_is_bounded() {
    let s =
        Settings::from_layers(Layer::default(), Layer::default(), Layer::default(), None).unwrap();
    assert_eq!(s.recheck_not_found, Duration::from_secs(3_600), "an hour");
    assert_eq!(s.public_view().recheck_not_found_seconds, 3_600.0);
    let vars = env(&[("KIRIM_XRAY_RECHECK_NOT_FOUND", "600")]);
    let env_layer = Layer::from_env(&lookup_in(&vars)).unwrap();
    let s = Settings::from_layers(
        Layer::default(),
        env_layer,
        file("recheck_not_found = 0\n"),
        None,
    )
    .unwrap();
    assert_eq!(
        s.recheck_not_found,
        Duration::from_secs(600),
        "env beats file"
    );
    let s = Settings::from_layers(
        Layer::default(),
        Layer::default(),
        file("recheck_not_found = 0\n"),
        None,
    )
    .unwrap();
    assert_eq!(s.recheck_not_found, Duration::ZERO);
    for bad in [-1.0, 2_592_001.0, f64::NAN] {
        let layer = Layer {
            recheck_not_found: Some(bad),
            ..Layer::default()
        };
        let e = Settings::from_layers(layer, Layer::default(), Layer::default(), None).unwrap_err();
        assert!(
            e.0.starts_with("recheck_not_found must be from 0 to 2592000 seconds"),
            "{e}"
        );
    }
    // A summary.json written before the setting existed reads as the default.
    let mut old = serde_json::to_value(s.public_view()).unwrap();
    old.as_object_mut()
        .unwrap()
        .remove("recheck_not_found_seconds");
    let old: PublicSettings = serde_json::from_value(old).unwrap();
    assert_eq!(old.recheck_not_found_seconds, 3_600.0);
}
