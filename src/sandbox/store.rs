//! What the simulated customs holds: one record per nomorAju with its photos in upload order.
//! Decisions (409, "add before kirim") are taken under one lock, so concurrent uploads can never
//! store a photo twice by accident. With `--state-dir` the records live in `state.json` (written
//! to a temporary file and renamed, so a kill never leaves half a file) and each photo in
//! `photos/<sha256>`; both are written before the answer goes out.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::Context;
use axum::body::Bytes;
use serde::{Deserialize, Serialize};

/// The four fields of the `data` part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declaration {
    pub nomor_aju: String,
    pub nomor_bl_awb: String,
    pub tanggal_bl_awb: String,
    pub kode_kantor: String,
}

/// One declaration's X-ray data, as `/__sandbox/state` lists it and `state.json` keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    pub nomor_aju: String,
    pub nomor_bl_awb: String,
    pub tanggal_bl_awb: String,
    pub kode_kantor: String,
    pub npwp_pemberitahu: String,
    pub photos: Vec<Photo>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Photo {
    pub nama_file: String,
    pub bytes: u64,
    pub sha256: String,
    pub content_type: String,
    pub waktu_rekam: String,
    /// The photo itself, kept in memory when there is no state folder.
    #[serde(skip)]
    pub data: Option<Bytes>,
    /// When this process stored it (`--stale-read-ms`); `None` for photos loaded from
    /// `state.json`, which are old enough for any replica.
    #[serde(skip)]
    pub stored_at: Option<Instant>,
}

impl Record {
    pub fn matches(&self, decl: &Declaration) -> bool {
        self.nomor_aju == decl.nomor_aju
            && self.nomor_bl_awb == decl.nomor_bl_awb
            && self.tanggal_bl_awb == decl.tanggal_bl_awb
            && self.kode_kantor == decl.kode_kantor
    }
}

