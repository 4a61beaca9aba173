//! The HTTP client for the three X-ray endpoints: one shared reqwest blocking client, the shared
//! rate limiter before every request, photo bodies streamed from disk, answers typed from the
//! body's `success`/`code`.

use std::collections::BTreeMap;
use std::fs::File;
use std::sync::Mutex;
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use reqwest::blocking::multipart::{Form, Part};
use reqwest::blocking::{Client, RequestBuilder};
use reqwest::{Certificate, Url};
use serde::Serialize;

use super::answer::{get_answer, retry_after, server_message, upload_answer};
use super::auth::{Auth, AuthFailure};
use super::pacer::Pacer;
use super::{Api, ApiError, ApiSettings, ServerRecord, UploadAnswer};
use crate::model::{DocMeta, LocalImage};

/// Why the client could not start: decides the exit code (Config → 2, the others → 3).
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConnectError {
    #[error("{0}")]
    Config(String),
    #[error("could not authenticate: {0}")]
    Auth(String),
    #[error("could not reach the API: {0}")]
    Unreachable(String),
}

/// Counters for summary.json. No secrets.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ApiStats {
    /// endpoint (`login`, `update-token`, `kirim-foto-xray`, `add-foto-xray`, `get-foto-xray`) →
    /// HTTP status (`"200"`, `"409"`...) or failure kind (`"timeout"`, `"transport"`) → count.
    pub requests: BTreeMap<String, BTreeMap<String, u64>>,
    /// X-ray API requests sent (the three endpoints; not login/update-token).
    pub api_requests: u64,
    /// HTTP 429 answers.
    pub throttled: u64,
    pub logins: u64,
    pub token_refreshes: u64,
    pub first_request_at: Option<DateTime<Utc>>,
    pub last_request_at: Option<DateTime<Utc>>,
}

impl ApiStats {
    /// X-ray API requests per second between the first and the last one.
    pub fn achieved_rate(&self) -> Option<f64> {
        let (first, last) = (self.first_request_at?, self.last_request_at?);
        let secs = (last - first).num_milliseconds() as f64 / 1000.0;
        (secs > 0.0 && self.api_requests > 1).then(|| (self.api_requests - 1) as f64 / secs)
    }
}

/// Shared, lock-protected [`ApiStats`].
#[derive(Debug, Default)]
pub struct Recorder(Mutex<ApiStats>);

impl Recorder {
    fn with(&self, f: impl FnOnce(&mut ApiStats)) {
        f(&mut self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()));
    }

    pub fn outcome(&self, endpoint: &str, outcome: &str) {
        self.with(|s| {
            *s.requests
                .entry(endpoint.to_string())
                .or_default()
                .entry(outcome.to_string())
                .or_default() += 1;
        });
    }

    fn xray_sent(&self) {
        let now = Utc::now();
        self.with(|s| {
            s.api_requests += 1;
            s.first_request_at.get_or_insert(now);
            s.last_request_at = Some(now);
        });
    }

    fn throttled(&self) {
        self.with(|s| s.throttled += 1);
    }

    pub fn login(&self) {
        self.with(|s| s.logins += 1);
    }

    pub fn token_refresh(&self) {
        self.with(|s| s.token_refreshes += 1);
    }

    fn snapshot(&self) -> ApiStats {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

/// A reqwest error with its causes, e.g. "error sending request: tcp connect error: Connection
/// refused". Carries URLs at most, never headers, so no token.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// The stats key of a request that got no HTTP status.
pub fn failure_kind(err: &reqwest::Error) -> &'static str {
    if err.is_connect() {
        "connect"
    } else if err.is_timeout() {
        "timeout"
    } else if err.is_body() {
        "body"
    } else {
        "transport"
    }
}

/// A failed send: "connect" means the request never left (safe to repeat); anything else may
/// have reached the server and been applied.
fn classify(err: &reqwest::Error) -> ApiError {
    let text = error_chain(err);
    if err.is_connect() {
        ApiError::NotSent(text)
    } else if err.is_timeout() {
        ApiError::Ambiguous(format!("timeout: {text}"))
    } else {
        ApiError::Ambiguous(text)
    }
}

