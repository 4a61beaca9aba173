//! Header matching: spreadsheets written by hand name the same column many ways, so names match
//! case-, space- and underscore-insensitively, with the aliases of DESIGN "Manifest".

use super::limits::{self, Limits, shorten};
use super::{Cell, Column, RawRow};

/// Accepted names per column, already normalised (see [`normalise`]).
const ALIASES: [(Column, &[&str]); 5] = [
    (Column::NomorAju, &["nomoraju", "noaju", "aju"]),
    (
        Column::NomorBlAwb,
        &["nomorblawb", "blawb", "noawb", "awb", "hawb"],
    ),
    (
        Column::TanggalBlAwb,
        &["tanggalblawb", "tglawb", "tanggalawb"],
    ),
    (Column::KodeKantor, &["kodekantor", "kantor"]),
    (
        Column::Folder,
        &["folder", "imagefolder", "folderfoto", "images", "path"],
    ),
];

/// Lower case, without spaces, underscores, hyphens or a byte-order mark.
fn normalise(name: &str) -> String {
    name.trim_start_matches('\u{feff}')
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Which column a header names, if any.
pub fn column_for(name: &str) -> Option<Column> {
    let key = normalise(name);
    ALIASES
        .iter()
        .find(|(_, names)| names.contains(&key.as_str()))
        .map(|(column, _)| *column)
}

/// For each of the five columns, the position of its header among `names`. The error explains a
/// missing or doubled column and lists the headers found, so that the user can fix the file.
pub fn map_headers(names: &[String]) -> Result<[usize; 5], String> {
    let mut found: [Option<usize>; 5] = [None; 5];
    for (position, name) in names.iter().enumerate() {
        let Some(column) = column_for(name) else {
            continue;
        };
        let slot = &mut found[column as usize];
        if let Some(first) = *slot {
            return Err(format!(
                "the headers \"{}\" and \"{}\" both name the column {}; keep one of them",
                shorten(names[first].trim()),
                shorten(name.trim()),
                column.name()
            ));
        }
        *slot = Some(position);
    }
    let missing: Vec<&str> = Column::ALL
        .iter()
        .filter(|c| found[**c as usize].is_none())
        .map(|c| c.name())
        .collect();
    if !missing.is_empty() {
        // A hostile header can have thousands of columns: list a few, each cut short.
        const LISTED: usize = 12;
        let found: Vec<&str> = names
            .iter()
            .map(|n| n.trim())
            .filter(|n| !n.is_empty())
            .collect();
        let mut listed: Vec<String> = found
            .iter()
            .take(LISTED)
            .map(|n| format!("\"{}\"", shorten(n)))
            .collect();
        if found.len() > LISTED {
            listed.push(format!("and {} more", found.len() - LISTED));
        }
        let listed = if listed.is_empty() {
            "none".to_string()
        } else {
            listed.join(", ")
        };
        return Err(format!(
            "missing required column{} {} in the header row (columns found: {listed}); \
             the header row must name nomorAju, nomorBlAwb, tanggalBlAwb, kodeKantor and folder \
             (case, spaces and underscores do not matter; see docs/manifest.md for the aliases)",
            if missing.len() == 1 { "" } else { "s" },
            missing.join(", ")
        ));
    }
    let mut out = [0; 5];
    for (slot, position) in out.iter_mut().zip(found) {
        // Every slot is Some: the missing ones returned above.
        *slot = position.unwrap_or_default();
    }
    Ok(out)
}

/// The table rule both readers share: the first non-blank line is the header; after it, a line
/// with at least one of the five cells filled is a row, and blank ones are skipped; a file with no
/// header at all is an error. The bounds on rows, columns and cell length are kept here, so that
/// every reader keeps them alike. Rows go to `each` as they are read, never into a list.
pub struct TableRows<'a> {
    limits: Limits,
    columns: Option<[usize; 5]>,
    each: &'a mut dyn FnMut(RawRow),
    rows: usize,
    text_bytes: u64,
}

