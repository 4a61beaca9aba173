//! report.html: the auditors' report. One self-contained file — no script, no external font,
//! stylesheet or image, and a Content-Security-Policy that forbids loading any — so it opens the
//! same from a USB stick years later. It answers, per row and per photo, what was sent, when, and
//! what the server holds, with the sha256 an auditor can check with `sha256sum`.
//!
//! Order of the page: the run's facts, charts (inline SVG) and request counts, the rows needing
//! attention, then every row with its photos folded in `<details>` so 10,000 rows stay readable.
//! Every text from the manifest, the file system or the server is escaped on the way in
//! ([`Esc`]); the page is built in one `String` with `write!`, so its cost is linear in its size.

mod charts;
mod header;
mod rows;
#[cfg(test)]
mod tests;

use std::fmt::{self, Write as _};

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
    let _ = write!(
        h,
        "<span class=\"st\" style=\"background:{}\">{status}</span>",
        colour(status)
    );
}

const STYLE: &str = "\
:root{color-scheme:light}\
body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',Roboto,'Noto Sans',sans-serif;margin:24px;color:#1b1b1b;background:#fff}\
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:2px solid #ddd;padding-bottom:3px}\
h3{font-size:14px;margin:16px 0 6px}\
nav{margin:6px 0 14px}nav a{margin-right:14px}\
table{border-collapse:collapse;margin:6px 0}\
th,td{border:1px solid #ccc;padding:3px 6px;vertical-align:top;text-align:left}\
thead th{background:#f2f2f2;position:sticky;top:0}\
table.facts th{background:#f7f7f7;white-space:nowrap;font-weight:600}\
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}\
code,.m{font-family:ui-monospace,'DejaVu Sans Mono',Menlo,Consolas,monospace;font-size:12px}\
.h{user-select:all;word-break:break-all}\
.id{font-family:ui-monospace,'DejaVu Sans Mono',Menlo,Consolas,monospace;font-size:12px;overflow-wrap:break-word}\
.msg{white-space:pre-wrap;overflow-wrap:anywhere}th.wide{width:30%}\
.st{display:inline-block;color:#fff;font-weight:700;font-size:12px;padding:1px 6px;border-radius:3px;white-space:nowrap}\
.no{color:#b00020;font-weight:700}.muted{color:#666}\
.side{display:flex;flex-wrap:wrap;gap:12px 40px;align-items:flex-start}.side>*{margin-top:0}\
table.rows,table.attention{width:100%}table.rows>tbody{border-top:2px solid #bbb}\
tr.ph>td{padding:0 6px 4px 28px;border-top:none;background:#fafafa}\
details>summary{cursor:pointer;color:#1a4f8a;padding:2px 0}details.settings>summary{font-weight:600}\
table.img{margin:2px 0 6px;background:#fff}table.img td,table.img th{font-size:12px}\
.help{background:#f4f8fc;border:1px solid #c9d9ea;padding:6px 10px;max-width:70em}\
@media print{\
@page{size:A4 landscape;margin:10mm}\
body{margin:0;font-size:10px}nav,.noprint{display:none}\
*{-webkit-print-color-adjust:exact;print-color-adjust:exact}\
thead th{position:static}\
h2,h3{break-after:avoid}tr,svg,.side>div,table.facts,table.req{break-inside:avoid}\
a{color:inherit;text-decoration:none}\
details::details-content{content-visibility:visible;display:block}\
details>summary{color:#000}\
code,.m,.id,table.img td,table.img th{font-size:9px}.h{white-space:nowrap;word-break:normal}\
}";

/// The whole page for a run: `summary` for the facts and counts, `rows` in manifest order.
pub fn render(summary: &Summary, rows: &[RowResult]) -> String {
    let photos: usize = rows.iter().map(|r| r.images.len()).sum();
    // Roughly what a row and a photo take, so the page is built without regrowing much.
    let mut h = String::with_capacity(16_384 + rows.len() * 900 + photos * 400);
    let run_dir = summary.run.run_dir.display().to_string();
    let attention = rows.iter().filter(|r| r.status != RowStatus::Match).count();

    h.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    // The page may load nothing at all: no script, no font, no image, no stylesheet from
    // elsewhere. A browser enforcing this keeps even a mistake in escaping harmless.
    h.push_str(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
    );
    let _ = write!(
        h,
        "<meta name=\"generator\" content=\"kirim-xray {}\"><title>kirim-xray report: {}</title>\
         <style>{STYLE}</style></head><body>",
        Esc(&summary.version),
        Esc(&run_dir)
    );
    h.push('\n');
    let _ = write!(
        h,
        "<h1>X-ray photo report</h1><div class=\"muted\">kirim-xray {} · run folder <span class=\"m\">{}</span></div>\
         <nav><a href=\"#run\">Run</a><a href=\"#charts\">Rows and photos</a>\
         <a href=\"#requests\">Requests</a><a href=\"#attention\">Rows needing attention ({attention})</a>\
         <a href=\"#rows\">All rows ({})</a></nav>",
        Esc(&summary.version),
        Esc(&run_dir),
        rows.len()
    );
    h.push('\n');
    header::facts(&mut h, summary);
    h.push_str(
        "<p class=\"help\">To check a photo or the manifest, run <code>sha256sum FILE</code> \
         (macOS <code>shasum -a 256 FILE</code>, Windows <code>certutil -hashfile FILE SHA256</code>): \
         it must print the sha256 shown here. One click selects a whole digest.</p>\n",
    );
    charts::section(&mut h, summary);
    charts::requests(&mut h, summary);
    rows::attention(&mut h, rows, attention);
    rows::all(&mut h, rows);
    h.push_str("</body></html>\n");
    h
}