/// Check a base URL: https, or plain http to loopback (anywhere with `allow_http`); no password
/// inside it. Returns it without a trailing slash.
fn check_url(what: &str, raw: &str, allow_http: bool) -> Result<String, ConnectError> {
    // A URL with user info may carry a secret (`https://TOKEN@host`): refuse it, and never
    // repeat such a value in a message.
    let raw = if raw.contains('@') {
        return Err(ConnectError::Config(format!(
            "{what} must not carry credentials (it contains '@'); they come from the environment"
        )));
    } else {
        raw.trim()
    };
    let url = Url::parse(raw)
        .map_err(|e| ConnectError::Config(format!("{what} {raw:?} is not a URL: {e}")))?;
    match url.scheme() {
        "https" => {}
        "http" => {
            let host = url.host_str().unwrap_or_default();
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            let loopback = host.eq_ignore_ascii_case("localhost")
                || bare
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            if !loopback && !allow_http {
                return Err(ConnectError::Config(format!(
                    "{what} {raw} uses plain http:// to a host that is not loopback; use \
                     https:// or pass --allow-http"
                )));
            }
        }
        other => {
            return Err(ConnectError::Config(format!(
                "{what} {raw} must be https:// (not {other}://)"
            )));
        }
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

fn load_ca(path: &std::path::Path) -> Result<Vec<Certificate>, ConnectError> {
    let pem = std::fs::read(path).map_err(|e| {
        ConnectError::Config(format!(
            "cannot read CA certificate {}: {e}",
            path.display()
        ))
    })?;
    let certs = Certificate::from_pem_bundle(&pem).map_err(|e| {
        ConnectError::Config(format!(
            "CA certificate {} is not PEM: {}",
            path.display(),
            error_chain(&e)
        ))
    })?;
    if certs.is_empty() {
        return Err(ConnectError::Config(format!(
            "CA certificate {} holds no certificate",
            path.display()
        )));
    }
    Ok(certs)
}

#[derive(Debug, Clone, Copy)]
enum Endpoint {
    Kirim,
    Add,
    Get,
}

impl Endpoint {
    fn name(self) -> &'static str {
        match self {
            Endpoint::Kirim => "kirim-foto-xray",
            Endpoint::Add => "add-foto-xray",
            Endpoint::Get => "get-foto-xray",
        }
    }
}

/// What came back with an HTTP status (401 and 429 are dealt with before this).
struct Reply {
    status: u16,
    body: String,
}

/// The multipart body of kirim/add: `data` as application/json, then one `images` part per
/// photo, streamed from its file. Built anew for every try: a streamed body is one-shot.
fn upload_form(meta: &DocMeta, images: &[LocalImage]) -> Result<Form, ApiError> {
    let data = serde_json::to_string(meta)
        .map_err(|e| ApiError::Local(format!("cannot encode the data part: {e}")))?;
    let data = Part::text(data)
        .mime_str("application/json")
        .map_err(|e| ApiError::Local(format!("data part: {e}")))?;
    let mut form = Form::new().part("data", data);
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
        let part = Part::reader_with_length(file, image.bytes)
            .file_name(image.name.clone())
            .mime_str(image.content_type)
            .map_err(|e| cannot(format!("has an unusable content type: {e}")))?;
        form = form.part("images", part);
    }
    Ok(form)
}

/// The real client.
#[derive(Debug)]
pub struct HttpApi {
    client: Client,
    api_url: String,
    auth: Auth,
    pacer: Pacer,
    stats: Recorder,
}

