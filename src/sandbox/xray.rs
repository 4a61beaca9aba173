//! The three X-ray endpoints and the gateway in front of them. The gateway counts every request,
//! then refuses in this order: `--max-rps` and `--throttle-rate` (429), a bad token (401),
//! `--fail-rate` (503, nothing done). Only then does a handler read the request, apply the API's
//! rules, store, and maybe lose the answer (`--ambiguous-rate`: stored, then 503).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;

use super::App;
use super::answer::{self, Detail, GetData, UploadData};
use super::auth::bearer;
use super::store::{Declaration, Photo, Record, Stored};
use super::traffic::Endpoint;
use super::upload::{self, Refusal, Upload};

/// Middleware over the API routes: latency, counting, and the gateway's refusals.
pub async fn front(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let Some(endpoint) = Endpoint::from_path(request.uri().path()) else {
        return next.run(request).await;
    };
    let admitted = !endpoint.is_xray() || app.traffic.arrive(Instant::now());
    if !app.config.latency.is_zero() {
        tokio::time::sleep(app.config.latency).await;
    }
    let response = if endpoint.is_xray() {
        gate(&app, admitted, request, next).await
    } else {
        next.run(request).await
    };
    app.traffic.count(endpoint, response.status().as_u16());
    response
}

async fn gate(app: &App, admitted: bool, request: Request, next: Next) -> Response {
    let cfg = &app.config;
    let refusal = if !admitted || app.traffic.roll(cfg.throttle_rate) {
        answer::throttled(cfg.retry_after_secs)
    } else if !bearer(request.headers()).is_some_and(|t| app.tokens.check(t, Instant::now())) {
        answer::unauthorized()
    } else if app.traffic.roll(cfg.fail_rate) {
        answer::unavailable()
    } else {
        return next.run(request).await;
    };
    upload::drain(request, cfg.max_body_bytes).await;
    refusal
}

/// `POST .../xray/kirim-foto-xray`
pub async fn kirim(State(app): State<Arc<App>>, request: Request) -> Response {
    let response = match upload::read(request, app.config.max_body_bytes).await {
        Ok(upload) => kirim_upload(&app, upload).await,
        Err(refusal) => return refused(&app, refusal),
    };
    lose_answer_maybe(&app, response)
}

/// `POST .../xray/add-foto-xray`
pub async fn add(State(app): State<Arc<App>>, request: Request) -> Response {
    let response = match upload::read(request, app.config.max_body_bytes).await {
        Ok(upload) => add_upload(&app, upload).await,
        Err(refusal) => return refused(&app, refusal),
    };
    lose_answer_maybe(&app, response)
}

fn refused(app: &App, refusal: Refusal) -> Response {
    match refusal {
        Refusal::BadRequest(message) => answer::bad_request(&message),
        Refusal::TooLarge => answer::too_large(app.config.max_body_bytes),
    }
}

/// `--ambiguous-rate`: the request was processed in full, but its answer is lost.
fn lose_answer_maybe(app: &App, response: Response) -> Response {
    if app.traffic.roll(app.config.ambiguous_rate) {
        answer::unavailable()
    } else {
        response
    }
}

async fn kirim_upload(app: &App, upload: Upload) -> Response {
    let decl = &upload.declaration;
    let Some(npwp) = app.known(decl) else {
        return answer::fail(StatusCode::OK, 404, answer::MSG_KIRIM_NOT_FOUND);
    };
    let count = upload.photos.len();
    let photos = match keep_photos(app, upload.photos).await {
        Ok(photos) => photos,
        Err(response) => return response,
    };
    match app.store.kirim(decl, npwp, photos) {
        (Stored::Yes(record), generation) => {
            stored(app, generation, record, count, answer::MSG_KIRIM_OK).await
        }
        _ => answer::error(StatusCode::CONFLICT, answer::MSG_KIRIM_CONFLICT),
    }
}

async fn add_upload(app: &App, upload: Upload) -> Response {
    let count = upload.photos.len();
    // add on an unknown declaration cannot have a record: no need to keep its photos.
    if app.store.by_aju(&upload.declaration.nomor_aju).is_none() {
        return answer::fail(StatusCode::OK, 404, answer::MSG_ADD_NOT_FOUND);
    }
    let photos = match keep_photos(app, upload.photos).await {
        Ok(photos) => photos,
        Err(response) => return response,
    };
    match app.store.add(&upload.declaration, photos) {
        (Stored::Yes(record), generation) => {
            stored(app, generation, record, count, answer::MSG_ADD_OK).await
        }
        _ => answer::fail(StatusCode::OK, 404, answer::MSG_ADD_NOT_FOUND),
    }
}

