//! The three X-ray endpoints, behind the gateway (`gateway.rs`). A handler reads the request,
//! applies the API's rules, stores, and maybe loses the answer (`--ambiguous-rate`: stored, then
//! 503) or answers 504 at once and leaves the request to a late commit (`--late-commit-rate`).
//! get reads through `replica.rs`, which may lag behind the store or cut its list short.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::answer::{self, UploadData};
use super::store::{Declaration, Photo, Record, Stored};
use super::traffic::Endpoint;
use super::upload::{self, Refusal, Upload};
use super::{App, replica};

/// `POST .../xray/kirim-foto-xray`
pub async fn kirim(State(app): State<Arc<App>>, request: Request) -> Response {
    upload(app, Endpoint::Kirim, request).await
}

/// `POST .../xray/add-foto-xray`
pub async fn add(State(app): State<Arc<App>>, request: Request) -> Response {
    upload(app, Endpoint::Add, request).await
}

/// kirim or add: read the request in full (counting its image bytes), then either apply it now or,
/// for a late commit, answer the gateway's 504 at once and apply it when due.
async fn upload(app: Arc<App>, endpoint: Endpoint, request: Request) -> Response {
    let late = app.traffic.roll(app.config.late_commit_rate);
    let mut received = 0;
    let read = upload::read(request, app.config.max_body_bytes, &mut received).await;
    app.traffic.received(endpoint, received);
    if late {
        let backend = app.clone();
        app.late.schedule(Box::pin(async move {
            match read {
                Ok(upload) => apply(&backend, endpoint, upload).await.stored,
                Err(_) => false,
            }
        }));
        return answer::gateway_page(StatusCode::GATEWAY_TIMEOUT);
    }
    let response = match read {
        Ok(upload) => apply(&app, endpoint, upload).await.response,
        Err(refusal) => return refused(&app, refusal),
    };
    lose_answer_maybe(&app, response)
}

/// What the backend did with a well-formed upload, and its answer.
struct Applied {
    /// Photos were added to the store.
    stored: bool,
    response: Response,
}

impl Applied {
    fn refused(response: Response) -> Applied {
        Applied {
            stored: false,
            response,
        }
    }
}

async fn apply(app: &App, endpoint: Endpoint, upload: Upload) -> Applied {
    if endpoint == Endpoint::Add {
        add_upload(app, upload).await
    } else {
        kirim_upload(app, upload).await
    }
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

async fn kirim_upload(app: &App, upload: Upload) -> Applied {
    let decl = &upload.declaration;
    let Some(npwp) = app.known(decl) else {
        return Applied::refused(answer::fail(
            StatusCode::OK,
            404,
            answer::MSG_KIRIM_NOT_FOUND,
        ));
    };
    let count = upload.photos.len();
    let photos = match keep_photos(app, upload.photos).await {
        Ok(photos) => photos,
        Err(response) => return Applied::refused(response),
    };
    match app.store.kirim(decl, npwp, photos) {
        (Stored::Yes(record), generation) => Applied {
            stored: true,
            response: stored(app, generation, record, count, answer::MSG_KIRIM_OK).await,
        },
        _ => Applied::refused(answer::error(
            StatusCode::CONFLICT,
            answer::MSG_KIRIM_CONFLICT,
        )),
    }
}

async fn add_upload(app: &App, upload: Upload) -> Applied {
    let not_found = || answer::fail(StatusCode::OK, 404, answer::MSG_ADD_NOT_FOUND);
    let count = upload.photos.len();
    // add on an unknown declaration cannot have a record: no need to keep its photos.
    if app.store.by_aju(&upload.declaration.nomor_aju).is_none() {
        return Applied::refused(not_found());
    }
    let photos = match keep_photos(app, upload.photos).await {
        Ok(photos) => photos,
        Err(response) => return Applied::refused(response),
    };
    match app.store.add(&upload.declaration, photos) {
        (Stored::Yes(record), generation) => Applied {
            stored: true,
            response: stored(app, generation, record, count, answer::MSG_ADD_OK).await,
        },
        _ => Applied::refused(not_found()),
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
            stored_at: None,
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

/// `GET .../xray/get-foto-xray?nomorAju=` or `?nomorBlAwb=&tanggalBlAwb=&kodeKantor=`, as the
/// replica shows it.
pub async fn get(
    State(app): State<Arc<App>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let now = Instant::now();
    let lag = app.config.stale_read;
    let param = |name: &str| query.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let record = if let Some(aju) = param("nomorAju") {
        app.store
            .by_aju(aju)
            .and_then(|r| replica::lagged(r, lag, now))
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
        // The first by nomorAju among those the replica shows.
        app.store
            .by_bl_awb(bl, date, office)
            .into_iter()
            .find_map(|r| replica::lagged(r, lag, now))
    } else {
        return answer::bad_request(
            "Give nomorAju, or all of nomorBlAwb, tanggalBlAwb and kodeKantor",
        );
    };
    let Some(record) = record else {
        return answer::error(StatusCode::NOT_FOUND, answer::MSG_GET_NOT_FOUND);
    };
    answer::ok(
        answer::MSG_GET_OK,
        replica::get_data(record, app.config.detail_limit),
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
