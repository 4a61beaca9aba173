//! `kirim-xray run --resume RUN_DIR`: continue an interrupted run in its own folder.
//!
//! The journal is the memory of the run: a row whose last journal line is final (MATCH, MISMATCH,
//! NOT_FOUND, INVALID, FAILED) is kept as it is; every other row of the run — SKIPPED, or never
//! journaled because the process died — is processed again, asking with get before sending,
//! because it may have been in flight when the process died. FAILED rows are kept: they failed for
//! a reason that a resume does not fix (`retry` exists for them). The manifest must be the one the
//! run started with (its sha256 is in summary.json), where rows are matched by row number.
//! `--force` accepts a changed one: then the journal's rows are found again by nomorAju (see
//! `earlier.rs`), finished rows are kept under their new row numbers in a journal started over
//! (the old one is kept beside it), and a document that left the manifest is listed in the
//! summary, never replaced by the row that took its place.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::earlier;
use super::locks;
use super::run::{read_manifest, validate_rows};
use super::selection::RowSelection;
use super::shared::{self, RowMode, Work};
use crate::cli::RunArgs;
use crate::config::{Need, Settings};
use crate::exit::Exit;
use crate::manifest::Manifest;
use crate::model::{RowResult, RowStatus};
use crate::report::journal::{JournalIndex, LineAt, LineReader};
use crate::report::{self, GoneDocument, Journal, RunInfo, Summary};

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

/// The run folder to resume, what it recorded, and the settings it goes on with.
struct Opened {
    run_dir: PathBuf,
    previous: Summary,
    /// The run folder's own out folder, whatever --out says: that is where its lock lives.
    out: PathBuf,
    settings: Settings,
}

/// What the manifest and the journal say the resume does, before any row is validated.
struct Plan {
    manifest_path: PathBuf,
    manifest: Manifest,
    /// Whether the manifest changed since the run started (the resume was forced onto it).
    changed: bool,
    /// The note on the changed manifest.
    note: Option<String>,
    /// The note on journal lines that could not be read.
    skipped: Option<String>,
    /// Reads the journal's lines back, for the kept rows.
    lines: LineReader,
    resumption: Resumption,
}

pub fn resume(args: RunArgs, run_dir: &Path) -> Exit {
    let Opened {
        run_dir,
        previous,
        out,
        settings,
    } = match open(&args, run_dir) {
        Ok(o) => o,
        Err(exit) => return exit,
    };
    let log = settings.start_logging();
    let resumed_at = Utc::now();
    // The lock before reading the journal: no other process may be appending to it.
    let _lock = match locks::lock(&out, resumed_at) {
        Ok(l) => l,
        Err(exit) => return exit,
    };
    let _account = match locks::lock_account(&settings, resumed_at, Some(&run_dir)) {
        Ok(l) => l,
        Err(exit) => return exit,
    };
    shared::log_into(&log, &run_dir);
    tracing::info!("resuming {}", run_dir.display());

    let plan = match plan(&args, &run_dir, &previous.run, &settings) {
        Ok(p) => p,
        Err(exit) => return exit,
    };
    let todo = plan.resumption.todo.clone();
    let prepared = match validate_rows(plan.manifest, &plan.manifest_path, &settings, &|row| {
        todo.contains(&row)
    }) {
        Ok(p) => p,
        Err(e) => return cannot_resume(&run_dir, e),
    };
    let Resumption {
        kept,
        gone,
        rows_selected,
        note: unmatched,
        ..
    } = plan.resumption;
    let (journal, kept, note) = match open_journal(
        &run_dir,
        plan.changed,
        resumed_at,
        plan.note,
        kept,
        plan.lines,
    ) {
        Ok(j) => j,
        Err(exit) => return exit,
    };
    let cancel = shared::listen_for_signals();
    let mut info = previous.run;
    info.run_dir = run_dir.clone();
    info.manifest = prepared.manifest.clone();
    info.finished_at = None;
    info.exit_code = None;
    info.settings = settings.public_view();
    info.note = earlier::join_notes(earlier::join_notes(note, plan.skipped), unmatched);
    info.resumed_at.push(resumed_at);
    info.rows_selected = rows_selected;
    info.not_in_manifest.extend(gone);
    let mode = if info.command == "reconcile" {
        RowMode::Reconcile
    } else {
        RowMode::Upload { check_first: todo }
    };
    let work = Work {
        run_dir,
        info,
        todo: prepared.rows,
        kept,
        journal,
        mode,
    };
    shared::drive(&settings, work, &cancel)
}

/// Print why the run cannot be resumed; a resume refused is a usage error.
fn cannot_resume(run_dir: &Path, e: impl std::fmt::Display) -> Exit {
    crate::eprintln_escaped!("kirim-xray: cannot resume {}: {e}", run_dir.display());
    Exit::Usage
}

