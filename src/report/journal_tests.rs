//! journal.jsonl: lines written, torn, skipped, indexed and read back where they are.

use super::*;
use crate::model::{ImageResult, RowFields, RowStatus, SentIn};
use chrono::TimeZone;

pub(crate) fn sample(row: usize) -> RowResult {
    let at = chrono::Utc.with_ymd_and_hms(2025, 1, 2, 3, 4, 5).unwrap();
    RowResult {
        row,
        fields: RowFields {
            nomor_aju: format!("AJU{row}"),
            nomor_bl_awb: "BL,1\"x".into(),
            tanggal_bl_awb: "2025-01-02".into(),
            kode_kantor: "040300".into(),
            folder: "photos/a".into(),
        },
        status: RowStatus::Mismatch,
        action: "kirim+add".into(),
        local_count: 2,
        uploaded: 2,
        server_count: Some(1),
        missing_on_server: vec!["b.png".into()],
        extra_on_server: vec![],
        npwp_pemberitahu: Some("0123".into()),
        attempts: 2,
        requests: 3,
        message: "line\nbreak".into(),
        started_at: Some(at),
        finished_at: Some(at),
        images: vec![ImageResult {
            file: "a.png".into(),
            bytes: 10,
            sha256: "ab".into(),
            content_type: "image/png".into(),
            sent_in: SentIn::Kirim,
            sent_at: Some(at),
            on_server: Some(true),
            server_waktu_rekam: Some("2025-01-02 10:00:00".into()),
        }],
    }
}

#[test]
fn round_trip_and_torn_last_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(JOURNAL_FILE);
    let journal = Journal::create(&path).unwrap();
    journal.append(&sample(2)).unwrap();
    journal.append(&sample(3)).unwrap();
    assert_eq!(Journal::read(&path).unwrap(), vec![sample(2), sample(3)]);
    assert!(Journal::create(&path).is_err(), "never reuses a journal");

    // A crash mid-write: half a line at the end.
    let whole = serde_json::to_string(&sample(4)).unwrap();
    let mut f = OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(&whole.as_bytes()[..whole.len() / 2]).unwrap();
    assert_eq!(Journal::read(&path).unwrap(), vec![sample(2), sample(3)]);

    // Resume cuts the torn piece off before appending.
    let j = Journal::open_append(&path).unwrap();
    j.append(&sample(5)).unwrap();
    assert_eq!(
        Journal::read(&path).unwrap(),
        vec![sample(2), sample(3), sample(5)]
    );

    // A kill in the middle of a multi-byte character (names and messages are UTF-8): the
    // torn line is not even valid UTF-8, and must still be dropped, not fail the read.
    let mut accented = sample(7);
    accented.message = "berkas é".into();
    let whole = serde_json::to_vec(&accented).unwrap();
    let cut = whole.iter().position(|b| *b >= 0x80).unwrap() + 1;
    let mut f = OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(&whole[..cut]).unwrap();
    assert_eq!(
        Journal::read(&path).unwrap(),
        vec![sample(2), sample(3), sample(5)]
    );
    let j = Journal::open_append(&path).unwrap();

    // A bad line that is not the last one (a disk that filled up mid-line, then had space
    // again) is skipped and named; the lines around it still count.
    let mut f = OpenOptions::new().append(true).open(&path).unwrap();
    let torn = serde_json::to_vec(&sample(8)).unwrap();
    f.write_all(&torn[..torn.len() / 3]).unwrap();
    f.write_all(b"\n{not json}\n").unwrap();
    j.append(&sample(6)).unwrap();
    let lines = Journal::read_lines(&path).unwrap();
    assert_eq!(lines.unreadable, [4, 5]);
    assert_eq!(lines.rows, vec![sample(2), sample(3), sample(5), sample(6)]);
}

#[test]
fn control_characters_are_encoded_and_read_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(JOURNAL_FILE);
    let mut row = sample(2);
    row.fields.nomor_aju = "AJU\u{1b}[2J\r\0".into();
    row.message = "del\u{7f} csi\u{9b}2J".into();
    Journal::create(&path).unwrap().append(&row).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        !text.trim_end().chars().any(char::is_control),
        "no raw control character: {text:?}"
    );
    assert_eq!(Journal::read(&path).unwrap(), vec![row]);
}

