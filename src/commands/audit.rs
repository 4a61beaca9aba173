//! `kirim-xray audit`: the documents of a period across every run under `--out`, from the ledger
//! (caught up with the journals first, or rebuilt when missing or corrupt): the counts and every
//! document not MATCH in the terminal, or one document's story (`--aju`), and audit.html,
//! audit.csv and audit.xlsx in `--out-dir`. Exit 0 when every listed document is MATCH, 1 when
//! some are not (or the `--aju` document is not in the ledger), 2 for bad arguments or a ledger
//! that cannot be read or rebuilt.

use std::path::PathBuf;

use chrono::{NaiveDate, SecondsFormat, Utc};

use super::ledger_cmd::out_folder;
use crate::audit::{self, Scope};
use crate::cli::{AuditArgs, AuditBy};
use crate::exit::Exit;
use crate::ledger::query::{self, By, Filter};
use crate::ledger::{self as ledger_mod};
use crate::model::RowStatus;
use crate::runfolder;

fn usage(message: &str) -> Exit {
    crate::eprintln_escaped!("kirim-xray audit: {message}");
    Exit::Usage
}

fn date(flag: &str, value: Option<&str>) -> Result<Option<NaiveDate>, String> {
    value
        .map(|v| {
            NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d")
                .map_err(|_| format!("{flag} {v}: not a date (yyyy-mm-dd)"))
        })
        .transpose()
}

/// The flags as a query; a message for the first bad one.
fn filter_of(args: &AuditArgs) -> Result<Filter, String> {
    let from = date("--from", args.from.as_deref())?;
    let to = date("--to", args.to.as_deref())?;
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        return Err(format!("--from {f} is after --to {t}"));
    }
    let mut statuses = Vec::new();
    for s in &args.status {
        if s.trim().eq_ignore_ascii_case("NOT_MATCH") {
            statuses.extend(
                RowStatus::ALL
                    .into_iter()
                    .filter(|s| *s != RowStatus::Match),
            );
        } else {
            statuses.push(RowStatus::parse(s).ok_or_else(|| {
                format!(
                    "--status {s}: not a status (MATCH, MISMATCH, NOT_FOUND, INVALID, FAILED, \
                     SKIPPED, NOT_MATCH)"
                )
            })?);
        }
    }
    Ok(Filter {
        from,
        to,
        by: match args.by {
            AuditBy::Bl => By::Bl,
            AuditBy::Run => By::Run,
        },
        statuses,
        kode_kantor: args.kode_kantor.clone(),
        aju: args.aju.clone(),
    })
}

/// How the scope reads in every output: `tanggalBlAwb 2026-11-01 to 2026-11-30, FAILED`.
fn title(f: &Filter) -> String {
    let on = match f.by {
        By::Bl => "tanggalBlAwb",
        By::Run => "runs started",
    };
    let day = |d: &Option<NaiveDate>| d.map_or("…".to_string(), |d| d.to_string());
    let mut t = if f.from.is_none() && f.to.is_none() {
        "every document".to_string()
    } else {
        format!("{on} {} to {}", day(&f.from), day(&f.to))
    };
    if !f.statuses.is_empty() {
        let s: Vec<&str> = f.statuses.iter().map(|s| s.as_str()).collect();
        t.push_str(&format!(", status {}", s.join("/")));
    }
    if let Some(k) = &f.kode_kantor {
        t.push_str(&format!(", kodeKantor {k}"));
    }
    if let Some(a) = &f.aju {
        t.push_str(&format!(", nomorAju {a}"));
    }
    t
}

pub fn audit(args: AuditArgs) -> Exit {
    crate::logging::init("warn", false);
    let filter = match filter_of(&args) {
        Ok(f) => f,
        Err(m) => return usage(&m),
    };
    let out = match out_folder(&args.out) {
        Ok(out) => out,
        Err(exit) => return exit,
    };
    if !out.is_dir() {
        return usage(&format!(
            "{} is not a folder of runs (see --out)",
            out.display()
        ));
    }
    // Under the lock of the output folder the ledger is caught up (or rebuilt) in place; while a
    // run holds it, the ledger is only read, or built aside when it is not current.
    let opened = match runfolder::lock_out(&out, Utc::now()) {
        Ok(_lock) => ledger_mod::open_current(&out).map(|c| (c, None)),
        Err(e) => {
            if e.is_held() {
                tracing::warn!("{e}: the ledger is read as it stands, or built aside");
            }
            ledger_mod::open_for_reading(&out)
        }
    };
    let (conn, _private) = match opened {
        Ok(x) => x,
        Err(e) => return usage(&format!("cannot read or rebuild the ledger: {e:#}")),
    };
    let docs = match query::documents(&conn, &filter) {
        Ok(d) => d,
        Err(e) => return usage(&format!("cannot read the ledger: {e:#}")),
    };
    let scope = Scope {
        title: title(&filter),
        made_at: Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
        ledger: ledger_mod::path_in(&out).display().to_string(),
    };
    if let Some(aju) = &args.aju {
        match docs.first() {
            Some(doc) => print!("{}", audit::text::story(doc)),
            None => {
                crate::println_escaped!("nomorAju {aju}: not in the ledger of {}", out.display())
            }
        }
    } else {
        print!("{}", audit::text::listing(&scope, &docs));
    }
    if args.aju.is_none() || args.out_dir.is_some() {
        let dir = args.out_dir.clone().unwrap_or_else(|| {
            PathBuf::from(format!("audit-{}", runfolder::run_dir_name(Utc::now())))
        });
        if let Err(e) = audit::write_outputs(&dir, &scope, &docs) {
            return usage(&format!("{e:#}"));
        }
        crate::println_escaped!(
            "written: {}, {} and {} in {}",
            audit::AUDIT_HTML,
            audit::AUDIT_CSV,
            audit::AUDIT_XLSX,
            dir.display()
        );
    }
    if docs.is_empty() && args.aju.is_some() {
        return Exit::RowsNeedAttention;
    }
    if docs.iter().all(|d| d.status() == "MATCH") {
        Exit::Ok
    } else {
        Exit::RowsNeedAttention
    }
}
