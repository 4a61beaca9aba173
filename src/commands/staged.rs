//! The validated rows of a run, waiting on disk: validation writes each row here as it is
//! checked, with its photos' names, sizes and digests, and the workers and the outputs read them
//! back one at a time. Holding them in memory would cost about a kilobyte a row until the run
//! ends; here they cost disk space in the temporary folder (`TMPDIR`), in an unnamed file that
//! disappears with the process, however it ends.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::manifest::Column;
use crate::model::{DocMeta, LocalImage, RowFields, Shipment};
use crate::positional::PositionalReader;
use crate::validate::{CheckedRow, Problem, Severity, describe_problem};

/// Validated rows on disk, in manifest order.
#[derive(Debug, Clone)]
pub struct Staged {
    file: Arc<File>,
    /// Rows staged.
    pub rows: usize,
    /// Valid rows among them.
    pub valid: usize,
    /// Validation warnings in them (errors aside).
    pub warnings: usize,
}

/// Rows being staged.
pub struct StagedWriter {
    out: BufWriter<File>,
    file: Arc<File>,
    rows: usize,
    valid: usize,
    warnings: usize,
}

impl StagedWriter {
    /// Add the next row (rows come in manifest order).
    pub fn push(&mut self, row: CheckedRow) -> io::Result<()> {
        self.rows += 1;
        if row.shipment.is_some() {
            self.valid += 1;
        }
        self.warnings += row
            .problems
            .iter()
            .filter(|p| p.severity == Severity::Warning)
            .count();
        serde_json::to_writer(&mut self.out, &Record::from(row)).map_err(io::Error::other)?;
        self.out.write_all(b"\n")
    }

    pub fn finish(mut self) -> io::Result<Staged> {
        self.out.flush()?;
        Ok(Staged {
            file: self.file,
            rows: self.rows,
            valid: self.valid,
            warnings: self.warnings,
        })
    }
}

impl Staged {
    pub fn writer() -> io::Result<StagedWriter> {
        let file = tempfile::tempfile()?;
        let shared = Arc::new(file.try_clone()?);
        Ok(StagedWriter {
            out: BufWriter::with_capacity(1 << 16, file),
            file: shared,
            rows: 0,
            valid: 0,
            warnings: 0,
        })
    }

    /// Rows already in memory, staged (small runs, tests).
    pub fn of(rows: impl IntoIterator<Item = CheckedRow>) -> io::Result<Staged> {
        let mut w = Staged::writer()?;
        for row in rows {
            w.push(row)?;
        }
        w.finish()
    }

    /// The rows from the first, one at a time. Readers are independent of one another.
    pub fn iter(&self) -> StagedRows {
        StagedRows {
            reader: BufReader::with_capacity(1 << 16, PositionalReader::new(self.file.clone(), 0)),
            left: self.rows,
            line: Vec::new(),
        }
    }

    /// Log every validation warning of the rows, each naming the manifest, the row and the
    /// column: a run calls it once run.log is open, so that the log keeps them (validation
    /// happens before the run folder exists).
    pub fn log_warnings(&self, manifest: &Path) {
        if self.warnings == 0 {
            return;
        }
        let name = manifest.display().to_string();
        for row in self.rows_or_log() {
            for p in row
                .problems
                .iter()
                .filter(|p| p.severity == Severity::Warning)
            {
                tracing::warn!("warning: {name} row {}, {}", p.row, describe_problem(p));
            }
        }
    }

    /// The rows from the first; a row that cannot be read back (the temporary folder failed)
    /// ends them, with an error in the log.
    pub fn rows_or_log(&self) -> impl ExactSizeIterator<Item = CheckedRow> + Send + use<> {
        LoggedRows(self.iter())
    }
}

/// The staged rows, one at a time.
pub struct StagedRows {
    reader: BufReader<PositionalReader>,
    left: usize,
    line: Vec<u8>,
}

impl Iterator for StagedRows {
    type Item = io::Result<CheckedRow>;

