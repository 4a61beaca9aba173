//! The rules for the five cells of a row. Spreadsheets change values behind the user's back
//! (`009000` → `9000`, long numbers → `2.00123E+22`, dates → serial numbers): every cell either
//! gives the value customs must receive, or a problem saying what to fix. A value is never guessed
//! when digits may have been lost.

use chrono::{Days, NaiveDate};

use super::{Problem, Severity};
use crate::manifest::{Cell, Column};

/// Largest integer a spreadsheet number (an f64) holds exactly.
const EXACT_INTEGER_LIMIT: f64 = 9_007_199_254_740_992.0; // 2^53

/// Longest nomorAju: the API's sample (`012345678901234500000020250930CNTESTXRAY3CN1`) has 44
/// characters, 22 (NPWP) + 8 (date) + the BL/AWB (11 there) + 3; with a BL/AWB at its bound of 35,
/// that is 68, rounded up.
pub const MAX_AJU_CHARS: usize = 70;
/// Longest nomorBlAwb: 35 characters, the usual bound of a transport document number
/// (UN/EDIFACT an..35); IATA air waybills have 11 digits, sea bills of lading up to about 20.
pub const MAX_BL_AWB_CHARS: usize = 35;
/// Longest folder cell: a path far longer than any real one is a broken export.
pub const MAX_FOLDER_CHARS: usize = 1024;
/// The earliest tanggalBlAwb accepted: X-ray photos are sent for current consignments, and the
/// dates a spreadsheet makes of a time-only or zero cell (1899-12-31, 1900-01-01, 1904-01-01) or
/// of a lost century (0025-09-30) all lie before it.
pub const EARLIEST_DATE: (i32, u32, u32) = (2020, 1, 1);

/// Characters a nomorAju or nomorBlAwb may hold besides ASCII letters and digits.
const ID_PUNCTUATION: &str = "-_./";
/// What a formula starts with, in a spreadsheet or in a CSV file opened by one.
const FORMULA_STARTS: [char; 4] = ['=', '+', '-', '@'];
/// Quotes, straight and typographic.
const QUOTES: [char; 7] = [
    '"', '\'', '`', '\u{201C}', '\u{201D}', '\u{2018}', '\u{2019}',
];

/// What one cell gave: the normalised value (None when it is unusable), and its problems.
#[derive(Debug, Clone, PartialEq)]
pub struct CellCheck {
    pub value: Option<String>,
    /// The cell as text: the normalised value when there is one, else what the cell held.
    pub text: String,
    pub problems: Vec<Problem>,
}

/// The cell as a user would recognise it in the file.
pub fn display(cell: &Cell) -> String {
    match cell {
        Cell::Empty => String::new(),
        Cell::Text(s) | Cell::Error(s) => s.clone(),
        Cell::Number(f) => number_text(*f),
        Cell::Date(d) => d.format("%Y-%m-%d").to_string(),
        Cell::DateTime(dt) => dt.format("%Y-%m-%d %H:%M:%S").to_string(),
        Cell::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_string(),
        Cell::Time(t) => t.clone(),
        Cell::TooLong { chars, head } => format!("{head}... ({chars} characters)"),
    }
}

fn number_text(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else if f.abs() >= 1e15 {
        // Scientific, as the spreadsheet itself shows a number that has lost digits.
        format!("{f:E}")
    } else {
        format!("{f}")
    }
}

/// An exact whole number that fits the limit, as digits.
fn exact_integer(f: f64, below: f64) -> Option<String> {
    (f.is_finite() && f.fract() == 0.0 && f >= 0.0 && f < below).then(|| format!("{}", f as u64))
}

