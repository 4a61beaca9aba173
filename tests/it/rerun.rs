//! Integration tests: runs that are killed, resumed, retried, overlapped and reconciled must still
//! end with every photo on the server exactly once and every row accounted for.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::run::{
    RowSpec, assert_each_photo_once, demo_command, describe, latest, run_against, stored,
    write_manifest,
};
use crate::util::{Sandbox, TestDir, kirim_xray, read_csv};

/// `kirim-xray run` as a child process we can signal.
pub fn spawn_run(sandbox: &Sandbox, dir: &TestDir, args: &[&str]) -> Child {
    kirim_xray()
        .current_dir(dir.path())
        .env("KIRIM_XRAY_USERNAME", "demo")
        .env("KIRIM_XRAY_PASSWORD", "demo")
        .arg("run")
        .args(args)
        .args(["--api-url", &sandbox.api_url(), "--auth-url", &sandbox.url])
        .arg("--out")
        .arg(dir.join("runs"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kirim-xray run")
}

fn signal(child: &Child, sig: &str) {
    let status = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

/// Lines of journal.jsonl that parse (the last one may be torn by a SIGKILL).
fn journal_rows(run_dir: &Path) -> usize {
    std::fs::read_to_string(run_dir.join("journal.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
        .count()
}

/// Wait until the run folder exists and its journal holds at least `rows` finished rows.
pub fn wait_for_journal(dir: &TestDir, rows: usize, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(run_dir) = std::fs::canonicalize(dir.join("runs/latest"))
            && journal_rows(&run_dir) >= rows
        {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the run ended ({status}) before its journal held {rows} rows");
        }
        assert!(Instant::now() < deadline, "no progress in the journal");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A slow run under way: `n` one-photo rows at 20 requests/s on 2 workers against a sandbox that
/// answers in 20 ms, and its journal already holding `journaled` rows.
pub struct SlowRun {
    pub dir: TestDir,
    pub sandbox: Sandbox,
    pub rows: Vec<RowSpec>,
    pub manifest: std::path::PathBuf,
    pub child: Child,
}

pub fn start_slow_run(n: usize, journaled: usize) -> SlowRun {
    start_slow_run_with(n, journaled, "20")
}

/// [`start_slow_run`] against a sandbox that answers every request `latency_ms` late.
pub fn start_slow_run_with(n: usize, journaled: usize, latency_ms: &str) -> SlowRun {
    let dir = TestDir::new();
    let sandbox = Sandbox::start(&["--latency-ms", latency_ms]);
    let rows: Vec<RowSpec> = (1..=n).map(|i| RowSpec::valid(i, 1)).collect();
    let manifest = write_manifest(&dir, &rows);
    let arg = manifest.to_str().expect("utf-8 path");
    let mut child = spawn_run(&sandbox, &dir, &[arg, "--rate", "20", "--concurrency", "2"]);
    wait_for_journal(&dir, journaled, &mut child);
    SlowRun {
        dir,
        sandbox,
        rows,
        manifest,
        child,
    }
}

#[test]
fn a_run_killed_five_times_and_resumed_ends_with_every_photo_once() {
    let dir = TestDir::new();
    let sandbox = Sandbox::start(&["--latency-ms", "5"]);
    let rows: Vec<RowSpec> = (1..=200).map(|i| RowSpec::valid(i, 1 + i % 2)).collect();
    let manifest = write_manifest(&dir, &rows);
    let manifest = manifest.to_str().expect("utf-8 path");

    let mut child = spawn_run(
        &sandbox,
        &dir,
        &[manifest, "--rate", "150", "--concurrency", "4"],
    );
    // Kill at different moments: after the journal has 5, 40, 80, 120 and 160 rows. Each resume
    // picks up where the journal stopped, with rows in flight checked by get first.
    for (kill, at) in [5, 40, 80, 120, 160].into_iter().enumerate() {
        wait_for_journal(&dir, at, &mut child);
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        let run_dir = latest(&dir);
        let run_dir = run_dir.to_str().expect("utf-8 path").to_string();
        child = spawn_run(
            &sandbox,
            &dir,
            &["--resume", &run_dir, "--concurrency", "4"],
        );
        eprintln!("kill {kill} after {at} rows, resumed");
    }
    let status = child.wait().expect("wait for the last resume");
    assert_eq!(status.code(), Some(0));

    let run_dirs: Vec<_> = std::fs::read_dir(dir.join("runs"))
        .expect("runs")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir() && !e.path().is_symlink())
        .collect();
    assert_eq!(run_dirs.len(), 1, "resume works in the same run folder");

    assert_each_photo_once(&sandbox.state(), &rows);
    let results = read_csv(&latest(&dir).join("results.csv"));
    assert_eq!(results.len(), 200, "results.csv covers every row");
    assert!(results.iter().all(|r| r["status"] == "MATCH"));
    let rows_seen: Vec<usize> = results
        .iter()
        .map(|r| r["row"].parse().expect("row"))
        .collect();
    assert_eq!(rows_seen, (2..=201).collect::<Vec<_>>(), "manifest order");
}

#[test]
fn sigterm_finishes_rows_in_flight_marks_the_rest_skipped_and_exits_143() {
    let SlowRun {
        dir,
        sandbox,
        rows,
        child,
        ..
    } = start_slow_run(150, 5);
    signal(&child, "-TERM");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(143), "{}", describe(&out));

    let run_dir = latest(&dir);
    let results = read_csv(&run_dir.join("results.csv"));
    assert_eq!(results.len(), 150, "a whole results.csv");
    let matched = results.iter().filter(|r| r["status"] == "MATCH").count();
    let skipped = results.iter().filter(|r| r["status"] == "SKIPPED").count();
    assert!(matched >= 5, "{matched} MATCH");
    assert!(skipped > 0, "{skipped} SKIPPED");
    assert_eq!(matched + skipped, 150, "only MATCH and SKIPPED rows");
    // What the server holds is exactly what results.csv claims: the MATCH rows, and the rows the
    // stop caught in flight with the photos the server had acknowledged (not "0 sent").
    let state = sandbox.state();
    let done: Vec<RowSpec> = rows
        .iter()
        .zip(&results)
        .filter(|(_, r)| r["status"] == "MATCH" || r["uploaded"] != "0")
        .map(|(spec, _)| spec.clone())
        .collect();
    assert!(
        done.len() <= matched + 2,
        "at most one row in flight per worker"
    );
    assert_eq!(stored(&state).len(), done.len());
    assert_each_photo_once(&state, &done);
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(run_dir.join("summary.json")).expect("summary.json"),
    )
    .expect("summary.json is whole JSON");
    assert_eq!(summary["exit_code"], 143);
}

#[test]
fn a_second_run_on_the_same_out_folder_exits_4() {
    let dir = TestDir::new();
    let sandbox = Sandbox::start(&["--latency-ms", "20"]);
    let rows: Vec<RowSpec> = (1..=60).map(|i| RowSpec::valid(i, 1)).collect();
    let manifest = write_manifest(&dir, &rows);
    let manifest = manifest.to_str().expect("utf-8 path");

    let mut first = spawn_run(&sandbox, &dir, &[manifest, "--rate", "20"]);
    wait_for_journal(&dir, 1, &mut first);
    let second = run_against(&sandbox, &dir, Path::new(manifest), &[]);
    assert_eq!(second.status.code(), Some(4), "{}", describe(&second));
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains(&format!("pid {}", first.id())), "{stderr}");

    signal(&first, "-INT");
    let out = first.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(130), "{}", describe(&out));
}

/// The cron job (`--out runs`) and an operator in another folder run the same account side by
/// side: the second exits 4 naming the first (pid, run folder, start), and sends nothing.
#[test]
fn a_second_run_for_the_same_account_from_another_out_folder_exits_4_and_sends_nothing() {
    let dir = TestDir::new();
    let sandbox = Sandbox::start(&["--latency-ms", "20"]);
    let rows: Vec<RowSpec> = (1..=30).map(|i| RowSpec::valid(i, 1)).collect();
    let manifest = write_manifest(&dir, &rows);

    let mut first = spawn_run(
        &sandbox,
        &dir,
        &[manifest.to_str().expect("utf-8 path"), "--rate", "20"],
    );
    wait_for_journal(&dir, 1, &mut first);
    let first_dir = latest(&dir);
    let first_name = first_dir
        .file_name()
        .and_then(|n| n.to_str())
        .expect("run folder name")
        .to_string();

    let elsewhere = dir.join("operator/runs");
    for command in ["run", "reconcile"] {
        let second = demo_command(&sandbox, &dir, command, &manifest)
            .arg("--out")
            .arg(&elsewhere)
            .output()
            .expect("second run");
        assert_eq!(
            second.status.code(),
            Some(4),
            "{command}: {}",
            describe(&second)
        );
        let stderr = String::from_utf8_lossy(&second.stderr);
        assert!(
            stderr.contains("another run for the same account (user demo at "),
            "{stderr}"
        );
        assert!(stderr.contains(&format!("pid {}", first.id())), "{stderr}");
        assert!(
            stderr.contains(&format!("run folder {}", first_dir.display())),
            "{stderr}"
        );
        assert!(
            stderr.contains(&format!("started {}-", &first_name[..4])),
            "{stderr}"
        );
    }
    let folders: Vec<_> = std::fs::read_dir(&elsewhere)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        folders.iter().all(|n| n.to_string_lossy().starts_with('.')),
        "no run folder under the second out: {folders:?}"
    );

    let out = first.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    // Everything the sandbox saw is the first run's: one login (a second run would have logged
    // in before anything else), one kirim per row.
    let state = sandbox.state();
    assert_each_photo_once(&state, &rows);
    assert_eq!(
        state["requests"]["login"],
        serde_json::json!({"200": 1}),
        "{state:#}"
    );
    assert_eq!(
        state["requests"]["kirim-foto-xray"],
        serde_json::json!({"200": 30})
    );
}

