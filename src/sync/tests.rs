//! The protocol against a fake server that keeps real state (records with name lists, duplicates
//! included) and answers each endpoint's calls from a script of injected faults.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::Mutex;

use super::*;
use crate::api::{ServerPhoto, UploadOk};
use crate::model::{DocMeta, RowStatus};

const AJU: &str = "AJU1";
const NPWP: &str = "0123456789012345000000";

#[derive(Debug, Clone)]
enum Fault {
    /// Store the photos, then answer as if the connection dropped.
    AmbiguousAfterStore,
    /// Answer 503 before storing anything.
    AmbiguousBeforeStore,
    NotSent,
    Throttled,
    Rejected(u16, &'static str),
    Auth,
    Local,
    /// Delete the record before handling the call.
    Wipe,
    /// Store every photo but the last one, and answer success anyway.
    LoseLast,
    /// Answer as if the gateway timed out, and store the photos only after this many more gets
    /// (a late commit).
    LateCommit(usize),
    /// Store, and report that this photo's bytes as sent were not those validated (the file
    /// was rewritten in between).
    Rewritten(&'static str),
    /// A gateway's own page with this status (not the API's answer), before storing.
    Gateway(u16),
    /// Store, then a gateway's 504 page (a late answer of a request that was applied).
    GatewayAfterStore,
    /// The run is stopping: the client sends nothing.
    Stopped,
}

fn gateway_page(status: u16) -> ApiError {
    ApiError::Gateway {
        status,
        page: format!("{status} Gateway page"),
    }
}

#[derive(Default)]
struct Server {
    /// nomorAju → names held, in arrival order, duplicates kept.
    records: HashMap<String, Vec<String>>,
    /// nomorAju customs does not know.
    unknown: HashSet<String>,
    faults: HashMap<&'static str, VecDeque<Fault>>,
    /// (endpoint, names sent) per call.
    calls: Vec<(&'static str, Vec<String>)>,
    /// The next this many gets answer from a replica that has not seen any record yet.
    stale_gets: usize,
    /// Late commits: (gets still to come before it lands, names).
    pending: Vec<(usize, Vec<String>)>,
    /// get lists at most this many photos (totalFotoTerupload still counts all).
    list_limit: Option<usize>,
    /// get says the record belongs to this BL/AWB instead of the row's.
    foreign_bl: Option<&'static str>,
}

#[derive(Default)]
struct FakeApi(Mutex<Server>);

impl FakeApi {
    fn with_record(names: &[&str]) -> FakeApi {
        let api = FakeApi::default();
        api.server()
            .records
            .insert(AJU.into(), names.iter().map(|n| n.to_string()).collect());
        api
    }

    fn server(&self) -> std::sync::MutexGuard<'_, Server> {
        self.0.lock().unwrap()
    }

    fn fault(self, endpoint: &'static str, fault: Fault) -> Self {
        self.server()
            .faults
            .entry(endpoint)
            .or_default()
            .push_back(fault);
        self
    }

    fn faults(self, endpoint: &'static str, fault: Fault, n: usize) -> Self {
        (0..n).fold(self, |api, _| api.fault(endpoint, fault.clone()))
    }

    fn held(&self) -> Vec<String> {
        self.server().records.get(AJU).cloned().unwrap_or_default()
    }

    fn calls(&self) -> Vec<(&'static str, Vec<String>)> {
        self.server().calls.clone()
    }

    fn endpoints(&self) -> Vec<&'static str> {
        self.calls().into_iter().map(|(e, _)| e).collect()
    }

    fn upload(
        &self,
        kirim: bool,
        meta: &DocMeta,
        images: &[LocalImage],
    ) -> Result<UploadAnswer, ApiError> {
        let endpoint = if kirim { "kirim" } else { "add" };
        let mut server = self.server();
        let mut names: Vec<String> = images.iter().map(|i| i.name.clone()).collect();
        server.calls.push((endpoint, names.clone()));
        let fault = server.faults.get_mut(endpoint).and_then(|q| q.pop_front());
        let mut after_store = None;
        let mut rewritten = None;
        match fault {
            None => {}
            Some(Fault::AmbiguousAfterStore) => {
                after_store = Some(ApiError::Ambiguous("connection dropped".into()))
            }
            Some(Fault::AmbiguousBeforeStore) => {
                return Err(ApiError::Ambiguous("HTTP 503".into()));
            }
            Some(Fault::Gateway(status)) => return Err(gateway_page(status)),
            Some(Fault::GatewayAfterStore) => after_store = Some(gateway_page(504)),
            Some(Fault::NotSent) => return Err(ApiError::NotSent("connection refused".into())),
            Some(Fault::Throttled) => {
                return Err(ApiError::Throttled {
                    retry_after: Duration::ZERO,
                });
            }
            Some(Fault::Rejected(status, message)) => {
                return Err(ApiError::Rejected {
                    status,
                    message: message.into(),
                });
            }
            Some(Fault::Auth) => return Err(ApiError::Auth("login refused".into())),
            Some(Fault::Local) => {
                return Err(ApiError::Local(format!(
                    "photo {} cannot be opened",
                    names[0]
                )));
            }
            Some(Fault::Wipe) => {
                server.records.remove(&meta.nomor_aju);
            }
            Some(Fault::LoseLast) => {
                names.pop();
            }
            Some(Fault::LateCommit(gets)) => {
                server.pending.push((gets, names));
                return Err(ApiError::Ambiguous("HTTP 504".into()));
            }
            Some(Fault::Rewritten(name)) => rewritten = Some(name),
            Some(Fault::Stopped) => return Err(ApiError::Stopped),
        }
        if server.unknown.contains(&meta.nomor_aju) {
            return Ok(UploadAnswer::NotFound {
                message: "Gagal Kirim Foto Xray, Data BL/AWB CN tidak ditemukan".into(),
            });
        }
        let exists = server.records.contains_key(&meta.nomor_aju);
        if kirim && exists {
            return Ok(UploadAnswer::Conflict {
                message: "Data X-Ray sudah ada".into(),
            });
        }
        if !kirim && !exists {
            return Ok(UploadAnswer::NotFound {
                message: "Data Foto Xray tidak ditemukan".into(),
            });
        }
        let count = names.len() as u64;
        // What a sender that hashes the bytes as they stream reports.
        let sent_sha256 = images
            .iter()
            .map(|i| match rewritten {
                Some(name) if name == i.name => (i.name.clone(), format!("sent-{name}")),
                _ => (i.name.clone(), i.sha256.clone()),
            })
            .collect();
        server
            .records
            .entry(meta.nomor_aju.clone())
            .or_default()
            .extend(names);
        match after_store {
            Some(err) => Err(err),
            None => Ok(UploadAnswer::Stored(UploadOk {
                npwp_pemberitahu: Some(NPWP.into()),
                jumlah_foto_terupload: Some(count),
                message: "Sukses".into(),
                sent_sha256,
            })),
        }
    }
}

impl Api for FakeApi {
    fn kirim(&self, meta: &DocMeta, images: &[LocalImage]) -> Result<UploadAnswer, ApiError> {
        self.upload(true, meta, images)
    }

