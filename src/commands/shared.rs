//! Plumbing shared by the commands that talk to the API over a run folder (`run`, `run --resume`,
//! `retry`, `reconcile`): the locks (output folder, account), the run folder, the signal handlers, the
//! workers feeding the journal, and the outputs at the end. Each command only decides which rows
//! it processes, with which row function, and which results it keeps from before; the way a run
//! starts, is interrupted and ends is the same for all of them, which is what makes `report` and
//! `--resume` able to treat every run folder alike.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::locks::{self, Locks};
use super::outputs::RunRows;
use super::staged::Staged;
use crate::api::{ConnectError, HttpApi};
use crate::config::Settings;
use crate::exit::Exit;
use crate::history::{self, SeenBefore};
use crate::logging::LogHandle;
use crate::model::{RowResult, RowStatus, Shipment};
use crate::pipeline::{self, Bound, Cancel};
use crate::progress::Progress;
use crate::report::journal::LineAt;
use crate::report::{self, Journal, RequestCounts, RowSource, RunInfo};
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

/// A run about to process rows: its folder, what summary.json says, the rows to process now
/// (validated, waiting on disk), the lines of the journal kept from before (resume), and the
/// open journal.
pub struct Work {
    pub run_dir: PathBuf,
    pub info: RunInfo,
    pub todo: Staged,
    /// The journal lines of the rows kept from before, sorted by row.
    pub kept: Vec<(usize, LineAt)>,
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
/// from the journal, covering the kept rows and the processed ones in manifest order, and settle
/// the exit code. Only the rows in flight are held in memory, and for every row of the run the
/// place of its journal line.
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
    let invalid = todo.rows - todo.valid;
    todo.log_warnings(&info.manifest.path);
    tracing::info!(
        "run folder {}: {} rows to process ({} valid, {invalid} invalid), {} kept from before, from {}",
        run_dir.display(),
        todo.rows,
        todo.valid,
        kept.len(),
        info.manifest.path.display()
    );
    if let Err(e) = report::write_summary_json(&run_dir, &report::Summary::build(&info, &[])) {
        tracing::warn!("{e:#}");
    }
    // Where each row processed now went in the journal.
    let done: Mutex<Vec<(usize, LineAt)>> = Mutex::new(Vec::with_capacity(todo.rows));
    // Rows that finished but could not be journaled (the run folder cannot be written): the
    // outputs still say what they did. Few: the run sends nothing more after the first.
    let unjournaled: Mutex<Vec<RowResult>> = Mutex::new(Vec::new());
    let record = |r: &RowResult| match append(&journal, r, Some(cancel)) {
        Some(at) => done
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((r.row, at)),
        // A row INVALID, or SKIPPED before its first request, is shown the same without it.
        None if r.status == RowStatus::Invalid
            || (r.status == RowStatus::Skipped && r.requests == 0) => {}
        None => unjournaled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(r.clone()),
    };
    let take_done = || std::mem::take(&mut *done.lock().unwrap_or_else(|p| p.into_inner()));
    // The rows held in memory for the outputs, sorted by row: those not journaled, and `more`.
    let held = |more: Vec<RowResult>| {
        let mut rows = std::mem::take(&mut *unjournaled.lock().unwrap_or_else(|p| p.into_inner()));
        rows.extend(more);
        rows.sort_by_key(|r| r.row);
        rows
    };
    let journal_path = journal.path().to_path_buf();
    if todo.valid == 0 {
        // Nothing to send: no login needed. Invalid rows still reach the journal.
        for row in todo.rows_or_log() {
            record(&RowResult::invalid(&row));
        }
        let mut rows = RunRows::of(journal_path, kept, &todo, take_done(), &not_sent);
        rows.in_flight = held(Vec::new());
        return finish(&run_dir, &mut info, &rows, cancel.exit());
    }
    let unsent = Unsent {
        run_dir: &run_dir,
        todo: &todo,
        kept: &kept,
        journal: Some(&journal),
    };
    let api_settings = match settings.to_api_settings() {
        Ok(a) => a,
        Err(e) => return unsent.finish(&mut info, e.to_string(), Exit::Usage),
    };
    let mut api = match HttpApi::connect(&api_settings) {
        Ok(api) => api,
        Err(e) => {
            let exit = match e {
                ConnectError::Config(_) => Exit::Usage,
                ConnectError::Auth(_) | ConnectError::Unreachable(_) => Exit::Unreachable,
            };
            return unsent.finish(&mut info, e.to_string(), exit);
        }
    };
    // A signal or an unwritable run folder: nothing more goes out, and every wait ends.
    api.halt_on(cancel.halt());
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
    // A row the run did not reach: INVALID or SKIPPED, saying why it did not start.
    let not_reached = |row: &CheckedRow| match row.shipment {
        None => RowResult::invalid(row),
        Some(_) => cancel.not_started(row),
    };
    let progress = Progress::start(
        settings.progress,
        settings.quiet,
        todo.rows,
        settings.rate,
        || api.stats().api_requests,
    );
    let grace = grace(settings);
    let abandon_info = info.clone();
    let bound = Bound {
        grace,
        abandon: Box::new(|in_flight: Vec<RowResult>| {
            progress.finish();
            let mut info = abandon_info;
            info.requests = requests_now();
            info.note = Some(format!(
                "{}; rows still in flight {}s later were given up on and are SKIPPED",
                cancel.cause().unwrap_or_else(|| "interrupted".into()),
                grace.as_secs()
            ));
            let exit = cancel.exit().unwrap_or(Exit::Interrupted);
            let mut rows = RunRows::of(
                journal_path.clone(),
                kept.clone(),
                &todo,
                take_done(),
                &not_reached,
            );
            rows.in_flight = held(in_flight);
            std::process::exit(finish(&run_dir, &mut info, &rows, Some(exit)).code())
        }),
    };
    if let Err(e) = pipeline::execute_bounded(
        todo.rows_or_log(),
        settings.concurrency,
        cancel,
        &api,
        bound,
        row_fn,
        |r| {
            record(r);
            progress.row_done(r);
        },
    ) {
        progress.finish();
        let note = format!("cannot start {} workers: {e}", settings.concurrency);
        return unsent.finish(&mut info, note, Exit::Usage);
    }
    progress.finish();
    info.requests = requests_now();
    // A stop (signal, or authentication lost) decides the exit code whatever the rows say; so
    // does a run in which no request got an answer from the API itself (exit 3, like a login
    // that cannot be had): its rows say nothing about customs.
    let exit = match (cancel.exit(), cancel.cause(), api.never_reached()) {
        (Some(exit), Some(cause), _) => {
            info.note = Some(format!("{cause}; rows not started are SKIPPED"));
            Some(exit)
        }
        (_, _, Some(why)) => {
            tracing::error!("{why}");
            info.note = Some(why);
            Some(Exit::Unreachable)
        }
        _ => None,
    };
    let mut rows = RunRows::of(journal_path, kept, &todo, take_done(), &not_reached);
    rows.in_flight = held(Vec::new());
    finish(&run_dir, &mut info, &rows, exit)
}

