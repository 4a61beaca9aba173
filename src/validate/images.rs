//! A row's photos: the regular, non-hidden files directly in its folder whose *content* is an
//! image. Names lie (a `.jpg` that is really a text file, a scan without extension), bytes do not,
//! and customs rejects what is not an image — so the content type sent is the sniffed one.
//! Files are hashed by streaming: memory never grows with photo size.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{Problem, Severity};
use crate::model::LocalImage;

/// Extensions of files that are meant to be photos: one of them that is not an image is an error.
const IMAGE_EXTENSIONS: [&str; 8] = ["jpg", "jpeg", "png", "gif", "bmp", "tif", "tiff", "webp"];

/// Bytes read to recognise a file.
const SNIFF_LEN: usize = 32;

/// The content type of an image recognised by its first bytes.
pub fn sniff(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if head.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
        Some("image/png")
    } else if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if head.starts_with(b"II*\0") || head.starts_with(b"MM\0*") {
        Some("image/tiff")
    } else if head.len() >= 12 && head.starts_with(b"RIFF") && &head[8..12] == b"WEBP" {
        Some("image/webp")
    } else if is_bmp(head) {
        Some("image/bmp")
    } else {
        None
    }
}

/// "BM" alone would take any text starting with those letters for a bitmap: the size of the
/// header that follows must also be one of the sizes bitmaps use.
fn is_bmp(head: &[u8]) -> bool {
    head.len() >= 18
        && head.starts_with(b"BM")
        && matches!(
            u32::from_le_bytes([head[14], head[15], head[16], head[17]]),
            12 | 16 | 40 | 52 | 56 | 64 | 108 | 124
        )
}

fn named_like_an_image(name: &str) -> bool {
    Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

/// A photo found in a folder, not yet hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub name: String,
    pub path: PathBuf,
    pub bytes: u64,
    pub content_type: &'static str,
}

/// What a folder holds: its photos (sorted by name), problems about the folder (column `folder`)
/// and about single photos (no column, the file name as value).
#[derive(Debug, Default)]
pub struct Scan {
    pub photos: Vec<Found>,
    pub problems: Vec<Problem>,
}

/// List and recognise the photos of `dir`; `folder` is the cell as written, for messages.
pub fn scan(row: usize, folder: &str, dir: &Path, max_image_bytes: u64) -> Scan {
    let mut scan = Scan::default();
    let folder_problem = |message: String, severity: Severity| Problem {
        row,
        column: Some(crate::manifest::Column::Folder.name()),
        value: folder.to_string(),
        message,
        severity,
    };
    let entries = match list(dir) {
        Ok(entries) => entries,
        Err(message) => {
            scan.problems.push(folder_problem(message, Severity::Error));
            return scan;
        }
    };

    let mut photo_errors = Vec::new();
    let mut ignored = Vec::new();
    for (name, path, utf8_name) in entries {
        if name.starts_with('.') {
            continue; // hidden: .DS_Store, editor swap files, ...
        }
        match look_at(name, path, utf8_name, max_image_bytes) {
            Entry::Photo(found) => scan.photos.push(found),
            Entry::Refused { name, message } => photo_errors.push(Problem {
                row,
                column: None,
                value: name,
                message,
                severity: Severity::Error,
            }),
            Entry::Ignored(name) => ignored.push(name),
        }
    }

    if scan.photos.is_empty() && photo_errors.is_empty() {
        let mut message = "holds no photos (JPEG, PNG, GIF, BMP, TIFF or WebP)".to_string();
        if !ignored.is_empty() {
            message.push_str(&format!(", only {}", ignored_list(&ignored)));
        }
        scan.problems.push(folder_problem(message, Severity::Error));
    } else if !ignored.is_empty() {
        let message = format!("also holds {} (ignored)", ignored_list(&ignored));
        scan.problems
            .push(folder_problem(message, Severity::Warning));
    }
    scan.problems.extend(photo_errors);
    scan
}

/// The entries of the folder `dir`, sorted by name: name, path, and whether the name is UTF-8.
/// `Err` is what is wrong with the folder.
fn list(dir: &Path) -> Result<Vec<(String, PathBuf, bool)>, String> {
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => return Err(format!("is not a folder ({})", dir.display())),
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            return Err(format!("does not exist (looked for {})", dir.display()));
        }
        Err(err) => return Err(format!("cannot be opened ({}): {err}", dir.display())),
    }
    let entries = std::fs::read_dir(dir)
        .and_then(|it| it.collect::<io::Result<Vec<_>>>())
        .map_err(|err| format!("cannot be listed ({}): {err}", dir.display()))?;
    let mut entries: Vec<(String, PathBuf, bool)> = entries
        .into_iter()
        .map(|e| match e.file_name().into_string() {
            Ok(name) => (name, e.path(), true),
            Err(raw) => (raw.to_string_lossy().into_owned(), e.path(), false),
        })
        .collect();
    entries.sort();
    Ok(entries)
}

