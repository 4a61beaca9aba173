//! Tokens: login with `KIRIM_XRAY_USERNAME`/`KIRIM_XRAY_PASSWORD`, or a ready `KIRIM_XRAY_TOKEN`.
//! Access tokens live minutes (seconds in tests), so they are renewed before they run out. One
//! thread renews at a time (the renewal lock); the token itself sits behind a lock that is only
//! ever held for a moment, so a worker can always ask for the current token without waiting for
//! a renewal in progress: while the old token still lives, the others keep using it, and once it
//! has run out they wait for the new one. A generation number tells a worker whether the token a
//! server refused has already been replaced by another worker, so a burst of 401s leads to one
//! renewal, not one per worker.
//! Login and update-token take a permit from the same rate limiter as the X-ray requests, and a
//! 429 on them pauses every worker for its `Retry-After` like any other 429.
//! When no token can be had any more — a new login refused once the token ran out, or a ready
//! token refused — authentication is lost for the rest of the process: every later request fails
//! at once without asking the login service again (repeated refused logins can lock an account),
//! and [`Auth::lost`] tells the pipeline to start no new row.
//! No token, password or refresh token ever appears in a log line or an error message.

use std::sync::{Mutex, MutexGuard, OnceLock, TryLockError};
use std::time::{Duration, Instant};

use reqwest::blocking::RequestBuilder;
use serde_json::Value;

use super::answer::server_message;
use super::transport::{Wire, error_chain, failure_kind};
use super::{ApiError, Credentials, Secret};

/// Renew when less than this is left (or a third of the token's life, if that is shorter).
const MAX_MARGIN: Duration = Duration::from_secs(30);

/// The longest token lifetime believed: a server's number beyond it (or beyond what `Duration`
/// and `Instant` can hold) must not panic, and a day is far beyond any real access token.
const MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// How often the first login is tried when the login service answers 429 (each try after its
/// `Retry-After`). Later renewals are not repeated here: the row that needed the token retries.
const FIRST_LOGIN_TRIES: u32 = 3;

/// Why no token could be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthFailure {
    /// The login service said no (bad credentials, unreadable answer): retrying will not help.
    Refused(String),
    /// The login service could not be reached or failed (transport error, 5xx, 408).
    Unreachable(String),
    /// HTTP 429: every worker is already paused for `retry_after`.
    Throttled {
        message: String,
        retry_after: Duration,
    },
}

impl AuthFailure {
    fn into_api_error(self) -> ApiError {
        match self {
            AuthFailure::Refused(m) => ApiError::Auth(m),
            // Nothing reached the X-ray API: safe to try again later.
            AuthFailure::Unreachable(m) => ApiError::NotSent(format!("no token: {m}")),
            AuthFailure::Throttled { retry_after, .. } => ApiError::Throttled { retry_after },
        }
    }
}

#[derive(Debug)]
struct Tokens {
    access: Secret,
    refresh: Option<Secret>,
    /// None: lifetime unknown (a ready token); then only a 401 says it is over.
    expires_at: Option<Instant>,
    refresh_expires_at: Option<Instant>,
    margin: Duration,
}

impl Tokens {
    fn needs_renewal(&self, now: Instant) -> bool {
        self.expires_at.is_some_and(|at| now + self.margin >= at)
    }

    fn still_valid(&self, now: Instant) -> bool {
        self.expires_at.is_none_or(|at| now < at)
    }

    fn refresh_usable(&self, now: Instant) -> Option<&Secret> {
        let alive = self.refresh_expires_at.is_none_or(|at| now < at);
        self.refresh.as_ref().filter(|_| alive)
    }
}

#[derive(Debug)]
struct State {
    tokens: Option<Tokens>,
    /// Bumped each time a new access token is installed.
    generation: u64,
}

impl State {
    /// The token and its generation, if `keep` says it may be used.
    fn current(&self, keep: impl Fn(&Tokens) -> bool) -> Option<(Secret, u64)> {
        self.tokens
            .as_ref()
            .filter(|t| keep(t))
            .map(|t| (t.access.clone(), self.generation))
    }
}

/// Authentication lost for good: why (for people), and the error every later request gets.
#[derive(Debug)]
struct Lost {
    why: String,
    error: ApiError,
}

/// The shared token holder.
#[derive(Debug)]
pub struct Auth {
    credentials: Credentials,
    login_url: String,
    refresh_url: String,
    /// The token; held only for a moment, never across a request.
    state: Mutex<State>,
    /// Held for the whole of a renewal, so that one worker renews and the others wait for it.
    renewing: Mutex<()>,
    /// Set once, while the renewal lock is held; read without any lock, so that the pipeline's
    /// check before each row never waits behind a login in progress.
    lost: OnceLock<Lost>,
}

impl Auth {
    pub fn new(credentials: Credentials, auth_url: &str) -> Auth {
        Auth {
            credentials,
            login_url: format!("{auth_url}/nle-oauth/v1/user/login"),
            refresh_url: format!("{auth_url}/nle-oauth/v1/user/update-token"),
            state: Mutex::new(State {
                tokens: None,
                generation: 0,
            }),
            renewing: Mutex::new(()),
            lost: OnceLock::new(),
        }
    }

