//! The faults real gateways make, as the sandbox simulates them: late commits, a lagging read
//! replica, slow token renewals, the gateway's own HTML pages, a truncated `detail` list; and what
//! the sandbox counts about them (image bytes received, late commits, requests per second).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::*;

/// Poll `check` until it holds; the limit is generous, only to end a test that would hang.
fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(Instant::now() < deadline, "still waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// An answer from the web server in front of the API: HTML with the status as its title, none of
/// the API's JSON envelope.
fn assert_gateway_page(a: &Answer, status: u16) {
    assert_eq!(a.status, status, "{}", a.body);
    let content_type = a.headers["content-type"].to_str().unwrap();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let text = a.body.as_str().expect("an HTML page, not JSON");
    assert!(
        text.starts_with("<html>") && text.contains(&format!("<title>{status} ")),
        "{text}"
    );
}

fn total_bytes(images: &[(&str, Vec<u8>)]) -> u64 {
    images.iter().map(|(_, b)| b.len() as u64).sum()
}

fn photo_names(record: &Value) -> Vec<String> {
    record["photos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["namaFile"].as_str().unwrap().to_string())
        .collect()
}

fn detail_names(a: &Answer) -> Vec<String> {
    a.body["data"]["detail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["namaFile"].as_str().unwrap().to_string())
        .collect()
}

fn login(sandbox: &Sandbox) -> Answer {
    answer(
        http()
            .post(format!("{}/nle-oauth/v1/user/login", sandbox.url))
            .json(&json!({"username": "demo", "password": "demo"}))
            .send()
            .unwrap(),
    )
}

fn update_token(sandbox: &Sandbox, refresh: &str) -> Answer {
    answer(
        http()
            .post(format!("{}/nle-oauth/v1/user/update-token", sandbox.url))
            .bearer_auth(refresh)
            .send()
            .unwrap(),
    )
}

#[test]
fn late_commits_answer_504_at_once_and_apply_later_as_they_would_then() {
    let sandbox = Sandbox::start(&["--late-commit-rate", "1", "--late-commit-ms", "2000"]);
    let token = sandbox.token();
    let a = data("AJU-A", "BL-A");
    let first = [("p1.jpg", jpeg(1, 900)), ("p2.png", png(2))];
    let more = [("p3.jpg", jpeg(3, 400))];
    let again = [("p4.jpg", jpeg(4, 300))];
    let orphan = [("p5.jpg", jpeg(5, 200))];
    // In arrival order: kirim A, add A (A exists by then), kirim A again (409 by then), add to B
    // that never had a kirim (code:404 by then).
    let answers = [
        post(&sandbox, KIRIM, &token, upload_form(&a, &first)),
        post(&sandbox, ADD, &token, upload_form(&a, &more)),
        post(&sandbox, KIRIM, &token, upload_form(&a, &again)),
        post(
            &sandbox,
            ADD,
            &token,
            upload_form(&data("AJU-B", "BL-B"), &orphan),
        ),
    ];
    for a in &answers {
        assert_gateway_page(a, 504);
    }
    let state = sandbox.state();
    assert_eq!(state["records"], json!([]), "nothing is stored at once");
    assert_eq!(
        state["late_commits"],
        json!({"scheduled": 4, "pending": 4, "applied": 0, "refused": 0})
    );
    assert_eq!(
        state["image_bytes_received"],
        json!({"kirim": total_bytes(&first) + total_bytes(&again),
               "add": total_bytes(&more) + total_bytes(&orphan)})
    );
    assert_eq!(get(&sandbox, &token, &[("nomorAju", "AJU-A")]).status, 404);

    wait_until("the late commits", || {
        sandbox.state()["late_commits"]["pending"] == json!(0)
    });
    let state = sandbox.state();
    assert_eq!(
        state["late_commits"],
        json!({"scheduled": 4, "pending": 0, "applied": 2, "refused": 2})
    );
    let records = state["records"].as_array().unwrap();
    assert_eq!(records.len(), 1, "{records:#?}");
    assert_eq!(records[0]["nomorAju"], json!("AJU-A"));
    assert_eq!(photo_names(&records[0]), ["p1.jpg", "p2.png", "p3.jpg"]);
    assert_eq!(
        records[0]["photos"][0]["sha256"],
        json!(sha256_hex(&first[0].1))
    );
    assert_eq!(state["requests"]["kirim-foto-xray"], json!({"504": 2}));
    assert_eq!(state["requests"]["add-foto-xray"], json!({"504": 2}));
    let got = get(&sandbox, &token, &[("nomorAju", "AJU-A")]);
    assert_eq!(got.body["data"]["totalFotoTerupload"], json!(3));
}

#[test]
fn late_commits_are_drawn_with_the_seed_and_each_is_applied_once() {
    let statuses = || {
        let sandbox = Sandbox::start(&[
            "--seed",
            "9",
            "--late-commit-rate",
            "0.4",
            "--late-commit-ms",
            "100",
        ]);
        let answers = kirim_many(&sandbox, 20);
        let late = answers.iter().filter(|(_, a)| a.status == 504).count();
        assert!(
            answers
                .iter()
                .all(|(_, a)| a.status == 200 || a.status == 504),
            "only 200 and 504"
        );
        wait_until("the late commits", || {
            sandbox.state()["late_commits"]["pending"] == json!(0)
        });
        let state = sandbox.state();
        assert_eq!(
            state["late_commits"],
            json!({"scheduled": late, "pending": 0, "applied": late, "refused": 0})
        );
        let records = state["records"].as_array().unwrap();
        assert_eq!(records.len(), 20);
        assert!(records.iter().all(|r| photo_names(r) == ["x.jpg"]));
        answers.iter().map(|(_, a)| a.status).collect::<Vec<_>>()
    };
    let first = statuses();
    assert!(first.contains(&504) && first.contains(&200), "{first:?}");
    assert_eq!(first, statuses(), "the same seed draws the same uploads");
}

#[test]
fn late_commits_reach_the_state_folder_and_pending_ones_die_with_the_process() {
    let dir = TestDir::new();
    let state_dir = dir.join("state");
    let state_arg = state_dir.to_str().unwrap();
    let photos = [("p1.jpg", jpeg(1, 500))];

    let quick = Sandbox::start(&[
        "--state-dir",
        state_arg,
        "--late-commit-rate",
        "1",
        "--late-commit-ms",
        "100",
    ]);
    let token = quick.token();
    let a = data("AJU-A", "BL-A");
    assert_gateway_page(&post(&quick, KIRIM, &token, upload_form(&a, &photos)), 504);
    wait_until("the late commit", || {
        quick.state()["late_commits"]["applied"] == json!(1)
    });
    quick.stop();

    let slow = Sandbox::start(&[
        "--state-dir",
        state_arg,
        "--late-commit-rate",
        "1",
        "--late-commit-ms",
        "600000",
    ]);
    let token = slow.token();
    let b = data("AJU-B", "BL-B");
    assert_gateway_page(&post(&slow, KIRIM, &token, upload_form(&b, &photos)), 504);
    assert_eq!(slow.state()["late_commits"]["pending"], json!(1));
    slow.stop();

    let after = Sandbox::start(&["--state-dir", state_arg]);
    let ajus: Vec<Value> = records(&after)
        .iter()
        .map(|r| r["nomorAju"].clone())
        .collect();
    assert_eq!(
        ajus,
        [json!("AJU-A")],
        "the applied commit was kept, the pending one lost"
    );
    assert_eq!(
        after.state()["late_commits"],
        json!({"scheduled": 0, "pending": 0, "applied": 0, "refused": 0})
    );
    let token = after.token();
    assert_eq!(
        post(&after, KIRIM, &token, upload_form(&b, &photos)).status,
        200
    );
}

#[test]
fn stale_reads_show_photos_and_new_records_only_after_the_lag() {
    let sandbox = Sandbox::start(&["--stale-read-ms", "1500"]);
    let token = sandbox.token();
    let a = data("AJU-A", "BL-A");
    let by_aju = [("nomorAju", "AJU-A")];
    let by_bl = [
        ("nomorBlAwb", "BL-A"),
        ("tanggalBlAwb", "2025-09-30"),
        ("kodeKantor", "009000"),
    ];
    let first = [("p1.jpg", jpeg(1, 100)), ("p2.jpg", jpeg(2, 100))];
    assert_eq!(
        post(&sandbox, KIRIM, &token, upload_form(&a, &first)).status,
        200
    );
    // The replica does not have the new record yet; the store does, and decides uploads.
    assert_eq!(get(&sandbox, &token, &by_aju).status, 404);
    assert_eq!(get(&sandbox, &token, &by_bl).status, 404);
    assert_eq!(
        post(&sandbox, KIRIM, &token, upload_form(&a, &first)).status,
        409
    );
    assert_eq!(photo_names(&records(&sandbox)[0]), ["p1.jpg", "p2.jpg"]);

    wait_until("the record on the replica", || {
        get(&sandbox, &token, &by_aju).status == 200
    });
    let seen = get(&sandbox, &token, &by_bl);
    assert_eq!(seen.body["data"]["totalFotoTerupload"], json!(2));

    let added = post(
        &sandbox,
        ADD,
        &token,
        upload_form(&a, &[("p3.jpg", jpeg(3, 100))]),
    );
    assert_eq!(added.status, 200);
    let lagging = get(&sandbox, &token, &by_aju);
    assert_eq!(lagging.body["data"]["totalFotoTerupload"], json!(2));
    assert_eq!(detail_names(&lagging), ["p1.jpg", "p2.jpg"]);
    assert_eq!(records(&sandbox)[0]["photos"].as_array().unwrap().len(), 3);
    wait_until("the added photo on the replica", || {
        get(&sandbox, &token, &by_aju).body["data"]["totalFotoTerupload"] == json!(3)
    });
    assert_eq!(
        detail_names(&get(&sandbox, &token, &by_aju)),
        ["p1.jpg", "p2.jpg", "p3.jpg"]
    );
}

#[test]
fn detail_limit_lists_the_first_n_while_the_total_counts_all() {
    let sandbox = Sandbox::start(&["--detail-limit", "2"]);
    let token = sandbox.token();
    let a = data("AJU-A", "BL-A");
    let photos = [
        ("p1.jpg", jpeg(1, 100)),
        ("p2.jpg", jpeg(2, 100)),
        ("p3.jpg", jpeg(3, 100)),
    ];
    assert_eq!(
        post(&sandbox, KIRIM, &token, upload_form(&a, &photos)).status,
        200
    );
    assert_eq!(
        post(
            &sandbox,
            ADD,
            &token,
            upload_form(&a, &[("p4.jpg", jpeg(4, 100))])
        )
        .status,
        200
    );
    for query in [
        vec![("nomorAju", "AJU-A")],
        vec![
            ("nomorBlAwb", "BL-A"),
            ("tanggalBlAwb", "2025-09-30"),
            ("kodeKantor", "009000"),
        ],
    ] {
        let got = get(&sandbox, &token, &query);
        assert_eq!(got.status, 200);
        assert_eq!(got.body["data"]["totalFotoTerupload"], json!(4));
        assert_eq!(detail_names(&got), ["p1.jpg", "p2.jpg"]);
    }
    assert_eq!(records(&sandbox)[0]["photos"].as_array().unwrap().len(), 4);
}

#[test]
fn unknown_paths_get_the_gateways_html_404_and_sandbox_paths_keep_json() {
    let sandbox = Sandbox::start(&[]);
    let token = sandbox.token();
    let plain = answer(
        http()
            .get(format!("{}/nothing/here", sandbox.url))
            .send()
            .unwrap(),
    );
    assert_gateway_page(&plain, 404);
    let wrong_base = answer(
        http()
            .get(format!("{}/openapi/xray/get-foto-xray", sandbox.url))
            .bearer_auth(&token)
            .query(&[("nomorAju", "X")])
            .send()
            .unwrap(),
    );
    assert_gateway_page(&wrong_base, 404);
    // An upload to a wrong path: its body is read, and the page still comes back.
    let upload = post(
        &sandbox,
        "/openapi/cnpibk/xray/kirim-foto",
        &token,
        upload_form(EXAMPLE_DATA, &[("a.jpg", jpeg(1, 20_000))]),
    );
    assert_gateway_page(&upload, 404);

    let own = answer(
        http()
            .get(format!("{}/__sandbox/nothing", sandbox.url))
            .send()
            .unwrap(),
    );
    assert_refused(&own, 404, "Not Found");
    let photo = answer(
        http()
            .get(format!(
                "{}/__sandbox/photos/{}",
                sandbox.url,
                "0".repeat(64)
            ))
            .send()
            .unwrap(),
    );
    assert_refused(&photo, 404, "Not Found");

    let state = sandbox.state();
    assert_eq!(state["requests"]["other"], json!({"404": 3}));
    assert_eq!(state["records"], json!([]));
    assert_eq!(
        state["image_bytes_received"],
        json!({"kirim": 0, "add": 0}),
        "a wrong path is no kirim"
    );
}

#[test]
fn gateway_errors_answer_html_502_or_504_before_the_backend() {
    let sandbox = Sandbox::start(&["--gateway-error-rate", "1", "--seed", "5"]);
    let token = sandbox.token();
    let photos = [("p1.jpg", jpeg(1, 700))];
    let mut statuses = Vec::new();
    for i in 0..6 {
        let d = data(&format!("AJU-{i}"), "BL");
        for a in [
            post(&sandbox, KIRIM, &token, upload_form(&d, &photos)),
            post(&sandbox, ADD, &token, upload_form(&d, &photos)),
            get(&sandbox, &token, &[("nomorAju", "AJU-0")]),
            // Before the token is checked.
            get(&sandbox, "not-a-token", &[("nomorAju", "AJU-0")]),
        ] {
            assert!(a.status == 502 || a.status == 504, "{}", a.status);
            assert_gateway_page(&a, a.status);
            statuses.push(a.status);
        }
    }
    assert!(
        statuses.contains(&502) && statuses.contains(&504),
        "{statuses:?}"
    );
    let state = sandbox.state();
    assert_eq!(state["records"], json!([]), "nothing reached the backend");
    assert_eq!(state["requests"]["login"], json!({"200": 1}));
    let answered: u64 = ["kirim-foto-xray", "add-foto-xray", "get-foto-xray"]
        .iter()
        .flat_map(|e| state["requests"][e].as_object().unwrap().values())
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(answered, 24);
    // The photos were sent all the same.
    assert_eq!(
        state["image_bytes_received"],
        json!({"kirim": 6 * 700, "add": 6 * 700})
    );
}

#[test]
fn auth_latency_slows_login_and_update_token() {
    let sandbox = Sandbox::start(&["--auth-latency-ms", "700"]);
    let started = Instant::now();
    let logged_in = login(&sandbox);
    assert!(started.elapsed() >= Duration::from_millis(700));
    assert_eq!(logged_in.status, 200);
    let refresh = logged_in.body["item"]["refresh_token"].as_str().unwrap();
    let started = Instant::now();
    assert_eq!(update_token(&sandbox, refresh).status, 200);
    assert!(started.elapsed() >= Duration::from_millis(700));
}

#[test]
fn max_rps_counts_and_limits_login_and_update_token() {
    // Measured: every request to the gateway, auth and unknown paths included.
    let sandbox = Sandbox::start(&[]);
    let started = Instant::now();
    let refresh = login(&sandbox).body["item"]["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    let token = update_token(&sandbox, &refresh).body["item"]["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    get(&sandbox, &token, &[("nomorAju", "X")]);
    http()
        .get(format!("{}/nothing", sandbox.url))
        .send()
        .unwrap();
    let elapsed = started.elapsed();
    let max_rps = sandbox.state()["max_rps"].as_u64().unwrap();
    if elapsed < Duration::from_secs(1) {
        assert_eq!(max_rps, 4);
    }
    assert!((1..=4).contains(&max_rps), "{max_rps}");

    // Limited: login and update-token take permits and can be refused.
    let sandbox = Sandbox::start(&["--max-rps", "2", "--retry-after", "3"]);
    let started = Instant::now();
    let first = login(&sandbox);
    let refresh = first.body["item"]["refresh_token"].as_str().unwrap();
    let renewed = update_token(&sandbox, refresh);
    let third = login(&sandbox);
    let elapsed = started.elapsed();
    assert_eq!(first.status, 200);
    if elapsed < Duration::from_secs(1) {
        assert_eq!(renewed.status, 200);
        assert_eq!(third.status, 429, "{}", third.body);
        assert_eq!(third.headers["retry-after"], "3");
        assert_eq!(sandbox.state()["max_rps"], json!(3));
    }
    let requests = &sandbox.state()["requests"];
    let count = |endpoint: &str| -> u64 {
        requests[endpoint]
            .as_object()
            .map(|m| m.values().map(|n| n.as_u64().unwrap()).sum())
            .unwrap_or(0)
    };
    assert_eq!(count("login") + count("update-token"), 3);
}

#[test]
fn image_bytes_received_counts_every_images_part_per_endpoint() {
    let sandbox = Sandbox::start(&["--max-body-bytes", "8000"]);
    let token = sandbox.token();
    let a = data("AJU-A", "BL-A");
    let photos = [("p1.jpg", jpeg(1, 1000)), ("p2.png", png(2))];
    let mut kirim = 0;
    let mut add = 0;

    assert_eq!(
        post(&sandbox, KIRIM, &token, upload_form(&a, &photos)).status,
        200
    );
    kirim += total_bytes(&photos);
    assert_eq!(
        post(&sandbox, KIRIM, &token, upload_form(&a, &photos)).status,
        409
    );
    kirim += total_bytes(&photos);
    let no_data = Form::new().part("images", image("p3.jpg", jpeg(3, 700)));
    assert_eq!(post(&sandbox, KIRIM, &token, no_data).status, 400);
    kirim += 700;
    // Refused by the gateway (no token): the photos were sent all the same.
    assert_eq!(
        post(&sandbox, KIRIM, "not-a-token", upload_form(&a, &photos)).status,
        401
    );
    kirim += total_bytes(&photos);
    // Over the limit by its Content-Length: refused before a byte of it is read. The server
    // answers before the body is through, so the client may see the 413 or only a broken
    // connection (a race that a loaded machine shows): either way no photo byte counts.
    let big = [("big.jpg", jpeg(4, 9000))];
    if let Ok(answer) = http()
        .post(format!("{}{KIRIM}", sandbox.url))
        .bearer_auth(&token)
        .multipart(upload_form(&a, &big))
        .send()
    {
        assert_eq!(answer.status().as_u16(), 413);
    }
    assert_eq!(
        post(
            &sandbox,
            ADD,
            &token,
            upload_form(&a, &[("p5.jpg", jpeg(5, 800))])
        )
        .status,
        200
    );
    add += 800;
    let orphan = post(
        &sandbox,
        ADD,
        &token,
        upload_form(&data("AJU-B", "BL-B"), &[("p6.jpg", jpeg(6, 300))]),
    );
    assert_eq!(orphan.body["code"], json!(404));
    add += 300;

    let state = sandbox.state();
    assert_eq!(
        state["image_bytes_received"],
        json!({"kirim": kirim, "add": add})
    );
    let stored: u64 = records(&sandbox)[0]["photos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["bytes"].as_u64().unwrap())
        .sum();
    assert_eq!(stored, total_bytes(&photos) + 800);

    http()
        .post(format!("{}/__sandbox/reset", sandbox.url))
        .send()
        .unwrap();
    assert_eq!(
        sandbox.state()["image_bytes_received"],
        json!({"kirim": 0, "add": 0})
    );
}
