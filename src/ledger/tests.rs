//! The ledger against journals written the way runs write them.

use super::query::{By, Filter};
use super::*;
use crate::model::RowStatus;
use crate::report::journal::tests::sample;

fn row(n: usize, aju: &str, date: &str, status: RowStatus) -> RowResult {
    let mut r = sample(n);
    r.fields.nomor_aju = aju.into();
    r.fields.tanggal_bl_awb = date.into();
    r.status = status;
    r
}

/// A run folder under `out` named for `stamp`, with a summary.json and a journal of `rows`.
pub(crate) fn write_run(out: &Path, stamp: &str, command: &str, rows: &[RowResult]) -> PathBuf {
    let dir = out.join(stamp);
    std::fs::create_dir_all(&dir).unwrap();
    let started = chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%SZ")
        .unwrap()
        .and_utc();
    let summary = serde_json::json!({"command": command, "started_at": started.to_rfc3339()});
    std::fs::write(dir.join(SUMMARY_JSON), summary.to_string()).unwrap();
    let journal = Journal::create(&dir.join(JOURNAL_FILE)).unwrap();
    for r in rows {
        journal.append(r).unwrap();
    }
    dir
}

fn all() -> Filter {
    Filter {
        from: None,
        to: None,
        by: By::Bl,
        statuses: vec![],
        kode_kantor: None,
        aju: None,
    }
}

/// Two nights and a retry: A failed on the 1st and was fixed by the retry, B still fails.
pub(crate) fn month(out: &Path) {
    write_run(
        out,
        "20261101T200000Z",
        "run",
        &[
            row(2, "A", "2026-11-01", RowStatus::Failed),
            row(3, "C", "2026-11-01", RowStatus::Match),
        ],
    );
    write_run(
        out,
        "20261102T200000Z",
        "run",
        &[row(2, "B", "2026-11-02", RowStatus::Failed)],
    );
    write_run(
        out,
        "20261102T210000Z",
        "retry",
        &[
            row(2, "A", "2026-11-01", RowStatus::Match),
            row(3, "B", "2026-11-02", RowStatus::Failed),
        ],
    );
}

#[test]
fn latest_verdicts_with_history_and_a_rebuild_gives_the_same_content() {
    let out = tempfile::tempdir().unwrap();
    month(out.path());
    let conn = open_current(out.path()).unwrap();
    let docs = query::documents(&conn, &all()).unwrap();
    let got: Vec<(&str, &str, usize)> = docs
        .iter()
        .map(|d| (d.nomor_aju.as_str(), d.status(), d.history.len()))
        .collect();
    assert_eq!(
        got,
        [("A", "MATCH", 2), ("C", "MATCH", 1), ("B", "FAILED", 2)]
    );
    let a = &docs[0];
    assert_eq!(a.history[0].run, "20261101T200000Z");
    assert_eq!(a.history[0].status, "FAILED");
    assert_eq!(a.history[1].command, "retry");
    assert_eq!(a.history[1].photos[0].sha256, "ab");
    assert_eq!(
        a.history[1].photos[0].waktu_rekam.as_deref(),
        Some("2025-01-02 10:00:00")
    );

    let mut not_match = all();
    not_match.statuses = vec![RowStatus::Failed];
    not_match.from = NaiveDate::from_ymd_opt(2026, 11, 2);
    let docs = query::documents(&conn, &not_match).unwrap();
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].nomor_aju, "B");

    // By run time: only the retry's day touched A and B on the 2nd... and B's night.
    let mut by_run = all();
    by_run.by = By::Run;
    by_run.from = NaiveDate::from_ymd_opt(2026, 11, 1);
    by_run.to = NaiveDate::from_ymd_opt(2026, 11, 1);
    let names: Vec<String> = query::documents(&conn, &by_run)
        .unwrap()
        .into_iter()
        .map(|d| d.nomor_aju)
        .collect();
    assert_eq!(names, ["A", "C"]);

    let mut office = all();
    office.kode_kantor = Some("040300".into());
    assert_eq!(query::documents(&conn, &office).unwrap().len(), 3);
    office.kode_kantor = Some("009000".into());
    assert!(query::documents(&conn, &office).unwrap().is_empty());

    let before = dump(&conn).unwrap();
    assert!(before.iter().any(|l| l.starts_with("photos|")));
    drop(conn);
    let rebuilt = rebuild(out.path()).unwrap();
    assert_eq!(dump(&rebuilt).unwrap(), before);
}

