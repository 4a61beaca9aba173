//! Whole-row validation: column order, duplicates, shipments, and CSV/XLSX parity.

use super::*;
use crate::manifest::{self, Cell, ManifestKind};
use proptest::prelude::*;

const PNG: &[u8] = &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13];
const AJU: &str = "012345678901234500000020251117CNTESTXRAY1CN1";

fn options(root: &Path) -> ValidateOptions {
    ValidateOptions {
        images_root: root.to_path_buf(),
        max_image_bytes: 1000,
        today: NaiveDate::from_ymd_opt(2026, 11, 28).unwrap(),
        allow_outside_root: false,
    }
}

fn text(s: &str) -> Cell {
    if s.is_empty() {
        Cell::Empty
    } else {
        Cell::Text(s.into())
    }
}

fn row(row: usize, cells: [&str; 5]) -> RawRow {
    RawRow {
        row,
        cells: cells.map(text),
    }
}

fn manifest(rows: Vec<RawRow>) -> Manifest {
    Manifest::from_rows(
        PathBuf::from("m.csv"),
        String::new(),
        ManifestKind::Csv,
        rows,
    )
}

fn folder_with_photo(root: &Path, name: &str) {
    std::fs::create_dir_all(root.join(name)).unwrap();
    std::fs::write(root.join(name).join("1.png"), PNG).unwrap();
}

#[test]
fn a_valid_row_becomes_a_shipment_with_hashed_photos() {
    let dir = tempfile::tempdir().unwrap();
    folder_with_photo(dir.path(), "a");
    let m = manifest(vec![row(
        2,
        [AJU, "CNTESTXRAY1", "2026-11-17", "009000", "a"],
    )]);
    let rows = validate(&m, &options(dir.path()));
    assert_eq!(rows.len(), 1);
    assert!(rows[0].problems.is_empty(), "{:?}", rows[0].problems);
    let shipment = rows[0].shipment.as_ref().unwrap();
    assert_eq!(shipment.row, 2);
    assert_eq!(shipment.meta.nomor_aju, AJU);
    assert_eq!(shipment.meta.kode_kantor, "009000");
    assert_eq!(shipment.folder, "a");
    assert_eq!(shipment.images.len(), 1);
    assert_eq!(shipment.images[0].content_type, "image/png");
    assert_eq!(shipment.images[0].bytes, PNG.len() as u64);
    assert_eq!(shipment.images[0].path, dir.path().join("a").join("1.png"));
    assert_eq!(rows[0].fields.tanggal_bl_awb, "2026-11-17");
}

#[test]
fn problems_come_in_column_order_then_photos_and_fields_stay_filled() {
    let dir = tempfile::tempdir().unwrap();
    folder_with_photo(dir.path(), "a");
    std::fs::write(dir.path().join("a").join("x.jpg"), b"text").unwrap();
    let m = manifest(vec![row(5, ["", "CN 1", "17/11/2026", "9000", "a"])]);
    let rows = validate(&m, &options(dir.path()));
    let order: Vec<(Option<&str>, &str)> = rows[0]
        .problems
        .iter()
        .map(|p| (p.column, p.value.as_str()))
        .collect();
    assert_eq!(
        order,
        vec![
            (Some("nomorAju"), ""),
            (Some("nomorBlAwb"), "CN 1"),
            (Some("tanggalBlAwb"), "17/11/2026"),
            (Some("kodeKantor"), "9000"),
            (None, "x.jpg"),
        ]
    );
    assert!(rows[0].shipment.is_none());
    assert_eq!(rows[0].fields.nomor_bl_awb, "CN 1");
    assert_eq!(rows[0].fields.tanggal_bl_awb, "17/11/2026");
    assert_eq!(rows[0].fields.folder, "a");
}

#[test]
fn a_repeated_nomor_aju_makes_the_later_row_invalid() {
    let dir = tempfile::tempdir().unwrap();
    folder_with_photo(dir.path(), "a");
    folder_with_photo(dir.path(), "b");
    let m = manifest(vec![
        row(2, [AJU, "CN1", "2026-11-17", "009000", "a"]),
        row(3, ["OTHER", "CN2", "2026-11-17", "009000", "b"]),
        row(4, [AJU, "CN3", "2026-11-17", "009000", "b"]),
    ]);
    let rows = validate(&m, &options(dir.path()));
    assert!(rows[0].is_valid() && rows[1].is_valid());
    assert!(!rows[2].is_valid());
    assert_eq!(rows[2].problems.len(), 1);
    assert_eq!(rows[2].problems[0].message, "is a duplicate of row 2");
    assert_eq!(rows[2].problems[0].column, Some("nomorAju"));
    assert_eq!(rows[2].problems[0].value, AJU);
}