/// A row that never reached the workers: INVALID, or SKIPPED as not started.
fn not_sent(row: &CheckedRow) -> RowResult {
    match row.shipment {
        None => RowResult::invalid(row),
        Some(_) => RowResult::skipped(row),
    }
}

/// The documents to send that an earlier run under `--out` saw on the server: they start with get.
fn seen_before(settings: &Settings, todo: &Staged) -> SeenBefore {
    let documents = todo
        .rows_or_log()
        .filter_map(|r| r.shipment.map(|s| s.meta.nomor_aju));
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

/// Journal one finished row; where its line went, or `None` when it could not be. Then, during
/// the run, `cancel` stops it: a row the journal cannot record must not be followed by more
/// requests (a resume would not know of them), so nothing more is sent, rows in flight end at
/// their next request, and the rest are SKIPPED. What the server holds of the rows not
/// journaled, `--resume` asks with get.
fn append(journal: &Journal, r: &RowResult, cancel: Option<&Cancel>) -> Option<LineAt> {
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

/// A run that could not send anything: every valid row to process is SKIPPED, with the reason.
/// These rows go to the journal too (when there is one), so that it says what results.csv says:
/// `retry --status INVALID` and `report` read the journal.
pub struct Unsent<'a> {
    pub run_dir: &'a Path,
    pub todo: &'a Staged,
    pub kept: &'a [(usize, LineAt)],
    pub journal: Option<&'a Journal>,
}

impl Unsent<'_> {
    pub fn finish(&self, info: &mut RunInfo, note: String, exit: Exit) -> Exit {
        tracing::error!("{note}");
        let unsent = |r: &CheckedRow| match r.shipment {
            None => RowResult::invalid(r),
            Some(_) => RowResult {
                message: format!("not started: {note}"),
                ..RowResult::skipped(r)
            },
        };
        let mut done = Vec::new();
        if let Some(journal) = self.journal {
            for row in self.todo.rows_or_log() {
                let r = unsent(&row).with_warnings(&row);
                if let Some(at) = append(journal, &r, None) {
                    done.push((r.row, at));
                }
            }
        }
        info.note = Some(note.clone());
        let journal_path = self.journal.map_or_else(
            || self.run_dir.join(report::JOURNAL_FILE),
            |j| j.path().to_path_buf(),
        );
        let rows = RunRows::of(journal_path, self.kept.to_vec(), self.todo, done, &unsent);
        finish(self.run_dir, info, &rows, Some(exit))
    }
}

/// Write every output, print the summary, and settle the exit code: `exit`, or when it is
/// `None`, 0 when every row is MATCH and 1 otherwise. Outputs that cannot be written turn a
/// finished run (0 or 1) into exit 5: the audit trail is part of the job, and the summary is
/// printed anyway. A document that had not ended MATCH and left the manifest turns 0 into 1:
/// nobody has sent it.
pub fn finish(
    run_dir: &Path,
    info: &mut RunInfo,
    rows: &dyn RowSource,
    exit: Option<Exit>,
) -> Exit {
    let tally = report::write_tables(run_dir, rows);
    let mut exit = exit.unwrap_or(match &tally {
        Ok(t) if t.all_match() => Exit::Ok,
        _ => Exit::RowsNeedAttention,
    });
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
    let written =
        tally.and_then(|t| report::write_summaries(run_dir, info, &t, rows).map(|s| (s, t)));
    match written {
        Ok((summary, tally)) => print_summary(&summary.to_text(&tally)),
        Err(e) => {
            tracing::error!(
                "cannot write the outputs of {}: {e:#}; `kirim-xray report {}` rebuilds them \
                 from the journal once there is space",
                run_dir.display(),
                run_dir.display()
            );
            if matches!(exit, Exit::Ok | Exit::RowsNeedAttention) {
                exit = Exit::RunFolder;
                info.exit_code = Some(exit.code());
            }
            // The summary the folder could not take still goes to stdout.
            let tally = report::Tally::count(rows).unwrap_or_default();
            print_summary(&report::Summary::of(info, &tally).to_text(&tally));
        }
    }
    crate::ledger::record_run(run_dir);
    exit
}

/// The summary on stdout. A reader that went away (`kirim-xray run … | head`) costs nothing: the
/// run folder already holds summary.txt, and the exit code still says how the run ended.
fn print_summary(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        tracing::debug!("summary not printed: {e}");
    }
}
