//! `kirim-xray retry RUN_DIR`: a new run over the rows of an earlier run that did not end MATCH.
//!
//! The rows are re-read and re-validated from the manifest (not copied from the old results), so a
//! fixed folder or a CN document customs now knows is picked up. Row statuses come from the earlier
//! run's journal (the last line of each row); a row of that run with no final line (killed, or
//! SKIPPED) counts as SKIPPED and is asked about with get before anything is sent, since it may
//! have been in flight. The new run folder goes under the same out folder by default, and its
//! summary.json names the earlier run.
//!
//! When the manifest changed since the earlier run, its documents are found again by nomorAju
//! (see `earlier.rs`): a retried row is the same document, wherever it moved, and a document that
//! left the manifest is listed (stderr, summary) instead of being replaced by another row.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use chrono::Utc;

use super::earlier;
use super::run::{Warnings, read_manifest, validate_rows};
use super::selection::RowSelection;
use super::shared::{self, RowMode};
use crate::cli::RetryArgs;
use crate::config::{Need, Settings};
use crate::exit::Exit;
use crate::manifest::Manifest;
use crate::model::RowStatus;
use crate::report::journal::{JournalIndex, LineReader};
use crate::report::{GoneDocument, RunInfo};

/// `--status FAILED,NOT_FOUND`; empty = every status but MATCH.
pub fn wanted_statuses(given: &[String]) -> Result<BTreeSet<RowStatus>, String> {
    if given.is_empty() {
        return Ok(RowStatus::ALL
            .into_iter()
            .filter(|s| *s != RowStatus::Match)
            .collect());
    }
    given
        .iter()
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            RowStatus::parse(s).ok_or_else(|| {
                let all: Vec<&str> = RowStatus::ALL.iter().map(|s| s.as_str()).collect();
                format!("--status: \"{s}\" is not one of {}", all.join(", "))
            })
        })
        .collect()
}

/// The rows of the earlier run to retry, with the status each ended with there (SKIPPED when the
/// journal has nothing final for it).
pub fn rows_to_retry(
    run_rows: &[usize],
    journal: &JournalIndex,
    wanted: &BTreeSet<RowStatus>,
) -> Vec<(usize, RowStatus)> {
    run_rows
        .iter()
        .map(|row| {
            let status = journal.get(*row).map_or(RowStatus::Skipped, |e| e.status);
            (*row, status)
        })
        .filter(|(_, status)| wanted.contains(status))
        .collect()
}

/// What a retry takes from the earlier run.
#[derive(Debug, Default, PartialEq)]
pub struct Picked {
    /// The rows to retry (row numbers of the manifest now), with the status each ended with.
    pub rows: Vec<(usize, RowStatus)>,
    /// Documents it would retry that the manifest no longer holds.
    pub gone: Vec<GoneDocument>,
    /// What could not be matched, when something could not.
    pub note: Option<String>,
}

/// The rows of the earlier run `earlier` to retry in `manifest`: by row number while the
/// manifest is the file that run read, by nomorAju once it changed (`lines` reads the journal
/// back, for the documents that left the manifest).
pub fn pick(
    manifest: &Manifest,
    earlier_run: &RunInfo,
    journal: &JournalIndex,
    lines: &mut LineReader,
    wanted: &BTreeSet<RowStatus>,
) -> Result<Picked, String> {
    if manifest.sha256 == earlier_run.manifest.sha256 {
        let run_rows = earlier::rows_of_run(manifest, earlier_run.rows_selected.as_deref())?;
        return Ok(Picked {
            rows: rows_to_retry(&run_rows, journal, wanted),
            ..Picked::default()
        });
    }
    let found = earlier::by_document(journal, manifest)?;
    let mut picked = Picked::default();
    for e in journal
        .entries
        .iter()
        .filter(|e| wanted.contains(&e.status))
    {
        match found.now.get(&e.row) {
            Some(now) => picked.rows.push((*now, e.status)),
            None => picked
                .gone
                .push(earlier::gone(lines, e).map_err(|e| e.to_string())?),
        }
    }
    picked.rows.sort_unstable();
    let missing = earlier::unjournaled(earlier_run, journal);
    if missing > 0 && wanted.contains(&RowStatus::Skipped) {
        picked.note = Some(format!(
            "{missing} row{} of the earlier run never reached its journal, and {} changed since: \
             without a journal line a row cannot be told from a new one, so {} not retried \
             (resume the earlier run with the manifest it started with, or choose rows with \
             `run --rows`)",
            if missing == 1 { "" } else { "s" },
            manifest.path.display(),
            if missing == 1 { "it is" } else { "they are" },
        ));
    }
    Ok(picked)
}

/// The earlier run to retry and the settings the retry runs with.
struct Earlier {
    dir: PathBuf,
    run: RunInfo,
    wanted: BTreeSet<RowStatus>,
    settings: Settings,
}