use chrono::NaiveDate;

#[test]
fn a_missing_or_corrupt_ledger_is_rebuilt_and_a_stale_one_caught_up() {
    let out = tempfile::tempdir().unwrap();
    month(out.path());
    let want = dump(&open_current(out.path()).unwrap()).unwrap();

    std::fs::write(path_in(out.path()), b"garbage, not a database at all......").unwrap();
    assert_eq!(dump(&open_current(out.path()).unwrap()).unwrap(), want);

    std::fs::remove_file(path_in(out.path())).unwrap();
    let (conn, private) = open_for_reading(out.path()).unwrap();
    assert!(private.is_some(), "built aside, not over the shared ledger");
    assert_eq!(dump(&conn).unwrap(), want);
    assert!(!path_in(out.path()).exists());
    assert_eq!(dump(&open_current(out.path()).unwrap()).unwrap(), want);

    // A run the ledger never heard of (written while the ledger could not be) is read in.
    write_run(
        out.path(),
        "20261103T200000Z",
        "run",
        &[row(2, "D", "2026-11-03", RowStatus::Match)],
    );
    let conn = open_current(out.path()).unwrap();
    let docs = query::documents(&conn, &all()).unwrap();
    assert_eq!(docs.len(), 4);
    drop(conn);
    assert_eq!(
        dump(&open_current(out.path()).unwrap()).unwrap(),
        dump(&rebuild(out.path()).unwrap()).unwrap()
    );
}

#[test]
fn rows_fed_as_they_finish_match_the_journal_read_whole() {
    let out = tempfile::tempdir().unwrap();
    month(out.path());
    drop(open_current(out.path()).unwrap());
    let run = out.path().join("20261104T200000Z");
    std::fs::create_dir(&run).unwrap();
    let mut journal = Journal::create(&run.join(JOURNAL_FILE)).unwrap();
    let feed = std::sync::Arc::new(feed::Feed::start(&run));
    let fed = std::sync::Arc::clone(&feed);
    journal.observe(Box::new(move |r| fed.record(r)));
    journal
        .append(&row(2, "E", "2026-11-04", RowStatus::Failed))
        .unwrap();
    journal
        .append(&row(2, "E", "2026-11-04", RowStatus::Match))
        .unwrap();
    drop(journal);
    std::sync::Arc::try_unwrap(feed).unwrap().finish();
    let conn = open_existing(&path_in(out.path())).unwrap();
    let mut only_e = all();
    only_e.aju = Some("E".into());
    let docs = query::documents(&conn, &only_e).unwrap();
    assert_eq!(docs[0].history.len(), 1, "one row per run and row number");
    assert_eq!(docs[0].status(), "MATCH");
    let fed = dump(&conn).unwrap();
    drop(conn);
    record_run(&run);
    let whole = dump(&open_existing(&path_in(out.path())).unwrap()).unwrap();
    let strip = |v: &[String]| -> Vec<String> {
        v.iter()
            .filter(|l| !l.starts_with("runs|"))
            .cloned()
            .collect()
    };
    assert_eq!(strip(&fed), strip(&whole));
    assert_eq!(whole, dump(&rebuild(out.path()).unwrap()).unwrap());
}

#[test]
fn a_ledger_that_cannot_be_written_costs_a_warning_not_the_run() {
    let out = tempfile::tempdir().unwrap();
    month(out.path());
    // A folder where the ledger file should be: nothing can open or create it.
    std::fs::create_dir(path_in(out.path())).unwrap();
    let run = out.path().join("20261104T200000Z");
    std::fs::create_dir(&run).unwrap();
    let mut journal = Journal::create(&run.join(JOURNAL_FILE)).unwrap();
    let feed = feed::Feed::start(&run);
    journal.observe(Box::new(move |r| feed.record(r)));
    journal
        .append(&row(2, "E", "2026-11-04", RowStatus::Match))
        .unwrap();
    drop(journal);
    record_run(&run);
    assert_eq!(Journal::read(&run.join(JOURNAL_FILE)).unwrap().len(), 1);
    assert!(path_in(out.path()).is_dir());
}
