//! The compact rows read back by a decoder written from the format's description (as `find.js`
//! reads them): every field of every row and photo comes back exactly, whatever it holds.

use proptest::prelude::*;

use super::*;
use crate::model::{ImageResult, RowFields, RowStatus};
use crate::report::journal::tests::sample;

/// One row as the block gives it back: the row fields in [`ROW`] order (templates applied) and,
/// per photo, its sha256 and its fields in [`PHOTO`] order.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Decoded {
    pub row: usize,
    pub fields: Vec<String>,
    pub photos: Vec<(String, Vec<String>)>,
}

fn digit(c: char) -> usize {
    DIGITS
        .iter()
        .position(|d| *d as char == c)
        .unwrap_or_else(|| panic!("{c:?} is not a digit"))
}

fn unescape(token: &str) -> String {
    let mut out = String::new();
    let mut chars = token.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next().expect("an escape is complete") {
            't' => out.push('\t'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            'u' => {
                let hex: String = chars.by_ref().take(4).collect();
                let n = u32::from_str_radix(&hex, 16).unwrap();
                out.push(char::from_u32(n).unwrap());
            }
            other => out.push(other),
        }
    }
    out
}

/// The `t` token after `prev`, in UTF-16 units as a browser counts them.
fn text(prev: &str, token: &str) -> String {
    let mut t = token.chars();
    let p = digit(t.next().unwrap());
    let s = digit(t.next().unwrap());
    let prev: Vec<u16> = prev.encode_utf16().collect();
    let mut v: Vec<u16> = prev[..p].to_vec();
    v.extend(unescape(t.as_str()).encode_utf16());
    v.extend(&prev[prev.len() - s..]);
    String::from_utf16(&v).expect("never splits a character")
}

fn untemplate(t: &str, bl: &str) -> String {
    let mut out = String::new();
    let mut chars = t.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('b') => out.push_str(bl),
            other => panic!("% followed by {other:?}"),
        }
    }
    out
}

fn hex_of(token: &str) -> String {
    if let Some(raw) = token.strip_prefix('!') {
        return unescape(raw);
    }
    const B64: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bits: Vec<u8> = token.chars().map(|c| B64.find(c).unwrap() as u8).collect();
    assert_eq!(bits.len(), 43, "{token}");
    let mut bytes = Vec::new();
    let mut acc = 0u32;
    let mut n = 0;
    for b in bits {
        acc = acc << 6 | u32::from(b);
        n += 6;
        if n >= 8 {
            n -= 8;
            bytes.push((acc >> n) as u8);
            acc &= (1 << n) - 1;
        }
    }
    hex::encode(bytes)
}

fn decode_field(codec: Codec, prev: &str, token: &str) -> String {
    match codec {
        Codec::Raw | Codec::RowNumber => unescape(token),
        Codec::Text | Codec::Template => text(prev, token),
    }
}

