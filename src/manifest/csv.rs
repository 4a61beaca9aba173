//! CSV manifests. Spreadsheet programs write CSV in many dialects: comma, semicolon (Indonesian and
//! other European locales) or tab, with or without a UTF-8 byte-order mark, CRLF line ends, quoted
//! fields. The delimiter is detected from the header line; anything that is not UTF-8 is refused
//! with the line to look at, rather than guessed at (a wrong guess would change a value).
//!
//! The fields are split here rather than by a lenient parser, so that a broken structure is named
//! as such and never turns into a changed value: a quote that is never closed, a record with more
//! or fewer fields than the header (often a separator other than the header's), or a quoted value
//! followed by more text (`"CNTEST"XRAY1`, kept whole so that validation refuses its quotes).

use super::header::TableRows;
use super::limits::{self, Limits};
use super::{Cell, RawRow};

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

const SAVE_AS_UTF8: &str = "save it as UTF-8: in Excel \"Save As\" > \"CSV UTF-8 (Comma delimited)\"; \
     in LibreOffice \"Save As\" > Text CSV with the character set \"Unicode (UTF-8)\"";

/// Structure problems listed in one message; the rest are counted.
const LISTED_PROBLEMS: usize = 5;

/// Parse a whole CSV file into raw rows; the error explains what is wrong with the file.
#[cfg(test)]
pub fn parse(bytes: &[u8], limits: &Limits) -> Result<Vec<RawRow>, String> {
    let mut rows = Vec::new();
    parse_each(bytes, limits, &mut |r| rows.push(r))?;
    Ok(rows)
}

/// Parse a whole CSV file, giving each data row to `each` as it is read; returns how many there
/// were. The error explains what is wrong with the file. A structure problem is reported only
/// once the whole file is read, so `each` may have seen rows of a file that then fails: the first
/// walk of a manifest (`read`) checks the file before any row is used.
pub fn parse_each(
    bytes: &[u8],
    limits: &Limits,
    each: &mut dyn FnMut(RawRow),
) -> Result<usize, String> {
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
    let mut records = Records {
        text,
        pos: 0,
        line: 1,
        delimiter,
        max_fields: limits.max_columns,
    };
    let mut table = TableRows::new(limits, each);
    let mut header_fields = None;
    let mut problems = Vec::new();
    let mut problem_count = 0usize;
    // A quoted field may span lines; a spreadsheet still shows such a record as one row, so the
    // row number is the record's line minus the line breaks inside earlier records.
    let mut breaks_inside_records = 0usize;
    while let Some(record) = records.next_record()? {
        let row = record.line - breaks_inside_records;
        breaks_inside_records += record.breaks;
        if record.fields.iter().all(|f| f.trim().is_empty()) {
            continue; // a blank line, or one of delimiters only
        }
        match header_fields {
            None => {
                let named = record
                    .fields
                    .iter()
                    .rposition(|f| !f.trim().is_empty())
                    .map_or(0, |i| i + 1);
                header_fields = Some((record.fields.len(), named));
            }
            Some(expected) => {
                let problem = swallow_problem(&record, expected.1)
                    .or_else(|| count_problem(&record, expected, delimiter));
                if let Some(problem) = problem {
                    problem_count += 1;
                    if problems.len() < LISTED_PROBLEMS {
                        problems.push(problem);
                    }
                    continue;
                }
            }
        }
        table.push(
            row,
            || record.fields.iter().map(|f| f.to_string()).collect(),
            |index| text_cell(record.fields.get(index).map_or("", String::as_str)),
        )?;
    }
    if !problems.is_empty() {
        let more = problem_count - problems.len();
        let mut message = format!("is not a well-formed table: {}", problems.join("; "));
        if more > 0 {
            message.push_str(&format!("; and {more} more such line{}", plural(more)));
        }
        message.push_str(
            " (nothing was read from it; fix the lines named, or export the sheet again)",
        );
        return Err(message);
    }
    table.finish()
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// What is wrong with a record that does not have the header's number of fields (`expected`:
/// the header's fields, and how many of them up to the last one named). Missing or extra fields
/// past the named columns that are empty (trailing delimiters) shift nothing and are allowed.
fn count_problem(record: &Record, expected: (usize, usize), delimiter: u8) -> Option<String> {
    let (fields, named) = expected;
    let found = record.fields.len();
    if found == fields
        || (found >= named
            && record.fields[found.min(fields)..]
                .iter()
                .all(|f| f.trim().is_empty()))
    {
        return None;
    }
    let mut problem = format!(
        "line {} has {found} field{} where the header has {fields}",
        record.line,
        plural(found)
    );
    // Another separator, used as often as the header's would be, is the likely reason.
    if let Some(other) = [b',', b';', b'\t']
        .into_iter()
        .filter(|d| *d != delimiter)
        .find(|d| {
            record
                .unquoted
                .iter()
                .any(|(c, n)| c == d && *n + 1 >= named)
        })
    {
        problem.push_str(&format!(
            ", and is separated by {} rather than the header's {}",
            delimiter_name(other),
            delimiter_name(delimiter)
        ));
    } else if record.breaks > 0 {
        problem.push_str(&format!(
            ", and a quoted field in it runs over {} lines: is a quote on line {} unbalanced?",
            record.breaks + 1,
            record.line
        ));
    } else if found > fields {
        problem.push_str(" (a separator inside a value that is not quoted?)");
    }
    Some(problem)
}

/// A quoted field that holds a line with as many delimiters as a whole record: one row has
/// swallowed the next.
fn swallow_problem(record: &Record, named: usize) -> Option<String> {
    let (delimiters, line) = record.swallowed?;
    (named > 1 && delimiters + 1 >= named).then(|| {
        format!(
            "the quoted field that starts on line {} runs over {} lines, and line {line} inside \
             it reads like a whole record: is a quote on line {} unbalanced?",
            record.line,
            record.breaks + 1,
            record.line
        )
    })
}

fn delimiter_name(delimiter: u8) -> &'static str {
    match delimiter {
        b',' => "\",\" (comma)",
        b';' => "\";\" (semicolon)",
        _ => "tab",
    }
}

