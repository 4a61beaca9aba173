//! `kirim-xray report RUN_DIR`: rebuild results.csv, images.csv, summary.json/.txt and
//! report.html of a run folder from its summary.json and journal. Rows of the run that never
//! reached the journal (the run was killed first) are read from the manifest and shown SKIPPED —
//! INVALID when they are invalid, as the run itself would have shown them. Nothing is sent.

use std::path::Path;

use chrono::Utc;

use super::earlier;
use super::outputs::RunRows;
use super::run::{Warnings, read_manifest, validate_rows};
use super::staged::Staged;
use crate::cli::ReportArgs;
use crate::config::{Layer, Settings};
use crate::exit::Exit;
use crate::model::RowResult;
use crate::report::journal::{JournalIndex, LineAt};
use crate::report::{self, RunInfo, Summary};
use crate::runfolder;
use crate::validate::CheckedRow;

/// The message of a row the journal knows nothing about.
pub const NOT_IN_JOURNAL: &str = "not in the journal: the run ended before this row finished";

pub fn report(args: ReportArgs) -> Exit {
    // Warnings (a journal line skipped, a manifest that changed) go to stderr.
    crate::logging::init("info", false);
    let (run_dir, summary) = match earlier::open_run_dir(&args.run_dir) {
        Ok(x) => x,
        Err(e) => {
            crate::eprintln_escaped!("kirim-xray report: {e}");
            return Exit::Usage;
        }
    };
    let _lock = match lock_unless_finished(&run_dir, &summary) {
        Ok(lock) => lock,
        Err(exit) => return exit,
    };
    let earlier::JournalRows {
        index: journal,
        skipped,
    } = match earlier::journal_by_row(&run_dir) {
        Ok(j) => j,
        Err(e) => {
            crate::eprintln_escaped!("kirim-xray report: {e}");
            return Exit::Usage;
        }
    };
    let (missing, problem) = rebuild(&run_dir, &summary, &journal);
    let kept: Vec<(usize, LineAt)> = journal.entries.iter().map(|e| (e.row, e.at)).collect();
    drop(journal);
    let rows = RunRows {
        journal: run_dir.join(report::JOURNAL_FILE),
        kept,
        staged: missing.as_ref(),
        done: Vec::new(),
        in_flight: Vec::new(),
        absent: &absent,
    };
    let mut info = summary.run.clone();
    info.run_dir = run_dir.clone();
    info.note = notes(&info, skipped.into_iter().chain(problem));
    match report::write_outputs(&run_dir, &info, &rows) {
        Ok((summary, tally)) => {
            print!("{}", summary.to_text(&tally));
            Exit::Ok
        }
        Err(e) => {
            crate::eprintln_escaped!(
                "kirim-xray report: cannot write the outputs of {}: {e:#}",
                run_dir.display()
            );
            Exit::Usage
        }
    }
}

/// A run still writing this folder would overwrite what we write: refuse while the folder's
/// out is locked and its run has not finished (a resume rewrites summary.json as unfinished).
/// The lock, when it could be taken, is held while the outputs are written.
fn lock_unless_finished(
    run_dir: &Path,
    summary: &Summary,
) -> Result<Option<runfolder::OutLock>, Exit> {
    match run_dir
        .parent()
        .map(|out| runfolder::lock_out(out, Utc::now()))
    {
        Some(Ok(lock)) => Ok(Some(lock)),
        Some(Err(e @ runfolder::LockError::Held { .. })) if summary.run.finished_at.is_none() => {
            crate::eprintln_escaped!(
                "kirim-xray report: {e}, and {} has not finished",
                run_dir.display()
            );
            Err(Exit::Locked)
        }
        _ => Ok(None),
    }
}

/// A row of the run that the journal lacks: INVALID when it is invalid, else SKIPPED.
fn absent(r: &CheckedRow) -> RowResult {
    match r.shipment {
        None => RowResult::invalid(r),
        Some(_) => RowResult {
            message: NOT_IN_JOURNAL.into(),
            ..RowResult::skipped(r)
        },
    }
}

/// The run's notes with the rebuild's `more` added, each once.
fn notes(info: &RunInfo, more: impl Iterator<Item = String>) -> Option<String> {
    let mut notes: Vec<String> = info.note.iter().cloned().collect();
    if info.finished_at.is_none() {
        notes.push("rebuilt by `report` from the journal: the run did not finish".into());
    }
    for note in more {
        // A folder rebuilt twice does not say the same thing twice.
        if !notes.iter().any(|n| n.contains(&note)) {
            notes.push(note);
        }
    }
    (!notes.is_empty()).then(|| notes.join("; "))
}

