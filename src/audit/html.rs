//! audit.html, built the way report.html is: one self-contained file (no external resource, a
//! Content-Security-Policy that runs only its own script, by sha256), the verdict first, the
//! documents not MATCH in full (the first [`SHOWN_CAP`]), then a search over every document by
//! nomorAju or BL/AWB. Every document is in the page as compact text ([`data`]) that the script
//! decodes on the first search, so the page opens at 100,000 documents; printed, it shows the verdict and
//! the documents not MATCH, not the search.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;

use sha2::{Digest, Sha256};

use super::{Scope, data};
use crate::ledger::query::{Doc, Touch};
use crate::model::RowStatus;
use crate::report::html::Esc;
use crate::report::html::style;

/// The page's only script.
const SCRIPT: &str = include_str!("audit.js");

/// Documents not MATCH shown in full in the page; the others are found with the search.
pub const SHOWN_CAP: usize = 1_000;

fn script_hash() -> String {
    format!("sha256-{}", base64_std(&Sha256::digest(SCRIPT)))
}

/// Standard base64 with padding, as a CSP hash source wants it.
pub(crate) fn base64_std(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                b64.push(ABC[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                b64.push('=');
            }
        }
    }
    b64
}

fn table_of(h: &mut String, t: &Touch) {
    let _ = write!(
        h,
        "<tr><td class=\"m\">{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td>\
         <td><span class=\"st st-{}\">{}</span></td><td>{}</td><td class=\"n\">{} / {}</td>\
         <td class=\"n\">{}</td><td class=\"msg\">{}</td></tr>",
        Esc(&t.run),
        Esc(&t.command),
        Esc(&t.run_started),
        t.row,
        Esc(&t.status),
        Esc(&t.status),
        Esc(&t.action),
        t.uploaded,
        t.local_count,
        t.server_count.map_or("?".into(), |n| n.to_string()),
        Esc(&t.message),
    );
    if t.photos.is_empty() {
        return;
    }
    h.push_str(
        "<tr><td colspan=\"9\"><table class=\"img\"><tr><th>photo</th><th>bytes</th>\
         <th>sha256</th><th>sent in</th><th>sent at</th><th>on server</th><th>waktuRekam</th></tr>",
    );
    for p in &t.photos {
        let _ = write!(
            h,
            "<tr><td class=\"id\">{}</td><td class=\"n\">{}</td><td><code class=\"h\">{}</code></td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            Esc(&p.file),
            p.bytes,
            Esc(&p.sha256),
            Esc(&p.sent_in),
            Esc(p.sent_at.as_deref().unwrap_or("")),
            match p.on_server {
                Some(true) => "yes",
                Some(false) => "no",
                None => "?",
            },
            Esc(p.waktu_rekam.as_deref().unwrap_or("")),
        );
    }
    h.push_str("</table></td></tr>");
}

fn shown(h: &mut String, d: &Doc) {
    let _ = write!(
        h,
        "<section class=\"doc\"><h3><span class=\"st st-{0}\">{0}</span> <span class=\"id\">{1}</span></h3>\
         <p class=\"muted\">BL/AWB {2} · tanggalBlAwb {3} · kodeKantor {4} · folder {5}</p>\
         <table><tr><th>run</th><th>command</th><th>run started</th><th>row</th><th>status</th>\
         <th>action</th><th>sent / local</th><th>server</th><th>message</th></tr>",
        Esc(d.status()),
        Esc(&d.nomor_aju),
        Esc(&d.nomor_bl_awb),
        Esc(&d.tanggal_bl_awb),
        Esc(&d.kode_kantor),
        Esc(&d.folder),
    );
    for t in &d.history {
        table_of(h, t);
    }
    h.push_str("</table></section>\n");
}

/// The counts per latest verdict, and how many are not MATCH.
fn counts(docs: &[Doc]) -> (BTreeMap<RowStatus, usize>, usize) {
    let mut counts: BTreeMap<RowStatus, usize> = BTreeMap::new();
    for d in docs {
        if let Some(s) = RowStatus::parse(d.status()) {
            *counts.entry(s).or_default() += 1;
        }
    }
    let open = docs.iter().filter(|d| d.status() != "MATCH").count();
    (counts, open)
}

