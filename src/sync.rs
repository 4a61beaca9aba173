//! The per-row protocol (DESIGN "Per-row protocol"): the server's state is the truth and file
//! names are the key, so no photo is ever sent twice. Written over the `Api` trait so that every
//! outcome can be injected in unit tests.
//!
//! The one rule that shapes everything here: after any answer that does not say for sure what
//! the server did (timeout, 5xx, dropped connection, 409), ask with get and send only what the
//! server still lacks. Blind resends are what would put a photo on the server twice.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;

use crate::api::{Api, ApiError, ServerRecord, UploadAnswer};

mod plan;
use crate::model::{ImageResult, LocalImage, RowFields, RowResult, RowStatus, SentIn, Shipment};
pub use plan::{changed_since_validation, compare, split_requests};

#[derive(Debug, Clone)]
pub struct SyncSettings {
    pub max_images_per_request: usize,
    pub max_request_bytes: u64,
    /// Retries of one request after an ambiguous outcome or a 429.
    pub retries: u32,
    /// First backoff step; doubled each retry, capped at `backoff_cap`, with full jitter.
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
}

/// Bring one valid row to the server and verify it: kirim, add, get.
/// `check_first`: ask with get before sending anything (a row that was in flight when a previous
/// process died).
pub fn sync_row(
    api: &dyn Api,
    shipment: &Shipment,
    settings: &SyncSettings,
    check_first: bool,
) -> RowResult {
    let mut run = RowRun::new(api, shipment, settings);
    let ending = run.upload(check_first);
    run.finish(ending)
}

/// Auditor mode: get only, and compare with the local photos.
pub fn reconcile_row(api: &dyn Api, shipment: &Shipment, settings: &SyncSettings) -> RowResult {
    let mut run = RowRun::new(api, shipment, settings);
    let ending = match run.fetch() {
        Ok(Some(_)) => Ending::Verify,
        Ok(None) => Ending::NotFound("no X-ray data on the server for this nomorAju".into()),
        Err(err) => Ending::Failed(format!("could not get: {err}")),
    };
    let mut result = run.finish(ending);
    result.action = "get".into();
    if result.status == RowStatus::Match {
        result.message = format!("all {} photos on the server", result.local_count);
    }
    if result.status == RowStatus::NotFound {
        // The get did answer: the server holds none of the photos.
        result.server_count = Some(0);
        for image in &mut result.images {
            image.on_server = Some(false);
        }
    }
    result
}

/// How the upload phase ended.
enum Ending {
    /// Everything is believed to be on the server: verify with get.
    Verify,
    NotFound(String),
    Failed(String),
}

fn endpoint_name(kirim: bool) -> &'static str {
    if kirim { "kirim" } else { "add" }
}

fn may_retry(err: &ApiError) -> bool {
    err.is_ambiguous() || matches!(err, ApiError::NotSent(_) | ApiError::Throttled { .. })
}

/// The retries left for one request. A 429 is a clear "not now" (every worker is already
/// paused), an unclear or unsent try is a fault: each kind gets `retries` of its own, so that a
/// gateway that throttles now and then does not eat the budget meant for real faults.
#[derive(Debug, Default)]
struct Budget {
    faults: u32,
    throttles: u32,
}

impl Budget {
    /// Count one more retry of this kind; `None` when its budget is spent. Else the backoff
    /// exponent for this retry.
    fn spend(&mut self, err: &ApiError, limit: u32) -> Option<u32> {
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

    fn tries(&self) -> u32 {
        1 + self.faults + self.throttles
    }
}

/// The state of one row while the protocol runs.
struct RowRun<'a> {
    api: &'a dyn Api,
    shipment: &'a Shipment,
    settings: &'a SyncSettings,
    started_at: DateTime<Utc>,
    /// Retries over all of the row's requests.
    retries: u32,
    requests: u32,
    /// Photos this run sent that were stored: how and when the carrying request was answered.
    sent: HashMap<String, (SentIn, DateTime<Utc>)>,
    /// Upload requests that carried stored photos.
    carrying_requests: u32,
    npwp: Option<String>,
    /// The latest get answer, as long as no upload was attempted after it (then it is still the
    /// server's state and can serve as the verification).
    fresh_get: Option<Option<ServerRecord>>,
    /// The endpoint of the upload request the row ended on (NOT_FOUND or a failure).
    ended_on: Option<SentIn>,
    /// sha256 of the bytes sent, per photo, as the sender hashed them while they streamed.
    sent_sha256: HashMap<String, String>,
}

