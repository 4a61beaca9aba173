//! The rows of report.html as compact text, for the page's search box: every row and every photo,
//! with its sha256, in about 130 bytes per row of two photos, so that 100,000 rows stay under
//! 15 MB. The HTML of every row would be ten times that, and a browser would not open it.
//!
//! The block sits in `<script type="text/plain" id="kx-rows">`, which a browser neither runs nor
//! shows. One line per row, in manifest order, after a header line
//! `kx1 TAB rows TAB photos TAB row-codecs TAB photo-codecs`. A line is tokens separated by TAB:
//! first a mask saying which fields differ from the row before (6 bits a character of
//! [`DIGITS`], least significant first), then the token of every field that differs, in field
//! order; after the row's fields, each photo's sha256 and then its fields that differ from the
//! photo at the same place in the row before. Codecs:
//! - `n` the row number: absent = the previous row's + 1; else base 36.
//! - `r` raw: the value itself (numbers in base 36).
//! - `t` text: two [`DIGITS`] (how many UTF-16 units of the previous value it starts with, and
//!   ends with, at most 63 each), then the part in between.
//! - `T` text as `t`, on a template: `%` written `%%`, and the row's nomorBlAwb (when it has at
//!   least 4 characters) written `%b` — so `images/CN123` or `CN123-1.jpg` cost nothing per row.
//! - the sha256: 43 characters of base64 when it is 64 lower-case hex digits (hex would be
//!   12.8 MB of the budget at 100,000 rows × 2 photos), else `!` and the text.
//!
//! In every token, `\` `TAB` `LF` `CR` are written `\\` `\t` `\n` `\r`, and `<` and every control
//! character `\uXXXX`: the block never holds a `<`, so no value can close the element, and none
//! of the characters an HTML parser rewrites (CR, NUL). `find.js` decodes exactly this.

use std::fmt::Write as _;

use crate::model::RowResult;
use crate::report::tables::time;

/// The 64 digits of masks and lengths.
pub(crate) const DIGITS: &[u8; 64] =
    b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_";
/// Format version, first token of the header line.
pub(crate) const VERSION: &str = "kx1";

/// How a field is written; the letters are the ones in the header line and in `find.js`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Codec {
    RowNumber,
    Raw,
    Text,
    Template,
}

impl Codec {
    fn letter(self) -> char {
        match self {
            Codec::RowNumber => 'n',
            Codec::Raw => 'r',
            Codec::Text => 't',
            Codec::Template => 'T',
        }
    }
}

/// Row fields, in token order: row, nomorBlAwb (before the fields whose template uses it),
/// nomorAju, status, started, finished, tanggalBlAwb, kodeKantor, folder, action, local, sent,
/// on server, attempts, requests, message, missing, extra (names joined by LF), npwpPemberitahu,
/// photos.
pub(crate) const ROW: [Codec; 20] = {
    use Codec::*;
    [
        RowNumber, Text, Template, Raw, Text, Text, Text, Text, Template, Raw, Raw, Raw, Raw, Raw,
        Raw, Template, Template, Template, Text, Raw,
    ]
};
/// Photo fields after the sha256: bytes, sent at, server waktuRekam, file, content type, sent in,
/// on server (`y`, `n`, `-` when no get answered).
pub(crate) const PHOTO: [Codec; 7] = {
    use Codec::*;
    [Raw, Text, Text, Template, Text, Raw, Raw]
};
/// Index of the photo count among the row fields: the photos follow it.
#[cfg(test)]
pub(crate) const PHOTO_COUNT: usize = 19;
const BL: usize = 1;

pub(crate) fn base36(mut n: u64) -> String {
    let mut digits = Vec::new();
    loop {
        digits.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    digits.reverse();
    String::from_utf8(digits).unwrap_or_default()
}

/// Standard base64 (RFC 4648), with or without its `=` padding.
pub(crate) fn base64(bytes: &[u8], pad: bool) -> String {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        let chars = chunk.len() + 1;
        for i in 0..4 {
            if i < chars {
                s.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else if pad {
                s.push('=');
            }
        }
    }
    s
}

/// `s` with the block's escapes (see the module's text), appended to `out`.
pub(crate) fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c == '<' || c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
}

/// The template of `value` (see `T` in the module's text).
pub(crate) fn template(value: &str, bl: &str) -> String {
    let escape = |piece: &str| piece.replace('%', "%%");
    if bl.chars().count() < 4 {
        return escape(value);
    }
    value.split(bl).map(escape).collect::<Vec<_>>().join("%b")
}

/// The `t` token of `cur` after `prev`.
pub(crate) fn front(out: &mut String, prev: &str, cur: &str) {
    let (mut p_bytes, mut p_units) = (0, 0);
    for (a, b) in prev.chars().zip(cur.chars()) {
        if a != b || p_units + a.len_utf16() > 63 {
            break;
        }
        p_bytes += a.len_utf8();
        p_units += a.len_utf16();
    }
    let (prev_rest, cur_rest) = (&prev[p_bytes..], &cur[p_bytes..]);
    let (mut s_bytes, mut s_units) = (0, 0);
    for (a, b) in prev_rest.chars().rev().zip(cur_rest.chars().rev()) {
        if a != b || s_units + a.len_utf16() > 63 {
            break;
        }
        s_bytes += a.len_utf8();
        s_units += a.len_utf16();
    }
    out.push(DIGITS[p_units] as char);
    out.push(DIGITS[s_units] as char);
    escape_into(out, &cur_rest[..cur_rest.len() - s_bytes]);
}

