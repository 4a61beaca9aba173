//! The run folder's outputs: results.csv, images.csv, summary.json/.txt, journal.jsonl,
//! report.html, results.xlsx and run.sha256. Whole-file outputs are written to a temporary file
//! and renamed, so a reader never sees half a file. Everything is rebuilt from the row results alone, so `report` and
//! `run --resume` can regenerate a folder from its journal. The rows come one at a time from a
//! [`RowSource`] (the journal on disk, for a run), and are read once for the tables and the
//! counts, then again for report.html: nothing kept grows with the number of rows.

pub mod excel;
pub mod html;
pub mod journal;
pub mod seal;
pub mod summary;
pub mod tables;
pub mod tally;

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use tempfile::NamedTempFile;

pub use journal::{JOURNAL_FILE, Journal, JournalError};
pub use summary::{GoneDocument, ManifestInfo, RequestCounts, RunInfo, Summary, Tally};

use crate::model::RowResult;

pub const RESULTS_FILE: &str = "results.csv";
pub const IMAGES_FILE: &str = "images.csv";
pub const SUMMARY_JSON: &str = "summary.json";
pub const SUMMARY_TXT: &str = "summary.txt";
pub const REPORT_HTML: &str = "report.html";
pub const RUN_LOG: &str = "run.log";

/// Rows, one at a time.
pub type Rows<'a> = Box<dyn Iterator<Item = anyhow::Result<RowResult>> + 'a>;

/// The rows of a run in manifest order, given anew each time they are asked for.
pub trait RowSource {
    fn rows(&self) -> anyhow::Result<Rows<'_>>;
}

/// Rows held in memory (small runs, tests).
impl RowSource for Vec<RowResult> {
    fn rows(&self) -> anyhow::Result<Rows<'_>> {
        Ok(Box::new(self.iter().cloned().map(Ok)))
    }
}

/// A whole-file output being written: a temporary file in the run folder, renamed into place by
/// [`Atomic::commit`] (and removed if never committed).
struct Atomic {
    tmp: NamedTempFile,
    target: PathBuf,
}

impl Atomic {
    fn create(dir: &Path, name: &str) -> anyhow::Result<Atomic> {
        // A temporary file is private (0600) by default; outputs hold no secret and are meant
        // for auditors, so they get the same mode as journal.jsonl and run.log: 0666 less the
        // umask.
        let mut builder = tempfile::Builder::new();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(std::fs::Permissions::from_mode(0o666));
        }
        let tmp = builder
            .tempfile_in(dir)
            .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
        Ok(Atomic {
            tmp,
            target: dir.join(name),
        })
    }

    fn file(&self) -> &std::fs::File {
        self.tmp.as_file()
    }

    fn commit(self) -> anyhow::Result<()> {
        let target = self.target;
        self.tmp
            .as_file()
            .sync_all()
            .with_context(|| format!("cannot write {}", target.display()))?;
        self.tmp
            .persist(&target)
            .with_context(|| format!("cannot write {}", target.display()))?;
        Ok(())
    }
}

/// Write `bytes` to `dir/name` through a temporary file in the same folder, renamed into place.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
    write_atomic_with(dir, name, |file| Ok(file.write_all(bytes)?))
}

/// Like [`write_atomic`], for an output written piece by piece by `write`, so that it never has
/// to be whole in memory.
pub fn write_atomic_with(
    dir: &Path,
    name: &str,
    write: impl FnOnce(&mut std::fs::File) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut out = Atomic::create(dir, name)?;
    write(out.tmp.as_file_mut())
        .with_context(|| format!("cannot write {}", out.target.display()))?;
    out.commit()
}

/// (Re)write results.csv, images.csv, summary.json, summary.txt, report.html, results.xlsx and
/// run.sha256 of `run_dir` from `info` and the rows (in manifest order). Returns the summary and
/// the counts, whose `to_text` is what a command prints at the end.
///
/// The order is the seal's: summary.json records the digests of results.csv, images.csv and
/// journal.jsonl, so it is written after them; results.xlsx is read from the files written
/// before it; run.sha256, last, lists the digests of them all.
pub fn write_outputs(
    run_dir: &Path,
    info: &RunInfo,
    rows: &dyn RowSource,
) -> anyhow::Result<(Summary, Tally)> {
    let tally = write_tables(run_dir, rows)?;
    let summary = write_summaries(run_dir, info, &tally, rows)?;
    Ok((summary, tally))
}

