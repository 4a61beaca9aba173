//! An earlier run read back from its folder, for `run --resume`, `retry` and `report`: its
//! summary.json, its journal, and its rows found again in the manifest.
//!
//! While the manifest is the very file the run read (same sha256), a row is its row number. Once
//! it changed, rows are found by document (nomorAju), never by row number: a row inserted above a
//! FAILED row must not make `retry` send the document that now sits at the old number, and a
//! document that left the manifest is reported, not replaced by whatever row took its place.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use crate::manifest::{Column, Manifest};
use crate::model::short_digest;
use crate::report::journal::{IndexEntry, JournalIndex, LineReader};
use crate::report::{self, GoneDocument, Journal, JournalError};

/// A run folder given on the command line, resolved (`runs/latest` works too), with its
/// summary.json. The message says plainly when the folder is not a run folder.
pub fn open_run_dir(arg: &Path) -> Result<(PathBuf, report::Summary), String> {
    let dir = std::fs::canonicalize(arg)
        .map_err(|e| format!("{}: not a run folder: {e}", arg.display()))?;
    if !dir.is_dir() {
        return Err(format!(
            "{}: not a run folder (not a folder)",
            arg.display()
        ));
    }
    let summary = report::read_summary(&dir).map_err(|e| {
        format!(
            "{}: not a run folder written by kirim-xray ({e:#})",
            arg.display()
        )
    })?;
    Ok((dir, summary))
}

/// A run folder's journal as the commands read it back.
#[derive(Debug, Default)]
pub struct JournalRows {
    /// Where the last readable line of every row is (a row's later line replaces an earlier
    /// one), with its status.
    pub index: JournalIndex,
    /// Which lines could not be read and were skipped, as a note for the outputs; `None` when
    /// every line was read.
    pub skipped: Option<String>,
}

/// The journal of `run_dir`, read one line at a time into an index. A missing journal is an
/// empty one: the run died before its first row finished. Unreadable lines are skipped (see
/// [`Journal::read_lines`]): their rows count as not finished, so resume and retry ask the server
/// about them before sending anything.
pub fn journal_by_row(run_dir: &Path) -> Result<JournalRows, JournalError> {
    let path = run_dir.join(report::JOURNAL_FILE);
    if !path.exists() {
        return Ok(JournalRows::default());
    }
    let index = Journal::index(&path)?;
    let skipped = (!index.unreadable.is_empty()).then(|| {
        let numbers: Vec<String> = index.unreadable.iter().map(usize::to_string).collect();
        format!(
            "{} line{} {} could not be read and {} skipped: {} rows counted as not finished",
            path.display(),
            if numbers.len() == 1 { "" } else { "s" },
            numbers.join(", "),
            if numbers.len() == 1 { "was" } else { "were" },
            if numbers.len() == 1 { "its" } else { "their" },
        )
    });
    Ok(JournalRows { index, skipped })
}

/// Two notes as one.
pub fn join_notes(a: Option<String>, b: Option<String>) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) => Some(format!("{a}; {b}")),
        (a, b) => a.or(b),
    }
}

/// The row numbers an earlier run covered: the manifest's, narrowed by the `--rows` selection
/// recorded in its summary.json. The message says when that selection cannot be read back.
pub fn rows_of_run(
    manifest: &crate::manifest::Manifest,
    rows_selected: Option<&str>,
) -> Result<Vec<usize>, String> {
    let selection = rows_selected
        .map(super::selection::RowSelection::parse)
        .transpose()
        .map_err(|e| format!("the row selection recorded in summary.json is unreadable: {e}"))?;
    let mut rows = manifest.row_numbers().map_err(|e| e.to_string())?;
    rows.retain(|row| selection.as_ref().is_none_or(|s| s.contains(*row)));
    Ok(rows)
}

/// A document's place in a manifest: its nomorAju as the cell reads ([`short_digest`] of it),
/// and which occurrence of it (0 for the first). A repeated nomorAju is INVALID from its second
/// row on; matching the n-th occurrence with the n-th keeps such a row apart from the first one.
type DocKey = ([u8; 16], usize);

/// The key of every row, given in row order as (row, digest of its nomorAju).
fn keyed(rows: impl Iterator<Item = (usize, [u8; 16])>) -> Vec<(usize, DocKey)> {
    let mut seen: HashMap<[u8; 16], usize> = HashMap::new();
    rows.map(|(row, aju)| {
        let nth = seen.entry(aju).or_default();
        let key = (aju, *nth);
        *nth += 1;
        (row, key)
    })
    .collect()
}

