//! The worker pool: order, invalid rows, interruptions, the bounded wait, lost authentication.

use super::*;
use crate::api::{ApiError, ServerPhoto, ServerRecord, UploadAnswer, UploadOk};
use crate::exit::Exit;
use crate::model::{DocMeta, LocalImage, RowFields};
use crate::validate::{Problem, Severity};
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
            rows.into_iter(),
            1,
            &cancel,
            &LosingApi::new(usize::MAX),
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
    // The abandon hook gets the rows in flight; the finished ones are in the journal, and the
    // rest (4 invalid, 5 not started) were never taken.
    let in_flight = snapshot.into_inner().unwrap().expect("abandon was called");
    let got: Vec<_> = in_flight.iter().map(|r| (r.row, r.status)).collect();
    assert_eq!(got, [(3, RowStatus::Skipped)]);
    assert_eq!(in_flight[0].message, IN_FLIGHT_MESSAGE);
    assert_eq!(in_flight[0].images.len(), 1, "with its photos");
    assert_eq!(
        journaled.into_inner().unwrap(),
        [2],
        "nothing reaches the journal after the run gave up"
    );
}

#[test]
fn a_bounded_run_without_signal_waits_for_every_row() {
    let rows: Vec<CheckedRow> = (2..30).map(valid).collect();
    let out = Mutex::new(Vec::new());
    execute_bounded(
        rows.into_iter(),
        3,
        &Cancel::new(),
        &LosingApi::new(usize::MAX),
        Bound {
            grace: Duration::ZERO,
            abandon: Box::new(|_| panic!("no signal, no abandon")),
        },
        matched,
        |r| out.lock().unwrap().push(r.row),
    )
    .unwrap();
    let mut out = out.into_inner().unwrap();
    out.sort();
    assert_eq!(out, (2..30).collect::<Vec<_>>(), "every row, once");
}

/// An API that answers every request well and counts them, and whose authentication is lost once
/// `lose_after` kirims were sent (as when the token runs out and the new login is refused).
struct LosingApi {
    lose_after: usize,
    kirims: Mutex<Vec<String>>,
    gets: Mutex<Vec<String>>,
}

impl LosingApi {
    fn new(lose_after: usize) -> LosingApi {
        LosingApi {
            lose_after,
            kirims: Mutex::new(Vec::new()),
            gets: Mutex::new(Vec::new()),
        }
    }
}

impl Api for LosingApi {
    fn kirim(&self, meta: &DocMeta, images: &[LocalImage]) -> Result<UploadAnswer, ApiError> {
        self.kirims.lock().unwrap().push(meta.nomor_aju.clone());
        Ok(UploadAnswer::Stored(UploadOk {
            npwp_pemberitahu: None,
            jumlah_foto_terupload: Some(images.len() as u64),
            message: "ok".into(),
            sent_sha256: Default::default(),
        }))
    }

    fn add(&self, _: &DocMeta, _: &[LocalImage]) -> Result<UploadAnswer, ApiError> {
        panic!("one photo per row: no add")
    }

    fn get(&self, nomor_aju: &str) -> Result<Option<ServerRecord>, ApiError> {
        self.gets.lock().unwrap().push(nomor_aju.to_string());
        Ok(Some(ServerRecord {
            npwp_pemberitahu: None,
            total_foto_terupload: Some(1),
            detail: vec![ServerPhoto {
                nama_file: "a.png".into(),
                waktu_rekam: None,
            }],
            ..ServerRecord::default()
        }))
    }

    fn auth_lost(&self) -> Option<String> {
        (self.kirims.lock().unwrap().len() >= self.lose_after)
            .then(|| "a new login was refused: login answered HTTP 401: revoked".to_string())
    }
}

fn sync_settings() -> SyncSettings {
    SyncSettings {
        max_images_per_request: 10,
        max_request_bytes: 1 << 20,
        retries: 0,
        backoff_base: Duration::from_millis(1),
        backoff_cap: Duration::from_millis(1),
        settle: Duration::ZERO,
        settle_checks: 3,
        idle: Default::default(),
    }
}

