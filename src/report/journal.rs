//! journal.jsonl: one JSON line per finished row, appended and flushed to disk as the row
//! finishes, so that an interrupted run can be resumed and its outputs rebuilt. Each line goes out
//! in a single write under a lock, so a crash can at worst leave a torn last line, which
//! [`Journal::read`] drops. A line torn in the middle of the file (a disk that filled up, then had
//! space again) is skipped with a warning that names it: its row simply counts as not finished,
//! which `--resume` and `retry` handle by asking the server first, so one bad line never costs
//! the whole folder. An append that fails (disk full, EIO) is cut back off the file and ends the
//! journal: later appends are refused, so the file stays a clean prefix of the run, and the
//! caller stops the run (nothing may be sent that the journal cannot record).

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::escape::json_controls;
use crate::model::{RowResult, RowStatus, short_digest};
use crate::positional::read_exact_at;

pub const JOURNAL_FILE: &str = "journal.jsonl";

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: the line at byte {offset} cannot be read back: {message}")]
    Line {
        path: PathBuf,
        offset: u64,
        message: String,
    },
}

/// What a journal holds: its readable lines in file order, and the numbers of the lines before
/// the last one that could not be read (and were skipped).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JournalLines {
    pub rows: Vec<RowResult>,
    pub unreadable: Vec<usize>,
}

/// Where one line of the journal is: its first byte and its length (without the line break).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LineAt {
    pub offset: u64,
    pub len: u32,
}

/// One row's last readable line, as [`Journal::index`] finds it: enough to decide what a resume
/// or a retry does with the row, and where to read the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry {
    pub row: usize,
    pub at: LineAt,
    pub status: RowStatus,
    /// [`short_digest`] of the row's nomorAju, to find its document in a changed manifest.
    pub nomor_aju: [u8; 16],
}

/// The last readable line of every row of a journal, by row number: about 40 bytes a row,
/// whatever the lines hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JournalIndex {
    /// Sorted by row, one per row.
    pub entries: Vec<IndexEntry>,
    /// Line numbers of the lines before the last that could not be read (skipped).
    pub unreadable: Vec<usize>,
}

impl JournalIndex {
    pub fn get(&self, row: usize) -> Option<&IndexEntry> {
        self.entries
            .binary_search_by_key(&row, |e| e.row)
            .ok()
            .map(|i| &self.entries[i])
    }

    pub fn contains(&self, row: usize) -> bool {
        self.get(row).is_some()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// One journal line: the row as JSON (DEL and C1 controls escaped too, see
/// [`json_controls`]), and its line break.
fn line_of(row: &RowResult) -> io::Result<Vec<u8>> {
    let json = serde_json::to_string(row).map_err(io::Error::other)?;
    let mut line = json_controls(&json).into_owned().into_bytes();
    line.push(b'\n');
    Ok(line)
}

/// The file of a journal (opened to append) and what is known about its end, under the
/// journal's lock.
#[derive(Debug)]
struct Sink {
    file: File,
    /// Bytes of whole lines in the file: where the next line goes, and where a failed append is
    /// cut back to.
    len: u64,
    /// The first failed append; nothing is written after it.
    failed: Option<String>,
    /// Lines appended by this process.
    lines: u64,
    /// Test hook (see [`fault_after`]): appends after this many lines fail like a full disk.
    fail_after: Option<u64>,
}

impl Sink {
    fn new(file: File, len: u64) -> Mutex<Sink> {
        Mutex::new(Sink {
            file,
            len,
            failed: None,
            lines: 0,
            fail_after: fault_after(),
        })
    }

    /// Write one line, pushed to disk before returning; where it went.
    fn write_line(&mut self, line: &[u8]) -> io::Result<LineAt> {
        let len = u32::try_from(line.len() - 1).map_err(io::Error::other)?;
        if self.fail_after.is_some_and(|n| self.lines >= n) {
            // Like a disk that fills up mid-line: part of the line lands, then the error.
            self.file.write_all(&line[..line.len() / 2])?;
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                "No space left on device (simulated by KIRIM_XRAY_TEST_JOURNAL_FAIL_AFTER)",
            ));
        }
        self.file.write_all(line)?;
        self.file.sync_data()?;
        let at = LineAt {
            offset: self.len,
            len,
        };
        self.len += line.len() as u64;
        self.lines += 1;
        Ok(at)
    }
}

/// Test hook, honoured only in debug builds (the binary the tests run): with
/// `KIRIM_XRAY_TEST_JOURNAL_FAIL_AFTER=N`, every append after the first N of a process fails as
/// on a full disk. A release build never reads it.
#[cfg(debug_assertions)]
fn fault_after() -> Option<u64> {
    std::env::var("KIRIM_XRAY_TEST_JOURNAL_FAIL_AFTER")
        .ok()?
        .parse()
        .ok()
}

#[cfg(not(debug_assertions))]
fn fault_after() -> Option<u64> {
    None
}

