//! Integration tests: the API client against what stands between it and the API — a gateway
//! that answers with pages of its own, a proxy in the environment, a folder that changes while
//! the run goes on. Assertions are on the sandbox's state, the run folder and exit codes.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::run::{
    RowSpec, assert_each_photo_once, demo_command, describe, latest, run_against, stored,
    write_manifest,
};
use crate::util::{ConnectionCounter, Sandbox, TestDir, read_csv, sha256_hex};

fn summary(run_dir: &Path) -> Value {
    let text = std::fs::read_to_string(run_dir.join("summary.json")).expect("summary.json");
    serde_json::from_str(&text).expect("summary.json is JSON")
}

#[test]
fn a_wrong_api_url_exits_3_for_run_and_reconcile_and_no_row_is_not_found() {
    // A wrong --api-url path: the web server in front of the API answers every X-ray request with
    // its HTML 404 page. Logging in works.
    let dir = TestDir::new();
    let sandbox = Sandbox::start(&[]);
    let rows: Vec<RowSpec> = (1..=2).map(|i| RowSpec::valid(i, 2)).collect();
    let manifest = write_manifest(&dir, &rows);
    let wrong_api = format!("{}/openapi/cnpibk-typo", sandbox.url);

    for subcommand in ["reconcile", "run"] {
        let out = demo_command(&sandbox, &dir, subcommand, &manifest)
            .args(["--api-url", &wrong_api])
            .args(["--rate", "200", "--burst", "10", "--retries", "1"])
            .output()
            .expect("run kirim-xray");
        assert_eq!(
            out.status.code(),
            Some(3),
            "{subcommand}: {}",
            describe(&out)
        );
        let reason = format!("the API could not be reached at {wrong_api}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains(&reason), "{subcommand}: {}", describe(&out));

        let run_dir = latest(&dir);
        let summary = summary(&run_dir);
        assert_eq!(summary["exit_code"], 3, "{summary:#}");
        let note = summary["note"].as_str().unwrap_or_default();
        assert!(note.starts_with(&reason), "{note}");
        assert!(note.contains("--api-url"), "{note}");
        for row in read_csv(&run_dir.join("results.csv")) {
            // False evidence would be NOT_FOUND with on_server=false.
            assert_eq!(row["status"], "FAILED", "{subcommand}: {row:?}");
            assert!(
                row["message"].contains("HTTP 404 that is not the API's answer"),
                "{subcommand}: {row:?}"
            );
        }
        for image in read_csv(&run_dir.join("images.csv")) {
            assert_eq!(image["on_server"], "", "{subcommand}: {image:?}");
        }
    }
    let state = sandbox.state();
    assert!(
        state["requests"]["other"]["404"].as_u64().unwrap_or(0) > 0,
        "{state:#}"
    );
    assert!(stored(&state).is_empty());

    // The same rows against the API itself: answered, so not exit 3.
    let out = run_against(&sandbox, &dir, &manifest, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
}

#[test]
fn the_rate_holds_through_slow_renewals_of_six_second_tokens() {
    // The case: 6-second tokens, a token service that takes 1.5 s, --rate 10. The
    // sandbox's busiest second counts every request, login and update-token included.
    let dir = TestDir::new();
    let sandbox = Sandbox::start(&["--token-ttl", "6", "--auth-latency-ms", "1500"]);
    let rows: Vec<RowSpec> = (1..=50).map(|i| RowSpec::valid(i, 1)).collect();
    let manifest = write_manifest(&dir, &rows);
    let out = demo_command(&sandbox, &dir, "run", &manifest)
        .args(["--rate", "10", "--burst", "1", "--concurrency", "8"])
        .output()
        .expect("run kirim-xray");
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let state = sandbox.state();
    assert_each_photo_once(&state, &rows);
    let renewals = state["requests"]["update-token"]["200"]
        .as_u64()
        .unwrap_or(0)
        + state["requests"]["login"]["200"].as_u64().unwrap_or(0);
    assert!(
        renewals >= 2,
        "the tokens were renewed: {:#}",
        state["requests"]
    );
    let max = state["max_rps"].as_u64().expect("max_rps");
    assert!(
        max <= 11,
        "the sandbox saw {max} requests within one second at --rate 10"
    );
}

#[test]
fn plain_http_requests_never_go_through_a_proxy() {
    // A cron environment with a proxy set: the password and tokens to a plain http:// URL must
    // not cross it.
    let dir = TestDir::new();
    let sandbox = Sandbox::start(&[]);
    let proxy = ConnectionCounter::start();
    let rows: Vec<RowSpec> = (1..=2).map(|i| RowSpec::valid(i, 1)).collect();
    let manifest = write_manifest(&dir, &rows);
    let mut cmd = demo_command(&sandbox, &dir, "run", &manifest);
    for key in ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"] {
        cmd.env(key, &proxy.url);
    }
    for key in ["no_proxy", "NO_PROXY"] {
        cmd.env_remove(key);
    }
    let out = cmd.args(["--retries", "1"]).output().expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(proxy.connections(), 0, "the proxy saw the run");
    let state = sandbox.state();
    assert_eq!(stored(&state).len(), 2);
    assert_eq!(state["requests"]["login"]["200"], 1, "{state:#}");
}

#[test]
fn a_photo_rewritten_at_the_same_size_during_the_run_fails_its_row_with_the_digest_sent() {
    // One worker and a slow sandbox: row 3 is sent seconds after validation took its digests.
    // The photo is rewritten (same size, other bytes) once the run has logged in, which is
    // after validation and before row 3 starts (row 2 alone takes two slow requests).
    let dir = TestDir::new();
    let sandbox = Sandbox::start(&["--latency-ms", "1000"]);
    let rows: Vec<RowSpec> = (1..=2).map(|i| RowSpec::valid(i, 1)).collect();
    let manifest = write_manifest(&dir, &rows);
    let (name, validated) = rows[1].photos[0].clone();
    let path = dir.join(&format!("{}/{name}", rows[1].folder));
    let mut rewritten = validated.clone();
    let last = rewritten.len() - 3;
    rewritten[last] ^= 0x5A;
    assert_eq!(rewritten.len(), validated.len());

    let child = demo_command(&sandbox, &dir, "run", &manifest)
        .args(["--concurrency", "1", "--rate", "200", "--burst", "10"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the run");
    let deadline = Instant::now() + Duration::from_secs(30);
    while sandbox.state()["requests"]["login"]["200"].as_u64() != Some(1) {
        assert!(Instant::now() < deadline, "the run never logged in");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        stored(&sandbox.state()).is_empty(),
        "nothing was sent before the photo changed"
    );
    std::fs::write(&path, &rewritten).expect("rewrite the photo");
    let out = child.wait_with_output().expect("the run ends");
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));

    let run_dir = latest(&dir);
    let results = read_csv(&run_dir.join("results.csv"));
    assert_eq!(results[0]["status"], "MATCH", "{:?}", results[0]);
    assert_eq!(results[1]["status"], "FAILED", "{:?}", results[1]);
    assert!(
        results[1]["message"].contains(&format!("photo {name} changed while the run was going")),
        "{:?}",
        results[1]
    );
    let images = read_csv(&run_dir.join("images.csv"));
    let image = images
        .iter()
        .find(|i| i["nomorAju"] == rows[1].nomor_aju)
        .expect("the photo's line");
    assert_eq!(
        image["sha256"],
        sha256_hex(&rewritten),
        "the digest of the bytes sent"
    );
    assert_eq!(image["sent_in"], "kirim");
    // What customs holds is what images.csv says.
    let state = sandbox.state();
    let record = state["records"]
        .as_array()
        .expect("records")
        .iter()
        .find(|r| r["nomorAju"] == rows[1].nomor_aju.as_str())
        .expect("row 3's record");
    assert_eq!(record["photos"][0]["sha256"], sha256_hex(&rewritten));
}
