//! The HTTP client end to end against a tiny axum server on 127.0.0.1:0 that issues tokens,
//! checks them, records multipart parts, and answers with scripted statuses when told to.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Multipart, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::*;
use crate::api::{Credentials, Secret, UploadAnswer};

const PASSWORD: &str = "pa55-word-not-to-be-shown";

#[derive(Debug, Clone)]
struct Part {
    name: String,
    file_name: Option<String>,
    content_type: Option<String>,
    body: Vec<u8>,
}

#[derive(Debug, Clone)]
struct Forced {
    status: u16,
    retry_after: Option<&'static str>,
    body: String,
    delay: Duration,
}

/// Every n-th upload misbehaves: stored then 503, 503 before storing, 429.
#[derive(Debug, Clone, Copy)]
struct Chaos {
    ambiguous_every: u32,
    fail_every: u32,
    throttle_every: u32,
}

#[derive(Default)]
struct Inner {
    /// Access token → when it stops being accepted.
    access: HashMap<String, Option<Instant>>,
    refresh: HashSet<String>,
    issued: u32,
    /// `expires_in` of issued tokens (a JSON value, so tests can send tiny fractions).
    expires_in: Option<Value>,
    forced: VecDeque<Forced>,
    /// Multipart parts of each upload.
    uploads: Vec<Vec<Part>>,
    /// nomorAju → names held, duplicates kept.
    records: HashMap<String, Vec<String>>,
    chaos: Option<Chaos>,
    calls: u32,
    /// (endpoint, status) of every answer.
    log: Vec<(String, u16)>,
    /// When set, every login is answered with this status (401: the password was changed).
    login_status: Option<u16>,
    /// Scripted answers of the next logins, before any other rule.
    login_forced: VecDeque<Forced>,
    /// How long login and update-token take (a slow login service).
    auth_delay: Duration,
    /// Endpoint and arrival time of every request, as the server saw them.
    arrivals: Vec<(String, Instant)>,
}

type Shared = Arc<Mutex<Inner>>;

struct TestServer {
    addr: SocketAddr,
    state: Shared,
}

impl TestServer {
    fn start() -> TestServer {
        let state: Shared = Arc::default();
        let app = Router::new()
            .route("/auth/nle-oauth/v1/user/login", post(login_route))
            .route("/auth/nle-oauth/v1/user/update-token", post(update_token))
            .route("/api/xray/kirim-foto-xray", post(kirim))
            .route("/api/xray/add-foto-xray", post(add))
            .route("/api/xray/get-foto-xray", get(get_photos))
            .fallback(web_server_404)
            .with_state(state.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(listener, app).await.unwrap();
            });
        });
        TestServer { addr, state }
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.state.lock().unwrap()
    }

    fn force(&self, status: u16, body: &str) {
        self.force_with(Forced {
            status,
            retry_after: None,
            body: body.into(),
            delay: Duration::ZERO,
        });
    }

    fn force_with(&self, forced: Forced) {
        self.inner().forced.push_back(forced);
    }

    fn settings(&self, credentials: Credentials) -> ApiSettings {
        ApiSettings {
            api_url: format!("http://{}/api", self.addr),
            auth_url: format!("http://{}/auth/", self.addr),
            rate: 1000.0,
            burst: 10,
            timeout: Duration::from_secs(10),
            allow_http: false,
            ca_cert: None,
            credentials,
        }
    }

    fn connect(&self) -> HttpApi {
        HttpApi::connect(&self.settings(login("demo"))).unwrap()
    }

    fn log(&self) -> Vec<(String, u16)> {
        self.inner().log.clone()
    }
}

fn login(user: &str) -> Credentials {
    Credentials::Login {
        username: user.into(),
        password: Secret::new(PASSWORD),
    }
}

