//! Manifest readers: CSV (`csv.rs`) and spreadsheets (`sheet.rs`) turn a file into raw rows whose
//! cells keep the type the file gave them, so that validation can tell a typed date from text, and
//! a number that lost its leading zeros from a code typed as text.

mod csv;
mod guard;
mod header;
mod limits;
mod ods_scan;
mod sheet;
mod xls_scan;
mod zipped;

pub use limits::{Limits, SHEET_MAX_COLUMNS, SHEET_MAX_ROWS};

use std::io::Read;
use std::path::{Path, PathBuf};

use chrono::{NaiveDate, NaiveDateTime};
use sha2::{Digest, Sha256};

/// The five columns the tool reads; every other column is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Column {
    NomorAju,
    NomorBlAwb,
    TanggalBlAwb,
    KodeKantor,
    Folder,
}

impl Column {
    pub const ALL: [Column; 5] = [
        Column::NomorAju,
        Column::NomorBlAwb,
        Column::TanggalBlAwb,
        Column::KodeKantor,
        Column::Folder,
    ];

    /// The name used in messages and output files.
    pub fn name(self) -> &'static str {
        match self {
            Column::NomorAju => "nomorAju",
            Column::NomorBlAwb => "nomorBlAwb",
            Column::TanggalBlAwb => "tanggalBlAwb",
            Column::KodeKantor => "kodeKantor",
            Column::Folder => "folder",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One cell as the file typed it.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Empty,
    Text(String),
    /// A spreadsheet number (every xlsx number arrives as a float).
    Number(f64),
    /// A spreadsheet date cell (or a date-formatted serial number).
    Date(NaiveDate),
    /// A spreadsheet date-time cell.
    DateTime(NaiveDateTime),
    /// A spreadsheet error cell such as `#N/A`.
    Error(String),
    /// A TRUE/FALSE cell.
    Bool(bool),
    /// A time of day or a duration, without a date, as the spreadsheet shows it.
    Time(String),
    /// A text cell longer than the bound (`max_cell_chars`): its length in characters and its
    /// first characters; the rest is not kept.
    TooLong {
        chars: usize,
        head: String,
    },
}

/// One data row of the manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct RawRow {
    /// Row number as a spreadsheet shows it (header = 1).
    pub row: usize,
    pub cells: [Cell; 5],
}

impl RawRow {
    pub fn cell(&self, column: Column) -> &Cell {
        &self.cells[column.index()]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestKind {
    Csv,
    Spreadsheet,
}

/// A manifest: its file's digest and row count, and its rows, walked one at a time with
/// [`Manifest::for_each_row`]. The file is read once and its bytes kept; every walk parses them
/// again, within the same bounds. Holding the bytes costs the file's size, while holding the
/// parsed rows would cost several times that (see docs/manifest.md), and a walk gives the same
/// rows as the first read.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub path: PathBuf,
    /// Lower-case hex sha256 of the file, for the audit trail and `--resume`.
    pub sha256: String,
    pub kind: ManifestKind,
    /// Data rows in the file; blank rows do not count.
    pub row_count: usize,
    source: Source,
}

/// Where a manifest's rows come from.
#[derive(Debug, Clone)]
enum Source {
    /// The file's bytes, parsed again at each walk within the bounds it was first read with.
    File {
        bytes: Vec<u8>,
        reader: Reader,
        sheet: Option<String>,
        limits: Limits,
    },
    /// Rows already parsed (built by a program or a test).
    Rows(Vec<RawRow>),
}

/// Why a manifest could not be read at all. Every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{path}: {message}")]
    Unreadable { path: PathBuf, message: String },
}

impl Manifest {
    /// A manifest of rows already parsed.
    pub fn from_rows(
        path: impl Into<PathBuf>,
        sha256: impl Into<String>,
        kind: ManifestKind,
        rows: Vec<RawRow>,
    ) -> Manifest {
        Manifest {
            path: path.into(),
            sha256: sha256.into(),
            kind,
            row_count: rows.len(),
            source: Source::Rows(rows),
        }
    }

