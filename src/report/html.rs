//! report.html: the auditors' report. One self-contained file (no scripts, no external links),
//! status counts as an inline SVG bar chart, then one table row per manifest row with its photos
//! and their sha256. Every piece of text from the manifest or the server is escaped.

use std::fmt::Write as _;

use crate::model::{RowResult, RowStatus};
use crate::report::summary::{Summary, exit_meaning, human_duration};
use crate::report::tables::time;

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn colour(status: RowStatus) -> &'static str {
    match status {
        RowStatus::Match => "#2e7d32",
        RowStatus::Mismatch => "#ef6c00",
        RowStatus::NotFound => "#6a1b9a",
        RowStatus::Invalid => "#c62828",
        RowStatus::Failed => "#b71c1c",
        RowStatus::Skipped => "#757575",
    }
}

fn chart(summary: &Summary) -> String {
    let max = summary.counts.values().copied().max().unwrap_or(0).max(1);
    let (bar_h, gap, label_w, width) = (22, 8, 100, 420.0);
    let height = RowStatus::ALL.len() * (bar_h + gap);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" role=\"img\" aria-label=\"rows per status\">",
        label_w as f64 + width + 60.0
    );
    for (i, status) in RowStatus::ALL.into_iter().enumerate() {
        let n = summary.counts.get(&status).copied().unwrap_or(0);
        let y = i * (bar_h + gap);
        let w = width * n as f64 / max as f64;
        let _ = write!(
            svg,
            "<text x=\"0\" y=\"{}\" font-size=\"13\">{status}</text>\
             <rect x=\"{label_w}\" y=\"{y}\" width=\"{w:.1}\" height=\"{bar_h}\" fill=\"{}\"/>\
             <text x=\"{:.1}\" y=\"{}\" font-size=\"13\">{n}</text>",
            y + 16,
            colour(status),
            label_w as f64 + w + 6.0,
            y + 16
        );
    }
    svg.push_str("</svg>");
    svg
}

pub fn render(summary: &Summary, rows: &[RowResult]) -> String {
    let r = &summary.run;
    let mut h = String::new();
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    let _ = write!(
        h,
        "<title>kirim-xray report {}</title>",
        escape(&r.run_dir.display().to_string())
    );
    h.push_str(
        "<style>body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}\
         td,th{border:1px solid #ccc;padding:3px 6px;font-size:13px;vertical-align:top;text-align:left}\
         .st{color:#fff;font-weight:bold}code{font-size:12px}table.img td{border:none;padding:1px 4px}</style>",
    );
    h.push_str("</head><body>");
    let _ = write!(h, "<h1>X-ray photo report</h1><table>");
    let mut fact = |k: &str, v: String| {
        let _ = write!(h, "<tr><th>{}</th><td>{}</td></tr>", escape(k), escape(&v));
    };
    fact("run folder", r.run_dir.display().to_string());
    fact(
        "command",
        format!("kirim-xray {} {}", summary.version, r.command),
    );
    fact(
        "manifest",
        format!(
            "{} ({} rows) sha256 {}",
            r.manifest.path.display(),
            r.manifest.rows,
            r.manifest.sha256
        ),
    );
    fact("started", r.started_at.to_rfc3339());
    fact(
        "finished",
        r.finished_at
            .map_or("not finished".into(), |f| f.to_rfc3339()),
    );
    if let Some(d) = summary.duration_seconds {
        fact("duration", human_duration(d));
    }
    fact("API", r.settings.api_url.clone());
    fact(
        "photos",
        format!(
            "{} local, {} sent, {} on server",
            summary.photos.local, summary.photos.sent, summary.photos.on_server
        ),
    );
    fact(
        "requests",
        format!(
            "{} API requests, {} retries, {} throttled (429)",
            r.requests.api_requests, summary.retries, r.requests.throttled_429
        ),
    );
    if let Some(note) = &r.note {
        fact("note", note.clone());
    }
    if let Some(code) = r.exit_code {
        fact("exit code", format!("{code} ({})", exit_meaning(code)));
    }
    h.push_str("</table><h2>Rows per status</h2>");
    h.push_str(&chart(summary));
    h.push_str(
        "<h2>Rows</h2><table><tr><th>row</th><th>nomorAju</th><th>nomorBlAwb</th><th>tanggalBlAwb</th>\
         <th>kodeKantor</th><th>folder</th><th>status</th><th>action</th><th>local / sent / on server</th>\
         <th>message</th><th>photos (file, bytes, sha256, sent, on server)</th></tr>",
    );
    for row in rows {
        let f = &row.fields;
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td class=\"st\" style=\"background:{}\">{}</td><td>{}</td><td>{} / {} / {}</td><td>{}",
            row.row,
            escape(&f.nomor_aju),
            escape(&f.nomor_bl_awb),
            escape(&f.tanggal_bl_awb),
            escape(&f.kode_kantor),
            escape(&f.folder),
            colour(row.status),
            row.status,
            escape(&row.action),
            row.local_count,
            row.uploaded,
            row.server_count.map_or("-".into(), |c| c.to_string()),
            escape(&row.message),
        );
        if !row.missing_on_server.is_empty() {
            let _ = write!(
                h,
                "<br>missing on server: {}",
                escape(&row.missing_on_server.join(", "))
            );
        }
        if !row.extra_on_server.is_empty() {
            let _ = write!(
                h,
                "<br>extra on server: {}",
                escape(&row.extra_on_server.join(", "))
            );
        }
        h.push_str("</td><td><table class=\"img\">");
        for i in &row.images {
            let on_server = match i.on_server {
                Some(true) => "yes",
                Some(false) => "no",
                None => "-",
            };
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{} {}</td><td>{} {}</td></tr>",
                escape(&i.file),
                i.bytes,
                escape(&i.sha256),
                i.sent_in.as_str(),
                escape(&time(i.sent_at)),
                on_server,
                escape(i.server_waktu_rekam.as_deref().unwrap_or("")),
            );
        }
        h.push_str("</table></td></tr>");
    }
    h.push_str("</table></body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::journal::tests::sample;
    use crate::report::summary::tests::info;

    #[test]
    fn text_is_escaped_and_the_chart_is_inline() {
        let mut row = sample(2);
        row.fields.nomor_aju = "<script>alert(1)</script>".into();
        row.images[0].file = "a&b\".png".into();
        let rows = vec![row];
        let html = render(&Summary::build(&info(), &rows), &rows);
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("a&amp;b&quot;.png"));
        assert!(html.contains("<svg"));
        assert!(!html.contains("src=\"http"), "self-contained");
    }
}
