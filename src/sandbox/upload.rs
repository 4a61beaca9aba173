//! Reading a kirim/add request the strict way: the real gateway is assumed to bind a typed JSON
//! `data` part and `image/*` parts, so everything a lenient server would let slip is a 400 here,
//! with a message saying exactly what is wrong. A client that passes these checks sends what the
//! API text asks for.

use axum::body::Bytes;
use axum::extract::multipart::{Field, MultipartError};
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{StatusCode, header};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::answer::is_strict_date;
use super::store::Declaration;

/// A well-formed kirim/add request.
#[derive(Debug)]
pub struct Upload {
    pub declaration: Declaration,
    pub photos: Vec<IncomingPhoto>,
}

#[derive(Debug)]
pub struct IncomingPhoto {
    pub name: String,
    pub content_type: String,
    pub data: Bytes,
    pub sha256: String,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// 400 with this message.
    BadRequest(String),
    /// 413: the body passed `--max-body-bytes`.
    TooLarge,
}

fn bad(message: impl Into<String>) -> Refusal {
    Refusal::BadRequest(message.into())
}

fn from_multipart(err: MultipartError) -> Refusal {
    if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Refusal::TooLarge
    } else {
        bad(format!(
            "The multipart body cannot be read: {}",
            err.body_text()
        ))
    }
}

/// The media type without parameters, lower-cased.
fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Read and drop what is left of a request the server refuses early, up to `limit` bytes, so
/// that the client reads the refusal instead of a connection closed under its upload.
pub async fn drain(request: Request, limit: u64) {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let _ = axum::body::to_bytes(request.into_body(), limit).await;
}

/// Read and drop a kirim/add request refused before the backend, and say how many bytes of
/// `images` parts it carried (as far as they could be read).
pub async fn drain_upload(request: Request, limit: u64) -> u64 {
    let is_multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| essence(ct) == "multipart/form-data");
    if !is_multipart {
        drain(request, limit).await;
        return 0;
    }
    let Ok(mut multipart) = Multipart::from_request(request, &()).await else {
        return 0;
    };
    let mut received = 0;
    while let Ok(Some(mut field)) = multipart.next_field().await {
        let images = field.name() == Some("images");
        while let Ok(Some(chunk)) = field.chunk().await {
            if images {
                received += chunk.len() as u64;
            }
        }
    }
    received
}

/// An `images` part's bytes, each chunk added to `received` as it arrives, so that a part cut
/// short (413, a broken body) still counts what was read.
async fn image_bytes(field: &mut Field<'_>, received: &mut u64) -> Result<Bytes, Refusal> {
    let mut data = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(from_multipart)? {
        *received += chunk.len() as u64;
        data.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(data))
}

/// Read and check the whole request; `received` counts the bytes of `images` parts read, whatever
/// the outcome. After the first problem the rest of the body is still read (and dropped), so that
/// the client gets the 400 rather than a reset connection.
pub async fn read(request: Request, limit: u64, received: &mut u64) -> Result<Upload, Refusal> {
    let mut multipart = open(request, limit).await?;
    let mut parts = Parts::default();
    while let Some(field) = multipart.next_field().await.map_err(from_multipart)? {
        parts.take(field, received).await?;
    }
    parts.upload()
}

/// The request's multipart body, once its Content-Type and declared length are acceptable.
async fn open(request: Request, limit: u64) -> Result<Multipart, Refusal> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if essence(&content_type) != "multipart/form-data" {
        drain(request, limit).await;
        return Err(bad(if content_type.is_empty() {
            "The request must be multipart/form-data; it has no Content-Type".to_string()
        } else {
            format!("The request must be multipart/form-data, not {content_type}")
        }));
    }
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(Refusal::TooLarge);
    }
    Multipart::from_request(request, &())
        .await
        .map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Refusal::TooLarge
            } else {
                bad(format!(
                    "The multipart body cannot be read: {}",
                    rejection.body_text()
                ))
            }
        })
}

