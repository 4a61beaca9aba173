//! A document whose BL/AWB customs did not know: a plain re-run soon after asks with get only
//! and sends no photo byte; `retry`, `--recheck-not-found 0` or a re-run after the window ask
//! with the photos. Asserted on the sandbox's own byte and request counts and on the run folders.

use std::path::Path;

use crate::run::{RowSpec, assert_each_photo_once, demo_command, describe, latest, run_against};
use crate::util::*;

fn image_bytes(state: &serde_json::Value) -> u64 {
    let bytes = &state["image_bytes_received"];
    bytes["kirim"].as_u64().unwrap_or(0) + bytes["add"].as_u64().unwrap_or(0)
}

fn kirims(state: &serde_json::Value) -> u64 {
    // Absent until the sandbox gets its first kirim.
    state["requests"]["kirim-foto-xray"]
        .as_object()
        .map_or(0, |counts| counts.values().filter_map(|n| n.as_u64()).sum())
}

/// A documents file that customs knows: `rows` only.
fn documents(dir: &TestDir, name: &str, rows: &[&RowSpec]) -> String {
    let mut text = String::from("nomorAju,nomorBlAwb,tanggalBlAwb,kodeKantor,npwpPemberitahu\n");
    for r in rows {
        text.push_str(&format!(
            "{},{},{},{},0999888777666555444333\n",
            r.nomor_aju, r.bl, r.date, r.kantor
        ));
    }
    dir.write(name, text)
        .to_str()
        .expect("utf-8 path")
        .to_string()
}

fn row_of(run_dir: &Path, row: &str) -> std::collections::BTreeMap<String, String> {
    read_csv(&run_dir.join("results.csv"))
        .into_iter()
        .find(|r| r["row"] == row)
        .expect("the row in results.csv")
}

#[test]
fn a_re_run_soon_after_sends_no_photo_for_a_bl_awb_customs_did_not_know_and_retry_asks_again() {
    let dir = TestDir::new();
    let rows: Vec<RowSpec> = (1..=3).map(|i| RowSpec::valid(i, 2)).collect();
    let state_dir = dir.join("sandbox-state");
    let state_dir = state_dir.to_str().expect("utf-8 path");
    let known = documents(&dir, "documents.csv", &[&rows[0], &rows[2]]);
    let sandbox = Sandbox::start(&["--documents", &known, "--state-dir", state_dir]);
    let manifest = crate::run::write_manifest(&dir, &rows);

    let first = run_against(&sandbox, &dir, &manifest, &[]);
    assert_eq!(first.status.code(), Some(1), "{}", describe(&first));
    let first_dir = latest(&dir);
    assert_eq!(row_of(&first_dir, "3")["status"], "NOT_FOUND");
    assert_eq!(row_of(&first_dir, "3")["action"], "kirim");

    // The same night again: not one photo byte, and every row still asked about with get.
    let before = sandbox.state();
    let second = run_against(&sandbox, &dir, &manifest, &[]);
    assert_eq!(second.status.code(), Some(1), "{}", describe(&second));
    let after = sandbox.state();
    assert_eq!(image_bytes(&after), image_bytes(&before), "no photo byte");
    assert_eq!(kirims(&after), kirims(&before), "no kirim at all");
    let second_dir = latest(&dir);
    assert_ne!(second_dir, first_dir);
    let not_found = row_of(&second_dir, "3");
    assert_eq!(not_found["status"], "NOT_FOUND", "{not_found:?}");
    assert_eq!(not_found["action"], "none");
    assert_eq!(not_found["requests"], "1", "one get");
    assert_eq!(not_found["server_count"], "0");
    let first_name = first_dir.file_name().unwrap().to_string_lossy().to_string();
    for want in [
        "BL/AWB not known to customs",
        first_name.as_str(),
        "kirim-xray retry",
    ] {
        assert!(not_found["message"].contains(want), "{want}: {not_found:?}");
    }
    for row in ["2", "4"] {
        let r = row_of(&second_dir, row);
        assert_eq!(
            (r["status"].as_str(), r["action"].as_str()),
            ("MATCH", "none")
        );
        assert_eq!(
            r["requests"], "1",
            "one get, which is also the verification"
        );
    }
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(second_dir.join("summary.json")).expect("summary.json"),
    )
    .expect("summary.json parses");
    assert_eq!(summary["counts"]["NOT_FOUND"], 1, "{summary:#}");
    assert_eq!(summary["exit_code"], 1, "still a row that needs attention");

    // `--recheck-not-found 0`: asks with the photos every time.
    let before = sandbox.state();
    let third = run_against(&sandbox, &dir, &manifest, &["--recheck-not-found", "0"]);
    assert_eq!(third.status.code(), Some(1), "{}", describe(&third));
    let after = sandbox.state();
    assert_eq!(kirims(&after), kirims(&before) + 1, "one kirim, for row 3");
    assert!(image_bytes(&after) > image_bytes(&before));
    assert_eq!(row_of(&latest(&dir), "3")["action"], "kirim");

    // Customs learns the BL/AWB. A plain run within the hour still only asks with get (the
    // message says so); the operator's `retry` asks with the photos, and the row is MATCH.
    sandbox.stop();
    let all = documents(&dir, "documents-later.csv", &[&rows[0], &rows[1], &rows[2]]);
    let sandbox = Sandbox::start(&["--documents", &all, "--state-dir", state_dir]);
    let before = sandbox.state();
    let fourth = run_against(&sandbox, &dir, &manifest, &[]);
    assert_eq!(fourth.status.code(), Some(1), "{}", describe(&fourth));
    assert_eq!(image_bytes(&sandbox.state()), image_bytes(&before));
    assert_eq!(row_of(&latest(&dir), "3")["status"], "NOT_FOUND");

    let retry = demo_command(&sandbox, &dir, "retry", &latest(&dir))
        .args(["--rate", "200", "--burst", "10"])
        .output()
        .expect("run kirim-xray");
    assert_eq!(retry.status.code(), Some(0), "{}", describe(&retry));
    let after = sandbox.state();
    assert_eq!(kirims(&after), kirims(&before) + 1, "the retry's one kirim");
    let retried = row_of(&latest(&dir), "3");
    assert_eq!(
        (retried["status"].as_str(), retried["action"].as_str()),
        ("MATCH", "kirim"),
        "{retried:?}"
    );
    assert_each_photo_once(&after, &rows);
}
