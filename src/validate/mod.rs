//! Raw manifest rows → shipments with their images, or per-row problems (DESIGN "Manifest").
//! An invalid row never stops the valid ones. The cell rules are in `cells.rs`, the folder and
//! photo rules in `images.rs`, the human output in `render.rs`.

mod cells;
mod images;
mod render;
mod root;

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use rayon::prelude::*;
use serde::Serialize;

use crate::manifest::{Column, Manifest, RawRow};
use crate::model::{DocMeta, LocalImage, RowFields, Shipment, short_digest};

pub use cells::display as cell_text;
pub use images::sniff;
pub use render::{
    ProblemTable, describe_problem, format_problem, human_bytes, render_problems_table,
    render_totals,
};

/// Default of `--max-image-bytes`: 10 MiB.
pub const DEFAULT_MAX_IMAGE_BYTES: u64 = 10 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One finding about one row (or about a photo of it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub row: usize,
    /// Column name as in `Column::name`, when the problem is about one cell.
    pub column: Option<&'static str>,
    /// The offending value (or photo file name) as the user would recognise it.
    pub value: String,
    pub message: String,
    pub severity: Severity,
}

/// A manifest row after validation. Valid exactly when `shipment` is `Some` (no error problems).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedRow {
    pub row: usize,
    pub fields: RowFields,
    /// Errors and warnings, in column order.
    pub problems: Vec<Problem>,
    pub shipment: Option<Shipment>,
}

impl CheckedRow {
    pub fn is_valid(&self) -> bool {
        self.shipment.is_some()
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Problem> {
        self.problems
            .iter()
            .filter(|p| p.severity == Severity::Warning)
    }
}

#[derive(Debug, Clone)]
pub struct ValidateOptions {
    /// Folder that relative `folder` cells start from: `--images-root` or the manifest's folder.
    pub images_root: PathBuf,
    pub max_image_bytes: u64,
    /// Dates after `today + 1 day` are refused.
    pub today: NaiveDate,
    /// `--allow-outside-root`: folders and photo links may resolve outside `images_root`.
    pub allow_outside_root: bool,
}

impl ValidateOptions {
    /// The defaults for a manifest: images relative to its folder, 10 MiB per image, today's
    /// local date.
    pub fn new(
        manifest_path: &Path,
        images_root: Option<&Path>,
        max_image_bytes: Option<u64>,
    ) -> ValidateOptions {
        let images_root = match images_root {
            Some(root) => root.to_path_buf(),
            None => match manifest_path.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
                _ => PathBuf::from("."),
            },
        };
        ValidateOptions {
            images_root,
            max_image_bytes: max_image_bytes.unwrap_or(DEFAULT_MAX_IMAGE_BYTES),
            today: chrono::Local::now().date_naive(),
            allow_outside_root: false,
        }
    }
}

/// Validate every row of the manifest, in manifest order, into a list: for manifests small
/// enough to hold (tests, samples). A run walks the rows with [`validate_each`].
pub fn validate(manifest: &Manifest, options: &ValidateOptions) -> Vec<CheckedRow> {
    let mut rows = Vec::with_capacity(manifest.row_count);
    // A manifest that was read once parses the same way again; a walk that fails anyway gives
    // the rows it had.
    let _ = validate_each(manifest, options, &|_| true, &mut |r| rows.push(r));
    rows
}

/// Rows whose folders are scanned and photos hashed together, on every core. Only these rows
/// (and their photos' names) are held at a time.
const BATCH: usize = 256;

/// Validate the rows of the manifest for which `keep` holds, giving each to `each` in manifest
/// order as soon as it is checked. Every row's cells are checked, in order, so that a repeated
/// nomorAju can point at its first row even when that row is not kept (`--rows`, `retry`,
/// `--resume`): a row that repeats an earlier row's must stay INVALID, or its photos would be
/// added to the earlier row's CN document. Only kept rows have their folders scanned and photos
/// hashed, a batch at a time in parallel (the I/O-heavy part). What stays in memory for the whole
/// walk is a 16-byte digest of each nomorAju and its row number, for the duplicates.
pub fn validate_each(
    manifest: &Manifest,
    options: &ValidateOptions,
    keep: &dyn Fn(usize) -> bool,
    each: &mut dyn FnMut(CheckedRow),
) -> Result<(), crate::manifest::ManifestError> {
    let mut first_row: HashMap<[u8; 16], usize> = HashMap::new();
    let boundary = root::Boundary::new(&options.images_root, options.allow_outside_root);
    let mut batch: Vec<(RawRow, [cells::CellCheck; 5])> = Vec::with_capacity(BATCH);
    let finish_batch = |batch: &mut Vec<(RawRow, [cells::CellCheck; 5])>,
                        each: &mut dyn FnMut(CheckedRow)| {
        let done: Vec<CheckedRow> = batch
            .par_drain(..)
            .map(|(raw, row_cells)| finish_row(&raw, row_cells, options, &boundary))
            .collect();
        done.into_iter().for_each(each);
    };
    manifest.for_each_row(&mut |raw| {
        let mut row_cells =
            Column::ALL.map(|c| cells::check(c, raw.cell(c), raw.row, options.today));
        let aju = &mut row_cells[Column::NomorAju as usize];
        if let Some(value) = aju.value.clone() {
            match first_row.entry(short_digest(&value)) {
                Entry::Occupied(first) => {
                    aju.problems.push(Problem {
                        row: raw.row,
                        column: Some(Column::NomorAju.name()),
                        value,
                        message: format!("is a duplicate of row {}", first.get()),
                        severity: Severity::Error,
                    });
                    aju.value = None;
                }
                Entry::Vacant(slot) => {
                    slot.insert(raw.row);
                }
            }
        }
        if keep(raw.row) {
            batch.push((raw, row_cells));
            if batch.len() == BATCH {
                finish_batch(&mut batch, &mut *each);
            }
        }
    })?;
    finish_batch(&mut batch, each);
    Ok(())
}

