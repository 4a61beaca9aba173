//! report.html: the auditors' report. One self-contained file — no external font, stylesheet,
//! image or script, and a Content-Security-Policy that allows only the page's own script (by its
//! sha256) — so it opens the same from a USB stick years later, and opens at any size.
//!
//! Order of the page: the verdict (exit code, rows per status, photos, what needs attention),
//! the rows needing attention in full with their photos (the first [`ATTENTION_CAP`], and the
//! page says so when there are more), a search that finds any row by nomorAju or BL/AWB with its
//! photos and sha256, then the charts, the run's facts and the request counts. Every row is in the page, but as
//! compact text ([`data`]) that the search decodes on demand: the HTML of 100,000 rows would be
//! more than a browser can open.
//!
//! The rows are read twice, one at a time: once for the rows needing attention (all the page
//! keeps of them is the HTML of the first [`ATTENTION_CAP`] and the counts), once to write the
//! compact rows. Memory does not grow with the rows, so the rows can come from the journal on
//! disk as well as from a slice. Every text from the manifest, the file system or the server is
//! escaped on the way in ([`Esc`], and [`data`]'s own escapes).

mod charts;
pub(crate) mod data;
mod find;
mod header;
mod rows;
pub(crate) mod style;
#[cfg(test)]
mod tests;
#[cfg(test)]
pub(crate) mod tests_browser;
mod verdict;

use std::borrow::Borrow;
use std::fmt::{self, Write as _};
use std::io::{self, Write};

use anyhow::Context;

use crate::model::{RowResult, RowStatus};
use crate::report::summary::Summary;

/// Text made safe for HTML element content and quoted attribute values. A `Display` wrapper
/// rather than a function returning `String`, so escaping writes straight into the page.
pub(crate) struct Esc<'a>(pub &'a str);

impl fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        let mut start = 0;
        for (i, c) in s.char_indices() {
            let rep = match c {
                '&' => "&amp;",
                '<' => "&lt;",
                '>' => "&gt;",
                '"' => "&quot;",
                '\'' => "&#39;",
                // A carriage return stays in the text, as a character reference: a raw one
                // would let the file's bytes, read in a terminal, overwrite a line.
                '\r' => "&#13;",
                // Control characters (other than tab and line feeds) are not allowed in HTML
                // text; show that one was there rather than pass it on.
                c if c.is_control() && !matches!(c, '\t' | '\n') => "\u{FFFD}",
                _ => continue,
            };
            f.write_str(&s[start..i])?;
            f.write_str(rep)?;
            start = i + c.len_utf8();
        }
        f.write_str(&s[start..])
    }
}

/// `s` escaped for HTML, as a new string.
pub fn escape(s: &str) -> String {
    Esc(s).to_string()
}

/// Colour of a status, the same in the chart, the badges and the legend.
fn colour(status: RowStatus) -> &'static str {
    match status {
        RowStatus::Match => "#2e7d32",
        RowStatus::Mismatch => "#ef6c00",
        RowStatus::NotFound => "#6a1b9a",
        RowStatus::Invalid => "#c62828",
        RowStatus::Failed => "#7f0000",
        RowStatus::Skipped => "#616161",
    }
}

/// What a status means, in one line (DESIGN "Per-row protocol").
fn meaning(status: RowStatus) -> &'static str {
    match status {
        RowStatus::Match => "the server holds exactly the local photos",
        RowStatus::Mismatch => "the server's photo names differ from the local ones",
        RowStatus::NotFound => "customs does not know this BL/AWB yet",
        RowStatus::Invalid => "the manifest row is invalid; nothing was sent",
        RowStatus::Failed => "gave up: retries, authentication or a refused request",
        RowStatus::Skipped => "the run was interrupted before this row",
    }
}

/// The status as a coloured badge.
fn badge(h: &mut String, status: RowStatus) {
    let _ = write!(h, "<span class=\"st st-{status}\">{status}</span>");
}

/// `n` with thousands separators: 100,000.
pub(crate) fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut s = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            s.push(',');
        }
        s.push(c);
    }
    s
}

/// How many rows needing attention the page shows in full (about 2 KB each); the rest are found
/// with the search.
pub const ATTENTION_CAP: usize = 1_000;

/// What the first pass over the rows learns.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    pub rows: usize,
    pub photos: usize,
    /// Rows that did not end MATCH, per status.
    pub attention: std::collections::BTreeMap<RowStatus, usize>,
    /// The HTML of the first [`ATTENTION_CAP`] of them.
    pub shown: String,
    pub shown_rows: usize,
}

