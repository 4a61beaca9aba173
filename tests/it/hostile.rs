//! Integration tests: the hostile-input corpus of `tests/fixtures/hostile/` (written by its
//! `make.py`), plus the cases made here (photo names, FIFOs, devices, bounds set through the
//! environment, a 200,000-column header). Each goes through `validate` and through `run` against a
//! sandbox, and must: exit with the expected code, say what is wrong naming the file (and the row
//! and column, or the photo), send nothing, and write no raw ESC, CR or NUL anywhere.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::run::{demo_command, describe};
use crate::util::{Sandbox, TestDir, kirim_xray, png};

/// One corpus case: the file, the exit code, where the problem is (`Some(column)` for a row
/// problem at row 2, `Some("photo")` for a photo, None for a file that cannot be read), and what
/// the message must say.
struct Case {
    file: &'static str,
    exit: i32,
    at: Option<&'static str>,
    says: &'static [&'static str],
}

const fn unreadable(file: &'static str, says: &'static [&'static str]) -> Case {
    Case {
        file,
        exit: 2,
        at: None,
        says,
    }
}

const fn invalid(file: &'static str, column: &'static str, says: &'static [&'static str]) -> Case {
    Case {
        file,
        exit: 1,
        at: Some(column),
        says,
    }
}

const CSV_STRUCTURE: &[Case] = &[
    unreadable(
        "csv-short-row.csv",
        &["line 3 has 2 fields where the header has 5"],
    ),
    unreadable(
        "csv-long-row.csv",
        &[
            "line 3 has 7 fields where the header has 5 (a separator inside a value that is not quoted?)",
        ],
    ),
    unreadable(
        "csv-mixed-separator.csv",
        &[
            "line 3 has 1 field where the header has 5, and is separated by \",\" (comma) rather than the header's \";\" (semicolon)",
        ],
    ),
    unreadable(
        "csv-unclosed-quote.csv",
        &["unbalanced quote: the quoted field that starts on line 3 is never closed"],
    ),
    unreadable(
        "csv-quote-swallows-row.csv",
        &[
            "the quoted field that starts on line 2 runs over 2 lines",
            "is a quote on line 2 unbalanced?",
        ],
    ),
    unreadable(
        "csv-quote-closed-later.csv",
        &["the quoted field that starts on line 2 closes on line 3 and is followed by more text"],
    ),
    unreadable("csv-utf16.csv", &["is UTF-16 text"]),
    unreadable(
        "csv-latin1.csv",
        &["is not UTF-8 text (the first bad byte is on line 3)"],
    ),
    unreadable("csv-empty.csv", &["is empty: there is no header row"]),
    unreadable("csv-blank-lines.csv", &["is empty: there is no header row"]),
    unreadable(
        "csv-named-xlsx.xlsx",
        &["is named like an Excel workbook (.xlsx) but is text (CSV?): rename it to .csv"],
    ),
    unreadable(
        "csv-doubled-column.csv",
        &["the headers \"aju\" and \"nomor_aju\" both name the column nomorAju"],
    ),
    unreadable(
        "csv-too-many-fields.csv",
        &["line 2 has more than 16384 fields, the bound (KIRIM_XRAY_MAX_MANIFEST_COLUMNS)"],
    ),
    invalid(
        "csv-stray-quotes.csv",
        "nomorAju",
        &["\"CNTEST\"XRAY1", "contains a quote (\")"],
    ),
];

