//! Every document of audit.html as compact text for the page's search, the way report.html
//! carries its rows ([`crate::report::html::data`]): the run table once, then one line per
//! document holding only what differs from the document before, so that 100,000 documents with
//! their history and every photo's sha256 stay far under 15 MB (their JSON would be ~75 MB).
//!
//! The block sits in `<script type="text/plain" id="kx-docs">`. Lines:
//! - a header `ka1 TAB documents TAB runs`;
//! - one line per run: `run TAB command TAB started`;
//! - one line per document: a mask (6 bits a character of
//!   [`DIGITS`](crate::report::html::data::DIGITS), least significant first) saying which fields
//!   differ from the document before, then the token of each that differs.
//!   The fields, in bit order: the document's [`DOC`], then for each run that touched it (oldest
//!   first) the [`TOUCH`] fields, each followed by its photos: a sha256 token (always present),
//!   then the [`PHOTO`] fields. A touch or photo is compared with the one at the same place in
//!   the document before.
//!
//! Codecs and escapes are those of report.html's block (`r` raw, `t` text after the previous
//! value, `T` the same on a template where the document's BL/AWB is `%b`; the sha256 as 43
//! characters of base64): no `<` ever appears, so no value can close the element.

use crate::ledger::query::{Doc, Photo, Touch};
use crate::report::html::data::{base36, digest, escape_into, front, mask, template};

/// Format version, first token of the header line.
pub const VERSION: &str = "ka1";

#[derive(Clone, Copy)]
enum C {
    Raw,
    Text,
    Template,
}

/// nomorBlAwb, nomorAju, tanggalBlAwb, kodeKantor, folder, how many runs touched it.
const DOC: [C; 6] = [C::Text, C::Template, C::Text, C::Text, C::Template, C::Raw];
/// run (index in the run table, base 36), row, status, action, local, sent, on server (`-`
/// unknown), tries, requests, message, finished at, missing on server, extra on server (names
/// joined by LF), how many photos.
const TOUCH: [C; 14] = {
    use C::*;
    [
        Raw, Raw, Raw, Raw, Raw, Raw, Raw, Raw, Raw, Template, Text, Template, Template, Raw,
    ]
};
/// bytes, file, content type, sent in, sent at, on server (`y`, `n`, `-`), waktuRekam.
const PHOTO: [C; 7] = [
    C::Raw,
    C::Template,
    C::Text,
    C::Raw,
    C::Text,
    C::Raw,
    C::Text,
];

fn n36(n: i64) -> String {
    if n < 0 {
        format!("~{}", base36(n.unsigned_abs()))
    } else {
        base36(n as u64)
    }
}

/// The runs of `docs`, each once, in order of first appearance.
pub(crate) fn runs(docs: &[Doc]) -> Vec<(&str, &str, &str)> {
    let mut seen = std::collections::HashSet::new();
    let mut list = Vec::new();
    for t in docs.iter().flat_map(|d| &d.history) {
        if seen.insert(t.run.as_str()) {
            list.push((t.run.as_str(), t.command.as_str(), t.run_started.as_str()));
        }
    }
    list
}

/// The header line and the run table, with their line feeds.
pub fn head(docs: &[Doc], runs: &[(&str, &str, &str)]) -> String {
    let mut out = format!("{VERSION}\t{}\t{}\n", docs.len(), runs.len());
    for (run, command, started) in runs {
        escape_into(&mut out, run);
        out.push('\t');
        escape_into(&mut out, command);
        out.push('\t');
        escape_into(&mut out, started);
        out.push('\n');
    }
    out
}

/// Writes the documents one after the other; its state is the document before.
#[derive(Default)]
pub struct Encoder {
    runs: std::collections::HashMap<String, usize>,
    doc: [String; 6],
    touches: Vec<([String; 14], Vec<[String; 7]>)>,
    mask: Vec<bool>,
    tokens: String,
}

impl Encoder {
    pub fn new(runs: &[(&str, &str, &str)]) -> Encoder {
        Encoder {
            runs: runs
                .iter()
                .enumerate()
                .map(|(i, r)| (r.0.to_string(), i))
                .collect(),
            ..Encoder::default()
        }
    }

    /// Append the line of `d`, with its line feed, to `out`.
    pub fn encode(&mut self, d: &Doc, out: &mut String) {
        self.mask.clear();
        self.tokens.clear();
        let bl = d.nomor_bl_awb.as_str();
        let values = [
            d.nomor_bl_awb.clone(),
            d.nomor_aju.clone(),
            d.tanggal_bl_awb.clone(),
            d.kode_kantor.clone(),
            d.folder.clone(),
            base36(d.history.len() as u64),
        ];
        for (i, value) in values.into_iter().enumerate() {
            let changed = put(&mut self.tokens, &mut self.doc[i], DOC[i], value, bl);
            self.mask.push(changed);
        }
        for (j, t) in d.history.iter().enumerate() {
            if self.touches.len() <= j {
                self.touches.push(Default::default());
            }
            let values = self.touch_values(t);
            let (prev, photos) = &mut self.touches[j];
            for (i, value) in values.into_iter().enumerate() {
                let changed = put(&mut self.tokens, &mut prev[i], TOUCH[i], value, bl);
                self.mask.push(changed);
            }
            for (k, p) in t.photos.iter().enumerate() {
                if photos.len() <= k {
                    photos.push(Default::default());
                }
                self.tokens.push('\t');
                digest(&mut self.tokens, &p.sha256);
                for (i, value) in photo_values(p).into_iter().enumerate() {
                    let changed = put(&mut self.tokens, &mut photos[k][i], PHOTO[i], value, bl);
                    self.mask.push(changed);
                }
            }
        }
        mask(out, &self.mask);
        out.push_str(&self.tokens);
        out.push('\n');
    }

    fn touch_values(&self, t: &Touch) -> [String; 14] {
        [
            base36(self.runs.get(&t.run).copied().unwrap_or(0) as u64),
            n36(t.row),
            t.status.clone(),
            t.action.clone(),
            n36(t.local_count),
            n36(t.uploaded),
            t.server_count.map_or_else(|| "-".to_string(), n36),
            n36(t.attempts),
            n36(t.requests),
            t.message.clone(),
            t.finished_at.clone().unwrap_or_default(),
            t.missing_on_server.join("\n"),
            t.extra_on_server.join("\n"),
            base36(t.photos.len() as u64),
        ]
    }
}

fn photo_values(p: &Photo) -> [String; 7] {
    [
        n36(p.bytes),
        p.file.clone(),
        p.content_type.clone(),
        p.sent_in.clone(),
        p.sent_at.clone().unwrap_or_default(),
        match p.on_server {
            Some(true) => "y",
            Some(false) => "n",
            None => "-",
        }
        .to_string(),
        p.waktu_rekam.clone().unwrap_or_default(),
    ]
}

/// Compare a field with its previous value; when it differs, append its token and keep it.
fn put(tokens: &mut String, prev: &mut String, codec: C, value: String, bl: &str) -> bool {
    let value = match codec {
        C::Template => template(&value, bl),
        _ => value,
    };
    if *prev == value {
        return false;
    }
    tokens.push('\t');
    match codec {
        C::Raw => escape_into(tokens, &value),
        C::Text | C::Template => front(tokens, prev, &value),
    }
    *prev = value;
    true
}
