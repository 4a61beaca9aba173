//! Integration tests: manifest reading and the `validate` command (exit codes, table and JSON,
//! spreadsheets whose columns were typed as numbers, CSV and XLSX giving the same rows).

use std::path::{Path, PathBuf};
use std::process::Output;

use rust_xlsxwriter::{ExcelDateTime, Format, Workbook, Worksheet};
use serde_json::Value;

use crate::util::{TestDir, jpeg, kirim_xray, png};

const HEADER: [&str; 5] = [
    "nomorAju",
    "nomorBlAwb",
    "tanggalBlAwb",
    "kodeKantor",
    "folder",
];

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn validate(args: &[&str]) -> Output {
    kirim_xray()
        .arg("validate")
        .args(args)
        .output()
        .expect("run kirim-xray validate")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn validate_json(args: &[&str]) -> (i32, Value) {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    let out = validate(&all);
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "JSON from validate: {e}\n{}\n{}",
            stdout(&out),
            stderr(&out)
        )
    });
    (out.status.code().unwrap_or(-1), json)
}

/// Every row as (row, status, nomorAju, nomorBlAwb, tanggalBlAwb, kodeKantor, folder, photos).
fn row_summary(json: &Value) -> Vec<String> {
    json["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            format!(
                "{} {} {} {} {} {} {} {}",
                r["row"],
                r["status"].as_str().unwrap(),
                r["nomorAju"].as_str().unwrap(),
                r["nomorBlAwb"].as_str().unwrap(),
                r["tanggalBlAwb"].as_str().unwrap(),
                r["kodeKantor"].as_str().unwrap(),
                r["folder"].as_str().unwrap(),
                r["photos"]
            )
        })
        .collect()
}

fn write_header(ws: &mut Worksheet) {
    for (i, name) in HEADER.iter().enumerate() {
        ws.write_string(0, i as u16, *name).unwrap();
    }
}

/// A folder with `n` photos under the test dir.
fn photos(dir: &TestDir, folder: &str, n: u8) {
    for i in 0..n {
        if i % 2 == 0 {
            dir.write(&format!("{folder}/{i:02}.jpg"), jpeg(i, 300));
        } else {
            dir.write(&format!("{folder}/{i:02}.png"), png(i));
        }
    }
}

