//! Fuzz targets: the spreadsheet readers and the checks before them. Workbooks written by a real
//! writer must read back cell for cell, wherever their cells lie; hand-made sheet XML with any
//! cell references, types and repeat counts, and corpus workbooks with bytes changed, must be read
//! or refused without a panic escaping (an allocation beyond the bounds would abort the test).

use std::io::Write;
use std::path::Path;

use proptest::prelude::*;
use rust_xlsxwriter::Workbook;

use super::{fuzz, small_limits};
use crate::manifest::{Cell, parse_bytes};

const HEADER: [&str; 5] = [
    "nomorAju",
    "nomorBlAwb",
    "tanggalBlAwb",
    "kodeKantor",
    "folder",
];

#[derive(Debug, Clone)]
enum Value {
    Text(String),
    Number(f64),
    Bool(bool),
}

fn value() -> impl Strategy<Value = Option<Value>> {
    prop::option::of(prop_oneof![
        "[ a-zA-Z0-9<>&\"'=+@é-]{0,12}".prop_map(Value::Text),
        (-1e6f64..1e6).prop_map(Value::Number),
        any::<bool>().prop_map(Value::Bool),
    ])
}

#[test]
fn fuzz_xlsx_reads_back_what_a_writer_wrote() {
    let limits = small_limits();
    let strategy = (
        (0u32..4, 0u16..4),
        prop::collection::vec(prop::collection::vec(value(), 5), 0..6),
        prop::collection::vec((0u32..1_048_576, 6u16..16_384), 0..3),
    );
    fuzz(
        "xlsx-round-trip",
        48,
        strategy,
        |((top, left), rows, far)| {
            let mut workbook = Workbook::new();
            let sheet = workbook.add_worksheet();
            for (i, name) in HEADER.iter().enumerate() {
                sheet
                    .write_string(top, left + i as u16, *name)
                    .expect("header");
            }
            for (r, row) in rows.iter().enumerate() {
                for (c, v) in row.iter().enumerate() {
                    let (r, c) = (top + 1 + r as u32, left + c as u16);
                    match v {
                        Some(Value::Text(s)) => sheet.write_string(r, c, s).map(|_| ()),
                        Some(Value::Number(f)) => sheet.write_number(r, c, *f).map(|_| ()),
                        Some(Value::Bool(b)) => sheet.write_boolean(r, c, *b).map(|_| ()),
                        None => Ok(()),
                    }
                    .expect("cell");
                }
            }
            // Far cells in other columns, below the table: read past, never laid out.
            let below = top + 1 + rows.len() as u32;
            for (r, c) in &far {
                sheet
                    .write_number((*r).max(below), left + *c, 1.0)
                    .expect("far cell");
            }
            let bytes = workbook.save_to_buffer().expect("xlsx");
            let (_, got) = parse_bytes(Path::new("m.xlsx"), &bytes, None, &limits)
                .map_err(TestCaseError::fail)?;
            let expected: Vec<Vec<Cell>> = rows
                .iter()
                .map(|row| {
                    row.iter()
                        .map(|v| match v {
                            Some(Value::Text(s)) if !s.trim().is_empty() => {
                                Cell::Text(s.trim().to_string())
                            }
                            Some(Value::Number(f)) => Cell::Number(*f),
                            Some(Value::Bool(b)) => Cell::Bool(*b),
                            _ => Cell::Empty,
                        })
                        .collect::<Vec<_>>()
                })
                .filter(|cells| cells.iter().any(|c| *c != Cell::Empty))
                .collect();
            let got: Vec<Vec<Cell>> = got.iter().map(|r| r.cells.to_vec()).collect();
            prop_assert_eq!(got, expected);
            Ok(())
        },
    );
}

/// A zip of stored entries.
fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, data) in entries {
        writer.start_file(*name, options).expect("entry");
        writer.write_all(data).expect("data");
    }
    writer.finish().expect("zip").into_inner()
}

/// A cell reference: mostly plausible, sometimes beyond any sheet or not a reference at all.
fn reference() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => ("[A-E]", 1u64..20).prop_map(|(c, r)| format!("{c}{r}")),
        1 => ("[A-Z]{1,4}", any::<u64>()).prop_map(|(c, r)| format!("{c}{r}")),
        1 => "[A-Za-z0-9]{0,14}",
    ]
}

fn xlsx_cell() -> impl Strategy<Value = String> {
    (
        prop::option::of(reference()),
        prop::sample::select(vec![
            "",
            " t=\"s\"",
            " t=\"b\"",
            " t=\"str\"",
            " t=\"e\"",
            " t=\"n\"",
        ]),
        prop::option::of(0u64..3),
        "[0-9.E+-]{0,10}",
    )
        .prop_map(|(r, t, style, v)| {
            let r = r.map_or(String::new(), |r| format!(" r=\"{r}\""));
            let s = style.map_or(String::new(), |s| format!(" s=\"{s}\""));
            format!("<c{r}{t}{s}><v>{v}</v></c>")
        })
}

fn xlsx_xml() -> impl Strategy<Value = (String, String)> {
    let row = (
        prop::option::of(prop_oneof![
            (1u64..30).prop_map(|r| r.to_string()),
            "[0-9]{1,13}"
        ]),
        prop::collection::vec(xlsx_cell(), 0..6),
    )
        .prop_map(|(r, cells)| {
            let r = r.map_or(String::new(), |r| format!(" r=\"{r}\""));
            format!("<row{r}>{}</row>", cells.concat())
        });
    let header = (0..5)
        .map(|i| {
            format!(
                "<c r=\"{}1\" t=\"s\"><v>{i}</v></c>",
                (b'A' + i as u8) as char
            )
        })
        .collect::<String>();
    (
        prop::collection::vec(row, 0..8),
        prop_oneof![Just("5".to_string()), "[0-9]{1,12}"],
    )
        .prop_map(move |(rows, count)| {
            let sheet = format!(
                "<worksheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\"><sheetData><row r=\"1\">{header}</row>{}</sheetData></worksheet>",
                rows.concat()
            );
            let strings = HEADER.iter().map(|h| format!("<si><t>{h}</t></si>")).collect::<String>();
            let sst = format!(
                "<sst xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" count=\"{count}\" uniqueCount=\"{count}\">{strings}</sst>"
            );
            (sheet, sst)
        })
}

