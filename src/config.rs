//! Settings: flags > `KIRIM_XRAY_*` environment > `kirim-xray.toml` > defaults. Secrets come only
//! from the environment and never reach any output.
