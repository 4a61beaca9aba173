//! summary.json (for machines, and to rebuild a run's outputs later) and summary.txt (the same
//! for people, printed at the end of a run).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::api::ApiStats;
use crate::config::PublicSettings;
use crate::escape::escape_control;
use crate::model::{RowResult, RowStatus};

pub use super::tally::{PhotoCounts, Tally};

/// One line of summary.txt: the whole line passed through [`escape_control`], so that a value
/// holding a line break or an escape sequence cannot forge or hide a line.
macro_rules! text_line {
    ($t:expr, $($arg:tt)*) => {{
        $t.push_str(&escape_control(&format!($($arg)*)));
        $t.push('\n');
    }};
}

/// The manifest a run read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestInfo {
    pub path: PathBuf,
    pub sha256: String,
    /// Data rows in the manifest (before any `--rows` selection).
    pub rows: usize,
}

/// Requests as the HTTP client counted them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestCounts {
    /// endpoint → HTTP status or failure kind → count.
    pub per_endpoint: BTreeMap<String, BTreeMap<String, u64>>,
    pub api_requests: u64,
    pub throttled_429: u64,
    pub logins: u64,
    pub token_refreshes: u64,
    /// X-ray API requests per second between the first and the last one.
    pub achieved_rate: Option<f64>,
}

impl From<&ApiStats> for RequestCounts {
    fn from(s: &ApiStats) -> Self {
        RequestCounts {
            per_endpoint: s.requests.clone(),
            api_requests: s.api_requests,
            throttled_429: s.throttled,
            logins: s.logins,
            token_refreshes: s.token_refreshes,
            achieved_rate: s.achieved_rate(),
        }
    }
}

impl RequestCounts {
    /// These requests and `other`'s (see [`RequestCounts::add`]).
    pub fn plus(mut self, other: &RequestCounts) -> RequestCounts {
        self.add(other);
        self
    }

    /// Add the requests of another process of the same run (resume). The achieved rate is the
    /// other process's when it has one: a rate across a pause would mean nothing.
    pub fn add(&mut self, other: &RequestCounts) {
        for (endpoint, statuses) in &other.per_endpoint {
            let mine = self.per_endpoint.entry(endpoint.clone()).or_default();
            for (status, n) in statuses {
                *mine.entry(status.clone()).or_default() += n;
            }
        }
        self.api_requests += other.api_requests;
        self.throttled_429 += other.throttled_429;
        self.logins += other.logins;
        self.token_refreshes += other.token_refreshes;
        if other.achieved_rate.is_some() {
            self.achieved_rate = other.achieved_rate;
        }
    }
}

/// What a command knows about its run besides the rows. Stored inside summary.json, so that
/// `report`/`--resume` can read it back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// `run`, `retry`, `reconcile`.
    pub command: String,
    pub run_dir: PathBuf,
    pub manifest: ManifestInfo,
    /// The `--rows` selection, when there was one.
    pub rows_selected: Option<String>,
    pub started_at: DateTime<Utc>,
    /// None while the run is still going (or was killed before the end).
    pub finished_at: Option<DateTime<Utc>>,
    pub settings: PublicSettings,
    pub requests: RequestCounts,
    pub exit_code: Option<i32>,
    /// The run folder this one retries.
    pub previous_run: Option<PathBuf>,
    /// Why the run ended early, when it did (authentication refused, interrupted...).
    pub note: Option<String>,
    /// When `run --resume` continued this run, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resumed_at: Vec<DateTime<Utc>>,
    /// Documents of the earlier run (retry) or of this run before its manifest changed (a forced
    /// resume) that the manifest no longer holds: reported here, never replaced by another row.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_in_manifest: Vec<GoneDocument>,
}

/// A document that left the manifest: where it was, and how it had ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GoneDocument {
    #[serde(rename = "nomorAju")]
    pub nomor_aju: String,
    /// Its row in the manifest as the earlier run read it.
    pub row: usize,
    pub status: RowStatus,
}

impl fmt::Display for GoneDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (was row {}, {})",
            self.nomor_aju, self.row, self.status
        )
    }
}

/// summary.json.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub version: String,
    #[serde(flatten)]
    pub run: RunInfo,
    pub duration_seconds: Option<f64>,
    pub rows_in_run: usize,
    pub counts: BTreeMap<RowStatus, usize>,
    pub photos: PhotoCounts,
    /// Repeated tries over all rows (attempts − 1 per row).
    pub retries: u64,
    /// File name → sha256 of results.csv, images.csv and journal.jsonl as the run left them
    /// (see `report::seal`); empty until the run's outputs are written at its end.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sha256: BTreeMap<String, String>,
}

