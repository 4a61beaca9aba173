//! `kirim-xray verify RUN_DIR`: whether a run folder is as its run left it. The outputs are
//! checked against run.sha256 (and results.csv, images.csv, journal.jsonl against the digests in
//! summary.json too, so that rewriting run.sha256 alone hides nothing); every photo the run sent,
//! or saw on the server, is hashed again and compared with the sha256 the journal recorded; with
//! `--server`, customs is asked what it holds now (see `verify_server`). Nothing is written.
//!
//! Exit 0 when everything matches, 1 when something differs (each difference named), 2 when the
//! folder is not a run folder, was never sealed or cannot be read, 3 when `--server` cannot use
//! the gateway.

use crate::report::journal::LineReader;
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::earlier;
use crate::cli::VerifyArgs;
use crate::exit::Exit;
use crate::model::{RowResult, SentIn};
use crate::report::seal::{self, RUN_SHA256};
use crate::report::{SUMMARY_JSON, Summary};

pub use super::verify_server::Finding;
use super::verify_server::ServerChecker;

/// Rows read from the journal and checked at a time (their photos hashed in parallel).
const ROWS_AT_A_TIME: usize = 1_000;

/// A check that could not be made: the folder cannot be verified (exit 2).
struct Unreadable(String);

pub fn verify(args: VerifyArgs) -> Exit {
    crate::logging::init("warn", false);
    let (run_dir, summary) = match earlier::open_run_dir(&args.run_dir) {
        Ok(x) => x,
        Err(e) => {
            crate::eprintln_escaped!("kirim-xray verify: {e}");
            return Exit::Usage;
        }
    };
    crate::println_escaped!("run folder  {}", run_dir.display());
    let files = match check_files(&run_dir, &summary) {
        Ok(f) => f,
        Err(Unreadable(why)) => {
            crate::eprintln_escaped!("kirim-xray verify: {why}");
            return Exit::Usage;
        }
    };
    print_findings("file", &files.findings);
    let journal = match earlier::journal_by_row(&run_dir) {
        Ok(j) => j,
        Err(e) => {
            crate::eprintln_escaped!("kirim-xray verify: {e}");
            return Exit::Usage;
        }
    };
    if let Some(note) = &journal.skipped {
        crate::println_escaped!("note        {note}");
    }
    let root = args
        .images_root
        .clone()
        .unwrap_or_else(|| images_root(&summary));
    let mut server = args.server.then(|| ServerChecker::connect(&args.api));
    let checker = server.as_mut().and_then(|s| s.as_mut().ok());
    let (photos_checked, photos) = match check_rows(&run_dir, &journal, &root, checker) {
        Ok(x) => x,
        Err(why) => {
            crate::eprintln_escaped!("kirim-xray verify: {why}");
            return Exit::Usage;
        }
    };
    print_findings("photo", &photos);
    let mut differ = files.findings.len() + photos.len();
    let mut exit = Exit::Ok;
    match server.map(|s| s.and_then(ServerChecker::finish)) {
        None => {}
        Some(Ok(server)) => {
            print_findings("server", &server.findings);
            differ += server.findings.len();
            crate::println_escaped!("server      {} documents asked with get", server.asked);
        }
        Some(Err(e)) => {
            crate::eprintln_escaped!("kirim-xray verify: {}", e.message);
            exit = e.exit;
        }
    }
    crate::println_escaped!(
        "checked     {} files, {photos_checked} photos",
        files.checked
    );
    if differ == 0 && exit == Exit::Ok {
        println!("verdict     as the run left it");
        return Exit::Ok;
    }
    if differ > 0 {
        crate::println_escaped!(
            "verdict     {differ} difference{} from what the run left",
            if differ == 1 { "" } else { "s" }
        );
    }
    if exit == Exit::Ok {
        Exit::RowsNeedAttention
    } else {
        exit
    }
}

