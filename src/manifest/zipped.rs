//! Checks on a zipped workbook (XLSX, XLSB, ODS) before calamine opens it. The zip directory
//! declares each entry's uncompressed size, and the zip reader refuses to inflate an entry past
//! it: so the declared sizes bound what reading can cost, and a zip bomb is refused here, by
//! its directory, without inflating anything. The shared-string table of an XLSX is counted too:
//! calamine reserves room for the count it declares, and keeps every string.

use std::io::{Cursor, Read};

use zip::ZipArchive;

use super::limits::{Limits, MAX_ZIP_ENTRIES, VARIABLES};
use super::sheet::Format;

/// Refuse a workbook whose directory, or shared-string table, is beyond the bounds.
pub fn check(bytes: &[u8], format: Format, limits: &Limits) -> Result<(), String> {
    if !bytes.starts_with(b"PK") {
        return Err(not_a_zip(bytes, format));
    }
    let mut archive = ZipArchive::new(Cursor::new(bytes))
        .map_err(|err| format!("cannot be opened as a spreadsheet: {err}"))?;
    if archive.len() > MAX_ZIP_ENTRIES {
        return Err(format!(
            "holds {} entries in its zip directory, over the bound of {MAX_ZIP_ENTRIES}",
            archive.len()
        ));
    }
    let mut total = 0u64;
    let mut shared_strings = None;
    for index in 0..archive.len() {
        let entry = archive
            .by_index_raw(index)
            .map_err(|err| format!("cannot be opened as a spreadsheet: {err}"))?;
        total = total.saturating_add(entry.size());
        let is_strings = entry
            .name()
            .is_ok_and(|n| n.to_ascii_lowercase().ends_with("sharedstrings.xml"));
        if format == Format::Xlsx && is_strings {
            shared_strings = Some(index);
        }
    }
    if total > limits.max_unzipped_bytes {
        return Err(format!(
            "unpacks to {total} bytes, over the bound of {} bytes ({}); a workbook that \
             large is not a manifest, or is a zip bomb",
            limits.max_unzipped_bytes, VARIABLES[4]
        ));
    }
    if let Some(index) = shared_strings {
        let entry = archive
            .by_index(index)
            .map_err(|err| format!("cannot be opened as a spreadsheet: {err}"))?;
        count_shared_strings(entry, limits)?;
    }
    Ok(())
}

/// What a file that is not a zip probably is, so that the message says what to do.
fn not_a_zip(bytes: &[u8], format: Format) -> String {
    let named = match format {
        Format::Xlsx => "an Excel workbook (.xlsx)",
        Format::Xlsb => "an Excel binary workbook (.xlsb)",
        Format::Ods => "an OpenDocument spreadsheet (.ods)",
        Format::Xls => "an Excel 97-2003 workbook (.xls)",
    };
    let is = if bytes.starts_with(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1") {
        "is an Excel 97-2003 workbook: rename it to .xls".to_string()
    } else if looks_like_text(bytes) {
        "is text (CSV?): rename it to .csv".to_string()
    } else if bytes.is_empty() {
        "is empty".to_string()
    } else {
        "is not a zip archive, as every such workbook is".to_string()
    };
    format!("is named like {named} but {is}")
}

/// Whether the start of a file reads as text: UTF-8 (a character cut at the end aside) without
/// NUL bytes.
pub fn looks_like_text(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(4096)];
    if head.is_empty() || head.contains(&0) {
        return false;
    }
    match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(err) => err.error_len().is_none() && err.valid_up_to() + 4 > head.len(),
    }
}

/// Count the strings of `sharedStrings.xml` (its `<si>` elements), and the count its `<sst>`
/// element declares, against the bound on cells.
fn count_shared_strings(mut entry: impl Read, limits: &Limits) -> Result<(), String> {
    let bound = limits.max_sheet_cells;
    let refuse = |what: String| format!("{what}, over the bound of {bound} ({})", VARIABLES[5]);
    let mut buffer = vec![0u8; 64 * 1024];
    // The last bytes of the previous chunk, so that a tag split between chunks is still seen.
    let mut carry: Vec<u8> = Vec::new();
    let mut strings = 0u64;
    loop {
        let n = entry
            .read(&mut buffer)
            .map_err(|err| format!("cannot be read as a spreadsheet: {err}"))?;
        if n == 0 {
            break;
        }
        let mut window = std::mem::take(&mut carry);
        let carried = window.len();
        window.extend_from_slice(&buffer[..n]);
        if let Some(declared) = declared_count(&window)
            && declared > bound
        {
            return Err(refuse(format!("declares {declared} shared strings")));
        }
        // Count "si" element starts that begin in this chunk (not in the carried bytes).
        for i in 1..window.len().saturating_sub(2) {
            if window[i] == b's'
                && window[i + 1] == b'i'
                && matches!(window[i + 2], b'>' | b' ' | b'/' | b'\t' | b'\n' | b'\r')
                && i + 2 >= carried
                && opens_element(&window[..i])
            {
                strings += 1;
            }
        }
        if strings > bound {
            return Err(refuse(format!("holds at least {strings} shared strings")));
        }
        // Enough of the end to hold a start tag cut in two.
        let keep = window.len().min(4096);
        carry = window[window.len() - keep..].to_vec();
    }
    Ok(())
}