/// Every row of a block, header line first.
pub(crate) fn decode(block: &str) -> Vec<Decoded> {
    let mut lines = block.split('\n');
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    assert_eq!(header[0], VERSION);
    let rows: usize = header[1].parse().unwrap();
    let letters = |codecs: &[Codec]| codecs.iter().map(|c| c.letter()).collect::<String>();
    assert_eq!(header[3], letters(&ROW));
    assert_eq!(header[4], letters(&PHOTO));
    let mut prev_row = 1;
    let mut row_t: Vec<String> = vec![String::new(); ROW.len()];
    let mut photo_t: Vec<Vec<String>> = Vec::new();
    let mut out = Vec::new();
    let mut photo_total = 0;
    for _ in 0..rows {
        let line = lines.next().expect("a line per row");
        let mut tokens = line.split('\t');
        let mask: Vec<usize> = tokens.next().unwrap().chars().map(digit).collect();
        let bit = |i: usize| mask.get(i / 6).is_some_and(|d| d >> (i % 6) & 1 == 1);
        let row = if bit(0) {
            usize::from_str_radix(tokens.next().unwrap(), 36).unwrap()
        } else {
            prev_row + 1
        };
        prev_row = row;
        for (i, codec) in ROW.iter().enumerate().skip(1) {
            if bit(i) {
                row_t[i] = decode_field(*codec, &row_t[i], tokens.next().unwrap());
            }
        }
        let bl = row_t[BL].clone();
        let apply = |codec: &Codec, t: &String| match codec {
            Codec::Template => untemplate(t, &bl),
            _ => t.clone(),
        };
        let mut fields: Vec<String> = ROW.iter().zip(&row_t).map(|(c, t)| apply(c, t)).collect();
        fields[0] = base36(row as u64);
        let count = usize::from_str_radix(&row_t[PHOTO_COUNT], 36).unwrap_or(0);
        let mut photos = Vec::new();
        for j in 0..count {
            if photo_t.len() <= j {
                photo_t.push(vec![String::new(); PHOTO.len()]);
            }
            let sha = hex_of(tokens.next().unwrap());
            for (k, codec) in PHOTO.iter().enumerate() {
                if bit(ROW.len() + j * PHOTO.len() + k) {
                    photo_t[j][k] = decode_field(*codec, &photo_t[j][k], tokens.next().unwrap());
                }
            }
            let values = PHOTO.iter().zip(&photo_t[j]).map(|(c, t)| apply(c, t));
            photos.push((sha, values.collect()));
        }
        photo_total += count;
        assert_eq!(tokens.next(), None, "no token left on {line:?}");
        out.push(Decoded {
            row,
            fields,
            photos,
        });
    }
    assert_eq!(header[2], photo_total.to_string());
    assert_eq!(lines.next(), Some(""), "the block ends with its last line");
    out
}

/// What decoding must give for `r`.
pub(crate) fn expected(r: &RowResult) -> Decoded {
    let photos = r
        .images
        .iter()
        .map(|i| {
            let fields = vec![
                base36(i.bytes),
                time(i.sent_at),
                i.server_waktu_rekam.clone().unwrap_or_default(),
                i.file.clone(),
                i.content_type.clone(),
                i.sent_in.as_str().to_string(),
                match i.on_server {
                    Some(true) => "y",
                    Some(false) => "n",
                    None => "-",
                }
                .to_string(),
            ];
            (i.sha256.clone(), fields)
        })
        .collect();
    Decoded {
        row: r.row,
        fields: row_values(r).to_vec(),
        photos,
    }
}

pub(crate) fn block(rows: &[RowResult]) -> String {
    let photos = rows.iter().map(|r| r.images.len()).sum();
    let mut out = header(rows.len(), photos);
    let mut e = Encoder::new();
    for r in rows {
        e.encode(r, &mut out);
    }
    out
}

fn digest_of(n: usize) -> String {
    hex::encode(sha2::Sha256::digest(n.to_le_bytes()))
}

/// A row as a fast run records it: the BL/AWB inside nomorAju, the folder and the file names.
fn typical(row: usize) -> RowResult {
    let mut r = sample(row);
    let bl = format!("CNBENCH{row:06}");
    r.status = RowStatus::Match;
    r.fields = RowFields {
        nomor_aju: format!("0123456789012345{row:06}20261120{bl}CN1"),
        nomor_bl_awb: bl.clone(),
        tanggal_bl_awb: "2026-11-20".into(),
        kode_kantor: "040300".into(),
        folder: format!("images/{bl}"),
    };
    r.message = "2 photos sent in 1 request".into();
    r.missing_on_server.clear();
    r.images = (1..=2)
        .map(|k| ImageResult {
            file: format!("{bl}-{k}.jpg"),
            bytes: 40_000 + (row * 7919 + k * 104_729) as u64 % 60_000,
            sha256: digest_of(row * 2 + k),
            ..sample(row).images[0].clone()
        })
        .collect();
    r
}

use sha2::Digest as _;

#[test]
fn typical_rows_read_back_and_cost_little_beyond_their_digests() {
    let rows: Vec<RowResult> = (2..2_002).map(typical).collect();
    let text = block(&rows);
    let decoded = decode(&text);
    let want: Vec<Decoded> = rows.iter().map(expected).collect();
    assert_eq!(decoded, want);
    assert_eq!(decoded[7].fields[2], rows[7].fields.nomor_aju);
    assert_eq!(decoded[7].photos[1].0, rows[7].images[1].sha256);
    // Two digests are 86 characters of base64; everything else of a row is a few more.
    let per_row = text.len() / rows.len();
    assert!(per_row < 120, "{per_row} bytes per row");
}