/// One record: the line it starts on, its fields, the line breaks inside its quoted fields, and
/// how often each other separator occurs outside quotes (to name a mixed-up separator).
struct Record {
    line: usize,
    breaks: usize,
    fields: Vec<String>,
    unquoted: Vec<(u8, usize)>,
    /// The most delimiters on one line inside a quoted field, past its first line, and where.
    swallowed: Option<(usize, usize)>,
}

/// A strict RFC 4180 reader over the text, with the detected delimiter.
struct Records<'a> {
    text: &'a str,
    pos: usize,
    line: usize,
    delimiter: u8,
    max_fields: usize,
}

impl Records<'_> {
    fn next_record(&mut self) -> Result<Option<Record>, String> {
        let bytes = self.text.as_bytes();
        if self.pos >= bytes.len() {
            return Ok(None);
        }
        let mut record = Record {
            line: self.line,
            breaks: 0,
            fields: Vec::new(),
            unquoted: vec![(b',', 0), (b';', 0), (b'\t', 0)],
            swallowed: None,
        };
        loop {
            if record.fields.len() >= self.max_fields {
                return Err(format!(
                    "line {} has more than {} fields, the bound ({})",
                    record.line,
                    self.max_fields,
                    limits::VARIABLES[3]
                ));
            }
            let field = if bytes.get(self.pos) == Some(&b'"') {
                self.quoted_field(&mut record)?
            } else {
                self.plain_field(&mut record)
            };
            record.fields.push(field);
            match bytes.get(self.pos) {
                Some(&b) if b == self.delimiter => self.pos += 1,
                _ => {
                    self.end_line();
                    return Ok(Some(record));
                }
            }
        }
    }

    /// Skip the line end after a record (LF, CRLF or a lone CR).
    fn end_line(&mut self) {
        let bytes = self.text.as_bytes();
        if bytes.get(self.pos) == Some(&b'\r') {
            self.pos += 1;
        }
        if bytes.get(self.pos) == Some(&b'\n') {
            self.pos += 1;
        }
        self.line += 1;
    }

    /// Text up to the next delimiter or line end, counting other separators on the way.
    fn plain_field(&mut self, record: &mut Record) -> String {
        let bytes = self.text.as_bytes();
        let start = self.pos;
        while let Some(&b) = bytes.get(self.pos) {
            if b == self.delimiter || b == b'\n' || b == b'\r' {
                break;
            }
            if let Some(slot) = record.unquoted.iter_mut().find(|(d, _)| *d == b) {
                slot.1 += 1;
            }
            self.pos += 1;
        }
        self.text[start..self.pos].to_string()
    }

    /// A field that opens with a quote: up to the closing quote, `""` standing for one quote.
    /// Text between the closing quote and the next delimiter is kept with the quotes as they are
    /// written, so that the value is refused rather than silently changed.
    fn quoted_field(&mut self, record: &mut Record) -> Result<String, String> {
        let bytes = self.text.as_bytes();
        let (open_line, open_pos) = (self.line, self.pos);
        self.pos += 1;
        let mut value = String::new();
        let mut from = self.pos;
        loop {
            let Some(offset) = bytes[self.pos..]
                .iter()
                .position(|b| matches!(b, b'"' | b'\n'))
            else {
                return Err(format!(
                    "has an unbalanced quote: the quoted field that starts on line {open_line} is \
                     never closed (a quote inside a value must be doubled, \"\")"
                ));
            };
            self.pos += offset;
            if bytes[self.pos] == b'\n' {
                self.line += 1;
                record.breaks += 1;
                self.pos += 1;
                continue;
            }
            if bytes.get(self.pos + 1) == Some(&b'"') {
                value.push_str(&self.text[from..=self.pos]);
                self.pos += 2;
                from = self.pos;
                continue;
            }
            value.push_str(&self.text[from..self.pos]);
            self.pos += 1;
            break;
        }
        // A whole record inside a quoted field is what an unbalanced quote makes.
        if self.line != open_line {
            let (most, at) = value
                .split('\n')
                .enumerate()
                .map(|(i, line)| {
                    let count = line.bytes().filter(|b| *b == self.delimiter).count();
                    (count, open_line + i)
                })
                .max_by_key(|(count, _)| *count)
                .unwrap_or((0, open_line));
            if record.swallowed.is_none_or(|(before, _)| most > before) {
                record.swallowed = Some((most, at));
            }
        }
        match bytes.get(self.pos) {
            None | Some(b'\r' | b'\n') => Ok(value),
            Some(&b) if b == self.delimiter => Ok(value),
            Some(_) => {
                if self.line != open_line {
                    return Err(format!(
                        "has an unbalanced quote: the quoted field that starts on line \
                         {open_line} closes on line {} and is followed by more text \
                         (a quote inside a value must be doubled, \"\")",
                        self.line
                    ));
                }
                // `"CNTEST"XRAY1`: the field as written, quotes and all.
                let _ = self.plain_field(record);
                Ok(self.text[open_pos..self.pos].to_string())
            }
        }
    }
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
#[path = "csv_tests.rs"]
mod tests;
