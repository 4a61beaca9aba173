//! Domain types shared by validation, the per-row protocol and the reports: a validated row
//! (`Shipment`) with its local photos, and the statuses a row can end with.

use std::fmt;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The four fields that identify a CN document at customs; serialised as the API's `data` part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocMeta {
    #[serde(rename = "nomorAju")]
    pub nomor_aju: String,
    #[serde(rename = "nomorBlAwb")]
    pub nomor_bl_awb: String,
    /// Strict `yyyy-MM-dd`.
    #[serde(rename = "tanggalBlAwb")]
    pub tanggal_bl_awb: String,
    /// Exactly 6 digits.
    #[serde(rename = "kodeKantor")]
    pub kode_kantor: String,
}

/// One photo on local disk, recognised by its content. `name` is the key the server knows it by
/// (`namaFile`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalImage {
    pub name: String,
    pub path: PathBuf,
    pub bytes: u64,
    /// Lower-case hex sha256 of the file's bytes, taken when the row was validated.
    pub sha256: String,
    /// Sniffed from the magic bytes: `image/jpeg`, `image/png`, ...
    pub content_type: &'static str,
}

/// A valid manifest row: what will be sent, and from where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shipment {
    /// Row number as a spreadsheet shows it (header = 1).
    pub row: usize,
    pub meta: DocMeta,
    /// The `folder` cell as written in the manifest.
    pub folder: String,
    /// Sorted by name; never empty.
    pub images: Vec<LocalImage>,
}

/// How a row ended (DESIGN "Per-row protocol").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RowStatus {
    Match,
    Mismatch,
    NotFound,
    Invalid,
    Failed,
    Skipped,
}

impl RowStatus {
    pub const ALL: [RowStatus; 6] = [
        RowStatus::Match,
        RowStatus::Mismatch,
        RowStatus::NotFound,
        RowStatus::Invalid,
        RowStatus::Failed,
        RowStatus::Skipped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RowStatus::Match => "MATCH",
            RowStatus::Mismatch => "MISMATCH",
            RowStatus::NotFound => "NOT_FOUND",
            RowStatus::Invalid => "INVALID",
            RowStatus::Failed => "FAILED",
            RowStatus::Skipped => "SKIPPED",
        }
    }

    pub fn parse(s: &str) -> Option<RowStatus> {
        RowStatus::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

impl fmt::Display for RowStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The five cells of a row as text, for reports, whether the row is valid or not.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowFields {
    pub nomor_aju: String,
    pub nomor_bl_awb: String,
    pub tanggal_bl_awb: String,
    pub kode_kantor: String,
    pub folder: String,
}

/// In which request a photo went to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SentIn {
    Kirim,
    Add,
    /// Not sent by this run (already on the server, row not found, invalid, skipped...).
    None,
}

impl SentIn {
    pub fn as_str(self) -> &'static str {
        match self {
            SentIn::Kirim => "kirim",
            SentIn::Add => "add",
            SentIn::None => "none",
        }
    }
}

/// The evidence for one local photo: one line of images.csv.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageResult {
    pub file: String,
    pub bytes: u64,
    pub sha256: String,
    pub content_type: String,
    pub sent_in: SentIn,
    pub sent_at: Option<DateTime<Utc>>,
    /// Whether the final get listed this name (None when no get answered).
    pub on_server: Option<bool>,
    pub server_waktu_rekam: Option<String>,
}

/// How one manifest row ended: one line of results.csv, and one line of journal.jsonl together
/// with its images. Everything the outputs need is here, so they can be rebuilt from the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowResult {
    pub row: usize,
    pub fields: RowFields,
    pub status: RowStatus,
    /// What the protocol did: `kirim`, `kirim+add`, `add` (after a 409), `none` (all already
    /// there), `get` (reconcile), `-` (nothing: invalid or skipped).
    pub action: String,
    pub local_count: usize,
    /// Photos sent by this run and acknowledged.
    pub uploaded: usize,
    /// `totalFotoTerupload`/detail length of the final get; None when no get answered.
    pub server_count: Option<usize>,
    pub missing_on_server: Vec<String>,
    pub extra_on_server: Vec<String>,
    pub npwp_pemberitahu: Option<String>,
    /// Tries of the row's requests, counting retries (1 = every request went through first time).
    pub attempts: u32,
    /// API requests made for this row.
    pub requests: u32,
    /// Why the row ended as it did: server message, problems, error.
    pub message: String,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub images: Vec<ImageResult>,
}

/// 128 bits of the sha256 of `text`: a key that takes 16 bytes whatever the text's length, for
/// the indexes that hold one entry per row (duplicates, journal lines, documents found again).
/// Two different values never share one in practice.
pub fn short_digest(text: &str) -> [u8; 16] {
    use sha2::{Digest, Sha256};
    let full = Sha256::digest(text.as_bytes());
    let mut out = [0; 16];
    out.copy_from_slice(&full[..16]);
    out
}
