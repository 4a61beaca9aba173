//! Spreadsheet manifests (XLSX, XLSM, XLSB, XLS, ODS) through calamine. Cells keep their type:
//! a number stays a number, so that validation can tell a code that lost its leading zeros from
//! one typed as text, and a date cell from text that only looks like one. Formula cells arrive as
//! their cached value; error cells (`#N/A`) stay errors.

use std::fmt::Display;
use std::io::{Cursor, Read, Seek};

use calamine::{Data, Ods, Range, Reader, SheetType, Xls, Xlsb, Xlsx, open_workbook_from_rs};
use chrono::{NaiveDate, NaiveDateTime, NaiveTime};

use super::header::TableRows;
use super::{Cell, RawRow};

/// Which calamine reader to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Xlsx,
    Xlsb,
    Xls,
    Ods,
}

/// Read the first worksheet (or the one named `sheet`) of a workbook held in memory.
#[cfg(test)]
pub fn parse(bytes: &[u8], format: Format, sheet: Option<&str>) -> Result<Vec<RawRow>, String> {
    let mut rows = Vec::new();
    parse_each(bytes, format, sheet, &mut |r| rows.push(r))?;
    Ok(rows)
}

/// [`parse`], giving each data row to `each` as it is read; returns how many there were. The
/// sheet itself is loaded whole by calamine (see docs/manifest.md for what that costs).
pub fn parse_each(
    bytes: &[u8],
    format: Format,
    sheet: Option<&str>,
    each: &mut dyn FnMut(RawRow),
) -> Result<usize, String> {
    let cursor = Cursor::new(bytes);
    let range = match format {
        Format::Xlsx => pick_sheet(open_workbook_from_rs::<Xlsx<_>, _>(cursor), sheet),
        Format::Xlsb => pick_sheet(open_workbook_from_rs::<Xlsb<_>, _>(cursor), sheet),
        Format::Xls => pick_sheet(open_workbook_from_rs::<Xls<_>, _>(cursor), sheet),
        Format::Ods => pick_sheet(open_workbook_from_rs::<Ods<_>, _>(cursor), sheet),
    }?;
    let (range, name, names) = range;
    rows_of(&range, each).map_err(|err| {
        let others: Vec<String> = names
            .iter()
            .filter(|n| **n != name)
            .map(|n| format!("\"{n}\""))
            .collect();
        if others.is_empty() {
            format!("sheet \"{name}\" {err}")
        } else {
            format!(
                "sheet \"{name}\" {err} (other sheets: {}; choose one with --sheet NAME)",
                others.join(", ")
            )
        }
    })
}

/// A sheet's cells, its name, and the names of every sheet.
type PickedSheet = (Range<Data>, String, Vec<String>);

