//! The JSON shapes the sandbox answers with, field for field and in the order the API text prints
//! them, the gateway's clock (Jakarta time, `yyyy-MM-dd HH:mm:ss`), and the HTML pages of the web
//! server in front of the API. Keeping every answer here means a drift from the API text shows up
//! in one file.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{NaiveDate, TimeDelta, Utc};
use serde::Serialize;

/// The gateway's clock: Jakarta (WIB) is UTC+7 all year, so a fixed offset is exact.
pub fn timestamp() -> String {
    (Utc::now().naive_utc() + TimeDelta::hours(7))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// Strict `yyyy-MM-dd`: exactly ten characters and a real calendar date (chrono alone would take
/// `2025-9-30`).
pub fn is_strict_date(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
        && NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok()
}

/// `{success, data, timestamp, code, message}`: every X-ray answer.
#[derive(Debug, Serialize)]
struct Envelope<T: Serialize> {
    success: bool,
    data: Option<T>,
    timestamp: String,
    code: u16,
    message: String,
}

/// `data` of a successful kirim or add.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadData {
    pub nomor_aju: String,
    pub nomor_bl_awb: String,
    pub tanggal_bl_awb: String,
    pub kode_kantor: String,
    pub npwp_pemberitahu: String,
    pub jumlah_foto_terupload: usize,
    pub keterangan: &'static str,
}

/// `data` of a successful get.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GetData {
    pub nomor_aju: String,
    pub nomor_bl_awb: String,
    pub tanggal_bl_awb: String,
    pub kode_kantor: String,
    pub npwp_pemberitahu: String,
    pub total_foto_terupload: usize,
    /// Always `null` on get, as in the API text.
    pub keterangan: Option<String>,
    pub detail: Vec<Detail>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Detail {
    pub nama_file: String,
    pub waktu_rekam: String,
}

pub const KETERANGAN_UPLOAD: &str = "Sukses Upload Foto";
pub const MSG_KIRIM_OK: &str = "Sukses Kirim Foto Xray";
pub const MSG_KIRIM_NOT_FOUND: &str = "Gagal Kirim Foto Xray, Data BL/AWB CN tidak ditemukan";
pub const MSG_KIRIM_CONFLICT: &str =
    "Data X-Ray sudah ada, silahkan gunakan API add untuk menambah foto";
pub const MSG_ADD_OK: &str = "Sukses Menambah Foto Xray";
pub const MSG_ADD_NOT_FOUND: &str = "Data Foto Xray tidak ditemukan";
pub const MSG_GET_OK: &str = "Sukses Mengambil Data Foto X-Ray";
pub const MSG_GET_NOT_FOUND: &str = "Data Foto Xray tidak ditemukan atas request yang diminta";
pub const MSG_UNAUTHORIZED: &str = "Invalid Authorization Token";
// Not in the API text: the sandbox's own wording for faults and limits (see docs/sandbox.md).
pub const MSG_UNAVAILABLE: &str = "Service Unavailable";
pub const MSG_THROTTLED: &str = "Too Many Requests";

/// A success answer (HTTP 200, `code:200`).
pub fn ok<T: Serialize>(message: &str, data: T) -> Response {
    envelope(StatusCode::OK, 200, message, Some(data))
}

/// A failure answer with `data:null`: `code` is what the body says, `status` what HTTP says
/// (they differ for the API's "HTTP 200 with code:404").
pub fn fail(status: StatusCode, code: u16, message: &str) -> Response {
    envelope::<()>(status, code, message, None)
}

/// A failure whose body code equals its HTTP status.
pub fn error(status: StatusCode, message: &str) -> Response {
    fail(status, status.as_u16(), message)
}

pub fn unauthorized() -> Response {
    error(StatusCode::UNAUTHORIZED, MSG_UNAUTHORIZED)
}

pub fn bad_request(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, message)
}

pub fn too_large(limit: u64) -> Response {
    error(
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!("Request body is larger than the limit of {limit} bytes"),
    )
}

/// 429 with `Retry-After` in whole seconds.
pub fn throttled(retry_after_secs: u64) -> Response {
    let mut response = error(StatusCode::TOO_MANY_REQUESTS, MSG_THROTTLED);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    response
}

pub fn unavailable() -> Response {
    error(StatusCode::SERVICE_UNAVAILABLE, MSG_UNAVAILABLE)
}

/// A page of the web server in front of the API, not an answer of the API: HTML with the
/// status line as its title, no JSON envelope, as nginx prints for 404, 502 and 504.
pub fn gateway_page(status: StatusCode) -> Response {
    let reason = match status.as_u16() {
        // nginx's own spelling.
        504 => "Gateway Time-out",
        _ => status.canonical_reason().unwrap_or("Error"),
    };
    let title = format!("{} {reason}", status.as_u16());
    let body = format!(
        "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    );
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static("text/html"))],
        body,
    )
        .into_response()
}

fn envelope<T: Serialize>(
    status: StatusCode,
    code: u16,
    message: &str,
    data: Option<T>,
) -> Response {
    let body = Envelope {
        success: code == 200,
        data,
        timestamp: timestamp(),
        code,
        message: message.to_string(),
    };
    (status, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_dates() {
        assert!(is_strict_date("2025-09-30"));
        assert!(is_strict_date("2024-02-29"));
        assert!(!is_strict_date("2025-9-30"));
        assert!(!is_strict_date("2025-02-30"));
        assert!(!is_strict_date("2025/09/30"));
        assert!(!is_strict_date("30-09-2025"));
        assert!(!is_strict_date("+025-09-30"));
        assert!(!is_strict_date("2025-09-30 "));
    }

    #[test]
    fn timestamp_shape() {
        let ts = timestamp();
        assert_eq!(ts.len(), 19, "{ts}");
        assert!(chrono::NaiveDateTime::parse_from_str(&ts, "%Y-%m-%d %H:%M:%S").is_ok());
    }
}
