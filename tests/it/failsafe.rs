//! Integration tests: a run folder that cannot be written stops the run before anything is sent
//! that the journal cannot record, and `run --resume` on a disk with space finishes it with every
//! photo held exactly once; a signal ends waits on the rate limiter at once, and what the server
//! acknowledged before it still counts.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::rerun::spawn_run;
use crate::run::{
    RowSpec, assert_each_photo_once, demo_command, describe, latest, stored, write_manifest,
};
use crate::util::{Sandbox, TestDir, kirim_xray, read_csv};

/// Requests the sandbox counted for `endpoint` (e.g. "kirim-foto-xray"), whatever the status.
fn requests(state: &Value, endpoint: &str) -> u64 {
    state["requests"][endpoint]
        .as_object()
        .map_or(0, |by_status| {
            by_status.values().filter_map(Value::as_u64).sum()
        })
}

/// Whole, readable lines of the run's journal.
fn journal_lines(run_dir: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(run_dir.join("journal.jsonl")).expect("journal");
    assert!(text.is_empty() || text.ends_with('\n'), "a torn last line");
    text.lines()
        .map(|l| serde_json::from_str(l).expect("a whole journal line"))
        .collect()
}

fn summary(run_dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(run_dir.join("summary.json")).expect("summary"))
        .expect("summary.json is whole JSON")
}

/// `kirim-xray run --resume RUN_DIR` with the demo credentials, to its end, at a brisk rate.
fn resume(dir: &TestDir, run_dir: &Path) -> Output {
    kirim_xray()
        .current_dir(dir.path())
        .env("KIRIM_XRAY_USERNAME", "demo")
        .env("KIRIM_XRAY_PASSWORD", "demo")
        .args(["run", "--resume"])
        .arg(run_dir)
        .args(["--rate", "200", "--burst", "10"])
        .output()
        .expect("resume")
}

/// A run whose journal fails as on a full disk after `journaled` lines (a debug-build test hook):
/// one worker, so the row that finished just before the failure is the last one with requests.
fn run_with_failing_journal(
    sandbox: &Sandbox,
    dir: &TestDir,
    manifest: &Path,
    journaled: usize,
) -> Output {
    demo_command(sandbox, dir, "run", manifest)
        .args(["--rate", "200", "--burst", "10", "--concurrency", "1"])
        .env("KIRIM_XRAY_TEST_JOURNAL_FAIL_AFTER", journaled.to_string())
        .output()
        .expect("run kirim-xray")
}

