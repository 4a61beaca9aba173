//! Tests of the CSV reader.

use super::*;

/// The reader within the default bounds.
fn parse(bytes: &[u8]) -> Result<Vec<RawRow>, String> {
    super::parse(bytes, &Limits::default())
}

fn text(s: &str) -> Cell {
    Cell::Text(s.into())
}

const HEADER: &str = "nomorAju,nomorBlAwb,tanggalBlAwb,kodeKantor,folder";

#[test]
fn comma_semicolon_and_tab_are_detected() {
    for delimiter in [",", ";", "\t"] {
        let csv = format!(
            "{}\nA1{d}B1{d}2026-11-17{d}009000{d}img/a\n",
            HEADER.replace(',', delimiter),
            d = delimiter
        );
        let rows = parse(csv.as_bytes()).unwrap();
        assert_eq!(rows.len(), 1, "{delimiter:?}");
        assert_eq!(
            rows[0].cells,
            [
                text("A1"),
                text("B1"),
                text("2026-11-17"),
                text("009000"),
                text("img/a")
            ],
            "{delimiter:?}"
        );
    }
}

#[test]
fn a_comma_inside_quotes_does_not_decide_the_delimiter() {
    let csv = "\"a,b,c,d\";nomorAju;nomorBlAwb;tanggalBlAwb;kodeKantor;folder\n\
               x;A1;B1;2026-11-17;009000;img/a\n";
    let rows = parse(csv.as_bytes()).unwrap();
    assert_eq!(rows[0].cells[0], text("A1"));
}

#[test]
fn bom_crlf_quotes_and_whitespace() {
    let csv = "\u{feff}nomorAju,nomorBlAwb,tanggalBlAwb,kodeKantor,folder\r\n\
               \" A1 \",\"B,1\",2026-11-17 ,009000,\"img/a\"\r\n";
    let rows = parse(csv.as_bytes()).unwrap();
    assert_eq!(
        rows[0].cells,
        [
            text("A1"),
            text("B,1"),
            text("2026-11-17"),
            text("009000"),
            text("img/a")
        ]
    );
    assert_eq!(rows[0].row, 2);
}

#[test]
fn row_numbers_are_the_ones_a_spreadsheet_shows() {
    let csv = format!(
        "\n{HEADER}\nA1,B1,2026-11-17,009000,a\n,,,,\n\"A\n2\",B2,2026-11-17,009000,b\nA3,B3,2026-11-17,009000,c\n"
    );
    let rows = parse(csv.as_bytes()).unwrap();
    let numbers: Vec<usize> = rows.iter().map(|r| r.row).collect();
    // Line 1 blank, header on 2, row 4 blank (skipped), row 5 has a line break inside quotes.
    assert_eq!(numbers, vec![3, 5, 6]);
}

#[test]
fn records_with_another_field_count_are_named_and_nothing_is_read() {
    let csv =
        format!("{HEADER}\nA1,B1\nA2,B2,2026-11-17,009000,b,extra\nA3,B3,2026-11-17,009000,c,,\n");
    let err = parse(csv.as_bytes()).unwrap_err();
    assert!(err.starts_with("is not a well-formed table: line 2 has 2 fields where the header has 5; line 3 has 6 fields where the header has 5 (a separator inside a value that is not quoted?)"), "{err}");
    // Trailing empty fields (line 4) shift nothing.
    assert!(!err.contains("line 4"), "{err}");
    assert!(err.contains("nothing was read from it"), "{err}");
}

#[test]
fn a_separator_other_than_the_header_s_is_named() {
    let csv = format!(
        "{}\nA1;B1;2026-11-17;009000;a\nA2,B2,2026-11-17,009000,b\n",
        HEADER.replace(',', ";")
    );
    let err = parse(csv.as_bytes()).unwrap_err();
    assert!(
        err.contains("line 3 has 1 field where the header has 5, and is separated by \",\" (comma) rather than the header's \";\" (semicolon)"),
        "{err}"
    );
}

