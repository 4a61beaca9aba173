//! Integration tests: `kirim-xray run` against the sandbox. Assertions are on what the sandbox
//! stored (`/__sandbox/state`), on the run folder's files and on exit codes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::util::{Sandbox, TestDir, jpeg, kirim_xray, png, read_csv, sha256_hex};

/// One manifest row to lay down: its photos are written under `images/<folder>/`.
#[derive(Clone)]
pub struct RowSpec {
    pub nomor_aju: String,
    pub bl: String,
    pub date: String,
    pub kantor: String,
    pub folder: String,
    pub photos: Vec<(String, Vec<u8>)>,
}

impl RowSpec {
    /// A valid row `i` with `n` photos (alternating JPEG and PNG).
    pub fn valid(i: usize, n: usize) -> RowSpec {
        let bl = format!("CNTEST{i:05}");
        RowSpec {
            nomor_aju: format!("0123456789012345000000202611{:02}{bl}CN1", i % 28 + 1),
            bl,
            date: "2026-11-20".into(),
            kantor: "009000".into(),
            folder: format!("images/row{i:05}"),
            photos: (0..n)
                .map(|k| {
                    if k % 2 == 0 {
                        (
                            format!("xray-{k:02}.jpg"),
                            jpeg((i * 31 + k) as u8, 600 + k * 10),
                        )
                    } else {
                        (format!("xray-{k:02}.png"), png((i * 17 + k) as u8))
                    }
                })
                .collect(),
        }
    }
}

/// Write `manifest.csv` and the photo folders; return the manifest path.
pub fn write_manifest(dir: &TestDir, rows: &[RowSpec]) -> PathBuf {
    let mut csv = String::from("nomorAju,nomorBlAwb,tanggalBlAwb,kodeKantor,folder\n");
    for r in rows {
        csv.push_str(&format!(
            "{},{},{},{},{}\n",
            r.nomor_aju, r.bl, r.date, r.kantor, r.folder
        ));
        for (name, bytes) in &r.photos {
            dir.write(&format!("{}/{name}", r.folder), bytes);
        }
    }
    dir.write("manifest.csv", csv)
}

/// `kirim-xray SUBCOMMAND TARGET` in `dir`, output under `<dir>/runs`, pointed at the server at
/// `base_url` (login there, X-ray API under `/openapi/cnpibk`). No credentials.
pub fn command(dir: &TestDir, base_url: &str, subcommand: &str, target: &Path) -> Command {
    let mut cmd = kirim_xray();
    cmd.current_dir(dir.path())
        .arg(subcommand)
        .arg(target)
        .args(["--api-url", &format!("{base_url}/openapi/cnpibk")])
        .args(["--auth-url", base_url])
        .arg("--out")
        .arg(dir.join("runs"));
    cmd
}

/// The same, with the demo credentials.
pub fn demo_command(sandbox: &Sandbox, dir: &TestDir, subcommand: &str, target: &Path) -> Command {
    let mut cmd = command(dir, &sandbox.url, subcommand, target);
    cmd.env("KIRIM_XRAY_USERNAME", "demo")
        .env("KIRIM_XRAY_PASSWORD", "demo");
    cmd
}

/// `kirim-xray run` with the demo credentials against `sandbox`, output under `<dir>/runs`.
pub fn run_against(sandbox: &Sandbox, dir: &TestDir, manifest: &Path, extra: &[&str]) -> Output {
    demo_command(sandbox, dir, "run", manifest)
        .args(["--rate", "200", "--burst", "10"])
        .args(extra)
        .output()
        .expect("run kirim-xray")
}

/// The manifest's header row, in row 1 of a worksheet.
pub fn write_header(ws: &mut rust_xlsxwriter::Worksheet) {
    let header = [
        "nomorAju",
        "nomorBlAwb",
        "tanggalBlAwb",
        "kodeKantor",
        "folder",
    ];
    for (col, name) in header.iter().enumerate() {
        ws.write_string(0, col as u16, *name).expect("header");
    }
}

pub fn latest(dir: &TestDir) -> PathBuf {
    std::fs::canonicalize(dir.join("runs/latest")).expect("runs/latest points at the run folder")
}

pub fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// nomorAju → photo names in upload order, from the sandbox's state.
pub fn stored(state: &Value) -> BTreeMap<String, Vec<String>> {
    state["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| {
            let names = r["photos"]
                .as_array()
                .expect("photos")
                .iter()
                .map(|p| p["namaFile"].as_str().expect("namaFile").to_string())
                .collect();
            (r["nomorAju"].as_str().expect("nomorAju").to_string(), names)
        })
        .collect()
}