    /// The file name, as messages show it (`manifest.xlsx row 17, ...`).
    pub fn display_name(&self) -> String {
        self.path.file_name().map_or_else(
            || self.path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    }

    /// Give every data row, in file order, to `each`, one at a time.
    pub fn for_each_row(&self, each: &mut dyn FnMut(RawRow)) -> Result<(), ManifestError> {
        match &self.source {
            Source::Rows(rows) => {
                rows.iter().cloned().for_each(each);
                Ok(())
            }
            Source::File {
                bytes,
                reader,
                sheet,
                limits,
            } => parse_each(bytes, *reader, sheet.as_deref(), limits, each)
                .map(|_| ())
                .map_err(|message| ManifestError::Unreadable {
                    path: self.path.clone(),
                    message,
                }),
        }
    }

    /// Every data row at once: for small manifests (tests, samples). A large one is walked with
    /// [`Manifest::for_each_row`].
    pub fn rows(&self) -> Result<Vec<RawRow>, ManifestError> {
        let mut rows = Vec::with_capacity(self.row_count);
        self.for_each_row(&mut |r| rows.push(r))?;
        Ok(rows)
    }

    /// The row numbers of the data rows, in file order.
    pub fn row_numbers(&self) -> Result<Vec<usize>, ManifestError> {
        let mut numbers = Vec::with_capacity(self.row_count);
        self.for_each_row(&mut |r| numbers.push(r.row))?;
        Ok(numbers)
    }
}

/// Read a manifest, choosing the reader by the file's extension (or, without a known extension,
/// by its first bytes), within the bounds of the `KIRIM_XRAY_MAX_*` variables. The file is read
/// once; its sha256 is taken from the same bytes.
pub fn read(path: &Path, sheet: Option<&str>) -> Result<Manifest, ManifestError> {
    let limits = Limits::from_env().map_err(|message| ManifestError::Unreadable {
        path: path.to_path_buf(),
        message: format!("cannot be read with these bounds: {message}"),
    })?;
    read_with(path, sheet, &limits)
}

/// [`read`] within the given bounds.
pub fn read_with(
    path: &Path,
    sheet: Option<&str>,
    limits: &Limits,
) -> Result<Manifest, ManifestError> {
    let unreadable = |message: String| ManifestError::Unreadable {
        path: path.to_path_buf(),
        message,
    };
    let bytes = read_file(path, limits).map_err(unreadable)?;
    let reader = reader_for(path, &bytes);
    // The first walk finds every problem of the file and counts its rows; the rows themselves
    // are parsed again when they are needed.
    let row_count = parse_each(&bytes, reader, sheet, limits, &mut |_| {}).map_err(unreadable)?;
    Ok(Manifest {
        path: path.to_path_buf(),
        sha256: hex::encode(Sha256::digest(&bytes)),
        kind: kind_of(reader),
        row_count,
        source: Source::File {
            bytes,
            reader,
            sheet: sheet.map(str::to_string),
            limits: *limits,
        },
    })
}

/// The rows of a manifest held in memory, `path` naming it (its extension chooses the reader),
/// all at once: for small inputs (the fuzz targets). The error is the message that follows the
/// file's name.
pub fn parse_bytes(
    path: &Path,
    bytes: &[u8],
    sheet: Option<&str>,
    limits: &Limits,
) -> Result<(ManifestKind, Vec<RawRow>), String> {
    let reader = reader_for(path, bytes);
    let mut rows = Vec::new();
    parse_each(bytes, reader, sheet, limits, &mut |r| rows.push(r))?;
    Ok((kind_of(reader), rows))
}

/// Parse a manifest file's bytes, giving each data row to `each`; returns how many there were.
fn parse_each(
    bytes: &[u8],
    reader: Reader,
    sheet: Option<&str>,
    limits: &Limits,
    each: &mut dyn FnMut(RawRow),
) -> Result<usize, String> {
    match reader {
        Reader::Csv => csv::parse_each(bytes, limits, each),
        Reader::Sheet(format) => sheet::parse_each(bytes, format, sheet, limits, each),
    }
}

fn kind_of(reader: Reader) -> ManifestKind {
    match reader {
        Reader::Csv => ManifestKind::Csv,
        Reader::Sheet(_) => ManifestKind::Spreadsheet,
    }
}

/// The whole file, if it is a regular file within the size bound. A FIFO would block the read
/// forever and a device such as /dev/zero never ends, so the kind is checked before opening, and
/// again on the open file (the path may have changed in between).
fn read_file(path: &Path, limits: &Limits) -> Result<Vec<u8>, String> {
    let check = |meta: &std::fs::Metadata| -> Result<(), String> {
        if !meta.is_file() {
            return Err(format!(
                "is {}, not a regular file; a manifest must be a regular file",
                file_kind(meta)
            ));
        }
        if meta.len() > limits.max_file_bytes {
            return Err(too_big(meta.len(), limits));
        }
        Ok(())
    };
    let meta = std::fs::metadata(path).map_err(|err| format!("cannot be read: {err}"))?;
    check(&meta)?;
    let file = std::fs::File::open(path).map_err(|err| format!("cannot be read: {err}"))?;
    let meta = file
        .metadata()
        .map_err(|err| format!("cannot be read: {err}"))?;
    check(&meta)?;
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(limits.max_file_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|err| format!("cannot be read: {err}"))?;
    if bytes.len() as u64 > limits.max_file_bytes {
        return Err(too_big(bytes.len() as u64, limits));
    }
    Ok(bytes)
}

fn too_big(len: u64, limits: &Limits) -> String {
    format!(
        "is {len} bytes, over the bound of {} bytes for a manifest ({})",
        limits.max_file_bytes,
        limits::VARIABLES[0]
    )
}

#[cfg(unix)]
fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let kind = meta.file_type();
    if kind.is_dir() {
        "a folder"
    } else if kind.is_fifo() {
        "a named pipe (FIFO)"
    } else if kind.is_char_device() {
        "a character device (such as /dev/zero)"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a file"
    }
}