/// What a kirim or add did.
#[derive(Debug)]
pub enum Stored {
    /// Photos appended; the record as it now stands (without photo bytes).
    Yes(Record),
    /// kirim: a record for this nomorAju already exists.
    Conflict,
    /// add: no record for this declaration.
    NoRecord,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct StateFile {
    records: Vec<Record>,
}

pub struct Store {
    inner: Mutex<Inner>,
    dir: Option<PathBuf>,
    /// Generation last written to `state.json`: writers coalesce (a writer finding a newer
    /// snapshot already on disk has nothing to do), and the file only ever moves forward.
    saved: Mutex<u64>,
}

#[derive(Default)]
struct Inner {
    records: BTreeMap<String, Record>,
    generation: u64,
}

impl Store {
    /// An empty store, or the one kept in `dir` (created when missing).
    pub fn open(dir: Option<&Path>) -> anyhow::Result<Store> {
        let mut records = BTreeMap::new();
        if let Some(dir) = dir {
            let photos = dir.join("photos");
            std::fs::create_dir_all(&photos)
                .with_context(|| format!("cannot create {}", photos.display()))?;
            let path = dir.join("state.json");
            if path.exists() {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                let file: StateFile = serde_json::from_str(&text)
                    .with_context(|| format!("{} is not a sandbox state file", path.display()))?;
                for record in file.records {
                    records.insert(record.nomor_aju.clone(), record);
                }
            }
            collect_garbage(&photos, &records)?;
        }
        Ok(Store {
            inner: Mutex::new(Inner {
                records,
                generation: 0,
            }),
            dir: dir.map(Path::to_path_buf),
            saved: Mutex::new(0),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-made record (every change is one
        // insert or one extend), so a poisoned lock is still safe to use.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn has_dir(&self) -> bool {
        self.dir.is_some()
    }

    /// kirim: a new record, unless one exists for this nomorAju.
    pub fn kirim(&self, decl: &Declaration, npwp: String, photos: Vec<Photo>) -> (Stored, u64) {
        let mut inner = self.lock();
        if inner.records.contains_key(&decl.nomor_aju) {
            return (Stored::Conflict, 0);
        }
        let photos = stamped(photos);
        let record = Record {
            nomor_aju: decl.nomor_aju.clone(),
            nomor_bl_awb: decl.nomor_bl_awb.clone(),
            tanggal_bl_awb: decl.tanggal_bl_awb.clone(),
            kode_kantor: decl.kode_kantor.clone(),
            npwp_pemberitahu: npwp,
            photos,
        };
        let answer = without_bytes(&record);
        inner.records.insert(decl.nomor_aju.clone(), record);
        inner.generation += 1;
        (Stored::Yes(answer), inner.generation)
    }

    /// add: more photos for an existing record whose four fields match.
    pub fn add(&self, decl: &Declaration, photos: Vec<Photo>) -> (Stored, u64) {
        let mut inner = self.lock();
        let Some(record) = inner
            .records
            .get_mut(&decl.nomor_aju)
            .filter(|r| r.matches(decl))
        else {
            return (Stored::NoRecord, 0);
        };
        record.photos.extend(stamped(photos));
        let answer = without_bytes(record);
        inner.generation += 1;
        (Stored::Yes(answer), inner.generation)
    }

    pub fn by_aju(&self, nomor_aju: &str) -> Option<Record> {
        self.lock().records.get(nomor_aju).map(without_bytes)
    }

    /// The records of a BL/AWB, by nomorAju (two declarations may share one).
    pub fn by_bl_awb(&self, nomor_bl_awb: &str, tanggal: &str, kantor: &str) -> Vec<Record> {
        self.lock()
            .records
            .values()
            .filter(|r| {
                r.nomor_bl_awb == nomor_bl_awb
                    && r.tanggal_bl_awb == tanggal
                    && r.kode_kantor == kantor
            })
            .map(without_bytes)
            .collect()
    }

    /// The bytes and content type of a stored photo, by sha256: from memory, or from its file
    /// under the state folder.
    pub fn photo(&self, sha256: &str) -> Option<(String, Bytes)> {
        let (content_type, data) = {
            let inner = self.lock();
            let photo = inner
                .records
                .values()
                .flat_map(|r| r.photos.iter())
                .find(|p| p.sha256 == sha256)?;
            (photo.content_type.clone(), photo.data.clone())
        };
        match (data, &self.dir) {
            (Some(data), _) => Some((content_type, data)),
            (None, Some(dir)) => std::fs::read(dir.join("photos").join(sha256))
                .ok()
                .map(|data| (content_type, Bytes::from(data))),
            (None, None) => None,
        }
    }

    /// Every record, sorted by nomorAju.
    pub fn records(&self) -> Vec<Record> {
        self.lock().records.values().map(without_bytes).collect()
    }

    /// Forget every record (photo files go at the next start's garbage collection).
    pub fn reset(&self) -> u64 {
        let mut inner = self.lock();
        inner.records.clear();
        inner.generation += 1;
        inner.generation
    }

    /// Write one photo under the state folder, named by its sha256 (identical photos share a
    /// file). Called before the record that names it is stored, so `state.json` never points at a
    /// missing file.
    pub fn write_photo(&self, sha256: &str, data: &[u8]) -> anyhow::Result<()> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        let photos = dir.join("photos");
        let path = photos.join(sha256);
        if path.exists() {
            return Ok(());
        }
        let mut tmp = tempfile::NamedTempFile::new_in(&photos)
            .with_context(|| format!("cannot write in {}", photos.display()))?;
        tmp.write_all(data)?;
        tmp.persist(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(())
    }

    /// Make `state.json` hold at least generation `generation`.
    pub fn persist(&self, generation: u64) -> anyhow::Result<()> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        let mut saved = self.saved.lock().unwrap_or_else(|e| e.into_inner());
        if *saved >= generation {
            return Ok(());
        }
        let (file, current) = {
            let inner = self.lock();
            let file = StateFile {
                records: inner.records.values().map(without_bytes).collect(),
            };
            (file, inner.generation)
        };
        let mut tmp = tempfile::NamedTempFile::new_in(dir)
            .with_context(|| format!("cannot write in {}", dir.display()))?;
        serde_json::to_writer(std::io::BufWriter::new(&mut tmp), &file)?;
        tmp.as_file().sync_data()?;
        let path = dir.join("state.json");
        tmp.persist(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        *saved = current;
        Ok(())
    }
}

/// The photos with the moment they are stored (called under the store's lock).
fn stamped(photos: Vec<Photo>) -> Vec<Photo> {
    let now = Instant::now();
    photos
        .into_iter()
        .map(|p| Photo {
            stored_at: Some(now),
            ..p
        })
        .collect()
}

fn without_bytes(record: &Record) -> Record {
    Record {
        photos: record
            .photos
            .iter()
            .map(|p| Photo {
                data: None,
                ..p.clone()
            })
            .collect(),
        ..record.clone()
    }
}

/// Remove photo files no record names (left by a request answered 409 or 404, or by a reset),
/// and warn about records whose photo file is missing.
fn collect_garbage(photos: &Path, records: &BTreeMap<String, Record>) -> anyhow::Result<()> {
    let wanted: HashSet<&str> = records
        .values()
        .flat_map(|r| r.photos.iter().map(|p| p.sha256.as_str()))
        .collect();
    for entry in std::fs::read_dir(photos)? {
        let entry = entry?;
        let name = entry.file_name();
        if !wanted.contains(name.to_string_lossy().as_ref()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    for sha in wanted {
        if !photos.join(sha).exists() {
            tracing::warn!(
                sha256 = sha,
                "a stored photo's file is missing from the state folder"
            );
        }
    }
    Ok(())
}
