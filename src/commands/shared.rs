//! Plumbing shared by the commands that talk to the API over a run folder (`run`, `run --resume`,
//! `retry`, `reconcile`): the locks (output folder, account), the run folder, the signal handlers, the
//! workers feeding the journal, and the outputs at the end. Each command only decides which rows
//! it processes, with which row function, and which results it keeps from before; the way a run
//! starts, is interrupted and ends is the same for all of them, which is what makes `report` and
//! `--resume` able to treat every run folder alike.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::locks::{self, Locks};
use crate::api::{ConnectError, HttpApi};
use crate::config::Settings;
use crate::exit::Exit;
use crate::history::{self, SeenBefore};
use crate::logging::LogHandle;
use crate::model::{RowResult, RowStatus, Shipment};
use crate::pipeline::{self, Bound, Cancel};
use crate::report::{self, Journal, RequestCounts, RunInfo};
use crate::runfolder;
use crate::sync::{reconcile_row, sync_row};
use crate::validate::CheckedRow;

/// What the workers do with each valid row.
#[derive(Debug, Clone)]
pub enum RowMode {
    /// The per-row protocol: upload what is missing, then verify. Rows in `check_first` are asked
    /// about with get before anything is sent (they may have been in flight when a process died).
    Upload { check_first: BTreeSet<usize> },
    /// Auditor mode: get only.
    Reconcile,
}

/// A run about to process rows: its folder, what summary.json says, the rows to process now, the
/// results kept from before (resume), and the open journal.
pub struct Work {
    pub run_dir: PathBuf,
    pub info: RunInfo,
    pub todo: Vec<CheckedRow>,
    pub kept: Vec<RowResult>,
    pub journal: Journal,
    pub mode: RowMode,
}

/// Lock `settings.out` and the account, create a fresh run folder, point `latest` at it and log
/// into its run.log. The locks come first: a second run must not even create a folder.
pub fn open_new_run(
    settings: &Settings,
    log: &LogHandle,
    started_at: DateTime<Utc>,
) -> Result<(Locks, PathBuf), Exit> {
    let out = locks::lock(&settings.out, started_at)?;
    let mut account = locks::lock_account(settings, started_at, None)?;
    let run_dir = match runfolder::create_run_dir(&settings.out, started_at) {
        Ok(d) => d,
        Err(e) => {
            crate::eprintln_escaped!("kirim-xray: {e}");
            return Err(Exit::Usage);
        }
    };
    if let Some(lock) = account.as_mut() {
        locks::record_run_dir(lock, &run_dir);
    }
    if let Err(e) = runfolder::update_latest(&settings.out, &run_dir) {
        tracing::warn!("cannot update {}/latest: {e}", settings.out.display());
    }
    log_into(log, &run_dir);
    Ok((Locks { out, account }, run_dir))
}

/// Send the log to `<run_dir>/run.log` too (appended: a resumed run adds to it).
pub fn log_into(log: &LogHandle, run_dir: &Path) {
    let path = run_dir.join(report::RUN_LOG);
    if let Err(e) = log.log_to_file(&path) {
        tracing::warn!("cannot write {}: {e}", path.display());
    }
}

/// A cancel flag set by the first SIGINT/SIGTERM.
pub fn listen_for_signals() -> Cancel {
    let cancel = Cancel::new();
    if let Err(e) = cancel.install_signal_handlers() {
        tracing::warn!("cannot listen for SIGINT/SIGTERM: {e}");
    }
    cancel
}

/// The start of a fresh run's summary.json.
pub fn new_info(
    command: &str,
    run_dir: &Path,
    manifest: report::ManifestInfo,
    rows_selected: Option<String>,
    started_at: DateTime<Utc>,
    settings: &Settings,
) -> RunInfo {
    RunInfo {
        command: command.into(),
        run_dir: run_dir.to_path_buf(),
        manifest,
        rows_selected,
        started_at,
        finished_at: None,
        settings: settings.public_view(),
        requests: RequestCounts::default(),
        exit_code: None,
        previous_run: None,
        note: None,
        resumed_at: Vec::new(),
        not_in_manifest: Vec::new(),
    }
}

/// How long rows in flight may go on after the first signal: one request's timeout, and a margin
/// for writing the outputs. Past it they are given up on (see `pipeline::execute_bounded`).
pub fn grace(settings: &Settings) -> Duration {
    settings.timeout + Duration::from_secs(5)
}

