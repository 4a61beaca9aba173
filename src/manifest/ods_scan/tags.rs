//! Just enough XML to walk an ODS `content.xml` tag by tag without keeping it: the text between
//! tags is skipped (only whether it held anything, and how much), a tag is read whole, and a
//! tag's name, kind and the few attributes the scan needs are read from it.

use std::io::{BufRead, Read};

/// Longest tag the scan reads (a tag holds a cell's text as an attribute).
const MAX_TAG_BYTES: usize = 16 * 1024 * 1024;

/// Skip text up to and including the next `<`: whether there is one, whether the text held
/// more than whitespace, and its length. The text is never kept.
pub(super) fn skip_text(xml: &mut impl BufRead) -> Result<(bool, bool, u64), String> {
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
pub(super) fn read_tag(xml: &mut impl BufRead, tag: &mut Vec<u8>) -> Result<bool, String> {
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
pub(super) enum Kind {
    Start,
    End,
    Empty,
}

/// A tag's name, kind and raw attribute text.
pub(super) struct Tag<'a> {
    pub(super) name: &'a str,
    pub(super) kind: Kind,
    attributes: &'a str,
}

impl<'a> Tag<'a> {
    pub(super) fn parse(raw: &'a [u8]) -> Option<Tag<'a>> {
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

    pub(super) fn attribute(&self, name: &str) -> Option<String> {
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
    pub(super) fn number(&self, name: &str) -> u64 {
        match self.attribute(name) {
            None => 1,
            Some(value) => value.trim().parse::<u64>().unwrap_or(u64::MAX).max(1),
        }
    }

    pub(super) fn has_value(&self) -> bool {
        VALUE_ATTRIBUTES
            .iter()
            .chain(&["office:value-type"])
            .any(|name| self.attribute(name).is_some())
    }

    /// The length of the values the tag gives a cell (its text comes on top).
    pub(super) fn value_bytes(&self) -> u64 {
        VALUE_ATTRIBUTES
            .iter()
            .filter_map(|name| self.attribute(name))
            .map(|v| v.len() as u64)
            .sum()
    }
}
