//! Plumbing shared by the commands that talk to the API over a run folder (`run`, `run --resume`,
//! `retry`, `reconcile`): the locks (output folder, account), the run folder, the signal handlers, the
//! workers feeding the journal, and the outputs at the end. Each command only decides which rows
//! it processes, with which row function, and which results it keeps from before; the way a run
//! starts, is interrupted and ends is the same for all of them, which is what makes `report` and
//! `--resume` able to treat every run folder alike.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::locks::{self, Locks};
use crate::api::{ConnectError, HttpApi};
use crate::cli::{ApiArgs, ManifestArgs};
use crate::config::{ConfigError, Layer, Need, PublicSettings, Settings, credentials_from_env};
use crate::exit::Exit;
use crate::history::{self, SeenBefore};
use crate::logging::LogHandle;
use crate::model::{RowResult, RowStatus, Shipment};
use crate::pipeline::{self, Bound, Cancel};
use crate::report::{self, Journal, JournalError, RequestCounts, RunInfo};
use crate::runfolder;
use crate::sync::{reconcile_row, sync_row};
use crate::validate::CheckedRow;

/// What the workers do with each valid row.
#[derive(Debug, Clone)]
pub enum RowMode {
    /// The per-row protocol: upload what is missing, then verify. Rows in `check_first` are asked
    /// about with get before anything is sent (they may have been in flight when a process died).
    Upload { check_first: BTreeSet<usize> },
    /// Auditor mode: get only.
    Reconcile,
}

/// A run about to process rows: its folder, what summary.json says, the rows to process now, the
/// results kept from before (resume), and the open journal.
pub struct Work {
    pub run_dir: PathBuf,
    pub info: RunInfo,
    pub todo: Vec<CheckedRow>,
    pub kept: Vec<RowResult>,
    pub journal: Journal,
    pub mode: RowMode,
}

/// Lock `settings.out` and the account, create a fresh run folder, point `latest` at it and log
/// into its run.log. The locks come first: a second run must not even create a folder.
pub fn open_new_run(
    settings: &Settings,
    log: &LogHandle,
    started_at: DateTime<Utc>,
) -> Result<(Locks, PathBuf), Exit> {
    let out = locks::lock(&settings.out, started_at)?;
    let mut account = locks::lock_account(settings, started_at, None)?;
    let run_dir = match runfolder::create_run_dir(&settings.out, started_at) {
        Ok(d) => d,
        Err(e) => {
            crate::eprintln_escaped!("kirim-xray: {e}");
            return Err(Exit::Usage);
        }
    };
    if let Some(lock) = account.as_mut() {
        locks::record_run_dir(lock, &run_dir);
    }
    if let Err(e) = runfolder::update_latest(&settings.out, &run_dir) {
        tracing::warn!("cannot update {}/latest: {e}", settings.out.display());
    }
    log_into(log, &run_dir);
    Ok((Locks { out, account }, run_dir))
}

/// Send the log to `<run_dir>/run.log` too (appended: a resumed run adds to it).
pub fn log_into(log: &LogHandle, run_dir: &Path) {
    let path = run_dir.join(report::RUN_LOG);
    if let Err(e) = log.log_to_file(&path) {
        tracing::warn!("cannot write {}: {e}", path.display());
    }
}

/// A cancel flag set by the first SIGINT/SIGTERM.
pub fn listen_for_signals() -> Cancel {
    let cancel = Cancel::new();
    if let Err(e) = cancel.install_signal_handlers() {
        tracing::warn!("cannot listen for SIGINT/SIGTERM: {e}");
    }
    cancel
}

/// The start of a fresh run's summary.json.
pub fn new_info(
    command: &str,
    run_dir: &Path,
    manifest: report::ManifestInfo,
    rows_selected: Option<String>,
    started_at: DateTime<Utc>,
    settings: &Settings,
) -> RunInfo {
    RunInfo {
        command: command.into(),
        run_dir: run_dir.to_path_buf(),
        manifest,
        rows_selected,
        started_at,
        finished_at: None,
        settings: settings.public_view(),
        requests: RequestCounts::default(),
        exit_code: None,
        previous_run: None,
        note: None,
        resumed_at: Vec::new(),
    }
}

