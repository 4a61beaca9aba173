//! Workers, cancellation and progress: runs the per-row protocol over every valid row on
//! `concurrency` threads. The rate limit itself lives in the API client (`api::pacer`), so every
//! request of every worker goes through the same limiter.
//!
//! Workers take rows from one shared counter in manifest order (rather than rayon's splitting of
//! the slice), so that when a run is interrupted the rows left SKIPPED are the tail of the
//! manifest, not holes scattered through it.

use std::convert::Infallible;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::api::Api;
use crate::exit::Exit;
use crate::halt::Halt;
use crate::model::{ImageResult, RowResult, RowStatus, SentIn, Shipment};
use crate::sync::{SyncSettings, sync_row};
use crate::validate::{CheckedRow, Severity, describe_problem};

mod slots;
use slots::Slots;

/// Set by the first SIGINT/SIGTERM, when the API client can no longer authenticate, or when the
/// run folder can no longer be written: start no new row. Remembers what came first, which
/// decides the exit code, the note in summary.json and the message of the rows left SKIPPED. All
/// end the run alike on purpose: rows in flight end (bounded wait), the outputs are written,
/// `--resume` and `retry` pick up the rest. A signal and an unwritable run folder also set the
/// [`Halt`]: nothing more is sent, every wait ends at once (rows in flight end SKIPPED).
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<Stop>);

#[derive(Debug, Default)]
struct Stop {
    /// 0 until stopped; then the signal number, or [`AUTH_LOST`].
    first: AtomicI32,
    /// "authentication was lost: …"; set before `first` can turn [`AUTH_LOST`].
    auth_lost: OnceLock<String>,
    /// "the run folder cannot be written: …"; set before `first` can turn [`OUTPUT_LOST`].
    output_lost: OnceLock<String>,
    halt: Halt,
}

pub const SIGINT: i32 = 2;
pub const SIGTERM: i32 = 15;
/// Not a signal number: the run stopped because authentication was lost.
const AUTH_LOST: i32 = -1;
/// Not a signal number: the run stopped because its run folder could not be written.
const OUTPUT_LOST: i32 = -2;

impl Cancel {
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Ask the run to stop, as if `signal` had arrived.
    pub fn request(&self, signal: i32) {
        self.stop(signal);
        self.0.halt.set();
    }

    /// Stop the run: the run folder cannot be written (`why` names the file and the OS error).
    /// `true` the first time.
    pub fn output_lost(&self, why: String) -> bool {
        let first = (self.0.output_lost)
            .set(format!("the run folder cannot be written: {why}"))
            .is_ok();
        self.stop(OUTPUT_LOST);
        self.0.halt.set();
        first
    }

    /// What every wait of the run sleeps on: set by a signal or an unwritable run folder.
    pub fn halt(&self) -> Halt {
        self.0.halt.clone()
    }

    /// Stop the run because the API client can no longer authenticate (`why` says how).
    pub fn auth_lost(&self, why: String) {
        let _ = (self.0.auth_lost).set(format!("authentication was lost: {why}"));
        self.stop(AUTH_LOST);
    }

    fn stop(&self, code: i32) {
        let _ = self
            .0
            .first
            .compare_exchange(0, code, Ordering::SeqCst, Ordering::SeqCst);
    }

    pub fn is_set(&self) -> bool {
        self.0.first.load(Ordering::SeqCst) != 0
    }

    /// Why authentication or the run folder was lost, when that is what stopped the run (first).
    fn lost_because(&self) -> Option<String> {
        match self.0.first.load(Ordering::SeqCst) {
            AUTH_LOST => self.0.auth_lost.get().cloned(),
            OUTPUT_LOST => self.0.output_lost.get().cloned(),
            _ => None,
        }
    }

    /// The exit code the stop calls for: 3 when authentication was lost (DESIGN: "could not
    /// authenticate"), 5 when the run folder could not be written, 143 for SIGTERM, 130 for any
    /// other signal.
    pub fn exit(&self) -> Option<Exit> {
        match self.0.first.load(Ordering::SeqCst) {
            0 => None,
            AUTH_LOST => Some(Exit::Unreachable),
            OUTPUT_LOST => Some(Exit::RunFolder),
            SIGTERM => Some(Exit::Terminated),
            _ => Some(Exit::Interrupted),
        }
    }

    /// Why the run stopped, to open summary.json's note: "interrupted", "authentication was
    /// lost: …" or "the run folder cannot be written: …".
    pub fn cause(&self) -> Option<String> {
        if !self.is_set() {
            return None;
        }
        Some(self.lost_because().unwrap_or_else(|| "interrupted".into()))
    }

