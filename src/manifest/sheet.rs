//! Spreadsheet manifests (XLSX, XLSM, XLSB, XLS, ODS) through calamine. Cells keep their type:
//! a number stays a number, so that validation can tell a code that lost its leading zeros from
//! one typed as text, and a date cell from text that only looks like one. Formula cells arrive as
//! their cached value; error cells (`#N/A`) stay errors.
//!
//! A workbook is checked before calamine reads it (`zipped.rs`, `ods_scan.rs`, `xls_scan.rs`), and
//! XLSX and XLSB sheets are streamed cell by cell rather than laid out as one dense range, so that
//! a stray cell at XFD1048576 costs nothing. Whatever still makes calamine panic is caught and
//! reported as an unreadable file.

use std::fmt::Display;
use std::io::{Cursor, Read, Seek};

use calamine::{
    Data, DataRef, Ods, Range, Reader, SheetType, Xls, Xlsb, Xlsx, open_workbook_from_rs,
};
use chrono::{NaiveDate, NaiveDateTime, NaiveTime};

use super::header::{MAX_HEADER_NAME_CHARS, TableRows, text_cell};
use super::limits::{Limits, SHEET_MAX_COLUMNS, SHEET_MAX_ROWS, shorten};
use super::{Cell, RawRow, ods_scan, xls_scan, zipped};

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
pub fn parse(
    bytes: &[u8],
    format: Format,
    sheet: Option<&str>,
    limits: &Limits,
) -> Result<Vec<RawRow>, String> {
    let mut rows = Vec::new();
    parse_each(bytes, format, sheet, limits, &mut |r| rows.push(r))?;
    Ok(rows)
}

/// [`parse`], giving each data row to `each` as it is read; returns how many there were. XLSX
/// and XLSB sheets are streamed; XLS and ODS sheets are loaded whole by calamine (see
/// docs/manifest.md for what that costs).
pub fn parse_each(
    bytes: &[u8],
    format: Format,
    sheet: Option<&str>,
    limits: &Limits,
    each: &mut dyn FnMut(RawRow),
) -> Result<usize, String> {
    match format {
        Format::Xls => xls_scan::check(bytes, limits)?,
        Format::Ods => {
            zipped::check(bytes, format, limits)?;
            ods_scan::check(bytes, limits)?;
        }
        Format::Xlsx | Format::Xlsb => zipped::check(bytes, format, limits)?,
    }
    match super::guard::quietly(|| read_sheet(bytes, format, sheet, limits, each)) {
        Ok(result) => result,
        Err(panic) => Err(format!(
            "cannot be read: malformed content stopped the spreadsheet reader (\"{}\"); a cell \
             reference beyond a sheet's {SHEET_MAX_ROWS} rows and {SHEET_MAX_COLUMNS} columns, \
             or a count out of range?",
            shorten(&panic)
        )),
    }
}

fn read_sheet(
    bytes: &[u8],
    format: Format,
    sheet: Option<&str>,
    limits: &Limits,
    each: &mut dyn FnMut(RawRow),
) -> Result<usize, String> {
    let cursor = Cursor::new(bytes);
    match format {
        Format::Xlsx => {
            let mut workbook = open::<_, Xlsx<_>, _>(open_workbook_from_rs(cursor))?;
            let (name, names) = pick_sheet(&mut workbook, sheet)?;
            let mut cells = workbook
                .worksheet_cells_reader(&name)
                .map_err(|err| format!("sheet \"{name}\" cannot be read: {err}"))?;
            let next = || match cells.next_cell() {
                Ok(cell) => Ok(cell.map(|c| (c.get_position(), c.get_value().clone()))),
                Err(err) => Err(format!("cannot be read: {err}")),
            };
            stream_rows(next, limits, each).map_err(|err| in_sheet(err, &name, &names))
        }
        Format::Xlsb => {
            let mut workbook = open::<_, Xlsb<_>, _>(open_workbook_from_rs(cursor))?;
            let (name, names) = pick_sheet(&mut workbook, sheet)?;
            let mut cells = workbook
                .worksheet_cells_reader(&name)
                .map_err(|err| format!("sheet \"{name}\" cannot be read: {err}"))?;
            let next = || match cells.next_cell() {
                Ok(cell) => Ok(cell.map(|c| (c.get_position(), c.get_value().clone()))),
                Err(err) => Err(format!("cannot be read: {err}")),
            };
            stream_rows(next, limits, each).map_err(|err| in_sheet(err, &name, &names))
        }
        Format::Xls => {
            let workbook = open::<_, Xls<_>, _>(open_workbook_from_rs(cursor))?;
            whole_range(workbook, sheet, limits, each)
        }
        Format::Ods => {
            let workbook = open::<_, Ods<_>, _>(open_workbook_from_rs(cursor))?;
            whole_range(workbook, sheet, limits, each)
        }
    }
}

