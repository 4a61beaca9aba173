//! The promise under faults that real gateways make (late commits, lagging reads, a record of
//! another document, an incomplete list): no photo held twice, no false MATCH. Asserted on what
//! the sandbox stored and on the run folder.

use crate::run::{
    RowSpec, assert_each_photo_once, demo_command, describe, latest, run_against, stored,
    write_manifest,
};
use crate::util::*;

fn image_bytes(state: &serde_json::Value) -> (u64, u64) {
    let bytes = &state["image_bytes_received"];
    (
        bytes["kirim"].as_u64().expect("kirim bytes"),
        bytes["add"].as_u64().expect("add bytes"),
    )
}

#[test]
fn late_commits_are_waited_for_and_no_photo_is_held_twice() {
    let dir = TestDir::new();
    let sandbox = Sandbox::start(&[
        "--seed",
        "8",
        "--late-commit-rate",
        "0.15",
        "--late-commit-ms",
        "2500",
    ]);
    let rows: Vec<RowSpec> = (1..=80).map(|i| RowSpec::valid(i, 5)).collect();
    let manifest = write_manifest(&dir, &rows);
    // The settle time must outlast the late commit; 3 s keeps the test short (default 10 s).
    let out = run_against(
        &sandbox,
        &dir,
        &manifest,
        &[
            "--max-images-per-request",
            "2",
            "--concurrency",
            "8",
            "--settle",
            "3",
        ],
    );
    let state = sandbox.state();
    let late = &state["late_commits"];
    assert!(late["scheduled"].as_u64().unwrap() >= 10, "{late:#}");
    assert_each_photo_once(&state, &rows);
    let results = read_csv(&latest(&dir).join("results.csv"));
    assert_eq!(results.len(), 80);
    for r in &results {
        assert!(
            r["status"] == "MATCH" || (r["status"] == "FAILED" && !r["message"].is_empty()),
            "{r:?}"
        );
    }
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}",
        describe(&out)
    );
}

#[test]
fn lagging_reads_end_match_and_a_retry_sends_nothing() {
    let dir = TestDir::new();
    let sandbox = Sandbox::start(&["--stale-read-ms", "1500"]);
    let rows: Vec<RowSpec> = (1..=40).map(|i| RowSpec::valid(i, 3)).collect();
    let manifest = write_manifest(&dir, &rows);
    let out = run_against(
        &sandbox,
        &dir,
        &manifest,
        &["--max-images-per-request", "2", "--settle", "2"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let state = sandbox.state();
    assert_each_photo_once(&state, &rows);
    let results = read_csv(&latest(&dir).join("results.csv"));
    assert!(
        results.iter().all(|r| r["status"] == "MATCH"),
        "{results:?}"
    );

    let before = image_bytes(&state);
    let retry = demo_command(&sandbox, &dir, "retry", &latest(&dir))
        .output()
        .expect("retry");
    assert_eq!(retry.status.code(), Some(0), "{}", describe(&retry));
    let after = sandbox.state();
    assert_eq!(image_bytes(&after), before, "the retry sent no photo");
    assert_each_photo_once(&after, &rows);
}

#[test]
fn a_nomor_aju_of_another_document_gets_nothing_added() {
    let dir = TestDir::new();
    let sandbox = Sandbox::start(&[]);
    let first = RowSpec::valid(1, 2);
    let manifest = write_manifest(&dir, std::slice::from_ref(&first));
    let out = run_against(&sandbox, &dir, &manifest, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let before = sandbox.state();

    // The same nomorAju on another BL/AWB, with the same generic photo names and one more.
    let other_dir = TestDir::new();
    let mut other = RowSpec::valid(1, 3);
    other.bl = "CNOTHER0001".into();
    let manifest = write_manifest(&other_dir, std::slice::from_ref(&other));
    let out = run_against(&sandbox, &other_dir, &manifest, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let after = sandbox.state();
    assert_eq!(
        stored(&after),
        stored(&before),
        "nothing added to the other record"
    );
    assert_eq!(image_bytes(&after).1, 0, "no add at all");
    let results = read_csv(&latest(&other_dir).join("results.csv"));
    assert_eq!(results[0]["status"], "MISMATCH");
    assert!(
        results[0]["message"].contains(&format!(
            "nomorAju {} on the server belongs to BL/AWB {}",
            first.nomor_aju, first.bl
        )),
        "{:?}",
        results[0]
    );
    let images = read_csv(&latest(&other_dir).join("images.csv"));
    assert!(
        images.iter().all(|i| i["on_server"].is_empty()),
        "{images:?}"
    );
}

#[test]
fn an_incomplete_list_is_never_taken_as_missing_photos() {
    let dir = TestDir::new();
    let sandbox = Sandbox::start(&["--detail-limit", "2"]);
    let rows = vec![RowSpec::valid(3, 5)];
    let manifest = write_manifest(&dir, &rows);
    let out = run_against(&sandbox, &dir, &manifest, &["--settle", "0"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let state = sandbox.state();
    assert_each_photo_once(&state, &rows);
    let results = read_csv(&latest(&dir).join("results.csv"));
    assert_eq!(results[0]["status"], "MISMATCH");
    assert!(
        results[0]["message"].contains("lists only 2 of its 5 photos"),
        "{:?}",
        results[0]
    );
    assert_eq!(results[0]["missing_on_server"], "");

    // Asked again (a re-run, which starts with get): still nothing sent.
    let bytes = image_bytes(&state);
    let out = run_against(&sandbox, &dir, &manifest, &["--settle", "0"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let state = sandbox.state();
    assert_eq!(image_bytes(&state), bytes);
    assert_each_photo_once(&state, &rows);
}