impl Scan {
    pub fn attention_total(&self) -> usize {
        self.attention.values().sum()
    }
}

/// Write the page for a run to `out`: `summary` for the facts and counts, and `rows`, which
/// gives the run's rows in manifest order each time it is called (it is called twice), one at
/// a time. Nothing kept grows with the number of rows.
pub fn write<W, F, I, R>(out: W, summary: &Summary, mut rows: F) -> anyhow::Result<()>
where
    W: Write,
    F: FnMut() -> anyhow::Result<I>,
    I: IntoIterator<Item = anyhow::Result<R>>,
    R: Borrow<RowResult>,
{
    let mut scan = Scan::default();
    for r in rows()? {
        let r = r?;
        let r = r.borrow();
        scan.rows += 1;
        scan.photos += r.images.len();
        if r.status != RowStatus::Match {
            *scan.attention.entry(r.status).or_default() += 1;
            if scan.shown_rows < ATTENTION_CAP {
                rows::shown(&mut scan.shown, scan.shown_rows, r);
                scan.shown_rows += 1;
            }
        }
    }

    let mut w = io::BufWriter::with_capacity(1 << 16, out);
    w.write_all(top(summary, &scan).as_bytes())?;
    let mut encoder = data::Encoder::new();
    let mut line = String::new();
    let mut written = 0;
    for r in rows()? {
        line.clear();
        encoder.encode(r?.borrow(), &mut line);
        w.write_all(line.as_bytes())?;
        written += 1;
    }
    if written != scan.rows {
        anyhow::bail!(
            "the run's rows changed while report.html was written ({} rows, then {written})",
            scan.rows
        );
    }
    w.write_all(find::end().as_bytes())?;
    w.flush().context("cannot write report.html")?;
    Ok(())
}

/// Write the page for rows held in memory.
pub fn write_slice<W: Write>(out: W, summary: &Summary, rows: &[RowResult]) -> anyhow::Result<()> {
    write(out, summary, || Ok(rows.iter().map(Ok)))
}

/// The whole page as a string, for rows held in memory.
pub fn render(summary: &Summary, rows: &[RowResult]) -> String {
    let mut page = Vec::new();
    // Writing into a Vec cannot fail, nor can a slice change between the two passes.
    let _ = write_slice(&mut page, summary, rows);
    String::from_utf8(page).unwrap_or_default()
}

/// Everything before the compact rows: head, verdict, rows needing attention, the search, the
/// charts, the run's facts and requests, and the opening of the rows' element.
fn top(summary: &Summary, scan: &Scan) -> String {
    let mut h = String::with_capacity(32_768 + scan.shown.len());
    let run_dir = summary.run.run_dir.display().to_string();
    let attention = scan.attention_total();
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    // The page may load nothing at all and run only its own script: no font, no image, no
    // stylesheet or script from elsewhere. A browser enforcing this keeps even a mistake in
    // escaping harmless.
    let _ = write!(
        h,
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'; script-src '{}'\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
        find::script_hash()
    );
    let _ = write!(
        h,
        "<meta name=\"generator\" content=\"kirim-xray {}\"><title>kirim-xray report: {}</title>\
         <style>{}</style></head><body>",
        Esc(&summary.version),
        Esc(&run_dir),
        style::sheet()
    );
    h.push('\n');
    let _ = write!(
        h,
        "<h1>X-ray photo report</h1><div class=\"muted\">kirim-xray {} · run folder <span class=\"m\">{}</span></div>\
         <nav><a href=\"#verdict\">Verdict</a><a href=\"#attention\">Rows needing attention ({})</a>\
         <a href=\"#find\">Find a row ({})</a><a href=\"#charts\">Rows and photos</a>\
         <a href=\"#run\">Run</a><a href=\"#requests\">Requests</a></nav>",
        Esc(&summary.version),
        Esc(&run_dir),
        thousands(attention),
        thousands(scan.rows)
    );
    h.push('\n');
    verdict::section(&mut h, summary, scan);
    rows::attention(&mut h, scan);
    h.push_str(
        "<p class=\"help\">To check a photo or the manifest, run <code>sha256sum FILE</code> \
         (macOS <code>shasum -a 256 FILE</code>, Windows <code>certutil -hashfile FILE SHA256</code>): \
         it must print the sha256 shown here. One click selects a whole digest.</p>\n",
    );
    find::section(&mut h, scan.rows);
    charts::section(&mut h, summary);
    header::facts(&mut h, summary);
    charts::requests(&mut h, summary);
    find::open_rows(&mut h, scan.rows, scan.photos);
    h
}