/// results.csv and images.csv, written as the rows pass, and the counts of the rows (which
/// decide a run's exit code before its summary is written).
pub fn write_tables(run_dir: &Path, rows: &dyn RowSource) -> anyhow::Result<Tally> {
    let results = Atomic::create(run_dir, RESULTS_FILE)?;
    let images = Atomic::create(run_dir, IMAGES_FILE)?;
    let mut results_csv = csv::Writer::from_writer(BufWriter::new(results.file()));
    let mut images_csv = csv::Writer::from_writer(BufWriter::new(images.file()));
    tables::results_header(&mut results_csv)?;
    tables::images_header(&mut images_csv)?;
    let mut tally = Tally::default();
    for r in rows.rows()? {
        let r = r?;
        tally.add(&r);
        tables::result_record(&mut results_csv, &r)?;
        tables::image_records(&mut images_csv, &r)?;
    }
    for (w, name) in [(results_csv, RESULTS_FILE), (images_csv, IMAGES_FILE)] {
        w.into_inner()
            .map_err(|e| e.into_error())
            .and_then(|mut b| b.flush())
            .with_context(|| format!("cannot write {}", run_dir.join(name).display()))?;
    }
    results.commit()?;
    images.commit()?;
    Ok(tally)
}

/// summary.json (with the digests of the tables and the journal), summary.txt, report.html,
/// results.xlsx and run.sha256, once `info` is final and the rows are counted and written.
pub fn write_summaries(
    run_dir: &Path,
    info: &RunInfo,
    tally: &Tally,
    rows: &dyn RowSource,
) -> anyhow::Result<Summary> {
    let mut summary = Summary::of(info, tally);
    summary.sha256 = seal::digests(run_dir, &seal::IN_SUMMARY)?;
    write_summary_json(run_dir, &summary)?;
    write_atomic(run_dir, SUMMARY_TXT, summary.to_text(tally).as_bytes())?;
    // report.html reads the rows twice itself, one at a time.
    write_atomic_with(run_dir, REPORT_HTML, |file| {
        html::write(file, &summary, || rows.rows())
    })?;
    excel::write_results_xlsx(run_dir)?;
    seal::write_run_sha256(run_dir)?;
    Ok(summary)
}

/// summary.json alone: written when a run starts too, so that a folder whose run was killed
/// still says what it was running.
pub fn write_summary_json(run_dir: &Path, summary: &Summary) -> anyhow::Result<()> {
    let json = serde_json::to_string_pretty(summary)?;
    let mut json = crate::escape::json_controls(&json).into_owned();
    json.push('\n');
    write_atomic(run_dir, SUMMARY_JSON, json.as_bytes())
}

/// Read summary.json of a run folder back.
pub fn read_summary(run_dir: &Path) -> anyhow::Result<Summary> {
    let path = run_dir.join(SUMMARY_JSON);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{}: not a kirim-xray summary", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::journal::tests::sample;
    use crate::report::summary::tests::info;

    #[test]
    fn outputs_can_be_rebuilt_from_the_journal_alone() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path();
        let journal = Journal::create(&run.join(JOURNAL_FILE)).unwrap();
        let rows = vec![sample(2), sample(3)];
        for r in &rows {
            journal.append(r).unwrap();
        }
        let first = write_outputs(run, &info(), &rows).unwrap();
        let results = std::fs::read(run.join(RESULTS_FILE)).unwrap();
        let images = std::fs::read(run.join(IMAGES_FILE)).unwrap();

        let replayed = Journal::read(&run.join(JOURNAL_FILE)).unwrap();
        let again = write_outputs(run, &read_summary(run).unwrap().run, &replayed).unwrap();
        assert_eq!(again, first);
        assert_eq!(std::fs::read(run.join(RESULTS_FILE)).unwrap(), results);
        assert_eq!(std::fs::read(run.join(IMAGES_FILE)).unwrap(), images);
        for name in [
            SUMMARY_TXT,
            REPORT_HTML,
            excel::RESULTS_XLSX,
            seal::RUN_SHA256,
        ] {
            assert!(run.join(name).is_file(), "{name}");
        }
        let leftovers: Vec<_> = std::fs::read_dir(run)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".tmp"))
            .collect();
        assert!(
            leftovers.is_empty(),
            "no temporary files left: {leftovers:?}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn whole_file_outputs_get_the_same_mode_as_the_journal() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::create(&dir.path().join(JOURNAL_FILE)).unwrap();
        journal.append(&sample(2)).unwrap();
        write_atomic(dir.path(), RESULTS_FILE, b"row\n").unwrap();
        let mode = |name: &str| {
            std::fs::metadata(dir.path().join(name))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode(RESULTS_FILE), mode(JOURNAL_FILE));
    }
}