impl<'a> RowRun<'a> {
    fn new(api: &'a dyn Api, shipment: &'a Shipment, settings: &'a SyncSettings) -> Self {
        RowRun {
            api,
            shipment,
            settings,
            started_at: Utc::now(),
            retries: 0,
            requests: 0,
            sent: HashMap::new(),
            carrying_requests: 0,
            npwp: None,
            fresh_get: None,
            ended_on: None,
            sent_sha256: HashMap::new(),
        }
    }

    fn row(&self) -> usize {
        self.shipment.row
    }

    /// Sleep uniform(0, min(cap, base·2^n)): full jitter keeps workers that failed together from
    /// coming back together.
    fn backoff(&self, n: u32) {
        let step = self
            .settings
            .backoff_base
            .saturating_mul(1u32 << n.min(20))
            .min(self.settings.backoff_cap);
        if step.is_zero() {
            return;
        }
        let wait = rand::rng().random_range(Duration::ZERO..=step);
        std::thread::sleep(wait);
    }

    /// get, retried on ambiguous, unsent and throttled outcomes.
    fn fetch(&mut self) -> Result<Option<ServerRecord>, ApiError> {
        let mut budget = Budget::default();
        loop {
            self.requests += 1;
            match self.api.get(&self.shipment.meta.nomor_aju) {
                Ok(answer) => {
                    tracing::debug!(
                        row = self.row(),
                        endpoint = "get",
                        photos = answer.as_ref().map(|r| r.detail.len()),
                        "answered"
                    );
                    if let Some(npwp) = answer.as_ref().and_then(|r| r.npwp_pemberitahu.clone()) {
                        self.npwp = Some(npwp);
                    }
                    self.fresh_get = Some(answer.clone());
                    return Ok(answer);
                }
                Err(err) => {
                    let step = may_retry(&err)
                        .then(|| budget.spend(&err, self.settings.retries))
                        .flatten();
                    let Some(step) = step else {
                        tracing::debug!(row = self.row(), endpoint = "get", "gave up: {err}");
                        return Err(err);
                    };
                    self.retries += 1;
                    tracing::warn!(
                        row = self.row(),
                        endpoint = "get",
                        "retry {}: {err}",
                        budget.tries() - 1
                    );
                    self.backoff(step);
                }
            }
        }
    }

