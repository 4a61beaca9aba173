//! What every request to the gateway shares, whether it is an X-ray request or a login: the
//! HTTP client, the counters and the one rate limiter (`Wire`), and how a failed send is read
//! (its text with causes, its kind, whether it may have been applied). Logins go through the same
//! limiter as X-ray requests: the rate is the contract with the gateway, whatever the endpoint.

use std::time::SystemTime;

use reqwest::blocking::{Client, Response};

use super::ApiError;
use super::answer::retry_after;
use super::pacer::Pacer;
use super::stats::Recorder;

/// The client, counters and limiter a request goes out with.
#[derive(Debug, Clone, Copy)]
pub struct Wire<'a> {
    pub client: &'a Client,
    pub stats: &'a Recorder,
    pub pacer: &'a Pacer,
}

impl Wire<'_> {
    /// A 429: pause every worker for the answer's `Retry-After`, count it, and say how long.
    pub fn throttled(&self, response: &Response) -> std::time::Duration {
        let header = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok());
        let wait = retry_after(header, SystemTime::now());
        self.pacer.pause(wait);
        self.stats.throttled();
        wait
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
pub fn classify(err: &reqwest::Error) -> ApiError {
    let text = error_chain(err);
    if err.is_connect() {
        ApiError::NotSent(text)
    } else if err.is_timeout() {
        ApiError::Ambiguous(format!("timeout: {text}"))
    } else {
        ApiError::Ambiguous(text)
    }
}