#[test]
fn warnings_do_not_make_a_row_invalid() {
    let dir = tempfile::tempdir().unwrap();
    folder_with_photo(dir.path(), "a");
    let mut raw = row(2, [AJU, "CN1", "2026-11-17", "", "a"]);
    raw.cells[3] = Cell::Number(40300.0);
    let rows = validate(&manifest(vec![raw]), &options(dir.path()));
    assert!(rows[0].is_valid());
    assert_eq!(rows[0].warnings().count(), 1);
    assert_eq!(
        rows[0].shipment.as_ref().unwrap().meta.kode_kantor,
        "040300"
    );
    assert_eq!(rows[0].fields.kode_kantor, "040300");
    let totals = Totals::of(&rows);
    assert_eq!(
        (totals.valid, totals.invalid, totals.warnings, totals.photos),
        (1, 0, 1, 1)
    );
}

#[test]
fn a_folder_problem_and_many_rows_keep_manifest_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut raws = Vec::new();
    for i in 0..40 {
        let folder = format!("f{i}");
        if i % 3 != 0 {
            folder_with_photo(dir.path(), &folder);
        }
        raws.push(row(
            i + 2,
            [&format!("AJU{i}"), "CN", "2026-11-17", "009000", &folder],
        ));
    }
    let rows = validate(&manifest(raws), &options(dir.path()));
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r.row, i + 2);
        assert_eq!(r.is_valid(), i % 3 != 0, "row {}", r.row);
        if i % 3 == 0 {
            assert!(r.problems[0].message.starts_with("does not exist"));
        }
    }
}

#[test]
fn the_default_images_root_is_the_manifest_folder() {
    let o = ValidateOptions::new(Path::new("/data/m.csv"), None, None);
    assert_eq!(o.images_root, PathBuf::from("/data"));
    assert_eq!(o.max_image_bytes, DEFAULT_MAX_IMAGE_BYTES);
    let o = ValidateOptions::new(Path::new("m.csv"), None, Some(5));
    assert_eq!(o.images_root, PathBuf::from("."));
    assert_eq!(o.max_image_bytes, 5);
    let o = ValidateOptions::new(Path::new("/data/m.csv"), Some(Path::new("/img")), None);
    assert_eq!(o.images_root, PathBuf::from("/img"));
}

/// The same rows as CSV text and as an XLSX with typed cells (dates as date cells, kodeKantor and
/// a BL/AWB as numbers) validate to the same shipments.
#[test]
fn csv_and_xlsx_give_identical_validated_rows() {
    use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
    let dir = tempfile::tempdir().unwrap();
    folder_with_photo(dir.path(), "a");
    folder_with_photo(dir.path(), "b");
    let csv = format!(
        "nomorAju;nomorBlAwb;tanggalBlAwb;kodeKantor;folder\n\
         {AJU};CNTESTXRAY1;2026-11-17;009000;a\n\
         AJU2;1234567;2026-02-01;040300;b\n"
    );
    std::fs::write(dir.path().join("m.csv"), csv).unwrap();

    let mut workbook = Workbook::new();
    let ws = workbook.add_worksheet();
    for (i, h) in [
        "nomorAju",
        "nomorBlAwb",
        "tanggalBlAwb",
        "kodeKantor",
        "folder",
    ]
    .iter()
    .enumerate()
    {
        ws.write_string(0, i as u16, *h).unwrap();
    }
    let date = Format::new().set_num_format("dd/mm/yyyy");
    ws.write_string(1, 0, AJU).unwrap();
    ws.write_string(1, 1, "CNTESTXRAY1").unwrap();
    ws.write_datetime_with_format(1, 2, ExcelDateTime::from_ymd(2026, 11, 17).unwrap(), &date)
        .unwrap();
    ws.write_number(1, 3, 9000.0).unwrap();
    ws.write_string(1, 4, "a").unwrap();
    ws.write_string(2, 0, "AJU2").unwrap();
    ws.write_number(2, 1, 1234567.0).unwrap();
    ws.write_datetime_with_format(2, 2, ExcelDateTime::from_ymd(2026, 2, 1).unwrap(), &date)
        .unwrap();
    ws.write_number(2, 3, 40300.0).unwrap();
    ws.write_string(2, 4, "b").unwrap();
    workbook.save(dir.path().join("m.xlsx")).unwrap();

    let from_csv = validate(
        &manifest::read(&dir.path().join("m.csv"), None).unwrap(),
        &options(dir.path()),
    );
    let from_xlsx = validate(
        &manifest::read(&dir.path().join("m.xlsx"), None).unwrap(),
        &options(dir.path()),
    );
    let shipments = |rows: &[CheckedRow]| -> Vec<Shipment> {
        rows.iter().map(|r| r.shipment.clone().unwrap()).collect()
    };
    let fields =
        |rows: &[CheckedRow]| -> Vec<RowFields> { rows.iter().map(|r| r.fields.clone()).collect() };
    assert_eq!(shipments(&from_csv), shipments(&from_xlsx));
    assert_eq!(fields(&from_csv), fields(&from_xlsx));
    assert_eq!(Totals::of(&from_csv).warnings, 0);
    // Both kodeKantor numbers lost zeros; the BL/AWB number is exact.
    assert_eq!(Totals::of(&from_xlsx).warnings, 3);
}

