//! The charts (inline SVG: rows per status, photos local / sent / on server) and the request
//! counts (per endpoint and HTTP status, retries, 429s, achieved rate against the limit).
//! Every status appears in the chart, also with 0, so a missing bar never hides a status.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::{Esc, colour, meaning, thousands};
use crate::model::RowStatus;
use crate::report::summary::Summary;

/// One bar of a horizontal bar chart.
struct Bar<'a> {
    label: &'a str,
    value: usize,
    colour: &'a str,
    /// Text after the count.
    note: &'a str,
}

const BAR_H: usize = 22;
const GAP: usize = 8;
pub(super) const LABEL_W: usize = 96;
const BAR_W: f64 = 300.0;

/// A horizontal bar chart: label, bar scaled to the largest value, count, note.
fn bar_chart(h: &mut String, title: &str, bars: &[Bar<'_>], note_w: usize) {
    let max = bars.iter().map(|b| b.value).max().unwrap_or(0).max(1);
    let width = LABEL_W + BAR_W as usize + 70 + note_w;
    let height = bars.len() * (BAR_H + GAP);
    let _ = write!(
        h,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"{0}\" font-family=\"sans-serif\" \
         font-size=\"13\"><title>{0}</title>",
        Esc(title)
    );
    for (i, b) in bars.iter().enumerate() {
        let y = i * (BAR_H + GAP);
        let text_y = y + 16;
        let w = BAR_W * b.value as f64 / max as f64;
        // A zero still gets a hairline, so the row reads as "0", not as "missing".
        let w = if b.value == 0 { 1.0 } else { w };
        let count_x = LABEL_W as f64 + w + 6.0;
        let _ = write!(
            h,
            "<g><text x=\"0\" y=\"{text_y}\">{}</text>\
             <rect x=\"{LABEL_W}\" y=\"{y}\" width=\"{w:.1}\" height=\"{BAR_H}\" fill=\"{}\"/>\
             <text x=\"{count_x:.1}\" y=\"{text_y}\" font-weight=\"bold\">{}</text>",
            Esc(b.label),
            b.colour,
            thousands(b.value)
        );
        if !b.note.is_empty() {
            let _ = write!(
                h,
                "<text x=\"{}\" y=\"{text_y}\" fill=\"#555\" font-size=\"12\">{}</text>",
                LABEL_W + BAR_W as usize + 60,
                Esc(b.note)
            );
        }
        h.push_str("</g>");
    }
    h.push_str("</svg>");
}

/// "Rows and photos": both charts side by side.
pub(super) fn section(h: &mut String, summary: &Summary) {
    h.push_str(
        "<h2 id=\"charts\">Rows and photos</h2><div class=\"side\"><div><h3>Rows per status</h3>",
    );
    let status_bars: Vec<Bar<'_>> = RowStatus::ALL
        .into_iter()
        .map(|s| Bar {
            label: s.as_str(),
            value: summary.counts.get(&s).copied().unwrap_or(0),
            colour: colour(s),
            note: meaning(s),
        })
        .collect();
    bar_chart(h, "rows per status", &status_bars, 340);

    let p = &summary.photos;
    h.push_str("</div><div><h3>Photos</h3>");
    let photo_bars = [
        Bar {
            label: "local",
            value: p.local,
            colour: "#546e7a",
            note: "found in the rows' folders",
        },
        Bar {
            label: "sent",
            value: p.sent,
            colour: "#1565c0",
            note: "sent by this run and acknowledged",
        },
        Bar {
            label: "on server",
            value: p.on_server,
            colour: "#2e7d32",
            note: "local photos the final get listed",
        },
    ];
    bar_chart(h, "photos local, sent and on server", &photo_bars, 240);
    if p.on_server < p.local {
        let _ = write!(
            h,
            "<p><span class=\"no\">{}</span> local photo{} not on the server (see the rows needing attention).</p>",
            thousands(p.local - p.on_server),
            if p.local - p.on_server == 1 {
                " is"
            } else {
                "s are"
            }
        );
    }
    h.push_str("</div></div>\n");
}

/// Requests per endpoint and HTTP status (or failure kind), then the totals and the rate.
pub(super) fn requests(h: &mut String, summary: &Summary) {
    let q = &summary.run.requests;
    let s = &summary.run.settings;
    h.push_str("<h2 id=\"requests\">Requests</h2>");
    let statuses: BTreeSet<&String> = q.per_endpoint.values().flat_map(|m| m.keys()).collect();
    if q.per_endpoint.is_empty() {
        h.push_str("<p>No request was made.</p>");
    } else {
        h.push_str("<table class=\"req\"><thead><tr><th>endpoint</th>");
        for st in &statuses {
            let _ = write!(h, "<th class=\"n\">{}</th>", Esc(st));
        }
        h.push_str("<th class=\"n\">total</th></tr></thead><tbody>");
        for (endpoint, counts) in &q.per_endpoint {
            let _ = write!(h, "<tr><td class=\"m\">{}</td>", Esc(endpoint));
            for st in &statuses {
                match counts.get(*st) {
                    Some(n) => {
                        let _ = write!(h, "<td class=\"n\">{n}</td>");
                    }
                    None => h.push_str("<td class=\"n muted\">·</td>"),
                }
            }
            let _ = write!(
                h,
                "<td class=\"n\"><b>{}</b></td></tr>",
                counts.values().sum::<u64>()
            );
        }
        h.push_str("</tbody></table>");
    }
    h.push_str("<table class=\"facts\">");
    let mut fact = |k: &str, v: String| {
        let _ = write!(h, "<tr><th>{}</th><td>{v}</td></tr>", Esc(k));
    };
    fact("X-ray API requests", q.api_requests.to_string());
    fact(
        "logins / token refreshes",
        format!("{} / {}", q.logins, q.token_refreshes),
    );
    fact(
        "retries",
        format!(
            "{} (repeated tries over all rows; at most {} per request)",
            summary.retries, s.retries
        ),
    );
    let throttled = if q.throttled_429 == 0 {
        "0".to_string()
    } else {
        format!(
            "<span class=\"no\">{}</span> (the server asked to slow down; every worker paused)",
            q.throttled_429
        )
    };
    fact("throttled (HTTP 429)", throttled);
    let rate = match q.achieved_rate {
        Some(x) if s.rate > 0.0 => format!(
            "{x:.2} requests/s — {:.0}% of the limit of {} /s (burst {})",
            100.0 * x / s.rate,
            s.rate,
            s.burst
        ),
        Some(x) => format!("{x:.2} requests/s (limit {} /s)", s.rate),
        None => format!(
            "not measured (fewer than two X-ray requests); limit {} /s, burst {}",
            s.rate, s.burst
        ),
    };
    fact("achieved rate", rate);
    h.push_str("</table>\n");
}
