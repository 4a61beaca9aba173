//! `kirim-xray run`: settings → manifest → validation → (dry-run plan) or lock → run folder →
//! client → workers → outputs → exit code. The exit code is decided once, at the end.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use chrono::Utc;

use super::selection::RowSelection;
use super::shared::{self, RowMode};
use super::staged::Staged;
use crate::cli::RunArgs;
use crate::config::{Need, Settings};
use crate::exit::Exit;
use crate::manifest;
use crate::report::{self, Journal, ManifestInfo, RunInfo};
use crate::sync::split_requests;
use crate::validate::{self, ValidateOptions, human_bytes};

/// A manifest read, filtered by `--rows` and validated: the rows wait on disk.
pub struct Prepared {
    pub manifest: ManifestInfo,
    pub rows: Staged,
}

/// What validation does with each row's warnings. Errors are always printed to stderr at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Warnings {
    /// Print them to stderr with the errors: nothing is sent (dry run, `doctor`, `report`).
    Print,
    /// Keep them with the row only: the run logs them once run.log is open
    /// ([`Staged::log_warnings`]) and adds them to the row's result.
    Defer,
}

/// Read and validate the manifest (printing its problems to stderr, see [`Warnings`]). Rows
/// outside `selection` are not in the result and their folders are not even read, but their
/// `nomorAju` still counts for duplicates (see [`validate_rows`]).
pub fn prepare(
    path: &Path,
    settings: &Settings,
    selection: Option<&RowSelection>,
    warnings: Warnings,
) -> Result<Prepared, String> {
    let m = read_manifest(path, settings)?;
    let total = m.row_count;
    if let Some(sel) = selection
        && total > 0
        && !m
            .row_numbers()
            .map_err(|e| e.to_string())?
            .into_iter()
            .any(|row| sel.contains(row))
    {
        return Err(format!(
            "--rows {} selects no row of {} (its data rows are {}-{})",
            sel.text(),
            path.display(),
            2,
            total + 1
        ));
    }
    validate_rows(m, path, settings, warnings, &|row| {
        selection.is_none_or(|s| s.contains(row))
    })
}

/// Read a manifest; the message names the file.
pub fn read_manifest(path: &Path, settings: &Settings) -> Result<manifest::Manifest, String> {
    manifest::read(path, settings.sheet.as_deref()).map_err(|e| e.to_string())
}

/// Validate the rows of `m` for which `keep` holds (printing its problems to stderr, see
/// [`Warnings`]), one at a time, into rows waiting on disk. The other rows' folders are not read, but their cells are
/// still checked: a repeated `nomorAju` is a property of the whole manifest (see
/// [`validate::validate_each`]).
pub fn validate_rows(
    m: manifest::Manifest,
    path: &Path,
    settings: &Settings,
    warnings: Warnings,
    keep: &dyn Fn(usize) -> bool,
) -> Result<Prepared, String> {
    let options = ValidateOptions {
        allow_outside_root: settings.allow_outside_root,
        ..ValidateOptions::new(
            path,
            settings.images_root.as_deref(),
            Some(settings.max_image_bytes),
        )
    };
    let cannot_stage =
        |e: std::io::Error| format!("cannot keep the validated rows in the temporary folder: {e}");
    let mut staged = Staged::writer().map_err(cannot_stage)?;
    let mut failed = None;
    let name = path.display().to_string();
    validate::validate_each(&m, &options, keep, &mut |row| {
        let printed = row
            .problems
            .iter()
            .filter(|p| p.severity == validate::Severity::Error || warnings == Warnings::Print);
        for p in printed {
            crate::eprintln_escaped!("{}", validate::format_problem(&name, p));
        }
        if failed.is_none()
            && let Err(e) = staged.push(row)
        {
            failed = Some(e);
        }
    })
    .map_err(|e| e.to_string())?;
    if let Some(e) = failed {
        return Err(cannot_stage(e));
    }
    let rows = staged.finish().map_err(cannot_stage)?;
    Ok(Prepared {
        manifest: ManifestInfo {
            path: std::path::absolute(&m.path).unwrap_or(m.path.clone()),
            sha256: m.sha256,
            rows: m.row_count,
        },
        rows,
    })
}

