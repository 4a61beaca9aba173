//! `kirim-xray audit` and `ledger rebuild` over a small month against the sandbox: a night whose
//! rows all FAILED and a retry that fixed them, then a night whose documents customs does not
//! know. The audit lists exactly the documents still not MATCH, with their history; a rebuilt,
//! deleted or corrupt ledger gives the same answers.

use std::path::Path;
use std::process::Output;

use calamine::{Data, Reader, Xlsx, open_workbook};

use crate::run::{RowSpec, demo_command, describe, latest, write_manifest};
use crate::util::{Sandbox, TestDir, kirim_xray, read_csv, sha256_hex};

const AJU44: &str = "01234567890123456789012345678901234567890123";

fn night(first: usize, date: &str, n: usize) -> Vec<RowSpec> {
    (first..first + n)
        .map(|i| {
            let mut r = RowSpec::valid(i, 2);
            r.date = date.into();
            r
        })
        .collect()
}

fn audit(dir: &TestDir, args: &[&str]) -> Output {
    kirim_xray()
        .current_dir(dir.path())
        .arg("audit")
        .arg("--out")
        .arg(dir.join("runs"))
        .args(args)
        .output()
        .expect("run kirim-xray audit")
}

fn send(sandbox: &Sandbox, dir: &TestDir, sub: &str, target: &Path, extra: &[&str]) -> Output {
    demo_command(sandbox, dir, sub, target)
        .args([
            "--rate",
            "200",
            "--burst",
            "10",
            "--retries",
            "0",
            "--settle",
            "0",
        ])
        .args(extra)
        .output()
        .expect("run kirim-xray")
}