/// The rows of an earlier run found again, by document, in a manifest that changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ByDocument {
    /// Earlier row number → the row that holds the same document now.
    pub now: BTreeMap<usize, usize>,
    /// Earlier rows whose document the manifest no longer holds.
    pub gone: Vec<usize>,
    /// Rows of the manifest that hold none of the journal's documents (new rows, or rows of the
    /// earlier run that never reached its journal: they cannot be told apart).
    pub unmatched: Vec<usize>,
}

/// Find the journal's rows (last line of each) in `manifest` by nomorAju. Under 100 bytes a row
/// of the manifest and of the journal are held while matching.
pub fn by_document(journal: &JournalIndex, manifest: &Manifest) -> Result<ByDocument, String> {
    let mut manifest_ajus: Vec<(usize, [u8; 16])> = Vec::with_capacity(manifest.row_count);
    manifest
        .for_each_row(&mut |r| {
            let aju = crate::validate::cell_text(r.cell(Column::NomorAju));
            manifest_ajus.push((r.row, short_digest(&aju)));
        })
        .map_err(|e| e.to_string())?;
    let place: HashMap<DocKey, usize> = keyed(manifest_ajus.iter().copied())
        .into_iter()
        .map(|(row, key)| (key, row))
        .collect();
    let earlier = keyed(journal.entries.iter().map(|e| (e.row, e.nomor_aju)));
    let mut found = ByDocument::default();
    for (row, key) in earlier {
        match place.get(&key) {
            Some(now) => {
                found.now.insert(row, *now);
            }
            None => found.gone.push(row),
        }
    }
    let taken: std::collections::BTreeSet<usize> = found.now.values().copied().collect();
    found.unmatched = manifest_ajus
        .iter()
        .map(|(row, _)| *row)
        .filter(|row| !taken.contains(row))
        .collect();
    Ok(found)
}

/// A journal line whose document left the manifest, as the outputs list it (its nomorAju is
/// read back from the line).
pub fn gone(lines: &mut LineReader, entry: &IndexEntry) -> Result<GoneDocument, JournalError> {
    let r = lines.row(entry.at)?;
    Ok(GoneDocument {
        nomor_aju: r.fields.nomor_aju,
        row: entry.row,
        status: entry.status,
    })
}

/// How many rows of an earlier run never reached its journal (killed first): the manifest's data
/// rows as the run read them, within its `--rows` selection, less the rows the journal has.
pub fn unjournaled(run: &report::RunInfo, journal: &JournalIndex) -> usize {
    let selection = run
        .rows_selected
        .as_deref()
        .and_then(|s| super::selection::RowSelection::parse(s).ok());
    (2..=run.manifest.rows + 1)
        .filter(|row| selection.as_ref().is_none_or(|s| s.contains(*row)))
        .filter(|row| !journal.contains(*row))
        .count()
}

