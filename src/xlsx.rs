//! Excel workbooks for auditors. A CSV opened by double-click loses what matters to customs
//! (`009000` becomes `9000`, a 44-digit nomorAju becomes `1.23457E+43`); a workbook says which
//! cells are text, which are numbers and which are dates. This module is the reusable part: a
//! sheet of typed columns with a frozen header, an autofilter and status colours, written one row
//! at a time in constant memory, so that a workbook of 100k rows costs no more memory than one of
//! ten. results.xlsx (see `report::excel`) is built on it.

use std::path::Path;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Timelike};
use rust_xlsxwriter::{Color, ExcelDateTime, Format, FormatBorder, Workbook, Worksheet, XlsxError};

use crate::escape::escape_control;

/// Rows of one worksheet (Excel's limit), the header included.
pub const MAX_ROWS: u32 = 1_048_576;
/// Characters of one cell (Excel's limit).
const MAX_CELL_CHARS: usize = 32_767;

/// How the cells of a column are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Always text, whatever it looks like: document numbers, office codes, names.
    Text,
    /// A whole number when the cell is one, else text.
    Integer,
    /// `YYYY-MM-DD` as a date, else text.
    Date,
    /// RFC 3339 (`2025-01-02T03:04:05Z`, shown in UTC) or `YYYY-MM-DD HH:MM:SS` as a date and
    /// time, else text.
    DateTime,
    /// A row status (`MATCH`, `FAILED`...), as text coloured by its value.
    Status,
}

/// One column: its header and how its cells are written.
#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub kind: Kind,
    /// Width in characters.
    pub width: f64,
}

impl Column {
    pub fn new(name: impl Into<String>, kind: Kind) -> Column {
        let width = match kind {
            Kind::Integer => 10.0,
            Kind::Date => 12.0,
            Kind::DateTime => 20.0,
            Kind::Status => 12.0,
            Kind::Text => 18.0,
        };
        Column {
            name: name.into(),
            kind,
            width,
        }
    }

    pub fn width(mut self, width: f64) -> Column {
        self.width = width;
        self
    }
}

/// One cell given with its own kind, for sheets whose columns mix kinds (a summary's values).
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    Text(&'a str),
    Number(f64),
    Blank,
}

struct Formats {
    header: Format,
    text: Format,
    date: Format,
    datetime: Format,
    /// Status value → its format; other statuses get `text`.
    status: Vec<(&'static str, Format)>,
}

impl Formats {
    fn new() -> Formats {
        let fill = |bg: u32, fg: u32| {
            Format::new()
                .set_num_format("@")
                .set_background_color(Color::RGB(bg))
                .set_font_color(Color::RGB(fg))
        };
        Formats {
            header: Format::new()
                .set_bold()
                .set_num_format("@")
                .set_background_color(Color::RGB(0xDDE4EE))
                .set_border_bottom(FormatBorder::Thin),
            text: Format::new().set_num_format("@"),
            date: Format::new().set_num_format("yyyy-mm-dd"),
            datetime: Format::new().set_num_format("yyyy-mm-dd hh:mm:ss"),
            status: vec![
                ("MATCH", fill(0xC6EFCE, 0x006100)),
                ("MISMATCH", fill(0xFFC7CE, 0x9C0006)),
                ("NOT_FOUND", fill(0xFFC7CE, 0x9C0006)),
                ("FAILED", fill(0xFFC7CE, 0x9C0006)),
                ("INVALID", fill(0xFFEB9C, 0x9C5700)),
                ("SKIPPED", fill(0xE7E6E6, 0x3A3A3A)),
            ],
        }
    }

    fn status(&self, value: &str) -> &Format {
        self.status
            .iter()
            .find(|(s, _)| *s == value)
            .map_or(&self.text, |(_, f)| f)
    }
}

/// A workbook being written. Sheets are written one after the other, each row once, in order.
pub struct Book {
    workbook: Workbook,
    formats: Formats,
}

impl Default for Book {
    fn default() -> Self {
        Book::new()
    }
}

impl Book {
    pub fn new() -> Book {
        Book {
            workbook: Workbook::new(),
            formats: Formats::new(),
        }
    }

    /// Start a sheet named `name` with `columns`: the header row is written, frozen and filtered.
    pub fn sheet(&mut self, name: &str, columns: Vec<Column>) -> Result<Sheet<'_>, XlsxError> {
        let ws = self.workbook.add_worksheet_with_constant_memory();
        ws.set_name(name)?;
        for (c, column) in columns.iter().enumerate() {
            let c = col(c)?;
            ws.set_column_width(c, column.width)?;
            ws.write_string_with_format(0, c, cell_text(&column.name), &self.formats.header)?;
        }
        ws.set_freeze_panes(1, 0)?;
        Ok(Sheet {
            ws,
            formats: &self.formats,
            columns,
            next_row: 1,
            left_out: 0,
        })
    }

