//! The run's facts at the top of report.html: which command ran on which manifest (with its
//! sha256), when, how it ended, and every setting it used — never a secret: the settings come
//! from `PublicSettings`, which only says where the credentials came from.

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};

use super::Esc;
use crate::report::summary::{Summary, exit_meaning, human_duration};

fn at(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// One `<tr>` of a facts table; `value` is already HTML.
fn fact(h: &mut String, key: &str, value: &str) {
    let _ = write!(h, "<tr><th>{}</th><td>{value}</td></tr>", Esc(key));
}

pub(super) fn facts(h: &mut String, summary: &Summary) {
    h.push_str("<h2 id=\"run\">Run</h2><div class=\"side\"><table class=\"facts\">");
    run_facts(h, summary);
    manifest_facts(h, summary);
    time_facts(h, summary);
    gone_facts(h, summary);
    h.push_str("</table>\n");
    settings(h, summary);
    h.push_str("</div>\n");
}

/// The run folder, the command (resumed when) and the run it retried.
fn run_facts(h: &mut String, summary: &Summary) {
    let r = &summary.run;
    fact(
        h,
        "run folder",
        &format!(
            "<span class=\"m\">{}</span>",
            Esc(&r.run_dir.display().to_string())
        ),
    );

    let mut command = format!("<b>{}</b>", Esc(&r.command));
    if !r.resumed_at.is_empty() {
        let times: Vec<String> = r.resumed_at.iter().map(|t| at(*t)).collect();
        let _ = write!(
            command,
            " — resumed {} time{} (<code>run --resume</code>) at {}",
            times.len(),
            if times.len() == 1 { "" } else { "s" },
            Esc(&times.join(", "))
        );
    }
    fact(h, "command", &command);
    if let Some(prev) = &r.previous_run {
        fact(
            h,
            "previous run",
            &format!(
                "<span class=\"m\">{}</span> (this run retried its rows that did not end MATCH)",
                Esc(&prev.display().to_string())
            ),
        );
    }
}

/// The manifest, its sha256 and the rows of it in this run.
fn manifest_facts(h: &mut String, summary: &Summary) {
    let r = &summary.run;
    let m = &r.manifest;
    fact(
        h,
        "manifest",
        &format!(
            "<span class=\"m\">{}</span> · {} data row{}",
            Esc(&m.path.display().to_string()),
            m.rows,
            if m.rows == 1 { "" } else { "s" }
        ),
    );
    fact(
        h,
        "manifest sha256",
        &format!("<code class=\"h\">{}</code>", Esc(&m.sha256)),
    );
    let selected = match &r.rows_selected {
        Some(sel) => format!(
            "rows {} of the manifest: {} in this run",
            Esc(sel),
            summary.rows_in_run
        ),
        None => format!("all: {} in this run", summary.rows_in_run),
    };
    fact(h, "rows", &selected);
}

/// When the run started and finished, how it ended, and its note.
fn time_facts(h: &mut String, summary: &Summary) {
    let r = &summary.run;
    fact(h, "started", &at(r.started_at));
    let finished = match r.finished_at {
        Some(f) => at(f),
        None => "<span class=\"no\">not finished</span> (killed, or still running)".into(),
    };
    fact(h, "finished", &finished);
    if let Some(d) = summary.duration_seconds {
        fact(h, "duration", &format!("{} ({d:.3} s)", human_duration(d)));
    }
    let exit = match r.exit_code {
        Some(code) => format!("<b>{code}</b> — {}", Esc(exit_meaning(code))),
        None => "none recorded (the run did not finish)".into(),
    };
    fact(h, "exit code", &exit);
    if let Some(note) = &r.note {
        fact(
            h,
            "note",
            &format!("<span class=\"msg\">{}</span>", Esc(note)),
        );
    }
}

/// The documents of an earlier run that the manifest no longer holds (not sent).
fn gone_facts(h: &mut String, summary: &Summary) {
    let r = &summary.run;
    if !r.not_in_manifest.is_empty() {
        const SHOWN: usize = 50;
        let gone = &r.not_in_manifest;
        let mut list: Vec<String> = gone
            .iter()
            .take(SHOWN)
            .map(|g| format!("<span class=\"m\">{}</span>", Esc(&g.to_string())))
            .collect();
        if gone.len() > SHOWN {
            list.push(format!("and {} more (summary.json)", gone.len() - SHOWN));
        }
        fact(
            h,
            "not in the manifest",
            &format!(
                "<span class=\"no\">{} document{} of the earlier run, not sent:</span> {}",
                gone.len(),
                if gone.len() == 1 { "" } else { "s" },
                list.join(", ")
            ),
        );
    }
}

/// Every public setting under its config-file name, so an auditor can compare it with
/// kirim-xray.toml. Taken through serde so that a setting added later shows up by itself.
fn settings(h: &mut String, summary: &Summary) {
    h.push_str(
        "<details class=\"settings\" open><summary>Settings used (flags, environment, config file; \
         no secrets)</summary><table class=\"facts\">",
    );
    match serde_json::to_value(&summary.run.settings) {
        Ok(serde_json::Value::Object(map)) => {
            for (key, value) in &map {
                let shown = match value {
                    serde_json::Value::Null => "<span class=\"muted\">not set</span>".to_string(),
                    serde_json::Value::String(s) => format!("<span class=\"m\">{}</span>", Esc(s)),
                    other => format!("<span class=\"m\">{}</span>", Esc(&other.to_string())),
                };
                fact(h, key, &shown);
            }
        }
        _ => fact(h, "settings", "not available"),
    }
    h.push_str("</table></details>\n");
}
