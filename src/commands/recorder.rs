//! Where a run's finished rows go: each one to the journal as it finishes, and the place of its
//! line kept (8 bytes and a row number a row), so that the outputs are read back from the journal
//! at the end. A row whose line cannot be written (the run folder is full, or failing) stops the
//! run, and is held in memory so the outputs still say what it did: few rows, since nothing more
//! is sent after the first.

use std::path::Path;
use std::sync::Mutex;

use super::outputs::RunRows;
use super::staged::Staged;
use crate::model::{RowResult, RowStatus};
use crate::pipeline::Cancel;
use crate::report::Journal;
use crate::report::journal::LineAt;
use crate::validate::CheckedRow;

pub struct Recorder<'a> {
    journal: &'a Journal,
    /// Told when a line cannot be written; `None` where nothing is being sent.
    cancel: Option<&'a Cancel>,
    /// Where each row processed now went in the journal.
    done: Mutex<Vec<(usize, LineAt)>>,
    /// Rows that finished but could not be journaled.
    unjournaled: Mutex<Vec<RowResult>>,
}

impl<'a> Recorder<'a> {
    pub fn new(journal: &'a Journal, cancel: Option<&'a Cancel>, rows: usize) -> Recorder<'a> {
        Recorder {
            journal,
            cancel,
            done: Mutex::new(Vec::with_capacity(rows)),
            unjournaled: Mutex::new(Vec::new()),
        }
    }

    /// Journal one finished row.
    pub fn record(&self, r: &RowResult) {
        match append(self.journal, r, self.cancel) {
            Some(at) => lock(&self.done).push((r.row, at)),
            // A row INVALID, or SKIPPED before its first request, is shown the same without it.
            None if r.status == RowStatus::Invalid
                || (r.status == RowStatus::Skipped && r.requests == 0) => {}
            None => lock(&self.unjournaled).push(r.clone()),
        }
    }

    /// The lines journaled so far (taken: the next call starts empty).
    pub fn take_done(&self) -> Vec<(usize, LineAt)> {
        std::mem::take(&mut *lock(&self.done))
    }

    /// Every row of the run, for the outputs: `kept` from before, the lines journaled so far, the
    /// rows held in memory and `more` (given up on in flight); a row of `todo` in none of them
    /// is shown as `absent` says.
    pub fn rows<'b>(
        &self,
        kept: Vec<(usize, LineAt)>,
        todo: &'b Staged,
        absent: &'b (dyn Fn(&CheckedRow) -> RowResult + Sync),
        more: Vec<RowResult>,
    ) -> RunRows<'b> {
        let path = self.journal.path().to_path_buf();
        let mut rows = RunRows::of(path, kept, todo, self.take_done(), absent);
        rows.in_flight = self.held(more);
        rows
    }

    /// The rows held in memory for the outputs, sorted by row: those not journaled, and `more`.
    pub fn held(&self, more: Vec<RowResult>) -> Vec<RowResult> {
        let mut rows = std::mem::take(&mut *lock(&self.unjournaled));
        rows.extend(more);
        rows.sort_by_key(|r| r.row);
        rows
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Journal one finished row; where its line went, or `None` when it could not be. Then, during
/// the run, `cancel` stops it: a row the journal cannot record must not be followed by more
/// requests (a resume would not know of them), so nothing more is sent, rows in flight end at
/// their next request, and the rest are SKIPPED. What the server holds of the rows not
/// journaled, `--resume` asks with get.
pub fn append(journal: &Journal, r: &RowResult, cancel: Option<&Cancel>) -> Option<LineAt> {
    let e = match journal.append(r) {
        Ok(at) => return Some(at),
        Err(e) => e,
    };
    let why = format!(
        "cannot append row {} to {}: {e}",
        r.row,
        journal.path().display()
    );
    match cancel {
        Some(cancel) if cancel.output_lost(why.clone()) => {
            let run_dir = journal.path().parent().unwrap_or(Path::new("."));
            tracing::error!(
                "{why}; sending nothing more: rows in flight stop at their next request, the \
                 rest are SKIPPED (exit code 5). Free space, then `kirim-xray run --resume {}`",
                run_dir.display()
            );
        }
        _ => tracing::error!("{why}"),
    }
    None
}