    /// Save to `dir/name` atomically (temporary file, then rename), as every run output.
    pub fn save(mut self, dir: &Path, name: &str) -> anyhow::Result<()> {
        crate::report::write_atomic_with(dir, name, |file| {
            self.workbook.save_to_writer(file)?;
            Ok(())
        })
    }
}

/// A sheet being written, row by row.
pub struct Sheet<'a> {
    ws: &'a mut Worksheet,
    formats: &'a Formats,
    columns: Vec<Column>,
    next_row: u32,
    /// Rows past Excel's limit, counted and said in the last row instead.
    left_out: u64,
}

impl Sheet<'_> {
    /// Append one row, each cell written as its column's kind. Cells past the last column are
    /// ignored; missing ones are blank.
    pub fn push<S: AsRef<str>>(&mut self, cells: &[S]) -> Result<(), XlsxError> {
        let Some(row) = self.take_row() else {
            return Ok(());
        };
        for (c, (value, column)) in cells.iter().zip(&self.columns).enumerate() {
            write_as(
                self.ws,
                self.formats,
                row,
                col(c)?,
                value.as_ref(),
                column.kind,
            )?;
        }
        Ok(())
    }

    /// Append one row whose cells carry their own kind.
    pub fn push_cells(&mut self, cells: &[Cell<'_>]) -> Result<(), XlsxError> {
        let Some(row) = self.take_row() else {
            return Ok(());
        };
        for (c, cell) in cells.iter().enumerate() {
            let c = col(c)?;
            match cell {
                Cell::Text(s) => {
                    self.ws
                        .write_string_with_format(row, c, cell_text(s), &self.formats.text)?;
                }
                Cell::Number(n) => {
                    self.ws.write_number(row, c, *n)?;
                }
                Cell::Blank => {}
            }
        }
        Ok(())
    }

    /// The row to write next; `None` past Excel's limit (the last row is kept for saying so).
    fn take_row(&mut self) -> Option<u32> {
        if self.next_row >= MAX_ROWS - 1 {
            self.left_out += 1;
            return None;
        }
        self.next_row += 1;
        Some(self.next_row - 1)
    }

    /// Rows written so far, the header excluded.
    pub fn rows(&self) -> u32 {
        self.next_row - 1
    }

    /// End the sheet: the autofilter over every row written, and a last row saying how many rows
    /// did not fit, when some did not.
    pub fn finish(self) -> Result<(), XlsxError> {
        let last_col = col(self.columns.len().saturating_sub(1))?;
        self.ws
            .autofilter(0, 0, self.next_row.saturating_sub(1), last_col)?;
        if self.left_out > 0 {
            let note = format!(
                "{} more rows do not fit in a worksheet: see the CSV file",
                self.left_out
            );
            self.ws
                .write_string_with_format(self.next_row, 0, note, &self.formats.header)?;
        }
        Ok(())
    }
}

fn col(c: usize) -> Result<u16, XlsxError> {
    u16::try_from(c).map_err(|_| XlsxError::RowColumnLimitError)
}

/// Text as a cell holds it: control characters escaped as in every output for people, cut at
/// Excel's limit.
fn cell_text(s: &str) -> String {
    let s = escape_control(s);
    match s.char_indices().nth(MAX_CELL_CHARS) {
        Some((cut, _)) => s[..cut].to_string(),
        None => s.into_owned(),
    }
}

fn write_as(
    ws: &mut Worksheet,
    formats: &Formats,
    row: u32,
    c: u16,
    value: &str,
    kind: Kind,
) -> Result<(), XlsxError> {
    if value.is_empty() {
        return Ok(());
    }
    match kind {
        Kind::Integer => {
            if let Some(n) = integer(value) {
                ws.write_number(row, c, n)?;
                return Ok(());
            }
        }
        Kind::Date => {
            if let Some(d) = date(value) {
                ws.write_datetime_with_format(row, c, d, &formats.date)?;
                return Ok(());
            }
        }
        Kind::DateTime => {
            if let Some(d) = datetime(value) {
                ws.write_datetime_with_format(row, c, d, &formats.datetime)?;
                return Ok(());
            }
        }
        Kind::Status => {
            ws.write_string_with_format(row, c, cell_text(value), formats.status(value))?;
            return Ok(());
        }
        Kind::Text => {}
    }
    ws.write_string_with_format(row, c, cell_text(value), &formats.text)?;
    Ok(())
}

/// A whole number that a spreadsheet shows exactly (no leading zero, at most 15 digits).
fn integer(value: &str) -> Option<f64> {
    let digits = value.strip_prefix('-').unwrap_or(value);
    let exact = !digits.is_empty()
        && digits.len() <= 15
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    exact
        .then(|| value.parse::<i64>().ok())
        .flatten()
        .map(|n| n as f64)
}