/// How long rows in flight may go on after the first signal: one request's timeout, and a margin
/// for writing the outputs. Past it they are given up on (see `pipeline::execute_bounded`).
pub fn grace(settings: &Settings) -> Duration {
    settings.timeout + Duration::from_secs(5)
}

/// Process `work.todo` on the workers (journal appended as rows finish), then write every output
/// covering the kept rows and the processed ones, in manifest order, and settle the exit code.
pub fn drive(settings: &Settings, work: Work, cancel: &Cancel) -> Exit {
    let Work {
        run_dir,
        mut info,
        todo,
        kept,
        journal,
        mode,
    } = work;
    let valid = todo.iter().filter(|r| r.shipment.is_some()).count();
    tracing::info!(
        "run folder {}: {} rows to process ({valid} valid, {} invalid), {} kept from before, from {}",
        run_dir.display(),
        todo.len(),
        todo.len() - valid,
        kept.len(),
        info.manifest.path.display()
    );
    if let Err(e) = report::write_summary_json(&run_dir, &report::Summary::build(&info, &kept)) {
        tracing::warn!("{e:#}");
    }
    if valid == 0 {
        // Nothing to send: no login needed. Invalid rows still reach the journal.
        let invalid: Vec<RowResult> = todo.iter().map(RowResult::invalid).collect();
        for r in &invalid {
            append(&journal, r);
        }
        let results = merge(&kept, invalid);
        return finish(&run_dir, &mut info, &results, verdict(&results));
    }
    let api_settings = match settings.to_api_settings() {
        Ok(a) => a,
        Err(e) => {
            let note = e.to_string();
            return finish_unsent(
                &run_dir,
                &mut info,
                &todo,
                &kept,
                Some(&journal),
                note,
                Exit::Usage,
            );
        }
    };
    let api = match HttpApi::connect(&api_settings) {
        Ok(api) => api,
        Err(e) => {
            let exit = match e {
                ConnectError::Config(_) => Exit::Usage,
                ConnectError::Auth(_) | ConnectError::Unreachable(_) => Exit::Unreachable,
            };
            let note = e.to_string();
            return finish_unsent(
                &run_dir,
                &mut info,
                &todo,
                &kept,
                Some(&journal),
                note,
                exit,
            );
        }
    };
    let before = info.requests.clone();
    let requests_now = || {
        let mut all = before.clone();
        all.add(&RequestCounts::from(&api.stats()));
        all
    };
    let sync = settings.sync_settings();
    let seen = match mode {
        RowMode::Upload { .. } => seen_before(settings, &todo),
        RowMode::Reconcile => SeenBefore::default(),
    };
    let row_fn = |s: &Shipment| match &mode {
        RowMode::Upload { check_first } => {
            let ask_first = check_first.contains(&s.row) || seen.contains(&s.meta.nomor_aju);
            sync_row(&api, s, &sync, ask_first)
        }
        RowMode::Reconcile => RowResult {
            action: "get".into(),
            ..reconcile_row(&api, s, &sync)
        },
    };
    let grace = grace(settings);
    let abandon_info = info.clone();
    let bound = Bound {
        grace,
        abandon: Box::new(|partial: Vec<RowResult>| {
            let mut info = abandon_info;
            info.requests = requests_now();
            info.note = Some(format!(
                "{}; rows still in flight {}s later were given up on and are SKIPPED",
                cancel.cause().unwrap_or_else(|| "interrupted".into()),
                grace.as_secs()
            ));
            let exit = cancel.exit().unwrap_or(Exit::Interrupted);
            let results = merge(&kept, partial);
            std::process::exit(finish(&run_dir, &mut info, &results, exit).code())
        }),
    };
    let processed = match pipeline::execute_bounded(
        &todo,
        settings.concurrency,
        cancel,
        &api,
        bound,
        row_fn,
        |r| append(&journal, r),
    ) {
        Ok(r) => r,
        Err(e) => {
            let note = format!("cannot start {} workers: {e}", settings.concurrency);
            let journal = Some(&journal);
            return finish_unsent(
                &run_dir,
                &mut info,
                &todo,
                &kept,
                journal,
                note,
                Exit::Usage,
            );
        }
    };
    info.requests = requests_now();
    let results = merge(&kept, processed);
    // A stop (signal, or authentication lost) decides the exit code whatever the rows say.
    let exit = match (cancel.exit(), cancel.cause()) {
        (Some(exit), Some(cause)) => {
            info.note = Some(format!("{cause}; rows not started are SKIPPED"));
            exit
        }
        _ => verdict(&results),
    };
    finish(&run_dir, &mut info, &results, exit)
}