fn open<RS, R, E: Display>(workbook: Result<R, E>) -> Result<R, String>
where
    RS: Read + Seek,
    R: Reader<RS, Error = E>,
{
    workbook.map_err(|err| format!("cannot be opened as a spreadsheet: {err}"))
}

/// A sheet-level error with the sheet named, and the other sheets listed.
fn in_sheet(err: String, name: &str, names: &[String]) -> String {
    let others: Vec<String> = names
        .iter()
        .filter(|n| *n != name)
        .take(10)
        .map(|n| format!("\"{}\"", shorten(n)))
        .collect();
    if others.is_empty() {
        format!("sheet \"{}\" {err}", shorten(name))
    } else {
        format!(
            "sheet \"{}\" {err} (other sheets: {}; choose one with --sheet NAME)",
            shorten(name),
            others.join(", ")
        )
    }
}

/// XLS and ODS workbooks are read whole by calamine; their size was checked before.
fn whole_range<RS, R>(
    mut workbook: R,
    sheet: Option<&str>,
    limits: &Limits,
    each: &mut dyn FnMut(RawRow),
) -> Result<usize, String>
where
    RS: Read + Seek,
    R: Reader<RS>,
    R::Error: Display,
{
    let (name, names) = pick_sheet(&mut workbook, sheet)?;
    let range = workbook
        .worksheet_range(&name)
        .map_err(|err| format!("sheet \"{}\" cannot be read: {err}", shorten(&name)))?;
    rows_of(&range, limits, each).map_err(|err| in_sheet(err, &name, &names))
}