#[test]
fn samples_csv_reports_its_three_broken_rows_and_exits_1() {
    let out = validate(&[repo("samples/manifest.csv").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with("manifest.csv: 4 problems\nROW  SEVERITY  COLUMN"),
        "{text}"
    );
    for expected in [
        "6    error     tanggalBlAwb  2026-02-30",
        "is not a real calendar date",
        "8    error     folder        images/CNTESTXRAY7  does not exist",
        "9    error     photo         CNTESTXRAY8-02.jpg  is named like an image but its content is not one",
        "10   warning   folder        images/CNTESTXRAY9  also holds 1 file that is not a photo: notes.txt",
        "manifest.csv: 12 rows, 9 valid, 3 invalid; 3 errors, 1 warning; 28 photos",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
}

#[test]
fn samples_xlsx_gives_the_same_rows_as_samples_csv_with_warnings() {
    let (csv_code, csv) = validate_json(&[repo("samples/manifest.csv").to_str().unwrap()]);
    let (xlsx_code, xlsx) = validate_json(&[repo("samples/manifest.xlsx").to_str().unwrap()]);
    assert_eq!((csv_code, xlsx_code), (1, 1));
    assert_eq!(row_summary(&csv), row_summary(&xlsx));
    assert_eq!(csv["totals"]["valid"], 9);
    // The workbook types kodeKantor as numbers: every code lost its leading zero and got it back.
    assert_eq!(xlsx["totals"]["warnings"], 13);
    let row2 = &xlsx["rows"][0];
    assert_eq!(row2["kodeKantor"], "040300");
    assert_eq!(row2["problems"][0]["severity"], "warning");
    assert_eq!(row2["problems"][0]["column"], "kodeKantor");
    assert_eq!(row2["problems"][0]["value"], "40300");
}

/// The same, in-process: the validated rows (shipments with their photos' digests) are identical.
#[test]
fn samples_csv_and_xlsx_validate_to_identical_shipments() {
    use kirim_xray::{manifest, validate};
    let options = validate::ValidateOptions::new(&repo("samples/manifest.csv"), None, None);
    let from_csv = validate::validate(
        &manifest::read(&repo("samples/manifest.csv"), None).unwrap(),
        &options,
    );
    let from_xlsx = validate::validate(
        &manifest::read(&repo("samples/manifest.xlsx"), None).unwrap(),
        &options,
    );
    assert_eq!(from_csv.len(), 12);
    for (a, b) in from_csv.iter().zip(&from_xlsx) {
        assert_eq!(a.row, b.row);
        assert_eq!(a.fields, b.fields);
        assert_eq!(a.shipment, b.shipment);
    }
    let photos: usize = from_csv
        .iter()
        .filter_map(|r| r.shipment.as_ref())
        .map(|s| s.images.len())
        .max()
        .unwrap();
    assert_eq!(photos, 12, "one sample row needs two requests of 10");
}

#[test]
fn samples_xlsx_types_dates_as_dates_and_codes_as_numbers() {
    use kirim_xray::manifest::{self, Cell};
    let rows = manifest::read(&repo("samples/manifest.xlsx"), None)
        .unwrap()
        .rows()
        .unwrap();
    assert!(matches!(rows[0].cells[2], Cell::Date(_)), "{:?}", rows[0]);
    assert!(matches!(rows[0].cells[3], Cell::Number(_)), "{:?}", rows[0]);
    // The impossible date cannot be a date cell: it stays text, as a spreadsheet keeps it.
    assert_eq!(rows[4].cells[2], Cell::Text("2026-02-30".into()));
}

#[test]
fn documents_csv_lacks_exactly_one_valid_sample_row() {
    let (_, json) = validate_json(&[repo("samples/manifest.csv").to_str().unwrap()]);
    let documents = crate::util::read_csv(&repo("samples/documents.csv"));
    let known: Vec<&str> = documents.iter().map(|d| d["nomorBlAwb"].as_str()).collect();
    let unknown: Vec<&str> = json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "valid")
        .map(|r| r["nomorBlAwb"].as_str().unwrap())
        .filter(|bl| !known.contains(bl))
        .collect();
    assert_eq!(unknown, vec!["CNTESTXRAY6"]);
    assert_eq!(documents.len(), 8);
}

#[test]
fn spreadsheets_saved_by_libreoffice_match_the_csv() {
    let (_, csv) = validate_json(&[repo("samples/manifest.csv").to_str().unwrap()]);
    let root = repo("samples");
    for fixture in ["libreoffice.xlsx", "libreoffice.ods", "libreoffice.xls"] {
        let path = repo(&format!("tests/fixtures/manifest/{fixture}"));
        let (code, json) = validate_json(&[
            path.to_str().unwrap(),
            "--images-root",
            root.to_str().unwrap(),
        ]);
        assert_eq!(code, 1, "{fixture}");
        assert_eq!(row_summary(&json), row_summary(&csv), "{fixture}");
    }
}

#[test]
fn xlsm_and_extensionless_workbooks_are_read_as_spreadsheets() {
    let dir = TestDir::new();
    let bytes = std::fs::read(repo("samples/manifest.xlsx")).unwrap();
    let root = repo("samples");
    let (_, expected) = validate_json(&[repo("samples/manifest.xlsx").to_str().unwrap()]);
    for name in ["manifest.xlsm", "manifest"] {
        let path = dir.write(name, &bytes);
        let (code, json) = validate_json(&[
            path.to_str().unwrap(),
            "--images-root",
            root.to_str().unwrap(),
        ]);
        assert_eq!(code, 1, "{name}");
        assert_eq!(json["manifest"]["kind"], "spreadsheet", "{name}");
        assert_eq!(row_summary(&json), row_summary(&expected), "{name}");
    }
}

#[test]
fn a_nomor_aju_column_typed_as_numbers_is_refused_row_by_row() {
    let dir = TestDir::new();
    photos(&dir, "a", 1);
    let mut workbook = Workbook::new();
    let ws = workbook.add_worksheet();
    write_header(ws);
    for row in 1..=3u32 {
        // What Excel keeps of a 44-digit nomorAju typed into a General cell.
        ws.write_number(row, 0, 1.234_567_890_123_45e43 + row as f64)
            .unwrap();
        ws.write_string(row, 1, format!("CN{row}")).unwrap();
        ws.write_string(row, 2, "2026-11-17").unwrap();
        ws.write_string(row, 3, "040300").unwrap();
        ws.write_string(row, 4, "a").unwrap();
    }
    workbook.save(dir.join("m.xlsx")).unwrap();

    let out = validate(&[dir.join("m.xlsx").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    for row in 2..=4 {
        assert!(
            text.contains(&format!("{row}    error     nomorAju")),
            "row {row} in\n{text}"
        );
    }
    assert!(text.contains("format the column as Text"), "{text}");
    assert!(text.contains("3 rows, 0 valid, 3 invalid"), "{text}");

    // The real-program version: LibreOffice typed an all-digit nomorAju as a number.
    let fixture = repo("tests/fixtures/manifest/libreoffice-numeric-aju.xlsx");
    let (code, json) = validate_json(&[
        fixture.to_str().unwrap(),
        "--images-root",
        repo("samples").to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    for row in json["rows"].as_array().unwrap() {
        assert_eq!(row["status"], "invalid");
        assert_eq!(row["problems"][0]["column"], "nomorAju");
        assert_eq!(row["problems"][0]["severity"], "error");
        // A numeric BL/AWB that is an exact integer is accepted, with a warning.
        assert_eq!(row["problems"][1]["column"], "nomorBlAwb");
        assert_eq!(row["problems"][1]["severity"], "warning");
    }
}

#[test]
fn a_kode_kantor_column_typed_as_numbers_is_valid_with_warnings_and_six_digits() {
    let dir = TestDir::new();
    photos(&dir, "a", 2);
    let mut workbook = Workbook::new();
    let ws = workbook.add_worksheet();
    write_header(ws);
    let date = Format::new().set_num_format("dd/mm/yyyy");
    for (row, code) in [(1u32, 9000.0), (2, 40300.0)] {
        ws.write_string(row, 0, format!("AJU{row}")).unwrap();
        ws.write_string(row, 1, format!("CN{row}")).unwrap();
        ws.write_datetime_with_format(
            row,
            2,
            ExcelDateTime::from_ymd(2026, 11, 17).unwrap(),
            &date,
        )
        .unwrap();
        ws.write_number(row, 3, code).unwrap();
        ws.write_string(row, 4, "a").unwrap();
    }
    workbook.save(dir.join("m.xlsx")).unwrap();

    let (code, json) = validate_json(&[dir.join("m.xlsx").to_str().unwrap()]);
    assert_eq!(code, 0, "warnings alone keep exit 0");
    assert_eq!(json["rows"][0]["kodeKantor"], "009000");
    assert_eq!(json["rows"][1]["kodeKantor"], "040300");
    assert_eq!(json["rows"][0]["tanggalBlAwb"], "2026-11-17");
    assert_eq!(json["totals"]["warnings"], 2);
    assert_eq!(json["totals"]["photos"], 4);
    let out = validate(&[dir.join("m.xlsx").to_str().unwrap()]);
    assert!(
        stdout(&out).contains("read as \"009000\""),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_date_typed_as_text_in_another_form_shows_the_expected_form() {
    let dir = TestDir::new();
    photos(&dir, "a", 1);
    dir.write(
        "m.csv",
        "nomorAju;nomorBlAwb;tanggalBlAwb;kodeKantor;folder\nAJU1;CN1;17/11/2026;040300;a\n",
    );
    let out = validate(&[dir.join("m.csv").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out)
            .contains("17/11/2026  is not a date in the form yyyy-MM-dd (for example 2026-01-31)"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn an_all_valid_csv_with_bom_semicolons_and_crlf_exits_0() {
    let dir = TestDir::new();
    photos(&dir, "img/a", 3);
    photos(&dir, "img/b", 1);
    dir.write(
        "m.csv",
        "\u{feff}No_Aju;AWB;Tgl_AWB;Kantor;Folder Foto;Catatan\r\n\
         AJU1;CN1;2026-11-17;040300;img/a;fragile\r\n\
         ;;;;;\r\n\
         AJU2;CN2;2026-11-18;009000;img/b;\r\n",
    );
    let out = validate(&[dir.join("m.csv").to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let bytes = 900 + png(1).len();
    assert_eq!(
        stdout(&out),
        format!(
            "m.csv: 2 rows, 2 valid, 0 invalid; 0 errors, 0 warnings; 4 photos ({bytes} B) in the valid rows\n"
        )
    );
    let (_, json) = validate_json(&[dir.join("m.csv").to_str().unwrap()]);
    assert_eq!(
        json["rows"][1]["row"], 4,
        "the blank line 3 keeps its number"
    );
    assert_eq!(json["manifest"]["kind"], "csv");
    assert_eq!(json["manifest"]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(json["rows"][0]["bytes"], 600 + png(1).len() as u64);
}

#[test]
fn unreadable_manifests_exit_2_with_one_line_naming_the_file() {
    let dir = TestDir::new();
    let missing = dir.join("nope.csv");
    let mut latin1 =
        b"nomorAju,nomorBlAwb,tanggalBlAwb,kodeKantor,folder\nA,B,2026-11-17,009000,a\n".to_vec();
    latin1.extend_from_slice(b"C,Caf\xe9,2026-11-17,009000,a\n");
    let not_utf8 = dir.write("latin1.csv", latin1);
    let no_column = dir.write("short.csv", "aju,awb,tanggal\nA,B,2026-11-17\n");
    let garbage = dir.write("broken.xlsx", "not a workbook");
    let cases = [
        (missing, "nope.csv: cannot be read"),
        (
            not_utf8,
            "latin1.csv: is not UTF-8 text (the first bad byte is on line 3)",
        ),
        (no_column, "columns found: \"aju\", \"awb\", \"tanggal\""),
        (
            garbage,
            "broken.xlsx: is named like an Excel workbook (.xlsx) but is text (CSV?)",
        ),
    ];
    for (path, expected) in cases {
        let out = validate(&[path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{}", path.display());
        let err = stderr(&out);
        assert!(err.contains(expected), "{err}");
        assert!(err.contains(path.to_str().unwrap()), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(stdout(&out).is_empty());
    }
}

#[test]
fn sheet_option_and_images_root_and_max_image_bytes() {
    let dir = TestDir::new();
    photos(&dir, "photos/a", 2);
    let mut workbook = Workbook::new();
    workbook.add_worksheet().set_name("Catatan").unwrap();
    let ws = workbook.add_worksheet().set_name("Manifest").unwrap();
    // Two blank rows and a blank column before the table: rows keep the sheet's numbers.
    for (i, name) in HEADER.iter().enumerate() {
        ws.write_string(2, 1 + i as u16, *name).unwrap();
    }
    for (col, value) in ["AJU1", "CN1", "2026-11-17", "040300", "a"]
        .iter()
        .enumerate()
    {
        ws.write_string(3, 1 + col as u16, *value).unwrap();
    }
    workbook.save(dir.join("book.xlsx")).unwrap();
    let book = dir.join("book.xlsx");
    let root = dir.join("photos");

    let out = validate(&[book.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "the first sheet has no manifest"
    );
    assert!(
        stderr(&out).contains(
            "sheet \"Catatan\" is empty: there is no header row (other sheets: \"Manifest\"; \
             choose one with --sheet NAME)"
        ),
        "{}",
        stderr(&out)
    );

    let (code, json) = validate_json(&[
        book.to_str().unwrap(),
        "--sheet",
        "Manifest",
        "--images-root",
        root.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["rows"][0]["row"], 4);

    let out = validate(&[
        book.to_str().unwrap(),
        "--sheet",
        "Manifest",
        "--images-root",
        root.to_str().unwrap(),
        "--max-image-bytes",
        "299",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("photo   00.jpg  is 300 bytes, over the limit of 299 bytes"),
        "{}",
        stdout(&out)
    );

    let out = validate(&[book.to_str().unwrap(), "--sheet", "Nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no sheet named \"Nope\""));
}

/// Regenerates `samples/manifest.xlsx` from `samples/manifest.csv`: the same rows, with dates as
/// date cells and kodeKantor as numbers, as an office's workbook usually has them. Run with
/// `cargo test --test it write_samples_workbook -- --ignored` after changing the CSV.
#[test]
#[ignore]
fn write_samples_workbook() {
    let rows = crate::util::read_csv(&repo("samples/manifest.csv"));
    let mut workbook = Workbook::new();
    let ws = workbook.add_worksheet().set_name("Manifest").unwrap();
    write_header(ws);
    let date = Format::new().set_num_format("dd/mm/yyyy");
    for (i, row) in rows.iter().enumerate() {
        let r = i as u32 + 1;
        ws.write_string(r, 0, &row["nomorAju"]).unwrap();
        ws.write_string(r, 1, &row["nomorBlAwb"]).unwrap();
        match ExcelDateTime::parse_from_str(&row["tanggalBlAwb"]) {
            Ok(d)
                if chrono::NaiveDate::parse_from_str(&row["tanggalBlAwb"], "%Y-%m-%d").is_ok() =>
            {
                ws.write_datetime_with_format(r, 2, d, &date).unwrap()
            }
            // An impossible date is kept as text, as a spreadsheet program keeps it.
            _ => ws.write_string(r, 2, &row["tanggalBlAwb"]).unwrap(),
        };
        ws.write_number(r, 3, row["kodeKantor"].parse::<f64>().unwrap())
            .unwrap();
        ws.write_string(r, 4, &row["folder"]).unwrap();
    }
    ws.set_column_width(0, 48).unwrap();
    ws.set_column_width(1, 16).unwrap();
    ws.set_column_width(2, 14).unwrap();
    ws.set_column_width(4, 24).unwrap();
    workbook.save(repo("samples/manifest.xlsx")).unwrap();
}
