//! Problems as people read them: one line each (`manifest.xlsx row 17, column tanggalBlAwb:
//! "17/11/2026" is not a date in the form yyyy-MM-dd ...`) for logs, or an aligned table for the
//! `validate` command and the start of a run.

use super::{Problem, Severity, Totals};
use crate::escape::escape_control;

/// Values longer than this are cut in the table (the one-line form shows them whole).
const MAX_VALUE_WIDTH: usize = 48;

/// One problem as a sentence that names the file, the row, the column (or the photo) and the value.
pub fn format_problem(manifest_name: &str, problem: &Problem) -> String {
    let severity = match problem.severity {
        Severity::Error => "",
        Severity::Warning => "warning: ",
    };
    let line = format!(
        "{severity}{manifest_name} row {}, {}",
        problem.row,
        describe_problem(problem)
    );
    escape_control(&line).into_owned()
}

/// One problem within its row (for a row's message in results.csv): `column kodeKantor: "9000"
/// was padded` or `photo "label.jpg" is empty (0 bytes)`.
pub fn describe_problem(problem: &Problem) -> String {
    let subject = match problem.column {
        Some(column) => format!("column {column}:"),
        None => "photo".to_string(),
    };
    if problem.value.is_empty() {
        format!("{subject} {}", problem.message)
    } else {
        format!("{subject} \"{}\" {}", problem.value, problem.message)
    }
}

/// An aligned table of problems: row, severity, column (or `photo`), value, message; titled with
/// the manifest's name. Empty when there is no problem.
pub fn render_problems_table(manifest_name: &str, problems: &[&Problem]) -> String {
    let mut table = ProblemTable::default();
    problems.iter().for_each(|p| table.measure(p));
    let mut out = table.head(manifest_name);
    for p in problems {
        out.push_str(&table.line(p));
    }
    out
}

const TABLE_HEADER: [&str; 5] = ["ROW", "SEVERITY", "COLUMN", "VALUE", "MESSAGE"];

/// The table of [`render_problems_table`], one line at a time: the column widths are measured
/// over every problem first, so that the problems can be read twice from disk rather than all
/// held in memory.
#[derive(Debug, Clone)]
pub struct ProblemTable {
    widths: [usize; 5],
    count: usize,
}

impl Default for ProblemTable {
    fn default() -> ProblemTable {
        ProblemTable {
            widths: TABLE_HEADER.map(|h| h.chars().count()),
            count: 0,
        }
    }
}

impl ProblemTable {
    /// Count one problem and widen the columns for it.
    pub fn measure(&mut self, p: &Problem) {
        self.count += 1;
        for (width, cell) in self.widths.iter_mut().zip(cells(p)) {
            *width = (*width).max(cell.chars().count());
        }
    }

    /// The title and the header line; empty when no problem was measured.
    pub fn head(&self, manifest_name: &str) -> String {
        if self.count == 0 {
            return String::new();
        }
        let manifest_name = escape_control(manifest_name);
        let count = self.count;
        format!(
            "{manifest_name}: {count} problem{}\n{}",
            if count == 1 { "" } else { "s" },
            self.aligned(&TABLE_HEADER.map(str::to_string))
        )
    }

    /// The line of one (measured) problem.
    pub fn line(&self, p: &Problem) -> String {
        self.aligned(&cells(p))
    }

    fn aligned(&self, line: &[String; 5]) -> String {
        let mut text = String::new();
        for (i, (cell, width)) in line.iter().zip(self.widths).enumerate() {
            if i + 1 == line.len() {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<width$}  "));
            }
        }
        let mut text = text.trim_end().to_string();
        text.push('\n');
        text
    }
}

/// The cells of a problem's line in the table.
fn cells(p: &Problem) -> [String; 5] {
    [
        p.row.to_string(),
        match p.severity {
            Severity::Error => "error".to_string(),
            Severity::Warning => "warning".to_string(),
        },
        p.column.unwrap_or("photo").to_string(),
        escape_control(&shorten(&p.value)).into_owned(),
        escape_control(&p.message).into_owned(),
    ]
}

/// Cut a long value in the middle of nowhere but keep both ends, which identify it. The caller
/// escapes what is left, so that an escape is never cut in half.
fn shorten(value: &str) -> String {
    let count = value.chars().count();
    if count <= MAX_VALUE_WIDTH {
        return value.to_string();
    }
    let head: String = value.chars().take(MAX_VALUE_WIDTH - 13).collect();
    let tail: String = value.chars().skip(count - 10).collect();
    format!("{head}...{tail}")
}

