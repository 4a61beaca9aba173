//! audit.xlsx, written row by row in constant memory: a sheet of documents (latest verdict), one
//! of evidence (every run's row for them, one line per photo with its sha256; a row without
//! photos on a line of its own), and one saying what the audit covered. nomorAju, nomorBlAwb, kodeKantor, file names and digests are text
//! cells (`009000` stays `009000`, a 44-digit nomorAju is not turned into a number); dates and
//! times are dates. A string cell is never a formula, whatever it starts with.

use std::path::Path;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Timelike};
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook, Worksheet, XlsxError};

use super::Scope;
use crate::escape::escape_control;
use crate::ledger::query::Doc;

struct Formats {
    text: Format,
    date: Format,
    time: Format,
    head: Format,
}

/// A worksheet being written: its next row, and the formats.
struct Sheet<'a> {
    ws: &'a mut Worksheet,
    row: u32,
    f: &'a Formats,
}

impl Sheet<'_> {
    /// The header row; `text` columns are formatted as text as a whole (what is typed into them
    /// later stays text), so their cells are written without a format of their own: looking a
    /// format up for every cell took a tenth of the audit.
    fn head(&mut self, names: &[&str], text: &[u16]) -> Result<(), XlsxError> {
        for (c, name) in names.iter().enumerate() {
            self.ws
                .write_string_with_format(0, c as u16, *name, &self.f.head)?;
            self.ws.set_column_width(c as u16, 18)?;
            if text.contains(&(c as u16)) {
                self.ws.set_column_format(c as u16, &self.f.text)?;
            }
        }
        self.ws.set_freeze_panes(1, 0)?;
        self.row = 1;
        Ok(())
    }

    fn text(&mut self, col: u16, value: &str) -> Result<(), XlsxError> {
        if value.is_empty() {
            // An empty cell, not an empty string: a smaller sheet, the same filter.
            return Ok(());
        }
        let value = escape_control(value);
        self.ws.write_string(self.row, col, value.as_ref())?;
        Ok(())
    }

    fn num(&mut self, col: u16, value: Option<i64>) -> Result<(), XlsxError> {
        if let Some(v) = value {
            self.ws.write_number(self.row, col, v as f64)?;
        }
        Ok(())
    }

    /// A `yyyy-mm-dd` date as a date cell; anything else as text.
    fn date(&mut self, col: u16, value: &str) -> Result<(), XlsxError> {
        match NaiveDate::parse_from_str(value, "%Y-%m-%d")
            .ok()
            .and_then(|d| excel_date(d).ok())
        {
            Some(d) => {
                self.ws
                    .write_datetime_with_format(self.row, col, d, &self.f.date)?;
                Ok(())
            }
            None => self.text(col, value),
        }
    }

    /// An RFC 3339 time (UTC) or a server's `yyyy-MM-dd HH:mm:ss` as a date-time cell; anything
    /// else as text, nothing as an empty cell.
    fn time(&mut self, col: u16, value: Option<&str>) -> Result<(), XlsxError> {
        let Some(value) = value else { return Ok(()) };
        let parsed = plain_utc(value)
            .or_else(|| {
                DateTime::parse_from_rfc3339(value)
                    .map(|t| t.naive_utc())
                    .or_else(|_| NaiveDateTime::parse_from_str(value, "%Y-%m-%d %H:%M:%S"))
                    .ok()
            })
            .and_then(|t| {
                excel_date(t.date())
                    .and_then(|d| d.and_hms(t.hour() as u16, t.minute() as u8, t.second()))
                    .ok()
            });
        match parsed {
            Some(t) => {
                self.ws
                    .write_datetime_with_format(self.row, col, t, &self.f.time)?;
                Ok(())
            }
            None => self.text(col, value),
        }
    }

    fn end(&mut self, cols: u16) -> Result<(), XlsxError> {
        if self.row > 1 {
            self.ws.autofilter(0, 0, self.row - 1, cols - 1)?;
        }
        Ok(())
    }
}

/// The two shapes nearly every time has, read without a general parser (a quarter of a million
/// of them in a month's audit): `yyyy-mm-ddThh:mm:ss[.fff]Z` (UTC, as the runs write them) and
/// the server's `yyyy-mm-dd hh:mm:ss`. Anything else is `None`, for the general parsers.
fn plain_utc(value: &str) -> Option<NaiveDateTime> {
    let b = value.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let rest = &b[19..];
    let utc = match b[10] {
        b'T' => match rest.split_last() {
            Some((b'Z', [])) => true,
            Some((b'Z', [b'.', digits @ ..])) => {
                !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
            }
            _ => false,
        },
        b' ' => rest.is_empty(),
        _ => false,
    };
    if !utc {
        return None;
    }
    let n = |from: usize, to: usize| -> Option<u32> {
        let s = value.get(from..to)?;
        if s.bytes().all(|c| c.is_ascii_digit()) {
            s.parse().ok()
        } else {
            None
        }
    };
    NaiveDate::from_ymd_opt(n(0, 4)? as i32, n(5, 7)?, n(8, 10)?)?.and_hms_opt(
        n(11, 13)?,
        n(14, 16)?,
        n(17, 19)?,
    )
}

fn excel_date(d: NaiveDate) -> Result<ExcelDateTime, XlsxError> {
    let year = u16::try_from(d.year()).map_err(|_| XlsxError::DateTimeRangeError(d.to_string()))?;
    ExcelDateTime::from_ymd(year, d.month() as u8, d.day() as u8)
}

const DOCS: [&str; 10] = [
    "nomorAju",
    "nomorBlAwb",
    "tanggalBlAwb",
    "kodeKantor",
    "status",
    "runs",
    "last_run",
    "last_command",
    "last_run_started",
    "message",
];

