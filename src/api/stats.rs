//! The client's counters for summary.json (requests per endpoint and outcome, 429s, logins), kept
//! apart from the client so that the token holder can count its own requests without knowing the
//! client. Also remembers whether any answer came from the API itself: a run where none did never
//! reached the API (a wrong `--api-url`, a gateway in the way), which is exit 3.

use std::collections::BTreeMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::Serialize;

/// Counters for summary.json. No secrets.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ApiStats {
    /// endpoint (`login`, `update-token`, `kirim-foto-xray`, `add-foto-xray`, `get-foto-xray`) →
    /// HTTP status (`"200"`, `"409"`...) or failure kind (`"timeout"`, `"transport"`) → count.
    pub requests: BTreeMap<String, BTreeMap<String, u64>>,
    /// X-ray API requests sent (the three endpoints; not login/update-token).
    pub api_requests: u64,
    /// X-ray answers that carried the API's own envelope (`success`/`code`): proof that the
    /// requests reached the API, not only a gateway in front of it.
    pub api_answers: u64,
    /// HTTP 429 answers (login and update-token included).
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

    pub fn xray_sent(&self) {
        let now = Utc::now();
        self.with(|s| {
            s.api_requests += 1;
            s.first_request_at.get_or_insert(now);
            s.last_request_at = Some(now);
        });
    }

    pub fn api_answered(&self) {
        self.with(|s| s.api_answers += 1);
    }

    pub fn throttled(&self) {
        self.with(|s| s.throttled += 1);
    }

    pub fn login(&self) {
        self.with(|s| s.logins += 1);
    }

    pub fn token_refresh(&self) {
        self.with(|s| s.token_refreshes += 1);
    }

    pub fn snapshot(&self) -> ApiStats {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}