#[test]
fn retry_after_fixing_a_folder_sends_only_that_row() {
    let dir = TestDir::new();
    let sandbox = Sandbox::start(&[]);
    let rows: Vec<RowSpec> = (1..=4).map(|i| RowSpec::valid(i, 2)).collect();
    let manifest = write_manifest(&dir, &rows);
    // Row 3's folder is missing at first.
    std::fs::rename(dir.join(&rows[2].folder), dir.join("images/elsewhere")).expect("move");

    let first = run_against(&sandbox, &dir, &manifest, &[]);
    assert_eq!(first.status.code(), Some(1), "{}", describe(&first));
    let first_dir = latest(&dir);
    let before = sandbox.state();
    assert_eq!(stored(&before).len(), 3);

    std::fs::rename(dir.join("images/elsewhere"), dir.join(&rows[2].folder)).expect("fix");
    let retry = demo_command(&sandbox, &dir, "retry", &first_dir)
        .output()
        .expect("retry");
    assert_eq!(retry.status.code(), Some(0), "{}", describe(&retry));

    let after = sandbox.state();
    assert_each_photo_once(&after, &rows);
    let kirim = |s: &serde_json::Value| s["requests"]["kirim-foto-xray"]["200"].as_u64();
    assert_eq!(
        kirim(&after),
        kirim(&before).map(|n| n + 1),
        "only row 3 was sent"
    );
    assert_eq!(
        after["requests"]["get-foto-xray"]["200"].as_u64(),
        before["requests"]["get-foto-xray"]["200"]
            .as_u64()
            .map(|n| n + 1),
        "only row 3 was verified again"
    );

    let retry_dir = latest(&dir);
    assert_ne!(retry_dir, first_dir, "retry writes a new run folder");
    let results = read_csv(&retry_dir.join("results.csv"));
    let got: Vec<(&str, &str)> = results
        .iter()
        .map(|r| (r["row"].as_str(), r["status"].as_str()))
        .collect();
    assert_eq!(got, [("4", "MATCH")]);
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(retry_dir.join("summary.json")).expect("summary.json"),
    )
    .expect("json");
    assert!(
        summary["previous_run"].as_str().is_some_and(|p| p.contains(
            first_dir
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("?")
        )),
        "{summary:#}"
    );
}

