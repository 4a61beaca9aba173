//! Tests of the spreadsheet reader.

use super::*;
use rust_xlsxwriter::{ExcelDateTime, Format as XFormat, Formula, Workbook};

fn xlsx(build: impl FnOnce(&mut rust_xlsxwriter::Worksheet)) -> Vec<u8> {
    let mut workbook = Workbook::new();
    build(workbook.add_worksheet());
    workbook.save_to_buffer().unwrap()
}

fn header(ws: &mut rust_xlsxwriter::Worksheet, row: u32, col: u16) {
    for (i, name) in [
        "nomorAju",
        "nomorBlAwb",
        "tanggalBlAwb",
        "kodeKantor",
        "folder",
    ]
    .iter()
    .enumerate()
    {
        ws.write_string(row, col + i as u16, *name).unwrap();
    }
}

#[test]
fn cells_keep_their_type() {
    let bytes = xlsx(|ws| {
        header(ws, 0, 0);
        let date = XFormat::new().set_num_format("yyyy-mm-dd");
        ws.write_string(1, 0, " AJU1 ").unwrap();
        ws.write_number(1, 1, 123456789.0).unwrap();
        ws.write_datetime_with_format(1, 2, ExcelDateTime::from_ymd(2026, 11, 17).unwrap(), &date)
            .unwrap();
        ws.write_number(1, 3, 9000.0).unwrap();
        ws.write_string(1, 4, "img/a").unwrap();
    });
    let rows = parse(&bytes, Format::Xlsx, None, &Limits::default()).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].row, 2);
    assert_eq!(
        rows[0].cells,
        [
            Cell::Text("AJU1".into()),
            Cell::Number(123456789.0),
            Cell::Date(NaiveDate::from_ymd_opt(2026, 11, 17).unwrap()),
            Cell::Number(9000.0),
            Cell::Text("img/a".into()),
        ]
    );
}

#[test]
fn leading_blank_rows_and_columns_keep_sheet_row_numbers() {
    let bytes = xlsx(|ws| {
        header(ws, 2, 1);
        for (row, aju) in [(3, "A1"), (5, "A2")] {
            ws.write_string(row, 1, aju).unwrap();
        }
    });
    let rows = parse(&bytes, Format::Xlsx, None, &Limits::default()).unwrap();
    let numbers: Vec<usize> = rows.iter().map(|r| r.row).collect();
    // Header on sheet row 3; data on rows 4 and 6; blank row 5 skipped.
    assert_eq!(numbers, vec![4, 6]);
    assert_eq!(rows[0].cells[0], Cell::Text("A1".into()));
}

#[test]
fn formulas_give_their_cached_value_and_errors_stay_errors() {
    let bytes = xlsx(|ws| {
        header(ws, 0, 0);
        ws.write_formula(1, 0, Formula::new("=\"AJU\"&\"1\"").set_result("AJU1"))
            .unwrap();
        ws.write_formula(1, 1, Formula::new("=NA()").set_result("#N/A"))
            .unwrap();
    });
    let rows = parse(&bytes, Format::Xlsx, None, &Limits::default()).unwrap();
    assert_eq!(rows[0].cells[0], Cell::Text("AJU1".into()));
    assert_eq!(rows[0].cells[1], Cell::Error("#N/A".into()));
}

#[test]
fn sheet_by_name_or_the_first() {
    let mut workbook = Workbook::new();
    let first = workbook.add_worksheet().set_name("Notes").unwrap();
    first.write_string(0, 0, "read me").unwrap();
    let second = workbook.add_worksheet().set_name("Manifest").unwrap();
    header(second, 0, 0);
    second.write_string(1, 0, "A1").unwrap();
    let bytes = workbook.save_to_buffer().unwrap();

    let rows = parse(&bytes, Format::Xlsx, Some("Manifest"), &Limits::default()).unwrap();
    assert_eq!(rows.len(), 1);
    let err = parse(&bytes, Format::Xlsx, None, &Limits::default()).unwrap_err();
    assert!(err.contains("missing required columns"), "{err}");
    let err = parse(&bytes, Format::Xlsx, Some("Nope"), &Limits::default()).unwrap_err();
    assert!(
        err.contains(r#"no sheet named "Nope" (sheets: "Notes", "Manifest")"#),
        "{err}"
    );
}

#[test]
fn date_times_and_iso_text() {
    let dt = NaiveDate::from_ymd_opt(2026, 11, 17)
        .unwrap()
        .and_hms_opt(10, 30, 0)
        .unwrap();
    assert_eq!(date_cell(dt), Cell::DateTime(dt));
    assert_eq!(iso_cell("2026-11-17"), Cell::Date(dt.date()));
    assert_eq!(iso_cell("2026-11-17T00:00:00"), Cell::Date(dt.date()));
    assert_eq!(iso_cell("2026-11-17T10:30:00"), Cell::DateTime(dt));
}

#[test]
fn booleans_and_times_keep_their_type() {
    let bytes = xlsx(|ws| {
        header(ws, 0, 0);
        ws.write_boolean(1, 1, true).unwrap();
        let time = XFormat::new().set_num_format("hh:mm");
        ws.write_number_with_format(1, 2, 0.75, &time).unwrap();
    });
    let rows = parse(&bytes, Format::Xlsx, None, &Limits::default()).unwrap();
    assert_eq!(rows[0].cells[1], Cell::Bool(true));
    assert_eq!(rows[0].cells[2], Cell::Time("18:00:00".into()));
}

#[test]
fn a_far_cell_is_read_past_and_a_long_cell_is_cut() {
    let bytes = xlsx(|ws| {
        header(ws, 0, 0);
        ws.write_string(1, 0, "x".repeat(100)).unwrap();
        ws.write_number(1_048_575, 16_383, 1.0).unwrap();
    });
    let limits = Limits {
        max_cell_chars: 10,
        ..Limits::default()
    };
    let rows = parse(&bytes, Format::Xlsx, None, &limits).unwrap();
    assert_eq!(rows.len(), 1);
    assert!(matches!(rows[0].cells[0], Cell::TooLong { chars: 100, .. }));
}

#[test]
fn garbage_is_not_a_workbook() {
    let err = parse(b"not a zip", Format::Xlsx, None, &Limits::default()).unwrap_err();
    assert!(
        err.contains("but is text (CSV?): rename it to .csv"),
        "{err}"
    );
    let err = parse(
        b"PK\x03\x04 not a zip",
        Format::Xlsx,
        None,
        &Limits::default(),
    )
    .unwrap_err();
    assert!(err.contains("cannot be opened as a spreadsheet"), "{err}");
}