/// The documents to send that an earlier run under `--out` saw on the server: they start with get.
fn seen_before(settings: &Settings, todo: &[CheckedRow]) -> SeenBefore {
    let documents = todo
        .iter()
        .filter_map(|r| r.shipment.as_ref())
        .map(|s| s.meta.nomor_aju.as_str());
    let seen = history::seen_before(&settings.out, documents);
    if !seen.is_empty() {
        tracing::info!(
            "{} documents were seen on the server by earlier runs under {}: asking with get before sending",
            seen.len(),
            settings.out.display()
        );
    }
    seen
}

fn append(journal: &Journal, r: &RowResult) {
    if let Err(e) = journal.append(r) {
        tracing::error!(
            "cannot append row {} to {}: {e}",
            r.row,
            journal.path().display()
        );
    }
}

/// 0 when every row is MATCH, else 1.
pub fn verdict(results: &[RowResult]) -> Exit {
    if results.iter().all(|r| r.status == RowStatus::Match) {
        Exit::Ok
    } else {
        Exit::RowsNeedAttention
    }
}

/// Kept and new results in manifest (= row number) order; a row processed now replaces a kept one.
pub fn merge(kept: &[RowResult], new: Vec<RowResult>) -> Vec<RowResult> {
    let mut by_row: BTreeMap<usize, RowResult> = kept.iter().map(|r| (r.row, r.clone())).collect();
    by_row.extend(new.into_iter().map(|r| (r.row, r)));
    by_row.into_values().collect()
}

/// The run could not send anything: every valid row to process is SKIPPED, with the reason.
/// These rows go to the journal too (when there is one), so that it says what results.csv says:
/// `retry --status INVALID` and `report` read the journal.
pub fn finish_unsent(
    run_dir: &Path,
    info: &mut RunInfo,
    todo: &[CheckedRow],
    kept: &[RowResult],
    journal: Option<&Journal>,
    note: String,
    exit: Exit,
) -> Exit {
    tracing::error!("{note}");
    let results: Vec<RowResult> = todo
        .iter()
        .map(|r| match r.shipment {
            None => RowResult::invalid(r),
            Some(_) => RowResult {
                message: format!("not started: {note}"),
                ..RowResult::skipped(r)
            },
        })
        .collect();
    if let Some(journal) = journal {
        for r in &results {
            append(journal, r);
        }
    }
    info.note = Some(note);
    finish(run_dir, info, &merge(kept, results), exit)
}

/// Write every output, print the summary, and settle the exit code. Outputs that cannot be
/// written turn a clean run into "needs attention": the audit trail is part of the job.
pub fn finish(run_dir: &Path, info: &mut RunInfo, results: &[RowResult], exit: Exit) -> Exit {
    let mut exit = exit;
    info.finished_at = Some(Utc::now());
    info.exit_code = Some(exit.code());
    match report::write_outputs(run_dir, info, results) {
        Ok(summary) => print!("{}", summary.to_text(results)),
        Err(e) => {
            tracing::error!("cannot write the outputs of {}: {e:#}", run_dir.display());
            if exit == Exit::Ok {
                exit = Exit::RowsNeedAttention;
            }
        }
    }
    exit
}

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
    /// The last readable line of every row (a row's later line replaces an earlier one).
    pub by_row: BTreeMap<usize, RowResult>,
    /// Which lines could not be read and were skipped, as a note for the outputs; `None` when
    /// every line was read.
    pub skipped: Option<String>,
}

