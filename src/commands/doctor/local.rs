//! doctor's checks of this host: the out folder can be written, nobody holds its lock or the
//! account's, and (with `--manifest`) the manifest's plan. A lock is only tried, never kept: a
//! lock that is free is taken for a moment and let go; one that is held is reported with its
//! holder, and stays with it.

use std::path::Path;

use chrono::Utc;

use super::{Blame, Check};
use crate::commands::{locks, run};
use crate::config::Settings;
use crate::exit::Exit;
use crate::runfolder::{self, LockError};

pub fn checks(settings: &Settings) -> Vec<Check> {
    let mut checks = vec![out_writable(&settings.out)];
    checks.push(out_lock(&settings.out));
    checks.push(account_lock(settings));
    checks
}

fn out_writable(out: &Path) -> Check {
    let shown = out.display();
    let fix = "give the job's user write access to it, or choose another --out";
    if out.exists() {
        if !out.is_dir() {
            return Check::fail(Blame::Local, "out", format!("{shown} is not a folder"), fix);
        }
        return match tempfile::Builder::new()
            .prefix(".kirim-xray-doctor")
            .tempfile_in(out)
        {
            Ok(_) => Check::pass("out", format!("{shown} is writable")),
            Err(e) => Check::fail(
                Blame::Local,
                "out",
                format!("{shown} is not writable: {e}"),
                fix,
            ),
        };
    }
    // The first run creates it: the nearest folder that exists must let it.
    let absolute = std::path::absolute(out).unwrap_or_else(|_| out.to_path_buf());
    let Some(parent) = absolute.ancestors().skip(1).find(|p| p.is_dir()) else {
        return Check::fail(
            Blame::Local,
            "out",
            format!("{shown}: no folder above it exists"),
            fix,
        );
    };
    match tempfile::Builder::new()
        .prefix(".kirim-xray-doctor")
        .tempfile_in(parent)
    {
        Ok(_) => Check::pass(
            "out",
            format!(
                "{shown} does not exist yet; the first run creates it in {}",
                parent.display()
            ),
        ),
        Err(e) => Check::fail(
            Blame::Local,
            "out",
            format!(
                "{shown} does not exist and {} is not writable: {e}",
                parent.display()
            ),
            fix,
        ),
    }
}

fn out_lock(out: &Path) -> Check {
    if !out.join(runfolder::LOCK_FILE).is_file() {
        return Check::pass("out lock", "free (no run has used this folder yet)");
    }
    match runfolder::lock_out(out, Utc::now()) {
        Ok(_free) => Check::pass("out lock", "free"),
        Err(e @ LockError::Held { .. }) => Check::fail(
            Blame::Local,
            "out lock",
            e.to_string(),
            "a run started now would exit 4: wait for that run to end, or use another --out",
        ),
        Err(e) => Check::fail(
            Blame::Local,
            "out lock",
            e.to_string(),
            "make the lock file readable and writable by the job's user",
        ),
    }
}

fn account_lock(settings: &Settings) -> Check {
    let Some(account) = locks::account_of(settings) else {
        return Check::skipped("account lock", "no credentials");
    };
    if !account.lock_path(&settings.lock_dir).is_file() {
        return Check::pass(
            "account lock",
            format!(
                "free ({} in {})",
                account.label,
                settings.lock_dir.display()
            ),
        );
    }
    match runfolder::lock_account(&settings.lock_dir, &account, Utc::now()) {
        Ok(_free) => Check::pass("account lock", format!("free ({})", account.label)),
        Err(e) if e.is_held() => Check::fail(
            Blame::Local,
            "account lock",
            e.to_string(),
            "a run for this account started now would exit 4: wait for the run named above",
        ),
        Err(e) => Check::fail(
            Blame::Local,
            "account lock",
            e.to_string(),
            "make the lock folder (--lock-dir) writable by the job's user",
        ),
    }
}

/// Validate the manifest as `run` would and print its plan; nothing is sent.
pub fn manifest_plan(manifest: &Path, settings: &Settings) -> Vec<Check> {
    let prepared = match run::prepare(manifest, settings, None, run::Warnings::Print) {
        Ok(p) => p,
        Err(e) => {
            return vec![Check::fail(
                Blame::Local,
                "manifest",
                e,
                "fix the file, or see `kirim-xray validate` and docs/manifest.md",
            )];
        }
    };
    let (plan, exit) = run::plan(&prepared, settings, None);
    for line in plan.lines().filter(|l| !l.starts_with("dry run:")) {
        println!("    {line}");
    }
    let invalid = prepared.rows.rows - prepared.rows.valid;
    if exit == Exit::Ok {
        vec![Check::pass(
            "manifest",
            format!("{} valid rows", prepared.rows.rows),
        )]
    } else {
        vec![Check::fail(
            Blame::Local,
            "manifest",
            format!(
                "{invalid} of {} rows are invalid (listed above)",
                prepared.rows.rows
            ),
            "fix those rows, or run anyway: invalid rows are never sent",
        )]
    }
}