    /// A valid row this run does not start, saying why.
    pub fn not_started(&self, row: &CheckedRow) -> RowResult {
        match self.lost_because() {
            Some(why) => RowResult {
                message: format!("not started: {why}"),
                ..RowResult::skipped(row)
            },
            None => RowResult::skipped(row),
        }
    }

    /// Listen for SIGINT and SIGTERM on a small thread. The first sets this flag; the second ends
    /// the process at once (every journal line is written whole by one write, so the journal
    /// stays readable).
    #[cfg(unix)]
    pub fn install_signal_handlers(&self) -> std::io::Result<()> {
        use signal_hook::consts::{SIGINT as INT, SIGTERM as TERM};
        let mut signals = signal_hook::iterator::Signals::new([INT, TERM])?;
        let cancel = self.clone();
        std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                // A local flag, not `cancel.is_set()`: a run already stopping because
                // authentication was lost still waits for its rows at the first signal.
                let mut signalled = false;
                for signal in signals.forever() {
                    if signalled {
                        eprintln!("kirim-xray: second signal, stopping now");
                        let code = if signal == TERM { 143 } else { 130 };
                        std::process::exit(code);
                    }
                    signalled = true;
                    cancel.request(signal);
                    tracing::warn!(
                        "signal {signal}: starting no new row; rows in flight finish, the rest are SKIPPED (signal again to stop at once)"
                    );
                }
            })?;
        Ok(())
    }

    #[cfg(not(unix))]
    pub fn install_signal_handlers(&self) -> std::io::Result<()> {
        Ok(())
    }
}

impl RowResult {
    /// An invalid row: nothing sent; the message lists its problems, errors first.
    pub fn invalid(row: &CheckedRow) -> RowResult {
        let (errors, warnings): (Vec<_>, Vec<_>) = row
            .problems
            .iter()
            .partition(|p| p.severity == Severity::Error);
        let message = errors
            .into_iter()
            .map(describe_problem)
            .chain(
                warnings
                    .into_iter()
                    .map(|p| format!("warning: {}", describe_problem(p))),
            )
            .collect::<Vec<_>>()
            .join("; ");
        RowResult {
            status: RowStatus::Invalid,
            message,
            ..RowResult::untouched(row)
        }
    }

    /// A row the run did not start because it was interrupted.
    pub fn skipped(row: &CheckedRow) -> RowResult {
        RowResult {
            status: RowStatus::Skipped,
            message: "run interrupted before this row started".into(),
            ..RowResult::untouched(row)
        }
    }

    fn untouched(row: &CheckedRow) -> RowResult {
        let images: Vec<ImageResult> = row
            .shipment
            .iter()
            .flat_map(|s| &s.images)
            .map(|img| ImageResult {
                file: img.name.clone(),
                bytes: img.bytes,
                sha256: img.sha256.clone(),
                content_type: img.content_type.to_string(),
                sent_in: SentIn::None,
                sent_at: None,
                on_server: None,
                server_waktu_rekam: None,
            })
            .collect();
        RowResult {
            row: row.row,
            fields: row.fields.clone(),
            status: RowStatus::Skipped,
            action: "-".into(),
            local_count: images.len(),
            uploaded: 0,
            server_count: None,
            missing_on_server: Vec::new(),
            extra_on_server: Vec::new(),
            npwp_pemberitahu: None,
            attempts: 0,
            requests: 0,
            message: String::new(),
            started_at: None,
            finished_at: None,
            images,
        }
    }
}

/// Run the per-row protocol over `rows` with the real `sync_row`; no new row starts once `api`
/// has lost authentication (see [`execute_bounded`]).
pub fn execute(
    rows: &[CheckedRow],
    api: &dyn Api,
    sync: &SyncSettings,
    concurrency: usize,
    cancel: &Cancel,
    on_row_done: impl Fn(&RowResult) + Sync,
) -> Result<Vec<RowResult>, rayon::ThreadPoolBuildError> {
    execute_inner(
        rows,
        concurrency,
        cancel,
        Some(api),
        None,
        &|shipment: &Shipment| sync_row(api, shipment, sync, false),
        &on_row_done,
    )
}