/// Every photo of every row held exactly once, with the local bytes' sha256.
pub fn assert_each_photo_once(state: &Value, rows: &[RowSpec]) {
    let records: BTreeMap<&str, &Value> = state["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| (r["nomorAju"].as_str().expect("nomorAju"), r))
        .collect();
    for row in rows {
        let record = records
            .get(row.nomor_aju.as_str())
            .unwrap_or_else(|| panic!("no record for {}", row.nomor_aju));
        let photos = record["photos"].as_array().expect("photos");
        let mut held: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for p in photos {
            held.entry(p["namaFile"].as_str().expect("namaFile"))
                .or_default()
                .push(p["sha256"].as_str().expect("sha256"));
        }
        let local: BTreeSet<&str> = row.photos.iter().map(|(n, _)| n.as_str()).collect();
        let on_server: BTreeSet<&str> = held.keys().copied().collect();
        assert_eq!(on_server, local, "photos of {}", row.nomor_aju);
        for (name, bytes) in &row.photos {
            assert_eq!(
                held[name.as_str()],
                vec![sha256_hex(bytes).as_str()],
                "{} {name} must be held exactly once with the local bytes",
                row.nomor_aju
            );
        }
    }
}

fn summary(run_dir: &Path) -> Value {
    let text = std::fs::read_to_string(run_dir.join("summary.json")).expect("summary.json");
    serde_json::from_str(&text).expect("summary.json is JSON")
}

const RESULTS_COLUMNS: [&str; 19] = [
    "row",
    "nomorAju",
    "nomorBlAwb",
    "tanggalBlAwb",
    "kodeKantor",
    "folder",
    "status",
    "action",
    "local_count",
    "uploaded",
    "server_count",
    "missing_on_server",
    "extra_on_server",
    "npwpPemberitahu",
    "attempts",
    "requests",
    "message",
    "started_at",
    "finished_at",
];

const IMAGES_COLUMNS: [&str; 10] = [
    "row",
    "nomorAju",
    "file",
    "bytes",
    "sha256",
    "content_type",
    "sent_in",
    "sent_at",
    "on_server",
    "server_waktuRekam",
];

fn header(path: &Path) -> Vec<String> {
    let mut reader = csv::Reader::from_path(path).expect("open csv");
    reader
        .headers()
        .expect("header")
        .iter()
        .map(str::to_string)
        .collect()
}

#[test]
fn a_run_sends_every_photo_once_verifies_it_and_writes_the_run_folder() {
    let dir = TestDir::new();
    let sandbox = Sandbox::start(&[]);
    // Row 3 holds 12 photos: two requests at the default of 10 per request.
    let rows = vec![
        RowSpec::valid(1, 1),
        RowSpec::valid(2, 3),
        RowSpec::valid(3, 12),
    ];
    let mut invalid = RowSpec::valid(4, 1);
    invalid.date = "2026-02-30".into();
    let manifest = {
        let mut all = rows.clone();
        all.push(invalid);
        write_manifest(&dir, &all)
    };

    let out = run_against(&sandbox, &dir, &manifest, &[]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "an INVALID row needs attention\n{}",
        describe(&out)
    );

    let state = sandbox.state();
    assert_each_photo_once(&state, &rows);
    assert_eq!(stored(&state).len(), 3, "the invalid row was never sent");
    assert_eq!(state["requests"]["kirim-foto-xray"]["200"], 3);
    assert_eq!(
        state["requests"]["add-foto-xray"]["200"], 1,
        "row 3's second request"
    );

    let run_dir = latest(&dir);
    for file in [
        "results.csv",
        "images.csv",
        "summary.json",
        "summary.txt",
        "journal.jsonl",
        "report.html",
        "run.log",
    ] {
        assert!(
            run_dir.join(file).is_file(),
            "{file} in {}",
            run_dir.display()
        );
    }
    assert_eq!(header(&run_dir.join("results.csv")), RESULTS_COLUMNS);
    assert_eq!(header(&run_dir.join("images.csv")), IMAGES_COLUMNS);

    let results = read_csv(&run_dir.join("results.csv"));
    let got: Vec<(&str, &str)> = results
        .iter()
        .map(|r| (r["row"].as_str(), r["status"].as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("2", "MATCH"),
            ("3", "MATCH"),
            ("4", "MATCH"),
            ("5", "INVALID")
        ],
        "manifest order, spreadsheet row numbers"
    );
    let row3 = &results[2];
    assert_eq!(row3["action"], "kirim+add");
    assert_eq!(row3["local_count"], "12");
    assert_eq!(row3["uploaded"], "12");
    assert_eq!(row3["server_count"], "12");
    assert_eq!(row3["npwpPemberitahu"], "0123456789012345000000");
    assert!(
        results[3]["message"].contains("tanggalBlAwb"),
        "{:?}",
        results[3]
    );

    let images = read_csv(&run_dir.join("images.csv"));
    // One line per photo of every valid row; an invalid row's folder is not read for photos.
    assert_eq!(images.len(), 1 + 3 + 12, "one line per local image");
    for (row_no, spec) in [("2", &rows[0]), ("3", &rows[1]), ("4", &rows[2])] {
        let lines: Vec<_> = images.iter().filter(|i| i["row"] == row_no).collect();
        assert_eq!(lines.len(), spec.photos.len());
        for (line, (name, bytes)) in lines.iter().zip(&spec.photos) {
            assert_eq!(line["file"], *name, "images in name order");
            assert_eq!(line["sha256"], sha256_hex(bytes));
            assert_eq!(line["bytes"], bytes.len().to_string());
            assert_eq!(line["on_server"], "true");
            assert!(line["sent_in"] == "kirim" || line["sent_in"] == "add");
            assert!(!line["server_waktuRekam"].is_empty());
        }
    }
    let sent_in_add = images
        .iter()
        .filter(|i| i["row"] == "4" && i["sent_in"] == "add")
        .count();
    assert_eq!(sent_in_add, 2, "photos 11 and 12 of row 3 went with add");

    let summary = summary(&run_dir);
    assert_eq!(summary["exit_code"], 1, "{summary:#}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(
            std::fs::read_to_string(run_dir.join("summary.txt"))
                .expect("summary.txt")
                .trim()
        ),
        "summary.txt is printed to stdout\n{}",
        describe(&out)
    );
}