/// The dry-run plan, as printed; and the exit code it calls for.
pub fn plan(p: &Prepared, settings: &Settings, selection: Option<&RowSelection>) -> (String, Exit) {
    let valid = p.rows.valid;
    let invalid = p.rows.rows - valid;
    let (mut photos, mut bytes, mut requests) = (0usize, 0u64, 0usize);
    for s in p.rows.rows_or_log().filter_map(|r| r.shipment) {
        photos += s.images.len();
        bytes += s.images.iter().map(|i| i.bytes).sum::<u64>();
        // The uploads the protocol will make, plus the verifying get.
        let images: Vec<_> = s.images.iter().collect();
        requests += split_requests(
            &images,
            settings.max_images_per_request,
            settings.max_request_bytes,
        )
        .len()
            + 1;
    }
    let seconds = requests as f64 / settings.rate;
    let mut t = format!(
        "plan for {} (sha256 {})\n",
        crate::escape::escape_control(&p.manifest.path.display().to_string()),
        p.manifest.sha256
    );
    let selected = selection.map_or(String::new(), |s| {
        format!(
            ", {} selected by --rows {}",
            p.rows.rows,
            crate::escape::escape_control(s.text())
        )
    });
    t += &format!(
        "rows      {} in the manifest{selected}: {valid} valid, {invalid} invalid\n",
        p.manifest.rows,
    );
    t += &format!("photos    {photos} ({})\n", human_bytes(bytes));
    t += &format!(
        "requests  {requests} ({} uploads + {} verifying gets; more if customs already holds some photos or answers need retries)\n",
        requests - valid,
        valid
    );
    t += &format!(
        "time      about {} at {} requests/s with {} workers\n",
        report::summary::human_duration(seconds),
        settings.rate,
        settings.concurrency
    );
    let exit = if invalid > 0 {
        Exit::RowsNeedAttention
    } else {
        Exit::Ok
    };
    t += if invalid > 0 {
        "dry run: nothing was sent; exit 1 because some rows are invalid (they would not be sent)\n"
    } else {
        "dry run: nothing was sent; every row is valid\n"
    };
    (t, exit)
}

pub fn run(args: RunArgs) -> Exit {
    let need = if args.dry_run {
        Need::Offline
    } else {
        Need::Credentials
    };
    let settings = match Settings::load(&args.api, &args.manifest_args, need) {
        Ok(s) => s,
        Err(e) => {
            crate::eprintln_escaped!("kirim-xray: {e}");
            return Exit::Usage;
        }
    };
    let log = settings.start_logging();
    let Some(manifest_path) = args.manifest.as_deref() else {
        crate::eprintln_escaped!("kirim-xray run: a MANIFEST is needed");
        return Exit::Usage;
    };
    let selection = match args.rows.as_deref().map(RowSelection::parse).transpose() {
        Ok(s) => s,
        Err(e) => {
            crate::eprintln_escaped!("kirim-xray: {e}");
            return Exit::Usage;
        }
    };
    // A dry run shows the warnings now; a run that sends logs them into its run.log.
    let warnings = if args.dry_run {
        Warnings::Print
    } else {
        Warnings::Defer
    };
    let prepared = match prepare(manifest_path, &settings, selection.as_ref(), warnings) {
        Ok(p) => p,
        Err(e) => {
            crate::eprintln_escaped!("kirim-xray: {e}");
            return Exit::Usage;
        }
    };
    if prepared.rows.rows == 0 {
        // A nightly export with no rows is far more often a broken export than a day without
        // shipments: nothing to send, no run folder, and an exit code that calls for attention.
        crate::eprintln_escaped!(
            "kirim-xray: {} has no data rows: nothing to send",
            manifest_path.display()
        );
        return Exit::RowsNeedAttention;
    }
    if args.dry_run {
        let (text, exit) = plan(&prepared, &settings, selection.as_ref());
        print!("{text}");
        return exit;
    }
    send(&settings, &log, prepared, selection.as_ref())
}

