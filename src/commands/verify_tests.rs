use super::*;
use crate::cli::ApiArgs;
use crate::report::journal::tests::sample;
use crate::report::summary::tests::info;
use crate::report::{self, JOURNAL_FILE, Journal, RESULTS_FILE};

/// A finished run folder `<tmp>/runs/R` of two rows whose photo a.png lies in
/// `<tmp>/photos/a/`, as a run would leave it.
fn sealed_run() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("runs/R");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::create_dir_all(dir.path().join("photos/a")).unwrap();
    let photo = dir.path().join("photos/a/a.png");
    std::fs::write(&photo, b"photo bytes").unwrap();
    let mut rows = vec![sample(2), sample(3)];
    for r in &mut rows {
        r.images[0].sha256 = seal::sha256_bytes(b"photo bytes");
    }
    // Row 3's photo was never sent nor seen on the server: it is not evidence.
    rows[1].images[0].sent_in = SentIn::None;
    rows[1].images[0].on_server = Some(false);
    rows[1].images[0].sha256 = "0".repeat(64);
    let journal = Journal::create(&run.join(JOURNAL_FILE)).unwrap();
    for r in &rows {
        journal.append(r).unwrap();
    }
    let mut i = info();
    i.run_dir = run.clone();
    i.settings.images_root = Some(dir.path().to_path_buf());
    report::write_outputs(&run, &i, &rows).unwrap();
    (dir, run)
}

fn verify_dir(run: &Path) -> Exit {
    verify(VerifyArgs {
        run_dir: run.to_path_buf(),
        images_root: None,
        server: false,
        api: ApiArgs::default(),
    })
}

fn file_findings(run: &Path) -> Vec<Finding> {
    let summary = report::read_summary(run).unwrap();
    match check_files(run, &summary) {
        Ok(f) => f.findings,
        Err(Unreadable(why)) => panic!("{why}"),
    }
}

fn flip_one_byte(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let last = bytes.len() - 2;
    bytes[last] ^= 1;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn an_untouched_folder_is_as_the_run_left_it() {
    let (_dir, run) = sealed_run();
    assert!(file_findings(&run).is_empty());
    let summary = report::read_summary(&run).unwrap();
    let rows: Vec<RowResult> = report::Journal::read(&run.join(report::JOURNAL_FILE)).unwrap();
    let (checked, photos) = check_photos(&images_root(&summary), &rows);
    assert_eq!(checked, 1, "only the photo that was sent");
    assert!(photos.is_empty(), "{photos:?}");
    assert_eq!(verify_dir(&run), Exit::Ok);
}

#[test]
fn one_byte_changed_in_results_csv_is_named() {
    let (_dir, run) = sealed_run();
    flip_one_byte(&run.join(RESULTS_FILE));
    let findings = file_findings(&run);
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0].what, RESULTS_FILE);
    assert!(findings[0].why.contains("run.sha256 says"), "{findings:?}");
    assert_eq!(verify_dir(&run), Exit::RowsNeedAttention);
}

#[test]
fn a_rewritten_run_sha256_does_not_hide_a_change_recorded_in_summary_json() {
    let (_dir, run) = sealed_run();
    flip_one_byte(&run.join(report::IMAGES_FILE));
    seal::write_run_sha256(&run).unwrap();
    let findings = file_findings(&run);
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0].what, report::IMAGES_FILE);
    assert!(
        findings[0].why.contains("summary.json says"),
        "{findings:?}"
    );
}

#[test]
fn a_changed_or_missing_sent_photo_is_named() {
    let (dir, run) = sealed_run();
    let photo = dir.path().join("photos/a/a.png");
    flip_one_byte(&photo);
    let summary = report::read_summary(&run).unwrap();
    let rows: Vec<RowResult> = report::Journal::read(&run.join(report::JOURNAL_FILE)).unwrap();
    let (_, photos) = check_photos(&images_root(&summary), &rows);
    assert_eq!(photos.len(), 1, "{photos:?}");
    assert_eq!(photos[0].what, "row 2 AJU2 photos/a/a.png");
    assert!(photos[0].why.contains("sent in kirim"), "{photos:?}");
    assert_eq!(verify_dir(&run), Exit::RowsNeedAttention);

    std::fs::remove_file(&photo).unwrap();
    let (_, photos) = check_photos(&images_root(&summary), &rows);
    assert!(photos[0].why.starts_with("gone from"), "{photos:?}");
}

#[test]
fn a_deleted_output_or_seal_is_a_difference() {
    let (_dir, run) = sealed_run();
    std::fs::remove_file(run.join(report::REPORT_HTML)).unwrap();
    let findings = file_findings(&run);
    assert_eq!(findings[0].what, report::REPORT_HTML);
    assert!(findings[0].why.starts_with("gone"), "{findings:?}");
    std::fs::remove_file(run.join(RUN_SHA256)).unwrap();
    let findings = file_findings(&run);
    assert!(
        findings.iter().any(|f| f.what == RUN_SHA256),
        "{findings:?}"
    );
    assert_eq!(verify_dir(&run), Exit::RowsNeedAttention);
}

#[test]
fn a_folder_never_sealed_or_not_a_run_folder_cannot_be_verified() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(verify_dir(dir.path()), Exit::Usage, "no summary.json");
    let mut i = info();
    i.run_dir = dir.path().to_path_buf();
    // A run killed before its end: summary.json without digests, no run.sha256.
    report::write_summary_json(dir.path(), &Summary::build(&i, &[])).unwrap();
    assert_eq!(verify_dir(dir.path()), Exit::Usage);
}

#[test]
fn every_row_of_a_long_journal_is_checked_a_slice_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::create_dir_all(dir.path().join("photos/a")).unwrap();
    std::fs::write(dir.path().join("photos/a/a.png"), b"photo bytes").unwrap();
    let rows = 2 * ROWS_AT_A_TIME + 500;
    let journal = Journal::create(&run.join(JOURNAL_FILE)).unwrap();
    for n in 2..rows + 2 {
        let mut r = sample(n);
        r.fields.nomor_aju = format!("AJU{n}");
        r.images[0].sha256 = seal::sha256_bytes(b"photo bytes");
        if n == ROWS_AT_A_TIME + 700 {
            // In the second slice: recorded with other bytes than the photo holds now.
            r.images[0].sha256 = seal::sha256_bytes(b"other bytes");
        }
        journal.append(&r).unwrap();
    }
    let index = earlier::journal_by_row(&run).unwrap();
    assert_eq!(index.index.entries.len(), rows);
    let (checked, findings) = check_rows(&run, &index, dir.path(), None).unwrap();
    assert_eq!(checked, rows, "every row's photo, in every slice");
    assert_eq!(findings.len(), 1, "{findings:?}");
    let changed = ROWS_AT_A_TIME + 700;
    assert_eq!(
        findings[0].what,
        format!("row {changed} AJU{changed} photos/a/a.png")
    );
}
