//! What one row knows of the server's record while the protocol runs: whether it exists, which
//! names get has listed, and whether that list can be trusted to be complete. Kept apart from the
//! protocol so that the rules "seen once means stored" and "an incomplete list proves no absence"
//! live in one place.

use std::collections::HashSet;

use crate::api::ServerRecord;
use crate::model::DocMeta;

/// Does the server hold X-ray data for the nomorAju?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existence {
    /// Not asked yet: try kirim, which says so.
    Unknown,
    /// get answered 404, or add answered "no X-ray data yet".
    Absent,
    /// A get listed it, kirim or add stored into it, or kirim answered 409.
    Held,
}

/// The server's record as far as this row has seen it.
#[derive(Debug)]
pub struct ServerView {
    pub existence: Existence,
    /// Every name a get listed during this row. A name seen once is taken as stored: a later get
    /// that lacks it is more likely a lagging replica than a deletion, and sending it again could
    /// put it on the server twice.
    seen: HashSet<String>,
    /// The latest get listed fewer names than its `totalFotoTerupload`: names it did not list may
    /// still be on the server, so they are never taken as absent.
    pub incomplete: bool,
}

impl ServerView {
    pub fn new() -> ServerView {
        ServerView {
            existence: Existence::Unknown,
            seen: HashSet::new(),
            incomplete: false,
        }
    }

    /// Take in what a get answered. Existence only grows here: a 404 from get after the server
    /// stored or acknowledged something is a lagging read, not a deletion.
    pub fn learn(&mut self, record: Option<&ServerRecord>) {
        match record {
            Some(record) => {
                self.existence = Existence::Held;
                self.seen
                    .extend(record.detail.iter().map(|p| p.nama_file.clone()));
                self.incomplete = !list_is_complete(record);
            }
            None => {
                if self.existence == Existence::Unknown {
                    self.existence = Existence::Absent;
                }
                self.incomplete = false;
            }
        }
    }

    /// The server said for sure that it holds nothing (add answered `code:404`).
    pub fn forget(&mut self) {
        self.existence = Existence::Absent;
        self.seen.clear();
        self.incomplete = false;
    }

    /// Photos stored by this run's requests.
    pub fn stored(&mut self, names: impl IntoIterator<Item = String>) {
        self.existence = Existence::Held;
        self.seen.extend(names);
    }

    pub fn has(&self, name: &str) -> bool {
        self.seen.contains(name)
    }
}

/// Whether get's `detail` lists every photo the server counts.
pub fn list_is_complete(record: &ServerRecord) -> bool {
    record
        .total_foto_terupload
        .is_none_or(|total| total <= record.detail.len() as u64)
}

/// Why the server's record is not this row's document, if it is not: the nomorAju is the key, so
/// a record under it with another BL/AWB, date or office belongs to another consignment, and
/// nothing may be added to it. A field the answer leaves out is not held against it.
pub fn foreign(meta: &DocMeta, record: &ServerRecord) -> Option<String> {
    let differs =
        |server: &Option<String>, local: &str| server.as_deref().is_some_and(|s| s.trim() != local);
    let bl = differs(&record.nomor_bl_awb, &meta.nomor_bl_awb);
    let date = differs(&record.tanggal_bl_awb, &meta.tanggal_bl_awb);
    let office = differs(&record.kode_kantor, &meta.kode_kantor);
    if !(bl || date || office) {
        return None;
    }
    let or_unknown = |v: &Option<String>| v.clone().unwrap_or_else(|| "?".into());
    Some(format!(
        "nomorAju {} on the server belongs to BL/AWB {} of {} at office {} (this row: {} of {} at {}); nothing was added to it",
        meta.nomor_aju,
        or_unknown(&record.nomor_bl_awb),
        or_unknown(&record.tanggal_bl_awb),
        or_unknown(&record.kode_kantor),
        meta.nomor_bl_awb,
        meta.tanggal_bl_awb,
        meta.kode_kantor,
    ))
}
