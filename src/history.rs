//! What earlier runs under the same `--out` saw on the server (DESIGN "Per-row protocol", rule
//! 8): a document that an earlier run saw stored, or answered 409 for, starts with get, so that a
//! re-run sends no photo bytes for what customs already holds. A document never seen goes kirim
//! first, with no extra get.
//!
//! Read from the run folders' journals, line by line, keeping only the documents of the manifest
//! at hand (as 64-bit digests of their nomorAju): memory follows the manifest, not the history.
//! A false match only costs one get.

use std::collections::HashSet;
use std::fs::File;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde::Deserialize;

use crate::model::RowStatus;
use crate::report::JOURNAL_FILE;

/// The documents of the manifest at hand that an earlier run saw on the server.
#[derive(Debug, Default)]
pub struct SeenBefore(HashSet<u64>);

impl SeenBefore {
    pub fn contains(&self, nomor_aju: &str) -> bool {
        self.0.contains(&key(nomor_aju))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The few fields of a journal line that say whether the server held the document.
#[derive(Deserialize)]
struct Line {
    fields: Fields,
    status: RowStatus,
    uploaded: usize,
    server_count: Option<usize>,
}

#[derive(Deserialize)]
struct Fields {
    nomor_aju: String,
}

impl Line {
    /// The server held X-ray data for the document: photos were acknowledged, a get listed some,
    /// or a verification compared a record (MATCH or MISMATCH).
    fn seen_on_server(&self) -> bool {
        self.uploaded > 0
            || self.server_count.is_some_and(|n| n > 0)
            || matches!(self.status, RowStatus::Match | RowStatus::Mismatch)
    }
}

fn key(nomor_aju: &str) -> u64 {
    let mut h = DefaultHasher::new();
    nomor_aju.hash(&mut h);
    h.finish()
}

/// Scan every `<out>/*/journal.jsonl` for the documents in `manifest` (their nomorAju). Folders
/// and lines that cannot be read are passed over: the worst they cost is a kirim answered 409.
pub fn seen_before(out: &Path, manifest: impl IntoIterator<Item = impl AsRef<str>>) -> SeenBefore {
    let wanted: HashSet<u64> = manifest.into_iter().map(|aju| key(aju.as_ref())).collect();
    let mut seen = HashSet::new();
    let Ok(entries) = std::fs::read_dir(out) else {
        return SeenBefore::default();
    };
    for entry in entries.flatten() {
        // `latest` points at one of the run folders: reading it again would add nothing.
        if entry
            .file_type()
            .map_or(true, |t| t.is_symlink() || !t.is_dir())
        {
            continue;
        }
        let Ok(file) = File::open(entry.path().join(JOURNAL_FILE)) else {
            continue;
        };
        for line in BufReader::new(file).lines() {
            let Ok(line) = line else { break };
            let Ok(line) = serde_json::from_str::<Line>(&line) else {
                continue;
            };
            let k = key(&line.fields.nomor_aju);
            if wanted.contains(&k) && line.seen_on_server() {
                seen.insert(k);
            }
        }
    }
    SeenBefore(seen)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(aju: &str, status: &str, uploaded: usize, server_count: Option<usize>) -> String {
        serde_json::json!({
            "row": 2,
            "fields": {"nomor_aju": aju, "nomor_bl_awb": "B", "tanggal_bl_awb": "2025-01-01",
                       "kode_kantor": "009000", "folder": "f"},
            "status": status,
            "uploaded": uploaded,
            "server_count": server_count,
            "images": [],
        })
        .to_string()
    }

    #[test]
    fn documents_the_server_held_in_an_earlier_run_are_seen() {
        let out = tempfile::tempdir().unwrap();
        let run = out.path().join("20261101T000000Z");
        std::fs::create_dir(&run).unwrap();
        let journal = [
            line("STORED", "FAILED", 2, None),
            line("LISTED", "FAILED", 0, Some(1)),
            line("MATCHED", "MATCH", 0, Some(3)),
            line("UNKNOWN_BL", "NOT_FOUND", 0, None),
            line("NOT_IN_MANIFEST", "MATCH", 1, Some(1)),
            "{\"torn".to_string(),
        ]
        .join("\n");
        std::fs::write(run.join(JOURNAL_FILE), journal).unwrap();
        // `latest` and stray files are passed over.
        std::os::unix::fs::symlink(&run, out.path().join("latest")).unwrap();
        std::fs::write(out.path().join(".lock"), "x").unwrap();

        let manifest = ["STORED", "LISTED", "MATCHED", "UNKNOWN_BL", "NEW"];
        let seen = seen_before(out.path(), manifest);
        assert!(seen.contains("STORED") && seen.contains("LISTED") && seen.contains("MATCHED"));
        assert!(!seen.contains("UNKNOWN_BL") && !seen.contains("NEW"));
        assert!(
            !seen.contains("NOT_IN_MANIFEST"),
            "only the manifest's documents are kept"
        );
        assert_eq!(seen.len(), 3);

        // No out folder yet: nothing seen.
        assert!(seen_before(&out.path().join("none"), manifest).is_empty());
    }
}
