//! What the outputs count over a run's rows as they pass, one at a time: summary.json's counts,
//! and the first rows needing attention that summary.txt lists. Nothing in it grows with the
//! number of rows, so the rows can be read from the journal on disk.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::escape::escape_control;
use crate::model::{RowResult, RowStatus};

/// How many rows needing attention summary.txt lists.
const ATTENTION_LISTED: usize = 20;

/// A row needing attention, as summary.txt lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct AttentionLine {
    pub row: usize,
    pub nomor_aju: String,
    pub status: RowStatus,
    pub message: String,
}

/// The counts of the rows seen so far.
#[derive(Debug, Clone, PartialEq)]
pub struct Tally {
    pub rows: usize,
    pub counts: BTreeMap<RowStatus, usize>,
    pub photos: PhotoCounts,
    pub retries: u64,
    /// Rows that did not end MATCH.
    pub attention: usize,
    /// The first [`ATTENTION_LISTED`] of them.
    pub listed: Vec<AttentionLine>,
}

impl Default for Tally {
    fn default() -> Tally {
        Tally {
            rows: 0,
            counts: RowStatus::ALL.into_iter().map(|s| (s, 0)).collect(),
            photos: PhotoCounts::default(),
            retries: 0,
            attention: 0,
            listed: Vec::new(),
        }
    }
}

impl Tally {
    pub fn of(rows: &[RowResult]) -> Tally {
        let mut t = Tally::default();
        rows.iter().for_each(|r| t.add(r));
        t
    }

    /// The counts of every row of `rows`, read one at a time.
    pub fn count(rows: &dyn super::RowSource) -> anyhow::Result<Tally> {
        let mut t = Tally::default();
        for r in rows.rows()? {
            t.add(&r?);
        }
        Ok(t)
    }

    /// Count one more row.
    pub fn add(&mut self, r: &RowResult) {
        self.rows += 1;
        *self.counts.entry(r.status).or_default() += 1;
        self.photos.local += r.local_count;
        self.photos.sent += r.uploaded;
        self.photos.on_server += r
            .images
            .iter()
            .filter(|i| i.on_server == Some(true))
            .count();
        self.retries += u64::from(r.attempts.saturating_sub(1));
        if r.status != RowStatus::Match {
            self.attention += 1;
            if self.listed.len() < ATTENTION_LISTED {
                self.listed.push(AttentionLine {
                    row: r.row,
                    nomor_aju: r.fields.nomor_aju.clone(),
                    status: r.status,
                    message: short(&r.message, 160),
                });
            }
        }
    }

    /// Every row ended MATCH (true when there is none).
    pub fn all_match(&self) -> bool {
        self.attention == 0
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PhotoCounts {
    pub local: usize,
    /// Sent by this run and acknowledged.
    pub sent: usize,
    /// Listed by the final get.
    pub on_server: usize,
}

/// At most `max` characters of `s`, its control characters escaped (so a message stays on its
/// line).
fn short(s: &str, max: usize) -> String {
    let one_line = escape_control(s);
    if one_line.chars().count() <= max {
        one_line.into_owned()
    } else {
        one_line.chars().take(max).collect::<String>() + "…"
    }
}
