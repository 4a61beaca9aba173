//! `kirim-xray reconcile MANIFEST`: the auditor's mode. Nothing is uploaded: every valid row is
//! asked about with get and compared with its folder (MATCH, MISMATCH with the names, NOT_FOUND),
//! in a run folder of its own with the same files as a run, under the same lock, so that a
//! reconcile never reads the server while a run on the same out folder is changing it.

use chrono::Utc;

use super::run::{Warnings, prepare};
use super::selection::RowSelection;
use super::shared::{self, RowMode};
use crate::cli::ReconcileArgs;
use crate::config::{Need, Settings};
use crate::exit::Exit;

pub fn reconcile(args: ReconcileArgs) -> Exit {
    let settings = match Settings::load(&args.api, &args.manifest_args, Need::Credentials) {
        Ok(s) => s,
        Err(e) => {
            crate::eprintln_escaped!("kirim-xray: {e}");
            return Exit::Usage;
        }
    };
    let log = settings.start_logging();
    let selection = match args.rows.as_deref().map(RowSelection::parse).transpose() {
        Ok(s) => s,
        Err(e) => {
            crate::eprintln_escaped!("kirim-xray: {e}");
            return Exit::Usage;
        }
    };
    let prepared = match prepare(
        &args.manifest,
        &settings,
        selection.as_ref(),
        Warnings::Defer,
    ) {
        Ok(p) => p,
        Err(e) => {
            crate::eprintln_escaped!("kirim-xray: {e}");
            return Exit::Usage;
        }
    };
    if prepared.rows.rows == 0 {
        // As for `run`: an export with no rows is more likely broken than a quiet day.
        crate::eprintln_escaped!(
            "kirim-xray: {} has no data rows: nothing to reconcile",
            args.manifest.display()
        );
        return Exit::RowsNeedAttention;
    }
    let started_at = Utc::now();
    let (_lock, run_dir) = match shared::open_new_run(&settings, &log, started_at) {
        Ok(opened) => opened,
        Err(exit) => return exit,
    };
    let cancel = shared::listen_for_signals();
    let info = shared::new_info(
        "reconcile",
        &run_dir,
        prepared.manifest.clone(),
        selection.map(|s| s.text().to_string()),
        started_at,
        &settings,
    );
    super::run::start(
        &settings,
        run_dir,
        info,
        prepared.rows,
        RowMode::Reconcile,
        &cancel,
    )
}
