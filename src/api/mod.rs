//! The customs API client: login and token refresh (`auth.rs`), the shared rate limiter
//! (`pacer.rs`) every request goes through (`transport.rs`), the three X-ray requests with typed
//! answers (`client.rs`, `answer.rs`) and their streamed, hashed photo bodies (`upload.rs`). The
//! `Api` trait is what the per-row protocol talks to, so it can be tested with injected faults.

mod answer;
mod auth;
mod client;
pub mod pacer;
mod stats;
mod transport;
mod upload;
pub use client::{ConnectError, HttpApi};
pub use stats::ApiStats;
pub use transport::error_chain;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::model::{DocMeta, LocalImage};

/// A password or token: never printed, not even by `{:?}`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Where the token comes from (secrets come only from the environment).
#[derive(Debug, Clone)]
pub enum Credentials {
    Login { username: String, password: Secret },
    Token(Secret),
}

/// Everything the HTTP client needs.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// e.g. `https://apisdev-gw.beacukai.go.id/openapi/cnpibk` (no trailing slash)
    pub api_url: String,
    /// e.g. `https://apisdev-gw.beacukai.go.id` (no trailing slash)
    pub auth_url: String,
    /// API requests per second over all workers.
    pub rate: f64,
    pub burst: u32,
    pub timeout: Duration,
    pub allow_http: bool,
    pub ca_cert: Option<PathBuf>,
    pub credentials: Credentials,
}

/// A successful kirim or add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadOk {
    pub npwp_pemberitahu: Option<String>,
    pub jumlah_foto_terupload: Option<u64>,
    pub message: String,
    /// Photo name → lower-case hex sha256 of the bytes this request sent, hashed as they
    /// streamed into the body (empty when the sender did not hash them).
    pub sent_sha256: BTreeMap<String, String>,
}

/// What kirim or add answered, read from the body's `success`/`code`, not the HTTP status alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadAnswer {
    /// `code:200`
    Stored(UploadOk),
    /// HTTP 200 with `code:404`: kirim on a BL/AWB customs does not know, or add before kirim.
    NotFound { message: String },
    /// HTTP 409 on kirim: X-ray data already exists, use add.
    Conflict { message: String },
}

/// One photo the server holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerPhoto {
    pub nama_file: String,
    pub waktu_rekam: Option<String>,
}

/// What get answered for a declaration that exists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerRecord {
    pub npwp_pemberitahu: Option<String>,
    pub total_foto_terupload: Option<u64>,
    pub detail: Vec<ServerPhoto>,
    /// The document the record belongs to, as get names it (`None` where the answer leaves a
    /// field out): a nomorAju may turn out to be another consignment's.
    pub nomor_bl_awb: Option<String>,
    pub tanggal_bl_awb: Option<String>,
    pub kode_kantor: Option<String>,
}

/// A request that did not give a usable answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    /// The request may have reached the server and been applied (timeout, dropped connection,
    /// 5xx, body or transport error after sending): ask with get before sending again.
    #[error("no clear answer: {0}")]
    Ambiguous(String),
    /// The request certainly did not reach the server (connection refused, DNS): safe to repeat.
    #[error("not sent: {0}")]
    NotSent(String),
    /// HTTP 429. The client has already paused every worker until `retry_after` has passed.
    #[error("throttled (429), retry after {retry_after:?}")]
    Throttled { retry_after: Duration },
    /// An answer without the API's own envelope (`success`/`code`): a gateway's or proxy's page
    /// (HTML 404, 502, 504...), never the API's word. After an upload it is as unclear as
    /// [`ApiError::Ambiguous`] (a 504 page may precede a late commit); it is never "not found".
    #[error(
        "HTTP {status} that is not the API's answer (no success/code in the body: a gateway or \
         proxy answered; check --api-url): {page}"
    )]
    Gateway { status: u16, page: String },
    /// Any other refusal (4xx, or 401 again after one token refresh), with the server's message.
    #[error("HTTP {status}: {message}")]
    Rejected { status: u16, message: String },
    /// No token could be obtained at all (login refused or unreachable): the run cannot go on.
    #[error("authentication failed: {0}")]
    Auth(String),
    /// Nothing was sent because a local photo could not be read at send time (deleted, changed
    /// since validation): the message names the photo.
    #[error("{0}")]
    Local(String),
    /// Nothing was sent because the run is stopping (a signal, or a run folder that cannot be
    /// written): the row ends where it is, keeping what the server acknowledged.
    #[error("not sent: the run is stopping")]
    Stopped,
}

impl ApiError {
    /// Whether the request may have been applied although no clear answer says so: ask with
    /// get before sending it again.
    pub fn is_ambiguous(&self) -> bool {
        matches!(self, ApiError::Ambiguous(_) | ApiError::Gateway { .. })
    }
}

/// The three X-ray requests. One call = one HTTP request (plus at most one token refresh and one
/// repeat after a 401), after a permit from the shared rate limiter.
pub trait Api: Sync {
    fn kirim(&self, meta: &DocMeta, images: &[LocalImage]) -> Result<UploadAnswer, ApiError>;
    fn add(&self, meta: &DocMeta, images: &[LocalImage]) -> Result<UploadAnswer, ApiError>;
    /// `Ok(None)` when the server answers HTTP 404 (no X-ray data for this nomorAju).
    fn get(&self, nomor_aju: &str) -> Result<Option<ServerRecord>, ApiError>;

    /// Why this client can no longer authenticate, once it knows it never will again in this
    /// process (a new login refused after the token ran out, or a ready `KIRIM_XRAY_TOKEN`
    /// refused); every later request would fail. The pipeline starts no new row after that.
    /// `None` while requests can still succeed.
    fn auth_lost(&self) -> Option<String> {
        None
    }
}
