//! The rows of report.html: first the rows needing attention (every row that did not end MATCH,
//! with its message and the names missing on or extra on the server), then every row, each with
//! its photos — file, bytes, full sha256, content type, how and when it was sent, whether the
//! server lists it and the server's waktuRekam. Photos sit in a `<details>` per row (open for
//! rows needing attention) so a 10,000-row page stays readable; print unfolds them all.

use std::fmt::Write as _;

use super::{Esc, badge};
use crate::model::{ImageResult, RowResult, RowStatus};
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

/// Names joined by ", ", each escaped, in monospace; "—" when there are none.
fn names(h: &mut String, list: &[String]) {
    if list.is_empty() {
        h.push_str("<td class=\"muted\">—</td>");
        return;
    }
    h.push_str("<td class=\"id\">");
    join(h, list);
    h.push_str("</td>");
}

pub(super) fn attention(h: &mut String, rows: &[RowResult], count: usize) {
    let _ = write!(
        h,
        "<h2 id=\"attention\">Rows needing attention ({count})</h2>"
    );
    if count == 0 {
        h.push_str("<p>None: every row ended MATCH.</p>\n");
        return;
    }
    h.push_str(
        "<p class=\"noprint\">Every row that did not end MATCH. The row number links to the row \
         and its photos below.</p>\
         <table class=\"attention\"><thead><tr><th class=\"n\">row</th><th>status</th><th>nomorAju</th>\
         <th>nomorBlAwb</th><th>action</th><th class=\"n\">local / sent / on server</th>\
         <th class=\"wide\">message</th><th>missing on server</th><th>extra on server</th></tr></thead><tbody>",
    );
    for r in rows.iter().filter(|r| r.status != RowStatus::Match) {
        let _ = write!(
            h,
            "<tr data-row=\"{0}\"><td class=\"n\"><a href=\"#row-{0}\">{0}</a></td><td>",
            r.row
        );
        badge(h, r.status);
        let _ = write!(
            h,
            "</td><td class=\"id\">{}</td><td class=\"id\">{}</td><td>{}</td>",
            Esc(&r.fields.nomor_aju),
            Esc(&r.fields.nomor_bl_awb),
            Esc(&r.action)
        );
        counts(h, r);
        let _ = write!(h, "<td class=\"msg\">{}</td>", Esc(&r.message));
        names(h, &r.missing_on_server);
        names(h, &r.extra_on_server);
        h.push_str("</tr>");
    }
    h.push_str("</tbody></table>\n");
}

const ROW_COLUMNS: usize = 11;

pub(super) fn all(h: &mut String, rows: &[RowResult]) {
    let _ = write!(h, "<h2 id=\"rows\">All rows ({})</h2>", rows.len());
    if rows.is_empty() {
        h.push_str("<p>This run has no rows.</p>\n");
        return;
    }
    h.push_str(
        "<p class=\"noprint\">In manifest order; row numbers are the spreadsheet's (header = 1). \
         Open a row's photos to see each file's sha256; images.csv holds the same lines.</p>\
         <table class=\"rows\"><thead><tr><th class=\"n\">row</th><th>status</th><th>nomorAju</th>\
         <th>nomorBlAwb</th><th>tanggalBlAwb</th><th>kodeKantor</th><th>folder</th><th>action</th>\
         <th class=\"n\">local / sent / on server</th><th class=\"n\">tries / requests</th>\
         <th class=\"wide\">message</th></tr></thead>",
    );
    for r in rows {
        row(h, r);
    }
    h.push_str("</table>\n");
}

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
    let open = if r.status == RowStatus::Match {
        ""
    } else {
        " open"
    };
    let _ = write!(
        h,
        "<tr class=\"ph\"><td colspan=\"{ROW_COLUMNS}\"><details{open}><summary>{} photo{}",
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
