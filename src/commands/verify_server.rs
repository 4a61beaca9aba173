//! `kirim-xray verify RUN_DIR --server`: what customs holds now for each document of a run,
//! compared with what the run's final get saw (the photos it listed, its count). Read-only: get
//! alone, under the usual rate limit and settings (flags, `KIRIM_XRAY_*`, kirim-xray.toml), with
//! the usual credentials from the environment.

use std::collections::BTreeSet;

use crate::api::{Api, ConnectError, HttpApi, ServerRecord};
use crate::cli::{ApiArgs, ManifestArgs};
use crate::config::{Need, Settings};
use crate::exit::Exit;
use crate::model::{RowResult, RowStatus};

/// One thing that is not as the run left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The file, photo or document concerned.
    pub what: String,
    /// How it differs.
    pub why: String,
}

impl Finding {
    pub fn new(what: impl Into<String>, why: impl Into<String>) -> Finding {
        Finding {
            what: what.into(),
            why: why.into(),
        }
    }
}

/// What the server check found.
pub struct ServerCheck {
    pub asked: usize,
    pub findings: Vec<Finding>,
}

/// Why the server could not be checked, and the exit code that says so.
pub struct CannotCheck {
    pub exit: Exit,
    pub message: String,
}

/// What the run knew of a document on the server: `None` when its get found no record, else
/// the names listed and the count.
type RunView = Option<(BTreeSet<String>, Option<usize>)>;

/// The run's view of `r`, when its final get answered (rows that failed or were skipped before
/// any answer have nothing to compare).
fn run_view(r: &RowResult) -> Option<RunView> {
    match r.status {
        RowStatus::Invalid | RowStatus::Failed | RowStatus::Skipped => None,
        RowStatus::NotFound => Some(None),
        RowStatus::Match | RowStatus::Mismatch => {
            let mut names: BTreeSet<String> = r
                .images
                .iter()
                .filter(|i| i.on_server == Some(true))
                .map(|i| i.file.clone())
                .collect();
            names.extend(r.extra_on_server.iter().cloned());
            Some(Some((names, r.server_count)))
        }
    }
}

/// How the record customs holds now differs from the run's view; empty when it does not.
fn compare(run: &RunView, now: Option<&ServerRecord>) -> Vec<String> {
    match (run, now) {
        (None, None) => Vec::new(),
        (None, Some(rec)) => vec![format!(
            "customs now holds a record with {} photos; the run found none",
            rec.total_foto_terupload
                .map_or(rec.detail.len() as u64, |n| n)
        )],
        (Some((names, _)), None) => vec![format!(
            "customs holds no record now; the run saw {} photos",
            names.len()
        )],
        (Some((names, count)), Some(rec)) => {
            let listed: BTreeSet<String> = rec.detail.iter().map(|p| p.nama_file.clone()).collect();
            let mut out = Vec::new();
            let gone: Vec<&str> = names.difference(&listed).map(String::as_str).collect();
            if !gone.is_empty() {
                out.push(format!("customs no longer lists {}", gone.join(", ")));
            }
            let new: Vec<&str> = listed.difference(names).map(String::as_str).collect();
            if !new.is_empty() {
                out.push(format!("customs now also lists {}", new.join(", ")));
            }
            let total = rec.total_foto_terupload.map(|n| n as usize);
            if let (Some(then), Some(now)) = (count, total)
                && *then != now
            {
                out.push(format!("customs counts {now} photos; the run saw {then}"));
            }
            out
        }
    }
}

/// Asks customs about the documents of a run, a slice of rows at a time, over one logged-in
/// client and one pool of workers: the run's rows are never all in memory at once.
pub struct ServerChecker {
    api: HttpApi,
    pool: rayon::ThreadPool,
    asked: usize,
    findings: Vec<Finding>,
}

