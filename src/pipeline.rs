//! Workers, cancellation and progress: runs the per-row protocol over every valid row on
//! `concurrency` threads. The rate limit itself lives in the API client (`api::pacer`), so every
//! request of every worker goes through the same limiter.
//!
//! Workers take rows one at a time from one shared source in manifest order (rather than
//! rayon's splitting of a slice), so that when a run is interrupted the rows left SKIPPED are the
//! tail of the manifest, not holes scattered through it, and so that the rows can come from disk:
//! only the rows in flight are in memory.

use std::convert::Infallible;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::api::Api;
use crate::model::{ImageResult, RowResult, RowStatus, SentIn, Shipment};
use crate::sync::{SyncSettings, sync_row};
use crate::validate::{CheckedRow, Severity, describe_problem};

mod cancel;
mod slots;
pub use cancel::{Cancel, SIGINT, SIGTERM};
use slots::Slots;

impl RowResult {
    /// An invalid row: nothing sent; the message lists its problems, errors first.
    pub fn invalid(row: &CheckedRow) -> RowResult {
        let message = row
            .problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .map(describe_problem)
            .chain(warning_notes(row))
            .collect::<Vec<_>>()
            .join("; ");
        RowResult {
            status: RowStatus::Invalid,
            message,
            ..RowResult::untouched(row)
        }
    }

    /// This result of a valid row, with the row's validation warnings (a padded kodeKantor, a
    /// BL/AWB typed as a number) after what the run says: they are part of what was sent, so
    /// results.csv, the journal and report.html show them whatever the status. An invalid
    /// row's message has them already ([`RowResult::invalid`]).
    pub fn with_warnings(mut self, row: &CheckedRow) -> RowResult {
        if row.shipment.is_none() {
            return self;
        }
        let notes: Vec<String> = warning_notes(row).collect();
        if notes.is_empty() {
            return self;
        }
        let said = std::mem::take(&mut self.message);
        self.message = std::iter::once(said)
            .filter(|m| !m.is_empty())
            .chain(notes)
            .collect::<Vec<_>>()
            .join("; ");
        self
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

/// A row's validation warnings, each as `warning: column kodeKantor: "9000" …`.
fn warning_notes(row: &CheckedRow) -> impl Iterator<Item = String> + '_ {
    row.problems
        .iter()
        .filter(|p| p.severity == Severity::Warning)
        .map(|p| format!("warning: {}", describe_problem(p)))
}

/// Run the per-row protocol over `rows` with the real `sync_row`; no new row starts once `api`
/// has lost authentication (see [`execute_bounded`]). Results come back in manifest order.
pub fn execute(
    rows: &[CheckedRow],
    api: &dyn Api,
    sync: &SyncSettings,
    concurrency: usize,
    cancel: &Cancel,
    on_row_done: impl Fn(&RowResult) + Sync,
) -> Result<Vec<RowResult>, rayon::ThreadPoolBuildError> {
    collected(
        rows,
        |rows, on_row_done| {
            execute_inner(
                rows,
                concurrency,
                cancel,
                Some(api),
                None,
                &|shipment: &Shipment| sync_row(api, shipment, sync, false),
                on_row_done,
            )
        },
        &on_row_done,
    )
}

/// The worker pool over rows held in memory, with the row function injected (tests). Invalid
/// rows become INVALID without a request; once `cancel` is set, rows not yet started become
/// SKIPPED (invalid rows stay INVALID: that does not depend on the run). Results come back in
/// manifest order, and every finished row goes through `on_row_done` (journal, progress) as it
/// finishes. Rows in flight when `cancel` is set are waited for without a bound: see
/// [`execute_bounded`].
pub fn execute_with(
    rows: &[CheckedRow],
    concurrency: usize,
    cancel: &Cancel,
    row_fn: impl Fn(&Shipment) -> RowResult + Sync,
    on_row_done: impl Fn(&RowResult) + Sync,
) -> Result<Vec<RowResult>, rayon::ThreadPoolBuildError> {
    collected(
        rows,
        |rows, on_row_done| {
            execute_inner(rows, concurrency, cancel, None, None, &row_fn, on_row_done)
        },
        &on_row_done,
    )
}

/// Run `execute` over a copy of `rows`, keeping every result, in manifest order.
fn collected(
    rows: &[CheckedRow],
    execute: impl FnOnce(
        std::iter::Cloned<std::slice::Iter<'_, CheckedRow>>,
        &(dyn Fn(&RowResult) + Sync),
    ) -> Result<(), rayon::ThreadPoolBuildError>,
    on_row_done: &(impl Fn(&RowResult) + Sync),
) -> Result<Vec<RowResult>, rayon::ThreadPoolBuildError> {
    let results = Mutex::new(Vec::with_capacity(rows.len()));
    execute(rows.iter().cloned(), &|r: &RowResult| {
        on_row_done(r);
        results
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(r.clone());
    })?;
    let mut results = results.into_inner().unwrap_or_else(|p| p.into_inner());
    results.sort_by_key(|r| r.row);
    Ok(results)
}

/// What a run does with rows still in flight `grace` after the first signal: `abandon` gets
/// those rows, marked SKIPPED ([`IN_FLIGHT_MESSAGE`]), in manifest order, and must end the
/// process: write the outputs (the rows that finished are in the journal; the rows not started
/// are SKIPPED, and the invalid ones INVALID, as always), then exit. It never returns, so the
/// workers may still be using what they borrowed.
pub struct Bound<'a> {
    pub grace: Duration,
    pub abandon: Box<dyn FnOnce(Vec<RowResult>) -> Infallible + 'a>,
}

