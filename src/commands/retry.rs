//! `kirim-xray retry RUN_DIR`: a new run over the rows of an earlier run that did not end MATCH.
//!
//! The rows are re-read and re-validated from the manifest (not copied from the old results), so a
//! fixed folder or a CN document customs now knows is picked up. Row statuses come from the earlier
//! run's journal (the last line of each row); a row of that run with no final line (killed, or
//! SKIPPED) counts as SKIPPED and is asked about with get before anything is sent, since it may
//! have been in flight. The new run folder goes under the same out folder by default, and its
//! summary.json names the earlier run.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Utc;

use super::run::{RowSelection, read_manifest, validate_rows};
use super::shared::{self, RowMode};
use crate::cli::RetryArgs;
use crate::config::Need;
use crate::exit::Exit;
use crate::model::{RowResult, RowStatus};

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
    journal: &BTreeMap<usize, RowResult>,
    wanted: &BTreeSet<RowStatus>,
) -> Vec<(usize, RowStatus)> {
    run_rows
        .iter()
        .map(|row| {
            let status = journal.get(row).map_or(RowStatus::Skipped, |r| r.status);
            (*row, status)
        })
        .filter(|(_, status)| wanted.contains(status))
        .collect()
}

pub fn retry(args: RetryArgs) -> Exit {
    let (prev_dir, previous) = match shared::open_run_dir(&args.run_dir) {
        Ok(x) => x,
        Err(e) => {
            crate::eprintln_escaped!("kirim-xray retry: {e}");
            return Exit::Usage;
        }
    };
    let wanted = match wanted_statuses(&args.status) {
        Ok(w) => w,
        Err(e) => {
            crate::eprintln_escaped!("kirim-xray retry: {e}");
            return Exit::Usage;
        }
    };
    let settings = match shared::inherited_settings(
        &args.api,
        &args.manifest_args,
        &previous.run.settings,
        prev_dir.parent().map(|p| p.to_path_buf()),
        Need::Credentials,
    ) {
        Ok(s) => s,
        Err(e) => {
            crate::eprintln_escaped!("kirim-xray: {e}");
            return Exit::Usage;
        }
    };
    let log = crate::logging::init(&settings.log_level, settings.quiet);
    let manifest_path = previous.run.manifest.path.clone();
    let manifest = match read_manifest(&manifest_path, &settings) {
        Ok(m) => m,
        Err(e) => {
            crate::eprintln_escaped!("kirim-xray retry: {e}");
            return Exit::Usage;
        }
    };
    if manifest.sha256 != previous.run.manifest.sha256 {
        tracing::warn!(
            "{} changed since {} (rows are taken by row number)",
            manifest_path.display(),
            prev_dir.display()
        );
    }
    let shared::JournalRows {
        by_row: journal,
        skipped,
    } = match shared::journal_by_row(&prev_dir) {
        Ok(j) => j,
        Err(e) => {
            crate::eprintln_escaped!("kirim-xray retry: {e}");
            return Exit::Usage;
        }
    };
    let run_rows = match shared::rows_of_run(&manifest, previous.run.rows_selected.as_deref()) {
        Ok(rows) => rows,
        Err(e) => {
            crate::eprintln_escaped!("kirim-xray retry: {}: {e}", prev_dir.display());
            return Exit::Usage;
        }
    };
    let picked = rows_to_retry(&run_rows, &journal, &wanted);
    if picked.is_empty() {
        let statuses: Vec<&str> = wanted.iter().map(|s| s.as_str()).collect();
        crate::println_escaped!(
            "nothing to retry: no row of {} ended {}",
            prev_dir.display(),
            statuses.join(", ")
        );
        return Exit::Ok;
    }
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
        prev_dir.display(),
        selection.text()
    );
    let prepared = validate_rows(manifest, &manifest_path, &settings, &|row| {
        selection.contains(row)
    });

    let started_at = Utc::now();
    let (_lock, run_dir) = match shared::open_new_run(&settings, &log, started_at) {
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
        &settings,
    );
    info.previous_run = Some(prev_dir);
    info.note = skipped.map(|s| format!("in the earlier run, {s}"));
    super::run::start(
        &settings,
        run_dir,
        info,
        prepared.rows,
        RowMode::Upload { check_first },
        &cancel,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::journal::tests::sample;

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
        let mut journal = BTreeMap::new();
        for (row, status) in [
            (2, RowStatus::Match),
            (3, RowStatus::Invalid),
            (4, RowStatus::Failed),
        ] {
            let mut r = sample(row);
            r.status = status;
            journal.insert(row, r);
        }
        let run_rows = [2, 3, 4, 5];
        assert_eq!(
            rows_to_retry(&run_rows, &journal, &wanted_statuses(&[]).unwrap()),
            [
                (3, RowStatus::Invalid),
                (4, RowStatus::Failed),
                (5, RowStatus::Skipped)
            ]
        );
        let failed = wanted_statuses(&["FAILED".into()]).unwrap();
        assert_eq!(
            rows_to_retry(&run_rows, &journal, &failed),
            [(4, RowStatus::Failed)]
        );
    }
}
