//! What earlier runs under the same `--out` saw on the server (DESIGN "Per-row protocol", rule
//! 8): a document that an earlier run saw stored, or answered 409 for, starts with get, so that a
//! re-run sends no photo bytes for what customs already holds. A document never seen goes kirim
//! first, with no extra get.
//!
//! Also what customs said it did not know: a kirim answered "BL/AWB not found" (NOT_FOUND) for
//! the same nomorAju, nomorBlAwb, tanggalBlAwb and kodeKantor. A plain re-run within
//! `recheck_not_found` of that answer asks with get only (the photos would only hear the same
//! answer again); `retry`, or a re-run after that time, asks with the photos again.
//!
//! Read from the run folders' journals, line by line, keeping only the documents of the manifest
//! at hand (as 64-bit digests): memory follows the manifest, not the history. A false match
//! costs at most one get, or (for a BL/AWB) a NOT_FOUND that says when and how to ask again.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::model::{DocMeta, RowStatus};
use crate::report::JOURNAL_FILE;

/// The documents of the manifest at hand that an earlier run saw on the server, and the ones
/// whose BL/AWB customs did not know when an earlier run asked.
#[derive(Debug, Default)]
pub struct SeenBefore {
    held: HashSet<u64>,
    /// Digest of (nomorAju, nomorBlAwb, tanggalBlAwb, kodeKantor) → the latest "BL/AWB not
    /// found" answer to a kirim: when, and in which run folder.
    unknown: HashMap<u64, NotFound>,
}

/// When customs last said it did not know a document's BL/AWB, and in which run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotFound {
    pub at: DateTime<Utc>,
    pub run: String,
}

impl SeenBefore {
    /// An earlier run saw X-ray data for this nomorAju on the server.
    pub fn contains(&self, nomor_aju: &str) -> bool {
        self.held.contains(&key(nomor_aju))
    }

    /// The latest "BL/AWB not found" for this very document if it is younger than `window` at
    /// `now`, and no earlier run saw the document's X-ray data on the server since.
    pub fn not_found_within(
        &self,
        meta: &DocMeta,
        window: Duration,
        now: DateTime<Utc>,
    ) -> Option<&NotFound> {
        let found = self.unknown.get(&doc_key(meta))?;
        let window = chrono::Duration::from_std(window).ok()?;
        (!self.contains(&meta.nomor_aju) && found.at <= now && now < found.at + window)
            .then_some(found)
    }

    /// Documents seen on the server.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// Documents whose BL/AWB customs did not know when an earlier run asked.
    pub fn not_found_len(&self) -> usize {
        self.unknown.len()
    }
}

/// The few fields of a journal line that say whether the server held the document.
#[derive(Deserialize)]
struct Line {
    fields: Fields,
    status: RowStatus,
    #[serde(default)]
    action: String,
    uploaded: usize,
    server_count: Option<usize>,
    #[serde(default)]
    finished_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct Fields {
    nomor_aju: String,
    #[serde(default)]
    nomor_bl_awb: String,
    #[serde(default)]
    tanggal_bl_awb: String,
    #[serde(default)]
    kode_kantor: String,
}

impl Line {
    /// The server held X-ray data for the document: photos were acknowledged, a get listed some,
    /// or a verification compared a record (MATCH or MISMATCH).
    fn seen_on_server(&self) -> bool {
        self.uploaded > 0
            || self.server_count.is_some_and(|n| n > 0)
            || matches!(self.status, RowStatus::Match | RowStatus::Mismatch)
    }

    /// Customs answered a kirim with "BL/AWB not found" (not a reconcile's get, nor a re-run
    /// that only asked with get): when.
    fn kirim_not_found(&self) -> Option<DateTime<Utc>> {
        let asked = self.action.split('+').any(|a| a == "kirim");
        (self.status == RowStatus::NotFound && asked)
            .then_some(self.finished_at)
            .flatten()
    }

