//! Integration tests: control characters from manifest cells and file names never reach the
//! terminal or an output file raw. They are shown as visible escapes (`\u{1b}`, `\r`, `\n`)
//! instead, so that a cell can neither drive the terminal nor forge a line.

use std::process::Output;

use crate::run::{RowSpec, describe, latest, run_against, stored, write_manifest};
use crate::util::{Sandbox, TestDir, kirim_xray, read_csv};

/// ESC, CR, NUL and BEL: the bytes that clear a screen, retitle a window or rewrite a line.
const RAW: [u8; 4] = [0x1b, b'\r', 0, 0x07];

fn assert_no_raw_control(what: &str, bytes: &[u8]) {
    let found: Vec<u8> = bytes.iter().copied().filter(|b| RAW.contains(b)).collect();
    assert!(
        found.is_empty(),
        "{what} holds raw control bytes {found:?}:\n{}",
        String::from_utf8_lossy(bytes)
    );
}

fn assert_output_clean(what: &str, out: &Output) {
    assert_no_raw_control(&format!("{what} stdout"), &out.stdout);
    assert_no_raw_control(&format!("{what} stderr"), &out.stderr);
}

/// A manifest with one good row and three whose nomorAju, folder and photo name carry ESC, CR
/// and LF, each refused with a message that repeats the value.
fn hostile_manifest(dir: &TestDir) -> (RowSpec, std::path::PathBuf) {
    let good = RowSpec::valid(1, 1);
    write_manifest(dir, std::slice::from_ref(&good));
    dir.write("images/aju/x.png", crate::util::png(3));
    // A text file named like an image: refused, and its name is repeated in the message.
    dir.write(
        "images/fake/scan\u{1b}[2J\r\nERROR forged.jpg",
        "not an image",
    );
    let csv = format!(
        "nomorAju,nomorBlAwb,tanggalBlAwb,kodeKantor,folder\n\
         {},{},{},{},{}\n\
         \"AJU\u{1b}[2J\u{1b}]0;owned\u{7}X\",BL2,2026-11-20,009000,images/aju\n\
         AJUOK3,BL3,2026-11-20,009000,\"images/gone\u{1b}[31m\r\nERROR forged\"\n\
         AJUOK4,BL4,2026-11-20,009000,images/fake\n",
        good.nomor_aju, good.bl, good.date, good.kantor, good.folder
    );
    (good, dir.write("manifest.csv", csv))
}

#[test]
fn control_characters_from_cells_and_file_names_are_escaped_in_every_output() {
    let dir = TestDir::new();
    let sandbox = Sandbox::start(&[]);
    let (good, manifest) = hostile_manifest(&dir);

    let validate = kirim_xray()
        .current_dir(dir.path())
        .arg("validate")
        .arg(&manifest)
        .output()
        .expect("validate");
    assert_eq!(validate.status.code(), Some(1), "{}", describe(&validate));
    assert_output_clean("validate", &validate);
    let table = String::from_utf8_lossy(&validate.stdout);
    assert!(
        table.contains("AJU\\u{1b}[2J\\u{1b}]0;owned\\u{7}X"),
        "{table}"
    );
    assert!(
        table.contains("scan\\u{1b}[2J\\r\\nERROR forged.jpg"),
        "{table}"
    );

    let run = run_against(&sandbox, &dir, &manifest, &[]);
    assert_eq!(run.status.code(), Some(1), "{}", describe(&run));
    assert_output_clean("run", &run);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("images/gone\\u{1b}[31m\\r\\nERROR forged"),
        "the folder is named, escaped: {stderr}"
    );
    assert!(
        !stderr.lines().any(|l| l.starts_with("ERROR forged")),
        "no forged line: {stderr}"
    );

    // Only the good row reached the sandbox.
    let state = sandbox.state();
    assert_eq!(
        stored(&state).keys().collect::<Vec<_>>(),
        [&good.nomor_aju],
        "{state:#}"
    );

    let run_dir = latest(&dir);
    for name in [
        "results.csv",
        "images.csv",
        "summary.txt",
        "summary.json",
        "journal.jsonl",
        "report.html",
        "run.log",
    ] {
        let bytes = std::fs::read(run_dir.join(name)).expect(name);
        assert_no_raw_control(name, &bytes);
    }
    let results = read_csv(&run_dir.join("results.csv"));
    let statuses: Vec<&str> = results.iter().map(|r| r["status"].as_str()).collect();
    assert_eq!(statuses, ["MATCH", "INVALID", "INVALID", "INVALID"]);
    assert_eq!(
        results[1]["nomorAju"],
        "AJU\\u{1b}[2J\\u{1b}]0;owned\\u{7}X"
    );
    assert_eq!(
        results[2]["folder"],
        "images/gone\\u{1b}[31m\\r\\nERROR forged"
    );
    assert!(
        results[3]["message"].contains("scan\\u{1b}[2J\\r\\nERROR forged.jpg"),
        "{:?}",
        results[3]
    );
    // The journal keeps the exact value, JSON-encoded.
    let journal = std::fs::read_to_string(run_dir.join("journal.jsonl")).expect("journal");
    assert!(
        journal.contains(r"AJU\u001b[2J\u001b]0;owned\u0007X"),
        "{journal}"
    );

    // `report` rebuilds the same outputs, as clean.
    let report = kirim_xray()
        .arg("report")
        .arg(&run_dir)
        .output()
        .expect("report");
    assert_eq!(report.status.code(), Some(0), "{}", describe(&report));
    assert_output_clean("report", &report);
    for name in ["results.csv", "summary.txt"] {
        assert_no_raw_control(name, &std::fs::read(run_dir.join(name)).expect(name));
    }
}
