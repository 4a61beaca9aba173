//! The gateway in front of the endpoints: it counts every request, adds latency, and refuses before
//! the backend sees anything, in this order: `--max-rps` (every API endpoint) and
//! `--throttle-rate` (429), `--gateway-error-rate` (an HTML 502 or 504 page), a bad token (401),
//! `--fail-rate` (503). A path it does not route gets its HTML 404 page, as a web server in front
//! of an API does: none of these pages is the API's own answer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;

use super::auth::bearer;
use super::traffic::Endpoint;
use super::{App, Config, answer, upload};

/// Middleware over the API routes: counting, latency, and the gateway's refusals.
pub async fn front(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let Some(endpoint) = Endpoint::from_path(request.uri().path()) else {
        return next.run(request).await;
    };
    let admitted = app.traffic.arrive(Instant::now(), true);
    let delay = latency(&app.config, endpoint);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let response = if !admitted {
        refuse(&app, endpoint, request, throttled(&app)).await
    } else if endpoint.is_xray() {
        gate(&app, endpoint, request, next).await
    } else {
        next.run(request).await
    };
    app.traffic.count(endpoint, response.status().as_u16());
    response
}

/// The delay before an endpoint's answer: `--latency-ms` for every API endpoint, plus
/// `--auth-latency-ms` for login and update-token.
fn latency(config: &Config, endpoint: Endpoint) -> Duration {
    if endpoint.is_auth() {
        config.latency.saturating_add(config.auth_latency)
    } else {
        config.latency
    }
}

async fn gate(app: &App, endpoint: Endpoint, request: Request, next: Next) -> Response {
    let cfg = &app.config;
    let refusal = if app.traffic.roll(cfg.throttle_rate) {
        throttled(app)
    } else if app.traffic.roll(cfg.gateway_error_rate) {
        let status = if app.traffic.roll(0.5) {
            StatusCode::BAD_GATEWAY
        } else {
            StatusCode::GATEWAY_TIMEOUT
        };
        answer::gateway_page(status)
    } else if !bearer(request.headers()).is_some_and(|t| app.tokens.check(t, Instant::now())) {
        answer::unauthorized()
    } else if app.traffic.roll(cfg.fail_rate) {
        answer::unavailable()
    } else {
        return next.run(request).await;
    };
    refuse(app, endpoint, request, refusal).await
}

fn throttled(app: &App) -> Response {
    answer::throttled(app.config.retry_after_secs)
}

/// Read and drop a refused request's body before answering (so that the client reads the refusal
/// rather than a connection closed under its upload), counting the image bytes it carried.
async fn refuse(app: &App, endpoint: Endpoint, request: Request, refusal: Response) -> Response {
    let limit = app.config.max_body_bytes;
    if matches!(endpoint, Endpoint::Kirim | Endpoint::Add) {
        let bytes = upload::drain_upload(request, limit).await;
        app.traffic.received(endpoint, bytes);
    } else {
        upload::drain(request, limit).await;
    }
    refusal
}

/// Every path no route serves. Under `/__sandbox/` that is the sandbox's own JSON 404; anywhere
/// else it is the web server's HTML 404 page, counted as a gateway request (`other`).
pub async fn unknown_path(State(app): State<Arc<App>>, request: Request) -> Response {
    let path = request.uri().path();
    if path == "/__sandbox" || path.starts_with("/__sandbox/") {
        return answer::error(StatusCode::NOT_FOUND, "Not Found");
    }
    app.traffic.arrive(Instant::now(), false);
    upload::drain(request, app.config.max_body_bytes).await;
    app.traffic
        .count(Endpoint::Other, StatusCode::NOT_FOUND.as_u16());
    answer::gateway_page(StatusCode::NOT_FOUND)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_latency_delays_login_and_update_token_only() {
        let config = Config {
            latency: Duration::from_millis(10),
            auth_latency: Duration::from_millis(500),
            ..Config::default()
        };
        for endpoint in [Endpoint::Login, Endpoint::UpdateToken] {
            assert_eq!(latency(&config, endpoint), Duration::from_millis(510));
        }
        for endpoint in [Endpoint::Kirim, Endpoint::Add, Endpoint::Get] {
            assert_eq!(latency(&config, endpoint), Duration::from_millis(10));
        }
    }
}