impl Summary {
    pub fn build(run: &RunInfo, rows: &[RowResult]) -> Summary {
        Summary::of(run, &Tally::of(rows))
    }

    /// summary.json for `run` with the counts of `tally`.
    pub fn of(run: &RunInfo, tally: &Tally) -> Summary {
        Summary {
            version: env!("CARGO_PKG_VERSION").to_string(),
            run: run.clone(),
            duration_seconds: run
                .finished_at
                .map(|f| (f - run.started_at).num_milliseconds() as f64 / 1000.0),
            rows_in_run: tally.rows,
            counts: tally.counts.clone(),
            photos: tally.photos.clone(),
            retries: tally.retries,
            sha256: BTreeMap::new(),
        }
    }

    /// summary.txt: short, for people. Lists the first rows that need attention (`tally` holds
    /// them).
    pub fn to_text(&self, tally: &Tally) -> String {
        let mut t = String::new();
        self.text_what_ran(&mut t);
        self.text_counts(&mut t);
        self.text_history(&mut t);
        Self::text_attention(&mut t, tally);
        t
    }

    /// What ran, on which manifest and rows, and when.
    fn text_what_ran(&self, t: &mut String) {
        let r = &self.run;
        text_line!(
            t,
            "kirim-xray {} {}: {}",
            self.version,
            r.command,
            r.run_dir.display()
        );
        text_line!(
            t,
            "manifest  {} ({} rows, sha256 {})",
            r.manifest.path.display(),
            r.manifest.rows,
            r.manifest.sha256
        );
        if let Some(sel) = &r.rows_selected {
            text_line!(
                t,
                "selected  rows {sel} ({} row{} in this run)",
                self.rows_in_run,
                if self.rows_in_run == 1 { "" } else { "s" }
            );
        }
        let end = r
            .finished_at
            .map_or("(not finished)".to_string(), |f| f.to_rfc3339());
        let took = self
            .duration_seconds
            .map_or(String::new(), |d| format!(" ({})", human_duration(d)));
        text_line!(t, "time      {} → {end}{took}", r.started_at.to_rfc3339());
    }

    /// Rows by status, photos and requests.
    fn text_counts(&self, t: &mut String) {
        let r = &self.run;
        let counts: Vec<String> = self
            .counts
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(s, n)| format!("{n} {s}"))
            .collect();
        let counts = if counts.is_empty() {
            "none".to_string()
        } else {
            counts.join(" · ")
        };
        text_line!(t, "rows      {counts}");
        text_line!(
            t,
            "photos    {} local · {} sent · {} on server",
            self.photos.local,
            self.photos.sent,
            self.photos.on_server
        );
        let rate = r
            .requests
            .achieved_rate
            .map_or(String::new(), |x| format!(" at {x:.2}/s"));
        text_line!(
            t,
            "requests  {} API requests{rate} (limit {}/s) · {} retries · {} throttled (429)",
            r.requests.api_requests,
            r.settings.rate,
            self.retries,
            r.requests.throttled_429
        );
    }

    /// The run this one retries, its resumes and notes, the documents that left the manifest,
    /// and its exit.
    fn text_history(&self, t: &mut String) {
        let r = &self.run;
        if let Some(prev) = &r.previous_run {
            text_line!(t, "retries   {}", prev.display());
        }
        for at in &r.resumed_at {
            text_line!(t, "resumed   {}", at.to_rfc3339());
        }
        if let Some(note) = &r.note {
            text_line!(t, "note      {note}");
        }
        if !r.not_in_manifest.is_empty() {
            text_line!(
                t,
                "not in the manifest any more ({}), not sent:",
                r.not_in_manifest.len()
            );
            for gone in r.not_in_manifest.iter().take(20) {
                text_line!(t, "  {gone}");
            }
            if r.not_in_manifest.len() > 20 {
                text_line!(
                    t,
                    "  ... {} more in summary.json",
                    r.not_in_manifest.len() - 20
                );
            }
        }
        if let Some(code) = r.exit_code {
            text_line!(t, "exit      {code} ({})", exit_meaning(code));
        }
    }

    /// The first rows that need attention.
    fn text_attention(t: &mut String, tally: &Tally) {
        if tally.attention > 0 {
            text_line!(t, "rows needing attention ({}):", tally.attention);
            for x in &tally.listed {
                text_line!(
                    t,
                    "  row {} {} {}: {}",
                    x.row,
                    x.nomor_aju,
                    x.status,
                    x.message
                );
            }
            if tally.attention > tally.listed.len() {
                text_line!(
                    t,
                    "  ... {} more in results.csv",
                    tally.attention - tally.listed.len()
                );
            }
        }
    }
}

