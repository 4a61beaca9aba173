//! A local, faithful simulation of the customs X-ray API (DESIGN "The sandbox"). It is the demo's
//! server and what every test talks to, over loopback, so its answers follow the API text to the
//! letter; where the text is silent, the choice made is listed in `docs/sandbox.md`.
//!
//! `answer.rs` holds the answer shapes, `auth.rs` the login service, `gateway.rs` what stands in
//! front of the API (counting, rate limits, tokens, the gateway's own pages), `upload.rs` the strict
//! multipart checks, `xray.rs` the three endpoints, `replica.rs` what get sees, `late.rs` late
//! commits, `store.rs` what customs holds, `traffic.rs` the counters and fault dice.

mod answer;
mod auth;
mod config;
mod gateway;
mod late;
mod replica;
mod store;
mod summary;
mod traffic;
mod upload;
mod xray;

pub use config::{Config, Document};

use std::future::Future;
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use tokio::net::TcpListener;

use crate::cli::SandboxArgs;
use late::{LateCommits, LateCounts};
use store::{Record, Store};
use traffic::{ImageBytes, Traffic};

/// The two base paths of the API text; both serve the same three endpoints.
pub const BASE_OPENAPI: &str = "/openapi/cnpibk";
pub const BASE_PUBLIC: &str = "/kirim-cn-pibk-barkir-public/kirim-cn-pibk-barkir";

/// How long in-flight requests may run on after SIGINT/SIGTERM before the server stops anyway.
const DRAIN: Duration = Duration::from_secs(10);

/// Shared by every handler.
pub(crate) struct App {
    config: Config,
    store: Arc<Store>,
    tokens: auth::Tokens,
    traffic: Traffic,
    late: LateCommits,
}

impl App {
    /// Make `state.json` hold at least `generation` (nothing to do without a state folder).
    async fn persist(&self, generation: u64) -> Result<(), String> {
        if !self.store.has_dir() {
            return Ok(());
        }
        let store = self.store.clone();
        xray::flatten(tokio::task::spawn_blocking(move || store.persist(generation)).await)
    }
}

/// A sandbox ready to serve: settings checked, state loaded.
pub struct Server {
    app: Arc<App>,
}

impl Server {
    pub fn new(config: Config) -> anyhow::Result<Server> {
        let store = Store::open(config.state_dir.as_deref())?;
        let traffic = Traffic::new(config.seed, config.max_rps);
        let late = LateCommits::new(config.late_commit_delay);
        Ok(Server {
            app: Arc::new(App {
                config,
                store: Arc::new(store),
                tokens: auth::Tokens::default(),
                traffic,
                late,
            }),
        })
    }

    /// Serve on `listener` until `shutdown` resolves, then let in-flight requests finish (for
    /// at most ten seconds). Late commits still pending then are lost.
    pub async fn serve<F>(self, listener: TcpListener, shutdown: F) -> anyhow::Result<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let app = self.app.clone();
        // Applies late commits while the server runs; dropped with it, pending commits and all.
        let late_commits = async move { app.late.run().await };
        let (stopping_tx, mut stopping_rx) = tokio::sync::watch::channel(false);
        let server = axum::serve(listener, router(self.app)).with_graceful_shutdown(async move {
            shutdown.await;
            let _ = stopping_tx.send(true);
        });
        let deadline = async move {
            // Resolves DRAIN after the shutdown signal; never when the server ends first.
            if stopping_rx.wait_for(|stopping| *stopping).await.is_err() {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(DRAIN).await;
        };
        tokio::select! {
            result = server => result.context("the sandbox server failed")?,
            () = deadline => tracing::warn!("requests still running after {DRAIN:?}; stopping anyway"),
            () = late_commits => {}
        }
        Ok(())
    }
}

/// In-process use (benches, tests): serve `config` on `listener` until `shutdown` resolves.
pub async fn serve<F>(listener: TcpListener, config: Config, shutdown: F) -> anyhow::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    Server::new(config)?.serve(listener, shutdown).await
}