/// The parts read so far, and the first problem found with them.
#[derive(Default)]
struct Parts {
    problem: Option<String>,
    declaration: Option<Declaration>,
    data_parts: usize,
    image_parts: usize,
    photos: Vec<IncomingPhoto>,
}

impl Parts {
    /// Read one part whole, and check it unless a problem was found already.
    async fn take(&mut self, mut field: Field<'_>, received: &mut u64) -> Result<(), Refusal> {
        match field.name().unwrap_or("") {
            "data" => {
                self.data_parts += 1;
                let content_type = field.content_type().map(str::to_string);
                let bytes = field.bytes().await.map_err(from_multipart)?;
                if self.problem.is_some() {
                    return Ok(());
                }
                if self.data_parts > 1 {
                    self.problem = Some("The request has more than one data part".into());
                    return Ok(());
                }
                match check_data(content_type.as_deref(), &bytes) {
                    Ok(d) => self.declaration = Some(d),
                    Err(p) => self.problem = Some(p),
                }
            }
            "images" => {
                self.image_parts += 1;
                let file_name = field.file_name().map(str::to_string);
                let content_type = field.content_type().map(str::to_string);
                let data = image_bytes(&mut field, received).await?;
                if self.problem.is_some() {
                    return Ok(());
                }
                match check_image(self.image_parts, file_name, content_type, data) {
                    Ok(photo) => self.photos.push(photo),
                    Err(p) => self.problem = Some(p),
                }
            }
            // Parts the API does not name are ignored, as a form binder would.
            _ => {
                let _ = field.bytes().await.map_err(from_multipart)?;
            }
        }
        Ok(())
    }

    /// The upload the parts make, or the first problem with them.
    fn upload(self) -> Result<Upload, Refusal> {
        if let Some(problem) = self.problem {
            return Err(bad(problem));
        }
        let Some(declaration) = self.declaration else {
            return Err(bad("The request has no data part"));
        };
        if self.photos.is_empty() {
            return Err(bad("The request has no images part"));
        }
        Ok(Upload {
            declaration,
            photos: self.photos,
        })
    }
}