const LOST: &str = "not started: authentication was lost: a new login was refused: login answered HTTP 401: revoked";

#[test]
fn lost_authentication_skips_every_row_not_started_and_sends_nothing_for_them() {
    // Row 5 is invalid: it stays INVALID whatever happens to the run.
    let rows: Vec<CheckedRow> = (2..14)
        .map(|r| if r == 5 { invalid(r) } else { valid(r) })
        .collect();
    let api = LosingApi::new(3);
    let cancel = Cancel::new();
    let journaled = Mutex::new(Vec::new());
    // One worker: rows 2, 3 and 4 are sent; before row 6 starts, the client says it is lost.
    let out = execute(&rows, &api, &sync_settings(), 1, &cancel, |r| {
        journaled.lock().unwrap().push((r.row, r.status))
    })
    .unwrap();
    let got: Vec<_> = out.iter().map(|r| (r.row, r.status)).collect();
    let mut expected = vec![
        (2, RowStatus::Match),
        (3, RowStatus::Match),
        (4, RowStatus::Match),
        (5, RowStatus::Invalid),
    ];
    expected.extend((6..14).map(|r| (r, RowStatus::Skipped)));
    assert_eq!(got, expected);
    for r in out.iter().filter(|r| r.status == RowStatus::Skipped) {
        assert_eq!(r.message, LOST, "row {}", r.row);
        assert_eq!((r.requests, r.attempts, r.uploaded), (0, 0, 0));
        assert!(r.images.iter().all(|i| i.sent_in == SentIn::None));
    }
    assert_eq!(*api.kirims.lock().unwrap(), ["AJU2", "AJU3", "AJU4"]);
    assert_eq!(
        *api.gets.lock().unwrap(),
        ["AJU2", "AJU3", "AJU4"],
        "no request at all for the rows not started"
    );
    assert_eq!(cancel.exit(), Some(Exit::Unreachable));
    assert_eq!(
        cancel.cause().unwrap(),
        "authentication was lost: a new login was refused: login answered HTTP 401: revoked"
    );
    // SKIPPED rows reach the journal too, so that `--resume` processes them again.
    let mut journaled = journaled.into_inner().unwrap();
    journaled.sort();
    assert_eq!(journaled, expected);
}

#[test]
fn with_many_workers_only_rows_already_started_go_on() {
    let rows: Vec<CheckedRow> = (2..60).map(valid).collect();
    let api = LosingApi::new(5);
    let cancel = Cancel::new();
    let out = Mutex::new(Vec::new());
    execute_bounded(
        rows.into_iter(),
        4,
        &cancel,
        &api,
        Bound {
            grace: Duration::from_secs(600),
            abandon: Box::new(|_| panic!("rows in flight finish quickly")),
        },
        |s| sync_row(&api, s, &sync_settings(), false),
        |r| out.lock().unwrap().push(r.clone()),
    )
    .unwrap();
    let mut out = out.into_inner().unwrap();
    out.sort_by_key(|r| r.row);
    assert_eq!(out.len(), 58, "every row is reported");
    let started = out
        .iter()
        .take_while(|r| r.status != RowStatus::Skipped)
        .count();
    // The 5th kirim loses it; at that moment at most 3 other workers have passed the check
    // without having sent yet. Rows are taken in order, so the SKIPPED ones are the tail.
    assert!((5..=8).contains(&started), "{started} rows started");
    assert!(out[..started].iter().all(|r| r.status == RowStatus::Match));
    assert!(out[started..].iter().all(|r| r.message == LOST));
    let mut kirims = api.kirims.into_inner().unwrap();
    kirims.sort_by_key(|aju| aju[3..].parse::<usize>().unwrap());
    let expected: Vec<String> = (2..2 + started).map(|r| format!("AJU{r}")).collect();
    assert_eq!(kirims, expected, "exactly the started rows were sent");
    assert_eq!(cancel.exit(), Some(Exit::Unreachable));
}