const WORKBOOK: &str = "<workbook xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\"><sheets><sheet name=\"S\" sheetId=\"1\" r:id=\"rId1\"/></sheets></workbook>";
const WORKBOOK_RELS: &str = "<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\"><Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet\" Target=\"worksheets/sheet1.xml\"/><Relationship Id=\"rId2\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings\" Target=\"sharedStrings.xml\"/></Relationships>";

#[test]
fn fuzz_xlsx_sheet_xml_of_any_shape() {
    let limits = small_limits();
    fuzz("xlsx-sheet-xml", 256, xlsx_xml(), |(sheet, sst)| {
        let bytes = zip(&[
            ("xl/workbook.xml", WORKBOOK.as_bytes()),
            ("xl/_rels/workbook.xml.rels", WORKBOOK_RELS.as_bytes()),
            ("xl/worksheets/sheet1.xml", sheet.as_bytes()),
            ("xl/sharedStrings.xml", sst.as_bytes()),
        ]);
        if let Err(message) = parse_bytes(Path::new("m.xlsx"), &bytes, None, &limits) {
            prop_assert!(message.len() < 2000, "{message}");
        }
        Ok(())
    });
}

fn ods_xml() -> impl Strategy<Value = String> {
    let repeat = prop_oneof![
        3 => Just(String::new()),
        2 => (1u64..50).prop_map(|n| n.to_string()),
        1 => any::<u64>().prop_map(|n| n.to_string()),
        1 => "[0-9a-z-]{0,6}",
    ];
    let cell = (repeat.clone(), any::<bool>(), "[a-z<>\"]{0,4}").prop_map(|(rep, filled, text)| {
        let rep = if rep.is_empty() {
            String::new()
        } else {
            format!(" table:number-columns-repeated=\"{rep}\"")
        };
        if filled {
            let text = text.replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
            format!("<table:table-cell{rep} office:value-type=\"string\"><text:p>{text}</text:p></table:table-cell>")
        } else {
            format!("<table:table-cell{rep}/>")
        }
    });
    let row = (repeat, prop::collection::vec(cell, 0..5)).prop_map(|(rep, cells)| {
        let rep = if rep.is_empty() {
            String::new()
        } else {
            format!(" table:number-rows-repeated=\"{rep}\"")
        };
        format!("<table:table-row{rep}>{}</table:table-row>", cells.concat())
    });
    prop::collection::vec(row, 0..8).prop_map(|rows| {
        let header = HEADER
            .iter()
            .map(|h| format!("<table:table-cell office:value-type=\"string\"><text:p>{h}</text:p></table:table-cell>"))
            .collect::<String>();
        format!(
            "<?xml version=\"1.0\"?><office:document-content xmlns:office=\"urn:oasis:names:tc:opendocument:xmlns:office:1.0\" xmlns:table=\"urn:oasis:names:tc:opendocument:xmlns:table:1.0\" xmlns:text=\"urn:oasis:names:tc:opendocument:xmlns:text:1.0\"><office:body><office:spreadsheet><table:table table:name=\"S\"><table:table-row>{header}</table:table-row>{}</table:table></office:spreadsheet></office:body></office:document-content>",
            rows.concat()
        )
    })
}

#[test]
fn fuzz_ods_content_of_any_shape() {
    let limits = small_limits();
    fuzz("ods-content", 256, ods_xml(), |content| {
        let bytes = zip(&[
            (
                "mimetype",
                b"application/vnd.oasis.opendocument.spreadsheet".as_slice(),
            ),
            ("content.xml", content.as_bytes()),
        ]);
        if let Err(message) = parse_bytes(Path::new("m.ods"), &bytes, None, &limits) {
            prop_assert!(message.len() < 2000, "{message}");
        }
        Ok(())
    });
}

/// Corpus workbooks that read (or are refused) in one piece, to be damaged byte by byte.
const DAMAGED: [&str; 7] = [
    "xlsx-boolean.xlsx",
    "xlsx-time-only.xlsx",
    "ods-blank-gap.ods",
    "xls-boolean.xls",
    "xls-far-cell.xls",
    "xls-huge-dimensions.xls",
    "xls-shared-string-amplified.xls",
];

#[test]
fn fuzz_damaged_workbooks() {
    let limits = small_limits();
    let files: Vec<(&str, Vec<u8>)> = DAMAGED
        .iter()
        .map(|name| {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/hostile")
                .join(name);
            (*name, std::fs::read(&path).expect("corpus file"))
        })
        .collect();
    let strategy = (
        0..files.len(),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..12),
        prop::option::of(any::<prop::sample::Index>()),
    );
    fuzz(
        "damaged-workbooks",
        256,
        strategy,
        |(file, changes, cut)| {
            let (name, original) = &files[file];
            let mut bytes = original.clone();
            for (at, byte) in changes {
                let i = at.index(bytes.len());
                bytes[i] = byte;
            }
            if let Some(cut) = cut {
                bytes.truncate(cut.index(bytes.len() + 1));
            }
            if let Err(message) = parse_bytes(Path::new(name), &bytes, None, &limits) {
                prop_assert!(message.len() < 2000, "{message}");
            }
            Ok(())
        },
    );
}