const CELL_VALUES: &[Case] = &[
    invalid(
        "aju-hyperlink.csv",
        "nomorAju",
        &["looks like a spreadsheet formula (it starts with \"=\")"],
    ),
    invalid(
        "bl-formula-plus.csv",
        "nomorBlAwb",
        &["looks like a spreadsheet formula (it starts with \"+\")"],
    ),
    invalid(
        "aju-at-formula.csv",
        "nomorAju",
        &["looks like a spreadsheet formula (it starts with \"@\")"],
    ),
    invalid(
        "aju-10k.csv",
        "nomorAju",
        &["is 10240 characters long, over the bound for one cell (KIRIM_XRAY_MAX_CELL_CHARS)"],
    ),
    invalid(
        "aju-71-chars.csv",
        "nomorAju",
        &["is 71 characters long; a nomorAju has at most 70"],
    ),
    invalid(
        "bl-36-chars.csv",
        "nomorBlAwb",
        &["is 36 characters long; a nomorBlAwb has at most 35"],
    ),
    invalid(
        "aju-hash.csv",
        "nomorAju",
        &["contains \"#\", which no nomorAju holds"],
    ),
    invalid(
        "aju-en-dash.csv",
        "nomorAju",
        &["contains \"\u{2013}\", which no nomorAju holds"],
    ),
    invalid(
        "aju-zero-width.csv",
        "nomorAju",
        &["contains a control or invisible character"],
    ),
    invalid(
        "aju-esc.csv",
        "nomorAju",
        &[
            "AJU\\u{1b}[2J\\u{1b}]0;owned\\u{7}X",
            "contains a control or invisible character",
        ],
    ),
    invalid(
        "bl-cr.csv",
        "nomorBlAwb",
        &[
            "BL\\rERROR forged",
            "contains a control or invisible character",
        ],
    ),
    invalid(
        "bl-nul.csv",
        "nomorBlAwb",
        &["BL\\0X", "contains a control or invisible character"],
    ),
    invalid(
        "aju-quotes-inside.csv",
        "nomorAju",
        &["contains a quote (')"],
    ),
    invalid("date-1899.csv", "tanggalBlAwb", &["is before 2020-01-01"]),
    invalid("date-1900.csv", "tanggalBlAwb", &["is before 2020-01-01"]),
    invalid(
        "date-lost-century.csv",
        "tanggalBlAwb",
        &["is before 2020-01-01"],
    ),
    invalid("date-future.csv", "tanggalBlAwb", &["is in the future"]),
    invalid(
        "date-with-time.csv",
        "tanggalBlAwb",
        &["is not a date in the form yyyy-MM-dd"],
    ),
    invalid(
        "kantor-formula.csv",
        "kodeKantor",
        &["must be exactly 6 digits"],
    ),
    invalid(
        "folder-formula.csv",
        "folder",
        &["looks like a spreadsheet formula (it starts with \"=\")"],
    ),
    invalid("folder-quote.csv", "folder", &["contains a quote (\")"]),
    invalid(
        "folder-esc.csv",
        "folder",
        &[
            "images/\\u{1b}[31mok",
            "contains a control or invisible character",
        ],
    ),
    invalid("folder-long.csv", "folder", &["a folder has at most 1024"]),
];

const SPREADSHEETS: &[Case] = &[
    // A stray cell at XFD1048576 costs nothing: the sheet is read, and its one row is checked.
    invalid(
        "xlsx-stray-far-cell.xlsx",
        "nomorBlAwb",
        &["TRUE", "is a TRUE/FALSE cell"],
    ),
    unreadable(
        "xlsx-shared-strings-4e9.xlsx",
        &[
            "declares 4000000000 shared strings, over the bound of 1000000 (KIRIM_XRAY_MAX_SHEET_CELLS)",
        ],
    ),
    unreadable(
        "xlsx-cell-ref-overflow.xlsx",
        &["cannot be read", "1048576 rows"],
    ),
    unreadable(
        "xlsx-zip-bomb.xlsx",
        &[
            "unpacks to 314575900 bytes, over the bound of 134217728 bytes (KIRIM_XRAY_MAX_UNZIPPED_BYTES)",
        ],
    ),
    unreadable(
        "xlsx-rows-out-of-order.xlsx",
        &["lists row 2 after row 3: its rows are out of order"],
    ),
    invalid("xlsx-boolean.xlsx", "nomorBlAwb", &["is a TRUE/FALSE cell"]),
    invalid(
        "xlsx-time-only.xlsx",
        "tanggalBlAwb",
        &["18:00:00", "is a time of day or a duration without a date"],
    ),
    invalid(
        "xlsx-date-1900.xlsx",
        "tanggalBlAwb",
        &["1900-01-01", "is before 2020-01-01"],
    ),
    invalid(
        "xlsx-serial-with-time.xlsx",
        "tanggalBlAwb",
        &[
            "46346.75",
            "is a number with a fraction (2026-11-20 and a time of day)",
        ],
    ),
    unreadable(
        "ods-repeated-rows.ods",
        &[
            "would take more cells than the bound of 1000000 (KIRIM_XRAY_MAX_SHEET_CELLS)",
            "1048576 rows by 16384 columns",
        ],
    ),
    unreadable(
        "ods-long-string-repeated.ods",
        &[
            "would hold more than 67108864 bytes of text once its repeated rows and cells are expanded, the bound (KIRIM_XRAY_MAX_MANIFEST_TEXT_BYTES)",
        ],
    ),
    unreadable(
        "xlsx-shared-string-amplified.xlsx",
        &[
            "holds more than 67108864 bytes of text in its five columns, the bound (KIRIM_XRAY_MAX_MANIFEST_TEXT_BYTES)",
        ],
    ),
    unreadable(
        "xls-shared-string-amplified.xls",
        &["would hold more than 67108864 bytes of text once its cells are read"],
    ),
    unreadable(
        "ods-blank-gap.ods",
        &["would take more cells than the bound of 1000000 (KIRIM_XRAY_MAX_SHEET_CELLS)"],
    ),
    invalid(
        "xls-boolean.xls",
        "nomorBlAwb",
        &["TRUE", "is a TRUE/FALSE cell"],
    ),
    unreadable(
        "xls-far-cell.xls",
        &["would take more cells than the bound of 1000000 (KIRIM_XRAY_MAX_SHEET_CELLS)"],
    ),
    unreadable(
        "xls-huge-dimensions.xls",
        &["would take more cells than the bound of 1000000 (KIRIM_XRAY_MAX_SHEET_CELLS)"],
    ),
];