    fn add(&self, meta: &DocMeta, images: &[LocalImage]) -> Result<UploadAnswer, ApiError> {
        self.upload(false, meta, images)
    }

    fn get(&self, nomor_aju: &str) -> Result<Option<ServerRecord>, ApiError> {
        let mut server = self.server();
        server.calls.push(("get", Vec::new()));
        match server.faults.get_mut("get").and_then(|q| q.pop_front()) {
            None => {}
            Some(Fault::NotSent) => return Err(ApiError::NotSent("connection refused".into())),
            Some(Fault::Rejected(status, message)) => {
                return Err(ApiError::Rejected {
                    status,
                    message: message.into(),
                });
            }
            Some(Fault::Gateway(status)) => return Err(gateway_page(status)),
            Some(Fault::Stopped) => return Err(ApiError::Stopped),
            Some(_) => return Err(ApiError::Ambiguous("HTTP 503".into())),
        }
        // Late commits land as gets go by.
        let mut landed = Vec::new();
        server.pending.retain_mut(|(gets, names)| {
            if *gets == 0 {
                landed.append(names);
                return false;
            }
            *gets -= 1;
            true
        });
        if !landed.is_empty() {
            server.records.entry(AJU.into()).or_default().extend(landed);
        }
        if server.stale_gets > 0 {
            server.stale_gets -= 1;
            return Ok(None);
        }
        let limit = server.list_limit.unwrap_or(usize::MAX);
        let bl = server.foreign_bl.unwrap_or("BL1");
        Ok(server.records.get(nomor_aju).map(|names| ServerRecord {
            npwp_pemberitahu: Some(NPWP.into()),
            nomor_bl_awb: Some(bl.into()),
            tanggal_bl_awb: Some("2025-09-30".into()),
            kode_kantor: Some("009000".into()),
            total_foto_terupload: Some(names.len() as u64),
            detail: names
                .iter()
                .take(limit)
                .enumerate()
                .map(|(i, n)| ServerPhoto {
                    nama_file: n.clone(),
                    waktu_rekam: Some(format!("2025-01-01 00:00:{i:02}")),
                })
                .collect(),
        }))
    }
}

fn image(name: &str, bytes: u64) -> LocalImage {
    LocalImage {
        name: name.into(),
        path: PathBuf::from("/nonexistent").join(name),
        bytes,
        sha256: format!("sha-{name}"),
        content_type: "image/jpeg",
    }
}

fn shipment_of(images: Vec<LocalImage>) -> Shipment {
    Shipment {
        row: 7,
        meta: DocMeta {
            nomor_aju: AJU.into(),
            nomor_bl_awb: "BL1".into(),
            tanggal_bl_awb: "2025-09-30".into(),
            kode_kantor: "009000".into(),
        },
        folder: "photos/bl1".into(),
        images,
    }
}

fn shipment(names: &[&str]) -> Shipment {
    shipment_of(names.iter().map(|n| image(n, 100)).collect())
}

fn numbered(n: usize) -> Shipment {
    shipment_of(
        (0..n)
            .map(|i| image(&format!("p{i:03}.jpg"), 100))
            .collect(),
    )
}

fn settings() -> SyncSettings {
    SyncSettings {
        max_images_per_request: 10,
        max_request_bytes: 20 * 1024 * 1024,
        retries: 3,
        backoff_base: Duration::ZERO,
        backoff_cap: Duration::ZERO,
        settle: Duration::ZERO,
        settle_checks: 3,
        idle: Idle::default(),
    }
}

fn names_of_images(images: &[LocalImage]) -> Vec<String> {
    images.iter().map(|i| i.name.clone()).collect()
}

fn names_of(shipment: &Shipment) -> Vec<String> {
    shipment.images.iter().map(|i| i.name.clone()).collect()
}

/// The server holds every local photo exactly once.
fn assert_exactly_once(api: &FakeApi, shipment: &Shipment) {
    let mut held = api.held();
    held.sort();
    assert_eq!(held, names_of(shipment));
}

fn sent_in(result: &RowResult) -> Vec<SentIn> {
    result.images.iter().map(|i| i.sent_in).collect()
}

#[test]
fn one_request_row_is_sent_with_kirim_and_verified() {
    let api = FakeApi::default();
    let s = shipment(&["a.jpg", "b.jpg", "c.png"]);
    let r = sync_row(&api, &s, &settings(), false);
    assert_eq!(r.status, RowStatus::Match, "{}", r.message);
    assert_eq!(r.action, "kirim");
    assert_eq!(api.endpoints(), ["kirim", "get"]);
    assert_exactly_once(&api, &s);
    assert_eq!((r.local_count, r.uploaded, r.server_count), (3, 3, Some(3)));
    assert_eq!((r.attempts, r.requests), (1, 2));
    assert_eq!(r.npwp_pemberitahu.as_deref(), Some(NPWP));
    assert_eq!(r.message, "3 photos sent in 1 request");
    assert!(r.missing_on_server.is_empty() && r.extra_on_server.is_empty());
    assert_eq!(r.row, 7);
    assert_eq!(r.fields.nomor_aju, AJU);
    assert_eq!(r.fields.folder, "photos/bl1");
    assert!(r.started_at.is_some() && r.finished_at >= r.started_at);
    assert_eq!(r.images.len(), 3);
    let first = &r.images[0];
    assert_eq!(first.file, "a.jpg");
    assert_eq!(first.sha256, "sha-a.jpg");
    assert_eq!(first.content_type, "image/jpeg");
    assert_eq!(first.bytes, 100);
    assert_eq!(first.sent_in, SentIn::Kirim);
    assert!(first.sent_at.is_some());
    assert_eq!(first.on_server, Some(true));
    assert_eq!(
        first.server_waktu_rekam.as_deref(),
        Some("2025-01-01 00:00:00")
    );
}

#[test]
fn rows_are_split_by_image_count() {
    let api = FakeApi::default();
    let s = numbered(25);
    let r = sync_row(&api, &s, &settings(), false);
    assert_eq!(r.status, RowStatus::Match, "{}", r.message);
    let sizes: Vec<(&str, usize)> = api.calls().iter().map(|(e, n)| (*e, n.len())).collect();
    assert_eq!(sizes, [("kirim", 10), ("add", 10), ("add", 5), ("get", 0)]);
    assert_eq!(r.action, "kirim+add");
    assert_eq!(r.message, "25 photos sent in 3 requests");
    assert_eq!((r.uploaded, r.requests, r.attempts), (25, 4, 1));
    assert_eq!(sent_in(&r)[9], SentIn::Kirim);
    assert_eq!(sent_in(&r)[10], SentIn::Add);
    assert_exactly_once(&api, &s);
}

#[test]
fn rows_are_split_by_bytes_and_a_big_image_goes_alone() {
    let images = vec![
        image("a", 6),
        image("b", 6),
        image("c", 6),
        image("d", 25),
        image("e", 3),
    ];
    let refs: Vec<&LocalImage> = images.iter().collect();
    let split: Vec<Vec<&str>> = split_requests(&refs, 10, 12)
        .iter()
        .map(|r| r.iter().map(|i| i.name.as_str()).collect())
        .collect();
    assert_eq!(split, vec![vec!["a", "b"], vec!["c"], vec!["d"], vec!["e"]]);
    // Both limits at once, and a zero count limit still makes progress.
    assert_eq!(split_requests(&refs, 1, 100).len(), 5);
    assert_eq!(split_requests(&refs, 0, 100).len(), 5);
    assert!(split_requests(&[], 10, 100).is_empty());

    let api = FakeApi::default();
    let s = shipment_of(images.clone());
    let mut st = settings();
    st.max_request_bytes = 12;
    let r = sync_row(&api, &s, &st, false);
    assert_eq!(r.status, RowStatus::Match);
    let calls: Vec<_> = api.calls().into_iter().map(|(e, n)| (e, n.len())).collect();
    assert_eq!(
        calls,
        [("kirim", 2), ("add", 1), ("add", 1), ("add", 1), ("get", 0)]
    );
    assert_exactly_once(&api, &s);
}

#[test]
fn unknown_bl_awb_is_not_found_without_verify() {
    let api = FakeApi::default();
    api.server().unknown.insert(AJU.into());
    let s = numbered(12);
    let r = sync_row(&api, &s, &settings(), false);
    assert_eq!(r.status, RowStatus::NotFound);
    assert_eq!(
        r.message,
        "Gagal Kirim Foto Xray, Data BL/AWB CN tidak ditemukan"
    );
    assert_eq!(api.endpoints(), ["kirim"]);
    assert_eq!(
        (r.action.as_str(), r.uploaded, r.server_count),
        ("kirim", 0, None)
    );
    assert!(
        r.images
            .iter()
            .all(|i| i.sent_in == SentIn::None && i.on_server.is_none())
    );
}

#[test]
fn a_bl_awb_not_found_lately_is_asked_with_get_only() {
    let api = FakeApi::default();
    api.server().unknown.insert(AJU.into());
    let s = numbered(3);
    let r = sync_row_not_found_lately(&api, &s, &settings(), "not asked again".into());
    assert_eq!(r.status, RowStatus::NotFound);
    assert_eq!(r.message, "not asked again");
    assert_eq!(api.endpoints(), ["get"], "no photo is sent");
    assert_eq!(
        (r.action.as_str(), r.uploaded, r.server_count, r.requests),
        ("none", 0, Some(0), 1)
    );
    assert!(
        r.images
            .iter()
            .all(|i| i.sent_in == SentIn::None && i.on_server == Some(false))
    );
}

#[test]
fn a_bl_awb_not_found_lately_whose_data_is_now_held_gets_only_the_rest() {
    // Customs knows the document now, and holds some of its photos (sent another way): the
    // rest goes with add, and the row is verified.
    let api = FakeApi::with_record(&["a.jpg"]);
    let s = shipment(&["a.jpg", "b.jpg"]);
    let r = sync_row_not_found_lately(&api, &s, &settings(), "not asked again".into());
    assert_eq!(r.status, RowStatus::Match, "{}", r.message);
    assert_eq!(api.endpoints(), ["get", "add", "get"]);
    assert_eq!(api.calls()[1].1, ["b.jpg"]);
    assert_exactly_once(&api, &s);
}

#[test]
fn a_bl_awb_not_found_lately_that_cannot_be_asked_about_fails() {
    let api = FakeApi::default().faults("get", Fault::Rejected(400, "bad request"), 1);
    let s = numbered(2);
    let r = sync_row_not_found_lately(&api, &s, &settings(), "not asked again".into());
    assert_eq!(r.status, RowStatus::Failed, "{}", r.message);
    assert!(r.message.starts_with("could not check the server first"));
    assert_eq!(api.endpoints(), ["get"]);
}

#[test]
fn conflict_adds_only_what_the_server_lacks() {
    let api = FakeApi::with_record(&["a.jpg", "c.jpg"]);
    let s = shipment(&["a.jpg", "b.jpg", "c.jpg", "d.jpg"]);
    let r = sync_row(&api, &s, &settings(), false);
    assert_eq!(r.status, RowStatus::Match, "{}", r.message);
    let calls = api.calls();
    assert_eq!(api.endpoints(), ["kirim", "get", "add", "get"]);
    assert_eq!(calls[2].1, ["b.jpg", "d.jpg"]);
    assert_eq!(r.action, "add");
    assert_eq!(r.uploaded, 2);
    assert_eq!(
        sent_in(&r),
        [SentIn::None, SentIn::Add, SentIn::None, SentIn::Add]
    );
    assert!(r.images[0].sent_at.is_none());
    assert_exactly_once(&api, &s);
}

#[test]
fn conflict_with_nothing_missing_sends_nothing() {
    let api = FakeApi::with_record(&["a.jpg", "b.jpg"]);
    let s = shipment(&["a.jpg", "b.jpg"]);
    let r = sync_row(&api, &s, &settings(), false);
    assert_eq!(r.status, RowStatus::Match);
    // The get after the 409 is still the server's state: it serves as the verification.
    assert_eq!(api.endpoints(), ["kirim", "get"]);
    assert_eq!((r.action.as_str(), r.uploaded, r.requests), ("none", 0, 2));
    assert_eq!(r.message, "all 2 photos already on the server");
    assert_exactly_once(&api, &s);
}

#[test]
fn ambiguous_kirim_that_was_stored_is_not_sent_again() {
    let api = FakeApi::default().fault("kirim", Fault::AmbiguousAfterStore);
    let s = shipment(&["a.jpg", "b.jpg", "c.jpg"]);
    let r = sync_row(&api, &s, &settings(), false);
    assert_eq!(r.status, RowStatus::Match, "{}", r.message);
    assert_eq!(api.endpoints(), ["kirim", "get"]);
    assert_exactly_once(&api, &s);
    assert_eq!((r.uploaded, r.attempts, r.requests), (3, 2, 2));
    assert_eq!(r.action, "kirim");
    assert!(
        r.images
            .iter()
            .all(|i| i.sent_in == SentIn::Kirim && i.sent_at.is_some())
    );
}

#[test]
fn ambiguous_kirim_that_was_not_stored_is_sent_again_with_kirim() {
    let api = FakeApi::default().fault("kirim", Fault::AmbiguousBeforeStore);
    let s = shipment(&["a.jpg", "b.jpg"]);
    let r = sync_row(&api, &s, &settings(), false);
    assert_eq!(r.status, RowStatus::Match, "{}", r.message);
    // Two gets a settle time apart agree that nothing is there: only then kirim again.
    assert_eq!(api.endpoints(), ["kirim", "get", "get", "kirim", "get"]);
    assert_exactly_once(&api, &s);
    assert_eq!((r.uploaded, r.attempts, r.requests), (2, 2, 5));
}

#[test]
fn ambiguous_add_that_was_stored_moves_on_to_the_rest() {
    let api = FakeApi::default().fault("add", Fault::AmbiguousAfterStore);
    let s = numbered(25);
    let r = sync_row(&api, &s, &settings(), false);
    assert_eq!(r.status, RowStatus::Match, "{}", r.message);
    let calls: Vec<_> = api.calls().into_iter().map(|(e, n)| (e, n.len())).collect();
    assert_eq!(
        calls,
        [
            ("kirim", 10),
            ("add", 10),
            ("get", 0),
            ("add", 5),
            ("get", 0)
        ]
    );
    assert_exactly_once(&api, &s);
    assert_eq!((r.uploaded, r.attempts), (25, 2));
    assert_eq!(r.message, "25 photos sent in 3 requests");
}

#[test]
fn not_sent_and_throttled_repeat_the_same_request() {
    let api = FakeApi::default()
        .fault("kirim", Fault::NotSent)
        .fault("kirim", Fault::Throttled);
    let s = shipment(&["a.jpg", "b.jpg"]);
    let r = sync_row(&api, &s, &settings(), false);
    assert_eq!(r.status, RowStatus::Match, "{}", r.message);
    // Nothing reached the server, so no get is needed in between.
    assert_eq!(api.endpoints(), ["kirim", "kirim", "kirim", "get"]);
    assert_eq!((r.attempts, r.requests), (3, 4));
    assert_exactly_once(&api, &s);
}

#[test]
fn add_before_kirim_switches_to_kirim() {
    let api = FakeApi::with_record(&["a.jpg"]).fault("add", Fault::Wipe);
    let s = shipment(&["a.jpg", "b.jpg", "c.jpg"]);
    let r = sync_row(&api, &s, &settings(), true);
    assert_eq!(r.status, RowStatus::Match, "{}", r.message);
    let calls = api.calls();
    assert_eq!(api.endpoints(), ["get", "add", "kirim", "get"]);
    assert_eq!(calls[1].1, ["b.jpg", "c.jpg"]);
    // The server holds nothing any more, so everything goes with kirim.
    assert_eq!(calls[2].1, ["a.jpg", "b.jpg", "c.jpg"]);
    assert_eq!(r.action, "kirim");
    assert_exactly_once(&api, &s);
}

#[test]
fn retries_are_bounded() {
    let api = FakeApi::default().faults("kirim", Fault::NotSent, 10);
    let s = shipment(&["a.jpg"]);
    let r = sync_row(&api, &s, &settings(), false);
    assert_eq!(r.status, RowStatus::Failed);
    assert_eq!(api.endpoints(), ["kirim"; 4]);
    assert_eq!((r.attempts, r.requests, r.uploaded), (4, 4, 0));
    assert!(r.message.contains("gave up after 4 tries"), "{}", r.message);
    assert!(r.message.contains("connection refused"), "{}", r.message);
    assert_eq!(r.action, "kirim");
    assert!(api.held().is_empty());

    // Ambiguous answers that never store: each followed by a get, still bounded.
    let api = FakeApi::default().faults("kirim", Fault::AmbiguousBeforeStore, 10);
    let r = sync_row(&api, &s, &settings(), false);
    assert_eq!(r.status, RowStatus::Failed);
    assert_eq!(api.endpoints().iter().filter(|e| **e == "kirim").count(), 4);
    assert!(r.message.contains("HTTP 503"), "{}", r.message);
}

#[test]
fn refusals_fail_the_row_with_the_server_message() {
    let api = FakeApi::default().fault("kirim", Fault::Rejected(400, "tanggalBlAwb tidak valid"));
    let s = shipment(&["a.jpg"]);
    let r = sync_row(&api, &s, &settings(), false);
    assert_eq!(r.status, RowStatus::Failed);
    assert_eq!(
        r.message,
        "kirim refused (HTTP 400): tanggalBlAwb tidak valid"
    );
    assert_eq!((r.requests, r.attempts), (1, 1));
    assert_eq!(api.endpoints(), ["kirim"]);

    let api = FakeApi::default().fault("kirim", Fault::Auth);
    let r = sync_row(&api, &s, &settings(), false);
    assert_eq!(r.status, RowStatus::Failed);
    assert!(r.message.contains("authentication failed"), "{}", r.message);

    let api = FakeApi::default().fault("kirim", Fault::Local);
    let r = sync_row(&api, &s, &settings(), false);
    assert_eq!(r.status, RowStatus::Failed);
    assert!(r.message.contains("a.jpg"), "{}", r.message);
    assert_eq!(r.action, "none", "no request went out");
}

#[test]
fn verify_reports_missing_and_extra_names() {
    // The server already holds a.jpg twice and a foreign z.jpg; the add loses c.jpg.
    let api = FakeApi::with_record(&["a.jpg", "z.jpg", "a.jpg"]).fault("add", Fault::LoseLast);
    let s = shipment(&["a.jpg", "b.jpg", "c.jpg"]);
    let r = sync_row(&api, &s, &settings(), true);
    assert_eq!(r.status, RowStatus::Mismatch);
    // c.jpg was acknowledged but is not listed: asked again, a settle time apart, never resent.
    assert_eq!(api.endpoints(), ["get", "add", "get", "get", "get", "get"]);
    assert_eq!(r.missing_on_server, ["c.jpg"]);
    assert_eq!(r.extra_on_server, ["z.jpg", "a.jpg"]);
    assert_eq!(r.server_count, Some(4));
    assert_eq!(
        r.message,
        "1 missing on server (1 of them acknowledged by the server when sent, yet still not listed), \
         2 extra on server; 2 photos sent in 1 request"
    );
    let on_server: Vec<_> = r.images.iter().map(|i| i.on_server).collect();
    assert_eq!(on_server, [Some(true), Some(true), Some(false)]);
    assert_eq!(r.images[2].server_waktu_rekam, None);
}

#[test]
fn compare_counts_every_extra_copy() {
    let s = shipment(&["a", "b"]);
    let record = |names: &[&str]| ServerRecord {
        npwp_pemberitahu: None,
        total_foto_terupload: None,
        detail: names
            .iter()
            .map(|n| ServerPhoto {
                nama_file: n.to_string(),
                waktu_rekam: None,
            })
            .collect(),
        ..ServerRecord::default()
    };
    assert_eq!(compare(&s.images, &record(&["b", "a"])), (vec![], vec![]));
    assert_eq!(
        compare(&s.images, &record(&["a", "a", "a", "x", "x"])),
        (
            vec!["b".to_string()],
            vec!["a".into(), "a".into(), "x".into(), "x".into()]
        )
    );
}

#[test]
fn check_first_sends_only_what_is_missing() {
    let api = FakeApi::with_record(&["a.jpg", "b.jpg"]);
    let s = shipment(&["a.jpg", "b.jpg", "c.jpg"]);
    let r = sync_row(&api, &s, &settings(), true);
    assert_eq!(r.status, RowStatus::Match);
    assert_eq!(api.endpoints(), ["get", "add", "get"]);
    assert_eq!(api.calls()[1].1, ["c.jpg"]);
    assert_eq!((r.action.as_str(), r.uploaded), ("add", 1));
    assert_exactly_once(&api, &s);

    // Nothing there yet: kirim as usual.
    let api = FakeApi::default();
    let r = sync_row(&api, &s, &settings(), true);
    assert_eq!(api.endpoints(), ["get", "kirim", "get"]);
    assert_eq!(r.action, "kirim");

    // Everything there: one get, which is also the verification.
    let api = FakeApi::with_record(&["a.jpg", "b.jpg", "c.jpg"]);
    let r = sync_row(&api, &s, &settings(), true);
    assert_eq!(r.status, RowStatus::Match);
    assert_eq!(api.endpoints(), ["get"]);
    assert_eq!((r.action.as_str(), r.requests, r.uploaded), ("none", 1, 0));
}

#[test]
fn a_verify_that_cannot_get_fails_the_row() {
    let api = FakeApi::default().faults("get", Fault::AmbiguousBeforeStore, 10);
    let s = shipment(&["a.jpg"]);
    let r = sync_row(&api, &s, &settings(), false);
    assert_eq!(r.status, RowStatus::Failed);
    assert!(r.message.starts_with("could not verify:"), "{}", r.message);
    assert_eq!(api.endpoints(), ["kirim", "get", "get", "get", "get"]);
    assert_eq!((r.uploaded, r.attempts, r.server_count), (1, 4, None));
    assert_exactly_once(&api, &s);

    // A get that is retried and then answers.
    let api = FakeApi::default().fault("get", Fault::NotSent);
    let r = sync_row(&api, &s, &settings(), false);
    assert_eq!(r.status, RowStatus::Match);
    assert_eq!(r.attempts, 2);
}

#[test]
fn a_server_that_keeps_flipping_cannot_hold_the_row_forever() {
    // Every kirim conflicts, but get says there is nothing: kirim, 409, get, kirim, 409...
    struct Flipping(FakeApi);
    impl Api for Flipping {
        fn kirim(&self, m: &DocMeta, i: &[LocalImage]) -> Result<UploadAnswer, ApiError> {
            self.0.kirim(m, i)
        }
        fn add(&self, m: &DocMeta, i: &[LocalImage]) -> Result<UploadAnswer, ApiError> {
            self.0.add(m, i)
        }
        fn get(&self, _: &str) -> Result<Option<ServerRecord>, ApiError> {
            self.0.server().calls.push(("get", Vec::new()));
            Ok(None)
        }
    }
    let api = Flipping(FakeApi::with_record(&[]));
    let s = shipment(&["a.jpg"]);
    let r = sync_row(&api, &s, &settings(), false);
    // The 409 says the record exists whatever get says: add, which is acknowledged; get never
    // lists it, so after a bounded number of gets the row says so, and sends nothing again.
    assert_eq!(r.status, RowStatus::Mismatch);
    assert!(r.message.contains("acknowledged"), "{}", r.message);
    assert_eq!(
        api.0.endpoints(),
        ["kirim", "get", "add", "get", "get", "get", "get"]
    );
    assert_exactly_once(&api.0, &s);

    // A server that flips between 409 and "add before kirim" forever.
    struct Flipper(FakeApi);
    impl Api for Flipper {
        fn kirim(&self, _: &DocMeta, i: &[LocalImage]) -> Result<UploadAnswer, ApiError> {
            self.0.server().calls.push(("kirim", names_of_images(i)));
            Ok(UploadAnswer::Conflict {
                message: "Data X-Ray sudah ada".into(),
            })
        }
        fn add(&self, _: &DocMeta, i: &[LocalImage]) -> Result<UploadAnswer, ApiError> {
            self.0.server().calls.push(("add", names_of_images(i)));
            Ok(UploadAnswer::NotFound {
                message: "Data Foto Xray tidak ditemukan".into(),
            })
        }
        fn get(&self, _: &str) -> Result<Option<ServerRecord>, ApiError> {
            self.0.server().calls.push(("get", Vec::new()));
            Ok(None)
        }
    }
    let api = Flipper(FakeApi::default());
    let r = sync_row(&api, &s, &settings(), false);
    assert_eq!(r.status, RowStatus::Failed);
    assert!(r.message.contains("keeps changing"), "{}", r.message);
    assert!(api.0.calls().len() < 20);
}

#[test]
fn reconcile_only_gets() {
    let s = shipment(&["a.jpg", "b.jpg"]);
    let api = FakeApi::default();
    let r = reconcile_row(&api, &s, &settings());
    assert_eq!(r.status, RowStatus::NotFound);
    assert_eq!((r.action.as_str(), r.server_count), ("get", Some(0)));
    assert!(r.images.iter().all(|i| i.on_server == Some(false)));

    let api = FakeApi::with_record(&["b.jpg", "a.jpg"]);
    let r = reconcile_row(&api, &s, &settings());
    assert_eq!(r.status, RowStatus::Match);
    assert_eq!(api.endpoints(), ["get"]);
    assert_eq!((r.action.as_str(), r.uploaded, r.requests), ("get", 0, 1));
    assert_eq!(r.message, "all 2 photos on the server");
    assert_eq!(
        r.images[0].server_waktu_rekam.as_deref(),
        Some("2025-01-01 00:00:01")
    );
    assert!(r.images.iter().all(|i| i.sent_in == SentIn::None));

    let api = FakeApi::with_record(&["a.jpg"]);
    let r = reconcile_row(&api, &s, &settings());
    assert_eq!(r.status, RowStatus::Mismatch);
    assert_eq!(r.missing_on_server, ["b.jpg"]);

    let api = FakeApi::default().fault("get", Fault::Rejected(400, "bad nomorAju"));
    let r = reconcile_row(&api, &s, &settings());
    assert_eq!(r.status, RowStatus::Failed);
    assert!(r.message.contains("bad nomorAju"), "{}", r.message);
}

#[test]
fn each_request_gets_its_own_budget_and_throttles_their_own() {
    let one_retry = SyncSettings {
        retries: 1,
        ..settings()
    };
    // Two unclear answers in a row, each on a different request that was in fact stored.
    let api = FakeApi::default()
        .fault("kirim", Fault::AmbiguousAfterStore)
        .fault("add", Fault::AmbiguousAfterStore);
    let s = numbered(25);
    let r = sync_row(&api, &s, &one_retry, false);
    assert_eq!(r.status, RowStatus::Match, "{}", r.message);
    assert_exactly_once(&api, &s);
    assert_eq!(r.attempts, 3);

    // A 429 does not use up the retry meant for faults, nor the other way round.
    let api = FakeApi::default()
        .fault("kirim", Fault::Throttled)
        .fault("kirim", Fault::NotSent);
    let r = sync_row(&api, &shipment(&["a.jpg"]), &one_retry, false);
    assert_eq!(r.status, RowStatus::Match, "{}", r.message);
    assert_eq!(r.attempts, 3);

    let api = FakeApi::default().faults("kirim", Fault::Throttled, 2);
    let r = sync_row(&api, &shipment(&["a.jpg"]), &one_retry, false);
    assert_eq!(r.status, RowStatus::Failed);
    assert!(
        r.message.contains("gave up after 2 tries: throttled"),
        "{}",
        r.message
    );
}

#[test]
fn an_unclear_last_try_is_checked_before_giving_up() {
    // Three clear failures use up the budget; the fourth try stores the photo but its answer is
    // lost. The server holds it: the row must say so, not FAILED.
    let api = FakeApi::default()
        .faults("kirim", Fault::AmbiguousBeforeStore, 3)
        .fault("kirim", Fault::AmbiguousAfterStore);
    let s = shipment(&["a.jpg"]);
    let r = sync_row(&api, &s, &settings(), false);
    assert_eq!(r.status, RowStatus::Match, "{}", r.message);
    assert_exactly_once(&api, &s);
    assert_eq!(api.endpoints().iter().filter(|e| **e == "kirim").count(), 4);
    assert_eq!(sent_in(&r), [SentIn::Kirim]);

    // With no retries at all, an unclear answer is still checked once.
    let api = FakeApi::default().fault("kirim", Fault::AmbiguousAfterStore);
    let st = SyncSettings {
        retries: 0,
        ..settings()
    };
    let r = sync_row(&api, &s, &st, false);
    assert_eq!(r.status, RowStatus::Match, "{}", r.message);
    assert_exactly_once(&api, &s);

    // Given up on: the row reports what the last get saw.
    let api = FakeApi::default().faults("kirim", Fault::AmbiguousBeforeStore, 10);
    let r = sync_row(&api, &s, &settings(), false);
    assert_eq!(r.status, RowStatus::Failed);
    assert_eq!(api.endpoints().iter().filter(|e| **e == "kirim").count(), 4);
    assert_eq!(api.endpoints().last(), Some(&"get"));
    assert!(api.held().is_empty());
}

#[test]
fn a_late_commit_is_found_by_the_second_get_and_not_sent_again() {
    // The gateway answers 504; the photos land after the first get: the second get, a settle
    // time later, sees them, so nothing is sent again.
    let api = FakeApi::default().fault("kirim", Fault::LateCommit(1));
    let s = shipment(&["a.jpg", "b.jpg"]);
    let r = sync_row(&api, &s, &settings(), false);
    assert_eq!(r.status, RowStatus::Match, "{}", r.message);
    assert_eq!(api.endpoints(), ["kirim", "get", "get"]);
    assert_exactly_once(&api, &s);
    assert_eq!(sent_in(&r), [SentIn::Kirim, SentIn::Kirim]);

    // An add that lands late, in a row of several requests.
    let api = FakeApi::default().fault("add", Fault::LateCommit(1));
    let s = numbered(25);
    let r = sync_row(&api, &s, &settings(), false);
    assert_eq!(r.status, RowStatus::Match, "{}", r.message);
    let calls: Vec<_> = api.calls().into_iter().map(|(e, n)| (e, n.len())).collect();
    assert_eq!(
        calls,
        [
            ("kirim", 10),
            ("add", 10),
            ("get", 0),
            ("get", 0),
            ("add", 5),
            ("get", 0)
        ]
    );
    assert_exactly_once(&api, &s);
}

#[test]
fn waits_go_through_the_idle_and_last_the_settle_time() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    let waited = Arc::new(AtomicU64::new(0));
    let w = Arc::clone(&waited);
    let st = SyncSettings {
        settle: Duration::from_secs(10),
        idle: Idle::new(move |d| {
            w.fetch_add(d.as_millis() as u64, Ordering::SeqCst);
        }),
        ..settings()
    };
    let api = FakeApi::default().fault("kirim", Fault::AmbiguousBeforeStore);
    let r = sync_row(&api, &shipment(&["a.jpg"]), &st, false);
    assert_eq!(r.status, RowStatus::Match, "{}", r.message);
    // Two settle times before kirim went again; nothing slept for real.
    assert_eq!(waited.load(Ordering::SeqCst), 20_000);
}