/// Check one cell of `row`.
pub fn check(column: Column, cell: &Cell, row: usize, today: NaiveDate) -> CellCheck {
    let shown = display(cell);
    let mut problems = Vec::new();
    let mut report = |severity: Severity, message: String| {
        problems.push(Problem {
            row,
            column: Some(column.name()),
            value: shown.clone(),
            message,
            severity,
        });
    };
    let value = match cell {
        Cell::Empty => {
            report(Severity::Error, "is empty".into());
            None
        }
        Cell::Error(_) => {
            report(
                Severity::Error,
                "is a spreadsheet error value; correct the formula or type the value".into(),
            );
            None
        }
        Cell::Bool(_) => {
            report(
                Severity::Error,
                format!(
                    "is a TRUE/FALSE cell, not a value customs knows; {}",
                    type_it(column)
                ),
            );
            None
        }
        Cell::Time(_) => {
            report(
                Severity::Error,
                format!(
                    "is a time of day or a duration without a date (a spreadsheet shows it as \
                     1899-12-31); {}",
                    type_it(column)
                ),
            );
            None
        }
        Cell::TooLong { chars, .. } => {
            report(
                Severity::Error,
                format!(
                    "is {chars} characters long, over the bound for one cell \
                     (KIRIM_XRAY_MAX_CELL_CHARS); only its start is shown"
                ),
            );
            None
        }
        _ => match column {
            Column::NomorAju => identifier(cell, Column::NomorAju, &mut report),
            Column::NomorBlAwb => identifier(cell, Column::NomorBlAwb, &mut report),
            Column::TanggalBlAwb => date(cell, today, &mut report),
            Column::KodeKantor => office_code(cell, &mut report),
            Column::Folder => folder(cell, &mut report),
        },
    };
    CellCheck {
        text: value.clone().unwrap_or(shown),
        value,
        problems,
    }
}

type Report<'a> = dyn FnMut(Severity, String) + 'a;

/// What to type instead of a cell of the wrong kind.
fn type_it(column: Column) -> &'static str {
    match column {
        Column::TanggalBlAwb => "type the date as yyyy-MM-dd",
        _ => "type the value as text",
    }
}

/// nomorAju and nomorBlAwb. A number in nomorAju is always refused: a real nomorAju has 40+
/// characters, so a numeric one has lost digits. A BL/AWB can be a plain number; it is accepted
/// when it is an exact integer (below 2^53), with a warning. Text must keep to the documented
/// characters and length: anything else (quotes, a formula, a pasted paragraph) would reach customs
/// as it is, and a too-long value can be stored but never looked up again.
fn identifier(cell: &Cell, column: Column, report: &mut Report) -> Option<String> {
    let number_allowed = column == Column::NomorBlAwb;
    let text = match cell {
        Cell::Text(s) => s.clone(),
        Cell::Number(f) => match exact_integer(*f, EXACT_INTEGER_LIMIT) {
            Some(digits) if number_allowed => {
                report(
                    Severity::Warning,
                    format!(
                        "was typed as a number; read as \"{digits}\" (format the column as Text \
                         so that no digit can be lost)"
                    ),
                );
                digits
            }
            _ => {
                report(
                    Severity::Error,
                    "was typed as a number, so digits have been lost; format the column as Text \
                     and type the value again"
                        .into(),
                );
                return None;
            }
        },
        Cell::Date(_) | Cell::DateTime(_) => {
            report(
                Severity::Error,
                "is a date cell, not text; format the column as Text and type the value again"
                    .into(),
            );
            return None;
        }
        _ => return None,
    };
    let problem = identifier_problem(&text, column);
    if let Some(message) = problem {
        report(Severity::Error, message);
        return None;
    }
    Some(text)
}