impl HttpApi {
    /// Build the client, check the URL policy (plain http only to loopback unless `allow_http`),
    /// and obtain a first token, so that a run fails fast (exit 3) when it cannot authenticate.
    pub fn connect(settings: &ApiSettings) -> Result<HttpApi, ConnectError> {
        let api_url = check_url("the API URL", &settings.api_url, settings.allow_http)?;
        let auth_url = check_url("the auth URL", &settings.auth_url, settings.allow_http)?;
        let pacer = Pacer::new(settings.rate, settings.burst).map_err(ConnectError::Config)?;
        let mut builder = Client::builder()
            .user_agent(concat!("kirim-xray/", env!("CARGO_PKG_VERSION")))
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(std::time::Duration::from_secs(30)))
            // A redirected multipart body cannot be replayed, and the token must not follow it.
            .redirect(reqwest::redirect::Policy::none())
            // Every try must pass the shared limiter and be counted: no hidden retries.
            .retry(reqwest::retry::never());
        if let Some(path) = &settings.ca_cert {
            builder = builder.tls_certs_merge(load_ca(path)?);
        }
        let client = builder.build().map_err(|e| {
            ConnectError::Config(format!("cannot build the HTTP client: {}", error_chain(&e)))
        })?;
        let api = HttpApi {
            client,
            api_url,
            auth: Auth::new(settings.credentials.clone(), &auth_url),
            pacer,
            stats: Recorder::default(),
        };
        api.auth
            .start(&api.client, &api.stats)
            .map_err(|failure| match failure {
                AuthFailure::Refused(m) => ConnectError::Auth(m),
                AuthFailure::Unreachable(m) => ConnectError::Unreachable(m),
            })?;
        Ok(api)
    }

    pub fn stats(&self) -> ApiStats {
        self.stats.snapshot()
    }

    fn url(&self, endpoint: Endpoint) -> String {
        format!("{}/xray/{}", self.api_url, endpoint.name())
    }

    /// One X-ray request: a permit, the current token, send, and on 401 one renewal and one
    /// repeat. 429 pauses every worker. `build` makes the request anew for each try.
    fn exchange(
        &self,
        endpoint: Endpoint,
        nomor_aju: &str,
        build: &dyn Fn(&Client) -> Result<RequestBuilder, ApiError>,
    ) -> Result<Reply, ApiError> {
        let mut renewed = false;
        for _ in 0..3 {
            // Build first: a photo that cannot be opened must not cost a permit.
            let request = build(&self.client)?;
            self.pacer.acquire();
            // The token is taken after the wait, so that it is as fresh as possible.
            let (token, generation) = self.auth.token(&self.client, &self.stats)?;
            self.stats.xray_sent();
            let response = match request.bearer_auth(token.expose()).send() {
                Ok(response) => response,
                Err(err) => {
                    self.stats.outcome(endpoint.name(), failure_kind(&err));
                    let err = classify(&err);
                    tracing::debug!(endpoint = endpoint.name(), nomor_aju, "{err}");
                    return Err(err);
                }
            };
            let status = response.status().as_u16();
            self.stats.outcome(endpoint.name(), &status.to_string());
            tracing::debug!(endpoint = endpoint.name(), nomor_aju, status, "answered");
            match status {
                401 => {
                    // Repeat once after renewing. A second 401 is final unless our token was
                    // replaced meanwhile by another worker (then it was a race, not a refusal).
                    if !renewed {
                        renewed = true;
                        self.auth.refused(generation, &self.client, &self.stats)?;
                        continue;
                    }
                    if self.auth.generation() != generation {
                        continue;
                    }
                    let body = response.text().unwrap_or_default();
                    return Err(ApiError::Rejected {
                        status,
                        message: format!(
                            "token refused again after renewal: {}",
                            server_message(&body)
                        ),
                    });
                }
                429 => {
                    let header = response
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok());
                    let wait = retry_after(header, SystemTime::now());
                    self.pacer.pause(wait);
                    self.stats.throttled();
                    return Err(ApiError::Throttled { retry_after: wait });
                }
                _ => {}
            }
            let body = response.text().map_err(|err| {
                ApiError::Ambiguous(format!(
                    "the answer could not be read: {}",
                    error_chain(&err)
                ))
            })?;
            return Ok(Reply { status, body });
        }
        Err(ApiError::Rejected {
            status: 401,
            message: "token refused again after renewal".into(),
        })
    }

    fn upload(
        &self,
        endpoint: Endpoint,
        meta: &DocMeta,
        images: &[LocalImage],
    ) -> Result<UploadAnswer, ApiError> {
        let url = self.url(endpoint);
        let reply = self.exchange(endpoint, &meta.nomor_aju, &|client| {
            Ok(client.post(&url).multipart(upload_form(meta, images)?))
        })?;
        upload_answer(
            matches!(endpoint, Endpoint::Kirim),
            reply.status,
            &reply.body,
        )
    }
}

impl Api for HttpApi {
    fn kirim(&self, meta: &DocMeta, images: &[LocalImage]) -> Result<UploadAnswer, ApiError> {
        self.upload(Endpoint::Kirim, meta, images)
    }

    fn add(&self, meta: &DocMeta, images: &[LocalImage]) -> Result<UploadAnswer, ApiError> {
        self.upload(Endpoint::Add, meta, images)
    }

    fn get(&self, nomor_aju: &str) -> Result<Option<ServerRecord>, ApiError> {
        let url = self.url(Endpoint::Get);
        let reply = self.exchange(Endpoint::Get, nomor_aju, &|client| {
            Ok(client.get(&url).query(&[("nomorAju", nomor_aju)]))
        })?;
        get_answer(reply.status, &reply.body)
    }

    fn auth_lost(&self) -> Option<String> {
        self.auth.lost()
    }
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
