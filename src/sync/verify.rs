//! The end of a row: get (retried on unclear, unsent and throttled answers), verify — asking
//! again a settle time later while photos the server acknowledged are not listed — and the row's
//! result with every photo's evidence.

use chrono::Utc;

use super::idle;
use super::plan::Budget;
use super::verdict::{Verdict, image_results, judge, plural};
use super::view::foreign;
use super::{Ending, RowRun, repeatable, unclear};
use crate::api::{ApiError, ServerRecord};
use crate::model::{RowFields, RowResult, RowStatus, SentIn};

impl RowRun<'_> {
    /// get, retried on ambiguous, unsent and throttled outcomes.
    pub(super) fn fetch(&mut self) -> Result<Option<ServerRecord>, ApiError> {
        let mut budget = Budget::default();
        loop {
            self.requests += 1;
            match self.api.get(&self.shipment.meta.nomor_aju) {
                Ok(answer) => {
                    tracing::debug!(
                        row = self.row(),
                        endpoint = "get",
                        photos = answer.as_ref().map(|r| r.detail.len()),
                        "answered"
                    );
                    if let Some(npwp) = answer.as_ref().and_then(|r| r.npwp_pemberitahu.clone()) {
                        self.npwp = Some(npwp);
                    }
                    self.fresh_get = Some(answer.clone());
                    return Ok(answer);
                }
                Err(ApiError::Stopped) => {
                    // Refused before it went out: not a request.
                    self.requests -= 1;
                    return Err(ApiError::Stopped);
                }
                Err(err) if unclear(&err) || repeatable(&err) => {
                    let Some(step) = budget.spend(&err, self.settings.retries) else {
                        tracing::debug!(row = self.row(), endpoint = "get", "gave up: {err}");
                        return Err(err);
                    };
                    self.retries += 1;
                    tracing::warn!(
                        row = self.row(),
                        endpoint = "get",
                        "retry {}: {err}",
                        budget.tries() - 1
                    );
                    let s = self.settings;
                    s.idle
                        .wait(idle::backoff(s.backoff_base, s.backoff_cap, step));
                }
                Err(err) => {
                    tracing::debug!(row = self.row(), endpoint = "get", "gave up: {err}");
                    return Err(err);
                }
            }
        }
    }

    /// The record verify judges by: the latest get if nothing was sent after it, else a new
    /// one. While photos the server acknowledged are not listed (a lagging read), get again a
    /// settle time later, a bounded number of times: never send them again.
    fn verify(&mut self) -> Result<ServerRecord, ApiError> {
        let mut record = match self.fresh_get.take() {
            Some(answer) => answer,
            None => self.fetch()?,
        };
        for _ in 0..self.settings.settle_checks {
            let listed = |name: &str| {
                record
                    .as_ref()
                    .is_some_and(|r| r.detail.iter().any(|p| p.nama_file == name))
            };
            let waiting = record
                .as_ref()
                .is_none_or(|r| foreign(&self.shipment.meta, r).is_none())
                && self.sent.keys().any(|name| !listed(name));
            if !waiting {
                break;
            }
            tracing::debug!(
                row = self.row(),
                "acknowledged photos not listed yet: asking again"
            );
            self.settings.idle.wait(self.settings.settle);
            record = self.fetch()?;
        }
        Ok(record.unwrap_or_default())
    }

    /// Verify if the upload phase got that far, and fill the whole result.
    pub(super) fn finish(mut self, ending: Ending) -> RowResult {
        let shipment = self.shipment;
        let (status, message, record, verdict) = self.conclude(ending);
        let uploaded = self.sent.len();
        let message = self.with_counts(status, message, &verdict);
        let action = self.action();
        let images = image_results(
            &shipment.images,
            &self.sent,
            &self.sent_sha256,
            record.as_ref(),
            &verdict,
        );
        tracing::debug!(
            row = shipment.row,
            status = status.as_str(),
            action,
            "{message}"
        );
        let own_record = record.as_ref().filter(|_| !verdict.foreign);
        RowResult {
            row: shipment.row,
            fields: RowFields {
                nomor_aju: shipment.meta.nomor_aju.clone(),
                nomor_bl_awb: shipment.meta.nomor_bl_awb.clone(),
                tanggal_bl_awb: shipment.meta.tanggal_bl_awb.clone(),
                kode_kantor: shipment.meta.kode_kantor.clone(),
                folder: shipment.folder.clone(),
            },
            status,
            action: action.to_string(),
            local_count: shipment.images.len(),
            uploaded,
            server_count: own_record.map(|r| r.detail.len()),
            missing_on_server: verdict.missing,
            extra_on_server: verdict.extra,
            npwp_pemberitahu: self.npwp.clone(),
            attempts: 1 + self.retries,
            requests: self.requests,
            message,
            started_at: Some(self.started_at),
            finished_at: Some(Utc::now()),
            images,
        }
    }

    /// The row's status and message, the server's record it was judged on, and the verdict.
    fn conclude(&mut self, ending: Ending) -> Outcome {
        let shipment = self.shipment;
        match ending {
            Ending::Verify => match self.verify() {
                Ok(record) => {
                    let v = judge(&shipment.meta, &shipment.images, &record, |name| {
                        self.sent.contains_key(name)
                    });
                    let status = v.status.unwrap_or(RowStatus::Mismatch);
                    (status, v.message.clone(), Some(record), v)
                }
                Err(ApiError::Stopped) => stopped(self.sent.len(), self.requests),
                Err(err) => (
                    RowStatus::Failed,
                    format!("could not verify: {err}"),
                    None,
                    Verdict::default(),
                ),
            },
            Ending::Stopped => stopped(self.sent.len(), self.requests),
            Ending::NotFound(text) => (RowStatus::NotFound, text, None, Verdict::default()),
            Ending::Foreign(text) => {
                let verdict = Verdict {
                    foreign: true,
                    ..Verdict::default()
                };
                (RowStatus::Mismatch, text, None, verdict)
            }
            // A get answered after the last upload still tells the truth about the server.
            Ending::Failed(text) => {
                let record = self.fresh_get.take().flatten();
                let verdict = record
                    .as_ref()
                    .filter(|r| foreign(&shipment.meta, r).is_some())
                    .map(|_| Verdict {
                        foreign: true,
                        ..Verdict::default()
                    })
                    .unwrap_or_default();
                (RowStatus::Failed, text, record, verdict)
            }
        }
    }

    /// A row judged on its own record: the message adds how its photos got there.
    fn with_counts(&self, status: RowStatus, message: String, verdict: &Verdict) -> String {
        let shipment = self.shipment;
        let uploaded = self.sent.len();
        if !matches!(status, RowStatus::Match | RowStatus::Mismatch) || verdict.foreign {
            return message;
        }
        let summary = if uploaded > 0 {
            format!(
                "{uploaded} photo{} sent in {} request{}",
                plural(uploaded),
                self.carrying_requests,
                plural(self.carrying_requests as usize)
            )
        } else {
            format!("all {} photos already on the server", shipment.images.len())
        };
        if message.is_empty() {
            summary
        } else if uploaded > 0 {
            format!("{message}; {summary}")
        } else {
            message
        }
    }

    /// The endpoints the row used: `kirim`, `add`, `kirim+add` or `none`.
    fn action(&self) -> &'static str {
        let used = |endpoint: SentIn| {
            self.ended_on == Some(endpoint) || self.sent.values().any(|(how, _)| *how == endpoint)
        };
        match (used(SentIn::Kirim), used(SentIn::Add)) {
            (true, true) => "kirim+add",
            (true, false) => "kirim",
            (false, true) => "add",
            (false, false) => "none",
        }
    }
}

/// How a row ended: its status, its message, the server's record it was judged on, and the
/// verdict.
type Outcome = (RowStatus, String, Option<ServerRecord>, Verdict);

/// A row the stop caught in flight: SKIPPED (so `run --resume` takes it up again, asking with get
/// first), its acknowledged photos kept in the result and in the counts.
fn stopped(acknowledged: usize, requests: u32) -> Outcome {
    if requests == 0 {
        let message = "stopped before its first request went out".to_string();
        return (RowStatus::Skipped, message, None, Verdict::default());
    }
    let message = format!(
        "stopped in flight, {acknowledged} photo{} acknowledged by the server before the stop: \
         `run --resume` asks with get before sending the rest",
        plural(acknowledged)
    );
    (RowStatus::Skipped, message, None, Verdict::default())
}