/// What is wrong with a nomorAju or nomorBlAwb typed as text, if anything.
pub fn identifier_problem(text: &str, column: Column) -> Option<String> {
    let name = column.name();
    let max = if column == Column::NomorAju {
        MAX_AJU_CHARS
    } else {
        MAX_BL_AWB_CHARS
    };
    if text.chars().any(unseen) {
        return Some(
            "contains a control or invisible character (a tab, a line break, a zero-width \
             space?)"
                .into(),
        );
    }
    if text.chars().any(char::is_whitespace) {
        return Some("contains a space".into());
    }
    if let Some(first) = text.chars().next().filter(|c| FORMULA_STARTS.contains(c)) {
        return Some(format!(
            "looks like a spreadsheet formula (it starts with \"{first}\"); type the {name} \
             itself"
        ));
    }
    if let Some(quote) = text.chars().find(|c| QUOTES.contains(c)) {
        return Some(format!(
            "contains a quote ({quote}), which no {name} holds: the remains of a broken export? \
             Type the value without quotes"
        ));
    }
    if let Some(other) = text
        .chars()
        .find(|c| !c.is_ascii_alphanumeric() && !ID_PUNCTUATION.contains(*c))
    {
        return Some(format!(
            "contains \"{other}\", which no {name} holds (letters, digits and - _ . / only)"
        ));
    }
    let chars = text.chars().count();
    if chars > max {
        return Some(format!(
            "is {chars} characters long; a {name} has at most {max}"
        ));
    }
    None
}

/// Invisible characters pasted from web pages are as wrong as control characters, and harder
/// to see in the spreadsheet.
fn unseen(c: char) -> bool {
    c.is_control() || matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
}

/// tanggalBlAwb: strict `yyyy-MM-dd` text, or a date cell; not after tomorrow.
fn date(cell: &Cell, today: NaiveDate, report: &mut Report) -> Option<String> {
    let date = match cell {
        Cell::Text(s) => text_date(s, report)?,
        Cell::Date(d) => *d,
        Cell::DateTime(dt) => {
            report(
                Severity::Warning,
                format!(
                    "has the time {} as well, which is dropped: only the date {} is sent",
                    dt.time().format("%H:%M:%S"),
                    dt.date().format("%Y-%m-%d")
                ),
            );
            dt.date()
        }
        Cell::Number(f) => number_date(*f, report)?,
        _ => return None,
    };
    in_range(date, today, report)?;
    Some(date.format("%Y-%m-%d").to_string())
}

/// A date typed as text: exactly `yyyy-MM-dd`, and a real calendar day.
fn text_date(s: &str, report: &mut Report) -> Option<NaiveDate> {
    let shaped = s.len() == 10
        && s.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    if !shaped {
        report(
            Severity::Error,
            "is not a date in the form yyyy-MM-dd (for example 2026-01-31)".into(),
        );
        return None;
    }
    match NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        Ok(d) => Some(d),
        Err(_) => {
            report(Severity::Error, "is not a real calendar date".into());
            None
        }
    }
}

/// A date held as a number: a whole spreadsheet serial is read as its date (with a warning).
fn number_date(f: f64, report: &mut Report) -> Option<NaiveDate> {
    if f.is_finite() && f.fract() != 0.0 {
        // 45000.75 is a date and a time: which day was meant is not certain (a time zone
        // may have moved it), so it is not guessed.
        let shown = serial_date(f).map_or(String::new(), |d| {
            format!(" ({} and a time of day)", d.format("%Y-%m-%d"))
        });
        report(
            Severity::Error,
            format!(
                "is a number with a fraction{shown}; type the date as yyyy-MM-dd, or format \
                 the column as a date"
            ),
        );
        return None;
    }
    match serial_date(f) {
        Some(d) => {
            report(
                Severity::Warning,
                format!(
                    "is a number; read as the spreadsheet date {} (format the column as a \
                     date, or type yyyy-MM-dd)",
                    d.format("%Y-%m-%d")
                ),
            );
            Some(d)
        }
        None => {
            report(
                Severity::Error,
                "is a number, not a date in the form yyyy-MM-dd".into(),
            );
            None
        }
    }
}

