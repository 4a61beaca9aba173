//! The per-row protocol (DESIGN "Per-row protocol"): the server's state is the truth and file
//! names are the key, so no photo is ever sent twice. Written over the `Api` trait so that every
//! outcome can be injected in unit tests. Read it top to bottom: upload and the steps it takes after
//! each kind of answer; then `verify.rs`: the verifying get and the row's result.
//!
//! The rules that shape everything here:
//! - After an answer that does not say for sure what the server did (timeout, 5xx, a gateway's
//!   page, a dropped connection), wait a settle time and ask with get. A gateway may store a
//!   request after it answered (a late commit) and get may lag behind a write (a read replica),
//!   so a photo is sent again only when two gets a settle time apart both lack it.
//! - A photo the server acknowledged, or a get listed, is never sent again by this row.
//! - Nothing is ever added to a record that belongs to another document.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::api::{Api, ApiError, ServerRecord, UploadAnswer, UploadOk};

mod ask;
mod idle;
mod plan;
mod verdict;
mod verify;
mod view;
use crate::model::{LocalImage, RowResult, SentIn, Shipment};
pub use ask::{reconcile_row, sync_row_not_found_lately};
pub use idle::{Idle, set_thread_wait};
use plan::Budget;
pub use plan::{changed_since_validation, compare, split_requests};
use view::{Existence, ServerView, foreign};

#[derive(Debug, Clone)]
pub struct SyncSettings {
    pub max_images_per_request: usize,
    pub max_request_bytes: u64,
    /// Retries of one request after an ambiguous outcome or a 429.
    pub retries: u32,
    /// First backoff step; doubled each retry, capped at `backoff_cap`, with full jitter.
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// The wait before asking again after an unclear answer, or while acknowledged photos are
    /// not listed yet.
    pub settle: Duration,
    /// How many more gets, a settle time apart, verify makes while acknowledged photos are not
    /// listed.
    pub settle_checks: u32,
    /// How the row waits (the pipeline lends the worker slot to another row meanwhile).
    pub idle: Idle,
}

/// Bring one valid row to the server and verify it: kirim, add, get.
/// `check_first`: ask with get before sending anything (a row that was in flight when a previous
/// process died, or a document an earlier run saw on the server).
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

/// The two upload endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Kirim,
    Add,
}

impl Endpoint {
    fn name(self) -> &'static str {
        match self {
            Endpoint::Kirim => "kirim",
            Endpoint::Add => "add",
        }
    }

    fn sent_in(self) -> SentIn {
        match self {
            Endpoint::Kirim => SentIn::Kirim,
            Endpoint::Add => SentIn::Add,
        }
    }
}

/// How the upload phase ended.
enum Ending {
    /// Everything is believed to be on the server: verify with get.
    Verify,
    NotFound(String),
    Failed(String),
    /// The record under this nomorAju is another document's.
    Foreign(String),
    /// The run is stopping: the row ends SKIPPED where it is, with what the server acknowledged.
    Stopped,
}

/// The answer may have been applied, or not (a gateway's page included): ask before sending
/// again.
fn unclear(err: &ApiError) -> bool {
    err.is_ambiguous()
}