/// Open the run folder, and the settings the run started with under the ones given now.
fn open(args: &RunArgs, run_dir: &Path) -> Result<Opened, Exit> {
    let (run_dir, previous) = earlier::open_run_dir(run_dir).map_err(|e| {
        crate::eprintln_escaped!("kirim-xray run --resume: {e}");
        Exit::Usage
    })?;
    let Some(out) = run_dir.parent().map(Path::to_path_buf) else {
        crate::eprintln_escaped!(
            "kirim-xray run --resume: {} has no parent folder",
            run_dir.display()
        );
        return Err(Exit::Usage);
    };
    let mut settings = super::inherit::inherited_settings(
        &args.api,
        &args.manifest_args,
        &previous.run.settings,
        Some(out.clone()),
        Need::Credentials,
    )
    .map_err(|e| {
        crate::eprintln_escaped!("kirim-xray: {e}");
        Exit::Usage
    })?;
    settings.out = out.clone();
    Ok(Opened {
        run_dir,
        previous,
        out,
        settings,
    })
}

/// Read the manifest, check it against the run's, and split the run's rows into kept and to do.
fn plan(
    args: &RunArgs,
    run_dir: &Path,
    run: &RunInfo,
    settings: &Settings,
) -> Result<Plan, Exit> {
    let manifest_path = args
        .manifest
        .clone()
        .unwrap_or_else(|| run.manifest.path.clone());
    let manifest =
        read_manifest(&manifest_path, settings).map_err(|e| cannot_resume(run_dir, e))?;
    let note = check_manifest(
        &manifest_path,
        &run.manifest.sha256,
        &manifest.sha256,
        args.force,
    )
    .map_err(|e| cannot_resume(run_dir, e))?;
    if let Some(n) = &note {
        tracing::warn!("{n}");
    }
    let earlier::JournalRows {
        index: journal_rows,
        skipped,
    } = earlier::journal_by_row(run_dir).map_err(|e| cannot_resume(run_dir, e))?;
    let mut lines = LineReader::new(&run_dir.join(report::JOURNAL_FILE));
    let changed = note.is_some();
    let resumption = if changed {
        by_document(&manifest, run, &journal_rows, &mut lines)
    } else {
        by_row_number(&manifest, run, &journal_rows)
    }
    .map_err(|e| cannot_resume(run_dir, e))?;
    drop(journal_rows);
    for g in &resumption.gone {
        tracing::warn!(
            "document {g} of {} is not in {} any more: listed in the summary, not replaced",
            run_dir.display(),
            manifest_path.display()
        );
    }
    if let Some(n) = &resumption.note {
        tracing::warn!("{n}");
    }
    if changed && resumption.kept.is_empty() && resumption.todo.is_empty() {
        crate::eprintln_escaped!(
            "kirim-xray: cannot resume {}: none of the run's rows can be found in {} any more",
            run_dir.display(),
            manifest_path.display()
        );
        return Err(Exit::RowsNeedAttention);
    }
    tracing::info!(
        "{} rows of the run finished in the journal, {} to process (checked with get first)",
        resumption.kept.len(),
        resumption.todo.len()
    );
    Ok(Plan {
        manifest_path,
        manifest,
        changed,
        note,
        skipped,
        lines,
        resumption,
    })
}

/// Open the run's journal for appending: on a changed manifest, started over with the kept rows
/// under their new numbers (the note then names the old journal kept beside it).
fn open_journal(
    run_dir: &Path,
    changed: bool,
    resumed_at: DateTime<Utc>,
    mut note: Option<String>,
    kept: Vec<(usize, LineAt)>,
    mut lines: LineReader,
) -> Result<(Journal, Vec<(usize, LineAt)>, Option<String>), Exit> {
    let journal_path = run_dir.join(report::JOURNAL_FILE);
    let journal = if changed && journal_path.exists() {
        // The journal's row numbers are the old manifest's: start it over with the kept rows
        // under their new numbers, and keep the old one beside it for the audit trail.
        let archive = run_dir.join(format!(
            "journal-before-{}.jsonl",
            crate::runfolder::run_dir_name(resumed_at)
        ));
        note = earlier::join_notes(
            note,
            Some(format!(
                "the journal as it was is kept as {}",
                archive
                    .file_name()
                    .map_or(String::new(), |n| n.to_string_lossy().into_owned())
            )),
        );
        let renumbered = kept.iter().map(|(now, at)| {
            lines
                .row(*at)
                .map(|r| RowResult { row: *now, ..r })
                .map_err(std::io::Error::other)
        });
        Journal::restart(&journal_path, renumbered, &archive)
    } else if journal_path.exists() {
        Journal::open_append(&journal_path).map(|j| (j, kept))
    } else {
        Journal::create(&journal_path).map(|j| (j, kept))
    };
    match journal {
        Ok((journal, kept)) => Ok((journal, kept, note)),
        Err(e) => {
            crate::eprintln_escaped!(
                "kirim-xray: cannot append to {}: {e}",
                journal_path.display()
            );
            Err(Exit::Usage)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::earlier::manifest_of_documents;
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