/// `manifest.csv: 12 rows, 9 valid, 3 invalid; 3 errors, 1 warning; 28 photos (81.2 KiB) in the
/// valid rows` (no line end).
pub fn render_totals(manifest_name: &str, t: &Totals) -> String {
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let manifest_name = escape_control(manifest_name);
    format!(
        "{manifest_name}: {}, {} valid, {} invalid; {}, {}; {} ({}) in the valid rows",
        plural(t.rows, "row", "rows"),
        t.valid,
        t.invalid,
        plural(t.errors, "error", "errors"),
        plural(t.warnings, "warning", "warnings"),
        plural(t.photos, "photo", "photos"),
        human_bytes(t.bytes),
    )
}

/// 1536 → "1.5 KiB".
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(
        column: Option<&'static str>,
        value: &str,
        message: &str,
        severity: Severity,
    ) -> Problem {
        Problem {
            row: 7,
            column,
            value: value.into(),
            message: message.into(),
            severity,
        }
    }

    #[test]
    fn one_line_names_file_row_column_and_value() {
        let p = problem(
            Some("tanggalBlAwb"),
            "17/11/2026",
            "is not a date in the form yyyy-MM-dd (for example 2026-01-31)",
            Severity::Error,
        );
        assert_eq!(
            format_problem("manifest.xlsx", &p),
            r#"manifest.xlsx row 7, column tanggalBlAwb: "17/11/2026" is not a date in the form yyyy-MM-dd (for example 2026-01-31)"#
        );
        let p = problem(None, "label.jpg", "is empty (0 bytes)", Severity::Error);
        assert_eq!(
            format_problem("m.csv", &p),
            r#"m.csv row 7, photo "label.jpg" is empty (0 bytes)"#
        );
        let p = problem(Some("kodeKantor"), "9000", "was padded", Severity::Warning);
        assert_eq!(
            format_problem("m.csv", &p),
            r#"warning: m.csv row 7, column kodeKantor: "9000" was padded"#
        );
    }

    #[test]
    fn the_table_is_aligned() {
        let a = problem(Some("kodeKantor"), "9000", "lost zeros", Severity::Warning);
        let b = problem(None, "label.jpg", "is not an image", Severity::Error);
        let table = render_problems_table("m.csv", &[&a, &b]);
        assert_eq!(
            table,
            "m.csv: 2 problems\n\
             ROW  SEVERITY  COLUMN      VALUE      MESSAGE\n\
             7    warning   kodeKantor  9000       lost zeros\n\
             7    error     photo       label.jpg  is not an image\n"
        );
        assert_eq!(render_problems_table("m.csv", &[]), "");
    }

    #[test]
    fn control_characters_are_escaped_in_lines_and_tables() {
        let p = problem(
            Some("folder"),
            "a\u{1b}[2J\r\nb",
            "does not exist (looked for /x/a\u{1b}[2J\r\nb)",
            Severity::Error,
        );
        let line = format_problem("m\u{1b}.csv", &p);
        assert_eq!(
            line,
            "m\\u{1b}.csv row 7, column folder: \"a\\u{1b}[2J\\r\\nb\" does not exist (looked for /x/a\\u{1b}[2J\\r\\nb)"
        );
        let table = render_problems_table("m\u{1b}.csv", &[&p]);
        assert_eq!(table.lines().count(), 3, "{table}");
        assert!(
            !table.chars().any(|c| c.is_control() && c != '\n'),
            "{table}"
        );
        assert!(table.contains("a\\u{1b}[2J\\r\\nb"), "{table}");
        let totals = render_totals("m\u{1b}.csv", &Totals::default());
        assert!(totals.starts_with("m\\u{1b}.csv: 0 rows"), "{totals}");
    }

    #[test]
    fn long_values_keep_both_ends() {
        let long = "012345678901234500000020250930CNTESTXRAY3CN1-and-some-more-text";
        let short = shorten(long);
        assert_eq!(short.chars().count(), MAX_VALUE_WIDTH - 13 + 3 + 10);
        assert!(short.starts_with("0123456789"));
        assert!(short.ends_with("-more-text"));
    }

    #[test]
    fn bytes_for_people() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(10 * 1024 * 1024), "10.0 MiB");
    }
}