/// Process `work.todo` on the workers (journal appended as rows finish), then write every output
/// covering the kept rows and the processed ones, in manifest order, and settle the exit code.
pub fn drive(settings: &Settings, work: Work, cancel: &Cancel) -> Exit {
    let Work {
        run_dir,
        mut info,
        todo,
        kept,
        mut journal,
        mode,
    } = work;
    let feed = crate::ledger::feed::Feed::start(&run_dir);
    journal.observe(Box::new(move |r| feed.record(r)));
    let valid = todo.iter().filter(|r| r.shipment.is_some()).count();
    tracing::info!(
        "run folder {}: {} rows to process ({valid} valid, {} invalid), {} kept from before, from {}",
        run_dir.display(),
        todo.len(),
        todo.len() - valid,
        kept.len(),
        info.manifest.path.display()
    );
    if let Err(e) = report::write_summary_json(&run_dir, &report::Summary::build(&info, &kept)) {
        tracing::warn!("{e:#}");
    }
    if valid == 0 {
        // Nothing to send: no login needed. Invalid rows still reach the journal.
        let invalid: Vec<RowResult> = todo.iter().map(RowResult::invalid).collect();
        for r in &invalid {
            append(&journal, r);
        }
        let results = merge(&kept, invalid);
        return finish(&run_dir, &mut info, &results, verdict(&results));
    }
    let api_settings = match settings.to_api_settings() {
        Ok(a) => a,
        Err(e) => {
            let note = e.to_string();
            return finish_unsent(
                &run_dir,
                &mut info,
                &todo,
                &kept,
                Some(&journal),
                note,
                Exit::Usage,
            );
        }
    };
    let api = match HttpApi::connect(&api_settings) {
        Ok(api) => api,
        Err(e) => {
            let exit = match e {
                ConnectError::Config(_) => Exit::Usage,
                ConnectError::Auth(_) | ConnectError::Unreachable(_) => Exit::Unreachable,
            };
            let note = e.to_string();
            return finish_unsent(
                &run_dir,
                &mut info,
                &todo,
                &kept,
                Some(&journal),
                note,
                exit,
            );
        }
    };
    let before = info.requests.clone();
    let requests_now = || {
        let mut all = before.clone();
        all.add(&RequestCounts::from(&api.stats()));
        all
    };
    let sync = settings.sync_settings();
    let seen = match mode {
        RowMode::Upload { .. } => seen_before(settings, &todo),
        RowMode::Reconcile => SeenBefore::default(),
    };
    let row_fn = |s: &Shipment| match &mode {
        RowMode::Upload { check_first } => {
            let ask_first = check_first.contains(&s.row) || seen.contains(&s.meta.nomor_aju);
            sync_row(&api, s, &sync, ask_first)
        }
        RowMode::Reconcile => RowResult {
            action: "get".into(),
            ..reconcile_row(&api, s, &sync)
        },
    };
    let grace = grace(settings);
    let abandon_info = info.clone();
    let bound = Bound {
        grace,
        abandon: Box::new(|partial: Vec<RowResult>| {
            let mut info = abandon_info;
            info.requests = requests_now();
            info.note = Some(format!(
                "{}; rows still in flight {}s later were given up on and are SKIPPED",
                cancel.cause().unwrap_or_else(|| "interrupted".into()),
                grace.as_secs()
            ));
            let exit = cancel.exit().unwrap_or(Exit::Interrupted);
            let results = merge(&kept, partial);
            std::process::exit(finish(&run_dir, &mut info, &results, exit).code())
        }),
    };
    let processed = match pipeline::execute_bounded(
        &todo,
        settings.concurrency,
        cancel,
        &api,
        bound,
        row_fn,
        |r| append(&journal, r),
    ) {
        Ok(r) => r,
        Err(e) => {
            let note = format!("cannot start {} workers: {e}", settings.concurrency);
            let journal = Some(&journal);
            return finish_unsent(
                &run_dir,
                &mut info,
                &todo,
                &kept,
                journal,
                note,
                Exit::Usage,
            );
        }
    };
    info.requests = requests_now();
    let results = merge(&kept, processed);
    // A stop (signal, or authentication lost) decides the exit code whatever the rows say; so
    // does a run in which no request got an answer from the API itself (exit 3, like a login
    // that cannot be had): its rows say nothing about customs.
    let exit = match (cancel.exit(), cancel.cause(), api.never_reached()) {
        (Some(exit), Some(cause), _) => {
            info.note = Some(format!("{cause}; rows not started are SKIPPED"));
            exit
        }
        (_, _, Some(why)) => {
            tracing::error!("{why}");
            info.note = Some(why);
            Exit::Unreachable
        }
        _ => verdict(&results),
    };
    finish(&run_dir, &mut info, &results, exit)
}

