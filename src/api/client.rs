//! The HTTP client for the three X-ray endpoints: reqwest blocking clients, the shared rate
//! limiter before every request (a permit only once a valid token is in hand, so that a slow
//! renewal never turns into a burst), photo bodies streamed from disk and hashed on the way,
//! answers typed from the body's `success`/`code`.

use std::cell::RefCell;
use std::time::Duration;

use reqwest::blocking::{Client, RequestBuilder};
use reqwest::{Certificate, Url};

use super::answer::{get_answer, is_api_answer, server_message, upload_answer};
use super::auth::{Auth, AuthFailure};
use super::pacer::Pacer;
use super::stats::{ApiStats, Recorder};
use super::transport::{Wire, classify, error_chain, failure_kind};
use super::upload::{Digests, upload_form};
use super::{Api, ApiError, ApiSettings, Secret, ServerRecord, UploadAnswer};
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

/// How many times a request waits for a permit and then finds that its token ran out during
/// the wait, before it goes with the token it has (a token that lives shorter than the wait
/// for a permit; the server then decides, and a 401 leads to the usual renewal).
const TOKEN_RACES: u32 = 3;

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

/// The reqwest client for requests to `url`. Plain `http://` (loopback, or `--allow-http`) never
/// goes through a proxy from `http_proxy`/`HTTP_PROXY`/`ALL_PROXY`: the password and the tokens
/// would cross it unencrypted. https keeps the usual proxy settings.
fn build_client(settings: &ApiSettings, url: &str) -> Result<Client, ConnectError> {
    let mut builder = Client::builder()
        .user_agent(concat!("kirim-xray/", env!("CARGO_PKG_VERSION")))
        .timeout(settings.timeout)
        .connect_timeout(settings.timeout.min(Duration::from_secs(30)))
        // A redirected multipart body cannot be replayed, and the token must not follow it.
        .redirect(reqwest::redirect::Policy::none())
        // Every try must pass the shared limiter and be counted: no hidden retries.
        .retry(reqwest::retry::never());
    if url.starts_with("http://") {
        builder = builder.no_proxy();
    }
    if let Some(path) = &settings.ca_cert {
        builder = builder.tls_certs_merge(load_ca(path)?);
    }
    builder.build().map_err(|e| {
        ConnectError::Config(format!("cannot build the HTTP client: {}", error_chain(&e)))
    })
}

