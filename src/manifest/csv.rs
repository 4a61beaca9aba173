//! CSV manifests. Spreadsheet programs write CSV in many dialects: comma, semicolon (Indonesian and
//! other European locales) or tab, with or without a UTF-8 byte-order mark, CRLF line ends, quoted
//! fields. The delimiter is detected from the header line; anything that is not UTF-8 is refused
//! with the line to look at, rather than guessed at (a wrong guess would change a value).

use super::header::TableRows;
use super::{Cell, RawRow};

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

const SAVE_AS_UTF8: &str = "save it as UTF-8: in Excel \"Save As\" > \"CSV UTF-8 (Comma delimited)\"; \
     in LibreOffice \"Save As\" > Text CSV with the character set \"Unicode (UTF-8)\"";

/// Parse a whole CSV file into raw rows; the error explains what is wrong with the file.
#[cfg(test)]
pub fn parse(bytes: &[u8]) -> Result<Vec<RawRow>, String> {
    let mut rows = Vec::new();
    parse_each(bytes, &mut |r| rows.push(r))?;
    Ok(rows)
}

/// Parse a whole CSV file, giving each data row to `each` as it is read; returns how many there
/// were. The error explains what is wrong with the file.
pub fn parse_each(bytes: &[u8], each: &mut dyn FnMut(RawRow)) -> Result<usize, String> {
    if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
        return Err(format!(
            "is UTF-16 text (Excel's \"Unicode Text\"), not UTF-8; {SAVE_AS_UTF8}"
        ));
    }
    let bytes = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|err| {
        let line = 1 + bytes[..err.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        format!("is not UTF-8 text (the first bad byte is on line {line}); {SAVE_AS_UTF8}")
    })?;

    let delimiter = detect_delimiter(text);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(text.as_bytes());

    let mut table = TableRows::new(each);
    // A quoted field may span lines; a spreadsheet still shows such a record as one row, so the
    // row number is the record's line minus the line breaks inside earlier records.
    let mut breaks_inside_records = 0usize;
    // Lines are counted from byte offsets: csv's own position points before the line ends and
    // blank lines that precede a record, and counts a CRLF as no line at all.
    let (mut counted_to, mut line) = (0usize, 1usize);
    for record in reader.records() {
        let record = record.map_err(|err| match err.position() {
            Some(pos) => format!("cannot be read as CSV near line {}: {err}", pos.line()),
            None => format!("cannot be read as CSV: {err}"),
        })?;
        let mut start = record.position().map_or(counted_to, |p| p.byte() as usize);
        while matches!(text.as_bytes().get(start), Some(b'\r' | b'\n')) {
            start += 1;
        }
        if start > counted_to {
            line += text.as_bytes()[counted_to..start]
                .iter()
                .filter(|b| **b == b'\n')
                .count();
            counted_to = start;
        }
        let row = line - breaks_inside_records;
        breaks_inside_records += record
            .iter()
            .map(|f| f.matches('\n').count())
            .sum::<usize>();

        table.push(
            row,
            || record.iter().map(str::to_string).collect(),
            |index| text_cell(record.get(index).unwrap_or("")),
        )?;
    }
    table.finish()
}

/// A CSV field is always text; surrounding whitespace is never meant.
fn text_cell(field: &str) -> Cell {
    let field = field.trim();
    if field.is_empty() {
        Cell::Empty
    } else {
        Cell::Text(field.to_string())
    }
}

