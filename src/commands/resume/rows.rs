//! Which rows a resumed run keeps and which it processes again: by row number on the manifest
//! the run started with, by nomorAju on a changed one that `--force` accepts.

use std::collections::BTreeSet;
use std::path::Path;

use crate::commands::earlier;
use crate::commands::selection::RowSelection;
use crate::manifest::Manifest;
use crate::model::RowStatus;
use crate::report::journal::{JournalIndex, LineAt, LineReader};
use crate::report::{GoneDocument, RunInfo};

/// Whether a journal line ends a row for good.
pub fn is_final(status: RowStatus) -> bool {
    status != RowStatus::Skipped
}

/// The rows a resumed run keeps (final in the journal: where each one's line is) and the row
/// numbers it processes again. `run_rows` are the rows the run covers: the manifest's, narrowed
/// by the run's selection.
pub fn split(
    run_rows: &[usize],
    journal: &JournalIndex,
) -> (Vec<(usize, LineAt)>, BTreeSet<usize>) {
    let mut kept = Vec::new();
    let mut todo = BTreeSet::new();
    for row in run_rows {
        match journal.get(*row) {
            Some(e) if is_final(e.status) => kept.push((*row, e.at)),
            _ => {
                todo.insert(*row);
            }
        }
    }
    (kept, todo)
}

/// What a resumed run keeps and processes again.
#[derive(Debug, Default, PartialEq)]
pub struct Resumption {
    /// Final journal lines: the row number in the manifest now, and where the line is.
    pub kept: Vec<(usize, LineAt)>,
    /// Rows of the manifest now to process again (each asked about with get first).
    pub todo: BTreeSet<usize>,
    /// Documents of the journal that the manifest no longer holds.
    pub gone: Vec<GoneDocument>,
    /// The `--rows` selection to record for the run, in the manifest's row numbers now.
    pub rows_selected: Option<String>,
    /// What could not be matched, when something could not.
    pub note: Option<String>,
}

/// A resume on the manifest the run started with: rows are row numbers.
pub fn by_row_number(
    manifest: &Manifest,
    run: &RunInfo,
    journal: &JournalIndex,
) -> Result<Resumption, String> {
    let run_rows = earlier::rows_of_run(manifest, run.rows_selected.as_deref())?;
    let (kept, todo) = split(&run_rows, journal);
    Ok(Resumption {
        kept,
        todo,
        rows_selected: run.rows_selected.clone(),
        ..Resumption::default()
    })
}

/// A forced resume on a manifest that changed: the journal's rows are found by nomorAju. A run of
/// the whole manifest goes on over the whole new one; a run of selected rows goes on over the
/// documents its journal names (a selected row that never reached the journal cannot be told
/// from a new one, and is left out with a note). `lines` reads the journal back, for the
/// documents that left the manifest.
pub fn by_document(
    manifest: &Manifest,
    run: &RunInfo,
    journal: &JournalIndex,
    lines: &mut LineReader,
) -> Result<Resumption, String> {
    let found = earlier::by_document(journal, manifest)?;
    let mut r = Resumption::default();
    for e in &journal.entries {
        match found.now.get(&e.row) {
            Some(now) if is_final(e.status) => r.kept.push((*now, e.at)),
            Some(now) => {
                r.todo.insert(*now);
            }
            None => r
                .gone
                .push(earlier::gone(lines, e).map_err(|e| e.to_string())?),
        }
    }
    r.kept.sort_unstable();
    match &run.rows_selected {
        None => r.todo.extend(found.unmatched),
        Some(selection) => {
            let missing = earlier::unjournaled(run, journal);
            if missing > 0 {
                r.note = Some(format!(
                    "{missing} row{} selected by --rows {selection} never reached the journal: \
                     in the changed manifest {} cannot be told from new rows, and {} not processed",
                    if missing == 1 { "" } else { "s" },
                    if missing == 1 { "it" } else { "they" },
                    if missing == 1 { "is" } else { "are" },
                ));
            }
            let rows: Vec<usize> = r
                .kept
                .iter()
                .map(|(row, _)| *row)
                .chain(r.todo.iter().copied())
                .collect();
            r.rows_selected = Some(RowSelection::from_rows(&rows).text().to_string());
        }
    }
    Ok(r)
}

