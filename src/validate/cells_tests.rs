use super::*;
use chrono::NaiveDateTime;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 28).unwrap()
}

fn text(s: &str) -> Cell {
    Cell::Text(s.into())
}

fn run(column: Column, cell: Cell) -> CellCheck {
    check(column, &cell, 7, today())
}

/// The value, and each problem as "severity: message".
fn outcome(column: Column, cell: Cell) -> (Option<String>, Vec<String>) {
    let c = run(column, cell);
    for p in &c.problems {
        assert_eq!(p.row, 7);
        assert_eq!(p.column, Some(column.name()));
    }
    let problems = c
        .problems
        .iter()
        .map(|p| format!("{:?}: {}", p.severity, p.message))
        .collect();
    (c.value, problems)
}

fn ok(value: &str) -> (Option<String>, Vec<String>) {
    (Some(value.into()), vec![])
}

#[test]
fn dates_must_be_strict_real_and_not_in_the_future() {
    use Column::TanggalBlAwb as T;
    assert_eq!(outcome(T, text("2026-11-17")), ok("2026-11-17"));
    assert_eq!(
        outcome(T, text("2026-11-29")),
        ok("2026-11-29"),
        "tomorrow is allowed"
    );
    for bad in [
        "17/11/2026",
        "2026-1-17",
        "2026-11-7",
        "2026/11/17",
        "20261117",
        "2026-11-17x",
    ] {
        let (value, problems) = outcome(T, text(bad));
        assert_eq!(value, None, "{bad}");
        assert_eq!(
            problems,
            vec!["Error: is not a date in the form yyyy-MM-dd (for example 2026-01-31)"],
            "{bad}"
        );
    }
    let (value, problems) = outcome(T, text("2026-02-30"));
    assert_eq!(value, None);
    assert_eq!(problems, vec!["Error: is not a real calendar date"]);
    let (value, problems) = outcome(T, text("2026-11-30"));
    assert_eq!(value, None);
    assert_eq!(
        problems,
        vec!["Error: is in the future (after tomorrow, 2026-11-29)"]
    );
}

#[test]
fn date_cells_and_serial_numbers_become_dates() {
    use Column::TanggalBlAwb as T;
    let day = NaiveDate::from_ymd_opt(2026, 11, 17).unwrap();
    assert_eq!(outcome(T, Cell::Date(day)), ok("2026-11-17"));
    let (value, problems) = outcome(T, Cell::DateTime(day.and_hms_opt(9, 30, 0).unwrap()));
    assert_eq!(value.as_deref(), Some("2026-11-17"));
    assert_eq!(
        problems,
        vec![
            "Warning: has the time 09:30:00 as well, which is dropped: only the date 2026-11-17 is sent"
        ]
    );
    // 46343 is 2026-11-17 in the 1900 date system.
    let (value, problems) = outcome(T, Cell::Number(46343.0));
    assert_eq!(value.as_deref(), Some("2026-11-17"));
    assert!(
        problems[0].starts_with("Warning: is a number; read as the spreadsheet date 2026-11-17")
    );
    let (value, problems) = outcome(T, Cell::Number(-3.0));
    assert_eq!(value, None);
    assert_eq!(
        problems,
        vec!["Error: is a number, not a date in the form yyyy-MM-dd"]
    );
    let future = NaiveDate::from_ymd_opt(2027, 1, 1).unwrap();
    assert_eq!(outcome(T, Cell::Date(future)).0, None);
}

#[test]
fn office_codes_are_six_digits_and_numbers_are_padded_with_a_warning() {
    use Column::KodeKantor as K;
    assert_eq!(outcome(K, text("009000")), ok("009000"));
    for bad in ["9000", "0090000", "00900A", "", "٠٠٩٠٠٠"] {
        let cell = if bad.is_empty() {
            Cell::Empty
        } else {
            text(bad)
        };
        assert_eq!(outcome(K, cell).0, None, "{bad}");
    }
    let (value, problems) = outcome(K, Cell::Number(9000.0));
    assert_eq!(value.as_deref(), Some("009000"));
    assert_eq!(
        problems,
        vec![
            "Warning: was typed as a number and lost its leading zeros; read as \"009000\" \
             (format the column as Text to keep them)"
        ]
    );
    assert_eq!(outcome(K, Cell::Number(123456.0)), ok("123456"));
    for bad in [1234567.0, 9000.5, -1.0] {
        assert_eq!(
            outcome(K, Cell::Number(bad)),
            (
                None,
                vec!["Error: must be exactly 6 digits, such as 040300".to_string()]
            )
        );
    }
}