/// The `data` part: typed `application/json`, a JSON object, four non-empty strings, a strict date.
fn check_data(content_type: Option<&str>, bytes: &[u8]) -> Result<Declaration, String> {
    match content_type {
        None => {
            return Err(
                "The data part must have Content-Type application/json; it has none".into(),
            );
        }
        Some(ct) if essence(ct) != "application/json" => {
            return Err(format!(
                "The data part must have Content-Type application/json, not {ct}"
            ));
        }
        Some(_) => {}
    }
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| format!("The data part is not valid JSON: {e}"))?;
    let Value::Object(fields) = value else {
        return Err("The data part must be a JSON object".into());
    };
    let field = |name: &str| -> Result<String, String> {
        match fields.get(name) {
            None | Some(Value::Null) => Err(format!("data: field {name} is missing")),
            Some(Value::String(s)) if s.trim().is_empty() => {
                Err(format!("data: field {name} is empty"))
            }
            Some(Value::String(s)) => Ok(s.clone()),
            Some(other) => Err(format!(
                "data: field {name} must be a string, not {}",
                kind(other)
            )),
        }
    };
    let declaration = Declaration {
        nomor_aju: field("nomorAju")?,
        nomor_bl_awb: field("nomorBlAwb")?,
        tanggal_bl_awb: field("tanggalBlAwb")?,
        kode_kantor: field("kodeKantor")?,
    };
    if !is_strict_date(&declaration.tanggal_bl_awb) {
        return Err(format!(
            "data: field tanggalBlAwb {:?} is not a date in yyyy-MM-dd format",
            declaration.tanggal_bl_awb
        ));
    }
    Ok(declaration)
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// One `images` part: a file name, an `image/*` type, at least one byte.
fn check_image(
    index: usize,
    file_name: Option<String>,
    content_type: Option<String>,
    data: Bytes,
) -> Result<IncomingPhoto, String> {
    let Some(name) = file_name.filter(|n| !n.trim().is_empty()) else {
        return Err(format!("images part {index} has no filename"));
    };
    let content_type = match content_type {
        Some(ct) if essence(&ct).starts_with("image/") && essence(&ct).len() > 6 => ct,
        Some(ct) => {
            return Err(format!(
                "images part {index} ({name}) has Content-Type {ct}, not image/*"
            ));
        }
        None => {
            return Err(format!(
                "images part {index} ({name}) has no Content-Type; image/* is required"
            ));
        }
    };
    if data.is_empty() {
        return Err(format!("images part {index} ({name}) is empty"));
    }
    let sha256 = hex::encode(Sha256::digest(&data));
    Ok(IncomingPhoto {
        name,
        content_type,
        data,
        sha256,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(json: &str) -> Result<Declaration, String> {
        check_data(Some("application/json"), json.as_bytes())
    }

    #[test]
    fn data_checks() {
        let ok = r#"{"nomorAju":"A","nomorBlAwb":"B","tanggalBlAwb":"2025-09-30","kodeKantor":"009000"}"#;
        assert_eq!(data(ok).unwrap().kode_kantor, "009000");
        assert!(check_data(Some("application/json; charset=utf-8"), ok.as_bytes()).is_ok());
        assert!(
            check_data(Some("text/plain"), ok.as_bytes())
                .unwrap_err()
                .contains("text/plain")
        );
        assert!(
            check_data(None, ok.as_bytes())
                .unwrap_err()
                .contains("none")
        );
        assert!(data("{").unwrap_err().contains("not valid JSON"));
        assert!(data("[]").unwrap_err().contains("JSON object"));
        let missing = r#"{"nomorAju":"A","tanggalBlAwb":"2025-09-30","kodeKantor":"009000"}"#;
        assert_eq!(
            data(missing).unwrap_err(),
            "data: field nomorBlAwb is missing"
        );
        let empty = r#"{"nomorAju":"A","nomorBlAwb":" ","tanggalBlAwb":"2025-09-30","kodeKantor":"009000"}"#;
        assert_eq!(data(empty).unwrap_err(), "data: field nomorBlAwb is empty");
        let number =
            r#"{"nomorAju":"A","nomorBlAwb":"B","tanggalBlAwb":"2025-09-30","kodeKantor":9000}"#;
        assert_eq!(
            data(number).unwrap_err(),
            "data: field kodeKantor must be a string, not a number"
        );
        let date =
            r#"{"nomorAju":"A","nomorBlAwb":"B","tanggalBlAwb":"2025-9-30","kodeKantor":"009000"}"#;
        assert!(data(date).unwrap_err().contains("yyyy-MM-dd"));
    }

    #[test]
    fn image_checks() {
        let bytes = Bytes::from_static(b"\xff\xd8\xff");
        let ok = check_image(
            1,
            Some("a.jpg".into()),
            Some("image/jpeg".into()),
            bytes.clone(),
        );
        assert_eq!(ok.unwrap().sha256.len(), 64);
        let no_name = check_image(2, None, Some("image/jpeg".into()), bytes.clone());
        assert_eq!(no_name.unwrap_err(), "images part 2 has no filename");
        let text = check_image(
            1,
            Some("a.txt".into()),
            Some("text/plain".into()),
            bytes.clone(),
        );
        assert!(text.unwrap_err().contains("not image/*"));
        let bare = check_image(
            1,
            Some("a.jpg".into()),
            Some("image/".into()),
            bytes.clone(),
        );
        assert!(bare.is_err());
        let empty = check_image(
            1,
            Some("a.jpg".into()),
            Some("image/jpeg".into()),
            Bytes::new(),
        );
        assert_eq!(empty.unwrap_err(), "images part 1 (a.jpg) is empty");
    }
}
