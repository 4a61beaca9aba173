//! `kirim-xray ledger rebuild`: recreate `<out>/ledger.sqlite` from every run folder's journal,
//! under the lock of the output folder (a run writing it refuses the rebuild with exit 4).

use std::path::PathBuf;

use chrono::Utc;

use super::locks;
use crate::cli::{ApiArgs, LedgerAction, LedgerArgs, ManifestArgs, OutArgs};
use crate::config::{Need, Settings};
use crate::exit::Exit;
use crate::ledger;

pub fn ledger(args: LedgerArgs) -> Exit {
    crate::logging::init("info", false);
    match args.action {
        LedgerAction::Rebuild(out) => rebuild(&out),
    }
}

/// The output folder the flags, the environment or the settings file name (default ./runs).
pub fn out_folder(args: &OutArgs) -> Result<PathBuf, Exit> {
    let api = ApiArgs {
        config: args.config.clone(),
        out: args.out.clone(),
        ..ApiArgs::default()
    };
    match Settings::load(&api, &ManifestArgs::default(), Need::Offline) {
        Ok(settings) => Ok(settings.out),
        Err(e) => {
            crate::eprintln_escaped!("kirim-xray: {e}");
            Err(Exit::Usage)
        }
    }
}

fn rebuild(args: &OutArgs) -> Exit {
    let out = match out_folder(args) {
        Ok(out) => out,
        Err(exit) => return exit,
    };
    if !out.is_dir() {
        crate::eprintln_escaped!(
            "kirim-xray ledger rebuild: {} is not a folder",
            out.display()
        );
        return Exit::Usage;
    }
    let _lock = match locks::lock(&out, Utc::now()) {
        Ok(lock) => lock,
        Err(exit) => return exit,
    };
    let built = ledger::rebuild(&out).and_then(|conn| {
        let count = |table: &str| -> anyhow::Result<i64> {
            Ok(conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?)
        };
        Ok((count("runs")?, count("rows")?, count("photos")?))
    });
    match built {
        Ok((runs, rows, photos)) => {
            crate::println_escaped!(
                "{}: {runs} runs, {rows} rows, {photos} photos, from the journals",
                ledger::path_in(&out).display()
            );
            Exit::Ok
        }
        Err(e) => {
            crate::eprintln_escaped!("kirim-xray ledger rebuild: {e:#}");
            Exit::Usage
        }
    }
}