/// Told of every line once it is on disk (the ledger's feed).
pub type Observer = Box<dyn Fn(&RowResult) + Send + Sync>;

/// An open journal, shared by the workers.
pub struct Journal {
    sink: Mutex<Sink>,
    path: PathBuf,
    observer: Option<Observer>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal").field("path", &self.path).finish()
    }
}

/// How much of a journal's end is read at a time, looking for the end of its last whole line.
const TAIL_CHUNK: u64 = 64 * 1024;

impl Journal {
    /// Start a new journal; fails if one exists (a run folder is never reused by accident).
    pub fn create(path: &Path) -> io::Result<Journal> {
        let file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(path)?;
        Ok(Journal {
            sink: Sink::new(file, 0),
            path: path.to_path_buf(),
            observer: None,
        })
    }

    /// Append to an existing journal (resume). A torn last line left by a crash is cut off
    /// first, so that the next line does not get glued to it. Only the end of the file is read.
    pub fn open_append(path: &Path) -> io::Result<Journal> {
        let file = OpenOptions::new().read(true).append(true).open(path)?;
        let len = file.metadata()?.len();
        let whole = whole_lines_end(&file, len)?;
        if whole < len {
            file.set_len(whole)?;
            file.sync_data()?;
        }
        Ok(Journal {
            sink: Sink::new(file, whole),
            path: path.to_path_buf(),
            observer: None,
        })
    }

    /// Start `path` over with `rows`, keeping the journal as it was under `archive` (a forced
    /// resume on a changed manifest: the rows carry their new numbers). The old journal is linked
    /// to `archive` first and the new one renamed over it, so a crash at any point leaves a whole
    /// journal at `path`, the old or the new. Returns where each row's line is in the new one.
    pub fn restart(
        path: &Path,
        rows: impl IntoIterator<Item = io::Result<RowResult>>,
        archive: &Path,
    ) -> io::Result<(Journal, Vec<(usize, LineAt)>)> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let tmp = tempfile::Builder::new()
            .prefix(".journal")
            .tempfile_in(dir)?;
        let mut written = Vec::new();
        let mut w = io::BufWriter::new(tmp.as_file());
        let mut offset = 0u64;
        for row in rows {
            let row = row?;
            let line = line_of(&row)?;
            let len = u32::try_from(line.len() - 1).map_err(io::Error::other)?;
            written.push((row.row, LineAt { offset, len }));
            w.write_all(&line)?;
            offset += line.len() as u64;
        }
        w.flush()?;
        drop(w);
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
        written.sort_unstable();
        Ok((Journal::open_append(path)?, written))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Tell `observer` of every line appended from now on, once it is on disk.
    pub fn observe(&mut self, observer: Observer) {
        self.observer = Some(observer);
    }

    /// Write one row as one line and push it to disk before returning; where the line is. After
    /// a failure (disk full, EIO) the part of the line that landed is cut off again, and every
    /// later append is refused: the journal stays whole lines, every one of a row that really
    /// finished as it says, and the rows not in it count as not finished (`--resume` asks the
    /// server first).
    pub fn append(&self, row: &RowResult) -> io::Result<LineAt> {
        let line = line_of(row)?;
        let mut sink = self.sink.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(first) = &sink.failed {
            return Err(io::Error::other(format!(
                "not written, an earlier append failed ({first})"
            )));
        }
        let written = sink.write_line(&line);
        if written.is_ok() {
            drop(sink);
            if let Some(observer) = &self.observer {
                observer(row);
            }
            return written;
        }
        if let Err(e) = &written {
            sink.failed = Some(e.to_string());
            let whole = sink.len;
            // Cutting back needs no space; if even that fails, a resume cuts a torn last line.
            if let Err(cut) = sink
                .file
                .set_len(whole)
                .and_then(|()| sink.file.sync_data())
            {
                tracing::warn!(
                    "{}: cannot cut the failed line off ({cut}); a resume drops it",
                    self.path.display()
                );
            }
        }
        written
    }

    /// Make appends after the first `lines` fail as on a full disk (tests).
    #[cfg(test)]
    pub fn fail_after(self, lines: u64) -> Journal {
        self.sink
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .fail_after = Some(lines);
        self
    }

    /// Every readable line given to `each` in file order, one at a time (see
    /// [`Journal::read_lines`] for the lines that cannot be read); the numbers of the lines
    /// skipped.
    pub fn for_each(
        path: &Path,
        each: &mut dyn FnMut(RowResult),
    ) -> Result<Vec<usize>, JournalError> {
        scan(path, &mut |row, _| each(row))
    }

    /// Every readable line, in file order (see [`Journal::read_lines`]).
    pub fn read(path: &Path) -> Result<Vec<RowResult>, JournalError> {
        Ok(Journal::read_lines(path)?.rows)
    }