#[test]
fn an_unbalanced_quote_names_its_line_and_swallows_no_row() {
    let csv = format!(
        "{HEADER}\nA1,B1,2026-11-17,009000,a\n\"A2,B2,2026-11-17,009000,b\nA3,B3,2026-11-17,009000,c\n"
    );
    let err = parse(csv.as_bytes()).unwrap_err();
    assert!(
        err.contains("unbalanced quote: the quoted field that starts on line 3 is never closed"),
        "{err}"
    );
    // Closed on a later line, then followed by text: also refused, naming both lines.
    let csv = format!("{HEADER}\n\"A1,B1,2026-11-17,009000,a\nA2,B2,2026-11-17,009000,\"b\n");
    let err = parse(csv.as_bytes()).unwrap_err();
    assert!(
        err.contains(
            "the quoted field that starts on line 2 closes on line 3 and is followed by more text"
        ),
        "{err}"
    );
    // Closed on a later line at a field's end: the record's field count gives it away.
    let csv = format!("{HEADER}\n\"A1,B1,2026-11-17,009000,a\nA2\",B2,2026-11-17,009000,b\n");
    let err = parse(csv.as_bytes()).unwrap_err();
    assert!(
        err.contains("the quoted field that starts on line 2 runs over 2 lines, and line 2 inside it reads like a whole record: is a quote on line 2 unbalanced?"),
        "{err}"
    );
    // A genuine multi-line value (an address) is not mistaken for one.
    let csv = format!("{HEADER},alamat\nA1,B1,2026-11-17,009000,a,\"Jl. Sudirman 1,\nJakarta\"\n");
    assert_eq!(parse(csv.as_bytes()).unwrap().len(), 1);
}

#[test]
fn a_quoted_value_followed_by_text_is_kept_as_written() {
    let csv = format!(
        "{HEADER}\n\"CNTEST\"XRAY1,B1,2026-11-17,009000,a\n\"A\"\"2\",B2,2026-11-17,009000,b\n"
    );
    let rows = parse(csv.as_bytes()).unwrap();
    assert_eq!(rows[0].cells[0], text("\"CNTEST\"XRAY1"));
    assert_eq!(rows[1].cells[0], text("A\"2"));
}

#[test]
fn bounds_on_fields_rows_and_cells() {
    let limits = Limits {
        max_columns: 6,
        max_rows: 2,
        max_cell_chars: 8,
        ..Limits::default()
    };
    let wide = format!("{HEADER},a,b\n");
    let err = super::parse(wide.as_bytes(), &limits).unwrap_err();
    assert!(
        err.contains("line 1 has more than 6 fields, the bound (KIRIM_XRAY_MAX_MANIFEST_COLUMNS)"),
        "{err}"
    );
    let many = format!("{HEADER}\na,b,c,d,e\na,b,c,d,e\na,b,c,d,e\n");
    let err = super::parse(many.as_bytes(), &limits).unwrap_err();
    assert!(err.contains("more than 2 data rows"), "{err}");
    let long = format!("{HEADER}\n123456789abc,b,c,d,e\n");
    let rows = super::parse(long.as_bytes(), &limits).unwrap();
    assert!(
        matches!(&rows[0].cells[0], Cell::TooLong { chars: 12, head } if head == "123456789abc"),
        "{:?}",
        rows[0].cells[0]
    );
}

#[test]
fn a_wide_header_is_listed_short() {
    let header: Vec<String> = (0..5000).map(|i| format!("column{i}")).collect();
    let err = parse(format!("{}\n", header.join(",")).as_bytes()).unwrap_err();
    assert!(err.len() < 1000, "{} bytes: {err}", err.len());
    assert!(err.contains("and 4988 more"), "{err}");
}

#[test]
fn not_utf8_names_the_first_bad_line() {
    let mut bytes = format!("{HEADER}\nA1,B1,2026-11-17,009000,a\n").into_bytes();
    bytes.extend_from_slice(b"A2,Jalan Cik Di Tiro \xe9,2026-11-17,009000,b\n");
    let err = parse(&bytes).unwrap_err();
    assert!(err.contains("not UTF-8"), "{err}");
    assert!(err.contains("line 3"), "{err}");
    assert!(err.contains("CSV UTF-8"), "{err}");
}

#[test]
fn utf16_is_explained() {
    let err = parse(b"\xFF\xFEn\x00o\x00").unwrap_err();
    assert!(err.contains("UTF-16"), "{err}");
}

#[test]
fn empty_file_and_missing_columns() {
    assert!(parse(b"").unwrap_err().contains("no header row"));
    assert!(parse(b"\n\n").unwrap_err().contains("no header row"));
    let err = parse(b"aju;awb;tanggal\n1;2;3\n").unwrap_err();
    assert!(
        err.contains("columns found: \"aju\", \"awb\", \"tanggal\""),
        "{err}"
    );
}
