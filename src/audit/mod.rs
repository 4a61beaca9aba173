//! The outputs of `kirim-xray audit`: the documents of a period as the ledger gives them
//! ([`crate::ledger::query`]), written as audit.csv (one line per document), audit.xlsx (the
//! documents, every run's row, every photo with its sha256) and a self-contained audit.html, and
//! told in the terminal ([`text`]).

pub mod csv;
pub mod html;
#[cfg(test)]
mod tests;
pub mod text;
pub mod xlsx;

use std::path::Path;

use crate::ledger::query::Doc;
use crate::report::write_atomic_with;

pub const AUDIT_CSV: &str = "audit.csv";
pub const AUDIT_XLSX: &str = "audit.xlsx";
pub const AUDIT_HTML: &str = "audit.html";

/// What the audit was asked, for the heading of every output.
#[derive(Debug, Clone)]
pub struct Scope {
    /// One line: the period and the filters, e.g. `tanggalBlAwb 2026-11-01 to 2026-11-30`.
    pub title: String,
    /// When the audit was made (RFC 3339 UTC).
    pub made_at: String,
    /// The ledger it read.
    pub ledger: String,
}

/// The runs that touched a document, as one line: `RUN command STATUS; ...`.
pub fn history_line(doc: &Doc) -> String {
    doc.history
        .iter()
        .map(|t| format!("{} {} {}", t.run, t.command, t.status))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Write audit.csv, audit.xlsx and audit.html into `dir` (created when missing).
pub fn write_outputs(dir: &Path, scope: &Scope, docs: &[Doc]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    // The workbook takes longest: it is written beside the other two.
    let (book, rest) = std::thread::scope(|s| {
        let book = s.spawn(|| xlsx::write(&dir.join(AUDIT_XLSX), scope, docs));
        let rest = write_atomic_with(dir, AUDIT_CSV, |f| csv::write(f, docs))
            .and_then(|()| write_atomic_with(dir, AUDIT_HTML, |f| html::write(f, scope, docs)));
        (book.join(), rest)
    });
    rest?;
    book.map_err(|_| anyhow::anyhow!("writing {AUDIT_XLSX} failed"))??;
    Ok(())
}
