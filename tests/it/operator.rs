//! The operator's tools around a run: `config` (each setting and its source), shell completions
//! and the man page, and the systemd units in samples/systemd.

use std::path::Path;
use std::process::Command;

use crate::util::{TestDir, kirim_xray};

fn stdout_of(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run kirim-xray");
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// The `config` line of `key`, split into its value and source.
fn setting(text: &str, key: &str) -> String {
    text.lines()
        .find(|l| l.split_whitespace().next() == Some(key))
        .unwrap_or_else(|| panic!("no {key} line in:\n{text}"))
        .to_string()
}

#[test]
fn config_shows_each_setting_with_its_source_and_no_secret() {
    let dir = TestDir::new();
    dir.write(
        "kirim-xray.toml",
        "retries = 9\nburst = 2\nout = \"night\"\n",
    );
    let text = stdout_of(
        kirim_xray()
            .current_dir(dir.path())
            .env("KIRIM_XRAY_BURST", "3")
            .env("KIRIM_XRAY_CONCURRENCY", "6")
            .env("KIRIM_XRAY_USERNAME", "night-op")
            .env("KIRIM_XRAY_PASSWORD", "Pw-config-secret")
            .args(["config", "--concurrency", "2"]),
    );
    assert!(!text.contains("Pw-config-secret"), "{text}");
    let concurrency = setting(&text, "concurrency");
    assert!(
        concurrency.ends_with("flag --concurrency"),
        "the flag beats the variable: {text}"
    );
    assert!(concurrency.contains(" 2 "), "{text}");
    let burst = setting(&text, "burst");
    assert!(
        burst.ends_with("environment KIRIM_XRAY_BURST") && burst.contains(" 3 "),
        "{text}"
    );
    let retries = setting(&text, "retries");
    assert!(
        retries.contains(" 9 ") && retries.ends_with("kirim-xray.toml"),
        "{text}"
    );
    assert!(retries.contains("file "), "{text}");
    let out = setting(&text, "out");
    assert!(
        out.contains(" night ") && out.ends_with("kirim-xray.toml"),
        "{text}"
    );
    assert!(setting(&text, "rate").ends_with("default"), "{text}");
    assert!(
        setting(&text, "config").contains("found in the working folder"),
        "{text}"
    );
    let password = setting(&text, "KIRIM_XRAY_PASSWORD");
    assert!(
        password.contains(" set ") && password.ends_with("environment KIRIM_XRAY_PASSWORD"),
        "{text}"
    );
    assert!(
        setting(&text, "KIRIM_XRAY_TOKEN").contains("not set"),
        "{text}"
    );
}

#[test]
fn config_refuses_a_bad_setting_with_exit_2() {
    let dir = TestDir::new();
    let out = kirim_xray()
        .current_dir(dir.path())
        .args(["config", "--rate", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("rate must be more than 0"));
}

#[test]
fn completions_cover_every_command_in_each_shell() {
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let text = stdout_of(kirim_xray().args(["completions", shell]));
        for word in ["doctor", "reconcile", "completions", "api-url", "ca-cert"] {
            assert!(text.contains(word), "{shell} completions lack {word}");
        }
    }
    // bash itself reads the script and registers the completion.
    if Command::new("bash").arg("--version").output().is_ok() {
        let dir = TestDir::new();
        let script = dir.write(
            "kirim-xray.bash",
            stdout_of(kirim_xray().args(["completions", "bash"])),
        );
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "source {} && complete -p kirim-xray",
                script.display()
            ))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("kirim-xray"));
    } else {
        eprintln!("note: bash is not installed; the bash script was only generated");
    }
}

#[test]
fn the_man_page_documents_the_commands_and_flags() {
    let page = stdout_of(kirim_xray().arg("man"));
    assert!(
        page.starts_with(".ie") || page.contains(".TH kirim-xray 1"),
        "{page}"
    );
    for word in ["doctor", "completions", "retry"] {
        assert!(page.contains(word), "the man page lacks {word}");
    }
    let dir = TestDir::new();
    stdout_of(kirim_xray().args(["man", "--dir"]).arg(dir.join("man")));
    let doctor = std::fs::read_to_string(dir.join("man/kirim-xray-doctor.1")).unwrap();
    assert!(
        doctor.contains("manifest") && doctor.contains("ca\\-cert"),
        "{doctor}"
    );
    assert!(dir.join("man/kirim-xray.1").is_file());
}

fn units() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/systemd")
}