#[test]
fn acknowledged_photos_that_a_lagging_read_does_not_list_are_asked_for_not_resent() {
    // Every get lags behind the write for two answers: verify asks again and ends MATCH.
    let api = FakeApi::default();
    api.server().stale_gets = 2;
    let s = numbered(5);
    let st = SyncSettings {
        max_images_per_request: 2,
        ..settings()
    };
    let r = sync_row(&api, &s, &st, false);
    assert_eq!(r.status, RowStatus::Match, "{}", r.message);
    assert_eq!(
        api.endpoints(),
        ["kirim", "add", "add", "get", "get", "get"]
    );
    assert_exactly_once(&api, &s);

    // A 409 after a lagging read: the record exists whatever get says; the acknowledged photos
    // never go again.
    let api = FakeApi::default().fault("kirim", Fault::AmbiguousAfterStore);
    api.server().stale_gets = 2;
    let s = shipment(&["a.jpg", "b.jpg"]);
    let r = sync_row(&api, &s, &settings(), false);
    assert_eq!(r.status, RowStatus::Match, "{}", r.message);
    assert_eq!(api.endpoints(), ["kirim", "get", "get", "kirim", "get"]);
    assert_exactly_once(&api, &s);

    // Still not listed after the bounded gets: MISMATCH that says so, no resend.
    let api = FakeApi::default();
    api.server().stale_gets = 100;
    let s = shipment(&["a.jpg"]);
    let r = sync_row(&api, &s, &settings(), false);
    assert_eq!(r.status, RowStatus::Mismatch);
    assert!(r.message.contains("acknowledged"), "{}", r.message);
    assert_eq!(api.endpoints(), ["kirim", "get", "get", "get", "get"]);
    assert_exactly_once(&api, &s);
}

