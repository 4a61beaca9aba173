//! The outputs of `kirim-xray audit`: the documents of a period as the ledger gives them
//! ([`crate::ledger::query`]), written as audit.csv (one line per document), audit.xlsx (the
//! documents, and the evidence: every run's row, one line per photo with its sha256) and a
//! self-contained audit.html, and told in the terminal ([`text`]).

pub mod csv;
pub mod data;
pub mod html;
#[cfg(test)]
mod tests;
pub mod text;
pub mod xlsx;

use std::path::Path;

use crate::ledger::query::Doc;
use anyhow::Context;

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

/// Write `dir/name` through a temporary file renamed into place, so a reader never sees half a
/// file. Not pushed to disk first, unlike a run's outputs: an audit is made again in seconds from
/// the ledger, and the wait would be the auditor's.
fn write_file(
    dir: &Path,
    name: &str,
    write: impl FnOnce(&mut std::fs::File) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let target = dir.join(name);
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let mut tmp = builder
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    write(tmp.as_file_mut()).with_context(|| format!("cannot write {}", target.display()))?;
    tmp.persist(&target)
        .with_context(|| format!("cannot write {}", target.display()))?;
    Ok(())
}

/// Write audit.csv, audit.xlsx and audit.html into `dir` (created when missing).
pub fn write_outputs(dir: &Path, scope: &Scope, docs: &[Doc]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    // The workbook takes longest: it is written beside the other two.
    let (book, rest) = std::thread::scope(|s| {
        let book = s.spawn(|| xlsx::write(&dir.join(AUDIT_XLSX), scope, docs));
        let rest = write_file(dir, AUDIT_CSV, |f| csv::write(f, docs))
            .and_then(|()| write_file(dir, AUDIT_HTML, |f| html::write(f, scope, docs)));
        (book.join(), rest)
    });
    rest?;
    book.map_err(|_| anyhow::anyhow!("writing {AUDIT_XLSX} failed"))??;
    Ok(())
}