/// The journal of `run_dir`. A missing journal is an empty one: the run died before its first
/// row finished. Unreadable lines are skipped (see [`Journal::read_lines`]): their rows count as
/// not finished, so resume and retry ask the server about them before sending anything.
pub fn journal_by_row(run_dir: &Path) -> Result<JournalRows, JournalError> {
    let path = run_dir.join(report::JOURNAL_FILE);
    if !path.exists() {
        return Ok(JournalRows::default());
    }
    let lines = Journal::read_lines(&path)?;
    let skipped = (!lines.unreadable.is_empty()).then(|| {
        let numbers: Vec<String> = lines.unreadable.iter().map(usize::to_string).collect();
        format!(
            "{} line{} {} could not be read and {} skipped: {} rows counted as not finished",
            path.display(),
            if numbers.len() == 1 { "" } else { "s" },
            numbers.join(", "),
            if numbers.len() == 1 { "was" } else { "were" },
            if numbers.len() == 1 { "its" } else { "their" },
        )
    });
    Ok(JournalRows {
        by_row: lines.rows.into_iter().map(|r| (r.row, r)).collect(),
        skipped,
    })
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
        .map(super::run::RowSelection::parse)
        .transpose()
        .map_err(|e| format!("the row selection recorded in summary.json is unreadable: {e}"))?;
    Ok(manifest
        .rows
        .iter()
        .map(|r| r.row)
        .filter(|row| selection.as_ref().is_none_or(|s| s.contains(*row)))
        .collect())
}

/// The settings of a run that continues or retries an earlier one: flags given now (and the
/// `KIRIM_XRAY_*` variables, which clap folds into them) and a `--config` file given now win;
/// everything else is what the earlier run used, so the manifest is read the same way and the
/// same gateway is used at the same rate. `out` fills in when nothing above says.
pub fn inherited_settings(
    api: &ApiArgs,
    manifest: &ManifestArgs,
    earlier: &PublicSettings,
    out: Option<PathBuf>,
    need: Need,
) -> Result<Settings, ConfigError> {
    let lookup = |name: &str| std::env::var(name).ok();
    inherited_settings_from(api, manifest, earlier, out, need, &lookup)
}

