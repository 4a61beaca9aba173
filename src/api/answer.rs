//! Reading the API's answers into typed outcomes. The gateway says "BL/AWB unknown" with HTTP 200
//! and `code:404` in the body, so the body's `success`/`code` decide, not the HTTP status alone;
//! a 2xx body that cannot be read is ambiguous (the request may well have been applied).

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
    let envelope = Envelope::parse(body);
    if (200..300).contains(&status) || status == 404 {
        let Some(envelope) = envelope else {
            return if status == 404 {
                Err(ApiError::Rejected {
                    status,
                    message: server_message(body),
                })
            } else {
                Err(unreadable(status, body))
            };
        };
        return match envelope.code() {
            Some(200) if status != 404 => Ok(UploadAnswer::Stored(UploadOk {
                npwp_pemberitahu: text(envelope.data.get("npwpPemberitahu")),
                jumlah_foto_terupload: envelope
                    .data
                    .get("jumlahFotoTerupload")
                    .and_then(number)
                    .and_then(|n| u64::try_from(n).ok()),
                message: envelope.message(),
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
        };
    }
    Err(ApiError::Rejected {
        status,
        message: server_message(body),
    })
}

#[derive(Debug, Deserialize)]
struct Detail {
    #[serde(rename = "namaFile")]
    nama_file: String,
    #[serde(rename = "waktuRekam", default)]
    waktu_rekam: Option<String>,
}

/// The answer of get: `Ok(None)` when the server holds no X-ray data for the nomorAju.
pub fn get_answer(status: u16, body: &str) -> Result<Option<ServerRecord>, ApiError> {
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
    let envelope = Envelope::parse(body).ok_or_else(|| unreadable(status, body))?;
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
mod tests {
    use super::*;

    // The examples of the API text, verbatim.
    const KIRIM_OK: &str = r#"{
        "success": true,
        "data": {
            "nomorAju": "012345678901234500000020250930CNTESTXRAY3CN1",
            "nomorBlAwb": "CNTESTXRAY3",
            "tanggalBlAwb": "2025-09-30",
            "kodeKantor": "009000",
            "npwpPemberitahu": "0123456789012345000000",
            "jumlahFotoTerupload": 2,
            "keterangan": "Sukses Upload Foto"
        },
        "timestamp": "2023-10-27 10:00:00",
        "code": 200,
        "message": "Sukses Kirim Foto Xray"
    }"#;
    const KIRIM_NOT_FOUND: &str = r#"{
        "success": false, "data": null, "timestamp": "2023-10-27 10:00:00", "code": 404,
        "message": "Gagal Kirim Foto Xray, Data BL/AWB CN tidak ditemukan"
    }"#;
    const UNAUTHORIZED: &str = r#"{
        "success": false, "data": null, "timestamp": "2023-10-27 10:00:00", "code": 401,
        "message": "Invalid Authorization Token"
    }"#;
    const CONFLICT: &str = r#"{
        "success": false, "data": null, "timestamp": "2023-10-27 10:00:00", "code": 409,
        "message": "Data X-Ray sudah ada, silahkan gunakan API add untuk menambah foto"
    }"#;
    const ADD_NOT_FOUND: &str = r#"{
        "success": false, "data": null, "timestamp": "2023-10-27 10:00:00", "code": 404,
        "message": "Data Foto Xray tidak ditemukan"
    }"#;
    const GET_OK: &str = r#"{
        "success": true,
        "data": {
            "nomorAju": "012345678901234500000020250930CNTESTXRAY3CN1",
            "nomorBlAwb": "CNTESTXRAY3",
            "tanggalBlAwb": "2025-09-30",
            "kodeKantor": "009000",
            "npwpPemberitahu": "0123456789012345000000",
            "totalFotoTerupload": 2,
            "keterangan": null,
            "detail": [
                { "namaFile": "image1.jpg", "waktuRekam": "2023-10-27 10:00:00" },
                { "namaFile": "image2.png", "waktuRekam": "2023-10-27 10:00:05" }
            ]
        },
        "timestamp": "2023-10-27 10:01:00",
        "code": 200,
        "message": "Sukses Mengambil Data Foto X-Ray"
    }"#;
    const GET_NOT_FOUND: &str = r#"{
        "success": false, "data": null, "timestamp": "2023-10-27 10:01:00", "code": 404,
        "message": "Data Foto Xray tidak ditemukan atas request yang diminta"
    }"#;

    #[test]
    fn kirim_success_is_stored_with_npwp_and_count() {
        let answer = upload_answer(true, 200, KIRIM_OK).unwrap();
        assert_eq!(
            answer,
            UploadAnswer::Stored(UploadOk {
                npwp_pemberitahu: Some("0123456789012345000000".into()),
                jumlah_foto_terupload: Some(2),
                message: "Sukses Kirim Foto Xray".into(),
            })
        );
    }

    #[test]
    fn http_200_with_code_404_is_not_found() {
        assert_eq!(
            upload_answer(true, 200, KIRIM_NOT_FOUND).unwrap(),
            UploadAnswer::NotFound {
                message: "Gagal Kirim Foto Xray, Data BL/AWB CN tidak ditemukan".into()
            }
        );
        assert_eq!(
            upload_answer(false, 200, ADD_NOT_FOUND).unwrap(),
            UploadAnswer::NotFound {
                message: "Data Foto Xray tidak ditemukan".into()
            }
        );
    }

    #[test]
    fn http_409_is_a_conflict_on_kirim_and_a_refusal_on_add() {
        assert!(matches!(
            upload_answer(true, 409, CONFLICT).unwrap(),
            UploadAnswer::Conflict { message } if message.starts_with("Data X-Ray sudah ada")
        ));
        assert!(matches!(
            upload_answer(false, 409, CONFLICT),
            Err(ApiError::Rejected { status: 409, .. })
        ));
    }

    #[test]
    fn server_errors_and_unreadable_bodies_are_ambiguous() {
        assert!(matches!(
            upload_answer(true, 503, "Service Unavailable"),
            Err(ApiError::Ambiguous(m)) if m.contains("503")
        ));
        assert!(matches!(
            upload_answer(true, 200, "<html>gateway</html>"),
            Err(ApiError::Ambiguous(_))
        ));
        assert!(matches!(
            upload_answer(false, 200, ""),
            Err(ApiError::Ambiguous(_))
        ));
        assert!(matches!(get_answer(502, ""), Err(ApiError::Ambiguous(_))));
        assert!(matches!(
            get_answer(200, "{not json"),
            Err(ApiError::Ambiguous(_))
        ));
        assert!(matches!(
            get_answer(200, r#"{"success":true,"code":200,"data":{"detail":"x"}}"#),
            Err(ApiError::Ambiguous(_))
        ));
        // A body code beyond u16 is not shown as a wrapped-around status.
        let body = r#"{"success":false,"code":66036,"message":"x"}"#;
        for result in [
            upload_answer(true, 200, body).map(|_| ()),
            get_answer(200, body).map(|_| ()),
        ] {
            assert!(
                matches!(&result, Err(ApiError::Ambiguous(m)) if m.contains("HTTP 200")),
                "{result:?}"
            );
        }
    }

    #[test]
    fn other_refusals_carry_the_server_message() {
        let body = r#"{"success":false,"data":null,"code":400,"message":"tanggalBlAwb salah"}"#;
        assert_eq!(
            upload_answer(true, 400, body),
            Err(ApiError::Rejected {
                status: 400,
                message: "tanggalBlAwb salah".into()
            })
        );
        assert_eq!(
            upload_answer(true, 413, "Payload Too Large\n"),
            Err(ApiError::Rejected {
                status: 413,
                message: "Payload Too Large".into()
            })
        );
        assert_eq!(
            upload_answer(true, 200, UNAUTHORIZED),
            Err(ApiError::Rejected {
                status: 401,
                message: "Invalid Authorization Token".into()
            })
        );
    }

    #[test]
    fn get_lists_the_photos() {
        let record = get_answer(200, GET_OK).unwrap().unwrap();
        assert_eq!(
            record.npwp_pemberitahu.as_deref(),
            Some("0123456789012345000000")
        );
        assert_eq!(record.total_foto_terupload, Some(2));
        assert_eq!(
            record.detail,
            vec![
                ServerPhoto {
                    nama_file: "image1.jpg".into(),
                    waktu_rekam: Some("2023-10-27 10:00:00".into())
                },
                ServerPhoto {
                    nama_file: "image2.png".into(),
                    waktu_rekam: Some("2023-10-27 10:00:05".into())
                },
            ]
        );
    }

    #[test]
    fn get_404_is_none_either_way() {
        assert_eq!(get_answer(404, GET_NOT_FOUND).unwrap(), None);
        assert_eq!(get_answer(404, "").unwrap(), None);
        assert_eq!(get_answer(200, GET_NOT_FOUND).unwrap(), None);
    }

    #[test]
    fn retry_after_seconds_date_default_and_cap() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(retry_after(Some("3"), now), Duration::from_secs(3));
        assert_eq!(retry_after(Some(" 0 "), now), Duration::ZERO);
        assert_eq!(retry_after(Some("1.5"), now), Duration::from_millis(1500));
        assert_eq!(retry_after(None, now), Duration::from_secs(1));
        assert_eq!(retry_after(Some("soon"), now), Duration::from_secs(1));
        assert_eq!(retry_after(Some("-4"), now), Duration::from_secs(1));
        assert_eq!(retry_after(Some("999999"), now), MAX_PAUSE);
        let date = httpdate::fmt_http_date(now + Duration::from_secs(7));
        assert_eq!(retry_after(Some(&date), now), Duration::from_secs(7));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(7));
        assert_eq!(retry_after(Some(&past), now), Duration::ZERO);
    }
}