    /// Send what the server lacks until nothing is missing, or the row cannot go on.
    fn upload(&mut self, check_first: bool) -> Ending {
        // Does the server hold X-ray data for this nomorAju? None = not known yet: try kirim.
        let mut exists: Option<bool> = None;
        // Names the server is known to hold (from the latest get, plus what it stored since).
        let mut known: HashSet<String> = HashSet::new();
        if check_first {
            match self.fetch() {
                Ok(record) => {
                    exists = Some(record.is_some());
                    known = names(record.as_ref());
                }
                Err(err) => {
                    return Ending::Failed(format!("could not check the server first: {err}"));
                }
            }
        }
        // Retries of the request in progress; a new budget for each request that completes.
        let mut budget = Budget::default();
        // 409 and "add before kirim" send us back to ask again; a server that keeps flipping
        // between them must not keep the row busy forever.
        let mut detours = 0u32;
        let detour_limit = self.settings.retries + 2;
        loop {
            let missing: Vec<&LocalImage> = self
                .shipment
                .images
                .iter()
                .filter(|image| !known.contains(&image.name))
                .collect();
            let Some(batch) = split_requests(
                &missing,
                self.settings.max_images_per_request,
                self.settings.max_request_bytes,
            )
            .into_iter()
            .next() else {
                return Ending::Verify;
            };
            let batch: Vec<LocalImage> = batch.into_iter().cloned().collect();
            let kirim = exists != Some(true);
            let endpoint = endpoint_name(kirim);
            let sent_in = if kirim { SentIn::Kirim } else { SentIn::Add };
            self.requests += 1;
            self.fresh_get = None;
            let meta = &self.shipment.meta;
            let answer = if kirim {
                self.api.kirim(meta, &batch)
            } else {
                self.api.add(meta, &batch)
            };
            let answered_at = Utc::now();
            match answer {
                Ok(UploadAnswer::Stored(ok)) => {
                    tracing::debug!(row = self.row(), endpoint, photos = batch.len(), "stored");
                    for image in &batch {
                        self.sent.insert(image.name.clone(), (sent_in, answered_at));
                        known.insert(image.name.clone());
                    }
                    self.carrying_requests += 1;
                    if ok.npwp_pemberitahu.is_some() {
                        self.npwp = ok.npwp_pemberitahu;
                    }
                    exists = Some(true);
                    budget = Budget::default();
                    let changed = changed_since_validation(&batch, &ok.sent_sha256);
                    self.sent_sha256.extend(ok.sent_sha256);
                    if let Some(message) = changed {
                        return Ending::Failed(message);
                    }
                }
                Ok(UploadAnswer::NotFound { message }) if kirim => {
                    tracing::debug!(row = self.row(), endpoint, "BL/AWB not found: {message}");
                    self.ended_on = Some(sent_in);
                    return Ending::NotFound(message);
                }
                Ok(UploadAnswer::NotFound { message }) => {
                    // add before kirim: the server holds no X-ray data at all, so start with kirim.
                    tracing::debug!(row = self.row(), endpoint, "no X-ray data yet: {message}");
                    detours += 1;
                    if detours > detour_limit {
                        return self.flipping(sent_in, &message);
                    }
                    exists = Some(false);
                    known.clear();
                    budget = Budget::default();
                }
                Ok(UploadAnswer::Conflict { message }) => {
                    // X-ray data exists already (an earlier run, or another process): ask what
                    // it holds and add only the rest.
                    tracing::debug!(row = self.row(), endpoint, "409: {message}");
                    detours += 1;
                    if detours > detour_limit {
                        return self.flipping(sent_in, &message);
                    }
                    match self.fetch() {
                        Ok(record) => {
                            exists = Some(record.is_some());
                            known = names(record.as_ref());
                        }
                        Err(err) => {
                            return Ending::Failed(format!(
                                "could not check after 409 ({message}): {err}"
                            ));
                        }
                    }
                    budget = Budget::default();
                }
                Err(err) if may_retry(&err) => {
                    let step = budget.spend(&err, self.settings.retries);
                    let ambiguous = err.is_ambiguous();
                    if let Some(step) = step {
                        self.retries += 1;
                        tracing::warn!(
                            row = self.row(),
                            endpoint,
                            "retry {}: {err}",
                            budget.tries() - 1
                        );
                        self.backoff(step);
                    } else if ambiguous {
                        // Out of retries, but the last try may have been stored: still ask, so
                        // that the row reports what the server holds rather than a guess.
                        self.backoff(self.settings.retries);
                    }
                    if ambiguous {
                        // It may have been stored: ask before sending anything again.
                        match self.fetch() {
                            Ok(record) => {
                                exists = Some(record.is_some());
                                known = names(record.as_ref());
                                let confirmed = batch
                                    .iter()
                                    .filter(|image| known.contains(&image.name))
                                    .filter(|image| !self.sent.contains_key(&image.name))
                                    .count();
                                if confirmed > 0 {
                                    for image in batch.iter().filter(|i| known.contains(&i.name)) {
                                        self.sent
                                            .entry(image.name.clone())
                                            .or_insert((sent_in, answered_at));
                                    }
                                    self.carrying_requests += 1;
                                }
                                if batch.iter().all(|image| known.contains(&image.name)) {
                                    // It was stored after all: that request is done. This
                                    // cannot loop: each time, a batch leaves the missing set.
                                    budget = Budget::default();
                                    continue;
                                }
                            }
                            Err(get_err) => {
                                return Ending::Failed(format!(
                                    "could not check after an unclear answer to {endpoint} ({err}): {get_err}"
                                ));
                            }
                        }
                    }
                    if step.is_none() {
                        self.ended_on = Some(sent_in);
                        return Ending::Failed(format!(
                            "{endpoint} gave up after {} tries: {err}",
                            budget.tries()
                        ));
                    }
                }
                Err(err) => {
                    tracing::debug!(row = self.row(), endpoint, "refused: {err}");
                    // A photo that could not be read locally means no request went out.
                    if !matches!(err, ApiError::Local(_)) {
                        self.ended_on = Some(sent_in);
                    }
                    return Ending::Failed(match err {
                        ApiError::Rejected { status, message } => {
                            format!("{endpoint} refused (HTTP {status}): {message}")
                        }
                        other => other.to_string(),
                    });
                }
            }
        }
    }

    /// The row ends: the server went on answering 409 / "add before kirim" past the limit.
    fn flipping(&mut self, sent_in: SentIn, message: &str) -> Ending {
        self.ended_on = Some(sent_in);
        Ending::Failed(format!("the server keeps changing its answer: {message}"))
    }

