//! Integration tests: what the operator sees of a run. On a terminal (a pty from `script`) a live
//! bar with the ETA and the request rate; off one (cron, pipes) plain lines without an escape
//! code; and `--log-format json` lines that parse, carry the row's fields and hold no secret.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::run::{
    RowSpec, assert_each_photo_once, command, describe, latest, run_against, sandbox_with_night_op,
    write_manifest,
};
use crate::util::{Sandbox, TestDir, read_csv};

/// `script` from util-linux, which runs a command on a pty of its own; None where it is absent.
fn script() -> Option<&'static str> {
    let found = Command::new("script")
        .args(["-qec", "true", "/dev/null"])
        .output()
        .is_ok_and(|o| o.status.success());
    found.then_some("script")
}

/// `cmd` as one line for `sh -c`, every word single-quoted.
fn shell_line(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|w| format!("'{}'", w.to_string_lossy().replace('\'', r"'\''")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Run `cmd` (its environment and folder kept) on a 120-column pty; everything the terminal
/// received, and the exit code.
fn on_a_terminal(script: &str, cmd: &Command) -> (Option<i32>, String) {
    let line = format!("stty cols 120 rows 40; exec {}", shell_line(cmd));
    let mut outer = Command::new(script);
    outer.args(["-qec", &line, "/dev/null"]);
    if let Some(dir) = cmd.get_current_dir() {
        outer.current_dir(dir);
    }
    for (key, value) in cmd.get_envs() {
        match value {
            Some(v) => outer.env(key, v),
            None => outer.env_remove(key),
        };
    }
    let out = outer.output().expect("run script");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Whether `text` holds an SGR sequence (colour, bold, dim...).
fn has_colour(text: &str) -> bool {
    text.split('\u{1b}').skip(1).any(|rest| {
        rest.strip_prefix('[').is_some_and(|csi| {
            let end = csi.find(|c: char| !(c.is_ascii_digit() || c == ';'));
            end.is_some_and(|i| csi[i..].starts_with('m'))
        })
    })
}

fn demo(sandbox: &Sandbox, dir: &TestDir, manifest: &Path) -> Command {
    let mut cmd = command(dir, &sandbox.url, "run", manifest);
    cmd.env("KIRIM_XRAY_USERNAME", "demo")
        .env("KIRIM_XRAY_PASSWORD", "demo");
    cmd
}

#[test]
fn on_a_terminal_a_run_shows_a_bar_with_eta_and_rate() {
    let Some(script) = script() else {
        eprintln!("skipped: `script` (util-linux) is not installed");
        return;
    };
    let dir = TestDir::new();
    let sandbox = Sandbox::start(&["--latency-ms", "20"]);
    let rows: Vec<RowSpec> = (1..=2000).map(|i| RowSpec::valid(i, 1)).collect();
    let manifest = write_manifest(&dir, &rows);
    let mut cmd = demo(&sandbox, &dir, &manifest);
    cmd.args(["--rate", "2000", "--concurrency", "32"]);
    let (code, screen) = on_a_terminal(script, &cmd);
    assert_eq!(code, Some(0), "{screen}");

    // The bar: rows done of the total, the ETA, MATCH against attention, the rate and its limit.
    assert!(screen.contains("/2000 rows · ETA "), "{screen}");
    assert!(screen.contains(" need attention · "), "{screen}");
    assert!(screen.contains("/2000 req/s"), "{screen}");
    assert!(screen.contains("\u{1b}[2K"), "the bar is redrawn in place");
    // It stands for the per-row lines, which run.log still has; NO_COLOR (set by the harness)
    // leaves the terminal without colour.
    assert!(!screen.contains("] row 1 MATCH"), "{screen}");
    assert!(!has_colour(&screen), "{screen:?}");
    let log = std::fs::read_to_string(latest(&dir).join("run.log")).expect("run.log");
    assert!(log.contains("[2000/2000] row "), "{log}");

    // The run itself is whole: what the sandbox stored, and the results.
    assert_each_photo_once(&sandbox.state(), &rows);
    let results = read_csv(&latest(&dir).join("results.csv"));
    assert_eq!(results.len(), 2000);
    assert!(results.iter().all(|r| r["status"] == "MATCH"));
}

#[test]
fn on_a_terminal_colour_is_used_unless_no_color_is_set() {
    let Some(script) = script() else {
        eprintln!("skipped: `script` (util-linux) is not installed");
        return;
    };
    let dir = TestDir::new();
    let sandbox = Sandbox::start(&[]);
    let rows: Vec<RowSpec> = (1..=3).map(|i| RowSpec::valid(i, 1)).collect();
    let manifest = write_manifest(&dir, &rows);
    let mut cmd = demo(&sandbox, &dir, &manifest);
    cmd.env_remove("NO_COLOR");
    let (code, screen) = on_a_terminal(script, &cmd);
    assert_eq!(code, Some(0), "{screen}");
    assert!(has_colour(&screen), "{screen:?}");

    // reconcile shows the same bar.
    let mut cmd = command(&dir, &sandbox.url, "reconcile", &manifest);
    cmd.env("KIRIM_XRAY_USERNAME", "demo")
        .env("KIRIM_XRAY_PASSWORD", "demo");
    let (code, screen) = on_a_terminal(script, &cmd);
    assert_eq!(code, Some(0), "{screen}");
    assert!(screen.contains("3/3 rows · ETA "), "{screen}");

    // A row that needs attention is named above the bar.
    let good = &rows[0];
    let bad = dir.write(
        "bad.csv",
        format!(
            "nomorAju,nomorBlAwb,tanggalBlAwb,kodeKantor,folder\n{},{},{},{},{}\n{}9,BL9,20/11/2026,009000,{}\n",
            good.nomor_aju, good.bl, good.date, good.kantor, good.folder, good.nomor_aju, good.folder
        ),
    );
    let mut cmd = demo(&sandbox, &dir, &bad);
    cmd.env("NO_COLOR", "1");
    let (code, screen) = on_a_terminal(script, &cmd);
    assert_eq!(code, Some(1), "{screen}");
    assert!(
        screen.contains(&format!("row 3 {}9 INVALID: ", good.nomor_aju)),
        "{screen}"
    );
    assert!(!has_colour(&screen), "{screen:?}");
}

#[test]
fn off_a_terminal_progress_is_plain_lines_without_escape_codes() {
    let dir = TestDir::new();
    let sandbox = Sandbox::start(&[]);
    let rows: Vec<RowSpec> = (1..=5).map(|i| RowSpec::valid(i, 1)).collect();
    let manifest = write_manifest(&dir, &rows);
    // As under cron: stderr and stdout are pipes, and NO_COLOR is not set.
    let mut cmd = demo(&sandbox, &dir, &manifest);
    cmd.env_remove("NO_COLOR").args(["--rate", "200"]);
    let out = cmd.output().expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for n in 1..=5 {
        assert!(stderr.contains(&format!("[{n}/5] row ")), "{stderr}");
    }
    let all = format!("{stderr}{}", String::from_utf8_lossy(&out.stdout));
    assert!(!all.contains('\u{1b}'), "{all:?}");
    assert!(!all.contains('\r'), "{all:?}");

    // `--progress none`: no per-row line on stderr, all of them in run.log.
    let out = run_against(&sandbox, &dir, &manifest, &["--progress", "none"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("/5] row "), "{stderr}");
    let log = std::fs::read_to_string(latest(&dir).join("run.log")).expect("run.log");
    assert!(log.contains("[5/5] row "), "{log}");
}

/// Every line of `text` as JSON (the test fails on one that is not).
fn json_lines(what: &str, text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{what}: {e}: {l:?}")))
        .collect()
}

#[test]
fn json_logs_parse_carry_the_row_fields_and_hold_no_secret() {
    let dir = TestDir::new();
    let password = "Pw-0b5e-json-log-secret";
    let sandbox = sandbox_with_night_op(&dir, password);
    let rows: Vec<RowSpec> = (1..=3).map(|i| RowSpec::valid(i, 2)).collect();
    let manifest = write_manifest(&dir, &rows);

    let out = command(&dir, &sandbox.url, "run", &manifest)
        .env("KIRIM_XRAY_USERNAME", "night-op")
        .env("KIRIM_XRAY_PASSWORD", password)
        .args(["--log-format", "json", "--log-level", "trace"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_each_photo_once(&sandbox.state(), &rows);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let log = std::fs::read_to_string(latest(&dir).join("run.log")).expect("run.log");
    let on_stderr = json_lines("stderr", &stderr);
    let in_log = json_lines("run.log", &log);
    assert!(!on_stderr.is_empty() && in_log.len() >= on_stderr.len());

    for lines in [&on_stderr, &in_log] {
        // Each request: the row, its nomorAju, the endpoint, the HTTP status, the duration.
        for row in &rows {
            let of_row = |l: &&Value| l["nomorAju"] == row.nomor_aju.as_str();
            let requests: Vec<&Value> = lines
                .iter()
                .filter(of_row)
                .filter(|l| l["message"] == "answered" && l["duration_ms"].is_u64())
                .collect();
            let endpoints: Vec<&str> = requests
                .iter()
                .map(|l| l["endpoint"].as_str().expect("endpoint"))
                .collect();
            assert_eq!(
                endpoints,
                ["kirim-foto-xray", "get-foto-xray"],
                "{}",
                row.nomor_aju
            );
            assert!(requests.iter().all(|l| l["row"].is_u64()));
            assert!(requests.iter().all(|l| l["status"] == 200));
            // The row's own line when it is done.
            let done: Vec<&Value> = lines
                .iter()
                .filter(of_row)
                .filter(|l| l["target"] == "kirim_xray::row_done")
                .collect();
            assert_eq!(done.len(), 1, "{done:?}");
            assert_eq!(done[0]["status"], "MATCH");
            assert_eq!(done[0]["action"], "kirim");
            assert!(done[0]["duration_ms"].is_u64() && done[0]["row"].is_u64());
        }
    }

    // With a ready token instead: it leaks nowhere either.
    let token = sandbox.token_of("night-op", password);
    let with_token = command(&dir, &sandbox.url, "run", &manifest)
        .env("KIRIM_XRAY_TOKEN", &token)
        .env("KIRIM_XRAY_LOG_FORMAT", "json")
        .args(["--log-level", "trace"])
        .output()
        .expect("run");
    assert_eq!(
        with_token.status.code(),
        Some(0),
        "{}",
        describe(&with_token)
    );
    json_lines("stderr", &String::from_utf8_lossy(&with_token.stderr));
    json_lines(
        "run.log",
        &std::fs::read_to_string(latest(&dir).join("run.log")).expect("run.log"),
    );

    let printed = [both(&out), both(&with_token)];
    crate::run::assert_no_secret_in(&dir, &printed, password, &token);
}

fn both(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