/// Nothing reached the server, or it said "not now": the same request may simply go again.
fn repeatable(err: &ApiError) -> bool {
    matches!(err, ApiError::NotSent(_) | ApiError::Throttled { .. })
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
    view: ServerView,
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
            view: ServerView::new(),
            fresh_get: None,
            ended_on: None,
            sent_sha256: HashMap::new(),
        }
    }

    fn row(&self) -> usize {
        self.shipment.row
    }

    /// Send what the server lacks until nothing is missing, or the row cannot go on.
    fn upload(&mut self, check_first: bool) -> Ending {
        match self.send_missing(check_first) {
            Ok(()) => Ending::Verify,
            Err(ending) => ending,
        }
    }

    /// `Ok` once everything is believed to be on the server; else how the row ends.
    fn send_missing(&mut self, check_first: bool) -> Result<(), Ending> {
        if check_first {
            self.look("could not check the server first")?;
        }
        // Retries of the request in progress; a new budget for each request that completes.
        let mut budget = Budget::default();
        // 409 and "add before kirim" send us back to ask again; a server that keeps flipping
        // between them must not keep the row busy forever.
        let mut detours = 0u32;
        loop {
            if let Some(why) = self.foreign_record() {
                return Err(Ending::Foreign(why));
            }
            let Some(batch) = self.next_batch() else {
                return Ok(());
            };
            let endpoint = match self.view.existence {
                Existence::Held => Endpoint::Add,
                Existence::Unknown | Existence::Absent => Endpoint::Kirim,
            };
            let (answer, answered_at) = self.send(endpoint, &batch);
            match answer {
                Ok(UploadAnswer::Stored(ok)) => {
                    if let Some(changed) = self.stored(endpoint, &batch, answered_at, ok) {
                        return Err(Ending::Failed(changed));
                    }
                    budget = Budget::default();
                }
                Ok(UploadAnswer::NotFound { message }) if endpoint == Endpoint::Kirim => {
                    tracing::debug!(
                        row = self.row(),
                        endpoint = "kirim",
                        "BL/AWB not found: {message}"
                    );
                    self.ended_on = Some(SentIn::Kirim);
                    return Err(Ending::NotFound(message));
                }
                Ok(UploadAnswer::NotFound { message }) => {
                    // add before kirim: the server holds no X-ray data at all, so start with
                    // kirim. Photos it acknowledged in this run still stay out of every request.
                    tracing::debug!(
                        row = self.row(),
                        endpoint = "add",
                        "no X-ray data yet: {message}"
                    );
                    self.detour(&mut detours, endpoint, &message)?;
                    self.view.forget();
                    budget = Budget::default();
                }
                Ok(UploadAnswer::Conflict { message }) => {
                    // X-ray data exists already (an earlier run, or another process): ask what
                    // it holds and add only the rest.
                    tracing::debug!(
                        row = self.row(),
                        endpoint = endpoint.name(),
                        "409: {message}"
                    );
                    self.detour(&mut detours, endpoint, &message)?;
                    self.look(&format!("could not check after 409 ({message})"))?;
                    self.view.existence = Existence::Held;
                    budget = Budget::default();
                }
                Err(ApiError::Stopped) => return Err(Ending::Stopped),
                Err(err) if unclear(&err) => {
                    let retry = self.retry(&mut budget, endpoint, &err, false);
                    if self.after_unclear(endpoint, &batch, answered_at, &err)? {
                        budget = Budget::default();
                    } else if !retry {
                        return Err(self.gave_up(endpoint, &budget, &err));
                    }
                }
                Err(err) if repeatable(&err) => {
                    if !self.retry(&mut budget, endpoint, &err, true) {
                        return Err(self.gave_up(endpoint, &budget, &err));
                    }
                }
                Err(err) => return Err(self.refused(endpoint, err)),
            }
        }
    }

    /// The next request: local photos that no get listed and no answer acknowledged. While the
    /// server's list is incomplete, an unlisted photo may be there: nothing more is sent, and
    /// verify says what cannot be checked.
    fn next_batch(&self) -> Option<Vec<LocalImage>> {
        if self.view.incomplete {
            return None;
        }
        let missing: Vec<&LocalImage> = self
            .shipment
            .images
            .iter()
            .filter(|image| !self.view.has(&image.name) && !self.sent.contains_key(&image.name))
            .collect();
        let first = split_requests(
            &missing,
            self.settings.max_images_per_request,
            self.settings.max_request_bytes,
        )
        .into_iter()
        .next()?;
        Some(first.into_iter().cloned().collect())
    }

    fn send(
        &mut self,
        endpoint: Endpoint,
        batch: &[LocalImage],
    ) -> (Result<UploadAnswer, ApiError>, DateTime<Utc>) {
        self.requests += 1;
        self.fresh_get = None;
        let meta = &self.shipment.meta;
        let answer = match endpoint {
            Endpoint::Kirim => self.api.kirim(meta, batch),
            Endpoint::Add => self.api.add(meta, batch),
        };
        if answer == Err(ApiError::Stopped) {
            // Refused before it went out: not a request.
            self.requests -= 1;
        }
        (answer, Utc::now())
    }

    /// The server acknowledged `batch`: it is stored, and never sent again by this row. Says why
    /// the row must stop if a photo's bytes as sent differ from those validated (rewritten
    /// during the run: customs holds bytes nobody checked).
    fn stored(
        &mut self,
        endpoint: Endpoint,
        batch: &[LocalImage],
        at: DateTime<Utc>,
        ok: UploadOk,
    ) -> Option<String> {
        tracing::debug!(
            row = self.row(),
            endpoint = endpoint.name(),
            photos = batch.len(),
            "stored"
        );
        for image in batch {
            self.sent
                .insert(image.name.clone(), (endpoint.sent_in(), at));
        }
        self.view
            .stored(batch.iter().map(|image| image.name.clone()));
        self.carrying_requests += 1;
        if ok.npwp_pemberitahu.is_some() {
            self.npwp = ok.npwp_pemberitahu;
        }
        let changed = changed_since_validation(batch, &ok.sent_sha256);
        self.sent_sha256.extend(ok.sent_sha256);
        changed
    }

    /// Count a retry of the request in progress, log it and back off; `false` once its budget is
    /// spent. After an unclear answer the settle time is the wait, so there is no backoff then.
    fn retry(
        &mut self,
        budget: &mut Budget,
        endpoint: Endpoint,
        err: &ApiError,
        back_off: bool,
    ) -> bool {
        let Some(step) = budget.spend(err, self.settings.retries) else {
            return false;
        };
        self.retries += 1;
        tracing::warn!(
            row = self.row(),
            endpoint = endpoint.name(),
            "retry {}: {err}",
            budget.tries() - 1
        );
        if back_off {
            let s = self.settings;
            s.idle
                .wait(idle::backoff(s.backoff_base, s.backoff_cap, step));
        }
        true
    }

    /// After an unclear answer to `batch`: wait the settle time, then get. What get lists was
    /// stored (perhaps late); what it lacks is absent only if a second get, a settle time later,
    /// lacks it too. `Ok(true)` when the whole batch turned out stored.
    fn after_unclear(
        &mut self,
        endpoint: Endpoint,
        batch: &[LocalImage],
        answered_at: DateTime<Utc>,
        err: &ApiError,
    ) -> Result<bool, Ending> {
        let context = format!(
            "could not check after an unclear answer to {} ({err})",
            endpoint.name()
        );
        for _ in 0..2 {
            self.settings.idle.wait(self.settings.settle);
            self.look(&context)?;
            self.confirm(endpoint, batch, answered_at);
            if batch.iter().all(|image| self.view.has(&image.name)) {
                return Ok(true);
            }
            if self.view.incomplete || self.foreign_record().is_some() {
                // Nothing more can be learnt here: the loop stops sending for these reasons.
                return Ok(false);
            }
        }
        Ok(false)
    }

    /// Photos of `batch` that the server now lists were stored by that request.
    fn confirm(&mut self, endpoint: Endpoint, batch: &[LocalImage], answered_at: DateTime<Utc>) {
        let mut confirmed = 0;
        for image in batch.iter().filter(|image| self.view.has(&image.name)) {
            if !self.sent.contains_key(&image.name) {
                self.sent
                    .insert(image.name.clone(), (endpoint.sent_in(), answered_at));
                confirmed += 1;
            }
        }
        if confirmed > 0 {
            self.carrying_requests += 1;
        }
    }

    /// get, and take in what it says.
    fn look(&mut self, context: &str) -> Result<(), Ending> {
        match self.fetch() {
            Ok(record) => {
                self.view.learn(record.as_ref());
                Ok(())
            }
            Err(ApiError::Stopped) => Err(Ending::Stopped),
            Err(err) => Err(Ending::Failed(format!("{context}: {err}"))),
        }
    }

    /// Why the latest get's record is another document's, if it is.
    fn foreign_record(&self) -> Option<String> {
        let record = self.fresh_get.as_ref()?.as_ref()?;
        foreign(&self.shipment.meta, record)
    }

    /// One more 409 or "add before kirim"; the row ends once the server has flipped too often.
    fn detour(
        &mut self,
        detours: &mut u32,
        endpoint: Endpoint,
        message: &str,
    ) -> Result<(), Ending> {
        *detours += 1;
        if *detours > self.settings.retries + 2 {
            self.ended_on = Some(endpoint.sent_in());
            return Err(Ending::Failed(format!(
                "the server keeps changing its answer: {message}"
            )));
        }
        Ok(())
    }

    fn gave_up(&mut self, endpoint: Endpoint, budget: &Budget, err: &ApiError) -> Ending {
        self.ended_on = Some(endpoint.sent_in());
        Ending::Failed(format!(
            "{} gave up after {} tries: {err}",
            endpoint.name(),
            budget.tries()
        ))
    }

    fn refused(&mut self, endpoint: Endpoint, err: ApiError) -> Ending {
        tracing::debug!(
            row = self.row(),
            endpoint = endpoint.name(),
            "refused: {err}"
        );
        // A photo that could not be read locally means no request went out.
        if !matches!(err, ApiError::Local(_)) {
            self.ended_on = Some(endpoint.sent_in());
        }
        Ending::Failed(match err {
            ApiError::Rejected { status, message } => {
                format!("{} refused (HTTP {status}): {message}", endpoint.name())
            }
            other => other.to_string(),
        })
    }
}

#[cfg(test)]
mod tests;