fn fixture(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/hostile")
        .join(file)
}

/// A test folder with a valid photo folder `images/ok`, so that only the hostile part fails.
fn test_dir() -> TestDir {
    let dir = TestDir::new();
    dir.write("images/ok/x.png", png(1));
    dir
}

/// ESC, CR and NUL: the bytes that drive a terminal, rewrite a line or cut a string.
fn assert_no_raw_control(what: &str, bytes: &[u8]) {
    let found: Vec<u8> = bytes
        .iter()
        .copied()
        .filter(|b| [0x1b, b'\r', 0].contains(b))
        .collect();
    assert!(
        found.is_empty(),
        "{what} holds raw control bytes {found:?}:\n{}",
        String::from_utf8_lossy(bytes)
    );
}

/// Every file under `dir` (the run folders), checked for raw control bytes.
fn assert_files_clean(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            assert_files_clean(&path);
        } else if path.extension().is_some_and(|e| e == "xlsx") {
            // A zip: its compressed bytes are anything; what a spreadsheet shows is inside.
            let file = std::fs::File::open(&path).unwrap();
            let mut zip = zip::ZipArchive::new(file).unwrap();
            for i in 0..zip.len() {
                let mut part = zip.by_index(i).unwrap();
                let name = format!("{} {:?}", path.display(), part.name());
                let mut bytes = Vec::new();
                std::io::Read::read_to_end(&mut part, &mut bytes).unwrap();
                assert_no_raw_control(&name, &bytes);
                let text = String::from_utf8_lossy(&bytes);
                assert!(
                    !text.contains("_x001B_") && !text.contains("_x000D_"),
                    "{name} holds an encoded control character:\n{text}"
                );
            }
        } else if path
            .extension()
            .is_none_or(|e| e != "sqlite" && e != "lock")
        {
            let bytes = std::fs::read(&path).unwrap_or_default();
            assert_no_raw_control(&path.display().to_string(), &bytes);
        }
    }
}