/// Everything after validation, for a run that sends.
fn send(
    settings: &Settings,
    log: &crate::logging::LogHandle,
    prepared: Prepared,
    selection: Option<&RowSelection>,
) -> Exit {
    let started_at = Utc::now();
    let (_lock, run_dir) = match shared::open_new_run(settings, log, started_at) {
        Ok(opened) => opened,
        Err(exit) => return exit,
    };
    let cancel = shared::listen_for_signals();
    let info = shared::new_info(
        "run",
        &run_dir,
        prepared.manifest.clone(),
        selection.map(|s| s.text().to_string()),
        started_at,
        settings,
    );
    start(
        settings,
        run_dir,
        info,
        prepared.rows,
        RowMode::Upload {
            check_first: BTreeSet::new(),
            recheck_not_found: settings.recheck_not_found,
        },
        &cancel,
    )
}

/// A fresh run folder: a new journal, then the workers over every row.
pub fn start(
    settings: &Settings,
    run_dir: PathBuf,
    mut info: RunInfo,
    rows: Staged,
    mode: RowMode,
    cancel: &crate::pipeline::Cancel,
) -> Exit {
    let journal = match Journal::create(&run_dir.join(report::JOURNAL_FILE)) {
        Ok(j) => j,
        Err(e) => {
            let note = format!("cannot create the journal: {e}");
            let unsent = shared::Unsent {
                run_dir: &run_dir,
                todo: &rows,
                kept: &[],
                journal: None,
            };
            return unsent.finish(&mut info, note, Exit::Usage);
        }
    };
    let work = shared::Work {
        run_dir,
        info,
        todo: rows,
        kept: Vec::new(),
        journal,
        mode,
    };
    shared::drive(settings, work, cancel)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runfolder;
    use crate::validate::{CheckedRow, Problem, Severity};

    /// A duplicate nomorAju is a property of the whole manifest: a row that repeats an earlier
    /// row's nomorAju stays INVALID when only it is selected (`--rows`, `retry`, `--resume`), or
    /// its photos would be added to the earlier row's CN document.
    #[test]
    fn a_duplicate_outside_the_selection_still_makes_the_row_invalid() {
        let dir = tempfile::tempdir().unwrap();
        for folder in ["a", "b", "c"] {
            std::fs::create_dir(dir.path().join(folder)).unwrap();
            std::fs::write(
                dir.path().join(folder).join("x.png"),
                b"\x89PNG\r\n\x1a\n0000",
            )
            .unwrap();
        }
        let path = dir.path().join("m.csv");
        std::fs::write(
            &path,
            "nomorAju,nomorBlAwb,tanggalBlAwb,kodeKantor,folder\n\
             AJU1,BL1,2025-01-02,040300,a\n\
             AJU1,BL2,2025-01-02,040300,b\n\
             AJU3,BL3,2025-01-02,040300,missing\n\
             AJU4,BL4,2025-01-02,040300,c\n",
        )
        .unwrap();
        let settings = Settings::from_layers(
            crate::config::Layer::default(),
            crate::config::Layer::default(),
            crate::config::Layer::default(),
            None,
        )
        .unwrap();
        let m = read_manifest(&path, &settings).unwrap();
        let p = validate_rows(m, &path, &settings, Warnings::Print, &|row| row >= 3).unwrap();
        assert_eq!(p.manifest.rows, 4);
        let checked: Vec<CheckedRow> = p.rows.iter().map(Result::unwrap).collect();
        let rows: Vec<_> = checked.iter().map(|r| (r.row, r.is_valid())).collect();
        assert_eq!(rows, [(3, false), (4, false), (5, true)]);
        assert!(
            checked[0].problems[0]
                .message
                .contains("duplicate of row 2"),
            "{:?}",
            checked[0].problems
        );
    }

    /// The wiring after validation, without a reachable API: lock, run folder, latest link,
    /// outputs naming why nothing was sent, the lock released at the end.
    #[test]
    fn a_run_that_cannot_connect_still_writes_its_folder() {
        use crate::api::{Credentials, Secret};
        use crate::config::Layer;
        use crate::model::{DocMeta, LocalImage, RowFields, Shipment};

        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("runs");
        let flags = Layer {
            out: Some(out.clone()),
            // Nothing listens on port 9 of loopback: the login cannot succeed.
            api_url: Some("http://127.0.0.1:9/openapi/cnpibk".into()),
            auth_url: Some("http://127.0.0.1:9".into()),
            retries: Some(0),
            lock_dir: Some(dir.path().join("locks")),
            ..Layer::default()
        };
        let creds = Credentials::Login {
            username: "demo".into(),
            password: Secret::new("pw"),
        };
        let settings =
            Settings::from_layers(flags, Layer::default(), Layer::default(), Some(creds)).unwrap();
        let meta = DocMeta {
            nomor_aju: "AJU1".into(),
            nomor_bl_awb: "BL1".into(),
            tanggal_bl_awb: "2025-01-02".into(),
            kode_kantor: "040300".into(),
        };
        let image = LocalImage {
            name: "a.png".into(),
            path: dir.path().join("a.png"),
            bytes: 3,
            sha256: "00".into(),
            content_type: "image/png",
        };
        let valid = CheckedRow {
            row: 2,
            fields: RowFields {
                nomor_aju: "AJU1".into(),
                ..RowFields::default()
            },
            problems: vec![],
            shipment: Some(Shipment {
                row: 2,
                meta,
                folder: "f".into(),
                images: vec![image],
            }),
        };
        let invalid = CheckedRow {
            row: 3,
            fields: RowFields::default(),
            problems: vec![Problem {
                row: 3,
                column: Some("folder"),
                value: "x".into(),
                message: "does not exist".into(),
                severity: Severity::Error,
            }],
            shipment: None,
        };
        let prepared = Prepared {
            manifest: ManifestInfo {
                path: "m.csv".into(),
                sha256: "ff".into(),
                rows: 2,
            },
            rows: Staged::of([valid, invalid]).unwrap(),
        };
        let exit = send(
            &settings,
            &crate::logging::LogHandle::default(),
            prepared,
            None,
        );
        assert!(matches!(exit, Exit::Usage | Exit::Unreachable), "{exit:?}");

        let run_dir = std::fs::canonicalize(out.join(runfolder::LATEST)).unwrap();
        let results = std::fs::read_to_string(run_dir.join(report::RESULTS_FILE)).unwrap();
        let lines: Vec<&str> = results.lines().collect();
        assert_eq!(lines.len(), 3, "{results}");
        assert!(
            lines[1].starts_with("2,AJU1,") && lines[1].contains(",SKIPPED,"),
            "{results}"
        );
        assert!(
            lines[2].starts_with("3,") && lines[2].contains(",INVALID,"),
            "{results}"
        );
        let summary = report::read_summary(&run_dir).unwrap();
        assert_eq!(summary.run.exit_code, Some(exit.code()));
        assert!(summary.run.note.is_some());
        assert!(
            !std::fs::read_to_string(run_dir.join(report::SUMMARY_JSON))
                .unwrap()
                .contains("\"pw\"")
        );
        for name in [
            report::IMAGES_FILE,
            report::SUMMARY_TXT,
            report::REPORT_HTML,
            report::JOURNAL_FILE,
        ] {
            assert!(run_dir.join(name).is_file(), "{name}");
        }
        // The journal says the same as results.csv, so that `retry --status INVALID` and
        // `report` see the rows as the outputs show them.
        let journal = Journal::read(&run_dir.join(report::JOURNAL_FILE)).unwrap();
        let journaled: Vec<_> = journal.iter().map(|r| (r.row, r.status)).collect();
        assert_eq!(
            journaled,
            [
                (2, crate::model::RowStatus::Skipped),
                (3, crate::model::RowStatus::Invalid)
            ]
        );
        assert!(
            runfolder::lock_out(&out, Utc::now()).is_ok(),
            "lock released"
        );
    }
}
