//! The verdict of a row from the server's record (DESIGN "Per-row protocol", step 6): MATCH only
//! when customs holds exactly this row's photos under this row's document. Shared by the upload
//! protocol and by `reconcile`.

use std::collections::{HashMap, HashSet};

use crate::api::ServerRecord;
use crate::model::{ImageResult, LocalImage, RowStatus, SentIn};

use super::plan::compare;
use super::view::{foreign, list_is_complete};
use crate::model::DocMeta;

/// What the final get proves about a row.
#[derive(Debug, Default)]
pub struct Verdict {
    pub status: Option<RowStatus>,
    pub message: String,
    pub missing: Vec<String>,
    pub extra: Vec<String>,
    /// The record is another document's: nothing in it is evidence for this row.
    pub foreign: bool,
    /// Local names the server's incomplete list does not show: neither held nor absent.
    pub unknown: HashSet<String>,
}

/// Judge `record` (the latest get) against the local photos. `acked` tells whether the server
/// acknowledged storing a photo during this run, for the message.
pub fn judge(
    meta: &DocMeta,
    images: &[LocalImage],
    record: &ServerRecord,
    acked: impl Fn(&str) -> bool,
) -> Verdict {
    if let Some(why) = foreign(meta, record) {
        return Verdict {
            status: Some(RowStatus::Mismatch),
            message: why,
            foreign: true,
            ..Verdict::default()
        };
    }
    let (mut missing, extra) = compare(images, record);
    let mut unknown = HashSet::new();
    let mut notes = Vec::new();
    if !list_is_complete(record) {
        let total = record.total_foto_terupload.unwrap_or_default();
        let listed = record.detail.len();
        unknown = missing.drain(..).collect();
        notes.push(if unknown.is_empty() {
            format!("the server counts {total} photos but lists only {listed}")
        } else {
            format!(
                "the server lists only {listed} of its {total} photos: {} local photo{} not listed cannot be checked",
                unknown.len(),
                plural(unknown.len())
            )
        });
    }
    let mismatch = !missing.is_empty() || !extra.is_empty() || !notes.is_empty();
    if !missing.is_empty() || !extra.is_empty() {
        let lost = missing.iter().filter(|name| acked(name)).count();
        let lost_note = if lost > 0 {
            format!(" ({lost} of them acknowledged by the server when sent, yet still not listed)")
        } else {
            String::new()
        };
        notes.insert(
            0,
            format!(
                "{} missing on server{lost_note}, {} extra on server",
                missing.len(),
                extra.len()
            ),
        );
    }
    Verdict {
        status: Some(if mismatch {
            RowStatus::Mismatch
        } else {
            RowStatus::Match
        }),
        message: notes.join("; "),
        missing,
        extra,
        foreign: false,
        unknown,
    }
}

/// Per-photo evidence: how this run sent it (and the digest of the bytes sent), and what the
/// record says of it.
pub fn image_results(
    images: &[LocalImage],
    sent: &HashMap<String, (SentIn, chrono::DateTime<chrono::Utc>)>,
    sent_sha256: &HashMap<String, String>,
    record: Option<&ServerRecord>,
    verdict: &Verdict,
) -> Vec<ImageResult> {
    let record = record.filter(|_| !verdict.foreign);
    let server_names: HashMap<&str, Option<&String>> = record
        .iter()
        .flat_map(|r| r.detail.iter())
        .rev() // the first entry of a name wins
        .map(|p| (p.nama_file.as_str(), p.waktu_rekam.as_ref()))
        .collect();
    images
        .iter()
        .map(|image| {
            let (sent_in, sent_at) = match sent.get(&image.name) {
                Some((how, when)) => (*how, Some(*when)),
                None => (SentIn::None, None),
            };
            let on_server = record
                .filter(|_| !verdict.unknown.contains(&image.name))
                .map(|_| server_names.contains_key(image.name.as_str()));
            ImageResult {
                file: image.name.clone(),
                bytes: image.bytes,
                // The digest of the bytes sent where the sender reported one.
                sha256: sent_sha256
                    .get(&image.name)
                    .unwrap_or(&image.sha256)
                    .clone(),
                content_type: image.content_type.to_string(),
                sent_in,
                sent_at,
                on_server,
                server_waktu_rekam: server_names
                    .get(image.name.as_str())
                    .and_then(|w| w.cloned()),
            }
        })
        .collect()
}

pub fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