    fn next(&mut self) -> Option<io::Result<CheckedRow>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        self.line.clear();
        let read = self
            .reader
            .read_until(b'\n', &mut self.line)
            .and_then(|n| match n {
                0 => Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the validated rows end early",
                )),
                _ => serde_json::from_slice::<Record>(&self.line).map_err(io::Error::other),
            });
        if read.is_err() {
            self.left = 0;
        }
        Some(read.map(CheckedRow::from))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for StagedRows {}

struct LoggedRows(StagedRows);

impl Iterator for LoggedRows {
    type Item = CheckedRow;

    fn next(&mut self) -> Option<CheckedRow> {
        match self.0.next()? {
            Ok(row) => Some(row),
            Err(e) => {
                tracing::error!(
                    "cannot read the validated rows back from the temporary folder: {e}"
                );
                None
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl ExactSizeIterator for LoggedRows {}

/// A [`CheckedRow`] as one line of the file.
#[derive(Serialize, Deserialize)]
struct Record {
    row: usize,
    fields: RowFields,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    problems: Vec<ProblemRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    shipment: Option<ShipmentRecord>,
}

#[derive(Serialize, Deserialize)]
struct ProblemRecord {
    column: Option<String>,
    value: String,
    message: String,
    warning: bool,
}

#[derive(Serialize, Deserialize)]
struct ShipmentRecord {
    meta: DocMeta,
    folder: String,
    images: Vec<ImageRecord>,
}

#[derive(Serialize, Deserialize)]
struct ImageRecord {
    name: String,
    path: PathRecord,
    bytes: u64,
    sha256: String,
    content_type: String,
}

/// A path as text when it is UTF-8, else as its bytes (a file name need not be text).
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum PathRecord {
    Text(String),
    Bytes(Vec<u8>),
}

impl From<PathBuf> for PathRecord {
    fn from(path: PathBuf) -> PathRecord {
        match path.into_os_string().into_string() {
            Ok(text) => PathRecord::Text(text),
            #[cfg(unix)]
            Err(raw) => PathRecord::Bytes(std::os::unix::ffi::OsStringExt::into_vec(raw)),
            #[cfg(not(unix))]
            Err(raw) => PathRecord::Text(raw.to_string_lossy().into_owned()),
        }
    }
}

impl From<PathRecord> for PathBuf {
    fn from(path: PathRecord) -> PathBuf {
        match path {
            PathRecord::Text(text) => PathBuf::from(text),
            #[cfg(unix)]
            PathRecord::Bytes(raw) => PathBuf::from(
                <std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(raw),
            ),
            #[cfg(not(unix))]
            PathRecord::Bytes(raw) => PathBuf::from(String::from_utf8_lossy(&raw).into_owned()),
        }
    }
}

/// The content types that validation recognises photos by (`validate::sniff`).
const CONTENT_TYPES: [&str; 6] = [
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/tiff",
    "image/webp",
    "image/bmp",
];

fn content_type(text: &str) -> &'static str {
    CONTENT_TYPES
        .into_iter()
        .find(|t| *t == text)
        .unwrap_or("application/octet-stream")
}

fn column(name: &str) -> Option<&'static str> {
    Column::ALL
        .into_iter()
        .map(Column::name)
        .find(|n| *n == name)
}

impl From<CheckedRow> for Record {
    fn from(r: CheckedRow) -> Record {
        Record {
            row: r.row,
            fields: r.fields,
            problems: r
                .problems
                .into_iter()
                .map(|p| ProblemRecord {
                    column: p.column.map(str::to_string),
                    value: p.value,
                    message: p.message,
                    warning: p.severity == Severity::Warning,
                })
                .collect(),
            shipment: r.shipment.map(|s| ShipmentRecord {
                meta: s.meta,
                folder: s.folder,
                images: s
                    .images
                    .into_iter()
                    .map(|i| ImageRecord {
                        name: i.name,
                        path: i.path.into(),
                        bytes: i.bytes,
                        sha256: i.sha256,
                        content_type: i.content_type.to_string(),
                    })
                    .collect(),
            }),
        }
    }
}

impl From<Record> for CheckedRow {
    fn from(r: Record) -> CheckedRow {
        CheckedRow {
            row: r.row,
            fields: r.fields,
            problems: r
                .problems
                .into_iter()
                .map(|p| Problem {
                    row: r.row,
                    column: p.column.as_deref().and_then(column),
                    value: p.value,
                    message: p.message,
                    severity: if p.warning {
                        Severity::Warning
                    } else {
                        Severity::Error
                    },
                })
                .collect(),
            shipment: r.shipment.map(|s| Shipment {
                row: r.row,
                meta: s.meta,
                folder: s.folder,
                images: s
                    .images
                    .into_iter()
                    .map(|i| LocalImage {
                        name: i.name,
                        path: i.path.into(),
                        bytes: i.bytes,
                        sha256: i.sha256,
                        content_type: content_type(&i.content_type),
                    })
                    .collect(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(row: usize, image: &str) -> CheckedRow {
        let meta = DocMeta {
            nomor_aju: format!("AJU{row}"),
            nomor_bl_awb: format!("BL{row}"),
            tanggal_bl_awb: "2025-01-02".into(),
            kode_kantor: "040300".into(),
        };
        CheckedRow {
            row,
            fields: RowFields {
                nomor_aju: meta.nomor_aju.clone(),
                folder: "f\u{1b}\n".into(),
                ..RowFields::default()
            },
            problems: vec![Problem {
                row,
                column: Some("kodeKantor"),
                value: "40300".into(),
                message: "was padded".into(),
                severity: Severity::Warning,
            }],
            shipment: Some(Shipment {
                row,
                meta,
                folder: "f".into(),
                images: vec![LocalImage {
                    name: image.into(),
                    path: PathBuf::from("/photos/f").join(image),
                    bytes: 3,
                    sha256: "ab".repeat(32),
                    content_type: "image/png",
                }],
            }),
        }
    }

    fn invalid(row: usize) -> CheckedRow {
        CheckedRow {
            row,
            fields: RowFields::default(),
            problems: vec![Problem {
                row,
                column: None,
                value: "x.jpg".into(),
                message: "is empty".into(),
                severity: Severity::Error,
            }],
            shipment: None,
        }
    }

    #[test]
    fn rows_read_back_as_they_were_written_by_any_number_of_readers() {
        let rows = vec![valid(2, "a.png"), invalid(3), valid(5, "b é.png")];
        let staged = Staged::of(rows.clone()).unwrap();
        assert_eq!((staged.rows, staged.valid), (2 + 1, 2));
        let mut first = staged.iter();
        assert_eq!(first.len(), 3);
        assert_eq!(first.next().unwrap().unwrap(), rows[0]);
        // A second reader starts from the first row, whatever the first one did.
        let again: Vec<CheckedRow> = staged.iter().map(Result::unwrap).collect();
        assert_eq!(again, rows);
        assert_eq!(first.len(), 2);
        assert_eq!(first.next().unwrap().unwrap(), rows[1]);
        let logged: Vec<CheckedRow> = staged.rows_or_log().collect();
        assert_eq!(logged, rows);
    }

    #[cfg(unix)]
    #[test]
    fn a_photo_path_that_is_not_text_reads_back_byte_for_byte() {
        use std::os::unix::ffi::OsStringExt;
        let mut row = valid(2, "a.png");
        let raw = PathBuf::from(std::ffi::OsString::from_vec(b"/photos/\xff.png".to_vec()));
        row.shipment.as_mut().unwrap().images[0].path = raw.clone();
        let staged = Staged::of([row]).unwrap();
        let back = staged.iter().next().unwrap().unwrap();
        assert_eq!(back.shipment.unwrap().images[0].path, raw);
    }

    #[test]
    fn every_content_type_and_column_validation_gives_reads_back() {
        let heads: [&[u8]; 6] = [
            b"\xff\xd8\xff\xe0",
            b"\x89PNG\r\n\x1a\n",
            b"GIF89a",
            b"II*\0",
            b"RIFF\0\0\0\0WEBPVP8 ",
            b"BM\0\0\0\0\0\0\0\0\0\0\0\0\x28\0\0\0",
        ];
        for head in heads {
            let sniffed = crate::validate::sniff(head).unwrap();
            assert_eq!(content_type(sniffed), sniffed);
        }
        for c in Column::ALL {
            assert_eq!(column(c.name()), Some(c.name()));
        }
    }
}
