//! journal.jsonl: one JSON line per finished row, appended and flushed to disk as the row
//! finishes, so that an interrupted run can be resumed and its outputs rebuilt. Each line goes out
//! in a single write under a lock, so a crash can at worst leave a torn last line, which
//! [`Journal::read`] drops. A line torn in the middle of the file (a disk that filled up, then had
//! space again) is skipped with a warning that names it: its row simply counts as not finished,
//! which `--resume` and `retry` handle by asking the server first, so one bad line never costs
//! the whole folder.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::escape::json_controls;
use crate::model::RowResult;

pub const JOURNAL_FILE: &str = "journal.jsonl";

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

/// What a journal holds: its readable lines in file order, and the numbers of the lines before
/// the last one that could not be read (and were skipped).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JournalLines {
    pub rows: Vec<RowResult>,
    pub unreadable: Vec<usize>,
}

/// One journal line: the row as JSON (DEL and C1 controls escaped too, see
/// [`json_controls`]), and its line break.
fn line_of(row: &RowResult) -> io::Result<Vec<u8>> {
    let json = serde_json::to_string(row).map_err(io::Error::other)?;
    let mut line = json_controls(&json).into_owned().into_bytes();
    line.push(b'\n');
    Ok(line)
}

/// Told of every line once it is on disk (the ledger's feed).
pub type Observer = Box<dyn Fn(&RowResult) + Send + Sync>;

/// An open journal, shared by the workers.
pub struct Journal {
    file: Mutex<File>,
    path: PathBuf,
    observer: Option<Observer>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal").field("path", &self.path).finish()
    }
}

impl Journal {
    /// Start a new journal; fails if one exists (a run folder is never reused by accident).
    pub fn create(path: &Path) -> io::Result<Journal> {
        let file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(path)?;
        Ok(Journal {
            file: Mutex::new(file),
            path: path.to_path_buf(),
            observer: None,
        })
    }

    /// Append to an existing journal (resume). A torn last line left by a crash is cut off
    /// first, so that the next line does not get glued to it.
    pub fn open_append(path: &Path) -> io::Result<Journal> {
        let bytes = std::fs::read(path)?;
        let whole = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let file = OpenOptions::new().append(true).open(path)?;
        if whole < bytes.len() {
            file.set_len(whole as u64)?;
            file.sync_data()?;
        }
        Ok(Journal {
            file: Mutex::new(file),
            path: path.to_path_buf(),
            observer: None,
        })
    }

    /// Start `path` over with `rows`, keeping the journal as it was under `archive` (a forced
    /// resume on a changed manifest: the rows carry their new numbers). The old journal is linked
    /// to `archive` first and the new one renamed over it, so a crash at any point leaves a whole
    /// journal at `path`, the old or the new.
    pub fn restart(path: &Path, rows: &[RowResult], archive: &Path) -> io::Result<Journal> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut tmp = tempfile::Builder::new()
            .prefix(".journal")
            .tempfile_in(dir)?;
        for row in rows {
            tmp.write_all(&line_of(row)?)?;
        }
        tmp.as_file().sync_all()?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path)?.permissions().mode();
            tmp.as_file()
                .set_permissions(std::fs::Permissions::from_mode(mode))?;
        }
        match std::fs::hard_link(path, archive) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(e),
            // A file system without hard links: a copy, never over an existing file.
            Err(_) => {
                let mut copy = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(archive)?;
                io::copy(&mut File::open(path)?, &mut copy)?;
                copy.sync_all()?;
            }
        }
        tmp.persist(path).map_err(|e| e.error)?;
        Journal::open_append(path)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Tell `observer` of every line appended from now on, once it is on disk.
    pub fn observe(&mut self, observer: Observer) {
        self.observer = Some(observer);
    }

    /// Write one row as one line and push it to disk before returning.
    pub fn append(&self, row: &RowResult) -> io::Result<()> {
        let line = line_of(row)?;
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        file.write_all(&line)?;
        file.sync_data()?;
        drop(file);
        if let Some(observer) = &self.observer {
            observer(row);
        }
        Ok(())
    }

    /// Every readable line, in file order (see [`Journal::read_lines`]).
    pub fn read(path: &Path) -> Result<Vec<RowResult>, JournalError> {
        Ok(Journal::read_lines(path)?.rows)
    }

    /// Every readable line, in file order. A last line without its newline is the trace of a
    /// crash mid-write and is dropped. A bad line before the end is skipped with a warning naming
    /// the journal and the line, and listed in `unreadable`: its row counts as not finished.
    pub fn read_lines(path: &Path) -> Result<JournalLines, JournalError> {
        // Bytes, not a String: a line torn inside a multi-byte character is not valid UTF-8,
        // and must be dropped like any other torn line rather than fail the whole read.
        let bytes = std::fs::read(path).map_err(|source| JournalError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut lines = JournalLines::default();
        let mut pieces = bytes.split(|b| *b == b'\n').peekable();
        let mut line_no = 0;
        while let Some(piece) = pieces.next() {
            line_no += 1;
            let is_last = pieces.peek().is_none();
            if piece.trim_ascii().is_empty() {
                continue;
            }
            match serde_json::from_slice::<RowResult>(piece) {
                Ok(row) => lines.rows.push(row),
                Err(_) if is_last => {
                    tracing::warn!("{} line {line_no}: torn last line dropped", path.display());
                }
                Err(e) => {
                    tracing::warn!(
                        "{} line {line_no} cannot be read ({e}); skipped: its row counts as not \
                         finished",
                        path.display()
                    );
                    lines.unreadable.push(line_no);
                }
            }
        }
        Ok(lines)
    }
}

#[cfg(test)]
pub(crate) mod tests {
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
        let new = Journal::restart(&path, &[sample(4)], &archive).unwrap();
        new.append(&sample(5)).unwrap();
        assert_eq!(std::fs::read(&archive).unwrap(), before, "kept as it was");
        assert_eq!(Journal::read(&path).unwrap(), vec![sample(4), sample(5)]);
        assert!(
            Journal::restart(&path, &[], &archive).is_err(),
            "never overwrites an archive"
        );
        assert_eq!(Journal::read(&path).unwrap(), vec![sample(4), sample(5)]);
    }
}