/// The delimiter that occurs most often, outside quotes, in the first non-blank line (the header);
/// comma when there is none.
fn detect_delimiter(text: &str) -> u8 {
    let header = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let mut counts = [(b',', 0usize), (b';', 0), (b'\t', 0)];
    let mut quoted = false;
    for byte in header.bytes() {
        if byte == b'"' {
            quoted = !quoted;
        } else if !quoted {
            for (delimiter, count) in counts.iter_mut() {
                if byte == *delimiter {
                    *count += 1;
                }
            }
        }
    }
    // max_by_key keeps the last of equals: reverse so that comma wins a tie.
    counts
        .iter()
        .rev()
        .max_by_key(|(_, count)| *count)
        .filter(|(_, count)| *count > 0)
        .map_or(b',', |(delimiter, _)| *delimiter)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Cell {
        Cell::Text(s.into())
    }

    const HEADER: &str = "nomorAju,nomorBlAwb,tanggalBlAwb,kodeKantor,folder";

    #[test]
    fn comma_semicolon_and_tab_are_detected() {
        for delimiter in [",", ";", "\t"] {
            let csv = format!(
                "{}\nA1{d}B1{d}2026-11-17{d}009000{d}img/a\n",
                HEADER.replace(',', delimiter),
                d = delimiter
            );
            let rows = parse(csv.as_bytes()).unwrap();
            assert_eq!(rows.len(), 1, "{delimiter:?}");
            assert_eq!(
                rows[0].cells,
                [
                    text("A1"),
                    text("B1"),
                    text("2026-11-17"),
                    text("009000"),
                    text("img/a")
                ],
                "{delimiter:?}"
            );
        }
    }

    #[test]
    fn a_comma_inside_quotes_does_not_decide_the_delimiter() {
        let csv = "\"a,b,c,d\";nomorAju;nomorBlAwb;tanggalBlAwb;kodeKantor;folder\n\
                   x;A1;B1;2026-11-17;009000;img/a\n";
        let rows = parse(csv.as_bytes()).unwrap();
        assert_eq!(rows[0].cells[0], text("A1"));
    }

    #[test]
    fn bom_crlf_quotes_and_whitespace() {
        let csv = "\u{feff}nomorAju,nomorBlAwb,tanggalBlAwb,kodeKantor,folder\r\n\
                   \" A1 \",\"B,1\",2026-11-17 ,009000,\"img/a\"\r\n";
        let rows = parse(csv.as_bytes()).unwrap();
        assert_eq!(
            rows[0].cells,
            [
                text("A1"),
                text("B,1"),
                text("2026-11-17"),
                text("009000"),
                text("img/a")
            ]
        );
        assert_eq!(rows[0].row, 2);
    }

    #[test]
    fn row_numbers_are_the_ones_a_spreadsheet_shows() {
        let csv = format!(
            "\n{HEADER}\nA1,B1,2026-11-17,009000,a\n,,,,\n\"A\n2\",B2,2026-11-17,009000,b\nA3,B3,2026-11-17,009000,c\n"
        );
        let rows = parse(csv.as_bytes()).unwrap();
        let numbers: Vec<usize> = rows.iter().map(|r| r.row).collect();
        // Line 1 blank, header on 2, row 4 blank (skipped), row 5 has a line break inside quotes.
        assert_eq!(numbers, vec![3, 5, 6]);
    }

    #[test]
    fn short_records_have_empty_cells() {
        let csv = format!("{HEADER}\nA1,B1\n");
        let rows = parse(csv.as_bytes()).unwrap();
        assert_eq!(rows[0].cells[2], Cell::Empty);
        assert_eq!(rows[0].cells[4], Cell::Empty);
    }

    #[test]
    fn not_utf8_names_the_first_bad_line() {
        let mut bytes = format!("{HEADER}\nA1,B1,2026-11-17,009000,a\n").into_bytes();
        bytes.extend_from_slice(b"A2,Jalan Cik Di Tiro \xe9,2026-11-17,009000,b\n");
        let err = parse(&bytes).unwrap_err();
        assert!(err.contains("not UTF-8"), "{err}");
        assert!(err.contains("line 3"), "{err}");
        assert!(err.contains("CSV UTF-8"), "{err}");
    }

    #[test]
    fn utf16_is_explained() {
        let err = parse(b"\xFF\xFEn\x00o\x00").unwrap_err();
        assert!(err.contains("UTF-16"), "{err}");
    }

    #[test]
    fn empty_file_and_missing_columns() {
        assert!(parse(b"").unwrap_err().contains("no header row"));
        assert!(parse(b"\n\n").unwrap_err().contains("no header row"));
        let err = parse(b"aju;awb;tanggal\n1;2;3\n").unwrap_err();
        assert!(
            err.contains("columns found: \"aju\", \"awb\", \"tanggal\""),
            "{err}"
        );
    }
}