/// What the retry takes from the earlier run, in the manifest as it is now.
struct Chosen {
    manifest_path: PathBuf,
    manifest: Manifest,
    picked: Picked,
    /// The note on journal lines of the earlier run that could not be read.
    skipped: Option<String>,
}

pub fn retry(args: RetryArgs) -> Exit {
    let earlier = match open(&args) {
        Ok(e) => e,
        Err(exit) => return exit,
    };
    let settings = &earlier.settings;
    let log = settings.start_logging();
    let Chosen {
        manifest_path,
        manifest,
        picked:
            Picked {
                rows: picked,
                gone,
                note: unmatched,
            },
        skipped,
    } = match choose(&earlier) {
        Ok(c) => c,
        Err(exit) => return exit,
    };
    let rows: Vec<usize> = picked.iter().map(|(row, _)| *row).collect();
    let check_first: BTreeSet<usize> = picked
        .iter()
        .filter(|(_, s)| *s == RowStatus::Skipped)
        .map(|(row, _)| *row)
        .collect();
    let selection = RowSelection::from_rows(&rows);
    tracing::info!(
        "retrying {} rows of {}: {}",
        rows.len(),
        earlier.dir.display(),
        selection.text()
    );
    let prepared = match validate_rows(
        manifest,
        &manifest_path,
        settings,
        Warnings::Defer,
        &|row| selection.contains(row),
    ) {
        Ok(p) => p,
        Err(e) => return refused(e),
    };

    let started_at = Utc::now();
    let (_lock, run_dir) = match shared::open_new_run(settings, &log, started_at) {
        Ok(opened) => opened,
        Err(exit) => return exit,
    };
    let cancel = shared::listen_for_signals();
    let mut info = shared::new_info(
        "retry",
        &run_dir,
        prepared.manifest.clone(),
        Some(selection.text().to_string()),
        started_at,
        settings,
    );
    info.previous_run = Some(earlier.dir);
    info.note = earlier::join_notes(
        skipped.map(|s| format!("in the earlier run, {s}")),
        unmatched,
    );
    info.not_in_manifest = gone;
    super::run::start(
        settings,
        run_dir,
        info,
        prepared.rows,
        // A retry is the operator asking again now: BL/AWBs customs did not know are asked
        // about with their photos, however recently.
        RowMode::Upload {
            check_first,
            recheck_not_found: Duration::ZERO,
        },
        &cancel,
    )
}

/// Print why the retry cannot go on; a retry refused is a usage error.
fn refused(e: impl std::fmt::Display) -> Exit {
    crate::eprintln_escaped!("kirim-xray retry: {e}");
    Exit::Usage
}

/// Open the earlier run's folder, and the settings it ran with under the ones given now.
fn open(args: &RetryArgs) -> Result<Earlier, Exit> {
    let (dir, previous) = earlier::open_run_dir(&args.run_dir).map_err(refused)?;
    let wanted = wanted_statuses(&args.status).map_err(refused)?;
    let settings = super::inherit::inherited_settings(
        &args.api,
        &args.manifest_args,
        &previous.run.settings,
        dir.parent().map(|p| p.to_path_buf()),
        Need::Credentials,
    )
    .map_err(|e| {
        crate::eprintln_escaped!("kirim-xray: {e}");
        Exit::Usage
    })?;
    Ok(Earlier {
        dir,
        run: previous.run,
        wanted,
        settings,
    })
}