/// A CSV manifest whose rows, from row 2 on, hold only these nomorAju (tests of matching rows by
/// document).
#[cfg(test)]
pub fn manifest_of_documents(ajus: &[&str], sha256: &str) -> crate::manifest::Manifest {
    use crate::manifest::{Cell, Manifest, ManifestKind, RawRow};
    Manifest::from_rows(
        "m.csv",
        sha256,
        ManifestKind::Csv,
        ajus.iter()
            .enumerate()
            .map(|(i, aju)| RawRow {
                row: i + 2,
                cells: [
                    Cell::Text((*aju).into()),
                    Cell::Empty,
                    Cell::Empty,
                    Cell::Empty,
                    Cell::Empty,
                ],
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{Cell, ManifestKind, RawRow};
    use crate::model::{RowResult, RowStatus};
    use crate::report::JOURNAL_FILE;
    use crate::report::journal::tests::OnDisk;

    fn row(n: usize, status: RowStatus) -> RowResult {
        let mut r = crate::report::journal::tests::sample(n);
        r.status = status;
        r
    }

    fn doc(n: usize, aju: &str, status: RowStatus) -> RowResult {
        let mut r = row(n, status);
        r.fields.nomor_aju = aju.into();
        r
    }

    fn manifest(ajus: &[&str]) -> Manifest {
        Manifest::from_rows(
            PathBuf::from("m.csv"),
            String::new(),
            ManifestKind::Csv,
            ajus.iter()
                .enumerate()
                .map(|(i, aju)| {
                    let mut cells = [
                        Cell::Empty,
                        Cell::Empty,
                        Cell::Empty,
                        Cell::Empty,
                        Cell::Empty,
                    ];
                    if !aju.is_empty() {
                        cells[0] = Cell::Text((*aju).into());
                    }
                    RawRow { row: i + 2, cells }
                })
                .collect(),
        )
    }

    #[test]
    fn rows_are_found_by_document_after_a_row_is_inserted_or_removed() {
        let journal = OnDisk::of([
            doc(2, "A", RowStatus::Match),
            doc(3, "B", RowStatus::Failed),
            doc(4, "C", RowStatus::Match),
            doc(5, "GONE", RowStatus::NotFound),
        ]);
        // NEW inserted above B; GONE removed.
        let found = by_document(&journal.index, &manifest(&["A", "NEW", "B", "C"])).unwrap();
        assert_eq!(
            found.now.into_iter().collect::<Vec<_>>(),
            [(2, 2), (3, 4), (4, 5)],
            "B is row 4 now, not the NEW row 3"
        );
        assert_eq!(found.gone, [5]);
        assert_eq!(found.unmatched, [3]);
        assert_eq!(
            gone(&mut journal.lines(), journal.index.get(5).unwrap())
                .unwrap()
                .to_string(),
            "GONE (was row 5, NOT_FOUND)"
        );
    }

    #[test]
    fn a_repeated_nomor_aju_is_matched_occurrence_by_occurrence() {
        let journal = OnDisk::of([
            doc(2, "A", RowStatus::Match),
            doc(3, "A", RowStatus::Invalid),
            doc(4, "", RowStatus::Invalid),
        ]);
        let found = by_document(&journal.index, &manifest(&["X", "A", "", "A"])).unwrap();
        assert_eq!(
            found.now.into_iter().collect::<Vec<_>>(),
            [(2, 3), (3, 5), (4, 4)]
        );
        assert!(found.gone.is_empty());
        assert_eq!(found.unmatched, [2]);
        // The duplicate left the manifest: the first A is not taken for it.
        let found = by_document(&journal.index, &manifest(&["A", ""])).unwrap();
        assert_eq!(found.now.into_iter().collect::<Vec<_>>(), [(2, 2), (4, 3)]);
        assert_eq!(found.gone, [3]);
    }

    #[test]
    fn rows_that_never_reached_the_journal_are_counted() {
        let mut run = crate::report::summary::tests::info();
        run.manifest.rows = 5; // rows 2-6
        let journal = OnDisk::of([doc(2, "A", RowStatus::Match), doc(4, "C", RowStatus::Match)]);
        assert_eq!(unjournaled(&run, &journal.index), 3);
        run.rows_selected = Some("2-4".into());
        assert_eq!(unjournaled(&run, &journal.index), 1);
    }

    #[test]
    fn the_journal_gives_the_last_line_of_each_row() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            journal_by_row(dir.path()).unwrap().index.is_empty(),
            "no journal"
        );
        let path = dir.path().join(JOURNAL_FILE);
        let j = Journal::create(&path).unwrap();
        j.append(&row(2, RowStatus::Skipped)).unwrap();
        j.append(&row(3, RowStatus::Match)).unwrap();
        j.append(&row(2, RowStatus::Match)).unwrap();
        let read = journal_by_row(dir.path()).unwrap();
        assert_eq!(read.index.len(), 2);
        assert_eq!(read.index.get(2).unwrap().status, RowStatus::Match);
        assert_eq!(read.skipped, None);

        // A torn line in the middle: skipped, its row not finished, the note names the line.
        use std::io::Write as _;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"{\"row\":4,\"fie\n").unwrap();
        j.append(&row(5, RowStatus::Match)).unwrap();
        let read = journal_by_row(dir.path()).unwrap();
        let rows: Vec<usize> = read.index.entries.iter().map(|e| e.row).collect();
        assert_eq!(rows, [2, 3, 5]);
        let note = read.skipped.unwrap();
        assert!(
            note.contains("journal.jsonl line 4 could not be read and was skipped"),
            "{note}"
        );
    }

    #[test]
    fn a_folder_without_summary_is_not_a_run_folder() {
        let dir = tempfile::tempdir().unwrap();
        let e = open_run_dir(dir.path()).unwrap_err();
        assert!(e.contains("not a run folder written by kirim-xray"), "{e}");
        let e = open_run_dir(&dir.path().join("nope")).unwrap_err();
        assert!(e.contains("nope: not a run folder"), "{e}");
    }
}
