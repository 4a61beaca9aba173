//! ODS sheets are cheap to write and dear to read: `table:number-rows-repeated="1048576"` and
//! `table:number-columns-repeated="16384"` make a 1 KB file that calamine lays out as a hundred
//! million cells, and calamine reads every sheet of the workbook whole when it opens it. This
//! scan walks `content.xml` once, without keeping it, and works out what calamine would hold:
//! the cells of each row up to its last filled one, and the rectangle between the first and
//! the last filled rows once repeats are expanded. A workbook beyond the bound is refused.
//!
//! The scan is deliberately pessimistic: a cell with any value attribute or any content counts
//! as filled, so it may refuse a borderline file but never lets a large one through.

use std::io::{BufRead, BufReader, Cursor, Read};

use zip::ZipArchive;

use super::limits::{Limits, SHEET_MAX_COLUMNS, SHEET_MAX_ROWS, VARIABLES, shorten};

/// Longest tag the scan reads (a tag holds a cell's text as an attribute).
const MAX_TAG_BYTES: usize = 16 * 1024 * 1024;

/// Refuse an ODS workbook whose sheets would expand beyond `max_sheet_cells`.
pub fn check(bytes: &[u8], limits: &Limits) -> Result<(), String> {
    let mut archive = ZipArchive::new(Cursor::new(bytes))
        .map_err(|err| format!("cannot be opened as a spreadsheet: {err}"))?;
    let Ok(content) = archive.by_name("content.xml") else {
        // calamine says what is missing.
        return Ok(());
    };
    scan(BufReader::new(content), limits)
}

/// The cells of one table so far.
#[derive(Default)]
struct Table {
    name: String,
    /// Cells calamine keeps before it lays the sheet out: per row element, up to its last filled
    /// cell.
    row_cells: u64,
    /// Rows (repeats expanded) from the first filled row to the last, and the widest row.
    rows_before_first: Option<u64>,
    rows_seen: u64,
    last_filled_end: u64,
    width: u64,
}

/// The cell being read: its repeats, whether it holds a value, and the bytes of its tags and
/// text (what its value can take once read).
struct OpenCell {
    repeats: u64,
    filled: bool,
    bytes: u64,
}

/// State of the row being read.
#[derive(Default)]
struct Row {
    repeats: u64,
    position: u64,
    pending_empty: u64,
    /// Text of its filled cells, column repeats expanded.
    text: u64,
}