fn answer(status: u16, body: Value) -> Response {
    (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
}

fn issue(inner: &mut Inner, endpoint: &str) -> Response {
    inner.issued += 1;
    let (access, refresh) = (
        format!("acc-{}", inner.issued),
        format!("ref-{}", inner.issued),
    );
    let ttl = inner.expires_in.as_ref().and_then(Value::as_f64);
    let expiry = ttl.map(|secs| Instant::now() + Duration::from_secs_f64(secs));
    inner.access.insert(access.clone(), expiry);
    inner.refresh.insert(refresh.clone());
    inner.log.push((endpoint.into(), 200));
    answer(
        200,
        json!({"status": true, "message": "ok", "item": {
            "access_token": access, "refresh_token": refresh,
            "expires_in": inner.expires_in.clone().unwrap_or(json!(300)),
            "refresh_expires_in": 3600, "token_type": "Bearer", "scope": "x"}}),
    )
}

/// Any other path: the web server's own HTML page, after reading the request whole (so that a
/// client streaming an upload reads the page, not a connection closed under it).
async fn web_server_404(_body: axum::body::Bytes) -> Response {
    let page = "<html><head><title>404 Not Found</title></head><body>nginx</body></html>";
    (StatusCode::NOT_FOUND, [("content-type", "text/html")], page).into_response()
}

fn bearer(headers: &HeaderMap) -> String {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_string()
}

/// Note the arrival of a request, then take the login service's time.
async fn arrive(state: &Shared, endpoint: &str) {
    let delay = {
        let mut inner = state.lock().unwrap();
        inner.arrivals.push((endpoint.into(), Instant::now()));
        inner.auth_delay
    };
    if endpoint == "login" || endpoint == "update-token" {
        tokio::time::sleep(delay).await;
    }
}

async fn login_route(State(state): State<Shared>, axum::Json(body): axum::Json<Value>) -> Response {
    arrive(&state, "login").await;
    let mut inner = state.lock().unwrap();
    if let Some(forced) = inner.login_forced.pop_front() {
        inner.log.push(("login".into(), forced.status));
        let mut response =
            (StatusCode::from_u16(forced.status).unwrap(), forced.body).into_response();
        if let Some(after) = forced.retry_after {
            response
                .headers_mut()
                .insert("retry-after", after.parse().unwrap());
        }
        return response;
    }
    if let Some(status) = inner.login_status {
        inner.log.push(("login".into(), status));
        let mut response = answer(
            status,
            json!({"status": false, "message": "Username atau password salah"}),
        );
        if status == 429 {
            response
                .headers_mut()
                .insert("retry-after", "0".parse().unwrap());
        }
        return response;
    }
    if body["username"] == "demo" && body["password"] == PASSWORD {
        issue(&mut inner, "login")
    } else {
        inner.log.push(("login".into(), 401));
        answer(
            401,
            json!({"status": false, "message": "Username atau password salah"}),
        )
    }
}

async fn update_token(State(state): State<Shared>, headers: HeaderMap) -> Response {
    arrive(&state, "update-token").await;
    let mut inner = state.lock().unwrap();
    if inner.refresh.remove(&bearer(&headers)) {
        issue(&mut inner, "update-token")
    } else {
        inner.log.push(("update-token".into(), 401));
        answer(
            401,
            json!({"status": false, "message": "refresh token expired"}),
        )
    }
}

/// Auth check and scripted answer shared by the X-ray endpoints.
async fn gate(state: &Shared, headers: &HeaderMap, endpoint: &str) -> Option<Response> {
    arrive(state, endpoint).await;
    let forced = {
        let mut inner = state.lock().unwrap();
        let valid = inner
            .access
            .get(&bearer(headers))
            .is_some_and(|expiry| expiry.is_none_or(|at| Instant::now() < at));
        if !valid {
            inner.log.push((endpoint.into(), 401));
            return Some(answer(
                401,
                json!({"success": false, "data": null, "code": 401, "message": "Invalid Authorization Token"}),
            ));
        }
        let forced = inner.forced.pop_front();
        if let Some(f) = &forced {
            inner.log.push((endpoint.into(), f.status));
        }
        forced
    }?;
    tokio::time::sleep(forced.delay).await;
    let mut response = (StatusCode::from_u16(forced.status).unwrap(), forced.body).into_response();
    if let Some(after) = forced.retry_after {
        response
            .headers_mut()
            .insert("retry-after", after.parse().unwrap());
    }
    Some(response)
}

async fn kirim(State(state): State<Shared>, headers: HeaderMap, form: Multipart) -> Response {
    upload(state, headers, form, true).await
}

async fn add(State(state): State<Shared>, headers: HeaderMap, form: Multipart) -> Response {
    upload(state, headers, form, false).await
}

async fn upload(state: Shared, headers: HeaderMap, mut form: Multipart, kirim: bool) -> Response {
    if let Some(response) = gate(&state, &headers, "upload").await {
        return response;
    }
    let mut parts = Vec::new();
    while let Some(field) = form.next_field().await.unwrap() {
        parts.push(Part {
            name: field.name().unwrap_or_default().to_string(),
            file_name: field.file_name().map(str::to_string),
            content_type: field.content_type().map(str::to_string),
            body: field.bytes().await.unwrap().to_vec(),
        });
    }
    let data: Value = serde_json::from_slice(&parts[0].body).unwrap();
    let aju = data["nomorAju"].as_str().unwrap().to_string();
    let names: Vec<String> = parts.iter().filter_map(|p| p.file_name.clone()).collect();
    let mut inner = state.lock().unwrap();
    inner.calls += 1;
    let n = inner.calls;
    let chaos = inner.chaos;
    let hit = |every: Option<u32>| every.is_some_and(|e| n.is_multiple_of(e));
    if hit(chaos.map(|c| c.throttle_every)) {
        inner.log.push(("upload".into(), 429));
        let mut response = answer(429, json!({"message": "slow down"}));
        response
            .headers_mut()
            .insert("retry-after", "0".parse().unwrap());
        return response;
    }
    if hit(chaos.map(|c| c.fail_every)) {
        inner.log.push(("upload".into(), 503));
        return answer(503, json!({"message": "down"}));
    }
    let exists = inner.records.contains_key(&aju);
    if kirim && exists {
        inner.log.push(("upload".into(), 409));
        return answer(
            409,
            json!({"success": false, "code": 409, "message": "Data X-Ray sudah ada"}),
        );
    }
    if !kirim && !exists {
        inner.log.push(("upload".into(), 200));
        return answer(
            200,
            json!({"success": false, "code": 404, "message": "Data Foto Xray tidak ditemukan"}),
        );
    }
    let count = names.len();
    inner.records.entry(aju).or_default().extend(names);
    inner.uploads.push(parts);
    if hit(chaos.map(|c| c.ambiguous_every)) {
        inner.log.push(("upload".into(), 503));
        return answer(503, json!({"message": "stored, but the answer got lost"}));
    }
    inner.log.push(("upload".into(), 200));
    answer(
        200,
        json!({"success": true, "code": 200, "message": "Sukses Kirim Foto Xray",
               "data": {"npwpPemberitahu": "0123", "jumlahFotoTerupload": count}}),
    )
}

async fn get_photos(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Some(response) = gate(&state, &headers, "get").await {
        return response;
    }
    let mut inner = state.lock().unwrap();
    let aju = query.get("nomorAju").cloned().unwrap_or_default();
    let Some(names) = inner.records.get(&aju).cloned() else {
        inner.log.push(("get".into(), 404));
        return answer(
            404,
            json!({"success": false, "code": 404, "message": "tidak ditemukan"}),
        );
    };
    inner.log.push(("get".into(), 200));
    let detail: Vec<Value> = names
        .iter()
        .map(|n| json!({"namaFile": n, "waktuRekam": "2025-01-01 10:00:00"}))
        .collect();
    answer(
        200,
        json!({"success": true, "code": 200, "message": "ok", "data": {
            "nomorAju": aju, "npwpPemberitahu": "0123",
            "totalFotoTerupload": detail.len(), "detail": detail}}),
    )
}

fn meta() -> DocMeta {
    DocMeta {
        nomor_aju: "AJU-1".into(),
        nomor_bl_awb: "BL-1".into(),
        tanggal_bl_awb: "2025-09-30".into(),
        kode_kantor: "009000".into(),
    }
}

fn photo(
    dir: &std::path::Path,
    name: &str,
    content: &[u8],
    content_type: &'static str,
) -> LocalImage {
    use sha2::Digest;
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    LocalImage {
        name: name.into(),
        path,
        bytes: content.len() as u64,
        sha256: hex::encode(sha2::Sha256::digest(content)),
        content_type,
    }
}

#[test]
fn upload_body_is_multipart_with_json_data_and_named_images() {
    let server = TestServer::start();
    let api = server.connect();
    let dir = tempfile::tempdir().unwrap();
    let images = vec![
        photo(dir.path(), "a.jpg", b"\xFF\xD8\xFFjpeg-bytes", "image/jpeg"),
        photo(dir.path(), "b b.png", b"\x89PNG\r\n\x1a\nmore", "image/png"),
    ];
    let answer = api.kirim(&meta(), &images).unwrap();
    assert!(matches!(answer, UploadAnswer::Stored(ok) if ok.jumlah_foto_terupload == Some(2)));
    let uploads = server.inner().uploads.clone();
    assert_eq!(uploads.len(), 1);
    let parts = &uploads[0];
    assert_eq!(parts.len(), 3);
    assert_eq!(parts[0].name, "data");
    assert_eq!(parts[0].content_type.as_deref(), Some("application/json"));
    let data: Value = serde_json::from_slice(&parts[0].body).unwrap();
    assert_eq!(
        data,
        json!({"nomorAju": "AJU-1", "nomorBlAwb": "BL-1", "tanggalBlAwb": "2025-09-30", "kodeKantor": "009000"})
    );
    for (part, image) in parts[1..].iter().zip(&images) {
        assert_eq!(part.name, "images");
        assert_eq!(part.file_name.as_deref(), Some(image.name.as_str()));
        assert_eq!(part.content_type.as_deref(), Some(image.content_type));
        assert_eq!(part.body, std::fs::read(&image.path).unwrap());
    }
    // get lists what was stored.
    let record = api.get("AJU-1").unwrap().unwrap();
    let names: Vec<_> = record.detail.iter().map(|p| p.nama_file.as_str()).collect();
    assert_eq!(names, ["a.jpg", "b b.png"]);

    let stats = api.stats();
    assert_eq!(stats.api_requests, 2);
    assert_eq!(stats.logins, 1);
    assert_eq!(stats.requests["kirim-foto-xray"]["200"], 1);
    assert_eq!(stats.requests["get-foto-xray"]["200"], 1);
    assert_eq!(stats.requests["login"]["200"], 1);
    assert!(stats.first_request_at.is_some() && stats.last_request_at >= stats.first_request_at);
}

#[test]
fn a_photo_that_cannot_be_opened_names_the_photo_and_sends_nothing() {
    let server = TestServer::start();
    let api = server.connect();
    let dir = tempfile::tempdir().unwrap();
    let mut gone = photo(dir.path(), "gone.jpg", b"x", "image/jpeg");
    std::fs::remove_file(&gone.path).unwrap();
    let err = api.add(&meta(), std::slice::from_ref(&gone)).unwrap_err();
    assert!(
        matches!(&err, ApiError::Local(m) if m.contains("gone.jpg")),
        "{err:?}"
    );
    gone = photo(dir.path(), "grew.jpg", b"xyz", "image/jpeg");
    gone.bytes = 1;
    let err = api.add(&meta(), &[gone]).unwrap_err();
    assert!(matches!(&err, ApiError::Local(m) if m.contains("grew.jpg") && m.contains("changed")));
    assert_eq!(api.stats().api_requests, 0);
}

#[test]
fn refused_token_is_refreshed_once_and_the_request_repeated() {
    let server = TestServer::start();
    let api = server.connect();
    server.inner().records.insert("AJU-1".into(), Vec::new());
    server.inner().access.clear();
    assert!(api.get("AJU-1").unwrap().is_some());
    assert_eq!(
        server.log(),
        [
            ("login".into(), 200),
            ("get".into(), 401),
            ("update-token".into(), 200),
            ("get".into(), 200)
        ]
    );
    let stats = api.stats();
    assert_eq!(
        (stats.token_refreshes, stats.logins, stats.api_requests),
        (1, 1, 2)
    );
    assert_eq!(stats.requests["get-foto-xray"]["401"], 1);

    // When the refresh token is refused too, log in again.
    {
        let mut inner = server.inner();
        inner.access.clear();
        inner.refresh.clear();
    }
    assert!(api.get("AJU-1").unwrap().is_some());
    assert_eq!(
        server.log()[4..],
        [
            ("get".into(), 401),
            ("update-token".into(), 401),
            ("login".into(), 200),
            ("get".into(), 200)
        ]
    );
    assert_eq!(api.stats().logins, 2);
}

#[test]
fn a_token_about_to_expire_is_renewed_before_sending() {
    let server = TestServer::start();
    server.inner().expires_in = Some(json!(0.001));
    let api = server.connect();
    // Only the first token is that short: a renewed one must outlive a loaded machine's delays.
    server.inner().expires_in = None;
    std::thread::sleep(Duration::from_millis(20));
    api.get("AJU-1").unwrap();
    let log = server.log();
    assert_eq!(log[1], ("update-token".into(), 200));
    assert!(!log.iter().any(|(_, status)| *status == 401), "{log:?}");
    assert!(api.stats().token_refreshes >= 1);
}

#[test]
fn a_ready_token_refused_is_final_and_never_shown() {
    let server = TestServer::start();
    let token = "ready-token-value-secret";
    let api = HttpApi::connect(&server.settings(Credentials::Token(Secret::new(token)))).unwrap();
    let err = api.get("AJU-1").unwrap_err();
    match &err {
        ApiError::Rejected {
            status: 401,
            message,
        } => {
            assert!(message.contains("KIRIM_XRAY_TOKEN"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.to_string().contains(token));
    assert!(!format!("{api:?}").contains(token));
    // No login or refresh was tried, and the request was not repeated.
    assert_eq!(server.log(), [("get".into(), 401)]);
    let lost = api
        .auth_lost()
        .expect("a refused ready token is lost for good");
    assert!(lost.contains("KIRIM_XRAY_TOKEN"), "{lost}");
    assert!(!lost.contains(token));

    // Even if the server took the token again, nothing more is sent with it in this process:
    // the run is stopping, and rows still in flight fail at once with the same error.
    server.inner().access.insert(token.into(), None);
    server.inner().records.insert("AJU-1".into(), Vec::new());
    assert_eq!(api.get("AJU-1").unwrap_err(), err);
    assert_eq!(server.log(), [("get".into(), 401)], "nothing more was sent");
}

#[test]
fn a_login_refused_after_the_token_ran_out_loses_authentication_for_good() {
    let server = TestServer::start();
    let api = server.connect();
    server.inner().records.insert("AJU-1".into(), Vec::new());
    let expire_everything = || {
        let mut inner = server.inner();
        inner.access.clear();
        inner.refresh.clear();
    };

    // A login service that fails or says "not now" is not a refusal: the row may fail, the run
    // goes on.
    for status in [503, 429] {
        expire_everything();
        server.inner().login_status = Some(status);
        let err = api.get("AJU-1").unwrap_err();
        if status == 429 {
            assert_eq!(
                err,
                ApiError::Throttled {
                    retry_after: Duration::ZERO
                }
            );
        } else {
            assert!(matches!(err, ApiError::NotSent(_)), "{status}: {err:?}");
        }
        assert_eq!(api.auth_lost(), None, "{status}");
    }

    // The refresh token is refused, then the login too: lost.
    expire_everything();
    server.inner().login_status = Some(401);
    let before = server.log().len();
    let err = api.get("AJU-1").unwrap_err();
    assert!(
        matches!(&err, ApiError::Auth(m) if m.contains("password salah")),
        "{err:?}"
    );
    assert_eq!(
        server.log()[before..],
        [
            ("get".into(), 401),
            ("update-token".into(), 401),
            ("login".into(), 401)
        ]
    );
    let lost = api.auth_lost().expect("lost");
    assert!(
        lost.starts_with("a new login was refused: login answered HTTP 401"),
        "{lost}"
    );
    assert!(!lost.contains(PASSWORD));

    // From now on nothing is asked of anyone, not even the login service (repeated refused logins
    // can lock the account), even if it would say yes again.
    server.inner().login_status = None;
    let logins = api.stats().logins;
    let before = server.log().len();
    assert_eq!(api.get("AJU-1").unwrap_err(), err);
    assert_eq!(server.log().len(), before, "{:?}", server.log());
    assert_eq!(api.stats().logins, logins);
}

#[test]
fn a_login_refused_when_renewing_before_sending_loses_authentication() {
    let server = TestServer::start();
    server.inner().expires_in = Some(json!(0.001));
    let api = server.connect();
    {
        let mut inner = server.inner();
        inner.refresh.clear();
        inner.login_status = Some(401);
    }
    std::thread::sleep(Duration::from_millis(20));
    let err = api.get("AJU-1").unwrap_err();
    assert!(matches!(err, ApiError::Auth(_)), "{err:?}");
    assert!(api.auth_lost().is_some());
    // The token had run out: the X-ray API was never asked.
    assert_eq!(
        server.log(),
        [
            ("login".into(), 200),
            ("update-token".into(), 401),
            ("login".into(), 401)
        ]
    );
}

#[test]
fn throttling_pauses_everyone() {
    let server = TestServer::start();
    let api = server.connect();
    server.force_with(Forced {
        status: 429,
        retry_after: Some("7"),
        body: String::new(),
        delay: Duration::ZERO,
    });
    let err = api.get("AJU-1").unwrap_err();
    assert_eq!(
        err,
        ApiError::Throttled {
            retry_after: Duration::from_secs(7)
        }
    );
    let left = api.pacer.pause_left_at(Instant::now()).unwrap();
    assert!(
        left > Duration::from_secs(5) && left <= Duration::from_secs(7),
        "{left:?}"
    );
    let stats = api.stats();
    assert_eq!(stats.throttled, 1);
    assert_eq!(stats.requests["get-foto-xray"]["429"], 1);
}

#[test]
fn answers_are_typed_from_the_body() {
    let server = TestServer::start();
    let api = server.connect();
    let dir = tempfile::tempdir().unwrap();
    let images = [photo(dir.path(), "a.jpg", b"\xFF\xD8\xFF", "image/jpeg")];

    server.force(
        503,
        r#"{"success":false,"data":null,"code":503,"message":"Service Unavailable"}"#,
    );
    assert!(
        matches!(api.kirim(&meta(), &images), Err(ApiError::Ambiguous(m)) if m.contains("503"))
    );
    server.force(200, "<html>not json</html>");
    assert!(matches!(
        api.add(&meta(), &images),
        Err(ApiError::Gateway { status: 200, .. })
    ));
    server.force(
        200,
        r#"{"success":false,"data":null,"code":404,"message":"Data BL/AWB CN tidak ditemukan"}"#,
    );
    assert!(matches!(
        api.kirim(&meta(), &images),
        Ok(UploadAnswer::NotFound { .. })
    ));
    server.force(
        409,
        r#"{"success":false,"data":null,"code":409,"message":"Data X-Ray sudah ada"}"#,
    );
    assert!(
        matches!(api.kirim(&meta(), &images), Ok(UploadAnswer::Conflict { message }) if message == "Data X-Ray sudah ada")
    );
    server.force(
        413,
        r#"{"success":false,"data":null,"code":413,"message":"Payload Too Large"}"#,
    );
    assert_eq!(
        api.kirim(&meta(), &images),
        Err(ApiError::Rejected {
            status: 413,
            message: "Payload Too Large".into()
        })
    );
    server.force(
        404,
        r#"{"success":false,"data":null,"code":404,"message":"tidak ditemukan"}"#,
    );
    assert_eq!(api.get("AJU-1"), Ok(None));
    // A gateway's own 404 page (a wrong --api-url path) is not "customs holds nothing".
    server.force(
        404,
        "<html><head><title>404 Not Found</title></head><body>nginx</body></html>",
    );
    let err = api.get("AJU-1").unwrap_err();
    assert!(
        matches!(&err, ApiError::Gateway { status: 404, page } if page.contains("404 Not Found")),
        "{err:?}"
    );
    let stats = api.stats();
    assert_eq!(stats.api_requests, 7);
    assert_eq!(stats.api_answers, 5, "the HTML answers were not the API's");
    assert_eq!(api.never_reached(), None);
}

#[test]
fn a_timeout_is_ambiguous() {
    let server = TestServer::start();
    let mut settings = server.settings(login("demo"));
    settings.timeout = Duration::from_millis(300);
    let api = HttpApi::connect(&settings).unwrap();
    server.force_with(Forced {
        status: 200,
        retry_after: None,
        body: "{}".into(),
        delay: Duration::from_secs(3),
    });
    let err = api.get("AJU-1").unwrap_err();
    assert!(
        matches!(&err, ApiError::Ambiguous(m) if m.starts_with("timeout")),
        "{err:?}"
    );
    assert_eq!(api.stats().requests["get-foto-xray"]["timeout"], 1);
}

#[test]
fn a_refused_connection_is_not_sent() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let settings = ApiSettings {
        api_url: format!("http://127.0.0.1:{port}/api"),
        auth_url: format!("http://127.0.0.1:{port}"),
        rate: 1000.0,
        burst: 1,
        timeout: Duration::from_secs(5),
        allow_http: false,
        ca_cert: None,
        credentials: Credentials::Token(Secret::new("t")),
    };
    let api = HttpApi::connect(&settings).unwrap();
    assert!(matches!(api.get("AJU-1"), Err(ApiError::NotSent(_))));
    assert_eq!(api.stats().requests["get-foto-xray"]["connect"], 1);

    // Logging in against nothing: unreachable, not a config error.
    let settings = ApiSettings {
        credentials: login("demo"),
        ..settings
    };
    assert!(matches!(
        HttpApi::connect(&settings),
        Err(ConnectError::Unreachable(_))
    ));
}

#[test]
fn bad_credentials_fail_to_connect_without_showing_the_password() {
    let server = TestServer::start();
    let err = HttpApi::connect(&server.settings(login("someone"))).unwrap_err();
    assert!(
        matches!(&err, ConnectError::Auth(m) if m.contains("password salah")),
        "{err:?}"
    );
    assert!(!err.to_string().contains(PASSWORD));
    assert!(!format!("{err:?}").contains(PASSWORD));
    let api = server.connect();
    assert!(!format!("{api:?}").contains(PASSWORD));
    assert!(!format!("{api:?}").contains("acc-"));
}

#[test]
fn url_policy_and_ca_certificate_are_checked() {
    let token = || Credentials::Token(Secret::new("t"));
    let settings = |api_url: &str| ApiSettings {
        api_url: api_url.into(),
        auth_url: "https://auth.example".into(),
        rate: 5.0,
        burst: 1,
        timeout: Duration::from_secs(5),
        allow_http: false,
        ca_cert: None,
        credentials: token(),
    };
    for ok in [
        "https://apis.example/openapi/cnpibk",
        "http://127.0.0.1:9/x",
        "http://localhost:9",
        "http://[::1]:9",
    ] {
        assert!(HttpApi::connect(&settings(ok)).is_ok(), "{ok}");
    }
    for bad in [
        "http://apis.example/x",
        "ftp://apis.example",
        "not a url",
        "https://user:pw@apis.example",
        "https://SECRET-TOKEN@apis.example",
        "not a url SECRET-TOKEN@",
    ] {
        let err = HttpApi::connect(&settings(bad)).unwrap_err();
        assert!(matches!(err, ConnectError::Config(_)), "{bad}: {err:?}");
        assert!(!err.to_string().contains(":pw@"), "{err}");
        assert!(!err.to_string().contains("SECRET-TOKEN"), "{err}");
    }
    let allowed = ApiSettings {
        allow_http: true,
        ..settings("http://apis.example/x")
    };
    assert!(HttpApi::connect(&allowed).is_ok());
    let slow = ApiSettings {
        rate: 0.0,
        ..settings("https://apis.example")
    };
    assert!(matches!(
        HttpApi::connect(&slow),
        Err(ConnectError::Config(_))
    ));

    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing-ca.pem");
    let garbage = dir.path().join("garbage-ca.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    for (path, name) in [(missing, "missing-ca.pem"), (garbage, "garbage-ca.pem")] {
        let with_ca = ApiSettings {
            ca_cert: Some(PathBuf::from(&path)),
            ..settings("https://apis.example")
        };
        let err = HttpApi::connect(&with_ca).unwrap_err();
        assert!(
            matches!(&err, ConnectError::Config(m) if m.contains(name)),
            "{err:?}"
        );
    }
}

#[test]
fn rows_on_four_workers_with_faults_and_short_tokens_all_match() {
    use crate::model::{RowStatus, Shipment};
    use crate::sync::{SyncSettings, sync_row};
    use rayon::prelude::*;

    let server = TestServer::start();
    {
        let mut inner = server.inner();
        inner.expires_in = Some(json!(0.3));
        inner.chaos = Some(Chaos {
            ambiguous_every: 5,
            fail_every: 7,
            throttle_every: 11,
        });
    }
    let api = server.connect();
    let dir = tempfile::tempdir().unwrap();
    let shipments: Vec<Shipment> = (0..40)
        .map(|row| {
            let folder = dir.path().join(format!("row{row}"));
            std::fs::create_dir(&folder).unwrap();
            let images = (0..=row % 4)
                .map(|i| {
                    photo(
                        &folder,
                        &format!("p{i}.jpg"),
                        b"\xFF\xD8\xFFdata",
                        "image/jpeg",
                    )
                })
                .collect();
            Shipment {
                row: row + 2,
                meta: DocMeta {
                    nomor_aju: format!("AJU-{row}"),
                    ..meta()
                },
                folder: format!("row{row}"),
                images,
            }
        })
        .collect();
    let settings = SyncSettings {
        max_images_per_request: 2,
        max_request_bytes: 1 << 20,
        retries: 5,
        backoff_base: Duration::from_millis(1),
        backoff_cap: Duration::from_millis(5),
        settle: Duration::from_millis(5),
        settle_checks: 3,
        idle: Default::default(),
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(4)
        .build()
        .unwrap();
    let results: Vec<_> = pool.install(|| {
        shipments
            .par_iter()
            .map(|s| sync_row(&api, s, &settings, false))
            .collect()
    });
    for result in &results {
        assert_eq!(
            result.status,
            RowStatus::Match,
            "row {}: {}",
            result.row,
            result.message
        );
    }
    let records = server.inner().records.clone();
    for shipment in &shipments {
        let mut held = records[&shipment.meta.nomor_aju].clone();
        held.sort();
        let local: Vec<_> = shipment.images.iter().map(|i| i.name.clone()).collect();
        assert_eq!(held, local, "{}", shipment.meta.nomor_aju);
    }
    let stats = api.stats();
    assert!(stats.throttled > 0);
    let requests: u32 = results.iter().map(|r| r.requests).sum();
    // Each row's requests, plus the repeats after a 401 that the client makes on its own.
    let repeats = stats
        .requests
        .values()
        .filter_map(|by| by.get("401"))
        .sum::<u64>();
    assert_eq!(stats.api_requests, u64::from(requests) + repeats);
}

#[test]
fn an_absurd_token_lifetime_does_not_panic() {
    // A gateway that announces a lifetime no clock can hold (as text, so the test server itself
    // keeps the token forever): the token is used, nothing panics.
    let server = TestServer::start();
    server.inner().expires_in = Some(json!("1e300"));
    let api = server.connect();
    assert_eq!(api.get("AJU-1").unwrap(), None);
}

/// The most arrivals within any one-second window (closed at both ends).
fn busiest_second(mut times: Vec<Instant>) -> usize {
    times.sort();
    let window = Duration::from_secs(1);
    (0..times.len())
        .map(|i| {
            times[i..]
                .iter()
                .take_while(|t| **t <= times[i] + window)
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[test]
fn the_rate_holds_through_slow_renewals_of_short_tokens() {
    // Tokens that run out before their slow renewal is done: the workers wait for the new token
    // without holding a permit, so that they do not all go at once when it comes; and the
    // renewals themselves take permits. Counted as the server saw them, every endpoint included.
    let server = TestServer::start();
    {
        let mut inner = server.inner();
        inner.expires_in = Some(json!(0.9));
        inner.auth_delay = Duration::from_millis(500);
        inner.records.insert("AJU-1".into(), Vec::new());
    }
    let settings = ApiSettings {
        rate: 5.0,
        burst: 1,
        ..server.settings(login("demo"))
    };
    let api = HttpApi::connect(&settings).unwrap();
    let until = Instant::now() + Duration::from_millis(2500);
    std::thread::scope(|scope| {
        for _ in 0..6 {
            scope.spawn(|| {
                while Instant::now() < until {
                    let _ = api.get("AJU-1");
                }
            });
        }
    });
    let arrivals = server.inner().arrivals.clone();
    let renewals = arrivals
        .iter()
        .filter(|(endpoint, _)| endpoint == "update-token" || endpoint == "login")
        .count();
    let gets = arrivals.iter().filter(|(e, _)| e == "get").count();
    assert!(
        renewals >= 3,
        "the tokens were renewed while the run went on: {arrivals:?}"
    );
    assert!(gets >= 6, "{gets} gets");
    let busiest = busiest_second(arrivals.iter().map(|(_, at)| *at).collect());
    assert!(
        busiest <= 6,
        "{busiest} requests within one second at --rate 5: {:?}",
        server.log()
    );
}

#[test]
fn a_throttled_login_pauses_everyone_for_its_retry_after_then_logs_in() {
    let server = TestServer::start();
    server.inner().login_forced.push_back(Forced {
        status: 429,
        retry_after: Some("1"),
        body: r#"{"message":"slow down"}"#.into(),
        delay: Duration::ZERO,
    });
    let api = server.connect();
    let log = server.log();
    assert_eq!(log, [("login".into(), 429), ("login".into(), 200)]);
    let logins: Vec<Instant> = server
        .inner()
        .arrivals
        .iter()
        .filter(|(e, _)| e == "login")
        .map(|(_, at)| *at)
        .collect();
    assert!(
        logins[1] - logins[0] >= Duration::from_secs(1),
        "the second login waited for Retry-After: {:?}",
        logins[1] - logins[0]
    );
    let stats = api.stats();
    assert_eq!(stats.throttled, 1);
    assert_eq!(stats.requests["login"]["429"], 1);

    // Mid-run, a 429 on the renewal pauses every worker (not only the one renewing): the X-ray
    // request that needed the token is told to wait, and the pause is in force for all.
    {
        let mut inner = server.inner();
        inner.access.clear();
        inner.refresh.clear();
        inner.login_forced.push_back(Forced {
            status: 429,
            retry_after: Some("7"),
            body: String::new(),
            delay: Duration::ZERO,
        });
    }
    let err = api.get("AJU-1").unwrap_err();
    assert_eq!(
        err,
        ApiError::Throttled {
            retry_after: Duration::from_secs(7)
        }
    );
    let left = api.pacer.pause_left_at(Instant::now()).unwrap();
    assert!(left > Duration::from_secs(5), "{left:?}");
    assert_eq!(api.auth_lost(), None, "429 is not a refusal");
}

#[test]
fn the_digest_recorded_is_that_of_the_bytes_sent_not_of_the_file_validated() {
    use crate::model::{RowStatus, Shipment};
    use crate::sync::{SyncSettings, sync_row};
    use sha2::Digest;

    let server = TestServer::start();
    let api = server.connect();
    let dir = tempfile::tempdir().unwrap();
    let kept = photo(
        dir.path(),
        "a.jpg",
        b"\xFF\xD8\xFFfirst-photo",
        "image/jpeg",
    );
    let rewritten = photo(
        dir.path(),
        "b.jpg",
        b"\xFF\xD8\xFFas-validated",
        "image/jpeg",
    );
    // Rewritten after validation, at the same size: the size check at send time cannot see it.
    let sent_bytes = b"\xFF\xD8\xFFas-rewritten";
    assert_eq!(sent_bytes.len() as u64, rewritten.bytes);
    std::fs::write(&rewritten.path, sent_bytes).unwrap();

    // The client reports the digests of the bytes it streamed.
    let answer = api.kirim(&meta(), &[kept.clone(), rewritten.clone()]);
    let Ok(UploadAnswer::Stored(ok)) = answer else {
        panic!("{answer:?}")
    };
    let sent_digest = hex::encode(sha2::Sha256::digest(sent_bytes));
    assert_eq!(ok.sent_sha256["a.jpg"], kept.sha256);
    assert_eq!(ok.sent_sha256["b.jpg"], sent_digest);
    assert_eq!(server.inner().uploads[0][2].body, sent_bytes);

    // Through the protocol: the row is FAILED, and images.csv's digest is the one sent.
    let shipment = Shipment {
        row: 2,
        meta: DocMeta {
            nomor_aju: "AJU-2".into(),
            ..meta()
        },
        folder: "x".into(),
        images: vec![kept.clone(), rewritten.clone()],
    };
    let settings = SyncSettings {
        max_images_per_request: 10,
        max_request_bytes: 1 << 20,
        retries: 1,
        backoff_base: Duration::ZERO,
        backoff_cap: Duration::ZERO,
        settle: Duration::ZERO,
        settle_checks: 3,
        idle: Default::default(),
    };
    let result = sync_row(&api, &shipment, &settings, false);
    assert_eq!(result.status, RowStatus::Failed, "{}", result.message);
    assert!(
        result
            .message
            .contains("photo b.jpg changed while the run was going"),
        "{}",
        result.message
    );
    assert_eq!(result.images[0].sha256, kept.sha256);
    assert_eq!(result.images[1].sha256, sent_digest);
    assert_eq!(server.inner().records["AJU-2"], ["a.jpg", "b.jpg"]);
}

#[test]
fn a_run_that_only_meets_gateway_pages_never_reached_the_api() {
    // A wrong --api-url path: the test server answers every unknown path with an HTML 404 page.
    let server = TestServer::start();
    let settings = ApiSettings {
        api_url: format!("http://{}/wrong/path", server.addr),
        ..server.settings(login("demo"))
    };
    let api = HttpApi::connect(&settings).unwrap();
    let err = api.get("AJU-1").unwrap_err();
    assert!(
        matches!(err, ApiError::Gateway { status: 404, .. }),
        "{err:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    let images = [photo(dir.path(), "a.jpg", b"\xFF\xD8\xFF", "image/jpeg")];
    assert!(matches!(
        api.kirim(&meta(), &images),
        Err(ApiError::Gateway { status: 404, .. })
    ));
    let why = api.never_reached().expect("no answer came from the API");
    assert!(
        why.starts_with(&format!(
            "the API could not be reached at http://{}/wrong/path",
            server.addr
        )),
        "{why}"
    );
    assert!(why.contains("get-foto-xray 404 ×1"), "{why}");
    assert!(why.contains("--api-url"), "{why}");
    assert!(!why.contains(PASSWORD) && !why.contains("acc-"), "{why}");

    // One answer of the API's own is enough to have reached it.
    let right = server.connect();
    assert_eq!(right.never_reached(), None, "nothing sent yet");
    assert_eq!(right.get("AJU-1"), Ok(None));
    assert_eq!(right.never_reached(), None);
}
