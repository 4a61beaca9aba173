//! Plumbing shared by the commands that talk to the API over a run folder (`run`, `run --resume`,
//! `retry`, `reconcile`): the locks (output folder, account), the run folder, the signal handlers, the
//! workers feeding the journal, and the outputs at the end. Each command only decides which rows
//! it processes, with which row function, and which results it keeps from before; the way a run
//! starts, is interrupted and ends is the same for all of them, which is what makes `report` and
//! `--resume` able to treat every run folder alike.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::locks::{self, Locks};
use super::outputs::RunRows;
use super::recorder::{Recorder, append};
use super::staged::Staged;
use crate::api::{ConnectError, HttpApi};
use crate::config::Settings;
use crate::exit::Exit;
use crate::history::{self, NotFound, SeenBefore};
use crate::logging::LogHandle;
use crate::model::{RowResult, RowStatus, Shipment};
use crate::pipeline::{self, Bound, Cancel};
use crate::progress::Progress;
use crate::report::journal::LineAt;
use crate::report::{self, Journal, RequestCounts, RowSource, RunInfo};
use crate::runfolder;
use crate::sync::{SyncSettings, reconcile_row, sync_row, sync_row_not_found_lately};
use crate::validate::CheckedRow;

/// What the workers do with each valid row.
#[derive(Debug, Clone)]
pub enum RowMode {
    /// The per-row protocol: upload what is missing, then verify. Rows in `check_first` are asked
    /// about with get before anything is sent (they may have been in flight when a process died).
    /// A document whose BL/AWB customs did not know less than `recheck_not_found` ago (an
    /// earlier run's kirim) is asked about with get only, unless the get shows X-ray data.
    Upload {
        check_first: BTreeSet<usize>,
        recheck_not_found: Duration,
    },
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
    announce(&run_dir, &info, &todo, kept.len());
    let recorder = Recorder::new(&journal, Some(cancel), todo.rows);
    if todo.valid == 0 {
        // Nothing to send: no login needed. Invalid rows still reach the journal.
        for row in todo.rows_or_log() {
            recorder.record(&RowResult::invalid(&row));
        }
        let rows = recorder.rows(kept, &todo, &not_sent, Vec::new());
        return finish(&run_dir, &mut info, &rows, cancel.exit());
    }
    let unsent = Unsent::new(&run_dir, &todo, &kept, Some(&journal));
    let api = match connect(settings, cancel) {
        Ok(api) => api,
        Err((note, exit)) => return unsent.finish(&mut info, note, exit),
    };
    let before = info.requests.clone();
    let requests_now = || before.clone().plus(&RequestCounts::from(&api.stats()));
    let sync = settings.sync_settings();
    let seen = seen_before(settings, &todo, &mode);
    let row_fn = |s: &Shipment| process_row(&mode, &api, &sync, &seen, s);
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
            let rows = recorder.rows(kept.clone(), &todo, &not_reached, in_flight);
            give_up(&run_dir, &mut info, &rows, cancel, grace)
        }),
    };
    let workers = pipeline::execute_bounded(
        todo.rows_or_log(),
        settings.concurrency,
        cancel,
        &api,
        bound,
        row_fn,
        |r| {
            recorder.record(r);
            progress.row_done(r);
        },
    );
    progress.finish();
    if let Err(e) = workers {
        let note = format!("cannot start {} workers: {e}", settings.concurrency);
        return unsent.finish(&mut info, note, Exit::Usage);
    }
    info.requests = requests_now();
    let exit = stopped(cancel, &api, &mut info);
    let rows = recorder.rows(kept, &todo, &not_reached, Vec::new());
    finish(&run_dir, &mut info, &rows, exit)
}

/// One valid row through the per-row protocol (`Upload`: send what is missing, then verify; a
/// row to check first, or a document seen on the server before, starts with get), or only
/// asked about (`Reconcile`).
fn process_row(
    mode: &RowMode,
    api: &HttpApi,
    sync: &SyncSettings,
    seen: &SeenBefore,
    s: &Shipment,
) -> RowResult {
    match mode {
        RowMode::Upload {
            check_first,
            recheck_not_found,
        } => {
            let in_flight = check_first.contains(&s.row);
            let lately = seen.not_found_within(&s.meta, *recheck_not_found, Utc::now());
            match lately.filter(|_| !in_flight) {
                Some(lately) => {
                    let why = not_asked_again(lately, *recheck_not_found);
                    sync_row_not_found_lately(api, s, sync, why)
                }
                None => sync_row(api, s, sync, in_flight || seen.contains(&s.meta.nomor_aju)),
            }
        }
        RowMode::Reconcile => RowResult {
            action: "get".into(),
            ..reconcile_row(api, s, sync)
        },
    }
}

