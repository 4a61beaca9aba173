//! The audit in the terminal: the counts and every document not MATCH on one line each, or
//! (`--aju`) one document's full story. Every value passes through [`escape_control`].

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{Scope, history_line};
use crate::escape::escape_control;
use crate::ledger::query::{Doc, Touch};

/// The counts per latest verdict, then one line per document whose latest verdict is not MATCH.
pub fn listing(scope: &Scope, docs: &[Doc]) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for d in docs {
        *counts.entry(d.status()).or_default() += 1;
    }
    let counts: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
    let mut s = format!(
        "audit of {}: {} documents{}{}\n",
        e(&scope.title),
        docs.len(),
        if counts.is_empty() { "" } else { ": " },
        counts.join(", ")
    );
    let open: Vec<&Doc> = docs.iter().filter(|d| d.status() != "MATCH").collect();
    if !open.is_empty() {
        let _ = writeln!(s, "not MATCH ({}):", open.len());
    }
    for d in open {
        let last = d.latest();
        let _ = writeln!(
            s,
            "{:<9} {}  BL/AWB {}  {}  {}  {} run(s): {}  {}",
            d.status(),
            e(&d.nomor_aju),
            e(&d.nomor_bl_awb),
            e(&d.tanggal_bl_awb),
            e(&d.kode_kantor),
            d.history.len(),
            e(&history_line(d)),
            e(&last.message)
        );
    }
    s
}

fn touch(s: &mut String, n: usize, t: &Touch) {
    let _ = writeln!(
        s,
        "{n}. run {} ({}, started {}), row {}: {} — action {}, {} of {} photos sent, server holds {}, \
         {} tries, {} requests, finished {}",
        t.run,
        t.command,
        t.run_started,
        t.row,
        t.status,
        e(&t.action),
        t.uploaded,
        t.local_count,
        t.server_count.map_or("?".into(), |c| c.to_string()),
        t.attempts,
        t.requests,
        t.finished_at.as_deref().unwrap_or("-"),
    );
    if !t.message.is_empty() {
        let _ = writeln!(s, "   message: {}", e(&t.message));
    }
    if !t.missing_on_server.is_empty() {
        let _ = writeln!(
            s,
            "   missing on server: {}",
            e(&t.missing_on_server.join(", "))
        );
    }
    if !t.extra_on_server.is_empty() {
        let _ = writeln!(s, "   only on server: {}", e(&t.extra_on_server.join(", ")));
    }
    for p in &t.photos {
        let _ = writeln!(
            s,
            "   photo {}  {} bytes  sha256 {}  {}  sent {}{}  on server {}  waktuRekam {}",
            e(&p.file),
            p.bytes,
            e(&p.sha256),
            e(&p.content_type),
            p.sent_in,
            p.sent_at
                .as_deref()
                .map_or(String::new(), |a| format!(" at {a}")),
            match p.on_server {
                Some(true) => "yes",
                Some(false) => "no",
                None => "?",
            },
            e(p.waktu_rekam.as_deref().unwrap_or("-")),
        );
    }
}

/// One document's whole story: its fields, its latest verdict, and what every run did to it.
pub fn story(doc: &Doc) -> String {
    let last = doc.latest();
    let mut s = format!(
        "nomorAju {}\nBL/AWB {}  tanggalBlAwb {}  kodeKantor {}  folder {}\n\
         latest verdict: {} (run {}, {})\nhistory ({} run(s), oldest first):\n",
        e(&doc.nomor_aju),
        e(&doc.nomor_bl_awb),
        e(&doc.tanggal_bl_awb),
        e(&doc.kode_kantor),
        e(&doc.folder),
        last.status,
        last.run,
        last.command,
        doc.history.len()
    );
    for (i, t) in doc.history.iter().enumerate() {
        touch(&mut s, i + 1, t);
    }
    s
}

/// A value from the manifest, a file name or the server, with its control characters visible.
fn e(s: &str) -> std::borrow::Cow<'_, str> {
    escape_control(s)
}
