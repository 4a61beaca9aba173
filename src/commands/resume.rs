//! `kirim-xray run --resume RUN_DIR`: continue an interrupted run in its own folder.
//!
//! The journal is the memory of the run: a row whose last journal line is final (MATCH, MISMATCH,
//! NOT_FOUND, INVALID, FAILED) is kept as it is; every other row of the run — SKIPPED, or never
//! journaled because the process died — is processed again, asking with get before sending,
//! because it may have been in flight when the process died. FAILED rows are kept: they failed for
//! a reason that a resume does not fix (`retry` exists for them). The manifest must be the one the
//! run started with (its sha256 is in summary.json): rows are matched by row number, so a changed
//! manifest could silently pair a journal line with another row. `--force` accepts it anyway.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use chrono::Utc;

use super::locks;
use super::run::{read_manifest, validate_rows};
use super::shared::{self, RowMode, Work};
use crate::cli::RunArgs;
use crate::config::Need;
use crate::exit::Exit;
use crate::model::{RowResult, RowStatus};
use crate::report::{self, Journal};

/// Whether a journal line ends a row for good.
pub fn is_final(status: RowStatus) -> bool {
    status != RowStatus::Skipped
}

/// The rows a resumed run keeps (final in the journal) and the row numbers it processes again.
/// `run_rows` are the rows the run covers: the manifest's, narrowed by the run's selection.
pub fn split(
    run_rows: &[usize],
    journal: &BTreeMap<usize, RowResult>,
) -> (Vec<RowResult>, BTreeSet<usize>) {
    let mut kept = Vec::new();
    let mut todo = BTreeSet::new();
    for row in run_rows {
        match journal.get(row) {
            Some(r) if is_final(r.status) => kept.push(r.clone()),
            _ => {
                todo.insert(*row);
            }
        }
    }
    (kept, todo)
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
            "resumed with --force although {what}: rows kept from the journal may describe the old file"
        )))
    } else {
        Err(format!(
            "{what}; rows are matched by row number, so resuming could mix two manifests. \
             Start a new run (or `kirim-xray retry`), or resume with --force to accept the new file"
        ))
    }
}

pub fn resume(args: RunArgs, run_dir: &Path) -> Exit {
    let (run_dir, previous) = match shared::open_run_dir(run_dir) {
        Ok(x) => x,
        Err(e) => {
            crate::eprintln_escaped!("kirim-xray run --resume: {e}");
            return Exit::Usage;
        }
    };
    let Some(out) = run_dir.parent().map(Path::to_path_buf) else {
        crate::eprintln_escaped!(
            "kirim-xray run --resume: {} has no parent folder",
            run_dir.display()
        );
        return Exit::Usage;
    };
    // The run folder's own out folder, whatever --out says: that is where its lock lives.
    let settings = match shared::inherited_settings(
        &args.api,
        &args.manifest_args,
        &previous.run.settings,
        Some(out.clone()),
        Need::Credentials,
    ) {
        Ok(mut s) => {
            s.out = out.clone();
            s
        }
        Err(e) => {
            crate::eprintln_escaped!("kirim-xray: {e}");
            return Exit::Usage;
        }
    };
    let log = crate::logging::init(&settings.log_level, settings.quiet);
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

    let manifest_path = args
        .manifest
        .clone()
        .unwrap_or_else(|| previous.run.manifest.path.clone());
    let manifest = match read_manifest(&manifest_path, &settings) {
        Ok(m) => m,
        Err(e) => {
            crate::eprintln_escaped!("kirim-xray: cannot resume {}: {e}", run_dir.display());
            return Exit::Usage;
        }
    };
    let note = match check_manifest(
        &manifest_path,
        &previous.run.manifest.sha256,
        &manifest.sha256,
        args.force,
    ) {
        Ok(note) => note,
        Err(e) => {
            crate::eprintln_escaped!("kirim-xray: cannot resume {}: {e}", run_dir.display());
            return Exit::Usage;
        }
    };
    if let Some(n) = &note {
        tracing::warn!("{n}");
    }
    let shared::JournalRows {
        by_row: journal_rows,
        skipped,
    } = match shared::journal_by_row(&run_dir) {
        Ok(j) => j,
        Err(e) => {
            crate::eprintln_escaped!("kirim-xray: cannot resume {}: {e}", run_dir.display());
            return Exit::Usage;
        }
    };
    let run_rows = match shared::rows_of_run(&manifest, previous.run.rows_selected.as_deref()) {
        Ok(rows) => rows,
        Err(e) => {
            crate::eprintln_escaped!("kirim-xray: cannot resume {}: {e}", run_dir.display());
            return Exit::Usage;
        }
    };
    let (kept, todo) = split(&run_rows, &journal_rows);
    tracing::info!(
        "{} rows of the run finished in the journal, {} to process (checked with get first)",
        kept.len(),
        todo.len()
    );
    let prepared = validate_rows(manifest, &manifest_path, &settings, &|row| {
        todo.contains(&row)
    });

    let journal_path = run_dir.join(report::JOURNAL_FILE);
    let journal = if journal_path.exists() {
        Journal::open_append(&journal_path)
    } else {
        Journal::create(&journal_path)
    };
    let journal = match journal {
        Ok(j) => j,
        Err(e) => {
            crate::eprintln_escaped!(
                "kirim-xray: cannot append to {}: {e}",
                journal_path.display()
            );
            return Exit::Usage;
        }
    };
    let cancel = shared::listen_for_signals();
    let mut info = previous.run.clone();
    info.run_dir = run_dir.clone();
    info.manifest = prepared.manifest.clone();
    info.finished_at = None;
    info.exit_code = None;
    info.settings = settings.public_view();
    info.note = shared::join_notes(note, skipped);
    info.resumed_at.push(resumed_at);
    let mode = if info.command == "reconcile" {
        RowMode::Reconcile
    } else {
        RowMode::Upload {
            check_first: todo.clone(),
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::journal::tests::sample;

    fn with(row: usize, status: RowStatus) -> (usize, RowResult) {
        let mut r = sample(row);
        r.status = status;
        (row, r)
    }

    #[test]
    fn final_rows_are_kept_and_the_rest_processed_again() {
        let journal: BTreeMap<usize, RowResult> = [
            with(2, RowStatus::Match),
            with(3, RowStatus::Skipped),
            with(4, RowStatus::Failed),
            with(5, RowStatus::Invalid),
            with(6, RowStatus::NotFound),
            with(7, RowStatus::Mismatch),
            // Outside the run (another selection): ignored.
            with(40, RowStatus::Match),
        ]
        .into_iter()
        .collect();
        let run_rows: Vec<usize> = (2..=9).collect();
        let (kept, todo) = split(&run_rows, &journal);
        assert_eq!(
            kept.iter().map(|r| r.row).collect::<Vec<_>>(),
            [2, 4, 5, 6, 7]
        );
        assert_eq!(todo.into_iter().collect::<Vec<_>>(), [3, 8, 9]);
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
