//! ODS sheets are cheap to write and dear to read: `table:number-rows-repeated="1048576"` and
//! `table:number-columns-repeated="16384"` make a 1 KB file that calamine lays out as a hundred
//! million cells, and calamine reads every sheet of the workbook whole when it opens it. This
//! scan walks `content.xml` once, without keeping it, and works out what calamine would hold:
//! the cells of each row up to its last filled one, and the rectangle between the first and
//! the last filled rows once repeats are expanded. A workbook beyond the bound is refused.
//!
//! The scan is deliberately pessimistic: a cell with any value attribute or any content counts
//! as filled, so it may refuse a borderline file but never lets a large one through.

mod tags;

use std::io::{BufRead, BufReader, Cursor};

use zip::ZipArchive;

use super::limits::{Limits, SHEET_MAX_COLUMNS, SHEET_MAX_ROWS, VARIABLES, shorten};
use tags::{Kind, Tag, read_tag, skip_text};

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

/// What the scan carries from tag to tag: the totals over the workbook so far, and the table,
/// row and cell being read.
struct Scanner<'a> {
    limits: &'a Limits,
    /// Cells calamine keeps, over the tables ended so far.
    total_kept: u64,
    /// Text of the filled cells, repeats expanded, over the rows ended so far.
    total_text: u64,
    table: Option<Table>,
    row: Option<Row>,
    cell: Option<OpenCell>,
}

fn scan(mut xml: impl BufRead, limits: &Limits) -> Result<(), String> {
    let mut scanner = Scanner {
        limits,
        total_kept: 0,
        total_text: 0,
        table: None,
        row: None,
        cell: None,
    };
    let mut tag = Vec::new();
    loop {
        // Text between tags: inside a cell, it is content.
        let (more, text, bytes) = skip_text(&mut xml)?;
        if let Some(open) = scanner.cell.as_mut() {
            open.filled |= text;
            open.bytes = open.bytes.saturating_add(bytes);
        }
        if !more {
            break;
        }
        if !read_tag(&mut xml, &mut tag)? {
            break;
        }
        if let Some(parsed) = Tag::parse(&tag) {
            scanner.tag(&parsed)?;
        }
    }
    Ok(())
}

impl Scanner<'_> {
    /// Take in one tag; `Err` once the workbook is past a bound.
    fn tag(&mut self, parsed: &Tag) -> Result<(), String> {
        match (parsed.name, parsed.kind) {
            ("table:table", Kind::Start) => {
                self.table = Some(Table {
                    name: parsed.attribute("table:name").unwrap_or_default(),
                    ..Table::default()
                });
            }
            ("table:table", Kind::End) => return self.end_table(),
            ("table:table-row", Kind::Start) if self.table.is_some() => {
                let repeats = parsed.number("table:number-rows-repeated");
                self.row = Some(Row {
                    repeats,
                    ..Row::default()
                });
            }
            ("table:table-row", Kind::End) => return self.end_row(),
            ("table:table-cell" | "table:covered-table-cell", kind) if self.row.is_some() => {
                self.cell_tag(parsed, kind);
            }
            (_, Kind::Start | Kind::Empty) => {
                // Any element inside a cell (text:p, text:span...) is content.
                if let Some(open) = self.cell.as_mut()
                    && !parsed.name.starts_with("table:")
                {
                    open.filled = true;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// A table ends: what calamine keeps of it counts towards the workbook's bound.
    fn end_table(&mut self) -> Result<(), String> {
        if let Some(t) = self.table.take() {
            let area = match t.rows_before_first {
                Some(first) => t
                    .last_filled_end
                    .saturating_sub(first)
                    .saturating_mul(t.width),
                None => 0,
            };
            self.total_kept = self
                .total_kept
                .saturating_add(t.row_cells)
                .saturating_add(area);
            if self.total_kept > self.limits.max_sheet_cells {
                return Err(too_many(&t, area, self.limits.max_sheet_cells));
            }
        }
        Ok(())
    }

    /// A row ends: its repeats grow the table's rectangle and the workbook's text.
    fn end_row(&mut self) -> Result<(), String> {
        let (Some(r), Some(t)) = (self.row.take(), self.table.as_mut()) else {
            return Ok(());
        };
        let bound = self.limits.max_sheet_cells;
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
        if self
            .total_kept
            .saturating_add(t.row_cells)
            .saturating_add(area)
            > bound
        {
            return Err(too_many(t, area, bound));
        }
        // Every repeat of a filled row is a copy of its text.
        self.total_text = self
            .total_text
            .saturating_add(r.text.saturating_mul(repeats));
        if self.total_text > self.limits.max_text_bytes {
            return Err(format!(
                "sheet \"{}\" would hold more than {} bytes of text once its repeated rows and \
                 cells are expanded, the bound ({})",
                shorten(&t.name),
                self.limits.max_text_bytes,
                VARIABLES[6]
            ));
        }
        Ok(())
    }

    /// A cell's tag inside a row: a cell opens, or ends (an empty-element tag does both).
    fn cell_tag(&mut self, parsed: &Tag, kind: Kind) {
        let opened = OpenCell {
            repeats: parsed.number("table:number-columns-repeated"),
            filled: parsed.has_value(),
            bytes: parsed.value_bytes(),
        };
        match kind {
            Kind::Start => self.cell = Some(opened),
            Kind::Empty => end_cell(self.row.as_mut(), opened),
            Kind::End => {
                if let Some(open) = self.cell.take() {
                    end_cell(self.row.as_mut(), open);
                }
            }
        }
    }
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
