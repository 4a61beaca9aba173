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

mod rows;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::earlier;
use super::locks;
use super::run::{Warnings, read_manifest, validate_rows};
use super::shared::{self, RowMode, Work};
use crate::cli::RunArgs;
use crate::config::{Need, Settings};
use crate::exit::Exit;
use crate::manifest::Manifest;
use crate::model::RowResult;
use crate::report::journal::{LineAt, LineReader};
use crate::report::{self, Journal, ManifestInfo, RunInfo, Summary};
use crate::runfolder::{AccountLock, OutLock};
use rows::{Resumption, by_document, by_row_number, check_manifest};

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
    // The locks before reading the journal: no other process may be appending to it.
    let _locks = match take_locks(&out, &settings, resumed_at, &run_dir) {
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
    let prepared = match validate_rows(
        plan.manifest,
        &plan.manifest_path,
        &settings,
        Warnings::Defer,
        &|row| todo.contains(&row),
    ) {
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
    let Reopened {
        journal,
        kept,
        note,
    } = match open_journal(
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
    reopen(
        &mut info,
        &run_dir,
        prepared.manifest.clone(),
        &settings,
        resumed_at,
    );
    info.note = earlier::join_notes(earlier::join_notes(note, plan.skipped), unmatched);
    info.rows_selected = rows_selected;
    info.not_in_manifest.extend(gone);
    let work = Work {
        run_dir,
        mode: mode_of(&info, todo, settings.recheck_not_found),
        info,
        todo: prepared.rows,
        kept,
        journal,
    };
    shared::drive(&settings, work, &cancel)
}

/// What the resumed run does with its rows: what it did (a reconcile only asks; a retry asks
/// again about BL/AWBs customs did not know), each row to process again asked about with get
/// first (it may have been in flight when the process died).
fn mode_of(info: &RunInfo, todo: BTreeSet<usize>, recheck_not_found: Duration) -> RowMode {
    match info.command.as_str() {
        "reconcile" => RowMode::Reconcile,
        "retry" => RowMode::Upload {
            check_first: todo,
            recheck_not_found: Duration::ZERO,
        },
        _ => RowMode::Upload {
            check_first: todo,
            recheck_not_found,
        },
    }
}

/// The run as it goes on in `run_dir`, resumed at `resumed_at`: unfinished again, on the
/// manifest and settings given now.
fn reopen(
    info: &mut RunInfo,
    run_dir: &Path,
    manifest: ManifestInfo,
    settings: &Settings,
    resumed_at: DateTime<Utc>,
) {
    info.run_dir = run_dir.to_path_buf();
    info.manifest = manifest;
    info.finished_at = None;
    info.exit_code = None;
    info.settings = settings.public_view();
    info.resumed_at.push(resumed_at);
}

/// The out folder's lock, then the account's (naming `run_dir`). The account's comes first in
/// the pair, so that it is released first, the out folder's last.
fn take_locks(
    out: &Path,
    settings: &Settings,
    at: DateTime<Utc>,
    run_dir: &Path,
) -> Result<(Option<AccountLock>, OutLock), Exit> {
    let lock = locks::lock(out, at)?;
    let account = locks::lock_account(settings, at, Some(run_dir))?;
    Ok((account, lock))
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
fn plan(args: &RunArgs, run_dir: &Path, run: &RunInfo, settings: &Settings) -> Result<Plan, Exit> {
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

/// The run's journal open for appending, where the kept rows' lines are in it, and the notes.
struct Reopened {
    journal: Journal,
    kept: Vec<(usize, LineAt)>,
    note: Option<String>,
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
) -> Result<Reopened, Exit> {
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
        Ok((journal, kept)) => Ok(Reopened {
            journal,
            kept,
            note,
        }),
        Err(e) => {
            crate::eprintln_escaped!(
                "kirim-xray: cannot append to {}: {e}",
                journal_path.display()
            );
            Err(Exit::Usage)
        }
    }
}