fn date(value: &str) -> Option<ExcelDateTime> {
    let d = NaiveDate::parse_from_str(value, "%Y-%m-%d").ok()?;
    excel_date(d)
}

fn excel_date(d: NaiveDate) -> Option<ExcelDateTime> {
    ExcelDateTime::from_ymd(
        u16::try_from(d.year()).ok()?,
        u8::try_from(d.month()).ok()?,
        u8::try_from(d.day()).ok()?,
    )
    .ok()
}

fn datetime(value: &str) -> Option<ExcelDateTime> {
    let t = match DateTime::parse_from_rfc3339(value) {
        Ok(t) => t.naive_utc(),
        Err(_) => NaiveDateTime::parse_from_str(value, "%Y-%m-%d %H:%M:%S").ok()?,
    };
    excel_date(t.date())?
        .and_hms(
            u16::try_from(t.hour()).ok()?,
            u8::try_from(t.minute()).ok()?,
            t.second(),
        )
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use calamine::{Data, DataType, Reader, Xlsx, open_workbook};

    fn read(path: &Path, sheet: &str) -> Vec<Vec<Data>> {
        let mut book: Xlsx<_> = open_workbook(path).unwrap();
        let range = book.worksheet_range(sheet).unwrap();
        range.rows().map(<[Data]>::to_vec).collect()
    }

    #[test]
    fn cells_keep_their_kind_and_text_stays_text() {
        let dir = tempfile::tempdir().unwrap();
        let mut book = Book::new();
        let mut sheet = book
            .sheet(
                "t",
                vec![
                    Column::new("aju", Kind::Text),
                    Column::new("n", Kind::Integer),
                    Column::new("d", Kind::Date),
                    Column::new("at", Kind::DateTime),
                    Column::new("status", Kind::Status),
                ],
            )
            .unwrap();
        let aju = "12345678901234567890123456789012345678901234";
        sheet
            .push(&[aju, "42", "2025-01-02", "2025-01-02T03:04:05Z", "MATCH"])
            .unwrap();
        sheet
            .push(&["009000", "0042", "2025-13-40", "not a time", "FAILED"])
            .unwrap();
        sheet.push(&["a\nb", "", "", "", "NEW"]).unwrap();
        assert_eq!(sheet.rows(), 3);
        sheet.finish().unwrap();
        book.save(dir.path(), "t.xlsx").unwrap();

        let rows = read(&dir.path().join("t.xlsx"), "t");
        assert_eq!(rows[0][0], Data::String("aju".into()));
        assert_eq!(rows[1][0], Data::String(aju.into()));
        assert_eq!(rows[1][1], Data::Float(42.0));
        assert!(matches!(rows[1][2], Data::DateTime(_)), "{:?}", rows[1][2]);
        let at = rows[1][3].as_datetime().unwrap();
        assert_eq!(at.to_string(), "2025-01-02 03:04:05");
        assert_eq!(rows[1][4], Data::String("MATCH".into()));
        assert_eq!(rows[2][0], Data::String("009000".into()));
        assert_eq!(
            rows[2][1],
            Data::String("0042".into()),
            "a leading zero stays"
        );
        assert_eq!(rows[2][2], Data::String("2025-13-40".into()));
        assert_eq!(rows[2][3], Data::String("not a time".into()));
        assert_eq!(rows[3][0], Data::String("a\\nb".into()));
        assert_eq!(rows[3][1], Data::Empty);
    }

    #[test]
    fn the_header_is_frozen_and_filtered() {
        let dir = tempfile::tempdir().unwrap();
        let mut book = Book::new();
        let mut sheet = book
            .sheet(
                "s",
                vec![Column::new("a", Kind::Text), Column::new("b", Kind::Text)],
            )
            .unwrap();
        sheet.push(&["x", "y"]).unwrap();
        sheet.push(&["z", "w"]).unwrap();
        sheet.finish().unwrap();
        book.save(dir.path(), "s.xlsx").unwrap();
        let file = std::fs::File::open(dir.path().join("s.xlsx")).unwrap();
        let mut zip = zip::ZipArchive::new(file).unwrap();
        let mut xml = String::new();
        std::io::Read::read_to_string(
            &mut zip.by_name("xl/worksheets/sheet1.xml").unwrap(),
            &mut xml,
        )
        .unwrap();
        assert!(
            xml.contains(
                r#"<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>"#
            ),
            "{xml}"
        );
        assert!(xml.contains(r#"<autoFilter ref="A1:B3"/>"#), "{xml}");
    }

    #[test]
    fn only_exact_whole_numbers_become_numbers() {
        assert_eq!(integer("0"), Some(0.0));
        assert_eq!(integer("120"), Some(120.0));
        assert_eq!(integer("007"), None);
        assert_eq!(integer("1234567890123456"), None, "past 15 digits");
        assert_eq!(integer("1e5"), None);
        assert_eq!(integer(""), None);
    }
}