#[test]
fn the_first_reason_to_stop_decides_the_exit_code_and_the_message() {
    let row = valid(2);
    let signal_first = Cancel::new();
    signal_first.request(SIGINT);
    signal_first.auth_lost("gone".into());
    assert_eq!(signal_first.exit(), Some(Exit::Interrupted));
    assert_eq!(signal_first.cause().unwrap(), "interrupted");
    assert_eq!(
        signal_first.not_started(&row).message,
        "run interrupted before this row started"
    );

    let lost_first = Cancel::new();
    assert_eq!(lost_first.cause(), None);
    lost_first.auth_lost("gone".into());
    lost_first.request(SIGTERM);
    assert_eq!(lost_first.exit(), Some(Exit::Unreachable));
    assert_eq!(
        lost_first.not_started(&row).message,
        "not started: authentication was lost: gone"
    );
}

#[test]
fn an_unwritable_run_folder_stops_the_run_with_exit_5_and_halts_every_wait() {
    let rows: Vec<CheckedRow> = (2..8).map(valid).collect();
    let cancel = Cancel::new();
    let halt = cancel.halt();
    // One worker: the journal of row 3 fails, so rows 4.. never start.
    let out = execute_with(&rows, 1, &cancel, matched, |r| {
        if r.row == 3 {
            assert!(cancel.output_lost("journal.jsonl: No space left on device".into()));
        }
    })
    .unwrap();
    let statuses: Vec<_> = out.iter().map(|r| r.status).collect();
    assert_eq!(&statuses[..2], [RowStatus::Match; 2]);
    assert!(statuses[2..].iter().all(|s| *s == RowStatus::Skipped));
    assert_eq!(
        out[2].message,
        "not started: the run folder cannot be written: journal.jsonl: No space left on device"
    );
    assert_eq!(cancel.exit(), Some(Exit::RunFolder));
    assert!(
        cancel
            .cause()
            .unwrap()
            .starts_with("the run folder cannot be written")
    );
    // Reported once; the waits of the run end at once from now on.
    assert!(!cancel.output_lost("again".into()));
    assert!(halt.is_set());
    assert!(halt.sleep(Duration::from_secs(600)));

    // A signal halts the waits too; losing authentication does not (rows in flight fail alone).
    let lost = Cancel::new();
    lost.auth_lost("gone".into());
    assert!(!lost.halt().is_set());
    lost.request(SIGTERM);
    assert!(lost.halt().is_set());
    assert_eq!(lost.exit(), Some(Exit::Unreachable));
}

/// A row that finishes just as the watcher gives up must end up either in the journal and the
/// outputs as finished, or in neither: the journal and the outputs written by `abandon` agree.
/// Row 2 finishes while row 3 is still in flight, and its journal write is slow (as an fsync can
/// be): the watcher must not give up on row 2 in the middle of it.
#[test]
fn a_row_finishing_while_the_run_gives_up_is_journaled_only_if_the_outputs_have_it() {
    use std::sync::atomic::AtomicBool;
    let rows = vec![valid(2), valid(3)].into_iter();
    let cancel = Cancel::new();
    let third_started = AtomicBool::new(false);
    let released = AtomicBool::new(false);
    let journaled = Mutex::new(Vec::new());
    let snapshot = Mutex::new(None);
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        execute_bounded(
            rows,
            2,
            &cancel,
            &LosingApi::new(usize::MAX),
            Bound {
                grace: Duration::ZERO,
                abandon: Box::new(|partial| {
                    *snapshot.lock().unwrap() = Some(partial);
                    released.store(true, Ordering::SeqCst);
                    panic!("abandoned")
                }),
            },
            |s| {
                if s.row == 3 {
                    third_started.store(true, Ordering::SeqCst);
                    while !released.load(Ordering::SeqCst) {
                        std::thread::yield_now();
                    }
                } else {
                    while !third_started.load(Ordering::SeqCst) {
                        std::thread::yield_now();
                    }
                    cancel.request(SIGTERM);
                }
                matched(s)
            },
            |r| {
                // Give the watcher every chance to give up meanwhile (bounded, so that a
                // watcher that rightly waits for this write lets the run go on).
                let start = std::time::Instant::now();
                while r.row == 2
                    && !released.load(Ordering::SeqCst)
                    && start.elapsed() < Duration::from_secs(1)
                {
                    std::thread::yield_now();
                }
                journaled.lock().unwrap().push((r.row, r.status));
            },
        )
    }));
    assert!(outcome.is_err(), "abandon ends the run");
    let in_flight = snapshot.into_inner().unwrap().expect("abandon was called");
    let journaled = journaled.into_inner().unwrap();
    assert_eq!(journaled, [(2, RowStatus::Match)]);
    let given_up: Vec<usize> = in_flight.iter().map(|r| r.row).collect();
    assert_eq!(
        given_up,
        [3],
        "row 2 is in the journal, so the outputs show it finished, not given up on"
    );
    assert_eq!(in_flight[0].message, IN_FLIGHT_MESSAGE);
}