/// The worker pool over `rows`, taken one at a time in manifest order as workers are free (the
/// rows may come from disk: only the rows in flight are in memory). Invalid rows become INVALID
/// without a request; once `cancel` is set, rows not yet started become SKIPPED. Every finished
/// row goes through `on_row_done` (journal, progress) as it finishes; nothing else keeps it.
///
/// A signal is followed by a bounded wait: the per-row protocol cannot see the cancel flag, so a
/// row that is deep in retries and backoff could otherwise hold the run for minutes after
/// SIGTERM. After `bound.grace`, the rows still in flight are given up on, no further row reaches
/// `on_row_done`, and `bound.abandon` ends the process.
///
/// Before starting each row, a worker asks `api` whether authentication is lost for good
/// ([`Api::auth_lost`]); if so it stops the run through `cancel`, exactly like a signal but with
/// exit code 3: every row that `row_fn` would send with is then SKIPPED, saying why, instead of
/// each failing on its own requests.
pub fn execute_bounded(
    rows: impl ExactSizeIterator<Item = CheckedRow> + Send,
    concurrency: usize,
    cancel: &Cancel,
    api: &dyn Api,
    bound: Bound<'_>,
    row_fn: impl Fn(&Shipment) -> RowResult + Sync,
    on_row_done: impl Fn(&RowResult) + Sync,
) -> Result<(), rayon::ThreadPoolBuildError> {
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

/// What the workers share, under one lock: how many rows finished, and the rows in flight (as
/// they would be written if given up on).
#[derive(Default)]
struct Progress {
    finished: usize,
    /// Workers still taking rows.
    working: usize,
    in_flight: std::collections::BTreeMap<usize, RowResult>,
}

fn execute_inner(
    rows: impl ExactSizeIterator<Item = CheckedRow> + Send,
    concurrency: usize,
    cancel: &Cancel,
    api: Option<&dyn Api>,
    bound: Option<Bound<'_>>,
    row_fn: &(impl Fn(&Shipment) -> RowResult + Sync),
    on_row_done: &(impl Fn(&RowResult) + Sync + ?Sized),
) -> Result<(), rayon::ThreadPoolBuildError> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(Slots::threads(concurrency))
        .thread_name(|i| format!("worker-{i}"))
        .build()?;
    let total = rows.len();
    let threads = Slots::threads(concurrency).min(total.max(1));
    let shared = Shared {
        // The next row to take. Taking a row and deciding whether it starts happen under this
        // one lock: the stop flags only ever turn on, so once a row is left SKIPPED every later
        // row is too, and the SKIPPED rows are exactly the tail even with many workers.
        next: Mutex::new(rows),
        total,
        // Rows finished and in flight, under a lock with a condvar, so the waiting thread wakes
        // as rows finish.
        progress: Mutex::new(Progress {
            working: threads,
            ..Progress::default()
        }),
        row_finished: Condvar::new(),
        abandoned: AtomicBool::new(false),
        // At most `concurrency` rows talk to the gateway at once; a row that waits lends its slot.
        workers: Slots::new(concurrency),
        cancel,
        api,
        row_fn,
        on_row_done,
    };
    pool.in_place_scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|_| shared.work());
        }
        let Some(bound) = bound else { return };
        // This thread only watches: it wakes when a row finishes, and polls for the signal.
        if let Some(p) = shared.wait_out(bound.grace) {
            match shared.give_up(p, bound) {}
        }
    });
    Ok(())
}

/// What the workers and the watching thread share.
struct Shared<'a, I, F, D: ?Sized> {
    next: Mutex<I>,
    total: usize,
    progress: Mutex<Progress>,
    row_finished: Condvar,
    /// Set when the run gives up on the rows in flight: a row finishing after is not journaled.
    abandoned: AtomicBool,
    workers: Arc<Slots>,
    cancel: &'a Cancel,
    api: Option<&'a dyn Api>,
    row_fn: &'a F,
    on_row_done: &'a D,
}