/// The worker pool, with the row function injected (tests, resume, reconcile). Invalid rows become
/// INVALID without a request; once `cancel` is set, rows not yet started become SKIPPED (invalid
/// rows stay INVALID: that does not depend on the run). Results come back in manifest order, and
/// every finished row goes through `on_row_done` (journal, progress) as it finishes.
/// Rows in flight when `cancel` is set are waited for without a bound: see [`execute_bounded`].
pub fn execute_with(
    rows: &[CheckedRow],
    concurrency: usize,
    cancel: &Cancel,
    row_fn: impl Fn(&Shipment) -> RowResult + Sync,
    on_row_done: impl Fn(&RowResult) + Sync,
) -> Result<Vec<RowResult>, rayon::ThreadPoolBuildError> {
    execute_inner(rows, concurrency, cancel, None, None, &row_fn, &on_row_done)
}

/// What a run does with rows still in flight `grace` after the first signal: `abandon` gets the
/// results as they stand (rows in flight marked SKIPPED) and must end the process — write the
/// outputs, then exit. It never returns, so the workers may still be using what they borrowed.
pub struct Bound<'a> {
    pub grace: Duration,
    pub abandon: Box<dyn FnOnce(Vec<RowResult>) -> Infallible + 'a>,
}

/// [`execute_with`], but a signal is followed by a bounded wait: the per-row protocol cannot see
/// the cancel flag, so a row that is deep in retries and backoff could otherwise hold the run for
/// minutes after SIGTERM. After `bound.grace`, the rows still in flight are given up on (marked
/// SKIPPED, "check with resume or reconcile"), no further row reaches `on_row_done`, and
/// `bound.abandon` ends the process.
///
/// Before starting each row, a worker asks `api` whether authentication is lost for good
/// ([`Api::auth_lost`]); if so it stops the run through `cancel`, exactly like a signal but with
/// exit code 3: every row that `row_fn` would send with is then SKIPPED, saying why, instead of
/// each failing on its own requests.
pub fn execute_bounded(
    rows: &[CheckedRow],
    concurrency: usize,
    cancel: &Cancel,
    api: &dyn Api,
    bound: Bound<'_>,
    row_fn: impl Fn(&Shipment) -> RowResult + Sync,
    on_row_done: impl Fn(&RowResult) + Sync,
) -> Result<Vec<RowResult>, rayon::ThreadPoolBuildError> {
    execute_inner(
        rows,
        concurrency,
        cancel,
        Some(api),
        Some(bound),
        &row_fn,
        &on_row_done,
    )
}

/// The message of a row given up on while in flight.
pub const IN_FLIGHT_MESSAGE: &str = "interrupted while in flight: some photos may be on the server; \
     `run --resume` checks it with get before sending, or see `reconcile`";

