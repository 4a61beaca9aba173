//! Tokens: login with `KIRIM_XRAY_USERNAME`/`KIRIM_XRAY_PASSWORD`, or a ready `KIRIM_XRAY_TOKEN`.
//! Access tokens live minutes (seconds in tests), so they are renewed before they run out; one
//! thread renews while the others wait on the same lock and then use the new token. A generation
//! number tells a worker whether the token a server refused has already been replaced by another
//! worker, so a burst of 401s leads to one renewal, not one per worker.
//! When no token can be had any more — a new login refused once the token ran out, or a ready
//! token refused — authentication is lost for the rest of the process: every later request fails
//! at once without asking the login service again (repeated refused logins can lock an account),
//! and [`Auth::lost`] tells the pipeline to start no new row.
//! No token, password or refresh token ever appears in a log line or an error message.

use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, RequestBuilder};
use serde_json::Value;

use super::answer::server_message;
use super::client::Recorder;
use super::{ApiError, Credentials, Secret};

/// Renew when less than this is left (or a third of the token's life, if that is shorter).
const MAX_MARGIN: Duration = Duration::from_secs(30);

/// The longest token lifetime believed: a server's number beyond it (or beyond what `Duration`
/// and `Instant` can hold) must not panic, and a day is far beyond any real access token.
const MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// Why no token could be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthFailure {
    /// The login service said no (bad credentials, unreadable answer): retrying will not help.
    Refused(String),
    /// The login service could not be reached or failed (transport error, 5xx).
    Unreachable(String),
}

