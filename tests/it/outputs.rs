//! Integration tests: the outputs of a run are written from its journal on disk, in manifest
//! order, whatever order its rows finished in, and `report` rebuilds the same files from the
//! journal alone.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::run::{RowSpec, assert_each_photo_once, demo_command, describe, latest, write_manifest};
use crate::util::{Sandbox, TestDir, kirim_xray, read_csv};

fn summary(run_dir: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(run_dir.join("summary.json")).expect("summary.json");
    serde_json::from_str(&text).expect("summary.json is JSON")
}

#[test]
fn the_outputs_come_from_the_journal_in_manifest_order_and_report_rebuilds_them_exactly() {
    let dir = TestDir::new();
    let sandbox = Sandbox::start(&[]);
    let mut rows: Vec<RowSpec> = (1..=240).map(|i| RowSpec::valid(i, 2)).collect();
    rows[100].kantor = "12".into(); // row 102: INVALID
    let manifest = write_manifest(&dir, &rows);
    let out = demo_command(&sandbox, &dir, "run", &manifest)
        .args(["--rate", "2000", "--burst", "50", "--concurrency", "8"])
        .output()
        .expect("run kirim-xray");
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let run_dir = latest(&dir);

    // Eight workers finish rows in their own order; the journal has each row once.
    let journal = std::fs::read_to_string(run_dir.join("journal.jsonl")).expect("journal");
    let journaled: Vec<u64> = journal
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).expect("a line")["row"]
                .as_u64()
                .expect("row")
        })
        .collect();
    let unique: BTreeSet<u64> = journaled.iter().copied().collect();
    assert_eq!(journaled.len(), 240);
    assert_eq!(unique, (2..=241).collect::<BTreeSet<u64>>());

    // results.csv: every row, in manifest order, as the journal says.
    let results = read_csv(&run_dir.join("results.csv"));
    let numbers: Vec<usize> = results.iter().map(|r| r["row"].parse().unwrap()).collect();
    assert_eq!(numbers, (2..=241).collect::<Vec<_>>());
    for r in &results {
        let expected = if r["row"] == "102" {
            "INVALID"
        } else {
            "MATCH"
        };
        assert_eq!(r["status"], expected, "row {}", r["row"]);
    }
    // images.csv: the photos of every valid row, in manifest order.
    let images = read_csv(&run_dir.join("images.csv"));
    assert_eq!(images.len(), 239 * 2);
    let image_rows: Vec<usize> = images.iter().map(|r| r["row"].parse().unwrap()).collect();
    assert!(
        image_rows.windows(2).all(|w| w[0] <= w[1]),
        "manifest order"
    );
    assert!(!image_rows.contains(&102));
    assert!(images.iter().all(|i| i["on_server"] == "true"));
    let s = summary(&run_dir);
    assert_eq!(s["counts"]["MATCH"], 239);
    assert_eq!(s["counts"]["INVALID"], 1);
    assert_eq!(s["photos"]["on_server"], 478);
    let valid: Vec<RowSpec> = rows.iter().filter(|r| r.kantor != "12").cloned().collect();
    assert_each_photo_once(&sandbox.state(), &valid);

    // `report` rebuilds the same tables from the journal alone.
    let before: Vec<Vec<u8>> = ["results.csv", "images.csv"]
        .iter()
        .map(|f| std::fs::read(run_dir.join(f)).expect("output"))
        .collect();
    let rebuilt = kirim_xray()
        .arg("report")
        .arg(&run_dir)
        .output()
        .expect("report");
    assert_eq!(rebuilt.status.code(), Some(0), "{}", describe(&rebuilt));
    for (name, bytes) in ["results.csv", "images.csv"].iter().zip(&before) {
        assert_eq!(
            &std::fs::read(run_dir.join(name)).expect("output"),
            bytes,
            "{name} rebuilt exactly"
        );
    }
    assert_eq!(summary(&run_dir)["counts"], s["counts"]);
}