fn execute_inner(
    rows: &[CheckedRow],
    concurrency: usize,
    cancel: &Cancel,
    api: Option<&dyn Api>,
    bound: Option<Bound<'_>>,
    row_fn: &(impl Fn(&Shipment) -> RowResult + Sync),
    on_row_done: &(impl Fn(&RowResult) + Sync),
) -> Result<Vec<RowResult>, rayon::ThreadPoolBuildError> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(Slots::threads(concurrency))
        .thread_name(|i| format!("worker-{i}"))
        .build()?;
    // The next row to take. Taking a row and deciding whether it starts happen under this one
    // lock: the stop flags only ever turn on, so once a row is left SKIPPED every later row is
    // too, and the SKIPPED rows are exactly the tail even with many workers.
    let next = Mutex::new(0usize);
    // Rows finished, under a lock with a condvar, so the waiting thread wakes as rows finish.
    let done = Mutex::new(0usize);
    let row_finished = Condvar::new();
    let abandoned = AtomicBool::new(false);
    let slots: Vec<Mutex<Option<RowResult>>> = rows.iter().map(|_| Mutex::new(None)).collect();
    let total = rows.len();
    // At most `concurrency` rows talk to the gateway at once; a row that waits lends its slot.
    let workers = Slots::new(concurrency);
    let work = || {
        workers.lend_while_waiting(cancel.halt());
        loop {
            workers.acquire();
            let (i, start) = {
                let mut n = next.lock().unwrap_or_else(|p| p.into_inner());
                let i = *n;
                *n += 1;
                if let Some(why) = api.and_then(|api| api.auth_lost()) {
                    cancel.auth_lost(why);
                }
                (i, !cancel.is_set())
            };
            let Some(row) = rows.get(i) else {
                workers.release();
                crate::sync::set_thread_wait(None);
                break;
            };
            let span = crate::logging::row_span(row.row, &row.fields.nomor_aju);
            let began = Instant::now();
            let result = span.in_scope(|| match &row.shipment {
                None => RowResult::invalid(row),
                Some(_) if !start => cancel.not_started(row),
                Some(shipment) => run_one(row, shipment, row_fn),
            });
            // Checking `abandoned`, journaling the row and filling its slot happen under the
            // `done` lock, which the watcher holds when it gives up: a row is then either in the
            // snapshot it writes and in the journal, or in neither, however slow the journal's
            // fsync is. The slot is given back only after: the next row starts once this one is
            // journaled, so a journal that fails stops the run before anything more is sent.
            let mut d = done.lock().unwrap_or_else(|p| p.into_inner());
            if abandoned.load(Ordering::SeqCst) {
                // The outputs are being written without this row: keep the journal equal to them.
                workers.release();
                continue;
            }
            *d += 1;
            span.record("status", result.status.as_str());
            span.record("action", result.action.as_str());
            span.record("duration_ms", began.elapsed().as_millis() as u64);
            span.in_scope(|| progress(*d, total, &result));
            on_row_done(&result);
            *slots[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(result);
            drop(d);
            workers.release();
            row_finished.notify_all();
        }
    };
    pool.in_place_scope(|scope| {
        for _ in 0..Slots::threads(concurrency).min(total.max(1)) {
            scope.spawn(|_| work());
        }
        let Some(bound) = bound else { return };
        // This thread only watches: it wakes when a row finishes, and polls for the signal.
        let mut signalled_at: Option<Instant> = None;
        let mut d = done.lock().unwrap_or_else(|p| p.into_inner());
        while *d < total {
            if signalled_at.is_none() && cancel.is_set() {
                signalled_at = Some(Instant::now());
            }
            if signalled_at.is_some_and(|t| t.elapsed() >= bound.grace) {
                abandoned.store(true, Ordering::SeqCst);
                drop(d);
                let started = *next.lock().unwrap_or_else(|p| p.into_inner());
                let snapshot = snapshot(rows, &slots, started, cancel);
                tracing::warn!(
                    "rows still in flight {:?} after the run was stopped: giving up on them",
                    bound.grace
                );
                match (bound.abandon)(snapshot) {}
            }
            d = row_finished
                .wait_timeout(d, Duration::from_millis(100))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    });
    Ok(slots
        .into_iter()
        .zip(rows)
        .map(|(slot, row)| {
            slot.into_inner()
                .unwrap_or_else(|p| p.into_inner())
                // Every index below `total` is taken exactly once, so each slot is filled; the
                // fallback only keeps the output complete if that ever broke.
                .unwrap_or_else(|| cancel.not_started(row))
        })
        .collect())
}

/// The results as they stand: rows taken by a worker but not finished are in flight.
fn snapshot(
    rows: &[CheckedRow],
    slots: &[Mutex<Option<RowResult>>],
    started: usize,
    cancel: &Cancel,
) -> Vec<RowResult> {
    rows.iter()
        .zip(slots)
        .enumerate()
        .map(|(i, (row, slot))| {
            let finished = slot.lock().unwrap_or_else(|p| p.into_inner()).clone();
            match finished {
                Some(r) => r,
                None if row.shipment.is_none() => RowResult::invalid(row),
                None if i < started => RowResult {
                    message: IN_FLIGHT_MESSAGE.into(),
                    ..RowResult::skipped(row)
                },
                None => cancel.not_started(row),
            }
        })
        .collect()
}

/// One row, with a panic in the protocol turned into a FAILED row rather than a dead run.
fn run_one(
    row: &CheckedRow,
    shipment: &Shipment,
    row_fn: &(impl Fn(&Shipment) -> RowResult + Sync),
) -> RowResult {
    match catch_unwind(AssertUnwindSafe(|| row_fn(shipment))) {
        Ok(result) => result,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            tracing::error!(row = row.row, "internal error: {what}");
            RowResult {
                status: RowStatus::Failed,
                message: format!("internal error: {what}"),
                ..RowResult::untouched(row)
            }
        }
    }
}

/// The line of a finished row (on stderr unless the progress bar stands for it).
fn progress(n: usize, total: usize, r: &RowResult) {
    let on_server = r.server_count.map_or("-".to_string(), |c| c.to_string());
    let tail = match r.status {
        RowStatus::Match => String::new(),
        _ if r.message.is_empty() => String::new(),
        _ => format!(": {}", r.message),
    };
    tracing::info!(
        target: crate::logging::ROW_DONE,
        "[{n}/{total}] row {} {} {on_server}/{} photos{tail}",
        r.row,
        r.status,
        r.local_count
    );
}

#[cfg(test)]
#[path = "pipeline_tests.rs"]
mod tests;
