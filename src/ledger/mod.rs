//! The ledger: `<out>/ledger.sqlite`, one index over every run folder under an output folder, so
//! that an auditor's question about a month ("which documents are still not MATCH, and what did
//! each run do to them?") is one query instead of thirty reports.
//!
//! The journals stay the source of truth. The ledger only ever holds what the run folders'
//! `journal.jsonl` (and `summary.json`, for the run's command and times) say, keyed by run folder
//! and manifest row, so that writing the same line twice changes nothing and
//! [`rebuild`] from the journals gives the same content. A ledger that is missing, corrupt, of
//! another schema, or behind a journal is rebuilt or caught up ([`open_current`]); it is never a
//! reason for a run or an audit to fail.
//!
//! Runs write it as rows finish ([`feed`], on a thread of its own so that a slow or unwritable
//! ledger never slows an upload), and once more from the whole journal when the run ends
//! ([`record_run`]), under the lock of the output folder that the run holds.

pub mod feed;
pub mod query;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::model::RowResult;
use crate::report::{JOURNAL_FILE, Journal, SUMMARY_JSON};

pub const LEDGER_FILE: &str = "ledger.sqlite";

/// Bumped whenever the tables change: a ledger of another version is rebuilt.
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE runs (
    run TEXT PRIMARY KEY,
    command TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    previous_run TEXT,
    resumes INTEGER NOT NULL,
    journal_bytes INTEGER
);
CREATE TABLE rows (
    run TEXT NOT NULL,
    row INTEGER NOT NULL,
    doc TEXT NOT NULL,
    nomor_aju TEXT NOT NULL,
    nomor_bl_awb TEXT NOT NULL,
    tanggal_bl_awb TEXT NOT NULL,
    kode_kantor TEXT NOT NULL,
    folder TEXT NOT NULL,
    status TEXT NOT NULL,
    action TEXT NOT NULL,
    local_count INTEGER NOT NULL,
    uploaded INTEGER NOT NULL,
    server_count INTEGER,
    missing_on_server TEXT NOT NULL,
    extra_on_server TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    requests INTEGER NOT NULL,
    message TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    PRIMARY KEY (run, row)
);
CREATE INDEX rows_doc ON rows (doc);
CREATE INDEX rows_date ON rows (tanggal_bl_awb);
CREATE TABLE photos (
    run TEXT NOT NULL,
    row INTEGER NOT NULL,
    n INTEGER NOT NULL,
    file TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    content_type TEXT NOT NULL,
    sent_in TEXT NOT NULL,
    sent_at TEXT,
    on_server INTEGER,
    waktu_rekam TEXT,
    PRIMARY KEY (run, row, n)
);
";

/// Where the ledger of an output folder lives.
pub fn path_in(out: &Path) -> PathBuf {
    out.join(LEDGER_FILE)
}

/// The output folder of a run folder (run folders are made directly under `--out`).
pub fn out_of(run_dir: &Path) -> PathBuf {
    match run_dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn stamp(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// A connection that waits for another writer rather than fail at once. Every write transaction
/// is IMMEDIATE (takes the write lock when it begins), so that two writers never deadlock, each
/// holding a read lock the other waits on.
fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // The audit's temporary table stays in memory. The page cache is bounded at 16 MiB a
    // connection (a run has two: the feed's and its end's), so that a run's memory does not grow
    // with its rows; the operating system caches the file beyond it.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "cache_size", -16_384)?;
    Ok(conn)
}

/// Open an existing ledger that has the current schema; an error for a ledger that is missing,
/// unreadable, not a database, or of another version.
fn open_existing(path: &Path) -> anyhow::Result<Connection> {
    if !path.is_file() {
        anyhow::bail!("{} does not exist", path.display());
    }
    let conn = connect(path).with_context(|| format!("cannot open {}", path.display()))?;
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .with_context(|| format!("{} is not a ledger", path.display()))?;
    if version != SCHEMA_VERSION {
        anyhow::bail!(
            "{} has schema version {version}, not {SCHEMA_VERSION}",
            path.display()
        );
    }
    conn.query_row("SELECT count(*) FROM runs", [], |r| r.get::<_, i64>(0))
        .with_context(|| format!("{} is not a ledger", path.display()))?;
    Ok(conn)
}

/// A fresh, empty ledger at `path` (which must not exist).
fn create(path: &Path) -> anyhow::Result<Connection> {
    let conn = connect(path).with_context(|| format!("cannot create {}", path.display()))?;
    conn.execute_batch(SCHEMA)
        .and_then(|()| conn.pragma_update(None, "user_version", SCHEMA_VERSION))
        .with_context(|| format!("cannot create {}", path.display()))?;
    Ok(conn)
}

/// The run folders under `out`: every folder (not the `latest` link) holding a journal, by name.
pub fn run_folders(out: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(out) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir() && !t.is_symlink()))
        .map(|e| e.path())
        .filter(|p| p.join(JOURNAL_FILE).is_file())
        .collect();
    dirs.sort();
    dirs
}