impl<I, F, D> Shared<'_, I, F, D>
where
    I: Iterator<Item = CheckedRow> + Send,
    F: Fn(&Shipment) -> RowResult + Sync,
    D: Fn(&RowResult) + Sync + ?Sized,
{
    /// One worker: takes rows one at a time until there are none left.
    fn work(&self) {
        self.workers.lend_while_waiting(self.cancel.halt());
        loop {
            self.workers.acquire();
            let (row, start) = self.take();
            let Some(row) = row else {
                self.stop_working();
                break;
            };
            self.process(row, start);
        }
    }

    /// The next row, and whether it starts (the run is not stopped).
    fn take(&self) -> (Option<CheckedRow>, bool) {
        let mut rows = self.next.lock().unwrap_or_else(|p| p.into_inner());
        let row = rows.next();
        if let Some(why) = self.api.and_then(|api| api.auth_lost()) {
            self.cancel.auth_lost(why);
        }
        (row, !self.cancel.is_set())
    }

    /// No row is left for this worker.
    fn stop_working(&self) {
        self.workers.release();
        crate::sync::set_thread_wait(None);
        let mut p = self.progress.lock().unwrap_or_else(|p| p.into_inner());
        p.working -= 1;
        drop(p);
        self.row_finished.notify_all();
    }

    /// Run one row and hand it on as finished; its slot is given back after.
    fn process(&self, row: CheckedRow, start: bool) {
        let span = crate::logging::row_span(row.row, &row.fields.nomor_aju);
        let began = Instant::now();
        let result = span
            .in_scope(|| self.outcome(&row, start))
            .with_warnings(&row);
        // Checking `abandoned`, journaling the row and taking it out of the rows in flight
        // happen under the `progress` lock, which the watcher holds when it gives up: a row
        // is then either finished in the journal and in the outputs, or in neither (given
        // up on), however slow the journal's fsync is. The slot is given back only after:
        // the next row starts once this one is journaled, so a journal that fails stops the
        // run before anything more is sent.
        let mut p = self.progress.lock().unwrap_or_else(|p| p.into_inner());
        if self.abandoned.load(Ordering::SeqCst) {
            // The outputs are being written without this row: keep the journal equal to them.
            self.workers.release();
            return;
        }
        p.finished += 1;
        span.record("status", result.status.as_str());
        span.record("action", result.action.as_str());
        span.record("duration_ms", began.elapsed().as_millis() as u64);
        span.in_scope(|| progress_line(p.finished, self.total, &result));
        (self.on_row_done)(&result);
        p.in_flight.remove(&result.row);
        drop(p);
        self.workers.release();
        self.row_finished.notify_all();
    }

    /// How a row ends: INVALID, SKIPPED when it does not start, or the protocol's answer (in
    /// flight meanwhile).
    fn outcome(&self, row: &CheckedRow, start: bool) -> RowResult {
        match &row.shipment {
            None => RowResult::invalid(row),
            Some(_) if !start => self.cancel.not_started(row),
            Some(shipment) => {
                let given_up = RowResult {
                    message: IN_FLIGHT_MESSAGE.into(),
                    ..RowResult::skipped(row)
                }
                .with_warnings(row);
                self.progress
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .in_flight
                    .insert(row.row, given_up);
                run_one(row, shipment, self.row_fn)
            }
        }
    }

    /// Wait until every worker is done (`None`), or until `grace` after the signal is over (the
    /// `progress` lock, held).
    fn wait_out(&self, grace: Duration) -> Option<MutexGuard<'_, Progress>> {
        let mut signalled_at: Option<Instant> = None;
        let mut p = self.progress.lock().unwrap_or_else(|p| p.into_inner());
        while p.working > 0 {
            if signalled_at.is_none() && self.cancel.is_set() {
                signalled_at = Some(Instant::now());
            }
            if signalled_at.is_some_and(|t| t.elapsed() >= grace) {
                return Some(p);
            }
            p = self
                .row_finished
                .wait_timeout(p, Duration::from_millis(100))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        None
    }

    /// Give up on the rows in flight: `bound.abandon` gets them, and never returns.
    fn give_up(&self, mut p: MutexGuard<'_, Progress>, bound: Bound<'_>) -> Infallible {
        self.abandoned.store(true, Ordering::SeqCst);
        let in_flight: Vec<RowResult> = std::mem::take(&mut p.in_flight).into_values().collect();
        drop(p);
        tracing::warn!(
            "rows still in flight {:?} after the run was stopped: giving up on them",
            bound.grace
        );
        (bound.abandon)(in_flight)
    }
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
fn progress_line(n: usize, total: usize, r: &RowResult) {
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
