//! Integration tests: the auditor's evidence in each run folder — results.xlsx, the digests in
//! summary.json and run.sha256 — and `kirim-xray verify`, locally and against the sandbox.

use std::path::Path;
use std::process::Output;

use calamine::{Data, Reader, Xlsx, open_workbook};
use serde_json::Value;

use crate::run::{RowSpec, demo_command, describe, latest, run_against, write_manifest};
use crate::util::{Sandbox, TestDir, http, kirim_xray, sha256_hex};

fn verify(dir: &TestDir, run_dir: &Path) -> Output {
    kirim_xray()
        .current_dir(dir.path())
        .arg("verify")
        .arg(run_dir)
        .output()
        .expect("run kirim-xray verify")
}

fn verify_server(sandbox_url: &str, dir: &TestDir, run_dir: &Path) -> Output {
    kirim_xray()
        .current_dir(dir.path())
        .arg("verify")
        .arg(run_dir)
        .arg("--server")
        .args(["--api-url", &format!("{sandbox_url}/openapi/cnpibk")])
        .args(["--auth-url", sandbox_url])
        .args(["--rate", "200", "--burst", "10"])
        .env("KIRIM_XRAY_USERNAME", "demo")
        .env("KIRIM_XRAY_PASSWORD", "demo")
        .output()
        .expect("run kirim-xray verify --server")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Flip the lowest bit of one byte near the end of `path`; returns the bytes before.
fn flip_one_byte(path: &Path) -> Vec<u8> {
    let before = std::fs::read(path).unwrap();
    let mut bytes = before.clone();
    let at = bytes.len() - 2;
    bytes[at] ^= 1;
    std::fs::write(path, bytes).unwrap();
    before
}

fn sheet(path: &Path, name: &str) -> Vec<Vec<Data>> {
    let mut book: Xlsx<_> = open_workbook(path).expect("results.xlsx opens with calamine");
    let range = book.worksheet_range(name).expect("sheet");
    range.rows().map(<[Data]>::to_vec).collect()
}

fn column(rows: &[Vec<Data>], name: &str) -> usize {
    rows[0]
        .iter()
        .position(|h| h == &Data::String(name.into()))
        .unwrap_or_else(|| panic!("no column {name}"))
}

#[test]
fn a_run_folder_holds_results_xlsx_and_its_seal_and_verify_names_what_changed() {
    let dir = TestDir::new();
    let sandbox = Sandbox::start(&[]);
    let rows = vec![RowSpec::valid(1, 2), RowSpec::valid(2, 1)];
    let manifest = write_manifest(&dir, &rows);
    let out = run_against(&sandbox, &dir, &manifest, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let run_dir = latest(&dir);

    // results.xlsx: 44-character nomorAju and 009000 as text, the photos' sha256.
    let xlsx = run_dir.join("results.xlsx");
    let results = sheet(&xlsx, "results");
    assert_eq!(results.len(), 3, "header and two rows");
    let aju = column(&results, "nomorAju");
    let kantor = column(&results, "kodeKantor");
    for (row, spec) in results[1..].iter().zip(&rows) {
        assert_eq!(spec.nomor_aju.len(), 44);
        assert_eq!(row[aju], Data::String(spec.nomor_aju.clone()));
        assert_eq!(row[kantor], Data::String("009000".into()));
        assert_eq!(
            row[column(&results, "status")],
            Data::String("MATCH".into())
        );
        assert!(matches!(
            row[column(&results, "tanggalBlAwb")],
            Data::DateTime(_)
        ));
    }
    let photos = sheet(&xlsx, "photos");
    let (file, sha) = (column(&photos, "file"), column(&photos, "sha256"));
    let mut held = 0;
    for spec in &rows {
        for (name, bytes) in &spec.photos {
            let line = photos
                .iter()
                .find(|r| {
                    r[file] == Data::String(name.clone())
                        && r[1] == Data::String(spec.nomor_aju.clone())
                })
                .unwrap_or_else(|| panic!("{name} in the photos sheet"));
            assert_eq!(line[sha], Data::String(sha256_hex(bytes)));
            held += 1;
        }
    }
    assert_eq!(photos.len(), held + 1);

    // summary.json records the digests of results.csv, images.csv and journal.jsonl.
    let summary: Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("summary.json")).unwrap()).unwrap();
    for name in ["results.csv", "images.csv", "journal.jsonl"] {
        let bytes = std::fs::read(run_dir.join(name)).unwrap();
        assert_eq!(summary["sha256"][name], sha256_hex(&bytes), "{name}");
    }
    // run.sha256 lists every output, summary.json included, for `sha256sum -c`.
    let seal = std::fs::read_to_string(run_dir.join("run.sha256")).unwrap();
    for name in ["results.csv", "summary.json", "results.xlsx", "report.html"] {
        let bytes = std::fs::read(run_dir.join(name)).unwrap();
        assert!(
            seal.contains(&format!("{}  {name}\n", sha256_hex(&bytes))),
            "{seal}"
        );
    }
    if std::process::Command::new("sha256sum")
        .arg("--version")
        .output()
        .is_ok()
    {
        let check = std::process::Command::new("sha256sum")
            .args(["-c", "run.sha256"])
            .current_dir(&run_dir)
            .output()
            .unwrap();
        assert!(check.status.success(), "{}", describe(&check));
    }

    // Untouched: 0, locally and against the server.
    let out = verify(&dir, &run_dir);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(
        stdout(&out).contains("as the run left it"),
        "{}",
        describe(&out)
    );
    let out = verify_server(&sandbox.url, &dir, &run_dir);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(
        stdout(&out).contains("2 documents asked"),
        "{}",
        describe(&out)
    );

    // One byte of results.csv: 1, naming the file.
    let results_csv = run_dir.join("results.csv");
    let before = flip_one_byte(&results_csv);
    let out = verify(&dir, &run_dir);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        stdout(&out).contains("DIFFERS     file results.csv:"),
        "{}",
        describe(&out)
    );
    std::fs::write(&results_csv, before).unwrap();
    assert_eq!(verify(&dir, &run_dir).status.code(), Some(0));

    // One byte of a sent photo: 1, naming the photo.
    let photo = dir.join(&format!("{}/{}", rows[0].folder, rows[0].photos[1].0));
    flip_one_byte(&photo);
    let out = verify(&dir, &run_dir);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let named = format!("{}/{}", rows[0].folder, rows[0].photos[1].0);
    assert!(
        stdout(&out).contains(&format!(
            "DIFFERS     photo row 2 {} {named}: sha256 is now",
            rows[0].nomor_aju
        )),
        "{}",
        describe(&out)
    );

    // Customs forgot everything: --server says so, per document.
    http()
        .post(format!("{}/__sandbox/reset", sandbox.url))
        .send()
        .and_then(|r| r.error_for_status())
        .expect("reset the sandbox");
    std::fs::write(&photo, &rows[0].photos[1].1).unwrap();
    let out = verify_server(&sandbox.url, &dir, &run_dir);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    for spec in &rows {
        assert!(
            stdout(&out).contains(&format!("{}: customs holds no record now", spec.nomor_aju)),
            "{}",
            describe(&out)
        );
    }
    let state = sandbox.state();
    assert!(
        state["records"].as_array().unwrap().is_empty(),
        "verify sends nothing"
    );

    // The gateway gone: 3.
    let url = sandbox.url.clone();
    sandbox.stop();
    let out = verify_server(&url, &dir, &run_dir);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));

    // Not a run folder: 2.
    let out = verify(&dir, dir.path());
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
}

#[test]
fn a_reconcile_folder_is_sealed_and_has_its_workbook_too() {
    let dir = TestDir::new();
    let sandbox = Sandbox::start(&[]);
    let rows = vec![RowSpec::valid(5, 1)];
    let manifest = write_manifest(&dir, &rows);
    let out = run_against(&sandbox, &dir, &manifest, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let out = demo_command(&sandbox, &dir, "reconcile", &manifest)
        .args(["--rate", "200"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let run_dir = latest(&dir);
    let summary: Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["command"], "reconcile");
    let results = sheet(&run_dir.join("results.xlsx"), "results");
    assert_eq!(
        results[1][column(&results, "nomorAju")],
        Data::String(rows[0].nomor_aju.clone())
    );
    let out = verify(&dir, &run_dir);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(
        stdout(&out).contains("checked     7 files, 1 photos"),
        "{}",
        describe(&out)
    );
}