/// Why a document customs did not know lately is NOT_FOUND again without its photos being sent.
fn not_asked_again(lately: &NotFound, window: Duration) -> String {
    let again = chrono::Duration::from_std(window)
        .ok()
        .and_then(|w| lately.at.checked_add_signed(w))
        .unwrap_or(lately.at);
    format!(
        "BL/AWB not known to customs at {} (run {}), and get shows no X-ray data: photos not \
         sent again until {} (recheck_not_found); `kirim-xray retry` asks now",
        lately.at.format("%Y-%m-%d %H:%M:%S UTC"),
        lately.run,
        again.format("%Y-%m-%d %H:%M:%S UTC"),
    )
}

/// The rows still in flight `grace` after a stop are given up on: write the outputs without
/// them (they are SKIPPED, see `rows`) and end the process with the stop's exit code.
fn give_up(
    run_dir: &Path,
    info: &mut RunInfo,
    rows: &RunRows,
    cancel: &Cancel,
    grace: Duration,
) -> ! {
    info.note = Some(format!(
        "{}; rows still in flight {}s later were given up on and are SKIPPED",
        cancel.cause().unwrap_or_else(|| "interrupted".into()),
        grace.as_secs()
    ));
    let exit = cancel.exit().unwrap_or(Exit::Interrupted);
    std::process::exit(finish(run_dir, info, rows, Some(exit)).code())
}

/// Say what the run is about to do (run.log), with the warnings of its valid rows, and write a
/// first summary.json.
fn announce(run_dir: &Path, info: &RunInfo, todo: &Staged, kept: usize) {
    todo.log_warnings(&info.manifest.path);
    tracing::info!(
        "run folder {}: {} rows to process ({} valid, {} invalid), {kept} kept from before, from {}",
        run_dir.display(),
        todo.rows,
        todo.valid,
        todo.rows - todo.valid,
        info.manifest.path.display()
    );
    if let Err(e) = report::write_summary_json(run_dir, &report::Summary::build(info, &[])) {
        tracing::warn!("{e:#}");
    }
}

/// The API client, logged in, that a signal or an unwritable run folder halts (nothing more goes
/// out, and every wait ends); or why there is none and the exit code that says so.
fn connect(settings: &Settings, cancel: &Cancel) -> Result<HttpApi, (String, Exit)> {
    let api_settings = settings
        .to_api_settings()
        .map_err(|e| (e.to_string(), Exit::Usage))?;
    let mut api = HttpApi::connect(&api_settings).map_err(|e| {
        let exit = match e {
            ConnectError::Config(_) => Exit::Usage,
            ConnectError::Auth(_) | ConnectError::Unreachable(_) => Exit::Unreachable,
        };
        (e.to_string(), exit)
    })?;
    api.halt_on(cancel.halt());
    Ok(api)
}

/// The exit code a finished run must end with whatever its rows say, with its note: a stop
/// (signal, authentication lost, run folder unwritable), or a run in which no request got an
/// answer from the API itself (exit 3, like a login that cannot be had: its rows say nothing
/// about customs). `None`: the rows decide.
fn stopped(cancel: &Cancel, api: &HttpApi, info: &mut RunInfo) -> Option<Exit> {
    match (cancel.exit(), cancel.cause(), api.never_reached()) {
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
    }
}

/// A row that never reached the workers: INVALID, or SKIPPED as not started.
fn not_sent(row: &CheckedRow) -> RowResult {
    match row.shipment {
        None => RowResult::invalid(row),
        Some(_) => RowResult::skipped(row),
    }
}

/// The documents to send that an earlier run under `--out` saw on the server: they start with get.
fn seen_before(settings: &Settings, todo: &Staged, mode: &RowMode) -> SeenBefore {
    if let RowMode::Reconcile = mode {
        return SeenBefore::default();
    }
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
    if seen.not_found_len() > 0 {
        tracing::info!(
            "BL/AWB not known to customs when earlier runs under {} asked: {} documents; those \
             answered less than {} s ago are asked with get only",
            settings.out.display(),
            seen.not_found_len(),
            recheck_window(mode).as_secs()
        );
    }
    seen
}

fn recheck_window(mode: &RowMode) -> Duration {
    match mode {
        RowMode::Upload {
            recheck_not_found, ..
        } => *recheck_not_found,
        RowMode::Reconcile => Duration::ZERO,
    }
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

impl<'a> Unsent<'a> {
    pub fn new(
        run_dir: &'a Path,
        todo: &'a Staged,
        kept: &'a [(usize, LineAt)],
        journal: Option<&'a Journal>,
    ) -> Unsent<'a> {
        Unsent {
            run_dir,
            todo,
            kept,
            journal,
        }
    }

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