/// The real client.
#[derive(Debug)]
pub struct HttpApi {
    client: Client,
    /// The client for login and update-token (the same one unless the two URLs differ in scheme).
    auth_client: Client,
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
        let client = build_client(settings, &api_url)?;
        let auth_client = if api_url.starts_with("http://") == auth_url.starts_with("http://") {
            client.clone()
        } else {
            build_client(settings, &auth_url)?
        };
        let api = HttpApi {
            client,
            auth_client,
            api_url,
            auth: Auth::new(settings.credentials.clone(), &auth_url),
            pacer,
            stats: Recorder::default(),
        };
        api.auth
            .start(api.wire())
            .map_err(|failure| match failure {
                AuthFailure::Refused(m) => ConnectError::Auth(m),
                AuthFailure::Unreachable(m) | AuthFailure::Throttled { message: m, .. } => {
                    ConnectError::Unreachable(m)
                }
            })?;
        Ok(api)
    }

    /// Send nothing more once `halt` is set: a request waiting for its permit, and every later
    /// one, fails with [`ApiError::Stopped`] without reaching the gateway.
    pub fn halt_on(&mut self, halt: crate::halt::Halt) {
        self.pacer.halt_on(halt);
    }

    /// Renew the token now, as after a 401: update-token while a refresh token is usable, else
    /// a new login. `doctor` uses it to prove renewal works before a long run needs it; the
    /// stats then tell which of the two was asked and what it answered.
    pub fn renew_token(&self) -> Result<(), ApiError> {
        self.auth.refused(self.auth.generation(), self.wire())
    }

    pub fn stats(&self) -> ApiStats {
        self.stats.snapshot()
    }

    /// Why the run never reached the API, when X-ray requests were sent and not one answer came
    /// from the API itself (only gateway pages, or no answer at all): a wrong `--api-url`, or
    /// something in the way. `None` as soon as one answer carried the API's envelope.
    pub fn never_reached(&self) -> Option<String> {
        let stats = self.stats.snapshot();
        if stats.api_requests == 0 || stats.api_answers > 0 {
            return None;
        }
        let got: Vec<String> = stats
            .requests
            .iter()
            .filter(|(endpoint, _)| endpoint.ends_with("-foto-xray"))
            .flat_map(|(endpoint, outcomes)| {
                outcomes
                    .iter()
                    .map(move |(outcome, n)| format!("{endpoint} {outcome} ×{n}"))
            })
            .collect();
        Some(format!(
            "the API could not be reached at {}: none of {} requests got an answer from the API \
             itself ({}); check --api-url",
            self.api_url,
            stats.api_requests,
            got.join(", ")
        ))
    }

    fn wire(&self) -> Wire<'_> {
        Wire {
            client: &self.auth_client,
            stats: &self.stats,
            pacer: &self.pacer,
        }
    }

    /// A renewal that failed because the halt refused its permit is a stop, not a failure.
    fn unless_halted(&self, err: ApiError) -> ApiError {
        if self.pacer.halted() {
            ApiError::Stopped
        } else {
            err
        }
    }

    fn url(&self, endpoint: Endpoint) -> String {
        format!("{}/xray/{}", self.api_url, endpoint.name())
    }

    /// Wait until the request can go out at once with a valid token: first the token (a
    /// renewal takes its own permits and may be slow), then a permit, then the token again, in
    /// case it ran out during the wait. A permit is never held while a token is being renewed,
    /// so a slow renewal cannot release a burst of requests that all waited for it.
    fn cleared(&self) -> Result<(Secret, u64), ApiError> {
        let mut races = 0;
        loop {
            if self.pacer.halted() {
                return Err(ApiError::Stopped);
            }
            let fresh = self
                .auth
                .token(self.wire())
                .map_err(|e| self.unless_halted(e))?;
            self.pacer.acquire().map_err(|_| ApiError::Stopped)?;
            if let Some(current) = self.auth.current() {
                return Ok(current);
            }
            races += 1;
            if races >= TOKEN_RACES {
                return Ok(fresh);
            }
        }
    }

    /// One X-ray request: a valid token, a permit, send, and on 401 one renewal and one repeat.
    /// 429 pauses every worker. `build` makes the request anew for each try.
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
            let (token, generation) = self.cleared()?;
            self.stats.xray_sent();
            let sent = std::time::Instant::now();
            let response = match request.bearer_auth(token.expose()).send() {
                Ok(response) => response,
                Err(err) => {
                    self.stats.outcome(endpoint.name(), failure_kind(&err));
                    let err = classify(&err);
                    let duration_ms = sent.elapsed().as_millis() as u64;
                    tracing::debug!(endpoint = endpoint.name(), nomor_aju, duration_ms, "{err}");
                    return Err(err);
                }
            };
            let status = response.status().as_u16();
            self.stats.outcome(endpoint.name(), &status.to_string());
            // Until the headers: the body is read below.
            let duration_ms = sent.elapsed().as_millis() as u64;
            tracing::debug!(
                endpoint = endpoint.name(),
                nomor_aju,
                status,
                duration_ms,
                "answered"
            );
            let throttled = (status == 429).then(|| self.wire().throttled(&response));
            let body = response.text().map_err(|err| {
                ApiError::Ambiguous(format!(
                    "the answer could not be read: {}",
                    error_chain(&err)
                ))
            });
            if body.as_deref().is_ok_and(is_api_answer) {
                self.stats.api_answered();
            }
            if let Some(retry_after) = throttled {
                return Err(ApiError::Throttled { retry_after });
            }
            if status == 401 {
                // Repeat once after renewing. A second 401 is final unless our token was
                // replaced meanwhile by another worker (then it was a race, not a refusal).
                if !renewed {
                    renewed = true;
                    self.auth
                        .refused(generation, self.wire())
                        .map_err(|e| self.unless_halted(e))?;
                    continue;
                }
                if self.auth.generation() != generation {
                    continue;
                }
                return Err(ApiError::Rejected {
                    status,
                    message: format!(
                        "token refused again after renewal: {}",
                        server_message(&body.unwrap_or_default())
                    ),
                });
            }
            return Ok(Reply {
                status,
                body: body?,
            });
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
        // The digests of the try that was sent last (each try streams the files anew).
        let digests = RefCell::new(Digests::default());
        let reply = self.exchange(endpoint, &meta.nomor_aju, &|client| {
            let (form, tapped) = upload_form(meta, images)?;
            digests.replace(tapped);
            Ok(client.post(&url).multipart(form))
        })?;
        let mut answer = upload_answer(
            matches!(endpoint, Endpoint::Kirim),
            reply.status,
            &reply.body,
        )?;
        if let UploadAnswer::Stored(ok) = &mut answer {
            ok.sent_sha256 = digests.borrow().sent();
        }
        Ok(answer)
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