    /// Verify if the upload phase got that far, and fill the whole result.
    fn finish(mut self, ending: Ending) -> RowResult {
        let shipment = self.shipment;
        let (status, mut message, record) = match ending {
            Ending::Verify => {
                let answer = match self.fresh_get.take() {
                    Some(answer) => Ok(answer),
                    None => self.fetch(),
                };
                match answer {
                    Ok(record) => {
                        let record = record.unwrap_or(ServerRecord {
                            npwp_pemberitahu: None,
                            total_foto_terupload: Some(0),
                            detail: Vec::new(),
                        });
                        let (missing, extra) = compare(&shipment.images, &record);
                        if missing.is_empty() && extra.is_empty() {
                            (RowStatus::Match, String::new(), Some(record))
                        } else {
                            let text = format!(
                                "{} missing on server, {} extra on server",
                                missing.len(),
                                extra.len()
                            );
                            (RowStatus::Mismatch, text, Some(record))
                        }
                    }
                    Err(err) => (RowStatus::Failed, format!("could not verify: {err}"), None),
                }
            }
            Ending::NotFound(text) => (RowStatus::NotFound, text, None),
            // A get answered after the last upload still tells the truth about the server.
            Ending::Failed(text) => (RowStatus::Failed, text, self.fresh_get.take().flatten()),
        };
        let uploaded = self.sent.len();
        if status == RowStatus::Match || status == RowStatus::Mismatch {
            let summary = if uploaded > 0 {
                format!(
                    "{uploaded} photo{} sent in {} request{}",
                    plural(uploaded),
                    self.carrying_requests,
                    plural(self.carrying_requests as usize)
                )
            } else {
                format!("all {} photos already on the server", shipment.images.len())
            };
            message = if message.is_empty() {
                summary
            } else if uploaded > 0 {
                format!("{message}; {summary}")
            } else {
                message
            };
        }
        let (missing_on_server, extra_on_server) = match (&record, status) {
            (Some(record), RowStatus::Match | RowStatus::Mismatch) => {
                compare(&shipment.images, record)
            }
            _ => (Vec::new(), Vec::new()),
        };
        let used = |endpoint: SentIn| {
            self.ended_on == Some(endpoint) || self.sent.values().any(|(how, _)| *how == endpoint)
        };
        let action = match (used(SentIn::Kirim), used(SentIn::Add)) {
            (true, true) => "kirim+add",
            (true, false) => "kirim",
            (false, true) => "add",
            (false, false) => "none",
        };
        let server_names: HashMap<&str, Option<&String>> = record
            .iter()
            .flat_map(|r| r.detail.iter())
            .rev() // the first entry of a name wins
            .map(|p| (p.nama_file.as_str(), p.waktu_rekam.as_ref()))
            .collect();
        let images = shipment
            .images
            .iter()
            .map(|image| {
                let (sent_in, sent_at) = match self.sent.get(&image.name) {
                    Some((how, when)) => (*how, Some(*when)),
                    None => (SentIn::None, None),
                };
                ImageResult {
                    file: image.name.clone(),
                    bytes: image.bytes,
                    sha256: (self.sent_sha256.get(&image.name))
                        .unwrap_or(&image.sha256)
                        .clone(),
                    content_type: image.content_type.to_string(),
                    sent_in,
                    sent_at,
                    on_server: record
                        .as_ref()
                        .map(|_| server_names.contains_key(image.name.as_str())),
                    server_waktu_rekam: server_names
                        .get(image.name.as_str())
                        .and_then(|w| w.cloned()),
                }
            })
            .collect();
        tracing::debug!(
            row = shipment.row,
            status = status.as_str(),
            action,
            "{message}"
        );
        RowResult {
            row: shipment.row,
            fields: RowFields {
                nomor_aju: shipment.meta.nomor_aju.clone(),
                nomor_bl_awb: shipment.meta.nomor_bl_awb.clone(),
                tanggal_bl_awb: shipment.meta.tanggal_bl_awb.clone(),
                kode_kantor: shipment.meta.kode_kantor.clone(),
                folder: shipment.folder.clone(),
            },
            status,
            action: action.to_string(),
            local_count: shipment.images.len(),
            uploaded,
            server_count: record.as_ref().map(|r| r.detail.len()),
            missing_on_server,
            extra_on_server,
            npwp_pemberitahu: self.npwp.clone(),
            attempts: 1 + self.retries,
            requests: self.requests,
            message,
            started_at: Some(self.started_at),
            finished_at: Some(Utc::now()),
            images,
        }
    }
}

fn names(record: Option<&ServerRecord>) -> HashSet<String> {
    record
        .map(|r| r.detail.iter().map(|p| p.nama_file.clone()).collect())
        .unwrap_or_default()
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests;