/// Read the manifest and the earlier run's journal, and pick the rows to retry. `Err` is how the
/// retry ends before any row is validated: refused, or nothing to retry.
fn choose(earlier: &Earlier) -> Result<Chosen, Exit> {
    let prev_dir = &earlier.dir;
    let manifest_path = earlier.run.manifest.path.clone();
    let manifest = read_manifest(&manifest_path, &earlier.settings).map_err(refused)?;
    if manifest.sha256 != earlier.run.manifest.sha256 {
        tracing::warn!(
            "{} changed since {}: its rows are found again by nomorAju",
            manifest_path.display(),
            prev_dir.display()
        );
    }
    let earlier::JournalRows {
        index: journal,
        skipped,
    } = earlier::journal_by_row(prev_dir).map_err(refused)?;
    let picked = pick(
        &manifest,
        &earlier.run,
        &journal,
        &mut LineReader::new(&prev_dir.join(crate::report::JOURNAL_FILE)),
        &earlier.wanted,
    )
    .map_err(|e| refused(format!("{}: {e}", prev_dir.display())))?;
    for g in &picked.gone {
        crate::eprintln_escaped!(
            "kirim-xray retry: document {g} of {} is not in {} any more: not retried",
            prev_dir.display(),
            manifest_path.display()
        );
    }
    if let Some(n) = &picked.note {
        crate::eprintln_escaped!("kirim-xray retry: {n}");
    }
    if picked.rows.is_empty() {
        let statuses: Vec<&str> = earlier.wanted.iter().map(|s| s.as_str()).collect();
        crate::println_escaped!(
            "nothing to retry: no row of {} in {} ended {}",
            prev_dir.display(),
            manifest_path.display(),
            statuses.join(", ")
        );
        // A document that needs attention and left the manifest still needs it.
        return Err(if picked.gone.is_empty() && picked.note.is_none() {
            Exit::Ok
        } else {
            Exit::RowsNeedAttention
        });
    }
    Ok(Chosen {
        manifest_path,
        manifest,
        picked,
        skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::earlier::manifest_of_documents;
    use crate::report::journal::tests::{OnDisk, sample};

    #[test]
    fn statuses_default_to_everything_but_match_and_are_checked() {
        let all = wanted_statuses(&[]).unwrap();
        assert!(!all.contains(&RowStatus::Match));
        assert_eq!(all.len(), 5);
        let some = wanted_statuses(&["failed".into(), " NOT_FOUND".into()]).unwrap();
        assert_eq!(
            some.into_iter().collect::<Vec<_>>(),
            [RowStatus::NotFound, RowStatus::Failed]
        );
        let e = wanted_statuses(&["DONE".into()]).unwrap_err();
        assert!(e.contains("\"DONE\" is not one of MATCH, MISMATCH"), "{e}");
    }

    #[test]
    fn rows_without_a_final_line_count_as_skipped() {
        let journal = OnDisk::of(
            [
                (2, RowStatus::Match),
                (3, RowStatus::Invalid),
                (4, RowStatus::Failed),
            ]
            .map(|(row, status)| {
                let mut r = sample(row);
                r.status = status;
                r
            }),
        );
        let journal = &journal.index;
        let run_rows = [2, 3, 4, 5];
        assert_eq!(
            rows_to_retry(&run_rows, journal, &wanted_statuses(&[]).unwrap()),
            [
                (3, RowStatus::Invalid),
                (4, RowStatus::Failed),
                (5, RowStatus::Skipped)
            ]
        );
        let failed = wanted_statuses(&["FAILED".into()]).unwrap();
        assert_eq!(
            rows_to_retry(&run_rows, journal, &failed),
            [(4, RowStatus::Failed)]
        );
    }

    /// A row inserted above a FAILED row: the FAILED document is retried at its new row, the
    /// row that took its old number is not, and a FAILED document that left is listed.
    #[test]
    fn a_changed_manifest_is_matched_by_document() {
        let on_disk = OnDisk::of(
            [
                (2, "A", RowStatus::Match),
                (3, "B", RowStatus::Failed),
                (4, "GONE", RowStatus::Failed),
                (5, "C", RowStatus::Skipped),
            ]
            .map(|(row, aju, status)| {
                let mut r = sample(row);
                r.fields.nomor_aju = aju.into();
                r.status = status;
                r
            }),
        );
        let (journal, mut lines) = (&on_disk.index, on_disk.lines());
        let mut run = crate::report::summary::tests::info();
        run.manifest.sha256 = "old".into();
        run.manifest.rows = 4;
        let wanted = wanted_statuses(&[]).unwrap();

        let same = manifest_of_documents(&["A", "B", "GONE", "C"], "old");
        let p = pick(&same, &run, journal, &mut lines, &wanted).unwrap();
        assert_eq!(
            p.rows,
            [
                (3, RowStatus::Failed),
                (4, RowStatus::Failed),
                (5, RowStatus::Skipped)
            ]
        );
        assert!(p.gone.is_empty() && p.note.is_none());

        let changed = manifest_of_documents(&["A", "NEW", "B", "C"], "new");
        let p = pick(&changed, &run, journal, &mut lines, &wanted).unwrap();
        assert_eq!(
            p.rows,
            [(4, RowStatus::Failed), (5, RowStatus::Skipped)],
            "B moved to row 4; NEW at row 3 is not retried"
        );
        assert_eq!(p.gone.len(), 1);
        assert_eq!(p.gone[0].to_string(), "GONE (was row 4, FAILED)");
        assert_eq!(p.note, None, "every row of the run is in the journal");

        // A row of the earlier run that never reached its journal cannot be told from NEW.
        run.manifest.rows = 5;
        let p = pick(&changed, &run, journal, &mut lines, &wanted).unwrap();
        let note = p.note.unwrap();
        assert!(
            note.starts_with("1 row of the earlier run never reached"),
            "{note}"
        );
        let failed = wanted_statuses(&["FAILED".into()]).unwrap();
        assert_eq!(
            pick(&changed, &run, journal, &mut lines, &failed)
                .unwrap()
                .note,
            None
        );
    }
}