/// A BL/AWB date is not before [`EARLIEST_DATE`] nor after tomorrow.
fn in_range(date: NaiveDate, today: NaiveDate, report: &mut Report) -> Option<()> {
    let (y, m, d) = EARLIEST_DATE;
    if let Some(earliest) = NaiveDate::from_ymd_opt(y, m, d)
        && date < earliest
    {
        report(
            Severity::Error,
            format!(
                "is before {}, the earliest BL/AWB date accepted (a spreadsheet shows \
                 1899-12-31 or 1900-01-01 for a time-only or zero cell)",
                earliest.format("%Y-%m-%d")
            ),
        );
        return None;
    }
    let tomorrow = today.checked_add_days(Days::new(1)).unwrap_or(today);
    if date > tomorrow {
        report(
            Severity::Error,
            format!(
                "is in the future (after tomorrow, {})",
                tomorrow.format("%Y-%m-%d")
            ),
        );
        return None;
    }
    Some(())
}

/// A spreadsheet date serial number (1900 date system) whose date part is the day.
fn serial_date(f: f64) -> Option<NaiveDate> {
    if !(1.0..2_958_466.0).contains(&f) {
        return None;
    }
    calamine::ExcelDateTime::new(f, calamine::ExcelDateTimeType::DateTime, false)
        .as_datetime()
        .map(|dt| dt.date())
}

/// kodeKantor: exactly 6 digits. A number of up to 6 digits lost its leading zeros: they are put
/// back, with a warning (unlike long numbers, nothing else can have been lost).
fn office_code(cell: &Cell, report: &mut Report) -> Option<String> {
    const EXPECTED: &str = "must be exactly 6 digits, such as 040300";
    match cell {
        Cell::Text(s) if s.len() == 6 && s.bytes().all(|b| b.is_ascii_digit()) => Some(s.clone()),
        Cell::Text(_) => {
            report(Severity::Error, EXPECTED.into());
            None
        }
        Cell::Number(f) => match exact_integer(*f, 1_000_000.0) {
            Some(digits) => {
                let padded = format!("{digits:0>6}");
                if padded != digits {
                    report(
                        Severity::Warning,
                        format!(
                            "was typed as a number and lost its leading zeros; read as \
                             \"{padded}\" (format the column as Text to keep them)"
                        ),
                    );
                }
                Some(padded)
            }
            None => {
                report(Severity::Error, EXPECTED.into());
                None
            }
        },
        Cell::Date(_) | Cell::DateTime(_) => {
            report(
                Severity::Error,
                format!("is a date cell; the office code {EXPECTED}"),
            );
            None
        }
        _ => None,
    }
}

/// folder: a path, relative to the images root.
fn folder(cell: &Cell, report: &mut Report) -> Option<String> {
    match cell {
        Cell::Text(s) => match folder_problem(s) {
            Some(message) => {
                report(Severity::Error, message);
                None
            }
            None => Some(s.clone()),
        },
        Cell::Number(f) => match exact_integer(*f, EXACT_INTEGER_LIMIT) {
            Some(digits) => {
                report(
                    Severity::Warning,
                    format!("was typed as a number; read as the folder \"{digits}\""),
                );
                Some(digits)
            }
            None => {
                report(Severity::Error, "is a number, not a folder name".into());
                None
            }
        },
        Cell::Date(_) | Cell::DateTime(_) => {
            report(Severity::Error, "is a date cell, not a folder name".into());
            None
        }
        _ => None,
    }
}

/// What is wrong with a folder cell, if anything: it is a path on this machine, so most
/// characters are fine, but not control characters, quotes or a formula.
fn folder_problem(text: &str) -> Option<String> {
    if text.chars().any(unseen) {
        return Some("contains a control or invisible character (a tab, a line break?)".into());
    }
    if text.contains('"') {
        return Some("contains a quote (\"): the remains of a broken export?".into());
    }
    if let Some(first) = text.chars().next().filter(|c| matches!(c, '=' | '+' | '@')) {
        return Some(format!(
            "looks like a spreadsheet formula (it starts with \"{first}\"); type the folder \
             itself"
        ));
    }
    let chars = text.chars().count();
    if chars > MAX_FOLDER_CHARS {
        return Some(format!(
            "is {chars} characters long; a folder has at most {MAX_FOLDER_CHARS}"
        ));
    }
    None
}

#[cfg(test)]
#[path = "cells_tests.rs"]
mod tests;