#[test]
fn nomor_aju_as_a_number_is_always_refused() {
    use Column::NomorAju as A;
    let aju = "012345678901234500000020250930CNTESTXRAY3CN1";
    assert_eq!(outcome(A, text(aju)), ok(aju));
    for number in [12345.0, 1.2345678901234568e43] {
        let (value, problems) = outcome(A, Cell::Number(number));
        assert_eq!(value, None);
        assert_eq!(
            problems,
            vec![
                "Error: was typed as a number, so digits have been lost; format the column as \
                 Text and type the value again"
            ]
        );
    }
    let shown = run(A, Cell::Number(1.2345678901234568e43)).problems[0]
        .value
        .clone();
    assert_eq!(shown, "1.2345678901234568E43");
}

#[test]
fn nomor_bl_awb_as_an_exact_integer_is_accepted_with_a_warning() {
    use Column::NomorBlAwb as B;
    let (value, problems) = outcome(B, Cell::Number(123456789012.0));
    assert_eq!(value.as_deref(), Some("123456789012"));
    assert_eq!(problems.len(), 1);
    assert!(problems[0].starts_with("Warning: was typed as a number; read as \"123456789012\""));
    // 2^53 and above, or not whole: digits may be lost.
    for bad in [9_007_199_254_740_992.0, 2.00123e22, 12.5, -4.0] {
        let (value, problems) = outcome(B, Cell::Number(bad));
        assert_eq!(value, None, "{bad}");
        assert!(problems[0].contains("format the column as Text"), "{bad}");
    }
    assert_eq!(
        outcome(B, Cell::Number(9_007_199_254_740_991.0))
            .0
            .as_deref(),
        Some("9007199254740991")
    );
}

#[test]
fn identifiers_have_no_spaces_or_control_characters() {
    for column in [Column::NomorAju, Column::NomorBlAwb] {
        assert_eq!(
            outcome(column, text("CN 123")),
            (None, vec!["Error: contains a space".to_string()])
        );
        for hidden in ["CN\t123", "CN\u{200B}123", "CN\u{1}"] {
            assert_eq!(
                outcome(column, text(hidden)).1,
                vec![
                    "Error: contains a control or invisible character (a tab, a line break, a \
                     zero-width space?)"
                ]
            );
        }
        assert_eq!(
            outcome(column, Cell::Empty),
            (None, vec!["Error: is empty".to_string()])
        );
        let day = NaiveDate::from_ymd_opt(2026, 1, 2).unwrap();
        assert!(outcome(column, Cell::Date(day)).1[0].contains("is a date cell"));
    }
}

#[test]
fn error_cells_are_errors_in_every_column() {
    for column in Column::ALL {
        let c = run(column, Cell::Error("#N/A".into()));
        assert_eq!(c.value, None);
        assert_eq!(c.text, "#N/A");
        assert_eq!(c.problems.len(), 1);
        assert_eq!(c.problems[0].value, "#N/A");
        assert!(
            c.problems[0]
                .message
                .starts_with("is a spreadsheet error value")
        );
    }
}

#[test]
fn folder_cells() {
    use Column::Folder as F;
    assert_eq!(outcome(F, text("images/a b")), ok("images/a b"));
    let (value, problems) = outcome(F, Cell::Number(123.0));
    assert_eq!(value.as_deref(), Some("123"));
    assert!(problems[0].starts_with("Warning:"));
    assert_eq!(outcome(F, Cell::Empty).0, None);
}