fn run_name(run_dir: &Path) -> String {
    run_dir
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
}

/// What the ledger says about a run: from its summary.json when readable, else from the folder
/// name (the UTC time the run started).
struct RunFacts {
    command: String,
    started_at: String,
    finished_at: Option<String>,
    previous_run: Option<String>,
    resumes: i64,
}

fn run_facts(run_dir: &Path) -> RunFacts {
    let summary = std::fs::read_to_string(run_dir.join(SUMMARY_JSON))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
    let text = |key: &str| {
        summary
            .as_ref()
            .and_then(|s| s.get(key))
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    let time = |key: &str| {
        text(key)
            .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
            .map(|t| stamp(&t.with_timezone(&Utc)))
    };
    let name = run_name(run_dir);
    let from_name = || {
        let base = name.split('-').next().unwrap_or_default();
        chrono::NaiveDateTime::parse_from_str(base, "%Y%m%dT%H%M%SZ")
            .map(|t| stamp(&t.and_utc()))
            .unwrap_or_default()
    };
    RunFacts {
        command: text("command").unwrap_or_else(|| "unknown".into()),
        started_at: time("started_at").unwrap_or_else(from_name),
        finished_at: time("finished_at"),
        previous_run: text("previous_run").map(|p| run_name(Path::new(&p))),
        resumes: summary
            .as_ref()
            .and_then(|s| s.get("resumed_at"))
            .and_then(|v| v.as_array())
            .map_or(0, |a| a.len() as i64),
    }
}

fn put_run(conn: &Connection, run_dir: &Path, journal_bytes: Option<u64>) -> rusqlite::Result<()> {
    let f = run_facts(run_dir);
    conn.execute(
        "INSERT INTO runs (run, command, started_at, finished_at, previous_run, resumes, journal_bytes)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (run) DO UPDATE SET command = ?2, started_at = ?3, finished_at = ?4,
             previous_run = ?5, resumes = ?6, journal_bytes = ?7",
        params![
            run_name(run_dir),
            f.command,
            f.started_at,
            f.finished_at,
            f.previous_run,
            f.resumes,
            journal_bytes.map(|b| b as i64)
        ],
    )?;
    Ok(())
}

/// The document a row is about: its nomorAju, or (a row whose nomorAju cell was empty) the row
/// itself, so that such rows are not all taken for one document.
fn doc_key(run: &str, r: &RowResult) -> String {
    if r.fields.nomor_aju.is_empty() {
        format!("{run}#{}", r.row)
    } else {
        r.fields.nomor_aju.clone()
    }
}

/// Write one journal line: its row and photos replace what the ledger had for that run and row.
fn put_row(conn: &Connection, run: &str, r: &RowResult) -> rusqlite::Result<()> {
    let list = |v: &[String]| serde_json::to_string(v).unwrap_or_default();
    let f = &r.fields;
    conn.execute(
        "INSERT OR REPLACE INTO rows VALUES
         (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)",
        params![
            run,
            r.row as i64,
            doc_key(run, r),
            f.nomor_aju,
            f.nomor_bl_awb,
            f.tanggal_bl_awb,
            f.kode_kantor,
            f.folder,
            r.status.as_str(),
            r.action,
            r.local_count as i64,
            r.uploaded as i64,
            r.server_count.map(|n| n as i64),
            list(&r.missing_on_server),
            list(&r.extra_on_server),
            r.attempts,
            r.requests,
            r.message,
            r.started_at.as_ref().map(stamp),
            r.finished_at.as_ref().map(stamp),
        ],
    )?;
    conn.execute(
        "DELETE FROM photos WHERE run = ?1 AND row = ?2",
        params![run, r.row as i64],
    )?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO photos VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?;
    for (n, i) in r.images.iter().enumerate() {
        insert.execute(params![
            run,
            r.row as i64,
            n as i64,
            i.file,
            i.bytes as i64,
            i.sha256,
            i.content_type,
            i.sent_in.as_str(),
            i.sent_at.as_ref().map(stamp),
            i.on_server,
            i.server_waktu_rekam,
        ])?;
    }
    Ok(())
}

/// Record finished rows of the run in `run_dir` (as they were appended to the journal), in one
/// transaction. A run new to the ledger is entered with its journal length unknown, and the
/// length of a known one no longer matches its grown journal, so that [`open_current`] reads the
/// whole journal again unless the run's end did ([`record_run`]).
pub fn record_rows(
    conn: &mut Connection,
    run_dir: &Path,
    rows: &[RowResult],
) -> anyhow::Result<()> {
    let run = run_name(run_dir);
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let known: Option<i64> = tx
        .query_row("SELECT 1 FROM runs WHERE run = ?1", [&run], |r| r.get(0))
        .optional()?;
    if known.is_none() {
        put_run(&tx, run_dir, None)?;
    }
    for r in rows {
        put_row(&tx, &run, r)?;
    }
    tx.commit()?;
    Ok(())
}

/// Read the whole journal of `run_dir` into the ledger: the run's rows become exactly the
/// journal's (a later line for a row replaces an earlier one).
pub fn ingest_run(conn: &mut Connection, run_dir: &Path) -> anyhow::Result<()> {
    let journal = run_dir.join(JOURNAL_FILE);
    let bytes = std::fs::metadata(&journal)
        .with_context(|| format!("cannot read {}", journal.display()))?
        .len();
    let run = run_name(run_dir);
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute("DELETE FROM photos WHERE run = ?1", [&run])?;
    tx.execute("DELETE FROM rows WHERE run = ?1", [&run])?;
    put_run(&tx, run_dir, Some(bytes))?;
    // One line at a time: a later line of a row replaces its earlier one, as in the journal.
    let mut put = Ok(());
    Journal::for_each(&journal, &mut |r| {
        if put.is_ok() {
            put = put_row(&tx, &run, &r);
        }
    })?;
    put?;
    tx.commit()?;
    Ok(())
}

/// Build a new ledger from every run folder's journal under `out`, into `path`.
fn build(out: &Path, path: &Path) -> anyhow::Result<Connection> {
    let mut conn = create(path)?;
    for run_dir in run_folders(out) {
        if let Err(e) = ingest_run(&mut conn, &run_dir) {
            tracing::warn!("ledger: {} passed over: {e:#}", run_dir.display());
        }
    }
    Ok(conn)
}

/// Remove the ledger at `path` and SQLite's files beside it.
fn remove(path: &Path) {
    for suffix in ["", "-journal", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}

/// Recreate `<out>/ledger.sqlite` from the journals: built beside it under another name, then
/// renamed over it, so a reader never sees half a ledger. The caller holds the output folder's
/// lock.
pub fn rebuild(out: &Path) -> anyhow::Result<Connection> {
    let path = path_in(out);
    // A unique empty name (two threads of one run may rebuild at once), emptied for SQLite.
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{LEDGER_FILE}.tmp"))
        .tempfile_in(out)
        .with_context(|| format!("cannot create a temporary file in {}", out.display()))?
        .into_temp_path();
    std::fs::remove_file(&tmp)?;
    let conn = build(out, &tmp);
    let conn = match conn {
        Ok(conn) => conn,
        Err(e) => {
            remove(&tmp);
            return Err(e);
        }
    };
    drop(conn);
    remove(&path);
    let kept = tmp.keep()?;
    std::fs::rename(&kept, &path)
        .with_context(|| format!("cannot rename {} to {}", kept.display(), path.display()))?;
    open_existing(&path)
}

/// The runs whose journal the ledger has not read whole, or that changed since: missing from the
/// ledger, journal length unknown (fed row by row) or different.
fn behind(conn: &Connection, out: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut stale = Vec::new();
    let mut known = conn.prepare("SELECT journal_bytes FROM runs WHERE run = ?1")?;
    for run_dir in run_folders(out) {
        let bytes = std::fs::metadata(run_dir.join(JOURNAL_FILE)).map_or(0, |m| m.len() as i64);
        let have: Option<Option<i64>> = known
            .query_row([run_name(&run_dir)], |r| r.get(0))
            .optional()?;
        if have != Some(Some(bytes)) {
            stale.push(run_dir);
        }
    }
    Ok(stale)
}

/// The ledger of `out`, brought up to date with the journals, by a caller holding the output
/// folder's lock: rebuilt when missing, corrupt or of another schema (with a warning), each run
/// whose journal it has not read whole read again.
pub fn open_current(out: &Path) -> anyhow::Result<Connection> {
    let path = path_in(out);
    let mut conn = match open_existing(&path) {
        Ok(conn) => conn,
        Err(e) => {
            if path.exists() {
                tracing::warn!("ledger: {e:#}; rebuilding it from the journals");
            }
            return rebuild(out);
        }
    };
    let stale = match behind(&conn, out) {
        Ok(stale) => stale,
        Err(e) => {
            tracing::warn!(
                "ledger {}: {e:#}; rebuilding it from the journals",
                path.display()
            );
            drop(conn);
            return rebuild(out);
        }
    };
    for run_dir in stale {
        ingest_run(&mut conn, &run_dir)?;
    }
    Ok(conn)
}

/// The ledger of `out` as the journals say, for a reader that cannot take the output folder's
/// lock (a run is writing): the ledger itself when it is whole and current, else one built in a
/// private temporary file from the journals (never written over the shared one).
pub fn open_for_reading(out: &Path) -> anyhow::Result<(Connection, Option<tempfile::TempDir>)> {
    if let Ok(conn) = open_existing(&path_in(out))
        && behind(&conn, out).is_ok_and(|s| s.is_empty())
    {
        return Ok((conn, None));
    }
    let dir = tempfile::tempdir()?;
    let conn = build(out, &dir.path().join(LEDGER_FILE))?;
    Ok((conn, Some(dir)))
}

/// Held while one thread of this process opens, catches up or rebuilds the ledger, so that the
/// feed's thread and the run's end never rebuild it at once (one renaming its ledger over the
/// other's).
pub(crate) fn one_writer() -> std::sync::MutexGuard<'static, ()> {
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ONE.lock().unwrap_or_else(|p| p.into_inner())
}

/// After a run wrote its outputs: read its whole journal into the ledger (rebuilding a ledger
/// that is missing or corrupt). A failure is a warning: the run's outputs are its record.
pub fn record_run(run_dir: &Path) {
    let out = out_of(run_dir);
    let _one = one_writer();
    let done = open_current(&out).and_then(|mut conn| ingest_run(&mut conn, run_dir));
    if let Err(e) = done {
        tracing::warn!(
            "ledger {} not updated: {e:#}; `kirim-xray ledger rebuild` recreates it from the journals",
            path_in(&out).display()
        );
    }
}

/// Every table's content as text lines, sorted: what must be equal before and after a rebuild.
pub fn dump(conn: &Connection) -> anyhow::Result<Vec<String>> {
    let mut lines = Vec::new();
    for table in ["runs", "rows", "photos"] {
        let mut stmt = conn.prepare(&format!("SELECT * FROM {table}"))?;
        let cols = stmt.column_count();
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let mut line = table.to_string();
            for i in 0..cols {
                let v: rusqlite::types::Value = row.get(i)?;
                line.push_str(&format!("|{v:?}"));
            }
            lines.push(line);
        }
    }
    lines.sort();
    Ok(lines)
}