#[test]
fn nothing_can_close_the_element_or_be_rewritten_by_the_parser() {
    let mut r = typical(2);
    r.fields.nomor_aju = "</script><script>alert(1)</script>".into();
    r.fields.nomor_bl_awb = "<!--".into();
    r.message = "a\r\nb\0c\u{1b}[31m\u{85}\\t%b%%".into();
    r.images[0].file = "</SCRIPT >\t.jpg".into();
    r.images[0].sha256 = "<not a digest>".into();
    let text = block(&[r.clone(), typical(3)]);
    for banned in ['<', '\r', '\0', '\u{1b}', '\u{85}'] {
        assert!(!text.contains(banned), "{banned:?} in {text:?}");
    }
    assert_eq!(text.lines().count(), 3, "a line per row, after the header");
    assert_eq!(decode(&text), vec![expected(&r), expected(&typical(3))]);
}

#[test]
fn rows_out_of_sequence_and_varying_photo_counts_read_back() {
    let mut rows = vec![typical(5), typical(6), typical(9), typical(2)];
    rows[1].images.truncate(1);
    rows[2].images.push(typical(40).images[0].clone());
    rows[3].images.clear();
    rows[3].server_count = None;
    rows[3].images = typical(7).images;
    rows[3].images[0].on_server = None;
    let decoded = decode(&block(&rows));
    assert_eq!(decoded, rows.iter().map(expected).collect::<Vec<_>>());
    assert_eq!(
        decoded.iter().map(|d| d.row).collect::<Vec<_>>(),
        [5, 6, 9, 2]
    );
}

#[test]
fn base64_and_base36_match_their_definitions() {
    assert_eq!(base64(b"", true), "");
    assert_eq!(base64(b"f", true), "Zg==");
    assert_eq!(base64(b"fo", true), "Zm8=");
    assert_eq!(base64(b"foo", true), "Zm9v");
    assert_eq!(base64(b"foob", false), "Zm9vYg");
    assert_eq!(base36(0), "0");
    assert_eq!(base36(35), "z");
    assert_eq!(base36(123_456), "2n9c");
}

fn any_text() -> impl Strategy<Value = String> {
    // Characters that stress the format: its separators and escapes, template markers,
    // characters of two UTF-16 units, and the BL/AWB of the row itself.
    prop::collection::vec(
        prop_oneof![
            Just("\t".to_string()),
            Just("\n".to_string()),
            Just("\\".to_string()),
            Just("%".to_string()),
            Just("%b".to_string()),
            Just("<".to_string()),
            Just("\r".to_string()),
            Just("\0".to_string()),
            Just("😀".to_string()),
            Just("é".to_string()),
            Just("CNX1".to_string()),
            "[a-c0-2 ]{0,3}",
        ],
        0..6,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #[test]
    fn any_values_read_back_exactly(
        values in prop::collection::vec((any_text(), any_text(), any_text(), any_text()), 1..6),
        long in "[a-z]{60,70}",
    ) {
        let rows: Vec<RowResult> = values
            .iter()
            .enumerate()
            .map(|(i, (aju, bl, file, message))| {
                let mut r = typical(i + 2);
                r.fields.nomor_aju = format!("{aju}{long}{i}");
                r.fields.nomor_bl_awb = bl.clone();
                r.fields.folder = format!("{long}{bl}{aju}");
                r.message = message.clone();
                r.missing_on_server = vec![file.clone(), aju.clone()];
                r.images[0].file = file.clone();
                r.images[1].file = format!("{long}{file}{long}");
                r.images[1].server_waktu_rekam = Some(message.clone());
                r
            })
            .collect();
        let decoded = decode(&block(&rows));
        prop_assert_eq!(decoded, rows.iter().map(expected).collect::<Vec<_>>());
    }
}
