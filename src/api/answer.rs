//! Reading the API's answers into typed outcomes. The gateway says "BL/AWB unknown" with HTTP 200
//! and `code:404` in the body, so the body's `success`/`code` decide, not the HTTP status alone.
//! Only a body with that envelope is the API's answer: any other (a gateway's HTML 404 for a
//! wrong path, its 502/504 page) is a gateway fault, never "not found" and never "stored".

use std::time::{Duration, SystemTime};

use serde::Deserialize;
use serde_json::Value;

use super::pacer::MAX_PAUSE;
use super::{ApiError, ServerPhoto, ServerRecord, UploadAnswer, UploadOk};

/// The envelope every X-ray answer shares: `{success, data, timestamp, code, message}`.
#[derive(Debug, Deserialize)]
struct Envelope {
    success: Option<bool>,
    #[serde(default)]
    data: Value,
    #[serde(default)]
    code: Value,
    message: Option<String>,
}

impl Envelope {
    fn parse(body: &str) -> Option<Envelope> {
        serde_json::from_str(body).ok()
    }

    /// The body's envelope, when the body is the API's own answer: a JSON object with `success`
    /// or `code`. `Err(())` when it is not; `Ok(None)` when it is but cannot be read.
    fn of_api(body: &str) -> Result<Option<Envelope>, ()> {
        match serde_json::from_str::<Value>(body) {
            Ok(Value::Object(map)) if map.contains_key("success") || map.contains_key("code") => {
                Ok(serde_json::from_value(Value::Object(map)).ok())
            }
            _ => Err(()),
        }
    }

    /// The body's code; when absent, `success` stands in for 200.
    fn code(&self) -> Option<i64> {
        number(&self.code).or(match self.success {
            Some(true) => Some(200),
            _ => None,
        })
    }

    fn message(&self) -> String {
        self.message.clone().unwrap_or_default()
    }
}

/// A JSON number, or a string holding one.
fn number(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A JSON string, or a number written as text (an NPWP may arrive either way).
fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The server's `message`, or else a short one-line excerpt of the body.
pub fn server_message(body: &str) -> String {
    if let Some(message) = Envelope::parse(body).and_then(|e| e.message)
        && !message.trim().is_empty()
    {
        return message;
    }
    let flat: String = body
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    let flat = flat.trim();
    if flat.is_empty() {
        "(empty answer)".to_string()
    } else {
        flat.to_string()
    }
}

/// Whether `body` is the API's own answer (carries its `success`/`code` envelope).
pub fn is_api_answer(body: &str) -> bool {
    Envelope::of_api(body).is_ok()
}

/// A page that is not the API's answer, as one short line: tags dropped, blanks folded.
fn page_text(body: &str) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                text.push(' ');
            }
            _ if in_tag => {}
            c if c.is_control() || c.is_whitespace() => text.push(' '),
            c => text.push(c),
        }
    }
    let words: Vec<&str> = text.split_whitespace().collect();
    let line: String = words.join(" ").chars().take(200).collect();
    if line.is_empty() {
        "(empty answer)".to_string()
    } else {
        line
    }
}

fn gateway(status: u16, body: &str) -> ApiError {
    ApiError::Gateway {
        status,
        page: page_text(body),
    }
}

/// The body's code as a status, or the HTTP status when the code is no valid status number.
fn status_of(code: i64, status: u16) -> u16 {
    u16::try_from(code).unwrap_or(status)
}

fn unreadable(status: u16, body: &str) -> ApiError {
    ApiError::Ambiguous(format!(
        "unreadable answer (HTTP {status}): {}",
        server_message(body)
    ))
}

fn server_error(status: u16, body: &str) -> ApiError {
    ApiError::Ambiguous(format!("HTTP {status}: {}", server_message(body)))
}