/// Every row of the journal, a slice at a time so that memory does not grow with the run: its
/// photos hashed again, and (`server`) customs asked about its document. How many photos were
/// checked and those that differ; or why the journal could not be read.
fn check_rows(
    run_dir: &Path,
    journal: &earlier::JournalRows,
    root: &Path,
    mut server: Option<&mut ServerChecker>,
) -> Result<(usize, Vec<Finding>), String> {
    let mut lines = LineReader::new(&run_dir.join(crate::report::JOURNAL_FILE));
    let (mut checked, mut findings) = (0, Vec::new());
    for slice in journal.index.entries.chunks(ROWS_AT_A_TIME) {
        let rows: Vec<RowResult> = slice
            .iter()
            .map(|e| lines.row(e.at))
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?;
        let (n, found) = check_photos(root, &rows);
        checked += n;
        findings.extend(found);
        if let Some(checker) = server.as_deref_mut() {
            checker.check(&rows);
        }
    }
    Ok((checked, findings))
}

fn print_findings(kind: &str, findings: &[Finding]) {
    for f in findings {
        crate::println_escaped!("DIFFERS     {kind} {}: {}", f.what, f.why);
    }
}

/// The outputs checked: how many files, and what differs.
struct Files {
    checked: usize,
    findings: Vec<Finding>,
}

/// The outputs against run.sha256, then results.csv, images.csv and journal.jsonl against
/// summary.json. A file is named once, with the first reason found.
fn check_files(run_dir: &Path, summary: &Summary) -> Result<Files, Unreadable> {
    let sealed = read_seal(run_dir, summary)?;
    let mut check = Check {
        run_dir,
        differ: BTreeMap::new(),
        now: BTreeMap::new(),
    };
    check.against_seal(sealed.as_deref())?;
    check.against_summary(summary)?;
    Ok(Files {
        checked: check.now.len(),
        findings: check
            .differ
            .into_iter()
            .map(|(what, why)| Finding::new(what, why))
            .collect(),
    })
}

/// run.sha256 as text, `None` when it is gone; `Err` when there is nothing to verify against.
fn read_seal(run_dir: &Path, summary: &Summary) -> Result<Option<String>, Unreadable> {
    let seal_path = run_dir.join(RUN_SHA256);
    let sealed = match std::fs::read_to_string(&seal_path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(Unreadable(format!(
                "cannot read {}: {e}",
                seal_path.display()
            )));
        }
    };
    if sealed.is_none() && summary.sha256.is_empty() {
        return Err(Unreadable(format!(
            "{}: no {RUN_SHA256} and no digests in {SUMMARY_JSON}: the run did not finish, or \
             was written before run folders were sealed; nothing to verify against",
            run_dir.display()
        )));
    }
    Ok(sealed)
}

/// The check of a run folder's files as it goes.
struct Check<'a> {
    run_dir: &'a Path,
    /// What differs (a file, a line or a field), with the first reason found.
    differ: BTreeMap<String, String>,
    /// The digests of the files read so far (`None`: the file is gone), each file read once.
    now: BTreeMap<String, Option<String>>,
}