fn valid_row() -> impl Strategy<Value = (String, String, NaiveDate, String, String)> {
    (
        "[0-9A-Z]{1,44}",
        "[0-9A-Za-z][0-9A-Za-z/.-]{0,19}",
        (0u64..2400).prop_map(|days| {
            NaiveDate::from_ymd_opt(2020, 1, 1).unwrap() + chrono::Days::new(days)
        }),
        "[0-9]{6}",
        // Inner spaces, commas, semicolons and apostrophes are kept; surrounding ones would be
        // trimmed. (A double quote in a folder cell is refused.)
        "[a-z0-9_]([a-z0-9_ ,;'-]{0,12}[a-z0-9_])?",
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Valid rows written to CSV, in any dialect, read back and validate to the very same values.
    #[test]
    fn valid_rows_survive_a_csv_round_trip(
        rows in proptest::collection::vec(valid_row(), 1..8),
        delimiter in prop::sample::select(vec![b',', b';', b'\t']),
        bom in any::<bool>(),
        crlf in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = csv::WriterBuilder::new()
            .delimiter(delimiter)
            .terminator(if crlf { csv::Terminator::CRLF } else { csv::Terminator::Any(b'\n') })
            .from_writer(Vec::new());
        writer.write_record(["nomorAju", "nomorBlAwb", "tanggalBlAwb", "kodeKantor", "folder"]).unwrap();
        let mut expected = Vec::new();
        for (i, (aju, bl, date, kantor, folder)) in rows.iter().enumerate() {
            // nomorAju must be unique within a manifest.
            let aju = format!("{aju}{i}");
            let date = date.format("%Y-%m-%d").to_string();
            writer.write_record([&aju, bl, &date, kantor, folder]).unwrap();
            folder_with_photo(dir.path(), folder);
            expected.push((aju, bl.clone(), date, kantor.clone(), folder.clone()));
        }
        let mut bytes = if bom { b"\xEF\xBB\xBF".to_vec() } else { Vec::new() };
        bytes.extend(writer.into_inner().unwrap());
        let path = dir.path().join("m.csv");
        std::fs::write(&path, bytes).unwrap();

        let checked = validate(&manifest::read(&path, None).unwrap(), &options(dir.path()));
        prop_assert_eq!(checked.len(), expected.len());
        for (i, (row, (aju, bl, date, kantor, folder))) in checked.iter().zip(&expected).enumerate() {
            prop_assert_eq!(row.row, i + 2);
            prop_assert!(row.problems.is_empty(), "{:?}", row.problems);
            let shipment = row.shipment.as_ref().unwrap();
            prop_assert_eq!(&shipment.meta.nomor_aju, aju);
            prop_assert_eq!(&shipment.meta.nomor_bl_awb, bl);
            prop_assert_eq!(&shipment.meta.tanggal_bl_awb, date);
            prop_assert_eq!(&shipment.meta.kode_kantor, kantor);
            prop_assert_eq!(&shipment.folder, folder);
        }
    }
}

/// Rows are checked a batch at a time, but a repeated nomorAju is found across batches: the
/// digests of every earlier nomorAju are kept, not the rows.
#[test]
fn a_duplicate_is_found_however_far_apart_the_rows_are() {
    let dir = tempfile::tempdir().unwrap();
    let rows: Vec<RawRow> = (2..=(2 + 3 * BATCH))
        .map(|n| {
            let aju = if n == 2 + 2 * BATCH {
                "AJU2".to_string()
            } else {
                format!("AJU{n}")
            };
            row(n, [&aju, "CNTESTXRAY1", "2026-11-17", "009000", ""])
        })
        .collect();
    let mut seen = Vec::new();
    validate_each(
        &manifest(rows),
        &options(dir.path()),
        &|n| n != 3,
        &mut |r| seen.push(r),
    )
    .unwrap();
    assert_eq!(seen.len(), 3 * BATCH, "every kept row, once");
    assert!(
        seen.windows(2).all(|w| w[0].row < w[1].row),
        "in manifest order"
    );
    let dup = seen.iter().find(|r| r.row == 2 + 2 * BATCH).unwrap();
    assert!(
        dup.problems
            .iter()
            .any(|p| p.message == "is a duplicate of row 2"),
        "{:?}",
        dup.problems
    );
    assert_eq!(
        seen.iter()
            .filter(|r| r.problems.iter().any(|p| p.message.contains("duplicate")))
            .count(),
        1
    );
}