/// The audit's CSV lines (nomorAju, status, history) for the whole month.
fn answers(dir: &TestDir, out_dir: &str) -> Vec<(String, String, String)> {
    let out = audit(
        dir,
        &[
            "--from",
            "2026-11-01",
            "--to",
            "2026-11-30",
            "--out-dir",
            out_dir,
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    read_csv(&dir.join(&format!("{out_dir}/audit.csv")))
        .into_iter()
        .map(|l| {
            (
                l["nomorAju"].clone(),
                l["status"].clone(),
                l["history"].clone(),
            )
        })
        .collect()
}

#[test]
fn a_month_of_runs_audited_from_the_ledger_rebuilt_or_not() {
    let dir = TestDir::new();
    let mut first = night(1, "2026-11-01", 3);
    first[0].nomor_aju = AJU44.into();
    let second = night(10, "2026-11-02", 2);
    let state = dir.join("state");
    let state = state.to_str().unwrap();

    // Night 1: every X-ray request refused, every row FAILED.
    let failing = Sandbox::start(&["--state-dir", state, "--fail-rate", "1.0"]);
    let m1 = write_manifest(&dir, &first);
    let out = send(&failing, &dir, "run", &m1, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let night1 = latest(&dir);
    failing.stop();

    // The retry fixes them; night 2's documents are unknown to customs.
    let known = first
        .iter()
        .map(|r| format!("{},{},{},{}\n", r.nomor_aju, r.bl, r.date, r.kantor))
        .collect::<String>();
    let documents = dir.write(
        "documents.csv",
        format!("nomorAju,nomorBlAwb,tanggalBlAwb,kodeKantor\n{known}"),
    );
    let sandbox = Sandbox::start(&[
        "--state-dir",
        state,
        "--documents",
        documents.to_str().unwrap(),
    ]);
    let out = send(&sandbox, &dir, "retry", &night1, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let retry = latest(&dir);
    // A second manifest file for night 2, in its own folder.
    let night2_dir = TestDir::new();
    let m2 = write_manifest(&night2_dir, &second);
    let out = send(&sandbox, &dir, "run", &m2, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let ledger = dir.join("runs/ledger.sqlite");
    assert!(ledger.is_file(), "every run records into the ledger");

    // Exactly night 2's documents are still not MATCH; night 1's show both runs.
    let got = answers(&dir, "a1");
    let name = |p: &Path| p.file_name().unwrap().to_string_lossy().into_owned();
    let mut want: Vec<(String, String, String)> = first
        .iter()
        .map(|r| {
            (
                r.nomor_aju.clone(),
                "MATCH".to_string(),
                format!("{} run FAILED; {} retry MATCH", name(&night1), name(&retry)),
            )
        })
        .collect();
    let night2_run = name(&latest(&dir));
    want.sort();
    want.extend(second.iter().map(|r| {
        (
            r.nomor_aju.clone(),
            "NOT_FOUND".to_string(),
            format!("{night2_run} run NOT_FOUND"),
        )
    }));
    let mut sorted_got = got.clone();
    sorted_got[..3].sort();
    assert_eq!(sorted_got, want);
    let out = audit(
        &dir,
        &[
            "--from",
            "2026-11-01",
            "--to",
            "2026-11-30",
            "--status",
            "NOT_MATCH",
            "--out-dir",
            "a0",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("not MATCH (2):"), "{stdout}");
    for r in &second {
        assert!(stdout.contains(&r.nomor_aju), "{stdout}");
    }
    // Night 1 alone: every document MATCH now, exit 0.
    let out = audit(
        &dir,
        &[
            "--from",
            "2026-11-01",
            "--to",
            "2026-11-01",
            "--out-dir",
            "n1",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(read_csv(&dir.join("n1/audit.csv")).len(), 3);

    // By customs office.
    let out = audit(&dir, &["--kodeKantor", "040300", "--out-dir", "k1"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(read_csv(&dir.join("k1/audit.csv")).is_empty());
    let out = audit(&dir, &["--kodeKantor", "009000", "--out-dir", "k2"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert_eq!(read_csv(&dir.join("k2/audit.csv")).len(), 5);

    // One document's story, with the digests of its photos as sent.
    let out = audit(&dir, &["--aju", AJU44]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let story = String::from_utf8_lossy(&out.stdout);
    assert!(story.contains("latest verdict: MATCH"), "{story}");
    assert!(
        story.contains(&format!("run {} (run,", name(&night1))),
        "{story}"
    );
    for (_, bytes) in &first[0].photos {
        assert!(story.contains(&sha256_hex(bytes)), "{story}");
    }
    assert!(
        !dir.path()
            .read_dir()
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("audit-"))
    );

    // audit.xlsx: the 44-digit nomorAju and 009000 as text, the photos' sha256.
    let mut wb: Xlsx<_> = open_workbook(dir.join("a1/audit.xlsx")).unwrap();
    let docs = wb.worksheet_range("Documents").unwrap();
    let row = (1..docs.height() as u32)
        .find(|r| docs.get_value((*r, 0)) == Some(&Data::String(AJU44.into())))
        .expect("the 44-digit nomorAju, as text");
    assert_eq!(
        docs.get_value((row, 3)),
        Some(&Data::String("009000".into()))
    );
    let evidence = wb.worksheet_range("Evidence").unwrap();
    let digests: Vec<String> = evidence.rows().skip(1).map(|r| r[11].to_string()).collect();
    assert!(digests.contains(&sha256_hex(&first[0].photos[1].1)));

    // The same answers from a rebuilt ledger, from none, and from a corrupt one.
    let out = kirim_xray()
        .arg("ledger")
        .arg("rebuild")
        .arg("--out")
        .arg(dir.join("runs"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(answers(&dir, "a2"), got);
    std::fs::remove_file(&ledger).unwrap();
    assert_eq!(answers(&dir, "a3"), got);
    assert!(ledger.is_file(), "audit rebuilt the ledger");
    std::fs::write(
        &ledger,
        b"\x00\x01garbage bytes, not a database\xff".repeat(100),
    )
    .unwrap();
    assert_eq!(answers(&dir, "a4"), got);
    let out = audit(&dir, &["--aju", AJU44]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
}

#[test]
fn bad_arguments_and_unknown_documents() {
    let dir = TestDir::new();
    std::fs::create_dir(dir.join("runs")).unwrap();
    for args in [
        &["--from", "2026-13-01"][..],
        &["--from", "2026-11-05", "--to", "2026-11-01"],
        &["--status", "GREAT"],
    ] {
        let out = audit(&dir, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", describe(&out));
    }
    let out = kirim_xray()
        .current_dir(dir.path())
        .args(["audit", "--out", "nowhere"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    // An empty out folder: nothing listed, exit 0; an unknown document: exit 1.
    let out = audit(&dir, &["--out-dir", "e"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let out = audit(&dir, &["--aju", "NOPE"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
}

/// Rows of `run` in the ledger, read as an auditor's tool would (0 while it cannot be read).
fn ledger_rows(ledger: &Path, run: &str) -> i64 {
    rusqlite::Connection::open_with_flags(ledger, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .and_then(|c| {
            c.query_row("SELECT count(*) FROM rows WHERE run = ?1", [run], |r| {
                r.get(0)
            })
        })
        .unwrap_or(0)
}

#[test]
fn the_ledger_fills_as_rows_finish_and_a_killed_run_is_caught_up_from_its_journal() {
    let mut slow = crate::rerun::start_slow_run(40, 1);
    let run_dir = latest(&slow.dir);
    let run = run_dir.file_name().unwrap().to_string_lossy().into_owned();
    let ledger = slow.dir.join("runs/ledger.sqlite");
    let mut seen_while_running = false;
    while slow.child.try_wait().unwrap().is_none() {
        if ledger_rows(&ledger, &run) > 0 {
            seen_while_running = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(
        seen_while_running,
        "rows reached the ledger while the run went on"
    );
    slow.child.kill().unwrap();
    slow.child.wait().unwrap();

    // The killed run never read its whole journal into the ledger: audit does.
    let journaled = std::fs::read_to_string(run_dir.join("journal.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
        .count();
    let out = audit(&slow.dir, &["--out-dir", "k"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(read_csv(&slow.dir.join("k/audit.csv")).len(), journaled);
    assert_eq!(ledger_rows(&ledger, &run), journaled as i64);

    // Resumed to the end: every document listed, MATCH.
    let out = crate::rerun::spawn_run(
        &slow.sandbox,
        &slow.dir,
        &["--resume", run_dir.to_str().unwrap()],
    )
    .wait_with_output()
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let out = audit(&slow.dir, &["--out-dir", "r"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let lines = read_csv(&slow.dir.join("r/audit.csv"));
    assert_eq!(lines.len(), slow.rows.len());
    assert!(
        lines
            .iter()
            .all(|l| l["status"] == "MATCH" && l["runs"] == "1")
    );
}

#[test]
fn a_ledger_that_cannot_be_written_never_fails_the_run() {
    let dir = TestDir::new();
    let sandbox = Sandbox::start(&[]);
    let rows = night(1, "2026-11-03", 3);
    let manifest = write_manifest(&dir, &rows);
    // A folder where the ledger should be: it can be neither opened nor rebuilt.
    std::fs::create_dir_all(dir.join("runs/ledger.sqlite")).unwrap();
    let out = send(&sandbox, &dir, "run", &manifest, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(
        crate::run::stored(&sandbox.state()).len(),
        3,
        "every document sent"
    );
    let log = std::fs::read_to_string(latest(&dir).join("run.log")).unwrap();
    assert!(
        log.contains("ledger rebuild"),
        "a warning names the way back: {log}"
    );
    // The audit cannot read or rebuild it either: exit 2, saying why.
    let out = audit(&dir, &["--out-dir", "x"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ledger"));
}