/// Rows are taken from their source one at a time, as workers are free: however many rows the
/// run has, no more of them are out of the source at once than the threads can carry. (The
/// source of a run reads the validated rows from disk.)
#[test]
fn rows_are_taken_from_their_source_only_as_workers_are_free() {
    use std::sync::atomic::AtomicUsize;
    let taken = AtomicUsize::new(0);
    let finished = AtomicUsize::new(0);
    let most = AtomicUsize::new(0);
    let rows = (2..402).map(|row| {
        let out = taken.fetch_add(1, Ordering::SeqCst) + 1 - finished.load(Ordering::SeqCst);
        most.fetch_max(out, Ordering::SeqCst);
        valid(row)
    });
    execute_bounded(
        rows,
        2,
        &Cancel::new(),
        &LosingApi::new(usize::MAX),
        Bound {
            grace: Duration::from_secs(600),
            abandon: Box::new(|_| panic!("no signal, no abandon")),
        },
        matched,
        |_| {
            finished.fetch_add(1, Ordering::SeqCst);
        },
    )
    .unwrap();
    assert_eq!(finished.into_inner(), 400);
    let most = most.into_inner();
    assert!(
        most <= Slots::threads(2),
        "{most} rows out of the source at once, for {} threads",
        Slots::threads(2)
    );
}

fn warned(mut row: CheckedRow) -> CheckedRow {
    row.problems.push(Problem {
        row: row.row,
        column: Some("kodeKantor"),
        value: "40300".into(),
        message: "was padded".into(),
        severity: Severity::Warning,
    });
    row
}

#[test]
fn a_valid_rows_warnings_follow_its_result_whatever_its_status() {
    let rows = vec![warned(valid(2)), valid(3), warned(invalid(4))];
    let out = execute_with(&rows, 2, &Cancel::new(), matched, |_| {}).unwrap();
    let note = "warning: column kodeKantor: \"40300\" was padded";
    assert_eq!(out[0].status, RowStatus::Match);
    assert_eq!(out[0].message, note);
    assert_eq!(out[1].message, "");
    // An invalid row lists it once, after its errors.
    assert_eq!(out[2].status, RowStatus::Invalid);
    assert_eq!(out[2].message.matches(note).count(), 1);
    assert!(out[2].message.ends_with(note), "{}", out[2].message);
    // SKIPPED rows keep it too, after the reason.
    let cancel = Cancel::new();
    cancel.request(SIGTERM);
    let out = execute_with(&rows[..1], 1, &cancel, matched, |_| {}).unwrap();
    assert_eq!(out[0].status, RowStatus::Skipped);
    assert!(
        out[0].message.ends_with(&format!("started; {note}")),
        "{}",
        out[0].message
    );
}