/// Run `command` with a watchdog: a manifest must never make the tool hang.
fn output_within(mut command: Command, limit: Duration) -> Output {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kirim-xray");
    let started = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!("kirim-xray hung; killed:\n{}", describe(&out));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Nothing was stored and no upload was made.
fn assert_nothing_sent(sandbox: &Sandbox, what: &str) {
    let state = sandbox.state();
    assert_eq!(state["records"], serde_json::json!([]), "{what}: {state:#}");
    for endpoint in ["kirim-foto-xray", "add-foto-xray"] {
        assert!(
            state["requests"][endpoint].is_null(),
            "{what}: {endpoint} was called: {state:#}"
        );
    }
}

/// `validate` and `run` on `manifest` in `dir`, with `env`: both exit `exit`, say each of `says`
/// naming the file (and, for a row problem, the row and the place), send nothing and print no
/// raw control byte.
fn check(
    sandbox: &Sandbox,
    dir: &TestDir,
    manifest: &Path,
    env: &[(&str, &str)],
    exit: i32,
    at: Option<&str>,
    says: &[&str],
) {
    let name = manifest
        .file_name()
        .map_or(String::new(), |n| n.to_string_lossy().into_owned());
    let what = manifest.display().to_string();

    let mut validate = kirim_xray();
    validate
        .current_dir(dir.path())
        .arg("validate")
        .arg(manifest)
        .envs(env.iter().copied());
    let out = output_within(validate, Duration::from_secs(60));
    assert_eq!(
        out.status.code(),
        Some(exit),
        "validate {what}: {}",
        describe(&out)
    );
    assert_no_raw_control(&format!("validate {what} stdout"), &out.stdout);
    assert_no_raw_control(&format!("validate {what} stderr"), &out.stderr);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&name),
        "validate {what} names the file: {text}"
    );
    for s in says {
        assert!(text.contains(s), "validate {what} says {s:?}: {text}");
    }
    if exit == 2 {
        // One line on stderr, short whatever the file holds.
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.len() < 2000, "{} bytes: {err}", err.len());
    }

    let mut run = demo_command(sandbox, dir, "run", manifest);
    run.args(["--rate", "200", "--burst", "10"])
        .envs(env.iter().copied());
    let out = output_within(run, Duration::from_secs(60));
    assert_eq!(
        out.status.code(),
        Some(exit),
        "run {what}: {}",
        describe(&out)
    );
    assert_no_raw_control(&format!("run {what} stdout"), &out.stdout);
    assert_no_raw_control(&format!("run {what} stderr"), &out.stderr);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&name), "run {what} names the file: {err}");
    for s in says {
        assert!(err.contains(s), "run {what} says {s:?}: {err}");
    }
    match at {
        Some("photo") => assert!(err.contains(&format!("{name} row 2, photo \"")), "{err}"),
        Some(column) => assert!(
            err.contains(&format!("{name} row 2, column {column}: ")),
            "run {what} names row and column: {err}"
        ),
        None => {}
    }
    assert_files_clean(&dir.join("runs"));
    assert_nothing_sent(sandbox, &what);
}

fn check_corpus(cases: &[Case]) {
    let sandbox = Sandbox::start(&[]);
    for case in cases {
        let dir = test_dir();
        let manifest = dir.join(case.file);
        std::fs::copy(fixture(case.file), &manifest).expect("copy the fixture");
        check(
            &sandbox,
            &dir,
            &manifest,
            &[],
            case.exit,
            case.at,
            case.says,
        );
    }
}

#[test]
fn the_corpus_has_every_case_of_the_issue() {
    let listed = CSV_STRUCTURE.len() + CELL_VALUES.len() + SPREADSHEETS.len();
    let files = std::fs::read_dir(fixture(""))
        .expect("the corpus folder")
        .filter_map(Result::ok)
        .filter(|e| e.file_name() != "make.py" && e.file_name() != "large.py")
        .count();
    assert_eq!(
        files, listed,
        "every corpus file has its case, and the other way round"
    );
    assert!(listed + GENERATED >= 40);
}

/// The cases made by the tests below: four photo names, a FIFO, /dev/zero, a folder, four bounds
/// set through the environment, and a 200,000-column header.
const GENERATED: usize = 12;

#[test]
fn corpus_csv_structure() {
    check_corpus(CSV_STRUCTURE);
}

#[test]
fn corpus_cell_values() {
    check_corpus(CELL_VALUES);
}

#[test]
fn corpus_spreadsheets() {
    check_corpus(SPREADSHEETS);
}

/// A manifest whose one row points at `images/bad`, holding one valid PNG named `photo`.
fn photo_case(sandbox: &Sandbox, photo: &str, says: &[&str]) {
    let dir = TestDir::new();
    dir.write(&format!("images/bad/{photo}"), png(2));
    let manifest = dir.write(
        "manifest.csv",
        "nomorAju,nomorBlAwb,tanggalBlAwb,kodeKantor,folder\n\
         012345678901234500000020261120CNTESTXRAY1CN1,CNTESTXRAY1,2026-11-20,009000,images/bad\n",
    );
    check(sandbox, &dir, &manifest, &[], 1, Some("photo"), says);
}