impl Check<'_> {
    /// The sha256 of the file `name` of the folder now, `None` when it is gone.
    fn digest_now(&mut self, name: &str) -> Result<Option<String>, Unreadable> {
        if let Some(d) = self.now.get(name) {
            return Ok(d.clone());
        }
        let path = self.run_dir.join(name);
        let d = match seal::sha256_file(&path) {
            Ok(d) => Some(d),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(Unreadable(format!("cannot read {}: {e}", path.display()))),
        };
        self.now.insert(name.to_string(), d.clone());
        Ok(d)
    }

    /// The file `name` against the digest `source` gives for it.
    fn compare(&mut self, name: &str, expected: &str, source: &str) -> Result<(), Unreadable> {
        let why = match self.digest_now(name)? {
            None => Some(format!("gone (listed in {source})")),
            Some(d) if d != expected => {
                Some(format!("sha256 is now {d}, {source} says {expected}"))
            }
            Some(_) => None,
        };
        if let Some(why) = why {
            self.differ.entry(name.to_string()).or_insert(why);
        }
        Ok(())
    }

    /// Every line of run.sha256, and the sealed files it does not list.
    fn against_seal(&mut self, sealed: Option<&str>) -> Result<(), Unreadable> {
        let Some(text) = sealed else {
            self.differ.insert(
                RUN_SHA256.into(),
                format!("gone, while {SUMMARY_JSON} holds digests: the run sealed this folder"),
            );
            return Ok(());
        };
        let (lines, bad) = seal::parse_run_sha256(text);
        for n in bad {
            self.differ.insert(
                format!("{RUN_SHA256} line {n}"),
                "not a sha256 and a file name of this folder".into(),
            );
        }
        for line in &lines {
            self.compare(&line.name, &line.sha256, RUN_SHA256)?;
        }
        for name in seal::SEALED {
            if !lines.iter().any(|l| l.name == name) && self.run_dir.join(name).exists() {
                self.differ
                    .entry(name.to_string())
                    .or_insert_with(|| format!("not listed in {RUN_SHA256}"));
            }
        }
        Ok(())
    }

    /// The digests summary.json holds.
    fn against_summary(&mut self, summary: &Summary) -> Result<(), Unreadable> {
        for (name, expected) in &summary.sha256 {
            if !seal::IN_SUMMARY.contains(&name.as_str()) {
                self.differ.insert(
                    format!("{SUMMARY_JSON} sha256.{name}"),
                    "not a file a run records".into(),
                );
                continue;
            }
            self.compare(name, expected, SUMMARY_JSON)?;
        }
        Ok(())
    }
}

/// The folder the run's photo folders are relative to: its `--images-root`, else its manifest's
/// folder (as `run` resolves it).
fn images_root(summary: &Summary) -> PathBuf {
    let run = &summary.run;
    match &run.settings.images_root {
        Some(root) => root.clone(),
        None => match run.manifest.path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        },
    }
}

/// Whether the photo reached customs as far as the run knows: it sent it, or the final get
/// listed it. Those are the photos whose digest is evidence.
fn is_evidence(sent_in: SentIn, on_server: Option<bool>) -> bool {
    sent_in != SentIn::None || on_server == Some(true)
}

/// Hash again every photo the run sent or saw on the server; returns how many were checked and
/// those that differ from the recorded sha256 or are gone.
fn check_photos(root: &Path, rows: &[RowResult]) -> (usize, Vec<Finding>) {
    let photos: Vec<(&RowResult, &crate::model::ImageResult)> = rows
        .iter()
        .flat_map(|r| r.images.iter().map(move |i| (r, i)))
        .filter(|(_, i)| is_evidence(i.sent_in, i.on_server))
        .collect();
    let findings: Vec<Option<Finding>> = photos
        .par_iter()
        .map(|(r, i)| {
            let path = root.join(&r.fields.folder).join(&i.file);
            let what = format!(
                "row {} {} {}",
                r.row,
                r.fields.nomor_aju,
                Path::new(&r.fields.folder).join(&i.file).display()
            );
            let how = match i.sent_in {
                SentIn::None => "listed by customs".to_string(),
                sent => format!("sent in {}", sent.as_str()),
            };
            match seal::sha256_file(&path) {
                Ok(d) if d == i.sha256 => None,
                Ok(d) => Some(Finding::new(
                    what,
                    format!("sha256 is now {d}, the run recorded {} ({how})", i.sha256),
                )),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Some(Finding::new(
                    what,
                    format!("gone from {} ({how})", path.display()),
                )),
                Err(e) => Some(Finding::new(
                    what,
                    format!("cannot be read at {}: {e} ({how})", path.display()),
                )),
            }
        })
        .collect();
    (photos.len(), findings.into_iter().flatten().collect())
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;
