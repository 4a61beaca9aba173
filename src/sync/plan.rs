//! Pure helpers of the protocol: how a row's photos are cut into requests, how the server's
//! list is compared with the local one, and whether what was sent is what was validated.

use std::collections::{BTreeMap, HashSet};

use crate::api::{ApiError, ServerRecord};
use crate::model::LocalImage;

/// Split `images` (in order) into requests of at most `max_images` images and `max_bytes`
/// bytes; an image bigger than `max_bytes` goes alone.
pub fn split_requests<'a>(
    images: &[&'a LocalImage],
    max_images: usize,
    max_bytes: u64,
) -> Vec<Vec<&'a LocalImage>> {
    let max_images = max_images.max(1);
    let mut requests: Vec<Vec<&LocalImage>> = Vec::new();
    let mut bytes = 0u64;
    for image in images {
        let fits = requests.last().is_some_and(|current| {
            current.len() < max_images && bytes.saturating_add(image.bytes) <= max_bytes
        });
        if fits {
            bytes = bytes.saturating_add(image.bytes);
            if let Some(current) = requests.last_mut() {
                current.push(image);
            }
        } else {
            bytes = image.bytes;
            requests.push(vec![image]);
        }
    }
    requests
}

/// Names the server lacks and names it holds beyond the local ones. A local name held twice
/// counts as extra once per additional copy; a foreign name counts once per copy.
pub fn compare(local: &[LocalImage], server: &ServerRecord) -> (Vec<String>, Vec<String>) {
    let local_names: HashSet<&str> = local.iter().map(|i| i.name.as_str()).collect();
    let mut seen: HashSet<&str> = HashSet::new();
    let mut extra = Vec::new();
    for photo in &server.detail {
        let name = photo.nama_file.as_str();
        if !local_names.contains(name) || !seen.insert(name) {
            extra.push(name.to_string());
        }
    }
    let missing = local
        .iter()
        .filter(|i| !seen.contains(i.name.as_str()))
        .map(|i| i.name.clone())
        .collect();
    (missing, extra)
}

/// The row's message when a photo's bytes as sent (`sent`: name → sha256, hashed while they
/// streamed) differ from the digest validation took: the file was rewritten during the run, so
/// customs holds bytes nobody checked. `None` when every digest agrees or was not reported.
pub fn changed_since_validation(
    batch: &[LocalImage],
    sent: &BTreeMap<String, String>,
) -> Option<String> {
    let changed: Vec<&str> = batch
        .iter()
        .filter(|image| sent.get(&image.name).is_some_and(|d| *d != image.sha256))
        .map(|image| image.name.as_str())
        .collect();
    match changed.as_slice() {
        [] => None,
        [name] => Some(format!(
            "photo {name} changed while the run was going: the bytes sent are not those \
             validated (images.csv holds the sha256 of the bytes sent)"
        )),
        names => Some(format!(
            "photos {} changed while the run was going: the bytes sent are not those validated \
             (images.csv holds the sha256 of the bytes sent)",
            names.join(", ")
        )),
    }
}

/// The retries left for one request. A 429 is a clear "not now" (every worker is already
/// paused), an unclear or unsent try is a fault: each kind gets `retries` of its own, so that a
/// gateway that throttles now and then does not eat the budget meant for real faults.
#[derive(Debug, Default)]
pub struct Budget {
    faults: u32,
    throttles: u32,
}

impl Budget {
    /// Count one more retry of this kind; `None` when its budget is spent. Else the backoff
    /// exponent for this retry.
    pub fn spend(&mut self, err: &ApiError, limit: u32) -> Option<u32> {
        let used = match err {
            ApiError::Throttled { .. } => &mut self.throttles,
            _ => &mut self.faults,
        };
        if *used >= limit {
            return None;
        }
        *used += 1;
        Some(*used - 1)
    }

    pub fn tries(&self) -> u32 {
        1 + self.faults + self.throttles
    }
}