#[test]
fn add_before_kirim_never_resends_what_was_acknowledged() {
    // Batch 1 is stored; then the server says it holds no X-ray data (add answers code:404).
    // Only the photos never acknowledged go with kirim.
    let api = FakeApi::default().fault("add", Fault::Wipe);
    let s = numbered(15);
    let r = sync_row(&api, &s, &settings(), false);
    let calls: Vec<_> = api.calls().into_iter().map(|(e, n)| (e, n.len())).collect();
    assert_eq!(calls[..3], [("kirim", 10), ("add", 5), ("kirim", 5)]);
    // The first ten were acknowledged, then lost by the server: said, not resent.
    assert_eq!(r.status, RowStatus::Mismatch);
    assert_eq!(r.missing_on_server.len(), 10);
    assert!(r.message.contains("acknowledged"), "{}", r.message);
    let sent: usize = api.calls().iter().map(|(_, n)| n.len()).sum();
    // The acknowledged ten went out once; the last five again only after add refused them.
    assert_eq!(sent, 20);
}

#[test]
fn a_record_of_another_document_gets_nothing_added() {
    // The nomorAju exists on the server under another BL/AWB: kirim answers 409, get shows it.
    let api = FakeApi::with_record(&["1.jpg"]);
    api.server().foreign_bl = Some("OTHERBL");
    let s = shipment(&["1.jpg", "2.jpg"]);
    let r = sync_row(&api, &s, &settings(), false);
    assert_eq!(r.status, RowStatus::Mismatch);
    assert!(
        r.message
            .contains("nomorAju AJU1 on the server belongs to BL/AWB OTHERBL"),
        "{}",
        r.message
    );
    assert_eq!(api.endpoints(), ["kirim", "get"]);
    assert_eq!(api.held(), ["1.jpg"]);
    // Same names are no evidence for this row.
    assert!(r.images.iter().all(|i| i.on_server.is_none()));
    assert_eq!((r.server_count, r.uploaded), (None, 0));

    // Asked first (a re-run), and in reconcile: the same verdict, nothing sent.
    let r = sync_row(&api, &s, &settings(), true);
    assert_eq!(r.status, RowStatus::Mismatch);
    assert!(r.message.contains("OTHERBL"), "{}", r.message);
    let r = reconcile_row(&api, &s, &settings());
    assert_eq!(r.status, RowStatus::Mismatch);
    assert!(r.message.contains("OTHERBL"), "{}", r.message);
    assert_eq!(api.held(), ["1.jpg"]);
    assert!(!api.endpoints().contains(&"add"));
}

