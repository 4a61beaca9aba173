//! Integration tests: the validation warnings of a valid row (a kodeKantor padded back to six
//! digits, a BL/AWB typed as a number) travel with the row into every output of the run and into
//! run.log, and the row is still sent and verified as usual.

use serde_json::Value;

use crate::run::{RowSpec, describe, latest, run_against, write_manifest};
use crate::util::{Sandbox, TestDir, read_csv};

/// A workbook of `rows`, with kodeKantor and nomorBlAwb cells typed as numbers where `numbers`
/// gives them.
fn workbook(dir: &TestDir, rows: &[RowSpec], numbers: &[(Option<f64>, Option<f64>)]) {
    use rust_xlsxwriter::Workbook;
    let mut workbook = Workbook::new();
    let ws = workbook.add_worksheet();
    crate::run::write_header(ws);
    for (i, (row, (kantor, bl))) in rows.iter().zip(numbers).enumerate() {
        let r = i as u32 + 1;
        ws.write_string(r, 0, &row.nomor_aju).expect("aju");
        match bl {
            Some(n) => ws.write_number(r, 1, *n).expect("bl"),
            None => ws.write_string(r, 1, &row.bl).expect("bl"),
        };
        ws.write_string(r, 2, &row.date).expect("date");
        match kantor {
            Some(n) => ws.write_number(r, 3, *n).expect("kantor"),
            None => ws.write_string(r, 3, &row.kantor).expect("kantor"),
        };
        ws.write_string(r, 4, &row.folder).expect("folder");
    }
    workbook
        .save(dir.join("manifest.xlsx"))
        .expect("save workbook");
}

#[test]
fn warnings_on_valid_rows_reach_results_journal_report_and_run_log() {
    let dir = TestDir::new();
    let mut rows: Vec<RowSpec> = (1..=3).map(|i| RowSpec::valid(i, 2)).collect();
    rows[0].kantor = "040300".into();
    rows[0].bl = "12345678901".into();
    rows[2].kantor = "009000".into();
    write_manifest(&dir, &rows); // lays down the photo folders
    // Row 2: kodeKantor 40300 (padded) and BL/AWB 12345678901, both numbers; row 3: clean;
    // row 4: kodeKantor 9000 (padded).
    workbook(
        &dir,
        &rows,
        &[
            (Some(40300.0), Some(12_345_678_901.0)),
            (None, None),
            (Some(9000.0), None),
        ],
    );
    let sandbox = Sandbox::start(&[]);
    let out = run_against(&sandbox, &dir, &dir.join("manifest.xlsx"), &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "warnings do not stop a row\n{}",
        describe(&out)
    );

    // What customs holds: the padded codes and the BL/AWB as digits.
    let state = sandbox.state();
    let records = state["records"].as_array().expect("records");
    let held = |aju: &str, field: &str| -> String {
        records
            .iter()
            .find(|r| r["nomorAju"] == aju)
            .unwrap_or_else(|| panic!("no record for {aju}"))[field]
            .as_str()
            .expect("a text field")
            .to_string()
    };
    assert_eq!(held(&rows[0].nomor_aju, "kodeKantor"), "040300");
    assert_eq!(held(&rows[0].nomor_aju, "nomorBlAwb"), "12345678901");
    assert_eq!(held(&rows[2].nomor_aju, "kodeKantor"), "009000");

    let padded = "column kodeKantor: \"40300\" was typed as a number and lost its leading zeros; \
                  read as \"040300\"";
    let bl = "column nomorBlAwb: \"12345678901\" was typed as a number; read as \"12345678901\"";
    let padded_4 = "column kodeKantor: \"9000\" was typed as a number and lost its leading zeros";
    let run_dir = latest(&dir);

    // results.csv: the rows are MATCH, and the message carries the warnings.
    let results = read_csv(&run_dir.join("results.csv"));
    let statuses: Vec<&str> = results.iter().map(|r| r["status"].as_str()).collect();
    assert_eq!(statuses, ["MATCH", "MATCH", "MATCH"]);
    let message = &results[0]["message"];
    assert!(message.contains(&format!("warning: {padded}")), "{message}");
    assert!(message.contains(&format!("warning: {bl}")), "{message}");
    assert!(!results[1]["message"].contains("warning"), "row 3 is clean");
    assert!(
        results[2]["message"].contains(padded_4),
        "{}",
        results[2]["message"]
    );

    // journal.jsonl: the same message in the row's line.
    let journal = std::fs::read_to_string(run_dir.join("journal.jsonl")).expect("journal");
    let lines: Vec<Value> = journal
        .lines()
        .map(|l| serde_json::from_str(l).expect("a journal line"))
        .collect();
    let line = |row: u64| {
        lines
            .iter()
            .find(|l| l["row"] == row)
            .unwrap_or_else(|| panic!("row {row} journaled"))
    };
    assert_eq!(line(2)["status"], "MATCH");
    let journaled = line(2)["message"].as_str().expect("message");
    assert!(
        journaled.contains(padded) && journaled.contains(bl),
        "{journaled}"
    );
    assert!(
        line(4)["message"]
            .as_str()
            .expect("message")
            .contains(padded_4)
    );

    // report.html: the row's message is in the rows the search finds (a MATCH row is not
    // among those needing attention). That block writes the row's own nomorBlAwb as `%b` in
    // its texts (`report/html/data.rs`), and the page's script puts it back.
    let html = std::fs::read_to_string(run_dir.join("report.html")).expect("report.html");
    let bl_in_block = bl.replace("12345678901", "%b");
    for text in [padded, bl_in_block.as_str(), padded_4] {
        assert!(html.contains(text), "report.html lacks {text}");
    }

    // run.log: one line per warning, naming the manifest, the row and the column.
    let log = std::fs::read_to_string(run_dir.join("run.log")).expect("run.log");
    for (row, text) in [(2, padded), (2, bl), (4, padded_4)] {
        assert!(
            log.lines()
                .any(|l| l.contains("manifest.xlsx") && l.contains(&format!("row {row}, {text}"))),
            "row {row} in run.log:\n{log}"
        );
    }
}