#[test]
fn reconcile_compares_the_server_with_the_folders_and_sends_nothing() {
    let dir = TestDir::new();
    let sandbox = Sandbox::start(&[]);
    let rows: Vec<RowSpec> = (1..=3).map(|i| RowSpec::valid(i, 2)).collect();
    let manifest = write_manifest(&dir, &rows[..2]);
    let first = run_against(&sandbox, &dir, &manifest, &[]);
    assert_eq!(first.status.code(), Some(0), "{}", describe(&first));

    // Now the folders change behind customs' back: a photo added to row 1, and a row 3 that was
    // never sent.
    let manifest = write_manifest(&dir, &rows);
    dir.write(
        &format!("{}/zz-late.png", rows[0].folder),
        crate::util::png(99),
    );
    let before = sandbox.state();

    let out = demo_command(&sandbox, &dir, "reconcile", &manifest)
        .output()
        .expect("reconcile");
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));

    let after = sandbox.state();
    assert_eq!(stored(&after), stored(&before), "reconcile uploads nothing");
    assert_eq!(
        after["requests"]["kirim-foto-xray"],
        before["requests"]["kirim-foto-xray"]
    );
    assert_eq!(
        after["requests"]["add-foto-xray"],
        before["requests"]["add-foto-xray"]
    );

    let results = read_csv(&latest(&dir).join("results.csv"));
    let statuses: Vec<&str> = results.iter().map(|r| r["status"].as_str()).collect();
    assert_eq!(statuses, ["MISMATCH", "MATCH", "NOT_FOUND"]);
    assert_eq!(results[0]["missing_on_server"], "zz-late.png");
    assert!(results.iter().all(|r| r["action"] == "get"));
    assert!(results.iter().all(|r| r["uploaded"] == "0"));
}