fn pick_sheet<RS, R, E>(workbook: Result<R, E>, sheet: Option<&str>) -> Result<PickedSheet, String>
where
    RS: Read + Seek,
    R: Reader<RS, Error = E>,
    E: Display,
{
    let mut workbook =
        workbook.map_err(|err| format!("cannot be opened as a spreadsheet: {err}"))?;
    let names = workbook.sheet_names();
    let name = match sheet {
        Some(wanted) => names
            .iter()
            .find(|n| n.as_str() == wanted)
            .ok_or_else(|| {
                format!(
                    "has no sheet named \"{wanted}\" (sheets: {})",
                    names
                        .iter()
                        .map(|n| format!("\"{n}\""))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?
            .clone(),
        // Chart sheets hold no cells: the first *worksheet* is meant.
        None => workbook
            .sheets_metadata()
            .iter()
            .find(|s| s.typ == SheetType::WorkSheet)
            .map(|s| s.name.clone())
            .or_else(|| names.first().cloned())
            .ok_or("has no worksheet")?,
    };
    let range = workbook
        .worksheet_range(&name)
        .map_err(|err| format!("sheet \"{name}\" cannot be read: {err}"))?;
    Ok((range, name, names))
}

/// The header is the first non-blank row; row numbers are the sheet's own, whatever blank rows and
/// columns come before the table.
fn rows_of(range: &Range<Data>, each: &mut dyn FnMut(RawRow)) -> Result<usize, String> {
    let first_row = range.start().map_or(0, |(row, _)| row as usize);
    let mut table = TableRows::new(each);
    for (offset, cells) in range.rows().enumerate() {
        let row = first_row + offset + 1;
        table
            .push(
                row,
                || cells.iter().map(|c| c.to_string()).collect(),
                |index| cells.get(index).map_or(Cell::Empty, cell_of),
            )
            .map_err(|e| format!("row {row}: {e}"))?;
    }
    table.finish()
}

fn cell_of(data: &Data) -> Cell {
    match data {
        Data::Empty => Cell::Empty,
        Data::String(s) | Data::DurationIso(s) => {
            let s = s.trim();
            if s.is_empty() {
                Cell::Empty
            } else {
                Cell::Text(s.to_string())
            }
        }
        Data::Float(f) => Cell::Number(*f),
        Data::Int(i) => Cell::Number(*i as f64),
        Data::Bool(b) => Cell::Text(if *b { "TRUE" } else { "FALSE" }.into()),
        Data::DateTime(dt) if dt.is_datetime() => dt
            .as_datetime()
            .map_or(Cell::Number(dt.as_f64()), date_cell),
        // A duration ([hh]:mm) is not a calendar date.
        Data::DateTime(dt) => Cell::Number(dt.as_f64()),
        Data::DateTimeIso(s) => iso_cell(s),
        Data::Error(err) => Cell::Error(err.to_string()),
    }
}

/// A date-time at midnight is what a date cell is.
fn date_cell(dt: NaiveDateTime) -> Cell {
    if dt.time() == NaiveTime::MIN {
        Cell::Date(dt.date())
    } else {
        Cell::DateTime(dt)
    }
}

/// ODS gives date cells as ISO 8601 text.
fn iso_cell(s: &str) -> Cell {
    if let Ok(date) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Cell::Date(date);
    }
    match NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f") {
        Ok(dt) => date_cell(dt),
        Err(_) => Cell::Text(s.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_xlsxwriter::{ExcelDateTime, Format as XFormat, Formula, Workbook};

    fn xlsx(build: impl FnOnce(&mut rust_xlsxwriter::Worksheet)) -> Vec<u8> {
        let mut workbook = Workbook::new();
        build(workbook.add_worksheet());
        workbook.save_to_buffer().unwrap()
    }

    fn header(ws: &mut rust_xlsxwriter::Worksheet, row: u32, col: u16) {
        for (i, name) in [
            "nomorAju",
            "nomorBlAwb",
            "tanggalBlAwb",
            "kodeKantor",
            "folder",
        ]
        .iter()
        .enumerate()
        {
            ws.write_string(row, col + i as u16, *name).unwrap();
        }
    }

    #[test]
    fn cells_keep_their_type() {
        let bytes = xlsx(|ws| {
            header(ws, 0, 0);
            let date = XFormat::new().set_num_format("yyyy-mm-dd");
            ws.write_string(1, 0, " AJU1 ").unwrap();
            ws.write_number(1, 1, 123456789.0).unwrap();
            ws.write_datetime_with_format(
                1,
                2,
                ExcelDateTime::from_ymd(2026, 11, 17).unwrap(),
                &date,
            )
            .unwrap();
            ws.write_number(1, 3, 9000.0).unwrap();
            ws.write_string(1, 4, "img/a").unwrap();
        });
        let rows = parse(&bytes, Format::Xlsx, None).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].row, 2);
        assert_eq!(
            rows[0].cells,
            [
                Cell::Text("AJU1".into()),
                Cell::Number(123456789.0),
                Cell::Date(NaiveDate::from_ymd_opt(2026, 11, 17).unwrap()),
                Cell::Number(9000.0),
                Cell::Text("img/a".into()),
            ]
        );
    }

    #[test]
    fn leading_blank_rows_and_columns_keep_sheet_row_numbers() {
        let bytes = xlsx(|ws| {
            header(ws, 2, 1);
            for (row, aju) in [(3, "A1"), (5, "A2")] {
                ws.write_string(row, 1, aju).unwrap();
            }
        });
        let rows = parse(&bytes, Format::Xlsx, None).unwrap();
        let numbers: Vec<usize> = rows.iter().map(|r| r.row).collect();
        // Header on sheet row 3; data on rows 4 and 6; blank row 5 skipped.
        assert_eq!(numbers, vec![4, 6]);
        assert_eq!(rows[0].cells[0], Cell::Text("A1".into()));
    }

    #[test]
    fn formulas_give_their_cached_value_and_errors_stay_errors() {
        let bytes = xlsx(|ws| {
            header(ws, 0, 0);
            ws.write_formula(1, 0, Formula::new("=\"AJU\"&\"1\"").set_result("AJU1"))
                .unwrap();
            ws.write_formula(1, 1, Formula::new("=NA()").set_result("#N/A"))
                .unwrap();
        });
        let rows = parse(&bytes, Format::Xlsx, None).unwrap();
        assert_eq!(rows[0].cells[0], Cell::Text("AJU1".into()));
        assert_eq!(rows[0].cells[1], Cell::Error("#N/A".into()));
    }

    #[test]
    fn sheet_by_name_or_the_first() {
        let mut workbook = Workbook::new();
        let first = workbook.add_worksheet().set_name("Notes").unwrap();
        first.write_string(0, 0, "read me").unwrap();
        let second = workbook.add_worksheet().set_name("Manifest").unwrap();
        header(second, 0, 0);
        second.write_string(1, 0, "A1").unwrap();
        let bytes = workbook.save_to_buffer().unwrap();

        let rows = parse(&bytes, Format::Xlsx, Some("Manifest")).unwrap();
        assert_eq!(rows.len(), 1);
        let err = parse(&bytes, Format::Xlsx, None).unwrap_err();
        assert!(err.contains("missing required columns"), "{err}");
        let err = parse(&bytes, Format::Xlsx, Some("Nope")).unwrap_err();
        assert!(
            err.contains(r#"no sheet named "Nope" (sheets: "Notes", "Manifest")"#),
            "{err}"
        );
    }

    #[test]
    fn date_times_and_iso_text() {
        let dt = NaiveDate::from_ymd_opt(2026, 11, 17)
            .unwrap()
            .and_hms_opt(10, 30, 0)
            .unwrap();
        assert_eq!(date_cell(dt), Cell::DateTime(dt));
        assert_eq!(iso_cell("2026-11-17"), Cell::Date(dt.date()));
        assert_eq!(iso_cell("2026-11-17T00:00:00"), Cell::Date(dt.date()));
        assert_eq!(iso_cell("2026-11-17T10:30:00"), Cell::DateTime(dt));
    }

    #[test]
    fn garbage_is_not_a_workbook() {
        let err = parse(b"not a zip", Format::Xlsx, None).unwrap_err();
        assert!(err.contains("cannot be opened as a spreadsheet"), "{err}");
    }
}