impl<'a> TableRows<'a> {
    pub fn new(limits: &Limits, each: &'a mut dyn FnMut(RawRow)) -> TableRows<'a> {
        TableRows {
            limits: *limits,
            columns: None,
            each,
            rows: 0,
            text_bytes: 0,
        }
    }

    /// One line of the file at spreadsheet row `row`: `texts` gives its cells as text (read only
    /// while the header is still to be found), `cell(i)` its typed cell at position `i`. Fails
    /// on a header that does not name the five columns, and beyond the bounds on rows and columns.
    pub fn push(
        &mut self,
        row: usize,
        texts: impl FnOnce() -> Vec<String>,
        cell: impl Fn(usize) -> Cell,
    ) -> Result<(), String> {
        let Some(map) = self.columns else {
            let names = texts();
            if names.len() > self.limits.max_columns {
                return Err(format!(
                    "the header row has {} columns, over the bound of {} ({})",
                    names.len(),
                    self.limits.max_columns,
                    limits::VARIABLES[3]
                ));
            }
            if !names.iter().all(|n| n.trim().is_empty()) {
                self.columns = Some(map_headers(&names)?);
            }
            return Ok(());
        };
        let max_chars = self.limits.max_cell_chars;
        let cells = map.map(|i| capped(cell(i), max_chars));
        let text: usize = cells
            .iter()
            .map(|c| match c {
                Cell::Text(s) => s.len(),
                _ => 0,
            })
            .sum();
        self.text_bytes = self.text_bytes.saturating_add(text as u64);
        if self.text_bytes > self.limits.max_text_bytes {
            return Err(format!(
                "holds more than {} bytes of text in its five columns, the bound ({})",
                self.limits.max_text_bytes,
                limits::VARIABLES[6]
            ));
        }
        if cells.iter().any(|c| *c != Cell::Empty) {
            if self.rows >= self.limits.max_rows {
                return Err(format!(
                    "has more than {} data rows, the bound ({}); split the manifest or raise the \
                     bound",
                    self.limits.max_rows,
                    limits::VARIABLES[1]
                ));
            }
            self.rows += 1;
            (self.each)(RawRow { row, cells });
        }
        Ok(())
    }

    /// How many data rows there were.
    pub fn finish(self) -> Result<usize, String> {
        match self.columns {
            Some(_) => Ok(self.rows),
            None => Err("is empty: there is no header row".into()),
        }
    }
}

/// A text cell over the length bound keeps only its length and first characters: it is refused
/// by validation, and memory does not grow with it.
fn capped(cell: Cell, max_chars: usize) -> Cell {
    match cell {
        Cell::Text(s) if s.len() > max_chars => text_cell(&s, max_chars),
        cell => cell,
    }
}

/// A text cell: trimmed, empty when blank, and cut at the bound before anything is copied (a
/// shared string may be huge and fill many cells).
pub fn text_cell(text: &str, max_chars: usize) -> Cell {
    let text = text.trim();
    if text.is_empty() {
        return Cell::Empty;
    }
    if text.len() > max_chars {
        let chars = text.chars().count();
        if chars > max_chars {
            return Cell::TooLong {
                chars,
                head: text.chars().take(TOO_LONG_HEAD).collect(),
            };
        }
    }
    Cell::Text(text.to_string())
}

/// Characters of a header name kept: a longer one names no column anyway.
pub const MAX_HEADER_NAME_CHARS: usize = 256;

/// Characters of an over-long cell kept to recognise it by.
const TOO_LONG_HEAD: usize = 24;

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn names_match_ignoring_case_spaces_underscores() {
        assert_eq!(column_for("nomorAju"), Some(Column::NomorAju));
        assert_eq!(column_for(" Nomor_AJU "), Some(Column::NomorAju));
        assert_eq!(column_for("Nomor Bl Awb"), Some(Column::NomorBlAwb));
        assert_eq!(
            column_for("\u{feff}TANGGAL_BL_AWB"),
            Some(Column::TanggalBlAwb)
        );
        assert_eq!(column_for("kode-kantor"), Some(Column::KodeKantor));
        assert_eq!(column_for("remarks"), None);
    }

    #[test]
    fn every_alias_of_the_design_is_known() {
        let cases = [
            ("nomor_aju", Column::NomorAju),
            ("no_aju", Column::NomorAju),
            ("aju", Column::NomorAju),
            ("nomor_bl_awb", Column::NomorBlAwb),
            ("bl_awb", Column::NomorBlAwb),
            ("no_awb", Column::NomorBlAwb),
            ("awb", Column::NomorBlAwb),
            ("hawb", Column::NomorBlAwb),
            ("tanggal_bl_awb", Column::TanggalBlAwb),
            ("tgl_awb", Column::TanggalBlAwb),
            ("tanggal_awb", Column::TanggalBlAwb),
            ("kode_kantor", Column::KodeKantor),
            ("kantor", Column::KodeKantor),
            ("folder", Column::Folder),
            ("image_folder", Column::Folder),
            ("folder_foto", Column::Folder),
            ("images", Column::Folder),
            ("path", Column::Folder),
        ];
        for (name, column) in cases {
            assert_eq!(column_for(name), Some(column), "{name}");
        }
    }

    #[test]
    fn headers_map_in_any_order_with_extra_columns() {
        let map = map_headers(&names(&[
            "remarks", "folder", "kantor", "tgl_awb", "awb", "aju",
        ]))
        .unwrap();
        assert_eq!(map, [5, 4, 3, 2, 1]);
    }

    #[test]
    fn a_missing_column_is_one_error_listing_the_columns_found() {
        let err = map_headers(&names(&["aju", "awb", "tgl", "kantor"])).unwrap_err();
        assert!(
            err.contains("missing required columns tanggalBlAwb, folder"),
            "{err}"
        );
        assert!(
            err.contains(r#"columns found: "aju", "awb", "tgl", "kantor""#),
            "{err}"
        );
    }

    #[test]
    fn a_doubled_column_is_refused() {
        let err = map_headers(&names(&[
            "aju",
            "nomor_aju",
            "awb",
            "tgl_awb",
            "kantor",
            "folder",
        ]))
        .unwrap_err();
        assert!(
            err.contains("\"aju\" and \"nomor_aju\" both name the column nomorAju"),
            "{err}"
        );
    }
}