#[cfg(not(unix))]
fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    if meta.is_dir() {
        "a folder"
    } else {
        "not a file"
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reader {
    Csv,
    Sheet(sheet::Format),
}

fn reader_for(path: &Path, bytes: &[u8]) -> Reader {
    let extension = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    match extension.as_deref() {
        Some("xlsx" | "xlsm" | "xltx" | "xltm" | "xlam") => Reader::Sheet(sheet::Format::Xlsx),
        Some("xlsb") => Reader::Sheet(sheet::Format::Xlsb),
        Some("xls" | "xla") => Reader::Sheet(sheet::Format::Xls),
        Some("ods") => Reader::Sheet(sheet::Format::Ods),
        Some("csv" | "tsv" | "txt") => Reader::Csv,
        // No telling extension: a zip is an Office Open XML or OpenDocument workbook, an OLE
        // compound file is an old .xls; anything else is read as text.
        _ if bytes.starts_with(b"PK\x03\x04") => {
            if bytes
                .windows(39)
                .take(200)
                .any(|w| w == b"application/vnd.oasis.opendocument.spre")
            {
                Reader::Sheet(sheet::Format::Ods)
            } else {
                Reader::Sheet(sheet::Format::Xlsx)
            }
        }
        _ if bytes.starts_with(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1") => {
            Reader::Sheet(sheet::Format::Xls)
        }
        _ => Reader::Csv,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reader_follows_the_extension_then_the_content() {
        assert_eq!(
            reader_for(Path::new("m.XLSX"), b""),
            Reader::Sheet(sheet::Format::Xlsx)
        );
        assert_eq!(
            reader_for(Path::new("m.xlsm"), b""),
            Reader::Sheet(sheet::Format::Xlsx)
        );
        assert_eq!(
            reader_for(Path::new("m.xls"), b""),
            Reader::Sheet(sheet::Format::Xls)
        );
        assert_eq!(
            reader_for(Path::new("m.ods"), b""),
            Reader::Sheet(sheet::Format::Ods)
        );
        assert_eq!(reader_for(Path::new("m.csv"), b"PK\x03\x04"), Reader::Csv);
        assert_eq!(
            reader_for(Path::new("manifest"), b"PK\x03\x04"),
            Reader::Sheet(sheet::Format::Xlsx)
        );
        assert_eq!(reader_for(Path::new("manifest"), b"nomorAju,"), Reader::Csv);
    }

    #[test]
    fn errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.csv");
        let err = read(&missing, None).unwrap_err().to_string();
        assert!(err.starts_with(&missing.display().to_string()), "{err}");
        assert!(err.contains("cannot be read"), "{err}");

        let broken = dir.path().join("broken.xlsx");
        std::fs::write(&broken, b"nomorAju,nomorBlAwb\n").unwrap();
        let err = read(&broken, None).unwrap_err().to_string();
        assert!(
            err.contains("broken.xlsx: is named like an Excel workbook (.xlsx) but is text"),
            "{err}"
        );
    }

    /// Every walk of the rows parses the file again within the bounds it was read with: a cell
    /// over the length bound arrives cut in every walk, and the row bound holds on the first.
    #[test]
    fn the_rows_are_walked_again_within_the_bounds_of_the_first_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.csv");
        std::fs::write(
            &path,
            "nomorAju,nomorBlAwb,tanggalBlAwb,kodeKantor,folder\n\
             AJU-LONGER-THAN-TEN,B,2026-11-17,009000,f\n\n\
             AJU2,B2,2026-11-17,009000,f\n",
        )
        .unwrap();
        let limits = Limits {
            max_cell_chars: 10,
            max_rows: 2,
            ..Limits::default()
        };
        let manifest = read_with(&path, None, &limits).unwrap();
        assert_eq!(manifest.row_count, 2);
        assert_eq!(manifest.row_numbers().unwrap(), [2, 4]);
        for _ in 0..2 {
            let rows = manifest.rows().unwrap();
            assert!(
                matches!(
                    rows[0].cell(Column::NomorAju),
                    Cell::TooLong { chars: 19, .. }
                ),
                "{:?}",
                rows[0]
            );
            assert_eq!(rows[1].cell(Column::NomorAju), &Cell::Text("AJU2".into()));
        }
        let fewer = Limits {
            max_rows: 1,
            ..limits
        };
        let err = read_with(&path, None, &fewer).unwrap_err().to_string();
        assert!(err.contains("more than 1 data rows"), "{err}");
    }

    #[test]
    fn the_digest_is_of_the_file_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.csv");
        let text = "nomorAju,nomorBlAwb,tanggalBlAwb,kodeKantor,folder\nA,B,2026-11-17,009000,f\n";
        std::fs::write(&path, text).unwrap();
        let manifest = read(&path, None).unwrap();
        assert_eq!(
            manifest.sha256,
            hex::encode(Sha256::digest(text.as_bytes()))
        );
        assert_eq!(manifest.kind, ManifestKind::Csv);
        assert_eq!(manifest.row_count, 1);
        assert_eq!(manifest.rows().unwrap().len(), 1);
        assert_eq!(manifest.display_name(), "m.csv");
    }
}
