//! Fuzz targets: the CSV reader on any bytes (it must answer, briefly), and on well-formed tables
//! of awkward values written by another CSV writer (it must read back every value unchanged).

use std::path::Path;

use proptest::prelude::*;

use super::{fuzz, small_limits};
use crate::manifest::{Cell, parse_bytes};

const HEADER: &str = "nomorAju,nomorBlAwb,tanggalBlAwb,kodeKantor,folder";

/// Bytes that make CSV interesting: separators, quotes, line ends, controls, broken UTF-8.
fn csv_bytes() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        4 => prop::sample::select(b"aZ09-_./ ".to_vec()),
        3 => prop::sample::select(b",;\t\"\n\r".to_vec()),
        1 => prop::sample::select(vec![0u8, 0x1b, 0x7f, 0xff, 0xc3, 0xa9, 0xe2, 0x80, 0x8b, 0xfe]),
    ];
    (any::<bool>(), prop::collection::vec(byte, 0..300)).prop_map(|(header, body)| {
        let mut bytes = if header {
            format!("{HEADER}\n").into_bytes()
        } else {
            Vec::new()
        };
        bytes.extend(body);
        bytes
    })
}

#[test]
fn fuzz_csv_reader_on_any_bytes() {
    let limits = small_limits();
    fuzz("csv-bytes", 512, csv_bytes(), |bytes| {
        match parse_bytes(Path::new("m.csv"), &bytes, None, &limits) {
            Err(message) => prop_assert!(message.len() < 2000, "{} bytes", message.len()),
            Ok((_, rows)) => {
                prop_assert!(rows.len() <= limits.max_rows);
                prop_assert!(rows.windows(2).all(|w| w[0].row < w[1].row));
                for cell in rows.iter().flat_map(|r| &r.cells) {
                    if let Cell::Text(s) = cell {
                        prop_assert!(s.chars().count() <= limits.max_cell_chars);
                        prop_assert_eq!(s.trim(), s.as_str());
                        prop_assert!(!s.is_empty());
                    }
                }
            }
        }
        Ok(())
    });
}

/// A field: letters with separators, quotes, spaces and line breaks among them.
fn field() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            6 => prop::sample::select(vec!['a', 'B', '7', '-', 'é', '/']),
            2 => prop::sample::select(vec![',', ';', '\t', '"', ' ', '\'']),
            1 => prop::sample::select(vec!['\n', '\r']),
        ],
        0..8,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

#[test]
fn fuzz_csv_reader_reads_back_what_a_writer_wrote() {
    let limits = small_limits();
    let strategy = (
        prop::sample::select(vec![b',', b';', b'\t']),
        0usize..3,
        prop::collection::vec(prop::collection::vec(field(), 7), 1..8),
    );
    fuzz(
        "csv-round-trip",
        256,
        strategy,
        |(delimiter, extra, table)| {
            let columns = 5 + extra;
            let mut writer = ::csv::WriterBuilder::new()
                .delimiter(delimiter)
                .from_writer(Vec::new());
            let mut header: Vec<String> = HEADER.split(',').map(str::to_string).collect();
            header.extend((0..extra).map(|i| format!("extra{i}")));
            writer.write_record(&header).expect("header");
            for record in &table {
                // A line inside a value that holds as many separators as a record is taken for a
                // swallowed row: such values are left out.
                let swallowing = record[..columns].iter().any(|f| {
                    f.contains('\n')
                        && f.split('\n')
                            .any(|l| l.bytes().filter(|b| *b == delimiter).count() + 1 >= columns)
                });
                prop_assume!(!swallowing);
                writer.write_record(&record[..columns]).expect("record");
            }
            let bytes = writer.into_inner().expect("bytes");
            let (_, rows) =
                parse_bytes(Path::new("m.csv"), &bytes, None, &limits).map_err(|e| {
                    TestCaseError::fail(format!("{e}\n{}", String::from_utf8_lossy(&bytes)))
                })?;
            let expected: Vec<Vec<Cell>> = table
                .iter()
                .map(|record| {
                    record[..5]
                        .iter()
                        .map(|f| match f.trim() {
                            "" => Cell::Empty,
                            t => Cell::Text(t.to_string()),
                        })
                        .collect::<Vec<_>>()
                })
                .filter(|cells| cells.iter().any(|c| *c != Cell::Empty))
                .collect();
            let got: Vec<Vec<Cell>> = rows.iter().map(|r| r.cells.to_vec()).collect();
            prop_assert_eq!(got, expected);
            Ok(())
        },
    );
}
