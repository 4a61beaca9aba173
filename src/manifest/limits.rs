//! Bounds on what reading a manifest may cost. A manifest is mailed around and exported by other
//! systems: a 5 KB workbook can ask for billions of cells, a zip can inflate a thousandfold, and
//! `/dev/zero` never ends. Every reader checks these bounds before it allocates, and a file beyond
//! one is refused (exit 2) with a message naming the file, the bound and the variable that raises
//! it. The defaults hold a manifest of 100,000 rows (the scale the run and its report are built
//! for); docs/manifest.md "Bounds" gives the memory measured at their edge.

/// Excel's own sheet size: no genuine cell lies beyond it.
pub const SHEET_MAX_ROWS: u64 = 1_048_576;
pub const SHEET_MAX_COLUMNS: u64 = 16_384;

/// Entries in a workbook's zip directory: a real workbook has a few dozen.
pub const MAX_ZIP_ENTRIES: usize = 10_000;

/// The bounds in force; see docs/manifest.md "Bounds".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Size of the manifest file itself.
    pub max_file_bytes: u64,
    /// Data rows (blank rows are not counted).
    pub max_rows: usize,
    /// Characters in one cell of the five columns (and in a header name).
    pub max_cell_chars: usize,
    /// Columns in the header row (and fields in a CSV record).
    pub max_columns: usize,
    /// Sum of the uncompressed sizes a workbook's zip directory declares.
    pub max_unzipped_bytes: u64,
    /// Cells a spreadsheet reader may hold at once (an XLS or ODS sheet is held whole, blank cells
    /// included), and strings in a workbook's shared-string table.
    pub max_sheet_cells: u64,
    /// Bytes of text: summed over the cells of the five columns in one reading of the manifest
    /// (its rows are given out one at a time, so this is a bound on the work of a reading), and
    /// over the cells an XLS or ODS sheet expands to, which the reader holds at once (one shared
    /// or repeated string can fill many cells).
    pub max_text_bytes: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_file_bytes: 64 * 1024 * 1024,
            max_rows: 100_000,
            max_cell_chars: 4096,
            max_columns: SHEET_MAX_COLUMNS as usize,
            max_unzipped_bytes: 128 * 1024 * 1024,
            max_sheet_cells: 1_000_000,
            max_text_bytes: 64 * 1024 * 1024,
        }
    }
}

/// The environment variable that sets each bound, and its place in [`Limits`].
pub const VARIABLES: [&str; 7] = [
    "KIRIM_XRAY_MAX_MANIFEST_BYTES",
    "KIRIM_XRAY_MAX_MANIFEST_ROWS",
    "KIRIM_XRAY_MAX_CELL_CHARS",
    "KIRIM_XRAY_MAX_MANIFEST_COLUMNS",
    "KIRIM_XRAY_MAX_UNZIPPED_BYTES",
    "KIRIM_XRAY_MAX_SHEET_CELLS",
    "KIRIM_XRAY_MAX_MANIFEST_TEXT_BYTES",
];

impl Limits {
    /// The defaults, each replaced by its `KIRIM_XRAY_MAX_*` variable when that is set.
    pub fn from_env() -> Result<Limits, String> {
        Limits::from_lookup(|key| std::env::var(key).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Limits, String> {
        let mut limits = Limits::default();
        let get = |key: &str, default: u64| -> Result<u64, String> {
            match lookup(key).as_deref().map(str::trim) {
                None | Some("") => Ok(default),
                Some(text) => match text.replace('_', "").parse::<u64>() {
                    Ok(n) if n > 0 => Ok(n),
                    _ => Err(format!(
                        "{key}: \"{}\" is not a whole number above 0",
                        shorten(text)
                    )),
                },
            }
        };
        let to_usize = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        limits.max_file_bytes = get(VARIABLES[0], limits.max_file_bytes)?;
        limits.max_rows = to_usize(get(VARIABLES[1], limits.max_rows as u64)?);
        limits.max_cell_chars = to_usize(get(VARIABLES[2], limits.max_cell_chars as u64)?);
        limits.max_columns = to_usize(get(VARIABLES[3], limits.max_columns as u64)?);
        limits.max_unzipped_bytes = get(VARIABLES[4], limits.max_unzipped_bytes)?;
        limits.max_sheet_cells = get(VARIABLES[5], limits.max_sheet_cells)?;
        limits.max_text_bytes = get(VARIABLES[6], limits.max_text_bytes)?;
        Ok(limits)
    }
}

/// A value echoed in a message, cut so that a hostile one cannot flood the terminal.
pub fn shorten(text: &str) -> String {
    const SHOWN: usize = 40;
    if text.chars().count() <= SHOWN {
        return text.to_string();
    }
    let head: String = text.chars().take(SHOWN).collect();
    format!("{head}...")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_raise_or_lower_each_bound() {
        let limits = Limits::from_lookup(|key| match key {
            "KIRIM_XRAY_MAX_MANIFEST_ROWS" => Some("500_000".into()),
            "KIRIM_XRAY_MAX_CELL_CHARS" => Some(" 64 ".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(limits.max_rows, 500_000);
        assert_eq!(limits.max_cell_chars, 64);
        assert_eq!(limits.max_file_bytes, Limits::default().max_file_bytes);
    }

    #[test]
    fn a_bad_value_names_the_variable() {
        for bad in ["0", "-1", "lots", "1e9"] {
            let err = Limits::from_lookup(|key| {
                (key == "KIRIM_XRAY_MAX_SHEET_CELLS").then(|| bad.to_string())
            })
            .unwrap_err();
            assert!(
                err.starts_with("KIRIM_XRAY_MAX_SHEET_CELLS: \""),
                "{bad}: {err}"
            );
        }
    }
}