#[test]
fn a_journal_that_fails_mid_run_stops_sending_and_resume_holds_every_photo_once() {
    if !cfg!(debug_assertions) {
        eprintln!("skipped: the journal's fault hook exists only in debug builds");
        return;
    }
    let dir = TestDir::new();
    let sandbox = Sandbox::start(&[]);
    let rows: Vec<RowSpec> = (1..=12).map(|i| RowSpec::valid(i, 2)).collect();
    let manifest = write_manifest(&dir, &rows);
    let out = run_with_failing_journal(&sandbox, &dir, &manifest, 4);
    assert_eq!(out.status.code(), Some(5), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let run_dir = latest(&dir);
    let journal = run_dir.join("journal.jsonl");
    // The message names the file, the OS error and what to do.
    assert!(
        stderr.contains(&format!("cannot append row 6 to {}", journal.display())),
        "{stderr}"
    );
    assert!(stderr.contains("No space left on device"), "{stderr}");
    assert!(stderr.contains("run --resume"), "{stderr}");
    // The summary is printed all the same.
    assert!(String::from_utf8_lossy(&out.stdout).contains("photos"));

    // Four rows journaled; the fifth finished, and its line could not be written. Nothing after
    // it: no request of any later row reached the gateway.
    assert_eq!(journal_lines(&run_dir).len(), 4);
    let state = sandbox.state();
    assert_eq!(stored(&state).len(), 5, "only the rows up to the failure");
    assert_eq!(requests(&state, "kirim-foto-xray"), 5);
    assert_eq!(requests(&state, "get-foto-xray"), 5);
    assert_eq!(requests(&state, "add-foto-xray"), 0);
    assert_each_photo_once(&state, &rows[..5]);

    // The other outputs could be written: every row accounted for, the rest SKIPPED with why.
    let results = read_csv(&run_dir.join("results.csv"));
    let statuses: Vec<&str> = results.iter().map(|r| r["status"].as_str()).collect();
    assert_eq!(
        statuses,
        [["MATCH"; 5].as_slice(), &["SKIPPED"; 7]].concat()
    );
    assert!(
        results[5]["message"].starts_with("not started: the run folder cannot be written"),
        "{}",
        results[5]["message"]
    );
    let s = summary(&run_dir);
    assert_eq!(s["exit_code"], 5);
    assert!(
        s["note"]
            .as_str()
            .is_some_and(|n| n.starts_with("the run folder cannot be written")),
        "{s}"
    );

    // Resume with a journal that works: the fifth row is asked about with get, not sent again.
    let resumed = resume(&dir, &run_dir);
    assert_eq!(resumed.status.code(), Some(0), "{}", describe(&resumed));
    let state = sandbox.state();
    assert_each_photo_once(&state, &rows);
    assert_eq!(requests(&state, "kirim-foto-xray"), 12, "one kirim per row");
    assert_eq!(requests(&state, "add-foto-xray"), 0);
    assert_eq!(journal_lines(&run_dir).len(), 12);
    let results = read_csv(&run_dir.join("results.csv"));
    assert!(results.iter().all(|r| r["status"] == "MATCH"));
}

/// A small tmpfs mounted for one test (root only), unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// `None` when this process cannot mount (not root, no CAP_SYS_ADMIN, no tmpfs).
    fn mount(at: PathBuf, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(&at).expect("mount point");
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&at)
            .output()
            .is_ok_and(|o| o.status.success());
        ok.then_some(Tmpfs(at))
    }

    fn grow(&self, size: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .expect("remount");
        assert!(status.success(), "remount {}", self.0.display());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_disk_that_fills_up_mid_run_stops_sending_and_resume_on_space_holds_every_photo_once() {
    let dir = TestDir::new();
    let Some(disk) = Tmpfs::mount(dir.join("runs"), "64k") else {
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    };
    let sandbox = Sandbox::start(&[]);
    let rows: Vec<RowSpec> = (1..=150).map(|i| RowSpec::valid(i, 1)).collect();
    let manifest = write_manifest(&dir, &rows);
    let out = demo_command(&sandbox, &dir, "run", &manifest)
        .args(["--rate", "500", "--burst", "10", "--concurrency", "1"])
        .output()
        .expect("run kirim-xray");
    assert_eq!(out.status.code(), Some(5), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("journal.jsonl"), "{stderr}");
    assert!(stderr.contains("No space left on device"), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("photos"));

    // Every journal line is whole, and the gateway got the requests of exactly one more row:
    // the one whose line no longer fitted. Nothing after it.
    let run_dir = latest(&dir);
    let journaled = journal_lines(&run_dir).len();
    assert!(journaled > 0 && journaled < rows.len(), "{journaled} rows");
    let state = sandbox.state();
    assert_eq!(stored(&state).len(), journaled + 1);
    assert_eq!(requests(&state, "kirim-foto-xray"), journaled as u64 + 1);
    assert_eq!(requests(&state, "get-foto-xray"), journaled as u64 + 1);

    // Space again: resume finishes the run in the same folder, every photo held exactly once.
    disk.grow("16m");
    let resumed = resume(&dir, &run_dir);
    assert_eq!(resumed.status.code(), Some(0), "{}", describe(&resumed));
    let state = sandbox.state();
    assert_each_photo_once(&state, &rows);
    assert_eq!(requests(&state, "kirim-foto-xray"), rows.len() as u64);
    assert_eq!(requests(&state, "add-foto-xray"), 0);
    let results = read_csv(&run_dir.join("results.csv"));
    assert_eq!(results.len(), rows.len());
    assert!(results.iter().all(|r| r["status"] == "MATCH"));
    drop(disk);
}

/// Wait (bounded) until the sandbox holds `n` records.
fn wait_for_records(sandbox: &Sandbox, n: usize, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while stored(&sandbox.state()).len() < n {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the run ended ({status}) before the sandbox held {n} records");
        }
        assert!(Instant::now() < deadline, "no record on the sandbox");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Wait for `child` at most `bound`; kill it and fail past it.
fn wait_bounded(child: Child, bound: Duration) -> Output {
    let pid = child.id();
    let started = Instant::now();
    let watchdog = std::thread::spawn(move || {
        while started.elapsed() < bound {
            std::thread::sleep(Duration::from_millis(50));
            if !Path::new(&format!("/proc/{pid}")).exists() {
                return false;
            }
        }
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
        true
    });
    let out = child.wait_with_output().expect("wait");
    let killed = watchdog.join().expect("watchdog");
    assert!(!killed, "still running {bound:?} after the signal");
    out
}

#[test]
fn a_signal_ends_a_wait_for_the_rate_limiter_at_once_and_counts_what_was_acknowledged() {
    for (signal, code) in [("-TERM", 143), ("-INT", 130)] {
        let dir = TestDir::new();
        let sandbox = Sandbox::start(&[]);
        let rows: Vec<RowSpec> = (1..=3).map(|i| RowSpec::valid(i, 2)).collect();
        let manifest = write_manifest(&dir, &rows);
        // A permit every 52 s: the login and row 1's kirim take the burst, then its get waits. One
        // worker, so the kirim is row 1's whatever the scheduling.
        let mut child = spawn_run(
            &sandbox,
            &dir,
            &[
                manifest.to_str().expect("utf-8 path"),
                "--rate",
                "0.02",
                "--burst",
                "2",
                "--concurrency",
                "1",
            ],
        );
        wait_for_records(&sandbox, 1, &mut child);
        let status = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        // The grace is the request timeout plus 5 s (65 s), and the permit 52 s away: the old
        // behaviour ended only after one of them.
        let out = wait_bounded(child, Duration::from_secs(20));
        assert_eq!(
            out.status.code(),
            Some(code),
            "{signal}: {}",
            describe(&out)
        );

        // The kirim got its 200: nothing more went out, and the row does not say "0 sent".
        let state = sandbox.state();
        assert_each_photo_once(&state, &rows[..1]);
        assert_eq!(stored(&state).len(), 1);
        assert_eq!(requests(&state, "kirim-foto-xray"), 1);
        assert_eq!(requests(&state, "get-foto-xray"), 0);
        let run_dir = latest(&dir);
        let results = read_csv(&run_dir.join("results.csv"));
        let first = &results[0];
        assert_eq!(first["status"], "SKIPPED", "{first:?}");
        assert_eq!(first["uploaded"], "2", "{first:?}");
        assert_eq!(first["requests"], "1", "{first:?}");
        assert!(
            first["message"].contains("2 photos acknowledged"),
            "{first:?}"
        );
        assert!(results[1..].iter().all(|r| r["uploaded"] == "0"));
        let images = read_csv(&run_dir.join("images.csv"));
        let sent: Vec<&str> = images.iter().map(|i| i["sent_in"].as_str()).collect();
        assert_eq!(sent, ["kirim", "kirim", "none", "none", "none", "none"]);
        let s = summary(&run_dir);
        assert_eq!(s["photos"]["sent"], 2, "{s}");
        assert_eq!(s["exit_code"], code);
        let text = std::fs::read_to_string(run_dir.join("summary.txt")).expect("summary.txt");
        assert!(text.contains("2 sent"), "{text}");

        // Resume verifies row 2 with get and sends only the other rows.
        let resumed = resume(&dir, &run_dir);
        assert_eq!(resumed.status.code(), Some(0), "{}", describe(&resumed));
        let state = sandbox.state();
        assert_each_photo_once(&state, &rows);
        assert_eq!(requests(&state, "kirim-foto-xray"), 3);
    }
}

#[test]
fn with_many_workers_a_failing_journal_still_loses_nothing_that_resume_cannot_recover() {
    if !cfg!(debug_assertions) {
        eprintln!("skipped: the journal's fault hook exists only in debug builds");
        return;
    }
    let dir = TestDir::new();
    let sandbox = Sandbox::start(&["--latency-ms", "5"]);
    let rows: Vec<RowSpec> = (1..=40).map(|i| RowSpec::valid(i, 1 + i % 2)).collect();
    let manifest = write_manifest(&dir, &rows);
    let out = demo_command(&sandbox, &dir, "run", &manifest)
        .args(["--rate", "200", "--burst", "10", "--concurrency", "4"])
        .env("KIRIM_XRAY_TEST_JOURNAL_FAIL_AFTER", "10")
        .output()
        .expect("run kirim-xray");
    assert_eq!(out.status.code(), Some(5), "{}", describe(&out));
    let run_dir = latest(&dir);
    assert_eq!(journal_lines(&run_dir).len(), 10);
    // Every request the gateway saw belongs to a row of results.csv: rows stopped in flight
    // count what went out, the rows after them sent nothing, and at most one row per worker
    // was under way when the journal failed.
    let state = sandbox.state();
    let results = read_csv(&run_dir.join("results.csv"));
    let counted: u64 = results
        .iter()
        .map(|r| r["requests"].parse::<u64>().expect("requests"))
        .sum();
    let seen = ["kirim-foto-xray", "add-foto-xray", "get-foto-xray"]
        .iter()
        .map(|e| requests(&state, e))
        .sum::<u64>();
    assert_eq!(seen, counted);
    let touched = results.iter().filter(|r| r["requests"] != "0").count();
    assert!(touched <= 11 + 4, "{touched} rows sent something");

    let resumed = resume(&dir, &run_dir);
    assert_eq!(resumed.status.code(), Some(0), "{}", describe(&resumed));
    let state = sandbox.state();
    assert_each_photo_once(&state, &rows);
    assert_eq!(requests(&state, "kirim-foto-xray"), 40, "one kirim per row");
}