/// `kirim-xray <command> RUN_DIR` against `sandbox` (report ignores the API flags it lacks).
fn on_run_dir(sandbox: &Sandbox, dir: &TestDir, command: &str, run_dir: &Path) -> Output {
    let mut cmd = kirim_xray();
    cmd.current_dir(dir.path())
        .env("KIRIM_XRAY_USERNAME", "demo")
        .env("KIRIM_XRAY_PASSWORD", "demo")
        .arg(command)
        .arg(run_dir);
    if command != "report" {
        cmd.args(["--api-url", &sandbox.api_url(), "--auth-url", &sandbox.url]);
    }
    cmd.output().expect("run kirim-xray")
}

fn run_folders(dir: &TestDir) -> usize {
    std::fs::read_dir(dir.join("runs"))
        .expect("runs")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir() && !e.path().is_symlink())
        .count()
}

#[test]
fn a_killed_run_is_reported_refused_on_a_changed_manifest_and_resumed_with_force() {
    let SlowRun {
        dir,
        sandbox,
        rows,
        manifest,
        mut child,
    } = start_slow_run(30, 3);
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    let run_dir = latest(&dir);

    // report rebuilds the folder of a killed run: every row, none of it invented.
    let report = on_run_dir(&sandbox, &dir, "report", &run_dir);
    assert_eq!(report.status.code(), Some(0), "{}", describe(&report));
    let results = read_csv(&run_dir.join("results.csv"));
    assert_eq!(results.len(), 30, "every row of the run");
    let matched = results.iter().filter(|r| r["status"] == "MATCH").count();
    assert!(matched >= 3, "{matched} MATCH");
    assert!(
        results
            .iter()
            .all(|r| r["status"] == "MATCH" || r["status"] == "SKIPPED")
    );
    let not_a_run = on_run_dir(&sandbox, &dir, "report", dir.path());
    assert_eq!(not_a_run.status.code(), Some(2), "{}", describe(&not_a_run));
    assert!(String::from_utf8_lossy(&not_a_run.stderr).contains("not a run folder"));

    // The manifest changes (a blank line: same rows, other bytes): resume refuses it...
    let mut text = std::fs::read_to_string(&manifest).expect("manifest");
    text.push('\n');
    std::fs::write(&manifest, text).expect("write manifest");
    let run_dir_arg = run_dir.to_str().expect("utf-8 path");
    let refused = spawn_run(&sandbox, &dir, &["--resume", run_dir_arg])
        .wait_with_output()
        .expect("resume");
    assert_eq!(refused.status.code(), Some(2), "{}", describe(&refused));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("changed since the run started") && stderr.contains("--force"),
        "{stderr}"
    );

    // ... unless forced.
    let forced = spawn_run(&sandbox, &dir, &["--resume", run_dir_arg, "--force"])
        .wait_with_output()
        .expect("resume");
    assert_eq!(forced.status.code(), Some(0), "{}", describe(&forced));
    assert_each_photo_once(&sandbox.state(), &rows);
    let results = read_csv(&run_dir.join("results.csv"));
    assert_eq!(results.len(), 30);
    assert!(results.iter().all(|r| r["status"] == "MATCH"));
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(run_dir.join("summary.json")).expect("summary.json"),
    )
    .expect("json");
    assert_eq!(summary["exit_code"], 0);
    assert_eq!(
        summary["resumed_at"].as_array().map(Vec::len),
        Some(1),
        "{summary:#}"
    );

    // Nothing left to retry: said so, exit 0, no new folder.
    let retry = on_run_dir(&sandbox, &dir, "retry", &run_dir);
    assert_eq!(retry.status.code(), Some(0), "{}", describe(&retry));
    assert!(String::from_utf8_lossy(&retry.stdout).contains("nothing to retry"));
    assert_eq!(run_folders(&dir), 1);
}

