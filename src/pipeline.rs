//! Workers, cancellation and progress: runs the per-row protocol over every valid row on
//! `concurrency` threads. The rate limit itself lives in the API client (`api::pacer`), so every
//! request of every worker goes through the same limiter.
//!
//! Workers take rows from one shared counter in manifest order (rather than rayon's splitting of
//! the slice), so that when a run is interrupted the rows left SKIPPED are the tail of the
//! manifest, not holes scattered through it.

use std::convert::Infallible;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::api::Api;
use crate::exit::Exit;
use crate::model::{ImageResult, RowResult, RowStatus, SentIn, Shipment};
use crate::sync::{SyncSettings, sync_row};
use crate::validate::{CheckedRow, Severity, describe_problem};

/// Set by the first SIGINT/SIGTERM: start no new row. Remembers which signal it was.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicI32>);

pub const SIGINT: i32 = 2;
pub const SIGTERM: i32 = 15;

impl Cancel {
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Ask the run to stop, as if `signal` had arrived.
    pub fn request(&self, signal: i32) {
        let _ = self
            .0
            .compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst);
    }

    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst) != 0
    }

    /// The exit code the interruption calls for: 143 for SIGTERM, 130 for anything else.
    pub fn exit(&self) -> Option<Exit> {
        match self.0.load(Ordering::SeqCst) {
            0 => None,
            SIGTERM => Some(Exit::Terminated),
            _ => Some(Exit::Interrupted),
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
                for signal in signals.forever() {
                    if cancel.is_set() {
                        eprintln!("kirim-xray: second signal, stopping now");
                        let code = if signal == TERM { 143 } else { 130 };
                        std::process::exit(code);
                    }
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

/// Run the per-row protocol over `rows` with the real `sync_row`.
pub fn execute(
    rows: &[CheckedRow],
    api: &dyn Api,
    sync: &SyncSettings,
    concurrency: usize,
    cancel: &Cancel,
    on_row_done: impl Fn(&RowResult) + Sync,
) -> Result<Vec<RowResult>, rayon::ThreadPoolBuildError> {
    execute_with(
        rows,
        concurrency,
        cancel,
        |shipment| sync_row(api, shipment, sync, false),
        on_row_done,
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
    execute_inner(rows, concurrency, cancel, None, &row_fn, &on_row_done)
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
pub fn execute_bounded(
    rows: &[CheckedRow],
    concurrency: usize,
    cancel: &Cancel,
    bound: Bound<'_>,
    row_fn: impl Fn(&Shipment) -> RowResult + Sync,
    on_row_done: impl Fn(&RowResult) + Sync,
) -> Result<Vec<RowResult>, rayon::ThreadPoolBuildError> {
    execute_inner(
        rows,
        concurrency,
        cancel,
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
    bound: Option<Bound<'_>>,
    row_fn: &(impl Fn(&Shipment) -> RowResult + Sync),
    on_row_done: &(impl Fn(&RowResult) + Sync),
) -> Result<Vec<RowResult>, rayon::ThreadPoolBuildError> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(concurrency.max(1))
        .thread_name(|i| format!("worker-{i}"))
        .build()?;
    let next = AtomicUsize::new(0);
    // Rows finished, under a lock with a condvar, so the waiting thread wakes as rows finish.
    let done = Mutex::new(0usize);
    let row_finished = Condvar::new();
    let abandoned = AtomicBool::new(false);
    let slots: Vec<Mutex<Option<RowResult>>> = rows.iter().map(|_| Mutex::new(None)).collect();
    let total = rows.len();
    let work = || {
        loop {
            let i = next.fetch_add(1, Ordering::SeqCst);
            let Some(row) = rows.get(i) else { break };
            let result = match &row.shipment {
                None => RowResult::invalid(row),
                Some(_) if cancel.is_set() => RowResult::skipped(row),
                Some(shipment) => run_one(row, shipment, row_fn),
            };
            if abandoned.load(Ordering::SeqCst) {
                // The outputs are being written without this row: keep the journal equal to them.
                continue;
            }
            let n = {
                let mut d = done.lock().unwrap_or_else(|p| p.into_inner());
                *d += 1;
                *d
            };
            progress(n, total, &result);
            on_row_done(&result);
            *slots[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(result);
            row_finished.notify_all();
        }
    };
    pool.in_place_scope(|scope| {
        for _ in 0..concurrency.max(1).min(total.max(1)) {
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
                let started = next.load(Ordering::SeqCst);
                let snapshot = snapshot(rows, &slots, started);
                tracing::warn!(
                    "rows still in flight {:?} after a signal: giving up on them",
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
                .unwrap_or_else(|| RowResult::skipped(row))
        })
        .collect())
}

/// The results as they stand: rows taken by a worker but not finished are in flight.
fn snapshot(
    rows: &[CheckedRow],
    slots: &[Mutex<Option<RowResult>>],
    started: usize,
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
                None => RowResult::skipped(row),
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

fn progress(n: usize, total: usize, r: &RowResult) {
    let on_server = r.server_count.map_or("-".to_string(), |c| c.to_string());
    let tail = match r.status {
        RowStatus::Match => String::new(),
        _ if r.message.is_empty() => String::new(),
        _ => format!(": {}", r.message),
    };
    tracing::info!(
        "[{n}/{total}] row {} {} {on_server}/{} photos{tail}",
        r.row,
        r.status,
        r.local_count
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DocMeta, LocalImage, RowFields};
    use crate::validate::Problem;
    use std::path::PathBuf;

    fn valid(row: usize) -> CheckedRow {
        let meta = DocMeta {
            nomor_aju: format!("AJU{row}"),
            nomor_bl_awb: format!("BL{row}"),
            tanggal_bl_awb: "2025-01-02".into(),
            kode_kantor: "040300".into(),
        };
        let image = LocalImage {
            name: "a.png".into(),
            path: PathBuf::from("a.png"),
            bytes: 3,
            sha256: "abc".into(),
            content_type: "image/png",
        };
        CheckedRow {
            row,
            fields: RowFields {
                nomor_aju: meta.nomor_aju.clone(),
                ..RowFields::default()
            },
            problems: vec![],
            shipment: Some(Shipment {
                row,
                meta,
                folder: "f".into(),
                images: vec![image],
            }),
        }
    }

    fn invalid(row: usize) -> CheckedRow {
        let problem = |column, value: &str, message: &str| Problem {
            row,
            column: Some(column),
            value: value.into(),
            message: message.into(),
            severity: Severity::Error,
        };
        CheckedRow {
            row,
            fields: RowFields::default(),
            problems: vec![
                problem("kodeKantor", "12", "is not 6 digits"),
                problem("folder", "x", "does not exist"),
            ],
            shipment: None,
        }
    }

    fn matched(s: &Shipment) -> RowResult {
        let mut r = RowResult::skipped(&valid(s.row));
        r.status = RowStatus::Match;
        r.action = "kirim".into();
        r.message = String::new();
        r
    }

    #[test]
    fn results_are_in_manifest_order_and_invalid_rows_send_nothing() {
        let rows: Vec<CheckedRow> = (2..40)
            .map(|r| if r % 5 == 0 { invalid(r) } else { valid(r) })
            .collect();
        let calls = Mutex::new(Vec::new());
        let seen = Mutex::new(Vec::new());
        let out = execute_with(
            &rows,
            4,
            &Cancel::new(),
            |s| {
                calls.lock().unwrap().push(s.row);
                matched(s)
            },
            |r| seen.lock().unwrap().push(r.row),
        )
        .unwrap();
        assert_eq!(
            out.iter().map(|r| r.row).collect::<Vec<_>>(),
            (2..40).collect::<Vec<_>>()
        );
        for r in &out {
            let expected = if r.row % 5 == 0 {
                RowStatus::Invalid
            } else {
                RowStatus::Match
            };
            assert_eq!(r.status, expected, "row {}", r.row);
        }
        let mut calls = calls.into_inner().unwrap();
        calls.sort();
        assert!(
            calls.iter().all(|r| r % 5 != 0),
            "no call for an invalid row"
        );
        assert_eq!(calls.len(), 38 - 7);
        let mut seen = seen.into_inner().unwrap();
        seen.sort();
        assert_eq!(seen, (2..40).collect::<Vec<_>>(), "every row reported once");
        let inv = &out[3];
        assert_eq!(inv.row, 5);
        assert_eq!(
            inv.message,
            "column kodeKantor: \"12\" is not 6 digits; column folder: \"x\" does not exist"
        );
        assert_eq!(inv.action, "-");
    }

    #[test]
    fn a_preset_cancel_skips_every_valid_row() {
        let rows = vec![valid(2), invalid(3), valid(4)];
        let cancel = Cancel::new();
        cancel.request(SIGTERM);
        let out = execute_with(&rows, 2, &cancel, |_| panic!("no row may start"), |_| {}).unwrap();
        let statuses: Vec<_> = out.iter().map(|r| r.status).collect();
        assert_eq!(
            statuses,
            [RowStatus::Skipped, RowStatus::Invalid, RowStatus::Skipped]
        );
        assert_eq!(
            out[0].images.len(),
            1,
            "skipped rows still list their photos"
        );
        assert_eq!(out[0].images[0].sent_in, SentIn::None);
        assert_eq!(cancel.exit(), Some(Exit::Terminated));
    }

    #[test]
    fn cancel_mid_run_leaves_the_tail_skipped() {
        let rows: Vec<CheckedRow> = (2..12).map(valid).collect();
        let cancel = Cancel::new();
        // One worker: the row function of row 4 interrupts the run, so rows 5.. never start.
        let out = execute_with(
            &rows,
            1,
            &cancel,
            |s| {
                if s.row == 4 {
                    cancel.request(SIGINT);
                }
                matched(s)
            },
            |_| {},
        )
        .unwrap();
        let statuses: Vec<_> = out.iter().map(|r| r.status).collect();
        assert_eq!(&statuses[..3], [RowStatus::Match; 3]);
        assert!(statuses[3..].iter().all(|s| *s == RowStatus::Skipped));
        assert_eq!(cancel.exit(), Some(Exit::Interrupted));
    }

    #[test]
    fn a_panicking_row_fails_alone() {
        let rows = vec![valid(2), valid(3)];
        let out = execute_with(
            &rows,
            2,
            &Cancel::new(),
            |s| {
                if s.row == 2 {
                    panic!("boom")
                } else {
                    matched(s)
                }
            },
            |_| {},
        )
        .unwrap();
        assert_eq!(out[0].status, RowStatus::Failed);
        assert_eq!(out[0].message, "internal error: boom");
        assert_eq!(out[1].status, RowStatus::Match);
    }

    #[test]
    fn rows_in_flight_past_the_grace_are_given_up_and_skipped() {
        use std::sync::atomic::AtomicBool;
        let rows = vec![valid(2), valid(3), invalid(4), valid(5)];
        let cancel = Cancel::new();
        let release = AtomicBool::new(false);
        let journaled = Mutex::new(Vec::new());
        let snapshot = Mutex::new(None);
        // One worker: row 2 finishes, row 3 signals and then hangs until the abandon hook lets it
        // go. A zero grace makes the watcher give up as soon as it sees the signal.
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            execute_bounded(
                &rows,
                1,
                &cancel,
                Bound {
                    grace: Duration::ZERO,
                    abandon: Box::new(|partial| {
                        *snapshot.lock().unwrap() = Some(partial);
                        release.store(true, Ordering::SeqCst);
                        panic!("abandoned")
                    }),
                },
                |s| {
                    if s.row == 3 {
                        cancel.request(SIGTERM);
                        while !release.load(Ordering::SeqCst) {
                            std::thread::yield_now();
                        }
                    }
                    matched(s)
                },
                |r| journaled.lock().unwrap().push(r.row),
            )
        }));
        assert!(outcome.is_err(), "abandon ends the run");
        let partial = snapshot.into_inner().unwrap().expect("abandon was called");
        let got: Vec<_> = partial.iter().map(|r| (r.row, r.status)).collect();
        assert_eq!(
            got,
            [
                (2, RowStatus::Match),
                (3, RowStatus::Skipped),
                (4, RowStatus::Invalid),
                (5, RowStatus::Skipped)
            ]
        );
        assert_eq!(partial[1].message, IN_FLIGHT_MESSAGE);
        assert_eq!(
            partial[3].message,
            "run interrupted before this row started"
        );
        assert_eq!(
            journaled.into_inner().unwrap(),
            [2],
            "nothing reaches the journal after the run gave up"
        );
    }

    #[test]
    fn a_bounded_run_without_signal_waits_for_every_row() {
        let rows: Vec<CheckedRow> = (2..30).map(valid).collect();
        let out = execute_bounded(
            &rows,
            3,
            &Cancel::new(),
            Bound {
                grace: Duration::ZERO,
                abandon: Box::new(|_| panic!("no signal, no abandon")),
            },
            matched,
            |_| {},
        )
        .unwrap();
        assert!(out.iter().all(|r| r.status == RowStatus::Match));
        assert_eq!(out.len(), 28);
    }
}
