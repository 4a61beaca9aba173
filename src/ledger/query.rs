//! The auditor's question to the ledger: the documents of a period, each with its latest verdict,
//! every run that touched it and what that run did, and every photo's evidence. A document is its
//! nomorAju; its latest verdict is the one of the last run that touched it (by the run's start,
//! a `retry` or `reconcile` after the night's `run`).

use chrono::NaiveDate;
use rusqlite::{Connection, params_from_iter};

use crate::model::RowStatus;

/// Which dates `--from`/`--to` are compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    /// The document's tanggalBlAwb (as its latest row gives it).
    Bl,
    /// The start (UTC day) of the runs: documents touched by a run started in the period.
    Run,
}

/// What to list. Empty `statuses` means every status.
#[derive(Debug, Clone)]
pub struct Filter {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub by: By,
    pub statuses: Vec<RowStatus>,
    pub kode_kantor: Option<String>,
    pub aju: Option<String>,
}

/// One photo as one run's row recorded it.
#[derive(Debug, Clone, PartialEq)]
pub struct Photo {
    pub file: String,
    pub bytes: i64,
    pub sha256: String,
    pub content_type: String,
    pub sent_in: String,
    pub sent_at: Option<String>,
    pub on_server: Option<bool>,
    pub waktu_rekam: Option<String>,
}

/// What one run did to a document.
#[derive(Debug, Clone, PartialEq)]
pub struct Touch {
    pub run: String,
    pub command: String,
    pub run_started: String,
    pub row: i64,
    pub status: String,
    pub action: String,
    pub local_count: i64,
    pub uploaded: i64,
    pub server_count: Option<i64>,
    pub missing_on_server: Vec<String>,
    pub extra_on_server: Vec<String>,
    pub attempts: i64,
    pub requests: i64,
    pub message: String,
    pub finished_at: Option<String>,
    pub photos: Vec<Photo>,
}

/// A document with its latest fields and verdict, and its history, oldest run first.
#[derive(Debug, Clone, PartialEq)]
pub struct Doc {
    pub nomor_aju: String,
    pub nomor_bl_awb: String,
    pub tanggal_bl_awb: String,
    pub kode_kantor: String,
    pub folder: String,
    pub history: Vec<Touch>,
}

impl Doc {
    /// What the last run to touch the document did.
    pub fn latest(&self) -> &Touch {
        // A document is only listed with at least one row.
        &self.history[self.history.len() - 1]
    }

    pub fn status(&self) -> &str {
        &self.latest().status
    }
}

/// The rows of every document, latest first per document, with their runs' start.
const LATEST: &str = "SELECT r.doc, r.tanggal_bl_awb, r.kode_kantor, r.status, r.nomor_aju,
    ROW_NUMBER() OVER (PARTITION BY r.doc
        ORDER BY u.started_at DESC, r.run DESC, r.finished_at DESC, r.row DESC) AS rn
    FROM rows r JOIN runs u ON u.run = r.run";

/// The documents that `filter` selects, in order of tanggalBlAwb then nomorAju.
pub fn documents(conn: &Connection, filter: &Filter) -> anyhow::Result<Vec<Doc>> {
    let mut sql = format!("SELECT doc FROM ({LATEST}) WHERE rn = 1");
    let mut args: Vec<String> = Vec::new();
    let day = |d: &NaiveDate| d.format("%Y-%m-%d").to_string();
    match filter.by {
        By::Bl => {
            if let Some(from) = &filter.from {
                sql.push_str(" AND tanggal_bl_awb >= ?");
                args.push(day(from));
            }
            if let Some(to) = &filter.to {
                sql.push_str(" AND tanggal_bl_awb <= ?");
                args.push(day(to));
            }
        }
        By::Run => {
            sql.push_str(
                " AND doc IN (SELECT r2.doc FROM rows r2 JOIN runs u2 ON u2.run = r2.run \
                 WHERE substr(u2.started_at, 1, 10) >= ? AND substr(u2.started_at, 1, 10) <= ?)",
            );
            args.push(filter.from.as_ref().map_or_else(String::new, day));
            args.push(filter.to.as_ref().map_or_else(|| "9999-12-31".into(), day));
        }
    }
    if !filter.statuses.is_empty() {
        let marks = vec!["?"; filter.statuses.len()].join(", ");
        sql.push_str(&format!(" AND status IN ({marks})"));
        args.extend(filter.statuses.iter().map(|s| s.as_str().to_string()));
    }
    if let Some(k) = &filter.kode_kantor {
        sql.push_str(" AND kode_kantor = ?");
        args.push(k.clone());
    }
    if let Some(aju) = &filter.aju {
        sql.push_str(" AND nomor_aju = ?");
        args.push(aju.clone());
    }
    let tx = conn.unchecked_transaction()?;
    tx.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS picked (doc TEXT PRIMARY KEY); DELETE FROM picked;",
    )?;
    tx.execute(
        &format!("INSERT OR IGNORE INTO picked {sql}"),
        params_from_iter(args.iter()),
    )?;
    let docs = load(&tx)?;
    tx.execute_batch("DELETE FROM picked")?;
    tx.commit()?;
    Ok(docs)
}