/// Whether the bytes end with the start of an element's name: `<` or `<prefix:` (not `</`).
fn opens_element(before: &[u8]) -> bool {
    match before.last() {
        Some(b'<') => true,
        Some(b':') => {
            let prefix = before[..before.len() - 1]
                .iter()
                .rev()
                .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_' || **b == b'-')
                .count();
            let at = before.len() - 1 - prefix;
            prefix > 0 && at > 0 && before[at - 1] == b'<'
        }
        _ => false,
    }
}

/// `uniqueCount` (or `count`) of the `<sst>` start tag, when the bytes hold the whole tag: the
/// larger of the two, as calamine reserves room for one of them.
fn declared_count(bytes: &[u8]) -> Option<u64> {
    let text = String::from_utf8_lossy(bytes);
    // Every tag named sst counts: the reader takes the first that is not self-closing.
    text.match_indices("sst")
        .map(|(i, _)| i)
        .filter(|&i| {
            let before = text[..i].chars().next_back();
            let after = text[i + 3..].chars().next();
            matches!(before, Some('<' | ':'))
                && after.is_some_and(|c| c.is_whitespace() || c == '>' || c == '/')
        })
        .filter_map(|start| {
            let tag = &text[start..start + text[start..].find('>')?];
            ["uniqueCount", "count"]
                .iter()
                .filter_map(|name| attribute_number(tag, name))
                .max()
        })
        .max()
}

/// The number an attribute holds (`name = "123"`, quotes of either kind, spaces allowed); a number
/// too long for u64 is as far beyond any bound as one can be.
fn attribute_number(tag: &str, name: &str) -> Option<u64> {
    let mut rest = tag;
    while let Some(at) = rest.find(name) {
        let before_ok = rest[..at].ends_with(|c: char| c.is_whitespace());
        let after = rest[at + name.len()..].trim_start();
        if before_ok && let Some(value) = after.strip_prefix('=') {
            let value = value
                .trim_start()
                .trim_start_matches(['"', '\''])
                .trim_start()
                .trim_start_matches('+');
            let digits: String = value.chars().take_while(char::is_ascii_digit).collect();
            return (!digits.is_empty()).then(|| digits.parse::<u64>().unwrap_or(u64::MAX));
        }
        rest = &rest[at + name.len()..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counted(xml: &str, bound: u64) -> Result<(), String> {
        let limits = Limits {
            max_sheet_cells: bound,
            ..Limits::default()
        };
        count_shared_strings(xml.as_bytes(), &limits)
    }

    #[test]
    fn declared_and_actual_string_counts_are_bounded() {
        let xml = r#"<?xml version="1.0"?><sst xmlns="x" count="3" uniqueCount="3"><si><t>a</t></si><si><t>b</t></si><x:si><t>c</t></x:si></sst>"#;
        assert_eq!(counted(xml, 3), Ok(()));
        assert!(
            counted(xml, 2)
                .unwrap_err()
                .contains("declares 3 shared strings")
        );
        let undeclared = xml.replace(r#" count="3" uniqueCount="3""#, "");
        assert!(
            counted(&undeclared, 2)
                .unwrap_err()
                .contains("holds at least 3 shared strings")
        );
        let bomb = r#"<sst count="4000000000" uniqueCount="4000000000"><si><t>a</t></si></sst>"#;
        let err = counted(bomb, 2_000_000).unwrap_err();
        assert!(
            err.contains("declares 4000000000 shared strings, over the bound of 2000000 (KIRIM_XRAY_MAX_SHEET_CELLS)"),
            "{err}"
        );
        let huge = r#"<sst uniqueCount="99999999999999999999999"></sst>"#;
        assert!(counted(huge, 10).is_err());
        // However the tag is written.
        for tag in [
            "<sst\n  uniqueCount = '4000000000'>",
            "<x:sst count=\"1\" uniqueCount=\"+4000000000\">",
            "<sst/><sst uniqueCount=\"4000000000\">",
        ] {
            assert!(counted(tag, 10).is_err(), "{tag}");
        }
        assert_eq!(
            counted("<sst uniqueCount=\"3\"><si>a</si></sst>", 10),
            Ok(())
        );
        // Far into the part, past the first chunk read.
        let late = format!(
            "<sst count=\"1\"/><!--{}--><sst uniqueCount=\"4000000000\">",
            "x".repeat(100_000)
        );
        assert!(counted(&late, 10).is_err());
    }

    #[test]
    fn text_is_told_from_binary() {
        assert!(looks_like_text(b"nomorAju,nomorBlAwb\n"));
        assert!(looks_like_text("caf\u{e9}".as_bytes()));
        assert!(!looks_like_text(b"\0\0\0"));
        assert!(!looks_like_text(b"\xff\xfe\x00"));
    }

    #[test]
    fn a_csv_named_xlsx_is_named_as_text() {
        let err = check(b"nomorAju,nomorBlAwb\n", Format::Xlsx, &Limits::default()).unwrap_err();
        assert_eq!(
            err,
            "is named like an Excel workbook (.xlsx) but is text (CSV?): rename it to .csv"
        );
    }
}