#[test]
fn an_incomplete_list_never_counts_unlisted_photos_as_absent() {
    // The server holds all five but lists only two: nothing is added again.
    let api = FakeApi::with_record(&["p000.jpg", "p001.jpg", "p002.jpg", "p003.jpg", "p004.jpg"]);
    api.server().list_limit = Some(2);
    let s = numbered(5);
    let r = sync_row(&api, &s, &settings(), false);
    assert_eq!(api.endpoints(), ["kirim", "get"]);
    assert_exactly_once(&api, &s);
    assert_eq!(r.status, RowStatus::Mismatch);
    assert!(
        r.message.contains("lists only 2 of its 5 photos"),
        "{}",
        r.message
    );
    assert!(r.missing_on_server.is_empty());
    let on_server: Vec<_> = r.images.iter().map(|i| i.on_server).collect();
    assert_eq!(on_server, [Some(true), Some(true), None, None, None]);

    // Checked first, the same: no add for the unlisted photos.
    let r = sync_row(&api, &s, &settings(), true);
    assert_eq!(r.status, RowStatus::Mismatch);
    assert!(!api.endpoints().contains(&"add"));
}

#[test]
fn a_gateway_page_after_an_upload_is_asked_about_before_anything_is_sent_again() {
    // A 504 page while the backend stored the batch: get finds it, nothing is sent twice.
    let api = FakeApi::default().fault("kirim", Fault::GatewayAfterStore);
    let s = shipment(&["a.jpg", "b.jpg"]);
    let r = sync_row(&api, &s, &settings(), false);
    assert_eq!(r.status, RowStatus::Match, "{}", r.message);
    assert_exactly_once(&api, &s);
    assert_eq!(api.endpoints(), ["kirim", "get"]);
    assert_eq!(sent_in(&r), [SentIn::Kirim, SentIn::Kirim]);

    // A 502 page before storing: get finds nothing, and only then is the batch sent again.
    let api = FakeApi::default().fault("kirim", Fault::Gateway(502));
    let r = sync_row(&api, &s, &settings(), false);
    assert_eq!(r.status, RowStatus::Match, "{}", r.message);
    assert_exactly_once(&api, &s);
    // Two gets a settle time apart agree that nothing is there: only then kirim again.
    assert_eq!(api.endpoints(), ["kirim", "get", "get", "kirim", "get"]);
}