#[test]
fn text_shows_the_fixed_value_or_the_cell() {
    assert_eq!(run(Column::KodeKantor, Cell::Number(9000.0)).text, "009000");
    assert_eq!(run(Column::KodeKantor, text("9000")).text, "9000");
    let dt: NaiveDateTime = NaiveDate::from_ymd_opt(2026, 3, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    assert_eq!(display(&Cell::DateTime(dt)), "2026-03-01 00:00:00");
    assert_eq!(display(&Cell::Number(12.5)), "12.5");
}

#[test]
fn booleans_times_and_over_long_cells_are_errors_in_every_column() {
    let cases = [
        (Cell::Bool(true), "TRUE", "is a TRUE/FALSE cell"),
        (
            Cell::Time("18:00:00".into()),
            "18:00:00",
            "is a time of day or a duration",
        ),
        (
            Cell::TooLong {
                chars: 10240,
                head: "AAAA".into(),
            },
            "AAAA... (10240 characters)",
            "is 10240 characters long, over the bound for one cell",
        ),
    ];
    for column in Column::ALL {
        for (cell, shown, message) in &cases {
            let c = run(column, cell.clone());
            assert_eq!(c.value, None, "{column:?} {cell:?}");
            assert_eq!(c.text, *shown);
            assert_eq!(c.problems.len(), 1);
            assert!(
                c.problems[0].message.starts_with(message),
                "{:?}",
                c.problems
            );
            assert_eq!(c.problems[0].severity, Severity::Error);
        }
    }
}

#[test]
fn identifiers_keep_to_their_charset_and_length() {
    use Column::{NomorAju as A, NomorBlAwb as B};
    let aju = "012345678901234500000020250930CNTESTXRAY3CN1";
    assert_eq!(outcome(A, text(aju)), ok(aju));
    for good in ["123-45678901", "MAEU.123/45", "BL_1"] {
        assert_eq!(outcome(B, text(good)), ok(good));
    }
    let error = |column, value: &str| {
        let (v, problems) = outcome(column, text(value));
        assert_eq!(v, None, "{value}");
        assert_eq!(problems.len(), 1, "{problems:?}");
        problems[0].clone()
    };
    assert_eq!(
        error(A, "=HYPERLINK(\"http://x\",\"A\")"),
        "Error: looks like a spreadsheet formula (it starts with \"=\"); type the nomorAju itself"
    );
    for start in ["+62", "-1", "@SUM(A1)"] {
        assert!(
            error(B, start).contains("looks like a spreadsheet formula"),
            "{start}"
        );
    }
    assert!(error(A, "\"CNTEST\"XRAY1").starts_with("Error: contains a quote (\")"));
    assert!(error(B, "BL\u{201C}1").starts_with("Error: contains a quote (\u{201C})"));
    assert_eq!(
        error(A, "AJU#1"),
        "Error: contains \"#\", which no nomorAju holds (letters, digits and - _ . / only)"
    );
    assert!(error(B, "BL\u{e9}").contains("\"\u{e9}\", which no nomorBlAwb holds"));
    let at_bound = "A".repeat(MAX_AJU_CHARS);
    assert_eq!(outcome(A, text(&at_bound)), ok(&at_bound));
    assert_eq!(
        error(A, &"A".repeat(MAX_AJU_CHARS + 1)),
        "Error: is 71 characters long; a nomorAju has at most 70"
    );
    assert_eq!(
        error(B, &"B".repeat(MAX_BL_AWB_CHARS + 1)),
        "Error: is 36 characters long; a nomorBlAwb has at most 35"
    );
}

#[test]
fn implausible_dates_and_numbers_with_a_time_are_refused() {
    use Column::TanggalBlAwb as T;
    for early in [
        "1899-12-31",
        "1900-01-01",
        "1970-01-01",
        "2019-12-31",
        "0025-09-30",
    ] {
        let (value, problems) = outcome(T, text(early));
        assert_eq!(value, None, "{early}");
        assert!(problems[0].contains("is before 2020-01-01"), "{problems:?}");
    }
    assert_eq!(outcome(T, text("2020-01-01")), ok("2020-01-01"));
    let (value, problems) = outcome(T, Cell::Number(1.0));
    assert_eq!(value, None);
    assert!(
        problems.iter().any(|p| p.contains("is before 2020-01-01")),
        "{problems:?}"
    );
    // 46346.75 is 2026-11-20 at 18:00: the day is not guessed.
    let (value, problems) = outcome(T, Cell::Number(46346.75));
    assert_eq!(value, None);
    assert_eq!(
        problems,
        vec![
            "Error: is a number with a fraction (2026-11-20 and a time of day); type the date as \
             yyyy-MM-dd, or format the column as a date"
        ]
    );
}

#[test]
fn folder_cells_without_controls_quotes_or_formulas() {
    use Column::Folder as F;
    assert_eq!(outcome(F, text("images/O'Brien 2")), ok("images/O'Brien 2"));
    for (bad, says) in [
        (
            "images/\u{1b}[31m",
            "contains a control or invisible character",
        ),
        ("images/\"x\"", "contains a quote (\")"),
        ("=cmd|' /C calc'!A0", "looks like a spreadsheet formula"),
        ("@x", "looks like a spreadsheet formula"),
    ] {
        let (value, problems) = outcome(F, text(bad));
        assert_eq!(value, None, "{bad}");
        assert!(problems[0].contains(says), "{bad}: {problems:?}");
    }
    let (value, problems) = outcome(F, text(&"x".repeat(MAX_FOLDER_CHARS + 1)));
    assert_eq!(value, None);
    assert!(
        problems[0].contains("a folder has at most 1024"),
        "{problems:?}"
    );
}
