//! Tests of the XLS scan.

use super::*;

fn record(typ: u16, data: &[u8]) -> Vec<u8> {
    let mut out = typ.to_le_bytes().to_vec();
    out.extend_from_slice(&(data.len() as u16).to_le_bytes());
    out.extend_from_slice(data);
    out
}

fn cell(typ: u16, row: u16, col: u16) -> Vec<u8> {
    let mut data = row.to_le_bytes().to_vec();
    data.extend_from_slice(&col.to_le_bytes());
    data.extend_from_slice(&[0; 8]);
    record(typ, &data)
}

fn dimensions(first_row: u32, last_row: u32, first_col: u16, last_col: u16) -> Vec<u8> {
    let mut data = first_row.to_le_bytes().to_vec();
    data.extend_from_slice(&last_row.to_le_bytes());
    data.extend_from_slice(&first_col.to_le_bytes());
    data.extend_from_slice(&last_col.to_le_bytes());
    data.extend_from_slice(&[0, 0]);
    record(0x0200, &data)
}

#[test]
fn a_sheet_costs_its_reserved_and_spanned_cells() {
    let bof = record(0x0809, &[0, 6, 0x10, 0]);
    let eof = record(0x000A, &[]);
    let small = [
        bof.clone(),
        dimensions(0, 2, 0, 5),
        cell(0x0203, 0, 0),
        cell(0x0203, 1, 4),
        eof.clone(),
    ]
    .concat();
    // 2x5 reserved, 2 listed, 2x5 spanned.
    assert_eq!(sheet_cost(&small, &[]).cells, 10 + 2 + 10);
    let far = [
        bof.clone(),
        cell(0x0203, 0, 0),
        cell(0x0203, 65535, 255),
        eof.clone(),
    ]
    .concat();
    assert_eq!(sheet_cost(&far, &[]).cells, 2 + 65536 * 256);
    let reversed = [bof, dimensions(10, 2, 0, 5), eof].concat();
    assert_eq!(sheet_cost(&reversed, &[]).cells, u64::MAX);
}

#[test]
fn shared_strings_are_measured_across_continue_records() {
    // "abc" (8-bit), then 5 wide characters split over a CONTINUE that restarts 8-bit, then
    // a rich string with 1 run.
    let first: Vec<u8> = [&[3, 0, 0][..], b"abc", &[5, 0, 1], &[b'x', 0, b'y', 0]].concat();
    let second: Vec<u8> = [
        &[0u8][..],
        b"zuv",
        &[2, 0, 0x08, 1, 0],
        b"hi",
        &[0, 0, 0, 0],
    ]
    .concat();
    assert_eq!(string_lengths(&[&first, &second]), vec![9, 15, 6]);
}

#[test]
fn a_shared_string_counts_once_per_cell_that_points_at_it() {
    let bof = record(0x0809, &[0, 6, 0x10, 0]);
    let eof = record(0x000A, &[]);
    let label = |row: u16| {
        let mut data = row.to_le_bytes().to_vec();
        data.extend_from_slice(&[0, 0, 0, 0]);
        data.extend_from_slice(&0u32.to_le_bytes());
        record(0x00FD, &data)
    };
    let sheet = [bof, label(0), label(1), label(2), eof].concat();
    assert_eq!(sheet_cost(&sheet, &[196_605]).text, 3 * 196_605);
}

#[test]
fn files_that_are_not_xls_are_named() {
    let limits = Limits::default();
    let err = check(b"PK\x03\x04rest", &limits).unwrap_err();
    assert!(err.contains("is a zip"), "{err}");
    let err = check(b"nomorAju;awb\n", &limits).unwrap_err();
    assert!(err.contains("is text (CSV?)"), "{err}");
}
