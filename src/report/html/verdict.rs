//! The first screen of report.html: how the run ended (exit code), its rows per status, its
//! photos, and what needs attention — before any detail.

use std::fmt::Write as _;

use super::{Esc, Scan, badge, meaning, thousands};
use crate::model::RowStatus;
use crate::report::summary::{Summary, exit_meaning};

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

pub(super) fn section(h: &mut String, summary: &Summary, scan: &Scan) {
    let attention = scan.attention_total();
    let exit = summary.run.exit_code;
    let class = match exit {
        Some(0) if attention == 0 => "ok",
        Some(0 | 1) => "warn",
        _ => "bad",
    };
    let _ = write!(
        h,
        "<section id=\"verdict\" class=\"verdict {class}\"><p class=\"headline\">"
    );
    headline(h, exit, attention, scan.rows);
    h.push_str("</p><ul class=\"counts\">");
    counts(h, summary);
    h.push_str("</ul>");
    photos(h, summary);
    needs_attention(h, scan, attention);
    if let Some(note) = &summary.run.note {
        let _ = write!(h, "<p class=\"msg\"><b>Note:</b> {}</p>", Esc(note));
    }
    h.push_str("</section>\n");
}

/// How the run ended, in one sentence.
fn headline(h: &mut String, exit: Option<i32>, attention: usize, rows: usize) {
    let rows = plural(rows, "row", "rows");
    match exit {
        Some(0) if attention == 0 => {
            let _ = write!(
                h,
                "Exit 0 — every row MATCH: the server holds exactly the local photos of all {rows}."
            );
        }
        Some(code) => {
            let _ = write!(h, "Exit {code} — {}", Esc(exit_meaning(code)));
            if attention > 0 {
                let _ = write!(h, ": {} of {rows} need attention.", thousands(attention));
            } else {
                let _ = write!(h, "; {rows}, none needing attention.");
            }
        }
        None => {
            let _ = write!(
                h,
                "No exit code — the run did not finish (killed, or still running); {} of {rows} \
                 need attention so far.",
                thousands(attention)
            );
        }
    }
}

/// One badge per status the run has (MATCH always).
fn counts(h: &mut String, summary: &Summary) {
    for status in RowStatus::ALL {
        let n = summary.counts.get(&status).copied().unwrap_or(0);
        if n > 0 || status == RowStatus::Match {
            h.push_str("<li>");
            badge(h, status);
            let _ = write!(h, " {}</li>", thousands(n));
        }
    }
}

/// The photos: local, sent, on the server, and how many are not.
fn photos(h: &mut String, summary: &Summary) {
    let p = &summary.photos;
    let _ = write!(
        h,
        "<p>Photos: {} local · {} sent by this run · {} on the server",
        thousands(p.local),
        thousands(p.sent),
        thousands(p.on_server)
    );
    if p.on_server < p.local {
        let _ = write!(
            h,
            " — <span class=\"no\">{} not on the server</span>",
            thousands(p.local - p.on_server)
        );
    }
    h.push_str(".</p>");
}

/// The rows needing attention per status, and where they follow.
fn needs_attention(h: &mut String, scan: &Scan, attention: usize) {
    if attention == 0 {
        h.push_str("<p>Nothing needs attention.</p>");
    } else {
        h.push_str("<p>Needs attention:</p><ul>");
        for (status, n) in &scan.attention {
            h.push_str("<li>");
            badge(h, *status);
            let _ = write!(
                h,
                " {} — {}</li>",
                plural(*n, "row", "rows"),
                meaning(*status)
            );
        }
        let _ = write!(
            h,
            "</ul><p><a href=\"#attention\">The rows needing attention</a> follow{}.</p>",
            if attention > scan.shown_rows {
                format!(
                    " (the first {} in full; every row can be found with \
                     <a href=\"#find\">Find a row</a>)",
                    thousands(scan.shown_rows)
                )
            } else {
                String::new()
            }
        );
    }
}