/// What one (not hidden) entry of a folder turned out to be.
enum Entry {
    Photo(Found),
    /// Meant as a photo, and not one that can be sent: an error about the photo.
    Refused {
        name: String,
        message: String,
    },
    /// Not meant as a photo: named in the folder's warning (a folder with a `/`).
    Ignored(String),
}

/// Recognise one entry of a folder: a file named like an image must be one that can be sent, any
/// other file is a photo when its content is an image, and ignored otherwise.
fn look_at(name: String, path: PathBuf, utf8_name: bool, max_image_bytes: u64) -> Entry {
    let meant_as_photo = named_like_an_image(&name);
    // A problem with a file named like an image is an error; with any other file, it is ignored.
    let unusable = |name: String, message: String| {
        if meant_as_photo {
            Entry::Refused { name, message }
        } else {
            Entry::Ignored(name)
        }
    };
    // metadata() follows symbolic links: a link to a regular file is a file.
    let meta = match std::fs::metadata(&path) {
        Ok(meta) => meta,
        Err(err) => return unusable(name, format!("cannot be read: {err}")),
    };
    if !meta.is_file() {
        return Entry::Ignored(if meta.is_dir() {
            format!("{name}/")
        } else {
            name
        });
    }
    if meta.len() == 0 {
        return unusable(name, "is empty (0 bytes)".into());
    }
    let content_type = match read_head(&path) {
        Ok(head) => sniff(&head),
        Err(err) => return unusable(name, format!("cannot be read: {err}")),
    };
    let Some(content_type) = content_type else {
        return unusable(
            name,
            "is named like an image but its content is not one (not JPEG, PNG, GIF, BMP, TIFF \
             or WebP)"
                .into(),
        );
    };
    let refused = |name: String, message: String| Entry::Refused { name, message };
    if !utf8_name {
        return refused(
            name,
            "has a file name that is not valid UTF-8; rename the file".into(),
        );
    }
    if let Some(message) = name_problem(&name) {
        return refused(name, message);
    }
    if meta.len() > max_image_bytes {
        let message = format!(
            "is {} bytes, over the limit of {max_image_bytes} bytes (--max-image-bytes)",
            meta.len()
        );
        return refused(name, message);
    }
    Entry::Photo(Found {
        name,
        path,
        bytes: meta.len(),
        content_type,
    })
}

/// Longest photo file name: the name is the key customs keeps the photo by (`namaFile`), and
/// travels in the upload's Content-Disposition header.
pub const MAX_PHOTO_NAME_CHARS: usize = 128;

/// What is wrong with a photo's file name, if anything: it goes into a multipart header as it is,
/// so a control character (a line break could end the header) or a quote is refused, as is a
/// name too long for customs to keep.
fn name_problem(name: &str) -> Option<String> {
    let unseen =
        |c: char| c.is_control() || matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}');
    if name.chars().any(unseen) {
        return Some(
            "has a control or invisible character in its name (a line break, ESC?); rename the \
             file"
                .into(),
        );
    }
    if let Some(c) = name.chars().find(|c| matches!(c, '"' | '\\')) {
        return Some(format!(
            "has {c} in its name, which cannot travel in the upload's file name; rename the file"
        ));
    }
    let chars = name.chars().count();
    if chars > MAX_PHOTO_NAME_CHARS {
        return Some(format!(
            "has a name of {chars} characters; a photo name has at most {MAX_PHOTO_NAME_CHARS}"
        ));
    }
    None
}

/// "2 files that are not photos: a.txt, notes/"
fn ignored_list(names: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut list = names
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        list.push_str(", ...");
    }
    match names.len() {
        1 => format!("1 file that is not a photo: {list}"),
        count => format!("{count} files that are not photos: {list}"),
    }
}

fn read_head(path: &Path) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(SNIFF_LEN);
    File::open(path)?
        .take(SNIFF_LEN as u64)
        .read_to_end(&mut head)?;
    Ok(head)
}

/// Hash a found photo, streaming it in chunks. The size recorded is the count of bytes hashed, so
/// that digest and size always describe the same content.
pub fn hash(found: &Found) -> io::Result<LocalImage> {
    let mut file = File::open(&found.path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut bytes = 0u64;
    loop {
        let n = match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        hasher.update(&buffer[..n]);
        bytes += n as u64;
    }
    Ok(LocalImage {
        name: found.name.clone(),
        path: found.path.clone(),
        bytes,
        sha256: hex::encode(hasher.finalize()),
        content_type: found.content_type,
    })
}

#[cfg(test)]
#[path = "images_tests.rs"]
mod tests;