#[test]
fn a_restart_keeps_the_old_journal_and_appends_to_the_new() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(JOURNAL_FILE);
    let old = Journal::create(&path).unwrap();
    old.append(&sample(2)).unwrap();
    old.append(&sample(3)).unwrap();
    let before = std::fs::read(&path).unwrap();
    let archive = dir.path().join("journal-before.jsonl");
    let (new, written) = Journal::restart(&path, [Ok(sample(4))], &archive).unwrap();
    new.append(&sample(5)).unwrap();
    assert_eq!(written.len(), 1);
    assert_eq!(LineReader::new(&path).row(written[0].1).unwrap(), sample(4));
    assert_eq!(std::fs::read(&archive).unwrap(), before, "kept as it was");
    assert_eq!(Journal::read(&path).unwrap(), vec![sample(4), sample(5)]);
    assert!(
        Journal::restart(&path, std::iter::empty(), &archive).is_err(),
        "never overwrites an archive"
    );
    assert_eq!(Journal::read(&path).unwrap(), vec![sample(4), sample(5)]);
}

/// The outputs are written from the journal on disk: each row's last line is found by an
/// index read one line at a time, and read back where it is.
#[test]
fn lines_are_found_again_by_row_and_read_back_where_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(JOURNAL_FILE);
    let journal = Journal::create(&path).unwrap();
    let mut skipped = sample(3);
    skipped.status = RowStatus::Skipped;
    let mut done = sample(3);
    done.status = RowStatus::Match;
    done.fields.nomor_aju = "AJU3 again".into();
    let at: Vec<LineAt> = [sample(5), skipped, sample(2), done.clone()]
        .iter()
        .map(|r| journal.append(r).unwrap())
        .collect();
    assert_eq!(at[0].offset, 0);
    assert!(
        at.windows(2)
            .all(|w| w[1].offset == w[0].offset + u64::from(w[0].len) + 1)
    );
    // A torn last line is no row.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(b"{\"row\":9,")
        .unwrap();

    let index = Journal::index(&path).unwrap();
    let rows: Vec<(usize, RowStatus)> = index.entries.iter().map(|e| (e.row, e.status)).collect();
    assert_eq!(
        rows,
        [
            (2, RowStatus::Mismatch),
            (3, RowStatus::Match),
            (5, RowStatus::Mismatch)
        ],
        "one entry per row, its last line, in row order"
    );
    assert!(index.unreadable.is_empty());
    let three = index.get(3).unwrap();
    assert_eq!(three.at, at[3]);
    assert_eq!(three.nomor_aju, short_digest("AJU3 again"));
    assert!(index.get(4).is_none() && !index.contains(9));
    let mut reader = LineReader::new(&path);
    assert_eq!(reader.row(three.at).unwrap(), done);
    assert_eq!(reader.row(at[0]).unwrap(), sample(5));

    // Appending again cuts the torn line and says where the new line went.
    let again = Journal::open_append(&path).unwrap();
    let next = again.append(&sample(7)).unwrap();
    assert_eq!(next.offset, at[3].offset + u64::from(at[3].len) + 1);
    assert_eq!(reader.row(next).unwrap(), sample(7));
}

/// A journal on disk holding `rows` (in that order), and its index.
pub(crate) struct OnDisk {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
    pub index: JournalIndex,
}

impl OnDisk {
    pub(crate) fn of(rows: impl IntoIterator<Item = RowResult>) -> OnDisk {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(JOURNAL_FILE);
        let journal = Journal::create(&path).unwrap();
        for r in rows {
            journal.append(&r).unwrap();
        }
        let index = Journal::index(&path).unwrap();
        OnDisk {
            _dir: dir,
            path,
            index,
        }
    }

    pub(crate) fn lines(&self) -> LineReader {
        LineReader::new(&self.path)
    }
}

#[test]
fn a_failed_append_is_cut_off_and_ends_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(JOURNAL_FILE);
    let journal = Journal::create(&path).unwrap().fail_after(2);
    journal.append(&sample(2)).unwrap();
    let second = journal.append(&sample(3)).unwrap();
    let err = journal.append(&sample(4)).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::StorageFull, "{err}");
    // Refused without writing, although the next one would fit.
    let later = journal.append(&sample(5)).unwrap_err();
    assert!(
        later.to_string().contains("an earlier append failed"),
        "{later}"
    );
    // Only whole lines: the half line that landed was cut off again.
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.ends_with('\n'));
    assert_eq!(text.lines().count(), 2);
    assert_eq!(
        second.offset + u64::from(second.len) + 1,
        text.len() as u64,
        "the place of the last whole line"
    );
    assert_eq!(Journal::read(&path).unwrap(), vec![sample(2), sample(3)]);
    // A resume appends to it again, after the whole lines.
    let at = Journal::open_append(&path)
        .unwrap()
        .append(&sample(4))
        .unwrap();
    assert_eq!(at.offset, text.len() as u64);
    assert_eq!(
        Journal::read(&path).unwrap(),
        vec![sample(2), sample(3), sample(4)]
    );
}