#[test]
fn the_systemd_units_keep_their_promises() {
    let service = std::fs::read_to_string(units().join("kirim-xray.service")).unwrap();
    let timer = std::fs::read_to_string(units().join("kirim-xray.timer")).unwrap();
    let value = |text: &str, key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("no {key}= in\n{text}"))
            .trim()
            .to_string()
    };
    assert_eq!(
        value(&timer, "Persistent"),
        "true",
        "a missed night runs at boot"
    );
    assert!(
        value(&service, "EnvironmentFile").ends_with(".env"),
        "{service}"
    );
    // The stop timeout must outlast the run's own grace after SIGTERM: the request timeout
    // (--timeout, 60 s unless the service says otherwise) plus 5 s for the outputs.
    let stop: u64 = value(&service, "TimeoutStopSec")
        .trim_end_matches('s')
        .parse()
        .expect("TimeoutStopSec in seconds");
    let exec = value(&service, "ExecStart");
    let timeout: u64 = exec
        .split_whitespace()
        .skip_while(|w| *w != "--timeout")
        .nth(1)
        .map_or(60, |t| t.parse().unwrap());
    assert!(
        stop > timeout + 5,
        "TimeoutStopSec={stop} must be more than {timeout}+5 s"
    );
    assert_eq!(value(&service, "KillSignal"), "SIGTERM");
    assert!(
        !service.contains("KIRIM_XRAY_PASSWORD="),
        "no credential inside the unit"
    );
}

#[test]
fn systemd_analyze_verifies_the_units_where_it_is_present() {
    let Ok(version) = Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("note: systemd-analyze is not installed here; the units were not verified");
        return;
    };
    if !version.status.success() {
        eprintln!("note: systemd-analyze does not run here; the units were not verified");
        return;
    }
    // The unit names its binary and environment file at their installed places; verify a copy
    // that points at this build and an empty environment file.
    let dir = TestDir::new();
    let env_file = dir.write("kirim-xray.env", "");
    for unit in ["kirim-xray.service", "kirim-xray.timer"] {
        let text = std::fs::read_to_string(units().join(unit))
            .unwrap()
            .replace(
                "/usr/local/bin/kirim-xray",
                env!("CARGO_BIN_EXE_kirim-xray"),
            )
            .replace(
                "/etc/kirim-xray/kirim-xray.env",
                &env_file.display().to_string(),
            );
        dir.write(unit, text);
    }
    let out = Command::new("systemd-analyze")
        .arg("verify")
        // The man page is not installed on a build machine.
        .arg("--man=no")
        .arg(dir.join("kirim-xray.service"))
        .arg(dir.join("kirim-xray.timer"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "systemd-analyze verify: {text}");
    // A value it cannot parse is only a warning ("..., ignoring"), with exit 0: any output fails.
    assert_eq!(text.trim(), "", "systemd-analyze verify warned");
}

/// Stdout is a pipe whose reader has already gone, as with `kirim-xray … | head -0`.
fn closed_pipe() -> std::process::Stdio {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    writer.into()
}

#[cfg(unix)]
#[test]
fn a_printing_command_whose_reader_left_ends_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let dir = TestDir::new();
    for args in [&["completions", "bash"][..], &["config"], &["man"]] {
        let out = kirim_xray()
            .current_dir(dir.path())
            .args(args)
            .stdout(closed_pipe())
            .output()
            .expect("run kirim-xray");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(!stderr.contains("Broken pipe"), "{args:?}: {stderr}");
        // Ended by SIGPIPE, as `cat` would be.
        assert_eq!(out.status.signal(), Some(13), "{args:?}: {:?}", out.status);
    }
}

#[test]
fn a_run_whose_reader_left_still_finishes_and_says_how_it_ended() {
    use crate::run::{RowSpec, demo_command, latest, write_manifest};
    use crate::util::Sandbox;
    let dir = TestDir::new();
    let sandbox = Sandbox::start(&[]);
    let rows: Vec<RowSpec> = (1..=2).map(|i| RowSpec::valid(i, 1)).collect();
    let manifest = write_manifest(&dir, &rows);
    let out = demo_command(&sandbox, &dir, "run", &manifest)
        .args(["--rate", "200"])
        .stdout(closed_pipe())
        .output()
        .expect("run kirim-xray");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let summary = std::fs::read_to_string(latest(&dir).join("summary.txt")).expect("summary.txt");
    assert!(summary.contains("MATCH"), "{summary}");
    assert_eq!(crate::run::stored(&sandbox.state()).len(), 2);
}
