//! Tamper evidence of a run folder. When a run ends, summary.json records the sha256 of
//! results.csv, images.csv and journal.jsonl, and `run.sha256` lists the digests of every output
//! (summary.json included, which cannot hold its own) in `sha256sum -c` format, so that anyone
//! can check a copied folder with standard tools, and `kirim-xray verify` can say which file
//! changed since.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::{
    IMAGES_FILE, JOURNAL_FILE, REPORT_HTML, RESULTS_FILE, SUMMARY_JSON, SUMMARY_TXT,
    excel::RESULTS_XLSX,
};

pub const RUN_SHA256: &str = "run.sha256";

/// The files whose digests summary.json records.
pub const IN_SUMMARY: [&str; 3] = [RESULTS_FILE, IMAGES_FILE, JOURNAL_FILE];

/// The files run.sha256 lists, in this order, when they exist. run.log is not among them: the
/// process may still log after the seal.
pub const SEALED: [&str; 7] = [
    RESULTS_FILE,
    IMAGES_FILE,
    JOURNAL_FILE,
    SUMMARY_JSON,
    SUMMARY_TXT,
    REPORT_HTML,
    RESULTS_XLSX,
];

/// Lower-case hex sha256 of a file, read in chunks.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buffer[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Lower-case hex sha256 of `bytes`.
pub fn sha256_bytes(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// name → sha256 of those of `names` that exist in `run_dir` (a run without a journal has none).
pub fn digests(run_dir: &Path, names: &[&str]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for name in names {
        let path = run_dir.join(name);
        match sha256_file(&path) {
            Ok(d) => {
                out.insert((*name).to_string(), d);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => anyhow::bail!("cannot read {}: {e}", path.display()),
        }
    }
    Ok(out)
}

/// Write run.sha256: one `DIGEST  NAME` line per sealed file that exists, in [`SEALED`] order.
pub fn write_run_sha256(run_dir: &Path) -> anyhow::Result<()> {
    let digests = digests(run_dir, &SEALED)?;
    let mut text = String::new();
    for name in SEALED {
        if let Some(d) = digests.get(name) {
            text.push_str(&format!("{d}  {name}\n"));
        }
    }
    super::write_atomic(run_dir, RUN_SHA256, text.as_bytes())
}

/// One line of run.sha256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealLine {
    pub sha256: String,
    pub name: String,
}

/// The lines of a run.sha256, or for each line that is not `DIGEST  NAME` with a plain file name
/// of the folder, its number (1-based).
pub fn parse_run_sha256(text: &str) -> (Vec<SealLine>, Vec<usize>) {
    let mut lines = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let parsed = line.split_once(' ').and_then(|(digest, rest)| {
            // `sha256sum` writes two spaces (text mode) or ` *` (binary mode).
            let name = rest.strip_prefix(' ').or_else(|| rest.strip_prefix('*'))?;
            let plain = !name.is_empty()
                && name != "."
                && name != ".."
                && !name.contains(['/', '\\'])
                && !name.chars().any(char::is_control);
            let hex = digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit());
            (plain && hex).then(|| SealLine {
                sha256: digest.to_ascii_lowercase(),
                name: name.to_string(),
            })
        });
        match parsed {
            Some(l) => lines.push(l),
            None => bad.push(i + 1),
        }
    }
    (lines, bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_sha256_lists_what_exists_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(RESULTS_FILE), b"a\n").unwrap();
        std::fs::write(dir.path().join(SUMMARY_JSON), b"{}\n").unwrap();
        write_run_sha256(dir.path()).unwrap();
        let text = std::fs::read_to_string(dir.path().join(RUN_SHA256)).unwrap();
        let (lines, bad) = parse_run_sha256(&text);
        assert!(bad.is_empty());
        let names: Vec<&str> = lines.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, [RESULTS_FILE, SUMMARY_JSON]);
        assert_eq!(lines[0].sha256, sha256_bytes(b"a\n"));
        assert_eq!(
            lines[0].sha256,
            sha256_file(&dir.path().join(RESULTS_FILE)).unwrap()
        );
    }

    #[test]
    fn lines_that_name_another_folder_or_no_digest_are_refused() {
        let d = "0".repeat(64);
        let text = format!("{d}  results.csv\n{d}  ../x\n{d} *b.csv\nzz  a\n{d}  \n");
        let (lines, bad) = parse_run_sha256(&text);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1].name, "b.csv");
        assert_eq!(bad, [2, 4, 5]);
    }
}