/// The rows of the run (within its selection) that the journal lacks, read from the manifest
/// and validated (they are shown SKIPPED, or INVALID). When the manifest cannot be read (moved,
/// changed), there are none, and the second value says why.
fn rebuild(
    run_dir: &Path,
    summary: &Summary,
    journal: &JournalIndex,
) -> (Option<Staged>, Option<String>) {
    let run = &summary.run;
    let settings = match report_settings(summary) {
        Ok(s) => s,
        Err(e) => return (None, Some(e)),
    };
    let manifest = match read_manifest(&run.manifest.path, &settings) {
        Ok(m) => m,
        Err(e) => {
            let why = format!("rows missing from the journal are not listed: {e}");
            tracing::warn!("{why}");
            return (None, Some(why));
        }
    };
    if manifest.sha256 != run.manifest.sha256 {
        let why = format!(
            "{} changed since the run; only the journal's rows are listed",
            run.manifest.path.display()
        );
        tracing::warn!("{why}");
        return (None, Some(why));
    }
    let run_rows = match earlier::rows_of_run(&manifest, run.rows_selected.as_deref()) {
        Ok(rows) => rows,
        Err(e) => {
            let why = format!("rows missing from the journal are not listed: {e}");
            tracing::warn!("{why}");
            return (None, Some(why));
        }
    };
    // Manifest order is row order: the run's rows are sorted.
    let missing = |row: usize| run_rows.binary_search(&row).is_ok() && !journal.contains(row);
    let prepared = match validate_rows(
        manifest,
        &run.manifest.path,
        &settings,
        Warnings::Print,
        &missing,
    ) {
        Ok(p) => p,
        Err(e) => {
            let why = format!("rows missing from the journal are not listed: {e}");
            tracing::warn!("{why}");
            return (None, Some(why));
        }
    };
    if prepared.rows.rows > 0 {
        tracing::info!(
            "{}: {} rows of the run are not in its journal",
            run_dir.display(),
            prepared.rows.rows
        );
    }
    (Some(prepared.rows), None)
}

/// The manifest-reading settings the run used (sheet, images root, image size limit).
fn report_settings(summary: &Summary) -> Result<Settings, String> {
    let s = &summary.run.settings;
    let layer = Layer {
        images_root: s.images_root.clone(),
        allow_outside_root: Some(s.allow_outside_root),
        sheet: s.sheet.clone(),
        max_image_bytes: Some(s.max_image_bytes),
        max_request_bytes: Some(s.max_request_bytes),
        ..Layer::default()
    };
    Settings::from_layers(layer, Layer::default(), Layer::default(), None).map_err(|e| e.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::ReportArgs;
    use crate::model::RowStatus;
    use crate::report::journal::tests::sample;
    use crate::report::summary::tests::info;
    use crate::report::{JOURNAL_FILE, Journal};

    #[test]
    fn a_folder_is_rebuilt_from_its_journal_alone() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("20250102T030405Z");
        std::fs::create_dir(&run).unwrap();
        let mut i = info();
        i.run_dir = run.clone();
        i.finished_at = None;
        i.exit_code = None;
        // The manifest is gone: only the journal can be reported.
        i.manifest.path = dir.path().join("gone.csv");
        report::write_summary_json(&run, &Summary::build(&i, &[])).unwrap();
        let j = Journal::create(&run.join(JOURNAL_FILE)).unwrap();
        let mut skipped = sample(3);
        skipped.status = RowStatus::Skipped;
        j.append(&skipped).unwrap();
        j.append(&sample(2)).unwrap();
        let mut done = sample(3);
        done.status = RowStatus::Match;
        j.append(&done).unwrap();

        let exit = report(ReportArgs {
            run_dir: run.clone(),
        });
        assert_eq!(exit, Exit::Ok);
        let mut csv = csv::Reader::from_path(run.join(report::RESULTS_FILE)).unwrap();
        let got: Vec<(String, String)> = csv
            .records()
            .map(|r| {
                let r = r.unwrap();
                (r[0].to_string(), r[6].to_string())
            })
            .collect();
        assert_eq!(
            got,
            [
                ("2".into(), "MISMATCH".into()),
                ("3".into(), "MATCH".into())
            ],
            "manifest order, the last line of each row"
        );
        let summary = report::read_summary(&run).unwrap();
        let note = summary.run.note.unwrap();
        assert!(note.contains("the run did not finish"), "{note}");
        assert!(note.contains("gone.csv"), "{note}");
        for name in [
            report::IMAGES_FILE,
            report::SUMMARY_TXT,
            report::REPORT_HTML,
        ] {
            assert!(run.join(name).is_file(), "{name}");
        }
    }

    #[test]
    fn a_folder_that_is_not_a_run_folder_is_a_usage_error() {
        let dir = tempfile::tempdir().unwrap();
        let exit = report(ReportArgs {
            run_dir: dir.path().to_path_buf(),
        });
        assert_eq!(exit, Exit::Usage);
    }
}