/// Every row of the picked documents with its run, and its photos (one line per photo, or one
/// with no photo), in the order of the history: one query, read once.
const HISTORY: &str = "SELECT r.doc, r.nomor_aju, r.nomor_bl_awb, r.tanggal_bl_awb, r.kode_kantor,
        r.folder, r.run, u.command, u.started_at, r.row, r.status, r.action, r.local_count,
        r.uploaded, r.server_count, r.missing_on_server, r.extra_on_server, r.attempts,
        r.requests, r.message, r.finished_at,
        p.n, p.file, p.bytes, p.sha256, p.content_type, p.sent_in, p.sent_at, p.on_server,
        p.waktu_rekam
    FROM picked k JOIN rows r ON r.doc = k.doc JOIN runs u ON u.run = r.run
        LEFT JOIN photos p ON p.run = r.run AND p.row = r.row
    ORDER BY r.doc, u.started_at, r.run, r.finished_at, r.row, p.n";

/// The document's fields as one row gives them, without history.
fn fields(r: &rusqlite::Row) -> rusqlite::Result<Doc> {
    Ok(Doc {
        nomor_aju: r.get(1)?,
        nomor_bl_awb: r.get(2)?,
        tanggal_bl_awb: r.get(3)?,
        kode_kantor: r.get(4)?,
        folder: r.get(5)?,
        history: Vec::new(),
    })
}

/// What one run did, from a line of [`HISTORY`], its photos still to come.
fn touch(r: &rusqlite::Row) -> rusqlite::Result<Touch> {
    let list = |s: String| serde_json::from_str::<Vec<String>>(&s).unwrap_or_default();
    Ok(Touch {
        run: r.get(6)?,
        command: r.get(7)?,
        run_started: r.get(8)?,
        row: r.get(9)?,
        status: r.get(10)?,
        action: r.get(11)?,
        local_count: r.get(12)?,
        uploaded: r.get(13)?,
        server_count: r.get(14)?,
        missing_on_server: list(r.get(15)?),
        extra_on_server: list(r.get(16)?),
        attempts: r.get(17)?,
        requests: r.get(18)?,
        message: r.get(19)?,
        finished_at: r.get(20)?,
        photos: Vec::new(),
    })
}

/// The photo of a line of [`HISTORY`], if the row has one there.
fn photo(r: &rusqlite::Row) -> rusqlite::Result<Option<Photo>> {
    if r.get::<_, Option<i64>>(21)?.is_none() {
        return Ok(None);
    }
    Ok(Some(Photo {
        file: r.get(22)?,
        bytes: r.get(23)?,
        sha256: r.get(24)?,
        content_type: r.get(25)?,
        sent_in: r.get(26)?,
        sent_at: r.get(27)?,
        on_server: r.get(28)?,
        waktu_rekam: r.get(29)?,
    }))
}

/// The picked documents with their whole history and photos, in order of tanggalBlAwb then
/// nomorAju.
fn load(conn: &Connection) -> anyhow::Result<Vec<Doc>> {
    let mut stmt = conn.prepare(HISTORY)?;
    let mut docs: Vec<Doc> = Vec::new();
    let mut last_doc = String::new();
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let doc: String = r.get(0)?;
        let run: String = r.get(6)?;
        let row: i64 = r.get(9)?;
        let same_doc = doc == last_doc && !docs.is_empty();
        let same_touch = same_doc
            && docs
                .last()
                .and_then(|d| d.history.last())
                .is_some_and(|t| t.run == run && t.row == row);
        if !same_touch {
            // The fields shown are those of the latest row (the rows come oldest first).
            let fields = fields(r)?;
            let touch = touch(r)?;
            match docs.last_mut() {
                Some(d) if same_doc => {
                    let history = std::mem::take(&mut d.history);
                    *d = Doc { history, ..fields };
                    d.history.push(touch);
                }
                _ => {
                    last_doc = doc;
                    docs.push(Doc {
                        history: vec![touch],
                        ..fields
                    });
                }
            }
        }
        if let (Some(p), Some(t)) = (
            photo(r)?,
            docs.last_mut().and_then(|d| d.history.last_mut()),
        ) {
            t.photos.push(p);
        }
    }
    docs.sort_by(|a, b| {
        (&a.tanggal_bl_awb, &a.nomor_aju, &a.nomor_bl_awb).cmp(&(
            &b.tanggal_bl_awb,
            &b.nomor_aju,
            &b.nomor_bl_awb,
        ))
    });
    Ok(docs)
}