/// Scan the row's folder (when it stays inside the images root) and, when nothing is wrong so
/// far, hash its photos.
fn finish_row(
    raw: &RawRow,
    row_cells: [cells::CellCheck; 5],
    options: &ValidateOptions,
    boundary: &root::Boundary,
) -> CheckedRow {
    let [aju, bl_awb, tanggal, kantor, folder] = row_cells;
    let fields = RowFields {
        nomor_aju: aju.text,
        nomor_bl_awb: bl_awb.text,
        tanggal_bl_awb: tanggal.text,
        kode_kantor: kantor.text,
        folder: folder.text,
    };
    let mut problems: Vec<Problem> = [
        aju.problems,
        bl_awb.problems,
        tanggal.problems,
        kantor.problems,
        folder.problems,
    ]
    .into_iter()
    .flatten()
    .collect();
    let scan = folder
        .value
        .as_ref()
        .map(|folder_cell| scan_folder(raw.row, folder_cell, options, boundary));
    let mut photos = Vec::new();
    if let Some(scan) = scan {
        problems.extend(scan.problems);
        photos = scan.photos;
    }

    let has_error = |problems: &[Problem]| problems.iter().any(|p| p.severity == Severity::Error);
    let mut shipment = None;
    if let (
        false,
        Some(nomor_aju),
        Some(nomor_bl_awb),
        Some(tanggal_bl_awb),
        Some(kode_kantor),
        Some(folder),
    ) = (
        has_error(&problems) || photos.is_empty(),
        aju.value,
        bl_awb.value,
        tanggal.value,
        kantor.value,
        folder.value,
    ) {
        let images = hash_photos(raw.row, &photos, &mut problems);
        if !has_error(&problems) {
            shipment = Some(Shipment {
                row: raw.row,
                meta: DocMeta {
                    nomor_aju,
                    nomor_bl_awb,
                    tanggal_bl_awb,
                    kode_kantor,
                },
                folder,
                images,
            });
        }
    }
    CheckedRow {
        row: raw.row,
        fields,
        problems,
        shipment,
    }
}

/// The row's folder, when it stays inside the images root (and its photos do too).
fn scan_folder(
    row: usize,
    folder_cell: &str,
    options: &ValidateOptions,
    boundary: &root::Boundary,
) -> images::Scan {
    let dir = options.images_root.join(folder_cell);
    if let Some(outside) = boundary.check_folder(row, folder_cell, &dir) {
        return images::Scan {
            photos: Vec::new(),
            problems: vec![outside],
        };
    }
    let mut scan = images::scan(row, folder_cell, &dir, options.max_image_bytes);
    boundary.check_photos(row, &mut scan);
    scan
}

/// Hash the row's photos; one that cannot be read is a problem of the row.
fn hash_photos(
    row: usize,
    photos: &[images::Found],
    problems: &mut Vec<Problem>,
) -> Vec<LocalImage> {
    let mut images = Vec::with_capacity(photos.len());
    for found in photos {
        match images::hash(found) {
            Ok(image) => images.push(image),
            Err(err) => problems.push(Problem {
                row,
                column: None,
                value: found.name.clone(),
                message: format!("cannot be read: {err}"),
                severity: Severity::Error,
            }),
        }
    }
    images
}

/// Counts over validated rows, for the totals line and JSON.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub rows: usize,
    pub valid: usize,
    pub invalid: usize,
    pub errors: usize,
    pub warnings: usize,
    /// Photos of the valid rows.
    pub photos: usize,
    /// Bytes of those photos.
    pub bytes: u64,
}

impl Totals {
    pub fn of(rows: &[CheckedRow]) -> Totals {
        let mut totals = Totals::default();
        rows.iter().for_each(|row| totals.add(row));
        totals
    }

    /// Count one more row.
    pub fn add(&mut self, row: &CheckedRow) {
        self.rows += 1;
        for p in &row.problems {
            match p.severity {
                Severity::Error => self.errors += 1,
                Severity::Warning => self.warnings += 1,
            }
        }
        match &row.shipment {
            Some(shipment) => {
                self.valid += 1;
                self.photos += shipment.images.len();
                self.bytes += shipment.images.iter().map(|i| i.bytes).sum::<u64>();
            }
            None => self.invalid += 1,
        }
    }
}

#[cfg(test)]
mod tests;