fn scan(mut xml: impl BufRead, limits: &Limits) -> Result<(), String> {
    let bound = limits.max_sheet_cells;
    let mut total_kept = 0u64;
    let mut total_text = 0u64;
    let mut table: Option<Table> = None;
    let mut row: Option<Row> = None;
    let mut cell: Option<OpenCell> = None;
    let mut tag = Vec::new();
    loop {
        // Text between tags: inside a cell, it is content.
        let (more, text, bytes) = skip_text(&mut xml)?;
        if let Some(open) = cell.as_mut() {
            open.filled |= text;
            open.bytes = open.bytes.saturating_add(bytes);
        }
        if !more {
            break;
        }
        if !read_tag(&mut xml, &mut tag)? {
            break;
        }
        let Some(parsed) = Tag::parse(&tag) else {
            continue;
        };
        match (parsed.name, parsed.kind) {
            ("table:table", Kind::Start) => {
                table = Some(Table {
                    name: parsed.attribute("table:name").unwrap_or_default(),
                    ..Table::default()
                });
            }
            ("table:table", Kind::End) => {
                if let Some(t) = table.take() {
                    let area = match t.rows_before_first {
                        Some(first) => t
                            .last_filled_end
                            .saturating_sub(first)
                            .saturating_mul(t.width),
                        None => 0,
                    };
                    total_kept = total_kept.saturating_add(t.row_cells).saturating_add(area);
                    if total_kept > bound {
                        return Err(too_many(&t, area, bound));
                    }
                }
            }
            ("table:table-row", Kind::Start) if table.is_some() => {
                let repeats = parsed.number("table:number-rows-repeated");
                row = Some(Row {
                    repeats,
                    ..Row::default()
                });
            }
            ("table:table-row", Kind::End) => {
                if let (Some(r), Some(t)) = (row.take(), table.as_mut()) {
                    let repeats = r.repeats.min(SHEET_MAX_ROWS.saturating_sub(t.rows_seen));
                    let width = r.position.min(SHEET_MAX_COLUMNS);
                    t.row_cells = t.row_cells.saturating_add(width);
                    if width > 0 {
                        t.rows_before_first.get_or_insert(t.rows_seen);
                        t.last_filled_end = t.rows_seen.saturating_add(repeats);
                        t.width = t.width.max(width);
                    }
                    t.rows_seen = t.rows_seen.saturating_add(repeats);
                    let area = t.rows_before_first.map_or(0, |first| {
                        t.last_filled_end
                            .saturating_sub(first)
                            .saturating_mul(t.width)
                    });
                    if total_kept.saturating_add(t.row_cells).saturating_add(area) > bound {
                        return Err(too_many(t, area, bound));
                    }
                    // Every repeat of a filled row is a copy of its text.
                    total_text = total_text.saturating_add(r.text.saturating_mul(repeats));
                    if total_text > limits.max_text_bytes {
                        return Err(format!(
                            "sheet \"{}\" would hold more than {} bytes of text once its \
                             repeated rows and cells are expanded, the bound ({})",
                            shorten(&t.name),
                            limits.max_text_bytes,
                            VARIABLES[6]
                        ));
                    }
                }
            }
            ("table:table-cell" | "table:covered-table-cell", kind) if row.is_some() => {
                let repeats = parsed.number("table:number-columns-repeated");
                let valued = parsed.has_value();
                let bytes = parsed.value_bytes();
                match kind {
                    Kind::Start => {
                        cell = Some(OpenCell {
                            repeats,
                            filled: valued,
                            bytes,
                        })
                    }
                    Kind::Empty => end_cell(
                        row.as_mut(),
                        OpenCell {
                            repeats,
                            filled: valued,
                            bytes,
                        },
                    ),
                    Kind::End => {
                        if let Some(open) = cell.take() {
                            end_cell(row.as_mut(), open);
                        }
                    }
                }
            }
            (_, Kind::Start | Kind::Empty) => {
                // Any element inside a cell (text:p, text:span...) is content.
                if let Some(open) = cell.as_mut()
                    && !parsed.name.starts_with("table:")
                {
                    open.filled = true;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// A cell ends: filled cells move the row's position past themselves and the empty ones before.
fn end_cell(row: Option<&mut Row>, cell: OpenCell) {
    let Some(row) = row else {
        return;
    };
    let OpenCell {
        repeats,
        filled,
        bytes,
    } = cell;
    if filled {
        row.text = row
            .text
            .saturating_add(bytes.saturating_mul(repeats.min(SHEET_MAX_COLUMNS)));
        row.position = row
            .position
            .saturating_add(row.pending_empty)
            .saturating_add(repeats)
            .min(SHEET_MAX_COLUMNS);
        row.pending_empty = 0;
    } else {
        row.pending_empty = row.pending_empty.saturating_add(repeats);
    }
}

fn too_many(table: &Table, area: u64, bound: u64) -> String {
    let rows = match table.rows_before_first {
        Some(first) => table.last_filled_end.saturating_sub(first),
        None => 0,
    };
    let shape = if area > 0 {
        format!(
            "its repeated rows and columns expand to {rows} rows by {} columns",
            table.width
        )
    } else {
        format!("its rows hold {} cells", table.row_cells)
    };
    format!(
        "sheet \"{}\" would take more cells than the bound of {bound} ({}): {shape}",
        shorten(&table.name),
        VARIABLES[5]
    )
}

/// Skip text up to and including the next `<`: whether there is one, whether the text held
/// more than whitespace, and its length. The text is never kept.
fn skip_text(xml: &mut impl BufRead) -> Result<(bool, bool, u64), String> {
    let mut text = false;
    let mut length = 0u64;
    loop {
        let buffer = xml
            .fill_buf()
            .map_err(|err| format!("cannot be read as a spreadsheet: {err}"))?;
        if buffer.is_empty() {
            return Ok((false, text, length));
        }
        let end = buffer.iter().position(|b| *b == b'<');
        let upto = end.unwrap_or(buffer.len());
        text |= buffer[..upto].iter().any(|b| !b.is_ascii_whitespace());
        length += upto as u64;
        match end {
            Some(at) => {
                xml.consume(at + 1);
                return Ok((true, text, length));
            }
            None => xml.consume(upto),
        }
    }
}

/// Read a tag (after its `<`) up to its closing `>`, skipping comments, CDATA and processing
/// instructions whole. False at the end of the input.
fn read_tag(xml: &mut impl BufRead, tag: &mut Vec<u8>) -> Result<bool, String> {
    tag.clear();
    let mut take = |tag: &mut Vec<u8>, until: u8| -> Result<bool, String> {
        let n = xml
            .by_ref()
            .take(MAX_TAG_BYTES as u64)
            .read_until(until, tag)
            .map_err(|err| format!("cannot be read as a spreadsheet: {err}"))?;
        if tag.len() >= MAX_TAG_BYTES {
            return Err(format!(
                "holds an XML tag longer than {MAX_TAG_BYTES} bytes"
            ));
        }
        Ok(n > 0)
    };
    if !take(tag, b'>')? {
        return Ok(false);
    }
    // Quotes in attribute values may hold '>': read on until the quotes balance, and until a
    // comment or CDATA section is closed.
    loop {
        let quotes_open = tag.iter().filter(|b| **b == b'"').count() % 2 == 1
            || (!tag.contains(&b'"') && tag.iter().filter(|b| **b == b'\'').count() % 2 == 1);
        let unfinished = (tag.starts_with(b"!--") && !tag.ends_with(b"-->"))
            || (tag.starts_with(b"![CDATA[") && !tag.ends_with(b"]]>"));
        let comment =
            tag.starts_with(b"!--") || tag.starts_with(b"![CDATA[") || tag.starts_with(b"?");
        if !(unfinished || (quotes_open && !comment)) {
            return Ok(true);
        }
        if !take(tag, b'>')? {
            return Ok(false);
        }
    }
}

/// The attributes that give a cell its value.
const VALUE_ATTRIBUTES: [&str; 5] = [
    "office:value",
    "office:string-value",
    "office:date-value",
    "office:time-value",
    "office:boolean-value",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Start,
    End,
    Empty,
}

/// A tag's name, kind and raw attribute text.
struct Tag<'a> {
    name: &'a str,
    kind: Kind,
    attributes: &'a str,
}

impl<'a> Tag<'a> {
    fn parse(raw: &'a [u8]) -> Option<Tag<'a>> {
        let raw = std::str::from_utf8(raw).ok()?.strip_suffix('>')?;
        if raw.starts_with(['!', '?']) {
            return None;
        }
        let (raw, kind) = if let Some(name) = raw.strip_prefix('/') {
            (name, Kind::End)
        } else if let Some(open) = raw.strip_suffix('/') {
            (open, Kind::Empty)
        } else {
            (raw, Kind::Start)
        };
        let end = raw.find(|c: char| c.is_whitespace()).unwrap_or(raw.len());
        Some(Tag {
            name: &raw[..end],
            kind,
            attributes: &raw[end..],
        })
    }

    fn attribute(&self, name: &str) -> Option<String> {
        let mut rest = self.attributes;
        while let Some(at) = rest.find(name) {
            let before_ok = at == 0 || rest[..at].ends_with(|c: char| c.is_whitespace());
            let after = rest[at + name.len()..].trim_start();
            if before_ok && let Some(value) = after.strip_prefix('=') {
                let value = value.trim_start();
                let quote = value.chars().next()?;
                let inner = &value[1..];
                return Some(inner[..inner.find(quote)?].to_string());
            }
            rest = &rest[at + name.len()..];
        }
        None
    }

    /// A repeat count: 1 when absent, and beyond any sheet when unreadable (calamine would fail
    /// on it; this scan must not let it through).
    fn number(&self, name: &str) -> u64 {
        match self.attribute(name) {
            None => 1,
            Some(value) => value.trim().parse::<u64>().unwrap_or(u64::MAX).max(1),
        }
    }

    fn has_value(&self) -> bool {
        VALUE_ATTRIBUTES
            .iter()
            .chain(&["office:value-type"])
            .any(|name| self.attribute(name).is_some())
    }

    /// The length of the values the tag gives a cell (its text comes on top).
    fn value_bytes(&self) -> u64 {
        VALUE_ATTRIBUTES
            .iter()
            .filter_map(|name| self.attribute(name))
            .map(|v| v.len() as u64)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scanned(content: &str, bound: u64) -> Result<(), String> {
        let limits = Limits {
            max_sheet_cells: bound,
            max_text_bytes: u64::MAX,
            ..Limits::default()
        };
        scan(content.as_bytes(), &limits)
    }

    const CELL: &str =
        r#"<table:table-cell office:value-type="string"><text:p>x</text:p></table:table-cell>"#;

    fn sheet(rows: &str) -> String {
        format!(
            r#"<?xml version="1.0"?><office:document-content><office:body><office:spreadsheet><table:table table:name="Sheet1">{rows}</table:table></office:spreadsheet></office:body></office:document-content>"#
        )
    }

    #[test]
    fn a_small_sheet_passes_and_trailing_blank_repeats_cost_nothing() {
        let rows = format!(
            r#"<table:table-row>{CELL}{CELL}</table:table-row><table:table-row table:number-rows-repeated="1048574"><table:table-cell table:number-columns-repeated="16384"/></table:table-row>"#
        );
        assert_eq!(scanned(&sheet(&rows), 100), Ok(()));
    }

    #[test]
    fn repeated_filled_rows_and_columns_are_counted_expanded() {
        let wide = CELL.replace(
            "<table:table-cell ",
            r#"<table:table-cell table:number-columns-repeated="16384" "#,
        );
        let rows = format!(
            r#"<table:table-row table:number-rows-repeated="1000000">{wide}</table:table-row>"#
        );
        let err = scanned(&sheet(&rows), 2_000_000).unwrap_err();
        assert!(
            err.contains(r#"sheet "Sheet1" would take more cells than the bound of 2000000"#),
            "{err}"
        );
        assert!(err.contains("1000000 rows by 16384 columns"), "{err}");
    }

    #[test]
    fn blank_rows_between_filled_ones_are_laid_out() {
        let rows = format!(
            r#"<table:table-row>{CELL}</table:table-row><table:table-row table:number-rows-repeated="500000"><table:table-cell/></table:table-row><table:table-row>{CELL}{CELL}{CELL}{CELL}</table:table-row>"#
        );
        assert!(scanned(&sheet(&rows), 1_000_000).is_err());
        assert!(scanned(&sheet(&rows), 3_000_000).is_ok());
    }

    #[test]
    fn a_long_string_repeated_is_counted_as_often_as_it_is_copied() {
        let long = format!(
            r#"<table:table-cell table:number-columns-repeated="10" office:value-type="string"><text:p>{}</text:p></table:table-cell>"#,
            "x".repeat(4000)
        );
        let rows = format!(
            r#"<table:table-row table:number-rows-repeated="1500">{long}</table:table-row>"#
        );
        let limits = Limits {
            max_text_bytes: 64 << 20,
            ..Limits::default()
        };
        assert_eq!(scan(sheet(&rows).as_bytes(), &limits), Ok(()));
        let limits = Limits {
            max_text_bytes: 50 << 20,
            ..Limits::default()
        };
        let err = scan(sheet(&rows).as_bytes(), &limits).unwrap_err();
        assert!(
            err.contains("bytes of text once its repeated rows and cells are expanded"),
            "{err}"
        );
    }

    #[test]
    fn quotes_comments_and_bad_numbers() {
        let rows = format!(
            r#"<!-- <table:table-row table:number-rows-repeated="999999999"> --><table:table-row><table:table-cell office:value-type="string" office:string-value="a>b"/>{CELL}</table:table-row><table:table-row table:number-rows-repeated="x">{CELL}</table:table-row>"#
        );
        // The unreadable repeat count is taken as beyond any sheet.
        assert!(scanned(&sheet(&rows), 1_000_000).is_err());
    }
}