/// Turn the request's photos into stored photos; with a state folder, their files are written
/// first, so that a record never names a photo that is not on disk.
async fn keep_photos(
    app: &App,
    incoming: Vec<upload::IncomingPhoto>,
) -> Result<Vec<Photo>, Response> {
    let waktu_rekam = answer::timestamp();
    if app.store.has_dir() {
        let files: Vec<_> = incoming
            .iter()
            .map(|p| (p.sha256.clone(), p.data.clone()))
            .collect();
        let store = app.store.clone();
        let written = tokio::task::spawn_blocking(move || {
            files
                .iter()
                .try_for_each(|(sha, data)| store.write_photo(sha, data))
        })
        .await;
        if let Err(message) = flatten(written) {
            tracing::error!("cannot keep a photo: {message}");
            return Err(internal());
        }
    }
    let in_memory = !app.store.has_dir();
    Ok(incoming
        .into_iter()
        .map(|p| Photo {
            nama_file: p.name,
            bytes: p.data.len() as u64,
            sha256: p.sha256,
            content_type: p.content_type,
            waktu_rekam: waktu_rekam.clone(),
            data: in_memory.then_some(p.data),
        })
        .collect())
}

/// The success answer of kirim/add, once the record is safely on disk (with a state folder).
async fn stored(
    app: &App,
    generation: u64,
    record: Record,
    count: usize,
    message: &str,
) -> Response {
    if let Err(message) = app.persist(generation).await {
        tracing::error!("cannot save the sandbox state: {message}");
        return internal();
    }
    answer::ok(
        message,
        UploadData {
            nomor_aju: record.nomor_aju,
            nomor_bl_awb: record.nomor_bl_awb,
            tanggal_bl_awb: record.tanggal_bl_awb,
            kode_kantor: record.kode_kantor,
            npwp_pemberitahu: record.npwp_pemberitahu,
            jumlah_foto_terupload: count,
            keterangan: answer::KETERANGAN_UPLOAD,
        },
    )
}

fn internal() -> Response {
    answer::error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
}

pub fn flatten(result: Result<anyhow::Result<()>, tokio::task::JoinError>) -> Result<(), String> {
    match result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("{e:#}")),
        Err(e) => Err(e.to_string()),
    }
}

/// `GET .../xray/get-foto-xray?nomorAju=` or `?nomorBlAwb=&tanggalBlAwb=&kodeKantor=`
pub async fn get(
    State(app): State<Arc<App>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let param = |name: &str| query.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let record = if let Some(aju) = param("nomorAju") {
        app.store.by_aju(aju)
    } else if let (Some(bl), Some(date), Some(office)) = (
        param("nomorBlAwb"),
        param("tanggalBlAwb"),
        param("kodeKantor"),
    ) {
        if !answer::is_strict_date(date) {
            return answer::bad_request(&format!(
                "tanggalBlAwb {date:?} is not a date in yyyy-MM-dd format"
            ));
        }
        app.store.by_bl_awb(bl, date, office)
    } else {
        return answer::bad_request(
            "Give nomorAju, or all of nomorBlAwb, tanggalBlAwb and kodeKantor",
        );
    };
    let Some(record) = record else {
        return answer::error(StatusCode::NOT_FOUND, answer::MSG_GET_NOT_FOUND);
    };
    let detail: Vec<Detail> = record
        .photos
        .iter()
        .map(|p| Detail {
            nama_file: p.nama_file.clone(),
            waktu_rekam: p.waktu_rekam.clone(),
        })
        .collect();
    answer::ok(
        answer::MSG_GET_OK,
        GetData {
            nomor_aju: record.nomor_aju,
            nomor_bl_awb: record.nomor_bl_awb,
            tanggal_bl_awb: record.tanggal_bl_awb,
            kode_kantor: record.kode_kantor,
            npwp_pemberitahu: record.npwp_pemberitahu,
            total_foto_terupload: detail.len(),
            keterangan: None,
            detail,
        },
    )
}

impl App {
    /// The npwpPemberitahu of a declaration customs knows, `None` when it does not know it.
    fn known(&self, decl: &Declaration) -> Option<String> {
        let derived = || decl.nomor_aju.chars().take(22).collect::<String>();
        let Some(documents) = &self.config.documents else {
            return Some(derived());
        };
        let doc = documents.get(&decl.nomor_aju)?;
        let same = doc.nomor_bl_awb == decl.nomor_bl_awb
            && doc.tanggal_bl_awb == decl.tanggal_bl_awb
            && doc.kode_kantor == decl.kode_kantor;
        same.then(|| doc.npwp_pemberitahu.clone().unwrap_or_else(derived))
    }
}