#[test]
fn a_second_signal_stops_at_once_and_the_journal_still_rebuilds_the_run() {
    let SlowRun {
        dir,
        sandbox,
        rows,
        child,
        ..
    } = start_slow_run_with(12, 3, "1000");
    signal(&child, "-TERM");
    std::thread::sleep(Duration::from_millis(50));
    signal(&child, "-TERM");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(143), "{}", describe(&out));
    // The rows in flight each wait a second per request: only the second signal can have
    // ended the run this early, before the outputs were written.
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("second signal, stopping now"),
        "{}",
        describe(&out)
    );
    let run_dir = latest(&dir);
    assert!(
        !run_dir.join("results.csv").exists(),
        "the hard stop writes no outputs: `report` rebuilds them"
    );

    // Every journal line is whole: the hard stop never tears one.
    let text = std::fs::read_to_string(run_dir.join("journal.jsonl")).expect("journal");
    assert!(text.ends_with('\n'));
    for line in text.lines() {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("torn journal line {line:?}: {e}"));
    }

    // `report` rebuilds every output from the journal and the manifest.
    let report = kirim_xray()
        .arg("report")
        .arg(&run_dir)
        .output()
        .expect("report");
    assert_eq!(report.status.code(), Some(0), "{}", describe(&report));
    let results = read_csv(&run_dir.join("results.csv"));
    assert_eq!(results.len(), 12, "every row accounted for");
    let matched: Vec<RowSpec> = rows
        .iter()
        .zip(&results)
        .filter(|(_, r)| r["status"] == "MATCH")
        .map(|(spec, _)| spec.clone())
        .collect();
    assert!(!matched.is_empty());
    assert!(
        results
            .iter()
            .all(|r| r["status"] == "MATCH" || r["status"] == "SKIPPED"),
        "only MATCH and SKIPPED rows"
    );

    // And the run can be finished where it stopped, every photo once: rows that were in flight
    // at the hard stop are not in the journal, and resume asks about them before sending.
    let run_dir = run_dir.to_str().expect("utf-8 path").to_string();
    let mut resumed = spawn_run(
        &sandbox,
        &dir,
        &["--resume", &run_dir, "--concurrency", "8"],
    );
    assert_eq!(resumed.wait().expect("resume").code(), Some(0));
    assert_each_photo_once(&sandbox.state(), &rows);
    let results = read_csv(&latest(&dir).join("results.csv"));
    assert!(results.iter().all(|r| r["status"] == "MATCH"));
}