const EVIDENCE: [&str; 18] = [
    "nomorAju",
    "run",
    "command",
    "run_started",
    "row",
    "status",
    "action",
    "uploaded",
    "server_count",
    "file",
    "bytes",
    "sha256",
    "sent_in",
    "sent_at",
    "on_server",
    "server_waktuRekam",
    "missing_on_server",
    "message",
];

pub fn write(path: &Path, scope: &Scope, docs: &[Doc]) -> anyhow::Result<()> {
    let mut wb = Workbook::new();
    let f = Formats {
        text: Format::new().set_num_format("@"),
        date: Format::new().set_num_format("yyyy-mm-dd"),
        time: Format::new().set_num_format("yyyy-mm-dd hh:mm:ss"),
        head: Format::new().set_bold(),
    };
    documents(&mut wb, &f, docs)?;
    evidence(&mut wb, &f, docs)?;
    let ws = wb.add_worksheet().set_name("Audit")?;
    for (r, (k, v)) in [
        ("audit of", scope.title.as_str()),
        ("made at (UTC)", scope.made_at.as_str()),
        ("ledger", scope.ledger.as_str()),
        ("documents", &docs.len().to_string()),
    ]
    .iter()
    .enumerate()
    {
        ws.write_string(r as u32, 0, *k)?;
        ws.write_string(r as u32, 1, escape_control(v).as_ref())?;
    }
    // Written beside the target and renamed, like every other output.
    let mut builder = tempfile::Builder::new();
    builder.suffix(".xlsx");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let tmp = builder.tempfile_in(path.parent().unwrap_or(Path::new(".")))?;
    wb.save(tmp.path())?;
    tmp.persist(path)?;
    Ok(())
}

fn documents(wb: &mut Workbook, f: &Formats, docs: &[Doc]) -> anyhow::Result<()> {
    let ws = wb
        .add_worksheet_with_constant_memory()
        .set_name("Documents")?;
    let mut s = Sheet { ws, row: 0, f };
    s.head(&DOCS, &[0, 1, 3, 4, 6, 7, 9])?;
    for d in docs {
        let last = d.latest();
        s.text(0, &d.nomor_aju)?;
        s.text(1, &d.nomor_bl_awb)?;
        s.date(2, &d.tanggal_bl_awb)?;
        s.text(3, &d.kode_kantor)?;
        s.text(4, &last.status)?;
        s.num(5, Some(d.history.len() as i64))?;
        s.text(6, &last.run)?;
        s.text(7, &last.command)?;
        s.time(8, Some(&last.run_started))?;
        s.text(9, &last.message)?;
        s.row += 1;
    }
    s.end(DOCS.len() as u16)?;
    Ok(())
}

fn evidence(wb: &mut Workbook, f: &Formats, docs: &[Doc]) -> anyhow::Result<()> {
    let ws = wb
        .add_worksheet_with_constant_memory()
        .set_name("Evidence")?;
    let mut s = Sheet { ws, row: 0, f };
    s.head(&EVIDENCE, &[0, 1, 2, 5, 6, 9, 11, 12, 14, 16, 17])?;
    for d in docs {
        for t in &d.history {
            let photos = t.photos.iter().map(Some);
            let lines: Box<dyn Iterator<Item = Option<&crate::ledger::query::Photo>>> =
                if t.photos.is_empty() {
                    Box::new(std::iter::once(None))
                } else {
                    Box::new(photos)
                };
            for p in lines {
                s.text(0, &d.nomor_aju)?;
                s.text(1, &t.run)?;
                s.text(2, &t.command)?;
                s.time(3, Some(&t.run_started))?;
                s.num(4, Some(t.row))?;
                s.text(5, &t.status)?;
                s.text(6, &t.action)?;
                s.num(7, Some(t.uploaded))?;
                s.num(8, t.server_count)?;
                if let Some(p) = p {
                    s.text(9, &p.file)?;
                    s.num(10, Some(p.bytes))?;
                    s.text(11, &p.sha256)?;
                    s.text(12, &p.sent_in)?;
                    s.time(13, p.sent_at.as_deref())?;
                    let on = p.on_server.map(|b| if b { "yes" } else { "no" });
                    s.text(14, on.unwrap_or(""))?;
                    s.time(15, p.waktu_rekam.as_deref())?;
                }
                s.text(16, &t.missing_on_server.join(", "))?;
                s.text(17, &t.message)?;
                s.row += 1;
            }
        }
    }
    s.end(EVIDENCE.len() as u16)?;
    Ok(())
}

#[cfg(test)]
mod time_tests {
    use super::*;

    #[test]
    fn plain_times_read_as_the_general_parsers_read_them() {
        for v in [
            "2026-10-01T20:15:03Z",
            "2026-10-01T20:15:03.123Z",
            "2026-10-02 03:00:01",
            "2024-02-29T23:59:59.999999999Z",
        ] {
            let general = DateTime::parse_from_rfc3339(v)
                .map(|t| t.naive_utc())
                .or_else(|_| NaiveDateTime::parse_from_str(v, "%Y-%m-%d %H:%M:%S"))
                .unwrap();
            assert_eq!(
                plain_utc(v),
                Some(general.with_nanosecond(0).unwrap()),
                "{v}"
            );
        }
        for v in [
            "2026-10-01T20:15:03+07:00",
            "2026-10-01T20:15:03",
            "2026-10-01T20:15:03.Z",
            "2026-13-01T20:15:03Z",
            "2026-10-01 20:15:03Z",
            "2026-1a-01 20:15:03",
            "２０２6-10-01 20:15:03",
            "",
        ] {
            assert_eq!(plain_utc(v), None, "{v}");
        }
    }
}
