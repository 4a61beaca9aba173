//! The rows of a run as its outputs show them, read from disk one at a time: the journal is the
//! source. A row's result is its journal line, found by an index of where each row's line is
//! (16 bytes a row); a row of this process that has no line (given up on in flight, not reached
//! when the run stopped, or not sent at all) is made from its validated row, waiting on disk
//! ([`Staged`]). Rows kept from an earlier process of the run (resume) and the rows processed now
//! are merged by row number, which is manifest order: both lists are in that order.

use std::iter::Peekable;
use std::path::PathBuf;

use anyhow::Context;

use super::staged::{Staged, StagedRows};
use crate::model::RowResult;
use crate::report::journal::{LineAt, LineReader};
use crate::report::{RowSource, Rows};
use crate::validate::CheckedRow;

/// Where the rows of a run come from when its outputs are written.
pub struct RunRows<'a> {
    /// journal.jsonl of the run.
    pub journal: PathBuf,
    /// Rows kept from before (resume, `report`): the line of each, sorted by row.
    pub kept: Vec<(usize, LineAt)>,
    /// The rows this process processed, or was to process, in manifest order.
    pub staged: Option<&'a Staged>,
    /// The lines this process journaled, sorted by row.
    pub done: Vec<(usize, LineAt)>,
    /// Rows held in memory, sorted by row: given up on in flight, or finished but not journaled
    /// (a run folder that cannot be written).
    pub in_flight: Vec<RowResult>,
    /// How a staged row that is in neither `done` nor `in_flight` is shown (its validation
    /// warnings are added to the message after: [`RowResult::with_warnings`]).
    pub absent: &'a (dyn Fn(&CheckedRow) -> RowResult + Sync),
}

impl<'a> RunRows<'a> {
    /// The rows of `staged`, processed now, with the lines of `done`.
    pub fn of(
        journal: PathBuf,
        kept: Vec<(usize, LineAt)>,
        staged: &'a Staged,
        mut done: Vec<(usize, LineAt)>,
        absent: &'a (dyn Fn(&CheckedRow) -> RowResult + Sync),
    ) -> RunRows<'a> {
        done.sort_unstable();
        RunRows {
            journal,
            kept,
            staged: Some(staged),
            done,
            in_flight: Vec::new(),
            absent,
        }
    }
}

impl RowSource for RunRows<'_> {
    fn rows(&self) -> anyhow::Result<Rows<'_>> {
        Ok(Box::new(Merged {
            src: self,
            lines: LineReader::new(&self.journal),
            kept: self.kept.iter().peekable(),
            staged: self.staged.map(|s| s.iter().peekable()),
            done: 0,
        }))
    }
}

struct Merged<'a> {
    src: &'a RunRows<'a>,
    lines: LineReader,
    kept: Peekable<std::slice::Iter<'a, (usize, LineAt)>>,
    staged: Option<Peekable<StagedRows>>,
    /// The first line of `src.done` not passed yet.
    done: usize,
}

impl Merged<'_> {
    fn line(&mut self, at: LineAt) -> anyhow::Result<RowResult> {
        Ok(self.lines.row(at)?)
    }

    /// The result of the staged row `row`.
    fn staged(&mut self, row: CheckedRow) -> anyhow::Result<RowResult> {
        let done = &self.src.done;
        while self.done < done.len() && done[self.done].0 < row.row {
            self.done += 1;
        }
        if let Some(&(n, at)) = done.get(self.done)
            && n == row.row
        {
            return self.line(at);
        }
        let in_flight = &self.src.in_flight;
        if let Ok(i) = in_flight.binary_search_by_key(&row.row, |r| r.row) {
            return Ok(in_flight[i].clone());
        }
        Ok((self.src.absent)(&row).with_warnings(&row))
    }
}