    fn doc_key(&self) -> u64 {
        let f = &self.fields;
        four(
            &f.nomor_aju,
            &f.nomor_bl_awb,
            &f.tanggal_bl_awb,
            &f.kode_kantor,
        )
    }
}

fn key(nomor_aju: &str) -> u64 {
    let mut h = DefaultHasher::new();
    nomor_aju.hash(&mut h);
    h.finish()
}

fn four(aju: &str, bl_awb: &str, tanggal: &str, kantor: &str) -> u64 {
    let mut h = DefaultHasher::new();
    (aju, bl_awb, tanggal, kantor).hash(&mut h);
    h.finish()
}

fn doc_key(meta: &DocMeta) -> u64 {
    four(
        &meta.nomor_aju,
        &meta.nomor_bl_awb,
        &meta.tanggal_bl_awb,
        &meta.kode_kantor,
    )
}

/// Scan every `<out>/*/journal.jsonl` for the documents in `manifest` (their nomorAju). Folders
/// and lines that cannot be read are passed over: the worst they cost is a kirim answered 409,
/// or a kirim that asks customs again about a BL/AWB.
pub fn seen_before(out: &Path, manifest: impl IntoIterator<Item = impl AsRef<str>>) -> SeenBefore {
    let wanted: HashSet<u64> = manifest.into_iter().map(|aju| key(aju.as_ref())).collect();
    let mut seen = SeenBefore::default();
    let Ok(entries) = std::fs::read_dir(out) else {
        return seen;
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
        let run = entry.file_name().to_string_lossy().into_owned();
        for line in BufReader::new(file).lines() {
            let Ok(line) = line else { break };
            let Ok(line) = serde_json::from_str::<Line>(&line) else {
                continue;
            };
            let k = key(&line.fields.nomor_aju);
            if !wanted.contains(&k) {
                continue;
            }
            if line.seen_on_server() {
                seen.held.insert(k);
            }
            if let Some(at) = line.kirim_not_found() {
                let latest = seen.unknown.entry(line.doc_key()).or_insert(NotFound {
                    at,
                    run: run.clone(),
                });
                if at > latest.at {
                    *latest = NotFound {
                        at,
                        run: run.clone(),
                    };
                }
            }
        }
    }
    seen
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

    fn asked(aju: &str, bl_awb: &str, status: &str, action: &str, at: &str) -> String {
        serde_json::json!({
            "row": 2,
            "fields": {"nomor_aju": aju, "nomor_bl_awb": bl_awb, "tanggal_bl_awb": "2025-01-01",
                       "kode_kantor": "009000", "folder": "f"},
            "status": status,
            "action": action,
            "uploaded": 0,
            "server_count": null,
            "finished_at": at,
            "images": [],
        })
        .to_string()
    }

    fn meta(aju: &str, bl_awb: &str) -> DocMeta {
        DocMeta {
            nomor_aju: aju.into(),
            nomor_bl_awb: bl_awb.into(),
            tanggal_bl_awb: "2025-01-01".into(),
            kode_kantor: "009000".into(),
        }
    }

    #[test]
    fn a_bl_awb_customs_did_not_know_is_remembered_for_the_window() {
        let out = tempfile::tempdir().unwrap();
        let write = |run: &str, lines: &[String]| {
            let dir = out.path().join(run);
            std::fs::create_dir(&dir).unwrap();
            std::fs::write(dir.join(JOURNAL_FILE), lines.join("\n")).unwrap();
        };
        write(
            "20261101T000000Z",
            &[
                asked("A", "BL-A", "NOT_FOUND", "kirim", "2026-11-01T00:00:00Z"),
                // A reconcile's NOT_FOUND says "no X-ray data", not "BL/AWB unknown".
                asked("R", "BL-R", "NOT_FOUND", "get", "2026-11-01T00:00:00Z"),
                asked("S", "BL-S", "NOT_FOUND", "kirim", "2026-11-01T00:00:00Z"),
            ],
        );
        write(
            "20261101T003000Z",
            &[
                // Asked again with the photos later: the window starts from the latest answer.
                asked("A", "BL-A", "NOT_FOUND", "kirim", "2026-11-01T00:30:00Z"),
                // A re-run that only asked with get does not move it.
                asked("S", "BL-S", "NOT_FOUND", "none", "2026-11-01T00:50:00Z"),
            ],
        );
        let seen = seen_before(out.path(), ["A", "R", "S"]);
        let hour = Duration::from_secs(3600);
        let at = |t: &str| t.parse::<DateTime<Utc>>().unwrap();
        let now = at("2026-11-01T01:00:00Z");

        let a = seen
            .not_found_within(&meta("A", "BL-A"), hour, now)
            .unwrap();
        assert_eq!(a.at, at("2026-11-01T00:30:00Z"));
        assert_eq!(a.run, "20261101T003000Z");
        // A corrected BL/AWB is another document: it is asked about with its photos.
        assert!(
            seen.not_found_within(&meta("A", "BL-A2"), hour, now)
                .is_none()
        );
        assert!(
            seen.not_found_within(&meta("R", "BL-R"), hour, now)
                .is_none()
        );
        // S was answered at 00:00: one hour later it is asked again.
        assert!(
            seen.not_found_within(&meta("S", "BL-S"), hour, now)
                .is_none()
        );
        let earlier = at("2026-11-01T00:59:59Z");
        assert!(
            seen.not_found_within(&meta("S", "BL-S"), hour, earlier)
                .is_some()
        );
        // A window of 0 always asks.
        assert!(
            seen.not_found_within(&meta("A", "BL-A"), Duration::ZERO, now)
                .is_none()
        );
        assert_eq!(seen.not_found_len(), 2);
        assert!(seen.is_empty(), "none of them was seen on the server");
    }
}