#[test]
fn a_gateway_404_on_get_is_never_not_found() {
    // A wrong --api-url path: every get meets the gateway's own 404 page. The row is FAILED with
    // a message that says the answer was not the API's, never NOT_FOUND with on_server=false.
    let api = FakeApi::default().faults("get", Fault::Gateway(404), 10);
    let s = shipment(&["a.jpg"]);
    let r = reconcile_row(&api, &s, &settings());
    assert_eq!(r.status, RowStatus::Failed, "{}", r.message);
    for needle in ["HTTP 404", "not the API's answer", "--api-url"] {
        assert!(r.message.contains(needle), "{needle}: {}", r.message);
    }
    assert_eq!(r.server_count, None);
    assert_eq!(r.images[0].on_server, None);
    // Retried like a 5xx: the first try and `retries` more.
    assert_eq!(api.endpoints(), ["get"; 4]);

    // The same page on the verifying get of a run: FAILED, not MISMATCH nor NOT_FOUND.
    let api = FakeApi::default().faults("get", Fault::Gateway(404), 10);
    let r = sync_row(&api, &s, &settings(), false);
    assert_eq!(r.status, RowStatus::Failed, "{}", r.message);
    assert!(r.message.contains("not the API's answer"), "{}", r.message);
    assert_exactly_once(&api, &s);
}