/// [`inherited_settings`] with the environment read through `lookup`. The environment is a layer
/// of its own, under the flags: clap folds most `KIRIM_XRAY_*` variables into the flags, but not
/// the switches (`KIRIM_XRAY_QUIET`, `KIRIM_XRAY_ALLOW_HTTP`).
fn inherited_settings_from(
    api: &ApiArgs,
    manifest: &ManifestArgs,
    earlier: &PublicSettings,
    out: Option<PathBuf>,
    need: Need,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Settings, ConfigError> {
    let flags = Layer::from_args(api, manifest).or(Layer::from_env(lookup)?);
    let file = match &api.config {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => Layer::from_toml(&text, path)?,
            Err(e) => {
                return Err(ConfigError(format!(
                    "cannot read settings file {}: {e}",
                    path.display()
                )));
            }
        },
        None => Layer::default(),
    };
    let earlier = Layer {
        api_url: Some(earlier.api_url.clone()),
        auth_url: Some(earlier.auth_url.clone()),
        rate: Some(earlier.rate),
        burst: Some(earlier.burst),
        concurrency: Some(earlier.concurrency),
        retries: Some(earlier.retries),
        timeout: Some(earlier.timeout_seconds),
        settle: Some(earlier.settle_seconds),
        out,
        images_root: earlier.images_root.clone(),
        allow_outside_root: Some(earlier.allow_outside_root),
        sheet: earlier.sheet.clone(),
        max_images_per_request: Some(earlier.max_images_per_request),
        max_request_bytes: Some(earlier.max_request_bytes),
        max_image_bytes: Some(earlier.max_image_bytes),
        allow_http: Some(earlier.allow_http),
        ca_cert: earlier.ca_cert.clone(),
        log_level: Some(earlier.log_level.clone()),
        quiet: None,
        lock_dir: earlier.lock_dir.clone(),
    };
    let credentials = match need {
        Need::Credentials => Some(credentials_from_env(lookup)?),
        Need::Offline => None,
    };
    let mut s = Settings::from_layers(flags.or(file), earlier, Layer::default(), credentials)?;
    s.config_file = api.config.clone();
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Layer;

    fn row(n: usize, status: RowStatus) -> RowResult {
        let mut r = crate::report::journal::tests::sample(n);
        r.status = status;
        r
    }

    #[test]
    fn merge_keeps_manifest_order_and_new_results_win() {
        let kept = vec![row(5, RowStatus::Match), row(2, RowStatus::Failed)];
        let new = vec![row(3, RowStatus::Match), row(2, RowStatus::Match)];
        let got: Vec<_> = merge(&kept, new)
            .iter()
            .map(|r| (r.row, r.status))
            .collect();
        assert_eq!(
            got,
            [
                (2, RowStatus::Match),
                (3, RowStatus::Match),
                (5, RowStatus::Match)
            ]
        );
        assert_eq!(verdict(&merge(&kept, vec![])), Exit::RowsNeedAttention);
        assert_eq!(verdict(&[row(2, RowStatus::Match)]), Exit::Ok);
    }

    #[test]
    fn inherited_settings_take_the_earlier_run_unless_a_flag_says_otherwise() {
        let mut earlier =
            Settings::from_layers(Layer::default(), Layer::default(), Layer::default(), None)
                .unwrap()
                .public_view();
        earlier.rate = 42.0;
        earlier.concurrency = 7;
        earlier.images_root = Some("/photos".into());
        earlier.api_url = "http://127.0.0.1:1/x".into();
        let api = ApiArgs {
            concurrency: Some(2),
            ..ApiArgs::default()
        };
        let s = inherited_settings(
            &api,
            &ManifestArgs::default(),
            &earlier,
            Some("/runs".into()),
            Need::Offline,
        )
        .unwrap();
        assert_eq!(s.rate, 42.0, "from the earlier run");
        assert_eq!(s.concurrency, 2, "the flag given now wins");
        assert_eq!(s.images_root, Some(PathBuf::from("/photos")));
        assert_eq!(s.api_url, "http://127.0.0.1:1/x");
        assert_eq!(s.out, PathBuf::from("/runs"));

        let api = ApiArgs {
            out: Some("elsewhere".into()),
            ..ApiArgs::default()
        };
        let s = inherited_settings(
            &api,
            &ManifestArgs::default(),
            &earlier,
            Some("/runs".into()),
            Need::Offline,
        )
        .unwrap();
        assert_eq!(s.out, PathBuf::from("elsewhere"));
    }

    #[test]
    fn inherited_settings_take_switches_from_the_environment_too() {
        let mut earlier =
            Settings::from_layers(Layer::default(), Layer::default(), Layer::default(), None)
                .unwrap()
                .public_view();
        earlier.allow_http = true;
        let env = |name: &str| match name {
            "KIRIM_XRAY_QUIET" => Some("1".to_string()),
            "KIRIM_XRAY_ALLOW_HTTP" => Some("false".to_string()),
            "KIRIM_XRAY_RATE" => Some("2".to_string()),
            _ => None,
        };
        let s = inherited_settings_from(
            &ApiArgs::default(),
            &ManifestArgs::default(),
            &earlier,
            Some("/runs".into()),
            Need::Offline,
            &env,
        )
        .unwrap();
        assert!(s.quiet, "KIRIM_XRAY_QUIET given now");
        assert!(
            !s.allow_http,
            "KIRIM_XRAY_ALLOW_HTTP given now wins over the earlier run"
        );
        assert_eq!(s.rate, 2.0);
    }

    #[test]
    fn the_journal_gives_the_last_line_of_each_row() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            journal_by_row(dir.path()).unwrap().by_row.is_empty(),
            "no journal"
        );
        let path = dir.path().join(report::JOURNAL_FILE);
        let j = Journal::create(&path).unwrap();
        j.append(&row(2, RowStatus::Skipped)).unwrap();
        j.append(&row(3, RowStatus::Match)).unwrap();
        j.append(&row(2, RowStatus::Match)).unwrap();
        let read = journal_by_row(dir.path()).unwrap();
        assert_eq!(read.by_row.len(), 2);
        assert_eq!(read.by_row[&2].status, RowStatus::Match);
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
        assert_eq!(read.by_row.keys().copied().collect::<Vec<_>>(), [2, 3, 5]);
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