pub fn exit_meaning(code: i32) -> &'static str {
    match code {
        0 => "every row MATCH",
        1 => "some rows need attention",
        2 => "usage, config or manifest error; nothing sent",
        3 => "could not authenticate or reach the API",
        4 => "another run holds the lock",
        5 => "the run folder could not be written; stopped sending",
        130 => "interrupted (SIGINT)",
        143 => "terminated (SIGTERM)",
        _ => "unknown",
    }
}

pub fn human_duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m {s}s"),
        (h, m, s) => format!("{h}h {m}m {s}s"),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::{Layer, Settings};
    use crate::report::journal::tests::sample;
    use chrono::TimeZone;

    pub(crate) fn info() -> RunInfo {
        let settings =
            Settings::from_layers(Layer::default(), Layer::default(), Layer::default(), None)
                .unwrap()
                .public_view();
        let start = Utc.with_ymd_and_hms(2025, 1, 2, 3, 4, 5).unwrap();
        RunInfo {
            command: "run".into(),
            run_dir: "runs/20250102T030405Z".into(),
            manifest: ManifestInfo {
                path: "m.csv".into(),
                sha256: "ff".into(),
                rows: 3,
            },
            rows_selected: None,
            started_at: start,
            finished_at: Some(start + chrono::Duration::seconds(65)),
            settings,
            requests: RequestCounts {
                api_requests: 7,
                throttled_429: 1,
                ..Default::default()
            },
            exit_code: Some(1),
            previous_run: None,
            note: None,
            resumed_at: vec![],
            not_in_manifest: vec![],
        }
    }

    #[test]
    fn counts_photos_retries_and_text() {
        let mut ok = sample(3);
        ok.status = RowStatus::Match;
        ok.attempts = 1;
        let rows = vec![sample(2), ok];
        let s = Summary::build(&info(), &rows);
        assert_eq!(s.counts[&RowStatus::Mismatch], 1);
        assert_eq!(s.counts[&RowStatus::Match], 1);
        assert_eq!(s.counts[&RowStatus::Skipped], 0);
        assert_eq!(
            s.photos,
            PhotoCounts {
                local: 4,
                sent: 4,
                on_server: 2
            }
        );
        assert_eq!(s.retries, 1);
        assert_eq!(s.duration_seconds, Some(65.0));
        let json = serde_json::to_string(&s).unwrap();
        let back: Summary = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s, "summary.json reads back");
        let text = s.to_text(&Tally::of(&rows));
        assert!(text.contains("1 MATCH · 1 MISMATCH"), "{text}");
        assert!(text.contains("(1m 5s)"), "{text}");
        assert!(
            text.contains("exit      1 (some rows need attention)"),
            "{text}"
        );
        assert!(
            text.contains("row 2 AJU2 MISMATCH: line\\nbreak"),
            "a line break in a message is shown escaped: {text}"
        );
        assert!(
            !json.contains("resumed_at"),
            "absent until a run is resumed: {json}"
        );
        assert!(!json.contains("not_in_manifest"), "{json}");
        assert!(!text.contains("not in the manifest"), "{text}");
    }

    #[test]
    fn documents_that_left_the_manifest_are_listed() {
        let mut i = info();
        i.not_in_manifest = vec![GoneDocument {
            nomor_aju: "AJU9".into(),
            row: 4,
            status: RowStatus::Failed,
        }];
        let s = Summary::build(&i, &[]);
        let json = serde_json::to_string(&s).unwrap();
        assert!(
            json.contains(r#""not_in_manifest":[{"nomorAju":"AJU9","row":4,"status":"FAILED"}]"#),
            "{json}"
        );
        let text = s.to_text(&Tally::default());
        assert!(
            text.contains(
                "not in the manifest any more (1), not sent:\n  AJU9 (was row 4, FAILED)\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn requests_of_a_resumed_run_add_up() {
        let mut a = RequestCounts::default();
        a.per_endpoint
            .entry("kirim-foto-xray".into())
            .or_default()
            .insert("200".into(), 3);
        a.api_requests = 5;
        a.achieved_rate = Some(2.0);
        let mut b = a.clone();
        b.per_endpoint
            .entry("get-foto-xray".into())
            .or_default()
            .insert("404".into(), 1);
        b.achieved_rate = None;
        a.add(&b);
        assert_eq!(a.per_endpoint["kirim-foto-xray"]["200"], 6);
        assert_eq!(a.per_endpoint["get-foto-xray"]["404"], 1);
        assert_eq!(a.api_requests, 10);
        assert_eq!(a.achieved_rate, Some(2.0), "kept when the other has none");
    }
}