#[test]
fn a_second_run_finds_everything_there_and_sends_nothing() {
    let dir = TestDir::new();
    let sandbox = Sandbox::start(&[]);
    let rows: Vec<RowSpec> = (1..=4).map(|i| RowSpec::valid(i, 3)).collect();
    let manifest = write_manifest(&dir, &rows);

    let first = run_against(&sandbox, &dir, &manifest, &[]);
    assert_eq!(first.status.code(), Some(0), "{}", describe(&first));
    let before = sandbox.state();

    let second = run_against(&sandbox, &dir, &manifest, &[]);
    assert_eq!(second.status.code(), Some(0), "{}", describe(&second));
    let after = sandbox.state();
    assert_eq!(stored(&after), stored(&before), "nothing stored twice");
    assert_each_photo_once(&after, &rows);
    assert_eq!(
        after["requests"]["add-foto-xray"], before["requests"]["add-foto-xray"],
        "no add: nothing was missing"
    );
    // The first run under this --out saw every document stored: the second asks with get
    // first, and sends no kirim (which would carry every photo just to hear 409).
    assert_eq!(
        after["requests"]["kirim-foto-xray"], before["requests"]["kirim-foto-xray"],
        "no kirim on a re-run"
    );
    assert_eq!(
        after["image_bytes_received"], before["image_bytes_received"],
        "not one photo byte sent again"
    );

    let results = read_csv(&latest(&dir).join("results.csv"));
    for r in &results {
        assert_eq!(r["status"], "MATCH");
        assert_eq!(r["action"], "none");
        assert_eq!(r["uploaded"], "0");
        assert_eq!(
            r["requests"], "1",
            "one get, which is also the verification"
        );
    }
    let images = read_csv(&latest(&dir).join("images.csv"));
    assert!(
        images
            .iter()
            .all(|i| i["sent_in"] == "none" && i["on_server"] == "true")
    );
}