/// The documents to send that an earlier run under `--out` saw on the server: they start with get.
fn seen_before(settings: &Settings, todo: &[CheckedRow]) -> SeenBefore {
    let documents = todo
        .iter()
        .filter_map(|r| r.shipment.as_ref())
        .map(|s| s.meta.nomor_aju.as_str());
    let seen = history::seen_before(&settings.out, documents);
    if !seen.is_empty() {
        tracing::info!(
            "{} documents were seen on the server by earlier runs under {}: asking with get before sending",
            seen.len(),
            settings.out.display()
        );
    }
    seen
}

fn append(journal: &Journal, r: &RowResult) {
    if let Err(e) = journal.append(r) {
        tracing::error!(
            "cannot append row {} to {}: {e}",
            r.row,
            journal.path().display()
        );
    }
}

/// 0 when every row is MATCH, else 1.
pub fn verdict(results: &[RowResult]) -> Exit {
    if results.iter().all(|r| r.status == RowStatus::Match) {
        Exit::Ok
    } else {
        Exit::RowsNeedAttention
    }
}

/// Kept and new results in manifest (= row number) order; a row processed now replaces a kept one.
pub fn merge(kept: &[RowResult], new: Vec<RowResult>) -> Vec<RowResult> {
    let mut by_row: BTreeMap<usize, RowResult> = kept.iter().map(|r| (r.row, r.clone())).collect();
    by_row.extend(new.into_iter().map(|r| (r.row, r)));
    by_row.into_values().collect()
}

/// The run could not send anything: every valid row to process is SKIPPED, with the reason.
/// These rows go to the journal too (when there is one), so that it says what results.csv says:
/// `retry --status INVALID` and `report` read the journal.
pub fn finish_unsent(
    run_dir: &Path,
    info: &mut RunInfo,
    todo: &[CheckedRow],
    kept: &[RowResult],
    journal: Option<&Journal>,
    note: String,
    exit: Exit,
) -> Exit {
    tracing::error!("{note}");
    let results: Vec<RowResult> = todo
        .iter()
        .map(|r| match r.shipment {
            None => RowResult::invalid(r),
            Some(_) => RowResult {
                message: format!("not started: {note}"),
                ..RowResult::skipped(r)
            },
        })
        .collect();
    if let Some(journal) = journal {
        for r in &results {
            append(journal, r);
        }
    }
    info.note = Some(note);
    finish(run_dir, info, &merge(kept, results), exit)
}

/// Write every output, print the summary, and settle the exit code. Outputs that cannot be
/// written turn a clean run into "needs attention": the audit trail is part of the job. So does
/// a document that had not ended MATCH and left the manifest: nobody has sent it.
pub fn finish(run_dir: &Path, info: &mut RunInfo, results: &[RowResult], exit: Exit) -> Exit {
    let mut exit = exit;
    if exit == Exit::Ok
        && info
            .not_in_manifest
            .iter()
            .any(|g| g.status != RowStatus::Match)
    {
        exit = Exit::RowsNeedAttention;
    }
    info.finished_at = Some(Utc::now());
    info.exit_code = Some(exit.code());
    match report::write_outputs(run_dir, info, results) {
        Ok(summary) => print!("{}", summary.to_text(results)),
        Err(e) => {
            tracing::error!("cannot write the outputs of {}: {e:#}", run_dir.display());
            if exit == Exit::Ok {
                exit = Exit::RowsNeedAttention;
            }
        }
    }
    crate::ledger::record_run(run_dir);
    exit
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(n: usize, status: RowStatus) -> RowResult {
        let mut r = crate::report::journal::tests::sample(n);
        r.status = status;
        r
    }

    #[test]
    fn merge_keeps_manifest_order_and_new_results_win() {
        let kept = vec![row(5, RowStatus::Match), row(2, RowStatus::Failed)];
        let new = vec![row(3, RowStatus::Match), row(2, RowStatus::Match)];
        let got: Vec<_> = merge(&kept, new)
            .iter()
            .map(|r| (r.row, r.status))
            .collect();
        assert_eq!(
            got,
            [
                (2, RowStatus::Match),
                (3, RowStatus::Match),
                (5, RowStatus::Match)
            ]
        );
        assert_eq!(verdict(&merge(&kept, vec![])), Exit::RowsNeedAttention);
        assert_eq!(verdict(&[row(2, RowStatus::Match)]), Exit::Ok);
    }
}
