//! The multipart body of kirim and add, streamed from disk and hashed on the way. The sha256 an
//! auditor reads in images.csv must be that of the bytes customs received, not of the file as it
//! was when the row was validated: a photo rewritten in between (same size or not) would
//! otherwise carry a digest nobody sent. So each photo's part reads through a [`Tap`] that hashes
//! exactly the bytes it hands to the request body; nothing is ever held whole in memory.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Take};
use std::sync::{Arc, Mutex};

use reqwest::blocking::multipart::{Form, Part};
use sha2::{Digest, Sha256};

use super::ApiError;
use crate::model::{DocMeta, LocalImage};

/// The running digest of one photo's bytes as they went into the body.
#[derive(Debug, Default)]
struct Hashed {
    hasher: Sha256,
    bytes: u64,
}

/// A reader that hashes what it reads. Shared with the [`Digests`] of its request, which reads
/// the result once the request is answered.
struct Tap {
    file: Take<File>,
    seen: Arc<Mutex<Hashed>>,
}

impl Read for Tap {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read(buf)?;
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.hasher.update(&buf[..n]);
        seen.bytes += n as u64;
        Ok(n)
    }
}

/// The digests of one request's photos, readable after the request.
#[derive(Debug, Default)]
pub struct Digests(Vec<(String, u64, Arc<Mutex<Hashed>>)>);

impl Digests {
    /// Photo name → sha256 of the bytes sent, for every photo whose bytes all went into the
    /// body (all of them, once the server has answered that it stored the request).
    pub fn sent(&self) -> BTreeMap<String, String> {
        self.0
            .iter()
            .filter_map(|(name, expected, seen)| {
                let seen = seen.lock().unwrap_or_else(|p| p.into_inner());
                (seen.bytes == *expected)
                    .then(|| (name.clone(), hex::encode(seen.hasher.clone().finalize())))
            })
            .collect()
    }
}

/// The multipart body: `data` as application/json, then one `images` part per photo, streamed
/// from its file through a [`Tap`]. Built anew for every try (a streamed body is one-shot), with
/// the [`Digests`] of that try.
pub fn upload_form(meta: &DocMeta, images: &[LocalImage]) -> Result<(Form, Digests), ApiError> {
    let data = serde_json::to_string(meta)
        .map_err(|e| ApiError::Local(format!("cannot encode the data part: {e}")))?;
    let data = Part::text(data)
        .mime_str("application/json")
        .map_err(|e| ApiError::Local(format!("data part: {e}")))?;
    let mut form = Form::new().part("data", data);
    let mut digests = Digests::default();
    for image in images {
        let cannot = |why: String| {
            ApiError::Local(format!(
                "photo {} ({}) {why}",
                image.name,
                image.path.display()
            ))
        };
        let file = File::open(&image.path).map_err(|e| cannot(format!("cannot be opened: {e}")))?;
        let now = file
            .metadata()
            .map_err(|e| cannot(format!("cannot be read: {e}")))?
            .len();
        if now != image.bytes {
            return Err(cannot(format!(
                "changed since it was checked ({} bytes then, {now} now)",
                image.bytes
            )));
        }
        let seen = Arc::new(Mutex::new(Hashed::default()));
        // Never more than the length announced in the body: a file that grows while it is read
        // cannot make the digest cover bytes that were not sent.
        let tap = Tap {
            file: file.take(image.bytes),
            seen: Arc::clone(&seen),
        };
        digests.0.push((image.name.clone(), image.bytes, seen));
        let part = Part::reader_with_length(tap, image.bytes)
            .file_name(image.name.clone())
            .mime_str(image.content_type)
            .map_err(|e| cannot(format!("has an unusable content type: {e}")))?;
        form = form.part("images", part);
    }
    Ok((form, digests))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tap_hashes_exactly_the_bytes_it_hands_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jpg");
        std::fs::write(&path, b"0123456789 and more than announced").unwrap();
        let seen = Arc::new(Mutex::new(Hashed::default()));
        let mut tap = Tap {
            file: File::open(&path).unwrap().take(10),
            seen: Arc::clone(&seen),
        };
        let mut out = Vec::new();
        let mut buf = [0u8; 3];
        loop {
            let n = tap.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        assert_eq!(out, b"0123456789");
        let digests = Digests(vec![("a.jpg".into(), 10, Arc::clone(&seen))]);
        assert_eq!(
            digests.sent()["a.jpg"],
            hex::encode(Sha256::digest(b"0123456789"))
        );
        // A photo not read to its end has no digest of bytes sent.
        let partial = Digests(vec![("a.jpg".into(), 11, seen)]);
        assert!(partial.sent().is_empty());
    }
}