    /// Why no token can be had any more in this process, once that is known.
    pub fn lost(&self) -> Option<String> {
        self.lost.get().map(|lost| lost.why.clone())
    }

    /// The error of a request made after authentication was lost.
    fn lost_error(&self) -> Option<ApiError> {
        self.lost.get().map(|lost| lost.error.clone())
    }

    /// Record that authentication is lost (the first reason stays) and return `error`.
    fn lose(&self, why: String, error: ApiError) -> ApiError {
        if self
            .lost
            .set(Lost {
                why: why.clone(),
                error: error.clone(),
            })
            .is_ok()
        {
            tracing::error!("authentication lost: {why}; no new row will start");
        }
        error
    }

    /// A renewal that failed with no usable token left. A refusal by the login service is final
    /// (wrong or revoked credentials do not come back during a run); the others are not.
    fn renewal_failed(&self, failure: AuthFailure) -> ApiError {
        match failure {
            AuthFailure::Refused(m) => {
                self.lose(format!("a new login was refused: {m}"), ApiError::Auth(m))
            }
            other => other.into_api_error(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn renewal_lock(&self) -> MutexGuard<'_, ()> {
        self.renewing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The renewal lock if no one holds it; `None` while another worker renews.
    fn try_renewal_lock(&self) -> Option<MutexGuard<'_, ()>> {
        match self.renewing.try_lock() {
            Ok(guard) => Some(guard),
            Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }

    /// Obtain the first token: log in, or take the ready one. A login service that answers 429
    /// is asked again after its `Retry-After`, a few times.
    pub fn start(&self, wire: Wire<'_>) -> Result<(), AuthFailure> {
        let _renewing = self.renewal_lock();
        let mut tries = 0;
        loop {
            tries += 1;
            match self.renew(wire) {
                Err(AuthFailure::Throttled { message, .. }) if tries < FIRST_LOGIN_TRIES => {
                    tracing::warn!("{message}; trying again after the pause");
                }
                other => return other,
            }
        }
    }

    pub fn generation(&self) -> u64 {
        self.state().generation
    }

    /// The token to send with right now, if there is one that has not run out, and its
    /// generation. Never waits for a renewal: this is what a worker asks once it holds a rate
    /// permit, so that a permit is never held while a login is slow.
    pub fn current(&self) -> Option<(Secret, u64)> {
        if self.lost.get().is_some() {
            return None;
        }
        let now = Instant::now();
        self.state().current(|t| t.still_valid(now))
    }

    /// A token to send with, renewed first if it is about to run out, and its generation. While
    /// another worker renews, the current token is used as long as it lives; once it has run
    /// out, this waits for the renewal.
    pub fn token(&self, wire: Wire<'_>) -> Result<(Secret, u64), ApiError> {
        if let Some(error) = self.lost_error() {
            return Err(error);
        }
        let now = Instant::now();
        if let Some(fresh) = self.state().current(|t| !t.needs_renewal(now)) {
            return Ok(fresh);
        }
        let _renewing = match self.try_renewal_lock() {
            Some(guard) => guard,
            None => {
                if let Some(alive) = self.state().current(|t| t.still_valid(now)) {
                    return Ok(alive);
                }
                self.renewal_lock()
            }
        };
        // Checked under the renewal lock: the worker that lost it held the lock while it found
        // out. Another worker may also have renewed while this one waited.
        if let Some(error) = self.lost_error() {
            return Err(error);
        }
        let now = Instant::now();
        if let Some(fresh) = self.state().current(|t| !t.needs_renewal(now)) {
            return Ok(fresh);
        }
        if let Err(failure) = self.renew(wire) {
            // The old token still has a moment to live: use it, renewal is tried again next time.
            if let Some(alive) = self.state().current(|t| t.still_valid(Instant::now())) {
                tracing::warn!("token renewal failed, using the current token: {failure:?}");
                return Ok(alive);
            }
            return Err(self.renewal_failed(failure));
        }
        self.state()
            .current(|_| true)
            .ok_or_else(|| ApiError::Auth("no token".into()))
    }

    /// The API refused the token of `generation` with 401: renew it, unless another worker
    /// already did.
    pub fn refused(&self, generation: u64, wire: Wire<'_>) -> Result<(), ApiError> {
        let _renewing = self.renewal_lock();
        if let Some(error) = self.lost_error() {
            return Err(error);
        }
        if self.state().generation != generation {
            return Ok(());
        }
        if let Credentials::Token(_) = self.credentials {
            let message = "the API refused the token given in KIRIM_XRAY_TOKEN (a ready token \
                           cannot be refreshed)";
            return Err(self.lose(
                message.into(),
                ApiError::Rejected {
                    status: 401,
                    message: message.into(),
                },
            ));
        }
        self.renew(wire)
            .map_err(|failure| self.renewal_failed(failure))
    }

    /// Install a new token: refresh if a refresh token is usable, else (or when refresh is
    /// refused) log in again. Called with the renewal lock held, so other workers wait for the
    /// result; the token lock is not held during the requests.
    fn renew(&self, wire: Wire<'_>) -> Result<(), AuthFailure> {
        let tokens = match &self.credentials {
            Credentials::Token(token) => {
                if self.state().tokens.is_some() {
                    return Err(AuthFailure::Refused(
                        "a ready token (KIRIM_XRAY_TOKEN) cannot be renewed".into(),
                    ));
                }
                Tokens {
                    access: token.clone(),
                    refresh: None,
                    expires_at: None,
                    refresh_expires_at: None,
                    margin: Duration::ZERO,
                }
            }
            Credentials::Login { username, password } => {
                let refresh = self
                    .state()
                    .tokens
                    .as_ref()
                    .and_then(|t| t.refresh_usable(Instant::now()).cloned());
                let refreshed = match refresh {
                    Some(refresh) => {
                        wire.stats.token_refresh();
                        let request = wire
                            .client
                            .post(&self.refresh_url)
                            .bearer_auth(refresh.expose());
                        match token_request(request, "update-token", wire) {
                            Ok(tokens) => Some(tokens),
                            // "Not now" is not "not you": the refresh token is tried again
                            // after the pause rather than spent on a login.
                            Err(throttled @ AuthFailure::Throttled { .. }) => {
                                return Err(throttled);
                            }
                            Err(failure) => {
                                tracing::info!(
                                    "token refresh failed ({failure:?}); logging in again"
                                );
                                None
                            }
                        }
                    }
                    None => None,
                };
                match refreshed {
                    Some(tokens) => tokens,
                    None => {
                        wire.stats.login();
                        let body = serde_json::json!({
                            "username": username,
                            "password": password.expose(),
                        });
                        let request = wire.client.post(&self.login_url).json(&body);
                        token_request(request, "login", wire)?
                    }
                }
            }
        };
        let mut state = self.state();
        state.tokens = Some(tokens);
        state.generation += 1;
        Ok(())
    }
}

/// Send a login or update-token request and read `item.access_token` & co. from the answer.
fn token_request(
    request: RequestBuilder,
    endpoint: &str,
    wire: Wire<'_>,
) -> Result<Tokens, AuthFailure> {
    // One permit, like any request to the gateway; the wait also covers a 429 pause in force.
    wire.pacer.acquire().map_err(|_| {
        AuthFailure::Unreachable(format!("{endpoint}: not sent, the run is stopping"))
    })?;
    let asked_at = Instant::now();
    let response = request.send().map_err(|err| {
        wire.stats.outcome(endpoint, failure_kind(&err));
        AuthFailure::Unreachable(format!("{endpoint}: {}", error_chain(&err)))
    })?;
    let status = response.status().as_u16();
    wire.stats.outcome(endpoint, &status.to_string());
    let throttled = (status == 429).then(|| wire.throttled(&response));
    let body = response
        .text()
        .map_err(|err| AuthFailure::Unreachable(format!("{endpoint}: {}", error_chain(&err))))?;
    if let Some(retry_after) = throttled {
        return Err(AuthFailure::Throttled {
            message: format!(
                "{endpoint} answered HTTP 429: {}; every worker waits {retry_after:?}",
                server_message(&body)
            ),
            retry_after,
        });
    }
    // 408 says "not now", not "not you": like a 5xx, it does not lose authentication.
    if status >= 500 || status == 408 {
        return Err(AuthFailure::Unreachable(format!(
            "{endpoint} answered HTTP {status}: {}",
            server_message(&body)
        )));
    }
    if !(200..300).contains(&status) {
        return Err(AuthFailure::Refused(format!(
            "{endpoint} answered HTTP {status}: {}",
            server_message(&body)
        )));
    }
    // Never echo this body: it holds tokens.
    let answer: Value = serde_json::from_str(&body)
        .map_err(|_| AuthFailure::Refused(format!("the {endpoint} answer could not be read")))?;
    let item = answer.get("item").unwrap_or(&Value::Null);
    let access = item
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            let message = answer
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("no access_token in the answer");
            AuthFailure::Refused(format!("{endpoint}: {message}"))
        })?;
    let seconds = |key: &str| -> Option<Duration> {
        let value = item.get(key)?;
        let secs = value
            .as_f64()
            .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))?;
        // Capped before converting: from_secs_f64 panics on a value Duration cannot hold.
        (secs.is_finite() && secs > 0.0)
            .then(|| Duration::from_secs_f64(secs.min(MAX_LIFETIME.as_secs_f64())))
    };
    let ttl = seconds("expires_in");
    Ok(Tokens {
        access: Secret::new(access),
        refresh: item
            .get("refresh_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(Secret::new),
        expires_at: ttl.map(|ttl| asked_at + ttl),
        refresh_expires_at: seconds("refresh_expires_in").map(|ttl| asked_at + ttl),
        margin: ttl.map_or(Duration::ZERO, |ttl| MAX_MARGIN.min(ttl / 3)),
    })
}

#[cfg(test)]
#[path = "auth_tests.rs"]
mod tests;