impl Iterator for Merged<'_> {
    type Item = anyhow::Result<RowResult>;

    fn next(&mut self) -> Option<anyhow::Result<RowResult>> {
        let next_staged = match self.staged.as_mut().and_then(|s| s.peek()) {
            None => None,
            Some(Ok(row)) => Some(row.row),
            Some(Err(_)) => {
                let e = self.staged.as_mut()?.next()?.err()?;
                self.staged = None;
                return Some(
                    Err(e).context("cannot read the validated rows back from the temporary folder"),
                );
            }
        };
        let next_kept = self.kept.peek().map(|(row, _)| *row);
        match (next_kept, next_staged) {
            (None, None) => None,
            (Some(k), s) if s.is_none_or(|s| k < s) => {
                let (_, at) = *self.kept.next()?;
                Some(self.line(at))
            }
            (k, Some(s)) => {
                // A row processed now replaces the line kept from before.
                if k == Some(s) {
                    self.kept.next();
                }
                match self.staged.as_mut()?.next()? {
                    Ok(row) => Some(self.staged(row)),
                    Err(e) => Some(Err(e.into())),
                }
            }
            (Some(_), None) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{RowFields, RowStatus};
    use crate::report::Journal;
    use crate::validate::{Problem, Severity};

    fn checked(row: usize, valid: bool) -> CheckedRow {
        CheckedRow {
            row,
            fields: RowFields {
                nomor_aju: format!("AJU{row}"),
                ..RowFields::default()
            },
            problems: if valid {
                vec![]
            } else {
                vec![Problem {
                    row,
                    column: Some("folder"),
                    value: "x".into(),
                    message: "does not exist".into(),
                    severity: Severity::Error,
                }]
            },
            shipment: valid.then(|| crate::model::Shipment {
                row,
                meta: crate::model::DocMeta {
                    nomor_aju: format!("AJU{row}"),
                    nomor_bl_awb: "BL".into(),
                    tanggal_bl_awb: "2025-01-02".into(),
                    kode_kantor: "040300".into(),
                },
                folder: "f".into(),
                images: vec![],
            }),
        }
    }

    fn with(row: usize, status: RowStatus) -> RowResult {
        let mut r = crate::report::journal::tests::sample(row);
        r.status = status;
        r
    }

    /// Rows kept from an earlier process and rows processed now, journaled in the order they
    /// finished (not manifest order), come out in manifest order, each once; a processed row
    /// replaces its kept line; rows without a line are made from their validated row.
    #[test]
    fn rows_come_out_in_manifest_order_from_the_journal_and_the_validated_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let journal = Journal::create(&path).unwrap();
        // Kept from before: rows 2, 4 and 9 (9 is processed again now).
        let kept: Vec<(usize, LineAt)> = [2, 4, 9]
            .into_iter()
            .map(|row| (row, journal.append(&with(row, RowStatus::Match)).unwrap()))
            .collect();
        // Processed now: 3, 5, 6, 7, 8, 9; 8 and 3 finished (in that order), 6 is in flight,
        // 5 is invalid and 7 and 9 were never started.
        let staged = Staged::of([3, 5, 6, 7, 8, 9].map(|row| checked(row, row != 5))).unwrap();
        let done = vec![
            (8, journal.append(&with(8, RowStatus::Failed)).unwrap()),
            (3, journal.append(&with(3, RowStatus::NotFound)).unwrap()),
        ];
        let absent = |row: &CheckedRow| match row.shipment {
            None => RowResult::invalid(row),
            Some(_) => RowResult::skipped(row),
        };
        let mut rows = RunRows::of(path, kept, &staged, done, &absent);
        rows.in_flight = vec![RowResult {
            message: crate::pipeline::IN_FLIGHT_MESSAGE.into(),
            ..RowResult::skipped(&checked(6, true))
        }];
        for _ in 0..2 {
            let got: Vec<(usize, RowStatus)> = rows
                .rows()
                .unwrap()
                .map(|r| r.map(|r| (r.row, r.status)).unwrap())
                .collect();
            assert_eq!(
                got,
                [
                    (2, RowStatus::Match),
                    (3, RowStatus::NotFound),
                    (4, RowStatus::Match),
                    (5, RowStatus::Invalid),
                    (6, RowStatus::Skipped),
                    (7, RowStatus::Skipped),
                    (8, RowStatus::Failed),
                    (9, RowStatus::Skipped),
                ],
                "read as many times as the outputs need"
            );
        }
        let six = rows.rows().unwrap().nth(4).unwrap().unwrap();
        assert_eq!(six.message, crate::pipeline::IN_FLIGHT_MESSAGE);
    }
}
