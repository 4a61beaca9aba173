//! Integration tests: `retry` and `run --resume --force` find an earlier run's rows again by
//! document (nomorAju) when the manifest changed, never by row number. A row inserted above a
//! FAILED row does not get retried in its place, and a document that left the manifest is
//! reported, not replaced.

use serde_json::Value;

use crate::rerun::{SlowRun, spawn_run, start_slow_run};
use crate::run::{
    RowSpec, assert_each_photo_once, demo_command, describe, latest, run_against, stored,
    write_manifest,
};
use crate::util::{Sandbox, TestDir, jpeg, kirim_xray, read_csv};

fn summary(run_dir: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(run_dir.join("summary.json")).expect("summary"))
        .expect("summary.json is JSON")
}

/// A row whose one photo is over the sandbox's body limit: refused with 413, the row FAILED.
fn too_big(i: usize) -> RowSpec {
    let mut row = RowSpec::valid(i, 1);
    row.photos = vec![("xray-00.jpg".into(), jpeg(i as u8, 30_000))];
    row
}

#[test]
fn retry_after_a_row_is_inserted_above_a_failed_row_sends_that_document() {
    let dir = TestDir::new();
    let sandbox = Sandbox::start(&["--max-body-bytes", "20000"]);
    let (a, mut failed, c, gone) = (
        RowSpec::valid(1, 1),
        too_big(2),
        RowSpec::valid(3, 1),
        too_big(4),
    );
    let manifest = write_manifest(&dir, &[a.clone(), failed.clone(), c.clone(), gone.clone()]);
    // The 413 may reach the client as a broken connection, an unclear answer: a short settle
    // keeps the FAILED rows from taking minutes.
    let first = run_against(&sandbox, &dir, &manifest, &["--settle", "0.2"]);
    assert_eq!(first.status.code(), Some(1), "{}", describe(&first));
    let first_dir = latest(&dir);
    let statuses: Vec<String> = read_csv(&first_dir.join("results.csv"))
        .iter()
        .map(|r| r["status"].clone())
        .collect();
    assert_eq!(statuses, ["MATCH", "FAILED", "MATCH", "FAILED"]);

    // The operator fixes the photo, a new row arrives above the FAILED one, and the last FAILED
    // document leaves the manifest.
    failed.photos = vec![("xray-00.jpg".into(), jpeg(2, 700))];
    let inserted = RowSpec::valid(5, 1);
    write_manifest(
        &dir,
        &[a.clone(), inserted.clone(), failed.clone(), c.clone()],
    );
    let before = stored(&sandbox.state());

    let retry = demo_command(&sandbox, &dir, "retry", &first_dir)
        .output()
        .expect("retry");
    // Exit 1: the document that left the manifest still needs attention.
    assert_eq!(retry.status.code(), Some(1), "{}", describe(&retry));
    let stderr = String::from_utf8_lossy(&retry.stderr);
    assert!(
        stderr.contains(&format!(
            "document {} (was row 5, FAILED) of {} is not in ",
            gone.nomor_aju,
            first_dir.display()
        )),
        "{stderr}"
    );

    // The server now holds the FAILED document, and neither the inserted row nor the gone one.
    let state = sandbox.state();
    let after = stored(&state);
    assert_each_photo_once(&state, &[a, failed.clone(), c]);
    assert!(!before.contains_key(&failed.nomor_aju));
    assert!(!after.contains_key(&inserted.nomor_aju), "{after:?}");
    assert!(!after.contains_key(&gone.nomor_aju), "{after:?}");
    assert_eq!(after.len(), before.len() + 1);

    let retry_dir = latest(&dir);
    let results = read_csv(&retry_dir.join("results.csv"));
    let got: Vec<(&str, &str, &str)> = results
        .iter()
        .map(|r| {
            (
                r["row"].as_str(),
                r["nomorAju"].as_str(),
                r["status"].as_str(),
            )
        })
        .collect();
    assert_eq!(got, [("4", failed.nomor_aju.as_str(), "MATCH")]);
    let summary = summary(&retry_dir);
    assert_eq!(
        summary["not_in_manifest"],
        serde_json::json!([{"nomorAju": gone.nomor_aju, "row": 5, "status": "FAILED"}]),
        "{summary:#}"
    );
    assert_eq!(summary["rows_selected"], "4");
    let text = std::fs::read_to_string(retry_dir.join("summary.txt")).expect("summary.txt");
    assert!(
        text.contains(&format!(
            "not in the manifest any more (1), not sent:\n  {} (was row 5, FAILED)",
            gone.nomor_aju
        )),
        "{text}"
    );
    let html = std::fs::read_to_string(retry_dir.join("report.html")).expect("report.html");
    assert!(html.contains(&gone.nomor_aju), "report.html names it");
}

#[test]
fn a_forced_resume_on_a_manifest_with_an_inserted_row_keeps_each_document_once() {
    let SlowRun {
        dir,
        sandbox,
        rows,
        manifest,
        mut child,
    } = start_slow_run(20, 4);
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    let run_dir = latest(&dir);

    // A new row at the top: every earlier row moves down by one.
    let inserted = RowSpec::valid(99, 2);
    let mut now = vec![inserted.clone()];
    now.extend(rows.iter().cloned());
    assert_eq!(write_manifest(&dir, &now), manifest);

    let run_dir_arg = run_dir.to_str().expect("utf-8 path");
    let forced = spawn_run(&sandbox, &dir, &["--resume", run_dir_arg, "--force"])
        .wait_with_output()
        .expect("resume");
    assert_eq!(forced.status.code(), Some(0), "{}", describe(&forced));
    assert_each_photo_once(&sandbox.state(), &now);

    // results.csv follows the new manifest: every row once, each with its own document.
    let check = |what: &str| {
        let results = read_csv(&run_dir.join("results.csv"));
        let got: Vec<(String, String, String)> = results
            .iter()
            .map(|r| (r["row"].clone(), r["nomorAju"].clone(), r["status"].clone()))
            .collect();
        let expected: Vec<(String, String, String)> = now
            .iter()
            .enumerate()
            .map(|(i, r)| ((i + 2).to_string(), r.nomor_aju.clone(), "MATCH".into()))
            .collect();
        assert_eq!(got, expected, "{what}");
    };
    check("after the resume");
    // The journal was started over under the new numbers; the old one is kept beside it.
    let kept: Vec<String> = std::fs::read_dir(&run_dir)
        .expect("run folder")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("journal-before-"))
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    let summary = summary(&run_dir);
    assert!(
        summary["note"]
            .as_str()
            .is_some_and(|n| n.contains("found again by nomorAju") && n.contains(&kept[0])),
        "{summary:#}"
    );

    // `report` rebuilds the same from the new journal.
    let report = kirim_xray()
        .arg("report")
        .arg(&run_dir)
        .output()
        .expect("report");
    assert_eq!(report.status.code(), Some(0), "{}", describe(&report));
    check("after report");
}