#[test]
fn a_conflict_leads_to_get_and_only_the_missing_photos_are_added() {
    let dir = TestDir::new();
    let sandbox = Sandbox::start(&[]);
    let rows = vec![RowSpec::valid(7, 4)];
    let manifest = write_manifest(&dir, &rows);

    // Another sender already delivered the first photo with kirim.
    let row = &rows[0];
    let meta = serde_json::json!({
        "nomorAju": row.nomor_aju, "nomorBlAwb": row.bl,
        "tanggalBlAwb": row.date, "kodeKantor": row.kantor,
    });
    let (name, bytes) = &row.photos[0];
    let form = reqwest::blocking::multipart::Form::new()
        .part(
            "data",
            reqwest::blocking::multipart::Part::text(meta.to_string())
                .mime_str("application/json")
                .expect("mime"),
        )
        .part(
            "images",
            reqwest::blocking::multipart::Part::bytes(bytes.clone())
                .file_name(name.clone())
                .mime_str("image/jpeg")
                .expect("mime"),
        );
    let answer: Value = crate::util::http()
        .post(format!("{}/xray/kirim-foto-xray", sandbox.api_url()))
        .bearer_auth(sandbox.token())
        .multipart(form)
        .send()
        .and_then(|r| r.json())
        .expect("pre-upload");
    assert_eq!(answer["code"], 200, "{answer}");

    let out = run_against(&sandbox, &dir, &manifest, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let state = sandbox.state();
    assert_each_photo_once(&state, &rows);
    assert_eq!(state["requests"]["kirim-foto-xray"]["409"], 1);
    assert_eq!(state["requests"]["add-foto-xray"]["200"], 1);

    let results = read_csv(&latest(&dir).join("results.csv"));
    assert_eq!(results[0]["action"], "add");
    assert_eq!(results[0]["uploaded"], "3");
    let images = read_csv(&latest(&dir).join("images.csv"));
    let sent: Vec<&str> = images.iter().map(|i| i["sent_in"].as_str()).collect();
    assert_eq!(sent, ["none", "add", "add", "add"]);
}

#[test]
fn a_bl_awb_customs_does_not_know_ends_not_found_and_stores_nothing() {
    let dir = TestDir::new();
    let rows: Vec<RowSpec> = (1..=3).map(|i| RowSpec::valid(i, 2)).collect();
    let mut documents =
        String::from("nomorAju,nomorBlAwb,tanggalBlAwb,kodeKantor,npwpPemberitahu\n");
    for r in [&rows[0], &rows[2]] {
        documents.push_str(&format!(
            "{},{},{},{},0999888777666555444333\n",
            r.nomor_aju, r.bl, r.date, r.kantor
        ));
    }
    let documents = dir.write("documents.csv", documents);
    let sandbox = Sandbox::start(&["--documents", documents.to_str().expect("utf-8 path")]);
    let manifest = write_manifest(&dir, &rows);

    let out = run_against(&sandbox, &dir, &manifest, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let state = sandbox.state();
    assert_each_photo_once(&state, &[rows[0].clone(), rows[2].clone()]);
    assert!(!stored(&state).contains_key(&rows[1].nomor_aju));

    let results = read_csv(&latest(&dir).join("results.csv"));
    let statuses: Vec<&str> = results.iter().map(|r| r["status"].as_str()).collect();
    assert_eq!(statuses, ["MATCH", "NOT_FOUND", "MATCH"]);
    assert_eq!(results[0]["npwpPemberitahu"], "0999888777666555444333");
    assert!(
        results[1]["message"].contains("tidak ditemukan"),
        "{:?}",
        results[1]
    );
    let summary = summary(&latest(&dir));
    assert_eq!(summary["counts"]["NOT_FOUND"], 1, "{summary:#}");
}

#[test]
fn faults_throttling_and_short_tokens_still_end_with_every_photo_once() {
    let dir = TestDir::new();
    let sandbox = Sandbox::start(&[
        "--seed",
        "42",
        "--fail-rate",
        "0.2",
        "--ambiguous-rate",
        "0.1",
        "--throttle-rate",
        "0.1",
        "--token-ttl",
        "3",
    ]);
    let rows: Vec<RowSpec> = (1..=300).map(|i| RowSpec::valid(i, 1 + i % 3)).collect();
    let manifest = write_manifest(&dir, &rows);

    // Each request meets a fault about a third of the time: allow enough retries that giving up
    // is practically impossible over ~1000 requests.
    let out = run_against(
        &sandbox,
        &dir,
        &manifest,
        &[
            "--rate",
            "150",
            "--concurrency",
            "8",
            "--retries",
            "12",
            "--settle",
            "0.5",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let state = sandbox.state();
    assert_each_photo_once(&state, &rows);
    assert!(
        state["requests"]["get-foto-xray"]["503"]
            .as_u64()
            .unwrap_or(0)
            > 0
    );
    assert!(
        state["requests"]["update-token"]["200"]
            .as_u64()
            .unwrap_or(0)
            + state["requests"]["login"]["200"].as_u64().unwrap_or(0)
            > 1,
        "the run outlived its 3 s tokens: {:#}",
        state["requests"]
    );
    let results = read_csv(&latest(&dir).join("results.csv"));
    assert_eq!(results.len(), 300);
    assert!(results.iter().all(|r| r["status"] == "MATCH"));
    let summary = summary(&latest(&dir));
    assert!(
        summary["requests"]["throttled_429"].as_u64().unwrap_or(0) > 0,
        "{summary:#}"
    );
}

#[test]
fn the_rate_limit_holds_over_every_one_second_window() {
    let dir = TestDir::new();
    let sandbox = Sandbox::start(&[]);
    let rows: Vec<RowSpec> = (1..=120).map(|i| RowSpec::valid(i, 1)).collect();
    let manifest = write_manifest(&dir, &rows);

    let out = run_against(
        &sandbox,
        &dir,
        &manifest,
        &["--rate", "20", "--burst", "1", "--concurrency", "6"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let state = sandbox.state();
    assert_each_photo_once(&state, &rows);
    let max = state["max_rps"].as_u64().expect("max_rps");
    assert!(
        max <= 21,
        "the sandbox saw {max} API requests within one second"
    );
    // The achieved rate against the 90% target is measured by `make bench`, not here: a timed
    // assertion would fail on a busy machine for reasons that are not the tool's.
    let summary = summary(&latest(&dir));
    assert!(
        summary["requests"]["achieved_rate"].as_f64().is_some(),
        "{summary:#}"
    );
}

/// A sandbox whose only account is `night-op` with `password`.
pub fn sandbox_with_night_op(dir: &TestDir, password: &str) -> Sandbox {
    let users = dir.write(
        "users.csv",
        format!("username,password\nnight-op,{password}\n"),
    );
    Sandbox::start(&["--users", users.to_str().expect("utf-8 path")])
}

#[test]
fn secrets_appear_in_no_output() {
    let dir = TestDir::new();
    let password = "Pw-7f3a9c1e-very-secret";
    let sandbox = sandbox_with_night_op(&dir, password);
    let rows: Vec<RowSpec> = (1..=3).map(|i| RowSpec::valid(i, 2)).collect();
    let manifest = write_manifest(&dir, &rows);

    let out = command(&dir, &sandbox.url, "run", &manifest)
        .env("KIRIM_XRAY_USERNAME", "night-op")
        .env("KIRIM_XRAY_PASSWORD", password)
        .args(["--log-level", "trace"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_each_photo_once(&sandbox.state(), &rows);

    // A second run with a ready token: the token must not leak either.
    let token = sandbox.token_of("night-op", password);
    let with_token = command(&dir, &sandbox.url, "run", &manifest)
        .env("KIRIM_XRAY_TOKEN", &token)
        .args(["--log-level", "trace"])
        .output()
        .expect("run");
    assert_eq!(
        with_token.status.code(),
        Some(0),
        "{}",
        describe(&with_token)
    );

    let printed = [describe(&out), describe(&with_token)];
    assert_no_secret_in(&dir, &printed, password, &token);
}

/// Neither `password` nor `token` appears in `printed` nor in any file of the run folders under
/// `<dir>/runs` (at least two runs' worth of files).
pub fn assert_no_secret_in(dir: &TestDir, printed: &[String], password: &str, token: &str) {
    let mut texts = printed.to_vec();
    for run in std::fs::read_dir(dir.join("runs")).expect("runs") {
        let run = run.expect("entry").path();
        if run.is_dir() && !run.is_symlink() {
            for file in std::fs::read_dir(&run).expect("run folder") {
                let file = file.expect("entry").path();
                texts.push(String::from_utf8_lossy(&std::fs::read(&file).expect("read")).into());
            }
        }
    }
    assert!(texts.len() > 10, "both run folders were read");
    for text in texts {
        assert!(!text.contains(password), "the password leaked:\n{text}");
        assert!(!text.contains(token), "the token leaked:\n{text}");
    }
}

#[test]
fn exit_codes_tell_usage_from_unreachable_from_refused() {
    let dir = TestDir::new();
    let rows = vec![RowSpec::valid(1, 1)];
    let manifest = write_manifest(&dir, &rows);
    let sandbox = Sandbox::start(&[]);

    // A manifest that does not exist: usage, nothing sent.
    let missing = run_against(&sandbox, &dir, &dir.join("nope.csv"), &[]);
    assert_eq!(missing.status.code(), Some(2), "{}", describe(&missing));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("nope.csv"));

    // Wrong password: could not authenticate.
    let refused = demo_command(&sandbox, &dir, "run", &manifest)
        .env("KIRIM_XRAY_PASSWORD", "wrong")
        .output()
        .expect("run");
    assert_eq!(refused.status.code(), Some(3), "{}", describe(&refused));

    // Nobody listening: could not reach the API.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        format!("http://127.0.0.1:{port}")
    };
    let unreachable = command(&dir, &closed, "run", &manifest)
        .env("KIRIM_XRAY_USERNAME", "demo")
        .env("KIRIM_XRAY_PASSWORD", "demo")
        .args(["--retries", "1"])
        .output()
        .expect("run");
    assert_eq!(
        unreachable.status.code(),
        Some(3),
        "{}",
        describe(&unreachable)
    );

    // Plain http to a host that is not loopback needs --allow-http; refused before any request.
    let plain = command(&dir, "http://customs.invalid", "run", &manifest)
        .env("KIRIM_XRAY_USERNAME", "demo")
        .env("KIRIM_XRAY_PASSWORD", "demo")
        .output()
        .expect("run");
    assert_eq!(plain.status.code(), Some(2), "{}", describe(&plain));
    assert!(String::from_utf8_lossy(&plain.stderr).contains("--allow-http"));

    // No credentials at all: usage.
    let anonymous = command(&dir, &sandbox.url, "run", &manifest)
        .output()
        .expect("run");
    assert_eq!(anonymous.status.code(), Some(2), "{}", describe(&anonymous));
    assert!(String::from_utf8_lossy(&anonymous.stderr).contains("KIRIM_XRAY_PASSWORD"));

    assert!(
        stored(&sandbox.state()).is_empty(),
        "none of these sent anything"
    );
}

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// (row, status, action) of a run folder's results.csv.
fn statuses(run_dir: &Path) -> Vec<(String, String, String)> {
    read_csv(&run_dir.join("results.csv"))
        .into_iter()
        .map(|r| (r["row"].clone(), r["status"].clone(), r["action"].clone()))
        .collect()
}

#[test]
fn the_sample_workbook_runs_to_the_same_statuses_and_records_as_the_sample_csv() {
    let documents = repo("samples/documents.csv");
    let documents = documents.to_str().expect("utf-8 path");
    let mut seen = Vec::new();
    for manifest in ["samples/manifest.csv", "samples/manifest.xlsx"] {
        let dir = TestDir::new();
        let sandbox = Sandbox::start(&["--documents", documents]);
        let out = run_against(&sandbox, &dir, &repo(manifest), &[]);
        assert_eq!(out.status.code(), Some(1), "{manifest}: {}", describe(&out));
        let records: Vec<Value> = sandbox.state()["records"]
            .as_array()
            .expect("records")
            .iter()
            .map(|r| {
                let mut r = r.clone();
                for p in r["photos"].as_array_mut().expect("photos") {
                    p["waktuRekam"] = Value::Null;
                }
                r
            })
            .collect();
        seen.push((statuses(&latest(&dir)), records));
    }
    let (csv, xlsx) = (&seen[0], &seen[1]);
    assert_eq!(csv.0, xlsx.0, "same statuses and actions");
    assert_eq!(csv.1, xlsx.1, "customs holds the same records and photos");
    let wanted: Vec<&str> = csv.0.iter().map(|(_, s, _)| s.as_str()).collect();
    assert_eq!(
        wanted,
        [
            "MATCH",
            "MATCH",
            "MATCH",
            "MATCH",
            "INVALID",
            "NOT_FOUND",
            "INVALID",
            "INVALID",
            "MATCH",
            "MATCH",
            "MATCH",
            "MATCH"
        ]
    );
}

#[test]
fn a_workbook_with_office_codes_typed_as_numbers_sends_six_digit_codes_with_warnings() {
    use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};

    let dir = TestDir::new();
    let rows: Vec<RowSpec> = (1..=2).map(|i| RowSpec::valid(i, 2)).collect();
    write_manifest(&dir, &rows); // lays down the photo folders
    let mut workbook = Workbook::new();
    let ws = workbook.add_worksheet();
    write_header(ws);
    let date = Format::new().set_num_format("dd/mm/yyyy");
    for (i, (row, code)) in rows.iter().zip([9000.0, 40300.0]).enumerate() {
        let r = i as u32 + 1;
        ws.write_string(r, 0, &row.nomor_aju).expect("aju");
        ws.write_string(r, 1, &row.bl).expect("bl");
        let day = ExcelDateTime::from_ymd(2026, 11, 20).expect("date");
        ws.write_datetime_with_format(r, 2, &day, &date)
            .expect("date");
        ws.write_number(r, 3, code).expect("code");
        ws.write_string(r, 4, &row.folder).expect("folder");
    }
    let manifest = dir.join("manifest.xlsx");
    workbook.save(&manifest).expect("save workbook");

    let sandbox = Sandbox::start(&[]);
    let out = run_against(&sandbox, &dir, &manifest, &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "warnings do not stop a row\n{}",
        describe(&out)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("009000") && stderr.contains("040300"),
        "{stderr}"
    );

    let state = sandbox.state();
    assert_each_photo_once(&state, &rows);
    let codes: Vec<&str> = state["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| r["kodeKantor"].as_str().expect("kodeKantor"))
        .collect();
    assert_eq!(codes, ["009000", "040300"], "customs got six-digit codes");
    let dates: Vec<&str> = state["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| r["tanggalBlAwb"].as_str().expect("tanggalBlAwb"))
        .collect();
    assert_eq!(
        dates,
        ["2026-11-20", "2026-11-20"],
        "date cells sent as yyyy-MM-dd"
    );
}

#[test]
fn a_ready_token_that_expires_mid_run_stops_the_run_with_exit_3() {
    let dir = TestDir::new();
    // Tokens live 3 s. The run below needs at least 8 s (160 requests at 20/s, burst 1), so the
    // ready token dies mid-run whatever the machine's speed; 3 s rather than 1 leaves a busy
    // machine time to start the process and send the first rows before it does.
    let sandbox = Sandbox::start(&["--token-ttl", "3", "--latency-ms", "30"]);
    let rows: Vec<RowSpec> = (1..=80).map(|i| RowSpec::valid(i, 1)).collect();
    let manifest = write_manifest(&dir, &rows);
    let token = sandbox.token();

    let out = command(&dir, &sandbox.url, "run", &manifest)
        .env("KIRIM_XRAY_TOKEN", &token)
        .args(["--rate", "20", "--concurrency", "2"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    let run_dir = latest(&dir);

    // results.csv covers every row in manifest order.
    let results = read_csv(&run_dir.join("results.csv"));
    let got: Vec<(String, String)> = results
        .iter()
        .map(|r| (r["row"].clone(), r["nomorAju"].clone()))
        .collect();
    let expected: Vec<(String, String)> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| ((i + 2).to_string(), r.nomor_aju.clone()))
        .collect();
    assert_eq!(got, expected);

    // MATCH while the token lived; then the rows in flight FAILED (at most one per worker: each
    // finds out on its own request, or at once from the client); then only SKIPPED, since rows
    // are started in manifest order and none starts once the client says it is lost.
    let status = |i: usize| results[i]["status"].as_str();
    assert_eq!(status(0), "MATCH", "{:?}", results[0]);
    let first_skipped = (0..80)
        .find(|&i| status(i) == "SKIPPED")
        .unwrap_or_else(|| panic!("no row SKIPPED: {}", describe(&out)));
    assert!((first_skipped..80).all(|i| status(i) == "SKIPPED"));
    let failed: Vec<usize> = (0..first_skipped)
        .filter(|&i| status(i) == "FAILED")
        .collect();
    assert!(
        (1..=2).contains(&failed.len()),
        "the rows in flight, one per worker: {failed:?}"
    );
    assert!(
        (0..first_skipped).all(|i| ["MATCH", "FAILED"].contains(&status(i))),
        "{results:?}"
    );
    for &i in &failed {
        assert!(
            results[i]["message"].contains("KIRIM_XRAY_TOKEN"),
            "{:?}",
            results[i]
        );
    }
    for r in &results[first_skipped..] {
        assert!(
            r["message"].starts_with(
                "not started: authentication was lost: the API refused the token given in \
                 KIRIM_XRAY_TOKEN"
            ),
            "{r:?}"
        );
        assert_eq!(r["requests"], "0", "{r:?}");
    }

    // The sandbox holds the MATCH rows' photos once, and nothing of the SKIPPED rows; it refused
    // at most one request per worker: the run stopped sending when the token died.
    let state = sandbox.state();
    let matched: Vec<RowSpec> = (0..first_skipped)
        .filter(|&i| status(i) == "MATCH")
        .map(|i| rows[i].clone())
        .collect();
    assert_each_photo_once(&state, &matched);
    let held = stored(&state);
    for row in &rows[first_skipped..] {
        assert!(!held.contains_key(&row.nomor_aju), "{}", row.nomor_aju);
    }
    let refused: u64 = ["kirim-foto-xray", "add-foto-xray", "get-foto-xray"]
        .iter()
        .map(|e| state["requests"][e]["401"].as_u64().unwrap_or(0))
        .sum();
    assert!(
        (1..=2).contains(&refused),
        "{refused} requests refused with 401: {:#}",
        state["requests"]
    );

    let summary = summary(&run_dir);
    assert_eq!(summary["exit_code"], 3, "{summary:#}");
    let note = summary["note"].as_str().expect("note");
    assert!(
        note.starts_with(
            "authentication was lost: the API refused the token given in KIRIM_XRAY_TOKEN"
        ) && note.ends_with("rows not started are SKIPPED"),
        "{note}"
    );
    for file in ["images.csv", "summary.txt", "report.html", "journal.jsonl"] {
        assert!(run_dir.join(file).is_file(), "{file}");
    }
    assert!(!describe(&out).contains(&token));

    // With working credentials, `retry` takes the FAILED and the SKIPPED rows...
    let retry = demo_command(&sandbox, &dir, "retry", &run_dir)
        .args(["--rate", "200", "--burst", "10"])
        .output()
        .expect("retry");
    assert_eq!(retry.status.code(), Some(0), "{}", describe(&retry));
    let retried = read_csv(&latest(&dir).join("results.csv"));
    assert_eq!(retried.len(), 80 - first_skipped + failed.len());
    assert_each_photo_once(&sandbox.state(), &rows);

    // ...and `run --resume` of the stopped run processes its SKIPPED rows again (asking first,
    // so nothing is sent twice) and keeps its FAILED rows as they were.
    let resumed = kirim_xray()
        .current_dir(dir.path())
        .env("KIRIM_XRAY_USERNAME", "demo")
        .env("KIRIM_XRAY_PASSWORD", "demo")
        .args(["run", "--resume"])
        .arg(&run_dir)
        .args(["--api-url", &sandbox.api_url(), "--auth-url", &sandbox.url])
        .args(["--rate", "200", "--burst", "10"])
        .output()
        .expect("resume");
    assert_eq!(resumed.status.code(), Some(1), "{}", describe(&resumed));
    let after = read_csv(&run_dir.join("results.csv"));
    for (i, r) in after.iter().enumerate() {
        let expected = if failed.contains(&i) {
            "FAILED"
        } else {
            "MATCH"
        };
        assert_eq!(r["status"], expected, "{r:?}");
    }
    assert_each_photo_once(&sandbox.state(), &rows);
}

#[test]
fn a_dry_run_prints_the_plan_and_sends_nothing() {
    let dir = TestDir::new();
    let sandbox = Sandbox::start(&[]);
    // Row 3 needs two uploads at 10 photos per request; every row needs one verifying get.
    let rows = vec![
        RowSpec::valid(1, 2),
        RowSpec::valid(2, 1),
        RowSpec::valid(3, 12),
    ];
    let manifest = write_manifest(&dir, &rows);

    let out = command(&dir, &sandbox.url, "run", &manifest)
        .args(["--dry-run", "--rate", "2"])
        .output()
        .expect("dry run");
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("3 valid, 0 invalid"), "{stdout}");
    assert!(stdout.contains("photos    15"), "{stdout}");
    assert!(
        stdout.contains("requests  7 (4 uploads + 3 verifying gets"),
        "{stdout}"
    );
    assert!(stdout.contains("about 4s at 2 requests/s"), "{stdout}");
    assert!(stored(&sandbox.state()).is_empty(), "nothing sent");
    assert!(!dir.join("runs").exists(), "no run folder for a dry run");
}

#[test]
fn a_manifest_without_data_rows_calls_for_attention_and_sends_nothing() {
    let dir = TestDir::new();
    let sandbox = Sandbox::start(&[]);
    let manifest = dir.write(
        "manifest.csv",
        "nomorAju,nomorBlAwb,tanggalBlAwb,kodeKantor,folder\r\n",
    );
    for args in [vec!["--dry-run"], vec![]] {
        let out = run_against(&sandbox, &dir, &manifest, &args);
        assert_eq!(out.status.code(), Some(1), "{args:?}\n{}", describe(&out));
        assert!(String::from_utf8_lossy(&out.stderr).contains("has no data rows"));
    }
    let validate = kirim_xray()
        .arg("validate")
        .arg(&manifest)
        .output()
        .expect("validate");
    assert_eq!(validate.status.code(), Some(1), "{}", describe(&validate));
    let reconcile = demo_command(&sandbox, &dir, "reconcile", &manifest)
        .output()
        .expect("reconcile");
    assert_eq!(reconcile.status.code(), Some(1), "{}", describe(&reconcile));
    assert!(String::from_utf8_lossy(&reconcile.stderr).contains("has no data rows"));
    assert!(!dir.join("runs").exists(), "no run folder");
    assert_eq!(
        sandbox.state()["requests"]["login"],
        Value::Null,
        "not even a login"
    );
}