/// The head of the page, the heading and its links.
fn opening(h: &mut String, scope: &Scope, total: usize, open: usize) {
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'; script-src '{}'\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>kirim-xray audit: {}</title><style>{}\
         section.doc{{margin:10px 0 18px}}@media print{{#find,#kx-find,nav{{display:none}}}}</style></head><body>\n\
         <h1>X-ray photo audit</h1><div class=\"muted\">{} · made {} · ledger <span class=\"m\">{}</span></div>\
         <nav><a href=\"#verdict\">Verdict</a><a href=\"#open\">Not MATCH ({})</a>\
         <a href=\"#find\">Find a document ({})</a></nav>",
        script_hash(),
        Esc(&scope.title),
        style::sheet(),
        Esc(&scope.title),
        Esc(&scope.made_at),
        Esc(&scope.ledger),
        open,
        total,
    );
}

/// The verdict: how many documents ended with each status.
fn verdict(h: &mut String, counts: &BTreeMap<RowStatus, usize>, total: usize) {
    let _ = write!(
        h,
        "<h2 id=\"verdict\">Verdict</h2><p>{total} documents, each with the verdict of the last \
         run that touched it.</p><table><tr><th>status</th><th>documents</th></tr>",
    );
    for (s, n) in counts {
        let _ = write!(
            h,
            "<tr><td><span class=\"st st-{s}\">{s}</span></td><td class=\"n\">{n}</td></tr>"
        );
    }
    h.push_str("</table>\n");
}

/// The documents not MATCH in full, the first [`SHOWN_CAP`].
fn not_match(w: &mut dyn Write, docs: &[Doc], open: usize) -> std::io::Result<()> {
    let mut h = format!("<h2 id=\"open\">Documents not MATCH ({open})</h2>");
    if open == 0 {
        h.push_str("<p>None: every document of the period ended MATCH.</p>");
    } else if open > SHOWN_CAP {
        let _ = write!(
            h,
            "<p>The first {SHOWN_CAP} are shown here; find the others below, or in audit.csv and \
             audit.xlsx.</p>"
        );
    }
    w.write_all(h.as_bytes())?;
    for d in docs
        .iter()
        .filter(|d| d.status() != "MATCH")
        .take(SHOWN_CAP)
    {
        h.clear();
        shown(&mut h, d);
        w.write_all(h.as_bytes())?;
    }
    Ok(())
}

/// The search box (shown by the script), and what to do without JavaScript.
fn find_box(h: &mut String, total: usize) {
    let _ = write!(
        h,
        "<h2 id=\"find\">Find a document</h2><div id=\"kx-find\" hidden><p>All {total} documents \
         of the audit are in this file. Type a nomorAju or a BL/AWB, whole or in part, to see its \
         history and every photo with its sha256. The address <code>audit.html#q=TEXT</code> opens \
         this page with TEXT searched.</p><p><label>nomorAju or BL/AWB <input id=\"kx-q\" \
         type=\"search\" autocomplete=\"off\" spellcheck=\"false\"></label> <label>status \
         <select id=\"kx-st\"><option value=\"\">any</option><option value=\"!\">not MATCH</option>",
    );
    for s in RowStatus::ALL {
        let _ = write!(h, "<option>{s}</option>");
    }
    h.push_str(
        "</select></label></p><p id=\"kx-out\" aria-live=\"polite\"></p><div id=\"kx-res\"></div></div>\
         <noscript><p>Searching needs JavaScript. Every document is in audit.csv and audit.xlsx \
         beside this file.</p></noscript>\n",
    );
}

/// Every document as compact text ([`data`]), written as it is encoded.
fn documents(w: &mut dyn Write, docs: &[Doc]) -> std::io::Result<()> {
    let runs = data::runs(docs);
    let mut block = String::from("<script type=\"text/plain\" id=\"kx-docs\">");
    block.push_str(&data::head(docs, &runs));
    let mut encoder = data::Encoder::new(&runs);
    for d in docs {
        encoder.encode(d, &mut block);
        if block.len() >= 1 << 16 {
            w.write_all(block.as_bytes())?;
            block.clear();
        }
    }
    block.push_str("</script>\n");
    w.write_all(block.as_bytes())
}

pub fn write(out: &mut dyn Write, scope: &Scope, docs: &[Doc]) -> anyhow::Result<()> {
    let mut w = std::io::BufWriter::with_capacity(1 << 16, out);
    let (counts, open) = counts(docs);
    let mut h = String::with_capacity(1 << 16);
    opening(&mut h, scope, docs.len(), open);
    verdict(&mut h, &counts, docs.len());
    w.write_all(h.as_bytes())?;
    not_match(&mut w, docs, open)?;
    h.clear();
    find_box(&mut h, docs.len());
    w.write_all(h.as_bytes())?;
    documents(&mut w, docs)?;
    write!(w, "<script>{SCRIPT}</script>\n</body></html>\n")?;
    w.flush()?;
    Ok(())
}