impl AuthFailure {
    fn into_api_error(self) -> ApiError {
        match self {
            AuthFailure::Refused(m) => ApiError::Auth(m),
            // Nothing reached the X-ray API: safe to try again later.
            AuthFailure::Unreachable(m) => ApiError::NotSent(format!("no token: {m}")),
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
    state: Mutex<State>,
    /// Set once, while the state lock is held; read without it, so that the pipeline's check
    /// before each row never waits behind a login in progress.
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
    /// (wrong or revoked credentials do not come back during a run); an unreachable one is not.
    fn renewal_failed(&self, failure: AuthFailure) -> ApiError {
        match failure {
            AuthFailure::Refused(m) => {
                self.lose(format!("a new login was refused: {m}"), ApiError::Auth(m))
            }
            unreachable @ AuthFailure::Unreachable(_) => unreachable.into_api_error(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Obtain the first token: log in, or take the ready one.
    pub fn start(&self, client: &Client, stats: &Recorder) -> Result<(), AuthFailure> {
        let mut state = self.lock();
        self.renew(&mut state, client, stats)
    }

    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// The token to send now and its generation, renewed first if it is about to run out.
    pub fn token(&self, client: &Client, stats: &Recorder) -> Result<(Secret, u64), ApiError> {
        let mut state = self.lock();
        // Checked under the lock: the worker that lost it held the lock while it found out.
        if let Some(error) = self.lost_error() {
            return Err(error);
        }
        let now = Instant::now();
        let renew = match &state.tokens {
            None => true,
            Some(tokens) => tokens.needs_renewal(now),
        };
        if renew && let Err(failure) = self.renew(&mut state, client, stats) {
            match &state.tokens {
                // The old token still has a moment to live: use it, renewal is tried again next time.
                Some(tokens) if tokens.still_valid(now) => {
                    tracing::warn!("token renewal failed, using the current token: {failure:?}");
                }
                _ => return Err(self.renewal_failed(failure)),
            }
        }
        match &state.tokens {
            Some(tokens) => Ok((tokens.access.clone(), state.generation)),
            None => Err(ApiError::Auth("no token".into())),
        }
    }

    /// The API refused the token of `generation` with 401: renew it, unless another worker
    /// already did.
    pub fn refused(
        &self,
        generation: u64,
        client: &Client,
        stats: &Recorder,
    ) -> Result<(), ApiError> {
        let mut state = self.lock();
        if let Some(error) = self.lost_error() {
            return Err(error);
        }
        if state.generation != generation {
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
        self.renew(&mut state, client, stats)
            .map_err(|failure| self.renewal_failed(failure))
    }

    /// Install a new token: refresh if a refresh token is usable, else (or when refresh fails)
    /// log in again. Called with the lock held, so other workers wait for the result.
    fn renew(
        &self,
        state: &mut State,
        client: &Client,
        stats: &Recorder,
    ) -> Result<(), AuthFailure> {
        let tokens = match &self.credentials {
            Credentials::Token(token) => {
                if state.tokens.is_some() {
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
                let refreshed = match state
                    .tokens
                    .as_ref()
                    .and_then(|t| t.refresh_usable(Instant::now()))
                {
                    Some(refresh) => {
                        stats.token_refresh();
                        let request = client.post(&self.refresh_url).bearer_auth(refresh.expose());
                        match token_request(request, "update-token", stats) {
                            Ok(tokens) => Some(tokens),
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
                        stats.login();
                        let body = serde_json::json!({
                            "username": username,
                            "password": password.expose(),
                        });
                        token_request(client.post(&self.login_url).json(&body), "login", stats)?
                    }
                }
            }
        };
        state.tokens = Some(tokens);
        state.generation += 1;
        Ok(())
    }
}

/// Send a login or update-token request and read `item.access_token` & co. from the answer.
fn token_request(
    request: RequestBuilder,
    endpoint: &str,
    stats: &Recorder,
) -> Result<Tokens, AuthFailure> {
    let asked_at = Instant::now();
    let response = request.send().map_err(|err| {
        stats.outcome(endpoint, super::client::failure_kind(&err));
        AuthFailure::Unreachable(format!("{endpoint}: {}", super::client::error_chain(&err)))
    })?;
    let status = response.status().as_u16();
    stats.outcome(endpoint, &status.to_string());
    let body = response.text().map_err(|err| {
        AuthFailure::Unreachable(format!("{endpoint}: {}", super::client::error_chain(&err)))
    })?;
    // 408 and 429 say "not now", not "not you": like a 5xx, they do not lose authentication.
    if status >= 500 || status == 408 || status == 429 {
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
mod tests {
    use super::*;

    fn tokens(expires_in: Option<Duration>, margin: Duration) -> Tokens {
        Tokens {
            access: Secret::new("a"),
            refresh: Some(Secret::new("r")),
            expires_at: expires_in.map(|d| Instant::now() + d),
            refresh_expires_at: None,
            margin,
        }
    }

    #[test]
    fn renewal_starts_inside_the_margin() {
        let now = Instant::now();
        let t = tokens(Some(Duration::from_secs(300)), Duration::from_secs(30));
        assert!(!t.needs_renewal(now));
        assert!(t.needs_renewal(now + Duration::from_secs(271)));
        assert!(t.still_valid(now + Duration::from_secs(271)));
        assert!(!t.still_valid(now + Duration::from_secs(301)));
        let ready = tokens(None, Duration::ZERO);
        assert!(!ready.needs_renewal(now + Duration::from_secs(100_000)));
        assert!(ready.still_valid(now + Duration::from_secs(100_000)));
    }

    #[test]
    fn expired_refresh_token_is_not_used() {
        let now = Instant::now();
        let mut t = tokens(Some(Duration::from_secs(3)), Duration::from_secs(1));
        assert!(t.refresh_usable(now).is_some());
        t.refresh_expires_at = Some(now);
        assert!(t.refresh_usable(now).is_none());
    }

    #[test]
    fn debug_output_hides_every_secret() {
        let auth = Auth::new(
            Credentials::Login {
                username: "demo".into(),
                password: Secret::new("hunter2"),
            },
            "http://127.0.0.1:1",
        );
        auth.lock().tokens = Some(Tokens {
            access: Secret::new("access-token-value"),
            refresh: Some(Secret::new("refresh-token-value")),
            expires_at: None,
            refresh_expires_at: None,
            margin: Duration::ZERO,
        });
        let shown = format!("{auth:?}");
        for secret in ["hunter2", "access-token-value", "refresh-token-value"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
}
