//! `kirim-xray doctor`: what an operator runs the day the gateway credentials arrive, before the
//! first night. One line per check with ✓ or ✗ and what to do about a ✗: the settings and their
//! sources, the credentials (never printed), DNS, TLS and the CA for both URLs, login, token
//! refresh, a probe get that must come back as the API's own "not found", the clock, the out
//! folder and the locks, and optionally a manifest's plan. Nothing is uploaded.
//! Exit 0 when all is well, 2 when a local problem was found (settings, credentials missing, the
//! clock, the out folder or a lock held), else 3 when the gateway cannot be used.

mod gateway;
mod local;

use std::collections::BTreeSet;

use crate::cli::DoctorArgs;
use crate::config::credentials_from_env;
use crate::config_sources::{self, Layers};
use crate::exit::Exit;

/// Whose problem a failed check is: it decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blame {
    /// This host: settings, credentials missing, the clock, the out folder, a lock (exit 2).
    Local,
    /// The gateway or the way to it: DNS, TLS, login, the API path (exit 3).
    Gateway,
}

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mark {
    Pass,
    Fail(Blame),
    /// Not checked, and why (an earlier check failed, or it does not apply).
    Skipped,
}

/// One printed line: `✓ name: detail`, or `✗ name: detail` with what to do on the next line.
#[derive(Debug, Clone)]
pub struct Check {
    pub mark: Mark,
    pub name: String,
    pub detail: String,
    pub fix: Option<String>,
}

impl Check {
    pub fn pass(name: &str, detail: impl Into<String>) -> Check {
        Check {
            mark: Mark::Pass,
            name: name.into(),
            detail: detail.into(),
            fix: None,
        }
    }

    pub fn fail(blame: Blame, name: &str, detail: impl Into<String>, fix: &str) -> Check {
        Check {
            mark: Mark::Fail(blame),
            name: name.into(),
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    pub fn skipped(name: &str, why: impl Into<String>) -> Check {
        Check {
            mark: Mark::Skipped,
            name: name.into(),
            detail: why.into(),
            fix: None,
        }
    }

    pub fn passed(&self) -> bool {
        self.mark == Mark::Pass
    }

    fn line(&self) -> String {
        let sign = match self.mark {
            Mark::Pass => "✓",
            Mark::Fail(_) => "✗",
            Mark::Skipped => "-",
        };
        let detail = crate::escape::escape_control(&self.detail);
        let mut text = format!("{sign} {}: {detail}\n", self.name);
        if let Some(fix) = &self.fix {
            text += &format!("    → {}\n", crate::escape::escape_control(fix));
        }
        text
    }
}

/// The checks printed so far, and the exit code they call for.
#[derive(Debug, Default)]
struct Report {
    checks: Vec<Check>,
}

impl Report {
    fn add(&mut self, check: Check) {
        print!("{}", check.line());
        self.checks.push(check);
    }

    fn exit(&self) -> Exit {
        let failed = |blame| self.checks.iter().any(|c| c.mark == Mark::Fail(blame));
        if failed(Blame::Local) {
            Exit::Usage
        } else if failed(Blame::Gateway) {
            Exit::Unreachable
        } else {
            Exit::Ok
        }
    }

    fn finish(&self) -> Exit {
        let failed = self
            .checks
            .iter()
            .filter(|c| matches!(c.mark, Mark::Fail(_)))
            .count();
        let exit = self.exit();
        if failed == 0 {
            println!("doctor: every check passed; exit 0");
        } else {
            println!(
                "doctor: {failed} check{} failed; exit {}",
                if failed == 1 { "" } else { "s" },
                exit.code()
            );
        }
        exit
    }
}

pub fn doctor(args: DoctorArgs) -> Exit {
    let mut report = Report::default();
    let settings_check = |e: &dyn std::fmt::Display| {
        Check::fail(
            Blame::Local,
            "settings",
            e.to_string(),
            "fix the flag, the KIRIM_XRAY_* variable or the settings file named above",
        )
    };
    let layers = match Layers::load(&args.api, &args.manifest_args) {
        Ok(layers) => layers,
        Err(e) => {
            report.add(settings_check(&e));
            return report.finish();
        }
    };
    let mut settings = match layers.settings() {
        Ok(settings) => settings,
        Err(e) => {
            report.add(settings_check(&e));
            return report.finish();
        }
    };
    let given: BTreeSet<String> = crate::cli::given_on_command_line("doctor");
    report.add(Check::pass(
        "settings",
        "in force, with where each came from:",
    ));
    let mut rows = vec![config_sources::config_file_row(
        &layers,
        given.contains("config"),
    )];
    rows.extend(config_sources::table(&layers, &settings, &|id| {
        given.contains(id)
    }));
    for line in config_sources::render(&rows).lines() {
        println!("    {line}");
    }

    let lookup = |name: &str| std::env::var(name).ok();
    match credentials_from_env(&lookup) {
        Ok(credentials) => {
            settings.credentials = Some(credentials);
            let used = config_sources::credential_rows(&lookup)
                .into_iter()
                .find(|r| r.key == "credentials")
                .map_or_else(String::new, |r| r.value);
            report.add(Check::pass("credentials", format!("{used} (not shown)")));
        }
        Err(e) => report.add(Check::fail(
            Blame::Local,
            "credentials",
            e.0,
            "put them in the environment file of the job (mode 0600), never on the command line",
        )),
    }

    for check in local::checks(&settings) {
        report.add(check);
    }
    gateway::checks(&settings, &mut |check| report.add(check));
    if let Some(manifest) = &args.manifest {
        for check in local::manifest_plan(manifest, &settings) {
            report.add(check);
        }
    }
    report.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_problem_is_exit_2_before_a_gateway_one_and_all_well_is_0() {
        let mut r = Report::default();
        r.checks.push(Check::pass("a", "fine"));
        assert_eq!(r.exit(), Exit::Ok);
        r.checks.push(Check::skipped("b", "not asked"));
        assert_eq!(r.exit(), Exit::Ok);
        r.checks
            .push(Check::fail(Blame::Gateway, "login", "refused", "fix it"));
        assert_eq!(r.exit(), Exit::Unreachable);
        r.checks
            .push(Check::fail(Blame::Local, "out", "locked", "wait"));
        assert_eq!(r.exit(), Exit::Usage);
    }

    #[test]
    fn a_failed_line_says_what_to_do_and_escapes_control_characters() {
        let line = Check::fail(Blame::Local, "out", "bad\u{1b}[2J", "do this").line();
        assert_eq!(line, "✗ out: bad\\u{1b}[2J\n    → do this\n");
    }

    #[test]
    fn a_clock_off_by_more_than_a_minute_is_a_local_problem() {
        use std::time::{Duration, SystemTime};
        let now = SystemTime::now();
        assert!(gateway::clock(Some(now)).passed());
        let behind = gateway::clock(Some(now + Duration::from_secs(300)));
        assert_eq!(behind.mark, Mark::Fail(Blame::Local));
        assert!(behind.detail.contains("behind"), "{}", behind.detail);
        let ahead = gateway::clock(Some(now - Duration::from_secs(300)));
        assert!(ahead.detail.contains("ahead of"), "{}", ahead.detail);
        assert_eq!(gateway::clock(None).mark, Mark::Skipped);
    }
}