/// The sheet to read and the names of every sheet.
fn pick_sheet<RS, R>(workbook: &mut R, sheet: Option<&str>) -> Result<(String, Vec<String>), String>
where
    RS: Read + Seek,
    R: Reader<RS>,
{
    let names = workbook.sheet_names();
    let name = match sheet {
        Some(wanted) => names
            .iter()
            .find(|n| n.as_str() == wanted)
            .ok_or_else(|| {
                format!(
                    "has no sheet named \"{}\" (sheets: {})",
                    shorten(wanted),
                    names
                        .iter()
                        .take(10)
                        .map(|n| format!("\"{}\"", shorten(n)))
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
    Ok((name, names))
}

/// Rows from cells streamed in sheet order: each row is kept sparse (only its filled cells, their
/// strings still borrowed from the workbook), so that neither a far cell, nor a wide row, nor a
/// huge shared string costs memory. Rows must come in ascending order, as every spreadsheet
/// program writes them.
fn stream_rows<'a>(
    mut next: impl FnMut() -> Result<Option<((u32, u32), DataRef<'a>)>, String>,
    limits: &Limits,
    each: &mut dyn FnMut(RawRow),
) -> Result<usize, String> {
    let mut table = TableRows::new(limits, each);
    let mut current: Option<u32> = None;
    let mut cells: Vec<(u32, DataRef<'a>)> = Vec::new();
    loop {
        let item = next()?;
        if let Some(row) = current
            && item.as_ref().is_none_or(|((r, _), _)| *r != row)
        {
            push_row(&mut table, row, &mut cells, limits)?;
        }
        let Some(((row, column), data)) = item else {
            break;
        };
        if u64::from(row) >= SHEET_MAX_ROWS || u64::from(column) >= SHEET_MAX_COLUMNS {
            return Err(format!(
                "has a cell at row {}, column {}, beyond the largest sheet ({SHEET_MAX_ROWS} \
                 rows, {SHEET_MAX_COLUMNS} columns)",
                u64::from(row) + 1,
                u64::from(column) + 1
            ));
        }
        if let Some(previous) = current
            && row < previous
        {
            return Err(format!(
                "lists row {} after row {}: its rows are out of order",
                row + 1,
                previous + 1
            ));
        }
        current = Some(row);
        if !matches!(data, DataRef::Empty) {
            if cells.len() >= limits.max_columns {
                return Err(format!(
                    "row {} has more than {} cells, the bound ({})",
                    row + 1,
                    limits.max_columns,
                    super::limits::VARIABLES[3]
                ));
            }
            cells.push((column, data));
        }
    }
    table.finish()
}

fn push_row(
    table: &mut TableRows<'_>,
    row: u32,
    cells: &mut Vec<(u32, DataRef<'_>)>,
    limits: &Limits,
) -> Result<(), String> {
    cells.sort_by_key(|(column, _)| *column);
    let row_number = row as usize + 1;
    let max_chars = limits.max_cell_chars;
    let texts = || {
        let width = cells.last().map_or(0, |(c, _)| *c as usize + 1);
        let mut texts = vec![String::new(); width];
        for (column, data) in cells.iter() {
            texts[*column as usize] = match data {
                // A header name longer than a cell can be matches no column: keep its start.
                DataRef::String(s) => s.chars().take(MAX_HEADER_NAME_CHARS).collect(),
                DataRef::SharedString(s) => s.chars().take(MAX_HEADER_NAME_CHARS).collect(),
                other => Data::from(other.clone()).to_string(),
            };
        }
        texts
    };
    let cell = |index: usize| {
        u32::try_from(index)
            .ok()
            .and_then(|i| cells.binary_search_by_key(&i, |(c, _)| *c).ok())
            .map_or(Cell::Empty, |k| match &cells[k].1 {
                DataRef::String(s) => text_cell(s, max_chars),
                DataRef::SharedString(s) => text_cell(s, max_chars),
                other => cell_of(&Data::from(other.clone()), max_chars),
            })
    };
    table
        .push(row_number, texts, cell)
        .map_err(|e| format!("row {row_number}: {e}"))?;
    cells.clear();
    Ok(())
}

/// The header is the first non-blank row; row numbers are the sheet's own, whatever blank rows and
/// columns come before the table.
fn rows_of(
    range: &Range<Data>,
    limits: &Limits,
    each: &mut dyn FnMut(RawRow),
) -> Result<usize, String> {
    let first_row = range.start().map_or(0, |(row, _)| row as usize);
    let mut table = TableRows::new(limits, each);
    for (offset, cells) in range.rows().enumerate() {
        let row = first_row + offset + 1;
        table
            .push(
                row,
                || {
                    cells
                        .iter()
                        .map(|c| match c {
                            Data::String(s) => s.chars().take(MAX_HEADER_NAME_CHARS).collect(),
                            other => other.to_string(),
                        })
                        .collect()
                },
                |index| {
                    cells
                        .get(index)
                        .map_or(Cell::Empty, |c| cell_of(c, limits.max_cell_chars))
                },
            )
            .map_err(|e| format!("row {row}: {e}"))?;
    }
    table.finish()
}

fn cell_of(data: &Data, max_chars: usize) -> Cell {
    match data {
        Data::Empty => Cell::Empty,
        Data::String(s) => text_cell(s, max_chars),
        Data::Float(f) => Cell::Number(*f),
        Data::Int(i) => Cell::Number(*i as f64),
        Data::Bool(b) => Cell::Bool(*b),
        // A serial below 1 is a time of day without a date (Excel shows 1899-12-31 or 1900-01-00).
        Data::DateTime(dt) if dt.is_datetime() && dt.as_f64() < 1.0 => match dt.as_datetime() {
            Some(t) => Cell::Time(t.time().format("%H:%M:%S").to_string()),
            None => Cell::Number(dt.as_f64()),
        },
        Data::DateTime(dt) if dt.is_datetime() => dt
            .as_datetime()
            .map_or(Cell::Number(dt.as_f64()), date_cell),
        // A duration ([hh]:mm) is not a calendar date.
        Data::DateTime(dt) => Cell::Time(format!("{} days", dt.as_f64())),
        Data::DurationIso(s) => Cell::Time(s.clone()),
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
#[path = "sheet_tests.rs"]
mod tests;