/// Refuse a manifest that changed since the run started, unless forced (then say so in a note).
pub fn check_manifest(
    path: &Path,
    started_with: &str,
    now: &str,
    force: bool,
) -> Result<Option<String>, String> {
    if started_with == now {
        return Ok(None);
    }
    let what = format!(
        "{} changed since the run started (sha256 was {started_with}, is now {now})",
        path.display()
    );
    if force {
        Ok(Some(format!(
            "resumed with --force although {what}: the journal's rows were found again by \
             nomorAju, and finished ones kept as they ended"
        )))
    } else {
        Err(format!(
            "{what}; resuming would go on with another manifest than the run started with. \
             Start a new run (or `kirim-xray retry`), or resume with --force to accept the new \
             file (the journal's rows are then found again by nomorAju)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::earlier::manifest_of_documents;
    use crate::model::RowResult;
    use crate::report::journal::tests::{OnDisk, sample};

    fn with(row: usize, status: RowStatus) -> RowResult {
        let mut r = sample(row);
        r.status = status;
        r
    }

    #[test]
    fn final_rows_are_kept_and_the_rest_processed_again() {
        let journal = OnDisk::of([
            with(2, RowStatus::Match),
            with(3, RowStatus::Skipped),
            with(4, RowStatus::Failed),
            with(5, RowStatus::Invalid),
            with(6, RowStatus::NotFound),
            with(7, RowStatus::Mismatch),
            // Outside the run (another selection): ignored.
            with(40, RowStatus::Match),
        ]);
        let run_rows: Vec<usize> = (2..=9).collect();
        let (kept, todo) = split(&run_rows, &journal.index);
        assert_eq!(
            kept.iter().map(|(row, _)| *row).collect::<Vec<_>>(),
            [2, 4, 5, 6, 7]
        );
        let mut lines = journal.lines();
        assert_eq!(lines.row(kept[1].1).unwrap(), with(4, RowStatus::Failed));
        assert_eq!(todo.into_iter().collect::<Vec<_>>(), [3, 8, 9]);
    }

    fn doc(row: usize, aju: &str, status: RowStatus) -> RowResult {
        let mut r = with(row, status);
        r.fields.nomor_aju = aju.into();
        r
    }

    /// A row inserted above a finished one: the finished document keeps its result under its new
    /// number, the new row is processed, and a document that left is listed, not replaced.
    #[test]
    fn a_forced_resume_finds_the_journal_rows_by_document() {
        let journal = OnDisk::of([
            doc(2, "A", RowStatus::Match),
            doc(3, "B", RowStatus::Failed),
            doc(4, "C", RowStatus::Skipped),
            doc(5, "GONE", RowStatus::Match),
        ]);
        let mut lines = journal.lines();
        let mut run = crate::report::summary::tests::info();
        run.manifest.rows = 6; // row 6 never reached the journal
        let now = manifest_of_documents(&["A", "NEW", "B", "C", "D"], "new");
        let r = by_document(&now, &run, &journal.index, &mut lines).unwrap();
        let kept: Vec<(usize, String, RowStatus)> = r
            .kept
            .iter()
            .map(|(now, at)| {
                let line = lines.row(*at).unwrap();
                (*now, line.fields.nomor_aju, line.status)
            })
            .collect();
        assert_eq!(
            kept,
            [
                (2, "A".to_string(), RowStatus::Match),
                (4, "B".to_string(), RowStatus::Failed)
            ]
        );
        assert_eq!(r.todo.into_iter().collect::<Vec<_>>(), [3, 5, 6]);
        assert_eq!(r.gone.len(), 1);
        assert_eq!(r.gone[0].to_string(), "GONE (was row 5, MATCH)");
        assert_eq!(r.rows_selected, None);

        // A run of selected rows goes on over its journal's documents only.
        run.rows_selected = Some("2-6".into());
        let r = by_document(&now, &run, &journal.index, &mut lines).unwrap();
        assert_eq!(r.todo.into_iter().collect::<Vec<_>>(), [5]);
        assert_eq!(r.rows_selected.as_deref(), Some("2,4-5"));
        let note = r.note.unwrap();
        assert!(
            note.starts_with("1 row selected by --rows 2-6 never reached"),
            "{note}"
        );
    }

    #[test]
    fn a_changed_manifest_is_refused_unless_forced() {
        let p = Path::new("m.csv");
        assert_eq!(check_manifest(p, "aa", "aa", false), Ok(None));
        let e = check_manifest(p, "aa", "bb", false).unwrap_err();
        assert!(
            e.starts_with("m.csv changed since the run started (sha256 was aa, is now bb)"),
            "{e}"
        );
        assert!(e.contains("--force"), "{e}");
        let note = check_manifest(p, "aa", "bb", true).unwrap().unwrap();
        assert!(note.contains("--force"), "{note}");
    }
}