#[test]
fn photo_names_must_be_printable_quoteless_and_short() {
    let sandbox = Sandbox::start(&[]);
    photo_case(
        &sandbox,
        "scan\r\nX-Injected: 1.png",
        &[
            "scan\\r\\nX-Injected: 1.png",
            "has a control or invisible character in its name",
        ],
    );
    photo_case(
        &sandbox,
        "scan\u{1b}[2J.png",
        &[
            "scan\\u{1b}[2J.png",
            "has a control or invisible character in its name",
        ],
    );
    photo_case(
        &sandbox,
        "scan\".png",
        &["has \" in its name, which cannot travel in the upload's file name"],
    );
    let long = format!("{}.png", "x".repeat(196));
    photo_case(
        &sandbox,
        &long,
        &["has a name of 200 characters; a photo name has at most 128"],
    );
}

#[test]
fn a_manifest_must_be_a_regular_file() {
    let sandbox = Sandbox::start(&[]);
    let dir = test_dir();
    let fifo = dir.join("manifest.csv");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    check(
        &sandbox,
        &dir,
        &fifo,
        &[],
        2,
        None,
        &["is a named pipe (FIFO), not a regular file"],
    );
    check(
        &sandbox,
        &dir,
        Path::new("/dev/zero"),
        &[],
        2,
        None,
        &["is a character device (such as /dev/zero), not a regular file"],
    );
    let folder = dir.join("manifest.xlsx");
    std::fs::create_dir(&folder).expect("folder");
    check(
        &sandbox,
        &dir,
        &folder,
        &[],
        2,
        None,
        &["is a folder, not a regular file"],
    );
}

#[test]
fn bounds_are_set_through_the_environment() {
    let sandbox = Sandbox::start(&[]);
    let dir = test_dir();
    let row =
        "012345678901234500000020261120CNTESTXRAY1CN1,CNTESTXRAY1,2026-11-20,009000,images/ok\n";
    let manifest = dir.write(
        "manifest.csv",
        format!(
            "nomorAju,nomorBlAwb,tanggalBlAwb,kodeKantor,folder\n{}",
            row.repeat(20)
        ),
    );
    check(
        &sandbox,
        &dir,
        &manifest,
        &[("KIRIM_XRAY_MAX_MANIFEST_BYTES", "1000")],
        2,
        None,
        &["over the bound of 1000 bytes for a manifest (KIRIM_XRAY_MAX_MANIFEST_BYTES)"],
    );
    check(
        &sandbox,
        &dir,
        &manifest,
        &[("KIRIM_XRAY_MAX_MANIFEST_ROWS", "5")],
        2,
        None,
        &["has more than 5 data rows, the bound (KIRIM_XRAY_MAX_MANIFEST_ROWS)"],
    );
    check(
        &sandbox,
        &dir,
        &manifest,
        &[("KIRIM_XRAY_MAX_CELL_CHARS", "lots")],
        2,
        None,
        &["KIRIM_XRAY_MAX_CELL_CHARS: \"lots\" is not a whole number above 0"],
    );
    // The zip-bomb bound, lowered below a small real workbook.
    let xlsx = dir.join("small.xlsx");
    std::fs::copy(fixture("xlsx-boolean.xlsx"), &xlsx).expect("copy");
    check(
        &sandbox,
        &dir,
        &xlsx,
        &[("KIRIM_XRAY_MAX_UNZIPPED_BYTES", "100")],
        2,
        None,
        &["over the bound of 100 bytes (KIRIM_XRAY_MAX_UNZIPPED_BYTES)"],
    );
}

#[test]
fn a_header_of_200000_columns_is_refused_in_one_short_line() {
    let sandbox = Sandbox::start(&[]);
    let dir = test_dir();
    let header: Vec<String> = (0..200_000).map(|i| format!("c{i}")).collect();
    let manifest = dir.write("wide.csv", format!("{}\n1,2\n", header.join(",")));
    check(
        &sandbox,
        &dir,
        &manifest,
        &[],
        2,
        None,
        &["line 1 has more than 16384 fields, the bound (KIRIM_XRAY_MAX_MANIFEST_COLUMNS)"],
    );
}