/// The sha256 token.
/// A line's mask: which fields differ from the line before, 6 a character of [`DIGITS`] (least
/// significant first), without the trailing characters that say "none".
pub(crate) fn mask(out: &mut String, mask: &[bool]) {
    let last = mask.iter().rposition(|b| *b).map_or(0, |i| i / 6 + 1);
    for chunk in mask.chunks(6).take(last) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0, |n, (i, b)| n | usize::from(*b) << i);
        out.push(DIGITS[n] as char);
    }
}

pub(crate) fn digest(out: &mut String, sha256: &str) {
    let is_hex = sha256.len() == 64
        && sha256
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    match hex::decode(sha256) {
        Ok(bytes) if is_hex => out.push_str(&base64(&bytes, false)),
        _ => {
            out.push('!');
            escape_into(out, sha256);
        }
    }
}

fn opt_count(n: Option<usize>) -> String {
    n.map_or_else(|| "-".to_string(), |n| base36(n as u64))
}

/// The row fields of `r` as values (templates not applied yet), in [`ROW`] order.
fn row_values(r: &RowResult) -> [String; 20] {
    let f = &r.fields;
    [
        base36(r.row as u64),
        f.nomor_bl_awb.clone(),
        f.nomor_aju.clone(),
        r.status.as_str().to_string(),
        time(r.started_at),
        time(r.finished_at),
        f.tanggal_bl_awb.clone(),
        f.kode_kantor.clone(),
        f.folder.clone(),
        r.action.clone(),
        base36(r.local_count as u64),
        base36(r.uploaded as u64),
        opt_count(r.server_count),
        base36(u64::from(r.attempts)),
        base36(u64::from(r.requests)),
        r.message.clone(),
        r.missing_on_server.join("\n"),
        r.extra_on_server.join("\n"),
        r.npwp_pemberitahu.clone().unwrap_or_default(),
        base36(r.images.len() as u64),
    ]
}

/// The header line, with its line feed.
pub(crate) fn header(rows: usize, photos: usize) -> String {
    let letters = |codecs: &[Codec]| codecs.iter().map(|c| c.letter()).collect::<String>();
    format!(
        "{VERSION}\t{rows}\t{photos}\t{}\t{}\n",
        letters(&ROW),
        letters(&PHOTO)
    )
}

/// Writes the rows one after the other. Its state is the previous row's fields and one set of
/// photo fields per photo position, so its memory does not grow with the rows.
#[derive(Default)]
pub(crate) struct Encoder {
    prev_row: usize,
    row: [String; 20],
    photos: Vec<[String; 7]>,
    mask: Vec<bool>,
    tokens: String,
}

impl Encoder {
    pub(crate) fn new() -> Encoder {
        Encoder {
            // The header is row 1, so the first data row is "the previous + 1" = 2.
            prev_row: 1,
            ..Encoder::default()
        }
    }

    /// Append the line of `r`, with its line feed, to `out`.
    pub(crate) fn encode(&mut self, r: &RowResult, out: &mut String) {
        self.mask.clear();
        self.tokens.clear();
        let values = row_values(r);
        let bl = values[BL].clone();
        let renumbered = r.row != self.prev_row + 1;
        if renumbered {
            self.tokens.push('\t');
            self.tokens.push_str(&values[0]);
        }
        self.mask.push(renumbered);
        self.prev_row = r.row;
        for (i, (codec, value)) in ROW.iter().zip(values).enumerate().skip(1) {
            let changed = self.field(i, *codec, value, &bl, None);
            self.mask.push(changed);
        }
        for (j, image) in r.images.iter().enumerate() {
            if self.photos.len() <= j {
                self.photos.push(Default::default());
            }
            self.tokens.push('\t');
            digest(&mut self.tokens, &image.sha256);
            let values = [
                base36(image.bytes),
                time(image.sent_at),
                image.server_waktu_rekam.clone().unwrap_or_default(),
                image.file.clone(),
                image.content_type.clone(),
                image.sent_in.as_str().to_string(),
                match image.on_server {
                    Some(true) => "y",
                    Some(false) => "n",
                    None => "-",
                }
                .to_string(),
            ];
            for (k, (codec, value)) in PHOTO.iter().zip(values).enumerate() {
                let changed = self.field(k, *codec, value, &bl, Some(j));
                self.mask.push(changed);
            }
        }
        mask(out, &self.mask);
        out.push_str(&self.tokens);
        out.push('\n');
    }

    /// Compare field `i` (of photo `photo`, or of the row) with its previous value; when it
    /// differs, append its token and keep it as the new previous value.
    fn field(
        &mut self,
        i: usize,
        codec: Codec,
        value: String,
        bl: &str,
        photo: Option<usize>,
    ) -> bool {
        let value = match codec {
            Codec::Template => template(&value, bl),
            _ => value,
        };
        let prev = match photo {
            Some(j) => &mut self.photos[j][i],
            None => &mut self.row[i],
        };
        if *prev == value {
            return false;
        }
        self.tokens.push('\t');
        match codec {
            Codec::Raw | Codec::RowNumber => escape_into(&mut self.tokens, &value),
            Codec::Text | Codec::Template => front(&mut self.tokens, prev, &value),
        }
        *prev = value;
        true
    }
}

#[cfg(test)]
#[path = "data_tests.rs"]
pub(super) mod tests;