    /// Every readable line, in file order, held in memory: for small journals (tests). A last
    /// line without its newline is the trace of a crash mid-write and is dropped. A bad line
    /// before the end is skipped with a warning naming the journal and the line, and listed in
    /// `unreadable`: its row counts as not finished.
    pub fn read_lines(path: &Path) -> Result<JournalLines, JournalError> {
        let mut lines = JournalLines::default();
        lines.unreadable = scan(path, &mut |row, _| lines.rows.push(row))?;
        Ok(lines)
    }

    /// The last readable line of every row, read one line at a time (see
    /// [`Journal::read_lines`] for the lines that cannot be read).
    pub fn index(path: &Path) -> Result<JournalIndex, JournalError> {
        let mut entries = Vec::new();
        let unreadable = scan(path, &mut |row, at| {
            entries.push(IndexEntry {
                row: row.row,
                at,
                status: row.status,
                nomor_aju: short_digest(&row.fields.nomor_aju),
            })
        })?;
        // The last line of a row wins: among a row's lines, file order is the order of their
        // places. Sorted and thinned in place, so that the index is never held twice.
        entries.sort_unstable_by_key(|e| (e.row, e.at.offset));
        let mut kept = 0;
        for i in 0..entries.len() {
            if kept > 0 && entries[kept - 1].row == entries[i].row {
                entries[kept - 1] = entries[i];
            } else {
                entries[kept] = entries[i];
                kept += 1;
            }
        }
        entries.truncate(kept);
        entries.shrink_to_fit();
        Ok(JournalIndex {
            entries,
            unreadable,
        })
    }
}

/// Reads lines of one journal back by where they are. The file is opened at the first read.
#[derive(Debug)]
pub struct LineReader {
    file: Option<File>,
    path: PathBuf,
    buf: Vec<u8>,
}

impl LineReader {
    pub fn new(path: &Path) -> LineReader {
        LineReader {
            file: None,
            path: path.to_path_buf(),
            buf: Vec::new(),
        }
    }

    /// The row of the line at `at`.
    pub fn row(&mut self, at: LineAt) -> Result<RowResult, JournalError> {
        let io_err = |path: &Path, source| JournalError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = match &mut self.file {
            Some(file) => file,
            None => self
                .file
                .insert(File::open(&self.path).map_err(|e| io_err(&self.path, e))?),
        };
        self.buf.resize(at.len as usize, 0);
        read_exact_at(file, &mut self.buf, at.offset).map_err(|e| io_err(&self.path, e))?;
        serde_json::from_slice(&self.buf).map_err(|e| JournalError::Line {
            path: self.path.clone(),
            offset: at.offset,
            message: e.to_string(),
        })
    }
}

/// Where the last whole line of a file of `len` bytes ends (0 when there is none).
fn whole_lines_end(file: &File, len: u64) -> io::Result<u64> {
    let mut end = len;
    let mut chunk = vec![0; TAIL_CHUNK as usize];
    while end > 0 {
        let start = end.saturating_sub(TAIL_CHUNK);
        let piece = &mut chunk[..(end - start) as usize];
        read_exact_at(file, piece, start)?;
        if let Some(i) = piece.iter().rposition(|b| *b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

/// Walk the lines of the journal at `path` one at a time, giving each readable one to `each`
/// with where it is. A last line without its newline is the trace of a crash mid-write and is
/// dropped. A bad line before the end is skipped with a warning naming the journal and the line;
/// the numbers of those lines are returned.
fn scan(path: &Path, each: &mut dyn FnMut(RowResult, LineAt)) -> Result<Vec<usize>, JournalError> {
    let io_err = |source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut reader = BufReader::with_capacity(1 << 16, File::open(path).map_err(io_err)?);
    reader.seek(SeekFrom::Start(0)).map_err(io_err)?;
    let mut unreadable = Vec::new();
    let mut line = Vec::new();
    let (mut offset, mut line_no) = (0u64, 0usize);
    loop {
        line.clear();
        // Bytes, not a String: a line torn inside a multi-byte character is not valid UTF-8,
        // and must be dropped like any other torn line rather than fail the whole read.
        let n = reader.read_until(b'\n', &mut line).map_err(io_err)?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let at = offset;
        offset += n as u64;
        let is_last = line.last() != Some(&b'\n');
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        if text.trim_ascii().is_empty() {
            continue;
        }
        match serde_json::from_slice::<RowResult>(text) {
            Ok(row) => {
                let len = u32::try_from(text.len()).map_err(|e| io_err(io::Error::other(e)))?;
                each(row, LineAt { offset: at, len });
            }
            Err(_) if is_last => {
                tracing::warn!("{} line {line_no}: torn last line dropped", path.display());
            }
            Err(e) => {
                tracing::warn!(
                    "{} line {line_no} cannot be read ({e}); skipped: its row counts as not \
                     finished",
                    path.display()
                );
                unreadable.push(line_no);
            }
        }
    }
    Ok(unreadable)
}

#[cfg(test)]
#[path = "journal_tests.rs"]
pub(crate) mod tests;