impl ServerChecker {
    /// Log in with the usual settings and credentials (flags, `KIRIM_XRAY_*`, kirim-xray.toml).
    pub fn connect(api_args: &ApiArgs) -> Result<ServerChecker, CannotCheck> {
        let usage = |message: String| CannotCheck {
            exit: Exit::Usage,
            message,
        };
        let settings = Settings::load(api_args, &ManifestArgs::default(), Need::Credentials)
            .map_err(|e| usage(e.to_string()))?;
        let api_settings = settings
            .to_api_settings()
            .map_err(|e| usage(e.to_string()))?;
        let api = HttpApi::connect(&api_settings).map_err(|e| CannotCheck {
            exit: match e {
                ConnectError::Config(_) => Exit::Usage,
                ConnectError::Auth(_) | ConnectError::Unreachable(_) => Exit::Unreachable,
            },
            message: e.to_string(),
        })?;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(settings.concurrency.max(1))
            .build()
            .map_err(|e| {
                usage(format!(
                    "cannot start {} workers: {e}",
                    settings.concurrency
                ))
            })?;
        Ok(ServerChecker {
            api,
            pool,
            asked: 0,
            findings: Vec::new(),
        })
    }

    /// Ask customs about every document of `rows` whose final get answered, and compare.
    pub fn check(&mut self, rows: &[RowResult]) {
        let docs: Vec<(&RowResult, RunView)> = rows
            .iter()
            .filter_map(|r| run_view(r).map(|v| (r, v)))
            .collect();
        let api = &self.api;
        let answers: Vec<Vec<Finding>> = self.pool.install(|| {
            use rayon::prelude::*;
            docs.par_iter()
                .map(|(r, view)| {
                    let what = format!("row {} {}", r.row, r.fields.nomor_aju);
                    match api.get(&r.fields.nomor_aju) {
                        Ok(now) => compare(view, now.as_ref())
                            .into_iter()
                            .map(|why| Finding::new(what.clone(), why))
                            .collect(),
                        Err(e) => vec![Finding::new(what, format!("get gave no answer: {e}"))],
                    }
                })
                .collect()
        });
        self.asked += docs.len();
        self.findings.extend(answers.into_iter().flatten());
    }

    /// What every slice found, unless no get ever had an answer from the API itself.
    pub fn finish(self) -> Result<ServerCheck, CannotCheck> {
        if let Some(why) = self.api.never_reached() {
            return Err(CannotCheck {
                exit: Exit::Unreachable,
                message: why,
            });
        }
        Ok(ServerCheck {
            asked: self.asked,
            findings: self.findings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ServerPhoto;

    fn record(names: &[&str], total: u64) -> ServerRecord {
        ServerRecord {
            total_foto_terupload: Some(total),
            detail: names
                .iter()
                .map(|n| ServerPhoto {
                    nama_file: (*n).into(),
                    waktu_rekam: None,
                })
                .collect(),
            ..ServerRecord::default()
        }
    }

    #[test]
    fn what_customs_holds_now_is_compared_with_the_run() {
        let seen: RunView = Some((["a.png", "b.png"].map(String::from).into(), Some(2)));
        assert!(compare(&seen, Some(&record(&["a.png", "b.png"], 2))).is_empty());
        let now = record(&["a.png", "c.png"], 3);
        assert_eq!(
            compare(&seen, Some(&now)),
            [
                "customs no longer lists b.png",
                "customs now also lists c.png",
                "customs counts 3 photos; the run saw 2"
            ]
        );
        assert_eq!(
            compare(&seen, None),
            ["customs holds no record now; the run saw 2 photos"]
        );
        assert!(compare(&None, None).is_empty());
        assert_eq!(compare(&None, Some(&now)).len(), 1);
    }

    #[test]
    fn rows_without_an_answer_from_get_are_not_compared() {
        let mut r = crate::report::journal::tests::sample(2);
        r.status = RowStatus::Failed;
        assert!(run_view(&r).is_none());
        r.status = RowStatus::NotFound;
        assert_eq!(run_view(&r), Some(None));
        r.status = RowStatus::Match;
        let (names, _) = run_view(&r).unwrap().unwrap();
        assert!(names.contains("a.png"), "{names:?}");
    }
}