/// `kirim-xray sandbox`: serve until SIGINT/SIGTERM.
pub fn main(args: &SandboxArgs) -> anyhow::Result<()> {
    if let Some(url) = &args.summary {
        print!("{}", summary::summary(url)?);
        return Ok(());
    }
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
    let config = Config::from_args(args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let server = Server::new(config)?;
        let listener = TcpListener::bind(args.bind)
            .await
            .with_context(|| format!("cannot listen on {}", args.bind))?;
        let addr = listener.local_addr()?;
        {
            // The first stdout line is a contract: scripts and tests read the address from it.
            let mut out = std::io::stdout().lock();
            writeln!(out, "listening on http://{addr}")?;
            out.flush()?;
        }
        if !addr.ip().is_loopback() {
            tracing::warn!(%addr, "the sandbox is reachable from other machines");
        }
        server.serve(listener, stop_signal()).await?;
        tracing::info!("sandbox stopped");
        Ok(())
    })
}

/// SIGINT or SIGTERM.
async fn stop_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}

fn router(app: Arc<App>) -> Router {
    let limit = usize::try_from(app.config.max_body_bytes).unwrap_or(usize::MAX);
    let mut api = Router::new()
        .route("/nle-oauth/v1/user/login", post(auth::login))
        .route("/nle-oauth/v1/user/update-token", post(auth::update_token));
    for base in [BASE_OPENAPI, BASE_PUBLIC] {
        api = api
            .route(&format!("{base}/xray/kirim-foto-xray"), post(xray::kirim))
            .route(&format!("{base}/xray/add-foto-xray"), post(xray::add))
            .route(&format!("{base}/xray/get-foto-xray"), get(xray::get));
    }
    let api = api
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            gateway::front,
        ));
    Router::new()
        .merge(api)
        .route("/__sandbox/state", get(state))
        .route("/__sandbox/reset", post(reset))
        .route("/__sandbox/photos/{sha256}", get(photo))
        .fallback(gateway::unknown_path)
        .with_state(app)
}

/// `GET /__sandbox/state`
#[derive(Serialize)]
struct StateAnswer {
    records: Vec<Record>,
    requests: std::collections::BTreeMap<&'static str, std::collections::BTreeMap<String, u64>>,
    max_rps: usize,
    image_bytes_received: ImageBytes,
    late_commits: LateCounts,
}

async fn state(State(app): State<Arc<App>>) -> Response {
    // Late commits first: a commit applied in between then shows in `records`, never the other
    // way round (counted applied, missing from `records`).
    let late_commits = app.late.report();
    let traffic = app.traffic.report();
    Json(StateAnswer {
        records: app.store.records(),
        requests: traffic.requests,
        max_rps: traffic.max_rps,
        image_bytes_received: traffic.image_bytes,
        late_commits,
    })
    .into_response()
}

/// `POST /__sandbox/reset`: forget every record and counter, and drop pending late commits
/// (tokens stay valid).
async fn reset(State(app): State<Arc<App>>) -> Response {
    app.late.reset();
    let generation = app.store.reset();
    app.traffic.reset();
    if let Err(message) = app.persist(generation).await {
        tracing::error!("cannot save the sandbox state: {message}");
        return answer::error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
    }
    Json(serde_json::json!({"reset": true})).into_response()
}

/// `GET /__sandbox/photos/{sha256}`: a stored photo's bytes, to check what customs received.
async fn photo(State(app): State<Arc<App>>, Path(sha256): Path<String>) -> Response {
    let valid = sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit());
    let found = if valid {
        let store = app.store.clone();
        tokio::task::spawn_blocking(move || store.photo(&sha256.to_ascii_lowercase()))
            .await
            .ok()
            .flatten()
    } else {
        None
    };
    match found {
        Some((content_type, data)) => {
            ([(axum::http::header::CONTENT_TYPE, content_type)], data).into_response()
        }
        None => not_found().await,
    }
}

async fn not_found() -> Response {
    answer::error(StatusCode::NOT_FOUND, "Not Found")
}