#[test]
fn a_photo_rewritten_before_it_was_sent_fails_the_row_with_the_digest_of_the_bytes_sent() {
    let api = FakeApi::default().fault("add", Fault::Rewritten("b.jpg"));
    let s = shipment(&["a.jpg", "b.jpg", "c.jpg"]);
    let one_per_request = SyncSettings {
        max_images_per_request: 1,
        ..settings()
    };
    let r = sync_row(&api, &s, &one_per_request, false);
    assert_eq!(r.status, RowStatus::Failed, "{}", r.message);
    assert!(
        r.message
            .starts_with("photo b.jpg changed while the run was going"),
        "{}",
        r.message
    );
    // Nothing more is sent from a folder that changes under the run.
    assert_eq!(api.endpoints(), ["kirim", "add"]);
    assert_eq!(api.held(), ["a.jpg", "b.jpg"]);
    assert_eq!(sent_in(&r), [SentIn::Kirim, SentIn::Add, SentIn::None]);
    assert_eq!(r.uploaded, 2);
    let digests: Vec<&str> = r.images.iter().map(|i| i.sha256.as_str()).collect();
    assert_eq!(digests, ["sha-a.jpg", "sent-b.jpg", "sha-c.jpg"]);
}

#[test]
fn a_stop_ends_the_row_skipped_with_what_the_server_acknowledged() {
    let one_per_request = SyncSettings {
        max_images_per_request: 1,
        ..settings()
    };
    let s = shipment(&["a.jpg", "b.jpg", "c.jpg"]);
    // kirim got its 200, then the stop: the add is never sent, and the row is not "0 sent".
    let api = FakeApi::default().fault("add", Fault::Stopped);
    let r = sync_row(&api, &s, &one_per_request, false);
    assert_eq!(r.status, RowStatus::Skipped, "{}", r.message);
    assert_eq!(api.endpoints(), ["kirim", "add"]);
    assert_eq!(api.held(), ["a.jpg"]);
    assert_eq!(r.uploaded, 1);
    assert_eq!(r.action, "kirim");
    assert_eq!(sent_in(&r), [SentIn::Kirim, SentIn::None, SentIn::None]);
    assert!(r.message.contains("1 photo acknowledged"), "{}", r.message);
    // The add refused before it went out is not counted as a request.
    assert_eq!(r.requests, 1);

    // Everything stored, the stop before the verifying get: SKIPPED (resume verifies), all sent.
    let api = FakeApi::default().fault("get", Fault::Stopped);
    let r = sync_row(&api, &s, &settings(), false);
    assert_eq!(r.status, RowStatus::Skipped, "{}", r.message);
    assert_eq!((r.uploaded, r.server_count), (3, None));
    assert_eq!(sent_in(&r), [SentIn::Kirim; 3]);

    // A stop while checking first (resume) or after an unclear answer: SKIPPED, nothing resent.
    let api = FakeApi::default().fault("get", Fault::Stopped);
    let r = sync_row(&api, &s, &settings(), true);
    assert_eq!(
        (r.status, r.uploaded, r.requests),
        (RowStatus::Skipped, 0, 0)
    );
    assert_eq!(r.message, "stopped before its first request went out");
    assert_eq!(api.endpoints(), ["get"]);
    let api = FakeApi::default()
        .fault("kirim", Fault::AmbiguousAfterStore)
        .fault("get", Fault::Stopped);
    let r = sync_row(&api, &s, &settings(), false);
    assert_eq!(r.status, RowStatus::Skipped, "{}", r.message);
    assert_eq!(api.endpoints(), ["kirim", "get"]);
    assert_exactly_once(&api, &s);

    // reconcile: SKIPPED, not FAILED.
    let api = FakeApi::with_record(&["a.jpg"]).fault("get", Fault::Stopped);
    let r = reconcile_row(&api, &s, &settings());
    assert_eq!(r.status, RowStatus::Skipped, "{}", r.message);
}
