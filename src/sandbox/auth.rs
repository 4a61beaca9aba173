//! The login service: `login` trades a username and password for an access token and a refresh
//! token, `update-token` trades a refresh token for fresh ones. Tokens are random opaque strings
//! held in memory only, so a restarted sandbox forgets them (clients log in again after a 401).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rand::Rng;
use serde::Serialize;
use serde_json::Value;

use super::App;

/// The longest a sandbox token lives, whatever `--token-ttl` says: a year is "forever" to a test.
const MAX_TTL: Duration = Duration::from_secs(365 * 24 * 3600);

#[derive(Default)]
pub struct Tokens {
    inner: Mutex<Grants>,
}

#[derive(Default)]
struct Grants {
    access: HashMap<String, Instant>,
    refresh: HashMap<String, Instant>,
}

/// The login answer: `{status, message, item}`.
#[derive(Debug, Serialize)]
struct LoginAnswer {
    status: &'static str,
    message: String,
    item: Option<TokenItem>,
}

#[derive(Debug, Serialize)]
struct TokenItem {
    access_token: String,
    expires_in: u64,
    refresh_token: String,
    refresh_expires_in: u64,
    token_type: &'static str,
    scope: &'static str,
}

impl Tokens {
    fn grants(&self) -> std::sync::MutexGuard<'_, Grants> {
        // Two maps of strings: nothing a panic could leave half-changed.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `token` is a live access token.
    pub fn check(&self, token: &str, now: Instant) -> bool {
        self.grants()
            .access
            .get(token)
            .is_some_and(|exp| *exp > now)
    }

    fn issue(&self, ttl: Duration, refresh_ttl: Duration) -> (String, String) {
        let now = Instant::now();
        // `--token-ttl` is any u64 of seconds: capped, so that `now + ttl` cannot overflow.
        let (ttl, refresh_ttl) = (ttl.min(MAX_TTL), refresh_ttl.min(MAX_TTL));
        let (access, refresh) = (random_token(), random_token());
        let mut g = self.grants();
        g.access.retain(|_, exp| *exp > now);
        g.refresh.retain(|_, exp| *exp > now);
        g.access.insert(access.clone(), now + ttl);
        g.refresh.insert(refresh.clone(), now + refresh_ttl);
        (access, refresh)
    }

    fn refresh_is_live(&self, token: &str, now: Instant) -> bool {
        self.grants()
            .refresh
            .get(token)
            .is_some_and(|exp| *exp > now)
    }
}

/// 32 random bytes as hex: opaque, like the gateway's tokens should be treated.
fn random_token() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    hex::encode(bytes)
}

/// The bearer token of an `Authorization` header (scheme matched case-insensitively).
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn answer(status: StatusCode, message: &str, item: Option<TokenItem>) -> Response {
    let body = LoginAnswer {
        status: if item.is_some() { "success" } else { "failed" },
        message: message.to_string(),
        item,
    };
    (status, Json(body)).into_response()
}

fn granted(app: &App, message: &str) -> Response {
    let cfg = &app.config;
    let (access_token, refresh_token) = app.tokens.issue(cfg.token_ttl, cfg.refresh_ttl);
    let item = TokenItem {
        access_token,
        expires_in: cfg.token_ttl.as_secs(),
        refresh_token,
        refresh_expires_in: cfg.refresh_ttl.as_secs(),
        token_type: "Bearer",
        scope: "openid",
    };
    answer(StatusCode::OK, message, Some(item))
}

/// `POST /nle-oauth/v1/user/login` with JSON `{username, password}`.
pub async fn login(State(app): State<Arc<App>>, body: Result<Bytes, BytesRejection>) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return answer(rejection.status(), &rejection.body_text(), None),
    };
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(&body) else {
        return answer(
            StatusCode::BAD_REQUEST,
            "The body must be a JSON object {\"username\", \"password\"}",
            None,
        );
    };
    let (Some(Value::String(user)), Some(Value::String(password))) =
        (fields.get("username"), fields.get("password"))
    else {
        return answer(
            StatusCode::BAD_REQUEST,
            "username and password must both be strings",
            None,
        );
    };
    if app.config.users.get(user) != Some(password) {
        return answer(
            StatusCode::UNAUTHORIZED,
            "Invalid username or password",
            None,
        );
    }
    granted(&app, "Login berhasil")
}

/// `POST /nle-oauth/v1/user/update-token` with `Authorization: Bearer <refresh_token>`. The
/// refresh token stays valid until it expires, so that workers refreshing at the same moment do
/// not lock each other out.
pub async fn update_token(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    match bearer(&headers) {
        Some(token) if app.tokens.refresh_is_live(token, Instant::now()) => {
            granted(&app, "Token berhasil diperbarui")
        }
        _ => answer(StatusCode::UNAUTHORIZED, "Invalid Refresh Token", None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_lifetime_can_be_issued() {
        let tokens = Tokens::default();
        let (access, refresh) = tokens.issue(Duration::MAX, Duration::from_secs(u64::MAX));
        let now = Instant::now();
        assert!(tokens.check(&access, now));
        assert!(tokens.refresh_is_live(&refresh, now));
    }
}