/// The answer of kirim (`is_kirim`) or add. 401 and 429 are handled before this by the client.
pub fn upload_answer(is_kirim: bool, status: u16, body: &str) -> Result<UploadAnswer, ApiError> {
    let Ok(envelope) = Envelope::of_api(body) else {
        return Err(gateway(status, body));
    };
    if status >= 500 {
        return Err(server_error(status, body));
    }
    if status == 409 {
        let message = server_message(body);
        return if is_kirim {
            Ok(UploadAnswer::Conflict { message })
        } else {
            Err(ApiError::Rejected { status, message })
        };
    }
    if !(200..300).contains(&status) && status != 404 {
        return Err(ApiError::Rejected {
            status,
            message: server_message(body),
        });
    }
    let Some(envelope) = envelope else {
        return Err(unreadable(status, body));
    };
    match envelope.code() {
        Some(200) if status != 404 => Ok(UploadAnswer::Stored(UploadOk {
            npwp_pemberitahu: text(envelope.data.get("npwpPemberitahu")),
            jumlah_foto_terupload: envelope
                .data
                .get("jumlahFotoTerupload")
                .and_then(number)
                .and_then(|n| u64::try_from(n).ok()),
            message: envelope.message(),
            sent_sha256: Default::default(),
        })),
        Some(404) => Ok(UploadAnswer::NotFound {
            message: envelope.message(),
        }),
        Some(409) if is_kirim => Ok(UploadAnswer::Conflict {
            message: envelope.message(),
        }),
        Some(code) if code >= 500 => Err(server_error(status_of(code, status), body)),
        Some(code) => Err(ApiError::Rejected {
            status: status_of(code, status),
            message: envelope.message(),
        }),
        None => Err(unreadable(status, body)),
    }
}

#[derive(Debug, Deserialize)]
struct Detail {
    #[serde(rename = "namaFile")]
    nama_file: String,
    #[serde(rename = "waktuRekam", default)]
    waktu_rekam: Option<String>,
}

/// The answer of get: `Ok(None)` when the API says it holds no X-ray data for the nomorAju.
pub fn get_answer(status: u16, body: &str) -> Result<Option<ServerRecord>, ApiError> {
    let Ok(envelope) = Envelope::of_api(body) else {
        // A 404 page of a gateway says nothing about customs' records.
        return Err(gateway(status, body));
    };
    if status >= 500 {
        return Err(server_error(status, body));
    }
    if status == 404 {
        return Ok(None);
    }
    if !(200..300).contains(&status) {
        return Err(ApiError::Rejected {
            status,
            message: server_message(body),
        });
    }
    let envelope = envelope.ok_or_else(|| unreadable(status, body))?;
    match envelope.code() {
        Some(200) => {}
        Some(404) => return Ok(None),
        Some(code) if code >= 500 => return Err(server_error(status_of(code, status), body)),
        Some(code) => {
            return Err(ApiError::Rejected {
                status: status_of(code, status),
                message: envelope.message(),
            });
        }
        None => return Err(unreadable(status, body)),
    }
    let data = envelope
        .data
        .as_object()
        .ok_or_else(|| unreadable(status, body))?;
    let detail: Vec<Detail> = match data.get("detail") {
        None | Some(Value::Null) => Vec::new(),
        Some(list) => serde_json::from_value(list.clone()).map_err(|_| unreadable(status, body))?,
    };
    Ok(Some(ServerRecord {
        npwp_pemberitahu: text(data.get("npwpPemberitahu")),
        nomor_bl_awb: text(data.get("nomorBlAwb")),
        tanggal_bl_awb: text(data.get("tanggalBlAwb")),
        kode_kantor: text(data.get("kodeKantor")),
        total_foto_terupload: data
            .get("totalFotoTerupload")
            .and_then(number)
            .and_then(|n| u64::try_from(n).ok()),
        detail: detail
            .into_iter()
            .map(|d| ServerPhoto {
                nama_file: d.nama_file,
                waktu_rekam: d.waktu_rekam,
            })
            .collect(),
    }))
}

/// How long a 429 asks us to wait: `Retry-After` in seconds or as an HTTP date; 1 s when absent
/// or unreadable; never more than [`MAX_PAUSE`].
pub fn retry_after(header: Option<&str>, now: SystemTime) -> Duration {
    const DEFAULT: Duration = Duration::from_secs(1);
    let Some(value) = header.map(str::trim).filter(|v| !v.is_empty()) else {
        return DEFAULT;
    };
    let wait = if let Ok(secs) = value.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            Duration::from_secs_f64(secs.min(MAX_PAUSE.as_secs_f64()))
        } else {
            DEFAULT
        }
    } else if let Ok(when) = httpdate::parse_http_date(value) {
        when.duration_since(now).unwrap_or(Duration::ZERO)
    } else {
        DEFAULT
    };
    wait.min(MAX_PAUSE)
}

#[cfg(test)]
#[path = "answer_tests.rs"]
mod tests;
