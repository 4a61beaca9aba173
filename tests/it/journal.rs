//! Integration tests: a journal line torn in the middle of journal.jsonl (a disk that filled up,
//! then had space again) costs only its row. `report`, `retry` and `run --resume` skip it with a
//! warning naming the journal and the line, and treat its row as not finished: asked about with
//! get before anything is sent.

use std::path::Path;

use serde_json::Value;

use crate::run::{
    RowSpec, assert_each_photo_once, demo_command, describe, latest, run_against, write_manifest,
};
use crate::util::{Sandbox, TestDir, kirim_xray, read_csv};

/// Cut line `n` (1-based) of the journal to its first third, keeping the line break after it.
/// Returns the row number that line held.
fn tear_line(run_dir: &Path, n: usize) -> String {
    let path = run_dir.join("journal.jsonl");
    let text = std::fs::read_to_string(&path).expect("journal");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let line: Value = serde_json::from_str(&lines[n - 1]).expect("a whole line");
    let row = line["row"].to_string();
    let cut = lines[n - 1].len() / 3;
    lines[n - 1].truncate(cut);
    std::fs::write(&path, lines.join("\n") + "\n").expect("write journal");
    row
}

fn uploads(state: &Value) -> (Value, Value) {
    (
        state["requests"]["kirim-foto-xray"].clone(),
        state["requests"]["add-foto-xray"].clone(),
    )
}

fn gets(state: &Value) -> u64 {
    state["requests"]["get-foto-xray"]["200"]
        .as_u64()
        .unwrap_or(0)
}

#[test]
fn a_torn_line_in_the_middle_of_the_journal_costs_only_its_row() {
    let dir = TestDir::new();
    let sandbox = Sandbox::start(&[]);
    let rows: Vec<RowSpec> = (1..=5).map(|i| RowSpec::valid(i, 2)).collect();
    let manifest = write_manifest(&dir, &rows);
    let first = run_against(&sandbox, &dir, &manifest, &[]);
    assert_eq!(first.status.code(), Some(0), "{}", describe(&first));
    let run_dir = latest(&dir);
    let row = tear_line(&run_dir, 3);
    let sent = uploads(&sandbox.state());
    let warning = "journal.jsonl line 3 cannot be read";

    // report: every other row as the journal says, the torn one SKIPPED (not in the journal).
    let report = kirim_xray()
        .arg("report")
        .arg(&run_dir)
        .output()
        .expect("report");
    assert_eq!(report.status.code(), Some(0), "{}", describe(&report));
    assert!(
        String::from_utf8_lossy(&report.stderr).contains(warning),
        "{}",
        describe(&report)
    );
    let results = read_csv(&run_dir.join("results.csv"));
    assert_eq!(results.len(), 5);
    for r in &results {
        let expected = if r["row"] == row { "SKIPPED" } else { "MATCH" };
        assert_eq!(r["status"], expected, "{r:?}");
    }
    let summary: Value = serde_json::from_str(
        &std::fs::read_to_string(run_dir.join("summary.json")).expect("summary.json"),
    )
    .expect("json");
    assert!(
        summary["note"]
            .as_str()
            .is_some_and(|n| n.contains("line 3 could not be read")),
        "{summary:#}"
    );

    // retry: only that row, asked about first; the server already holds it, so nothing is sent.
    let gets_before = gets(&sandbox.state());
    let retry = demo_command(&sandbox, &dir, "retry", &run_dir)
        .output()
        .expect("retry");
    assert_eq!(retry.status.code(), Some(0), "{}", describe(&retry));
    assert!(String::from_utf8_lossy(&retry.stderr).contains(warning));
    let retried = read_csv(&latest(&dir).join("results.csv"));
    let got: Vec<(&str, &str)> = retried
        .iter()
        .map(|r| (r["row"].as_str(), r["status"].as_str()))
        .collect();
    assert_eq!(got, [(row.as_str(), "MATCH")]);
    assert_eq!(retried[0]["uploaded"], "0");
    let state = sandbox.state();
    assert_eq!(uploads(&state), sent, "no kirim, no add");
    assert!(gets(&state) > gets_before, "asked with get");

    // resume of the original folder: the same, in place.
    let resume = kirim_xray()
        .current_dir(dir.path())
        .env("KIRIM_XRAY_USERNAME", "demo")
        .env("KIRIM_XRAY_PASSWORD", "demo")
        .args(["run", "--resume"])
        .arg(&run_dir)
        .output()
        .expect("resume");
    assert_eq!(resume.status.code(), Some(0), "{}", describe(&resume));
    assert!(String::from_utf8_lossy(&resume.stderr).contains(warning));
    let results = read_csv(&run_dir.join("results.csv"));
    assert!(
        results.iter().all(|r| r["status"] == "MATCH"),
        "{results:?}"
    );
    let state = sandbox.state();
    assert_eq!(uploads(&state), sent, "no kirim, no add");
    assert_each_photo_once(&state, &rows);
}
