//! The rows needing attention in report.html, each in full: its cells, its message, the names
//! missing on or extra on the server, and its photos — file, bytes, full sha256, content type,
//! how and when it was sent, whether the server lists it and the server's waktuRekam. At most
//! [`ATTENTION_CAP`] rows, and the page says how many more the search finds.

use std::fmt::Write as _;

use super::{ATTENTION_CAP, Esc, Scan, badge, thousands};
use crate::model::{ImageResult, RowResult};
use crate::report::tables::time;

/// "2 / 2 / 1": local / sent / on server (— when no get answered).
fn counts(h: &mut String, r: &RowResult) {
    let _ = write!(h, "<td class=\"n\">{} / {} / ", r.local_count, r.uploaded);
    match r.server_count {
        Some(n) => {
            let _ = write!(h, "{n}</td>");
        }
        None => h.push_str("—</td>"),
    }
}

pub(super) fn attention(h: &mut String, scan: &Scan) {
    let total = scan.attention_total();
    let _ = write!(
        h,
        "<h2 id=\"attention\">Rows needing attention ({})</h2>",
        thousands(total)
    );
    if total == 0 {
        h.push_str("<p>None: every row ended MATCH.</p>\n");
        return;
    }
    if total > scan.shown_rows {
        let _ = write!(
            h,
            "<p class=\"cap\">Showing the first {} of {} rows needing attention, in manifest \
             order (at most {} are shown in full); every row can be found with \
             <a href=\"#find\">Find a row</a> (status: needing attention), and all are in \
             results.csv.</p>",
            thousands(scan.shown_rows),
            thousands(total),
            thousands(ATTENTION_CAP)
        );
    } else {
        let which = if total == 1 {
            "The row".to_string()
        } else {
            format!("All {} rows", thousands(total))
        };
        let _ = write!(
            h,
            "<p>{which} that did not end MATCH, in manifest order, each with its photos. Row \
             numbers are the spreadsheet's (header = 1).</p>"
        );
    }
    h.push_str("<div class=\"attention\"><div class=\"chunk\">");
    table_head(h);
    h.push_str(&scan.shown);
    h.push_str("</table></div></div>\n");
}

/// Rows shown in full go in tables of this many, each of which the browser lays out only when
/// it scrolls into view (`content-visibility`): one table of 1,000 rows with their photo tables
/// takes seconds to lay out before anything shows.
const CHUNK: usize = 50;

fn table_head(h: &mut String) {
    h.push_str(
        "<table class=\"rows\"><thead><tr><th class=\"n\">row</th><th>status</th><th>nomorAju</th>\
         <th>nomorBlAwb</th><th>tanggalBlAwb</th><th>kodeKantor</th><th>folder</th><th>action</th>\
         <th class=\"n\">local / sent / on server</th><th class=\"n\">tries / requests</th>\
         <th>message</th></tr></thead>",
    );
}

/// Add the `index`th row needing attention (0-based) to the rows shown in full.
pub(super) fn shown(h: &mut String, index: usize, r: &RowResult) {
    if index > 0 && index.is_multiple_of(CHUNK) {
        h.push_str("</table></div><div class=\"chunk\">");
        table_head(h);
    }
    row(h, r);
}

const ROW_COLUMNS: usize = 11;

/// One row in full, as a `<tbody>`: its cells, then its photos.
fn row(h: &mut String, r: &RowResult) {
    let f = &r.fields;
    let _ = write!(
        h,
        "<tbody id=\"row-{0}\"><tr><td class=\"n\">{0}</td><td>",
        r.row
    );
    badge(h, r.status);
    let _ = write!(
        h,
        "</td><td class=\"id\">{}</td><td class=\"id\">{}</td><td>{}</td><td>{}</td>\
         <td class=\"m\">{}</td><td>{}</td>",
        Esc(&f.nomor_aju),
        Esc(&f.nomor_bl_awb),
        Esc(&f.tanggal_bl_awb),
        Esc(&f.kode_kantor),
        Esc(&f.folder),
        Esc(&r.action)
    );
    counts(h, r);
    let _ = write!(
        h,
        "<td class=\"n\">{} / {}</td><td class=\"msg\">{}",
        r.attempts,
        r.requests,
        Esc(&r.message)
    );
    if !r.missing_on_server.is_empty() {
        h.push_str("<br><b>missing on server:</b> <span class=\"id\">");
        join(h, &r.missing_on_server);
        h.push_str("</span>");
    }
    if !r.extra_on_server.is_empty() {
        h.push_str("<br><b>extra on server:</b> <span class=\"id\">");
        join(h, &r.extra_on_server);
        h.push_str("</span>");
    }
    h.push_str("</td></tr>");
    if !r.images.is_empty() || r.npwp_pemberitahu.is_some() || r.started_at.is_some() {
        photos(h, r);
    }
    h.push_str("</tbody>");
}

fn join(h: &mut String, list: &[String]) {
    for (i, n) in list.iter().enumerate() {
        if i > 0 {
            h.push_str(", ");
        }
        let _ = write!(h, "{}", Esc(n));
    }
}

/// The second line of a row: its timing, the server's npwpPemberitahu and the photo table.
fn photos(h: &mut String, r: &RowResult) {
    let _ = write!(
        h,
        "<tr class=\"ph\"><td colspan=\"{ROW_COLUMNS}\"><details open><summary>{} photo{}",
        r.images.len(),
        if r.images.len() == 1 { "" } else { "s" }
    );
    if let (Some(s), Some(e)) = (r.started_at, r.finished_at) {
        let _ = write!(h, " · row ran {} → {}", time(Some(s)), time(Some(e)));
    }
    if let Some(npwp) = &r.npwp_pemberitahu {
        let _ = write!(
            h,
            " · server npwpPemberitahu <span class=\"m\">{}</span>",
            Esc(npwp)
        );
    }
    h.push_str("</summary>");
    if !r.images.is_empty() {
        h.push_str(
            "<table class=\"img\"><thead><tr><th>file</th><th class=\"n\">bytes</th><th>sha256</th>\
             <th>content type</th><th>sent in</th><th>sent at</th><th>on server</th>\
             <th>server waktuRekam</th></tr></thead><tbody>",
        );
        for i in &r.images {
            image(h, i);
        }
        h.push_str("</tbody></table>");
    }
    h.push_str("</details></td></tr>");
}

fn image(h: &mut String, i: &ImageResult) {
    let on_server = match i.on_server {
        Some(true) => "yes",
        Some(false) => "<span class=\"no\">no</span>",
        None => "<span class=\"muted\">— (no listing)</span>",
    };
    let _ = write!(
        h,
        "<tr><td class=\"id\">{}</td><td class=\"n\">{}</td><td><code class=\"h\">{}</code></td>\
         <td>{}</td><td>{}</td><td>{}</td><td>{on_server}</td><td>{}</td></tr>",
        Esc(&i.file),
        i.bytes,
        Esc(&i.sha256),
        Esc(&i.content_type),
        i.sent_in.as_str(),
        time(i.sent_at),
        Esc(i.server_waktu_rekam.as_deref().unwrap_or(""))
    );
}
