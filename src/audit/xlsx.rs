//! audit.xlsx, written row by row in constant memory: a sheet of documents (latest verdict), one
//! of every run's row for them (the history), one of every photo with its sha256, and one saying
//! what the audit covered. nomorAju, nomorBlAwb, kodeKantor, file names and digests are text
//! cells (`009000` stays `009000`, a 44-digit nomorAju is not turned into a number); dates and
//! times are dates. A string cell is never a formula, whatever it starts with.

use std::path::Path;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Timelike};
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook, Worksheet, XlsxError};

use super::{Scope, history_line};
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
    fn head(&mut self, names: &[&str]) -> Result<(), XlsxError> {
        for (c, name) in names.iter().enumerate() {
            self.ws
                .write_string_with_format(0, c as u16, *name, &self.f.head)?;
            self.ws.set_column_width(c as u16, 18)?;
        }
        self.ws.set_freeze_panes(1, 0)?;
        self.row = 1;
        Ok(())
    }

    fn text(&mut self, col: u16, value: &str) -> Result<(), XlsxError> {
        let value = escape_control(value);
        self.ws
            .write_string_with_format(self.row, col, value.as_ref(), &self.f.text)?;
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
        let parsed = DateTime::parse_from_rfc3339(value)
            .map(|t| t.naive_utc())
            .or_else(|_| NaiveDateTime::parse_from_str(value, "%Y-%m-%d %H:%M:%S"))
            .ok()
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

fn excel_date(d: NaiveDate) -> Result<ExcelDateTime, XlsxError> {
    let year = u16::try_from(d.year()).map_err(|_| XlsxError::DateTimeRangeError(d.to_string()))?;
    ExcelDateTime::from_ymd(year, d.month() as u8, d.day() as u8)
}

const DOCS: [&str; 12] = [
    "nomorAju",
    "nomorBlAwb",
    "tanggalBlAwb",
    "kodeKantor",
    "status",
    "runs",
    "last_run",
    "last_command",
    "last_run_started",
    "history",
    "photos",
    "message",
];

const HISTORY: [&str; 16] = [
    "nomorAju",
    "run",
    "command",
    "run_started",
    "row",
    "status",
    "action",
    "local_count",
    "uploaded",
    "server_count",
    "attempts",
    "requests",
    "missing_on_server",
    "extra_on_server",
    "message",
    "finished_at",
];

const PHOTOS: [&str; 11] = [
    "nomorAju",
    "run",
    "row",
    "file",
    "bytes",
    "sha256",
    "content_type",
    "sent_in",
    "sent_at",
    "on_server",
    "server_waktuRekam",
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
    history(&mut wb, &f, docs)?;
    photos(&mut wb, &f, docs)?;
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
    s.head(&DOCS)?;
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
        s.text(9, &history_line(d))?;
        s.num(10, Some(last.photos.len() as i64))?;
        s.text(11, &last.message)?;
        s.row += 1;
    }
    s.end(DOCS.len() as u16)?;
    Ok(())
}

fn history(wb: &mut Workbook, f: &Formats, docs: &[Doc]) -> anyhow::Result<()> {
    let ws = wb
        .add_worksheet_with_constant_memory()
        .set_name("History")?;
    let mut s = Sheet { ws, row: 0, f };
    s.head(&HISTORY)?;
    for d in docs {
        for t in &d.history {
            s.text(0, &d.nomor_aju)?;
            s.text(1, &t.run)?;
            s.text(2, &t.command)?;
            s.time(3, Some(&t.run_started))?;
            s.num(4, Some(t.row))?;
            s.text(5, &t.status)?;
            s.text(6, &t.action)?;
            s.num(7, Some(t.local_count))?;
            s.num(8, Some(t.uploaded))?;
            s.num(9, t.server_count)?;
            s.num(10, Some(t.attempts))?;
            s.num(11, Some(t.requests))?;
            s.text(12, &t.missing_on_server.join(", "))?;
            s.text(13, &t.extra_on_server.join(", "))?;
            s.text(14, &t.message)?;
            s.time(15, t.finished_at.as_deref())?;
            s.row += 1;
        }
    }
    s.end(HISTORY.len() as u16)?;
    Ok(())
}

fn photos(wb: &mut Workbook, f: &Formats, docs: &[Doc]) -> anyhow::Result<()> {
    let ws = wb.add_worksheet_with_constant_memory().set_name("Photos")?;
    let mut s = Sheet { ws, row: 0, f };
    s.head(&PHOTOS)?;
    for d in docs {
        for t in &d.history {
            for p in &t.photos {
                s.text(0, &d.nomor_aju)?;
                s.text(1, &t.run)?;
                s.num(2, Some(t.row))?;
                s.text(3, &p.file)?;
                s.num(4, Some(p.bytes))?;
                s.text(5, &p.sha256)?;
                s.text(6, &p.content_type)?;
                s.text(7, &p.sent_in)?;
                s.time(8, p.sent_at.as_deref())?;
                let on = p.on_server.map(|b| if b { "yes" } else { "no" });
                s.text(9, on.unwrap_or(""))?;
                s.time(10, p.waktu_rekam.as_deref())?;
                s.row += 1;
            }
        }
    }
    s.end(PHOTOS.len() as u16)?;
    Ok(())
}
