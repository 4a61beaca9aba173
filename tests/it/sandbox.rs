//! Integration tests: the sandbox over real HTTP on 127.0.0.1. Every answer of the API text, each
//! 400 case, tokens, each fault option at about its rate with a fixed seed, the state folder
//! across a restart, concurrent uploads, and a clean stop on SIGTERM/SIGINT.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::Stdio;

use reqwest::blocking::multipart::{Form, Part};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::util::*;

mod faults;

const AJU: &str = "012345678901234500000020250930CNTESTXRAY3CN1";
const KIRIM: &str = "/openapi/cnpibk/xray/kirim-foto-xray";
const ADD: &str = "/openapi/cnpibk/xray/add-foto-xray";
const GET: &str = "/openapi/cnpibk/xray/get-foto-xray";

/// The API text's example `data` part, spaced as in its curl command.
const EXAMPLE_DATA: &str = r#"{
        "kodeKantor": "009000",
        "nomorBlAwb": "CNTESTXRAY3",
        "tanggalBlAwb": "2025-09-30",
        "nomorAju":"012345678901234500000020250930CNTESTXRAY3CN1"
      }"#;

struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

fn answer(response: reqwest::blocking::Response) -> Answer {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().expect("answer body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Answer {
        status,
        headers,
        body,
    }
}

fn data(aju: &str, bl: &str) -> String {
    json!({"nomorAju": aju, "nomorBlAwb": bl, "tanggalBlAwb": "2025-09-30", "kodeKantor": "009000"})
        .to_string()
}

fn image(name: &str, bytes: Vec<u8>) -> Part {
    let mime = if name.ends_with(".png") {
        "image/png"
    } else {
        "image/jpeg"
    };
    Part::bytes(bytes)
        .file_name(name.to_string())
        .mime_str(mime)
        .unwrap()
}

fn json_part(text: &str) -> Part {
    Part::text(text.to_string())
        .mime_str("application/json")
        .unwrap()
}

/// A well-formed upload form: the data part and the named images.
fn upload_form(data_json: &str, images: &[(&str, Vec<u8>)]) -> Form {
    images.iter().fold(
        Form::new().part("data", json_part(data_json)),
        |f, (n, b)| f.part("images", image(n, b.clone())),
    )
}

fn post(sandbox: &Sandbox, path: &str, token: &str, form: Form) -> Answer {
    answer(
        http()
            .post(format!("{}{path}", sandbox.url))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .expect("upload"),
    )
}

fn get(sandbox: &Sandbox, token: &str, query: &[(&str, &str)]) -> Answer {
    answer(
        http()
            .get(format!("{}{GET}", sandbox.url))
            .bearer_auth(token)
            .query(query)
            .send()
            .expect("get"),
    )
}

fn assert_timestamp(value: &Value) {
    let text = value.as_str().expect("a timestamp string");
    assert!(
        text.len() == 19
            && chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").is_ok(),
        "not yyyy-MM-dd HH:mm:ss: {text:?}"
    );
}

/// A failure answer exactly as the API text prints it.
fn assert_failure(a: &Answer, status: u16, code: u64, message: &str) {
    assert_eq!(a.status, status, "{}", a.body);
    assert_eq!(a.body["success"], json!(false));
    assert_eq!(a.body["data"], Value::Null);
    assert_eq!(a.body["code"], json!(code));
    assert_eq!(a.body["message"], json!(message));
    assert_timestamp(&a.body["timestamp"]);
}

/// An answer with HTTP status and body code `status` whose message contains `needle`.
fn assert_refused(a: &Answer, status: u16, needle: &str) {
    assert_eq!(a.status, status, "{}", a.body);
    assert_eq!(a.body["success"], json!(false), "{}", a.body);
    assert_eq!(a.body["code"], json!(status), "{}", a.body);
    let message = a.body["message"].as_str().unwrap_or_default();
    assert!(message.contains(needle), "{message:?} lacks {needle:?}");
}

fn records(sandbox: &Sandbox) -> Vec<Value> {
    sandbox.state()["records"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn the_curl_example_gets_the_documented_answers() {
    let sandbox = Sandbox::start(&[]);
    let token = sandbox.token();
    let (jpg, png) = (jpeg(1, 3000), png(2));
    let example = || {
        upload_form(
            EXAMPLE_DATA,
            &[("image1.jpg", jpg.clone()), ("image2.png", png.clone())],
        )
    };

    let first = post(&sandbox, KIRIM, &token, example());
    assert_eq!(first.status, 200, "{}", first.body);
    let expected_data = json!({
        "nomorAju": AJU,
        "nomorBlAwb": "CNTESTXRAY3",
        "tanggalBlAwb": "2025-09-30",
        "kodeKantor": "009000",
        "npwpPemberitahu": "0123456789012345000000",
        "jumlahFotoTerupload": 2,
        "keterangan": "Sukses Upload Foto"
    });
    assert_eq!(first.body["success"], json!(true));
    assert_eq!(first.body["data"], expected_data);
    assert_eq!(first.body["code"], json!(200));
    assert_eq!(first.body["message"], json!("Sukses Kirim Foto Xray"));
    assert_timestamp(&first.body["timestamp"]);
    let keys: BTreeSet<&str> = first
        .body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from(["success", "data", "timestamp", "code", "message"])
    );

    let again = post(&sandbox, KIRIM, &token, example());
    assert_failure(
        &again,
        409,
        409,
        "Data X-Ray sudah ada, silahkan gunakan API add untuk menambah foto",
    );

    let as_text = Form::new()
        .part(
            "data",
            Part::text(EXAMPLE_DATA).mime_str("text/plain").unwrap(),
        )
        .part("images", image("image1.jpg", jpg.clone()));
    assert_refused(
        &post(&sandbox, KIRIM, &token, as_text),
        400,
        "application/json",
    );

    // add: one more photo, the documented answer.
    let added = post(
        &sandbox,
        ADD,
        &token,
        upload_form(EXAMPLE_DATA, &[("image3.jpg", jpeg(3, 500))]),
    );
    assert_eq!(added.status, 200, "{}", added.body);
    let mut expected_add = expected_data.clone();
    expected_add["jumlahFotoTerupload"] = json!(1);
    assert_eq!(added.body["data"], expected_add);
    assert_eq!(added.body["message"], json!("Sukses Menambah Foto Xray"));
    assert_eq!(added.body["code"], json!(200));

    // get, by nomorAju and by BL/AWB, under both base paths: every photo, in upload order.
    let by_aju = get(&sandbox, &token, &[("nomorAju", AJU)]);
    let by_bl = get(
        &sandbox,
        &token,
        &[
            ("nomorBlAwb", "CNTESTXRAY3"),
            ("tanggalBlAwb", "2025-09-30"),
            ("kodeKantor", "009000"),
        ],
    );
    let public = answer(
        http()
            .get(format!(
                "{}/kirim-cn-pibk-barkir-public/kirim-cn-pibk-barkir/xray/get-foto-xray",
                sandbox.url
            ))
            .bearer_auth(&token)
            .query(&[("nomorAju", AJU)])
            .send()
            .unwrap(),
    );
    for got in [&by_aju, &by_bl, &public] {
        assert_eq!(got.status, 200, "{}", got.body);
        assert_eq!(got.body["success"], json!(true));
        assert_eq!(got.body["code"], json!(200));
        assert_eq!(
            got.body["message"],
            json!("Sukses Mengambil Data Foto X-Ray")
        );
        let d = &got.body["data"];
        assert_eq!(d["nomorAju"], json!(AJU));
        assert_eq!(d["nomorBlAwb"], json!("CNTESTXRAY3"));
        assert_eq!(d["tanggalBlAwb"], json!("2025-09-30"));
        assert_eq!(d["kodeKantor"], json!("009000"));
        assert_eq!(d["npwpPemberitahu"], json!("0123456789012345000000"));
        assert_eq!(d["totalFotoTerupload"], json!(3));
        assert_eq!(d["keterangan"], Value::Null);
        let names: Vec<&str> = d["detail"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                assert_timestamp(&p["waktuRekam"]);
                p["namaFile"].as_str().unwrap()
            })
            .collect();
        assert_eq!(names, ["image1.jpg", "image2.png", "image3.jpg"]);
    }

    // The state lists each stored photo with its sha256, and serves its bytes back.
    let records = records(&sandbox);
    assert_eq!(records.len(), 1);
    let photos = records[0]["photos"].as_array().unwrap();
    let expected = [
        ("image1.jpg", &jpg, "image/jpeg"),
        ("image2.png", &png, "image/png"),
    ];
    for (photo, (name, bytes, mime)) in photos.iter().zip(expected) {
        assert_eq!(photo["namaFile"], json!(name));
        assert_eq!(photo["bytes"], json!(bytes.len()));
        assert_eq!(photo["sha256"], json!(sha256_hex(bytes)));
        assert_eq!(photo["contentType"], json!(mime));
        let served = http()
            .get(format!(
                "{}/__sandbox/photos/{}",
                sandbox.url,
                sha256_hex(bytes)
            ))
            .send()
            .unwrap()
            .bytes()
            .unwrap();
        assert_eq!(served.as_ref(), bytes.as_slice());
    }
    let requests = &sandbox.state()["requests"];
    assert_eq!(
        requests["kirim-foto-xray"],
        json!({"200": 1, "409": 1, "400": 1})
    );
    assert_eq!(requests["add-foto-xray"], json!({"200": 1}));
    assert_eq!(requests["get-foto-xray"], json!({"200": 3}));
    assert_eq!(requests["login"], json!({"200": 1}));

    // reset forgets records and counters.
    http()
        .post(format!("{}/__sandbox/reset", sandbox.url))
        .send()
        .unwrap();
    let state = sandbox.state();
    assert_eq!(state["records"], json!([]));
    assert_eq!(state["requests"], json!({}));
    assert_failure(
        &get(&sandbox, &token, &[("nomorAju", AJU)]),
        404,
        404,
        "Data Foto Xray tidak ditemukan atas request yang diminta",
    );
}

#[test]
fn unknown_declarations_get_the_documented_not_found_answers() {
    let dir = TestDir::new();
    let documents = dir.write(
        "documents.csv",
        "nomorAju,nomorBlAwb,tanggalBlAwb,kodeKantor,npwpPemberitahu\n\
         AJU-KNOWN,BL-KNOWN,2025-09-30,009000,999888777666555444333\n\
         AJU-NO-NPWP-0123456789,BL-2,2025-09-30,009000\n",
    );
    let sandbox = Sandbox::start(&["--documents", documents.to_str().unwrap()]);
    let token = sandbox.token();
    let kirim_not_found = "Gagal Kirim Foto Xray, Data BL/AWB CN tidak ditemukan";
    let photo = || vec![("a.jpg", jpeg(1, 100))];

    // kirim on an unknown nomorAju, or on a known one with another BL/AWB, date or office.
    for (aju, bl, date, office) in [
        ("AJU-UNKNOWN", "BL-KNOWN", "2025-09-30", "009000"),
        ("AJU-KNOWN", "BL-OTHER", "2025-09-30", "009000"),
        ("AJU-KNOWN", "BL-KNOWN", "2025-09-29", "009000"),
        ("AJU-KNOWN", "BL-KNOWN", "2025-09-30", "040300"),
    ] {
        let d =
            json!({"nomorAju": aju, "nomorBlAwb": bl, "tanggalBlAwb": date, "kodeKantor": office});
        let a = post(
            &sandbox,
            KIRIM,
            &token,
            upload_form(&d.to_string(), &photo()),
        );
        assert_failure(&a, 200, 404, kirim_not_found);
    }
    // add before kirim.
    let a = post(
        &sandbox,
        ADD,
        &token,
        upload_form(&data("AJU-KNOWN", "BL-KNOWN"), &photo()),
    );
    assert_failure(&a, 200, 404, "Data Foto Xray tidak ditemukan");
    // get when absent, both ways.
    let absent = "Data Foto Xray tidak ditemukan atas request yang diminta";
    assert_failure(
        &get(&sandbox, &token, &[("nomorAju", "AJU-KNOWN")]),
        404,
        404,
        absent,
    );
    let by_bl = [
        ("nomorBlAwb", "BL-KNOWN"),
        ("tanggalBlAwb", "2025-09-30"),
        ("kodeKantor", "009000"),
    ];
    assert_failure(&get(&sandbox, &token, &by_bl), 404, 404, absent);
    assert!(records(&sandbox).is_empty());

    // Known documents: npwpPemberitahu from the file, else the first 22 characters of nomorAju.
    let a = post(
        &sandbox,
        KIRIM,
        &token,
        upload_form(&data("AJU-KNOWN", "BL-KNOWN"), &photo()),
    );
    assert_eq!(
        a.body["data"]["npwpPemberitahu"],
        json!("999888777666555444333")
    );
    let a = post(
        &sandbox,
        KIRIM,
        &token,
        upload_form(&data("AJU-NO-NPWP-0123456789", "BL-2"), &photo()),
    );
    assert_eq!(
        a.body["data"]["npwpPemberitahu"],
        json!("AJU-NO-NPWP-0123456789"[..22])
    );
    // add with a BL/AWB other than the record's is "no X-ray data" too.
    let a = post(
        &sandbox,
        ADD,
        &token,
        upload_form(&data("AJU-KNOWN", "BL-OTHER"), &photo()),
    );
    assert_failure(&a, 200, 404, "Data Foto Xray tidak ditemukan");
    assert_eq!(
        get(&sandbox, &token, &by_bl).body["data"]["totalFotoTerupload"],
        json!(1)
    );
}

#[test]
fn malformed_uploads_are_refused_with_a_reason() {
    let sandbox = Sandbox::start(&["--max-body-bytes", "20000"]);
    let token = sandbox.token();
    let good = data("AJU-1", "BL-1");
    let img = || image("a.jpg", jpeg(1, 200));
    let with_data = |data_json: &str| {
        Form::new()
            .part("data", json_part(data_json))
            .part("images", img())
    };
    let field = |key: &str, value: Value| {
        let mut d: Value = serde_json::from_str(&good).unwrap();
        if value.is_null() {
            d.as_object_mut().unwrap().remove(key);
        } else {
            d[key] = value;
        }
        with_data(&d.to_string())
    };
    let cases: Vec<(&str, Form, &str)> = vec![
        (
            "no data part",
            Form::new().part("images", img()),
            "no data part",
        ),
        (
            "data as text/plain",
            Form::new()
                .part(
                    "data",
                    Part::text(good.clone()).mime_str("text/plain").unwrap(),
                )
                .part("images", img()),
            "application/json, not text/plain",
        ),
        (
            "data without a type",
            Form::new()
                .part("data", Part::text(good.clone()))
                .part("images", img()),
            "application/json; it has none",
        ),
        (
            "data not JSON",
            with_data("nomorAju=AJU-1"),
            "not valid JSON",
        ),
        ("data not an object", with_data("[1,2]"), "JSON object"),
        (
            "a field missing",
            field("nomorBlAwb", Value::Null),
            "nomorBlAwb is missing",
        ),
        (
            "a field empty",
            field("kodeKantor", json!("")),
            "kodeKantor is empty",
        ),
        (
            "a field not a string",
            field("kodeKantor", json!(9000)),
            "kodeKantor must be a string",
        ),
        (
            "a short date",
            field("tanggalBlAwb", json!("2025-9-30")),
            "yyyy-MM-dd",
        ),
        (
            "a day-first date",
            field("tanggalBlAwb", json!("30-09-2025")),
            "yyyy-MM-dd",
        ),
        (
            "an impossible date",
            field("tanggalBlAwb", json!("2025-02-30")),
            "yyyy-MM-dd",
        ),
        (
            "no images part",
            Form::new().part("data", json_part(&good)),
            "no images part",
        ),
        (
            "an image without filename",
            Form::new().part("data", json_part(&good)).part(
                "images",
                Part::bytes(jpeg(1, 200)).mime_str("image/jpeg").unwrap(),
            ),
            "images part 1 has no filename",
        ),
        (
            "an image not image/*",
            Form::new()
                .part("data", json_part(&good))
                .part("images", img())
                .part(
                    "images",
                    Part::bytes(b"hello".to_vec())
                        .file_name("b.txt")
                        .mime_str("text/plain")
                        .unwrap(),
                ),
            "images part 2 (b.txt) has Content-Type text/plain, not image/*",
        ),
        (
            "an empty image",
            Form::new()
                .part("data", json_part(&good))
                .part("images", image("c.jpg", Vec::new())),
            "images part 1 (c.jpg) is empty",
        ),
    ];
    for (case, form, needle) in cases {
        let a = post(&sandbox, KIRIM, &token, form);
        assert_eq!(a.status, 400, "{case}: {}", a.body);
        assert_refused(&a, 400, needle);
    }
    // Not multipart at all.
    let a = answer(
        http()
            .post(format!("{}{KIRIM}", sandbox.url))
            .bearer_auth(&token)
            .header("Content-Type", "application/json")
            .body(good.clone())
            .send()
            .unwrap(),
    );
    assert_refused(&a, 400, "must be multipart/form-data, not application/json");
    // add is checked the same way.
    let a = post(
        &sandbox,
        ADD,
        &token,
        field("tanggalBlAwb", json!("2025/09/30")),
    );
    assert_refused(&a, 400, "yyyy-MM-dd");
    // get needs nomorAju or the whole BL/AWB triple.
    assert_refused(
        &get(&sandbox, &token, &[("nomorBlAwb", "BL-1")]),
        400,
        "nomorAju",
    );
    // Over --max-body-bytes: 413 (or a transport error, when the client is cut off mid-body).
    let big = upload_form(&good, &[("big.jpg", jpeg(9, 30_000))]);
    let sent = http()
        .post(format!("{}{KIRIM}", sandbox.url))
        .bearer_auth(&token)
        .multipart(big)
        .send();
    if let Ok(response) = sent {
        assert_refused(&answer(response), 413, "20000 bytes");
    }
    let state = sandbox.state();
    assert_eq!(
        state["records"],
        json!([]),
        "nothing stored from a refused request"
    );
    assert_eq!(state["requests"]["kirim-foto-xray"]["400"], json!(16));
    assert_eq!(state["requests"]["kirim-foto-xray"]["413"], json!(1));
}

#[test]
fn tokens_expire_and_update_token_renews_them() {
    let dir = TestDir::new();
    let users = dir.write("users.csv", "username,password\nops,s3cret\n");
    let sandbox = Sandbox::start(&["--token-ttl", "1", "--users", users.to_str().unwrap()]);
    let login = |user: &str, password: &str| {
        answer(
            http()
                .post(format!("{}/nle-oauth/v1/user/login", sandbox.url))
                .json(&json!({"username": user, "password": password}))
                .send()
                .unwrap(),
        )
    };
    let refused = login("demo", "wrong");
    assert_eq!(refused.status, 401);
    assert_eq!(refused.body["item"], Value::Null);
    let ops = login("ops", "s3cret");
    assert_eq!(ops.status, 200);
    let item = &ops.body["item"];
    assert_eq!(item["expires_in"], json!(1));
    assert_eq!(item["refresh_expires_in"], json!(3600));
    for key in ["access_token", "refresh_token", "token_type", "scope"] {
        assert!(
            item[key].as_str().is_some_and(|s| !s.is_empty()),
            "{key}: {item}"
        );
    }
    let token = item["access_token"].as_str().unwrap().to_string();
    let refresh = item["refresh_token"].as_str().unwrap().to_string();

    let query = [("nomorAju", "NONE")];
    let unauthorized = "Invalid Authorization Token";
    assert_eq!(
        get(&sandbox, &token, &query).status,
        404,
        "a live token is accepted"
    );
    let no_token = answer(
        http()
            .get(format!("{}{GET}", sandbox.url))
            .query(&query)
            .send()
            .unwrap(),
    );
    assert_failure(&no_token, 401, 401, unauthorized);
    assert_failure(
        &get(&sandbox, "not-a-token", &query),
        401,
        401,
        unauthorized,
    );
    assert_failure(&get(&sandbox, &refresh, &query), 401, 401, unauthorized);
    let a = post(
        &sandbox,
        KIRIM,
        "not-a-token",
        upload_form(EXAMPLE_DATA, &[("a.jpg", jpeg(1, 50))]),
    );
    assert_failure(&a, 401, 401, unauthorized);

    std::thread::sleep(std::time::Duration::from_millis(2100));
    assert_failure(&get(&sandbox, &token, &query), 401, 401, unauthorized);

    let update = |bearer: &str| {
        answer(
            http()
                .post(format!("{}/nle-oauth/v1/user/update-token", sandbox.url))
                .bearer_auth(bearer)
                .send()
                .unwrap(),
        )
    };
    assert_eq!(update("not-a-token").status, 401);
    assert_eq!(
        update(&token).status,
        401,
        "an access token is not a refresh token"
    );
    let renewed = update(&refresh);
    assert_eq!(renewed.status, 200, "{}", renewed.body);
    let fresh = renewed.body["item"]["access_token"].as_str().unwrap();
    assert_ne!(fresh, token);
    assert_eq!(get(&sandbox, fresh, &query).status, 404);
    let requests = &sandbox.state()["requests"];
    assert_eq!(requests["login"], json!({"200": 1, "401": 1}));
    assert_eq!(requests["update-token"], json!({"200": 1, "401": 2}));
}

/// `n` kirim requests of distinct declarations, one by one: the HTTP status of each.
fn kirim_many(sandbox: &Sandbox, n: usize) -> Vec<(String, Answer)> {
    let token = sandbox.token();
    (0..n)
        .map(|i| {
            let aju = format!("AJU-{i:04}");
            let a = post(
                sandbox,
                KIRIM,
                &token,
                upload_form(&data(&aju, "BL"), &[("x.jpg", jpeg(i as u8, 64))]),
            );
            (aju, a)
        })
        .collect()
}

fn stored_ajus(sandbox: &Sandbox) -> BTreeSet<String> {
    records(sandbox)
        .iter()
        .map(|r| r["nomorAju"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn fail_rate_answers_503_before_storing() {
    let sandbox = Sandbox::start(&["--seed", "7", "--fail-rate", "0.2"]);
    let answers = kirim_many(&sandbox, 400);
    let failed: BTreeSet<String> = answers
        .iter()
        .filter(|(_, a)| a.status == 503)
        .map(|(j, _)| j.clone())
        .collect();
    assert!(
        (48..=112).contains(&failed.len()),
        "{} of 400 answered 503",
        failed.len()
    );
    for (_, a) in answers.iter().filter(|(_, a)| a.status == 503) {
        assert_refused(a, 503, "");
        assert_eq!(a.body["data"], Value::Null);
    }
    assert!(
        answers
            .iter()
            .all(|(_, a)| a.status == 200 || a.status == 503)
    );
    let all: BTreeSet<String> = answers.iter().map(|(j, _)| j.clone()).collect();
    let expected: BTreeSet<String> = all.difference(&failed).cloned().collect();
    assert_eq!(
        stored_ajus(&sandbox),
        expected,
        "exactly the 200s are stored"
    );
}

#[test]
fn ambiguous_rate_stores_then_answers_503() {
    let sandbox = Sandbox::start(&["--seed", "7", "--ambiguous-rate", "0.3"]);
    let answers = kirim_many(&sandbox, 200);
    let lost = answers.iter().filter(|(_, a)| a.status == 503).count();
    assert!((36..=84).contains(&lost), "{lost} of 200 answered 503");
    assert_eq!(stored_ajus(&sandbox).len(), 200, "every request was stored");
    let state = sandbox.state();
    assert_eq!(state["requests"]["kirim-foto-xray"]["503"], json!(lost));
}

#[test]
fn throttle_rate_answers_429_with_retry_after() {
    let sandbox = Sandbox::start(&["--seed", "7", "--throttle-rate", "0.25"]);
    let token = sandbox.token();
    let answers: Vec<Answer> = (0..400)
        .map(|_| get(&sandbox, &token, &[("nomorAju", "X")]))
        .collect();
    let throttled: Vec<&Answer> = answers.iter().filter(|a| a.status == 429).collect();
    assert!(
        (60..=140).contains(&throttled.len()),
        "{} of 400 answered 429",
        throttled.len()
    );
    for a in &throttled {
        assert_refused(a, 429, "");
        assert_eq!(a.headers["retry-after"], "1");
    }
    assert_eq!(
        answers.len() - throttled.len(),
        answers.iter().filter(|a| a.status == 404).count()
    );
}

#[test]
fn max_rps_refuses_the_excess_of_any_one_second() {
    let sandbox = Sandbox::start(&["--max-rps", "3", "--retry-after", "2"]);
    // The login is one of the requests the limit counts.
    let started = std::time::Instant::now();
    let token = sandbox.token();
    let answers: Vec<Answer> = (0..30)
        .map(|_| get(&sandbox, &token, &[("nomorAju", "X")]))
        .collect();
    let elapsed = started.elapsed().as_secs_f64();
    let admitted = 1 + answers.iter().filter(|a| a.status != 429).count();
    for a in answers.iter().filter(|a| a.status == 429) {
        assert_eq!(a.headers["retry-after"], "2");
    }
    // However slow the machine, never more than 3 per second got through.
    assert!(
        admitted as f64 <= 3.0 * (elapsed.ceil() + 1.0),
        "{admitted} in {elapsed:.2} s"
    );
    let max_rps = sandbox.state()["max_rps"].as_u64().unwrap();
    if elapsed < 1.0 {
        assert_eq!(admitted, 3);
        assert_eq!(max_rps, 31, "429s and the login count as arrivals");
    }
    assert!((1..=31).contains(&max_rps));
}

#[test]
fn a_seed_repeats_the_same_faults() {
    let statuses = || {
        let sandbox = Sandbox::start(&[
            "--seed",
            "11",
            "--fail-rate",
            "0.3",
            "--throttle-rate",
            "0.2",
        ]);
        let token = sandbox.token();
        (0..60)
            .map(|_| get(&sandbox, &token, &[("nomorAju", "X")]).status)
            .collect::<Vec<u16>>()
    };
    let first = statuses();
    assert_eq!(first, statuses());
    assert!(first.contains(&503) && first.contains(&429) && first.contains(&404));
}

#[test]
fn the_state_folder_survives_a_restart() {
    let dir = TestDir::new();
    let state_dir = dir.join("state");
    let args = ["--state-dir", state_dir.to_str().unwrap()];
    let photos = [("p1.jpg", jpeg(1, 900)), ("p2.png", png(2))];
    let first = Sandbox::start(&args);
    let old_token = first.token();
    assert_eq!(
        post(
            &first,
            KIRIM,
            &old_token,
            upload_form(EXAMPLE_DATA, &photos)
        )
        .status,
        200
    );
    assert_eq!(
        post(
            &first,
            ADD,
            &old_token,
            upload_form(EXAMPLE_DATA, &[("p3.jpg", jpeg(3, 10))])
        )
        .status,
        200
    );
    let before = first.get_state_records();
    first.stop();

    let second = Sandbox::start(&args);
    assert_eq!(
        get(&second, &old_token, &[("nomorAju", AJU)]).status,
        401,
        "tokens are not kept"
    );
    let token = second.token();
    let got = get(&second, &token, &[("nomorAju", AJU)]);
    assert_eq!(got.status, 200);
    let names: Vec<&str> = got.body["data"]["detail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["namaFile"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["p1.jpg", "p2.png", "p3.jpg"]);
    assert_eq!(
        second.get_state_records(),
        before,
        "records, digests and times kept"
    );
    let served = http()
        .get(format!(
            "{}/__sandbox/photos/{}",
            second.url,
            sha256_hex(&photos[0].1)
        ))
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    assert_eq!(served.as_ref(), photos[0].1.as_slice());
    assert_eq!(
        post(&second, KIRIM, &token, upload_form(EXAMPLE_DATA, &photos)).status,
        409
    );
}

trait StateRecords {
    fn get_state_records(&self) -> Value;
}

impl StateRecords for Sandbox {
    fn get_state_records(&self) -> Value {
        self.state()["records"].clone()
    }
}

#[test]
fn concurrent_uploads_store_every_photo_exactly_once() {
    let sandbox = Sandbox::start(&[]);
    let token = sandbox.token();
    std::thread::scope(|scope| {
        for t in 0..8u8 {
            let (sandbox, token) = (&sandbox, &token);
            scope.spawn(move || {
                for i in 0..50u8 {
                    let aju = format!("AJU-{t}-{i:02}");
                    let d = data(&aju, &format!("BL-{t}-{i}"));
                    let kirim = post(
                        sandbox,
                        KIRIM,
                        token,
                        upload_form(
                            &d,
                            &[
                                ("a.jpg", jpeg(t.wrapping_mul(50).wrapping_add(i), 64)),
                                ("b.png", png(i)),
                            ],
                        ),
                    );
                    assert_eq!(kirim.status, 200, "{aju}: {}", kirim.body);
                    assert_eq!(kirim.body["data"]["jumlahFotoTerupload"], json!(2));
                    let add = post(
                        sandbox,
                        ADD,
                        token,
                        upload_form(&d, &[("c.jpg", jpeg(t, 32 + i as usize))]),
                    );
                    assert_eq!(add.status, 200, "{aju}: {}", add.body);
                    assert_eq!(add.body["data"]["jumlahFotoTerupload"], json!(1));
                }
            });
        }
    });
    let state = sandbox.state();
    let records = state["records"].as_array().unwrap();
    assert_eq!(records.len(), 400);
    let mut by_aju = BTreeMap::new();
    for r in records {
        let names: Vec<&str> = r["photos"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["namaFile"].as_str().unwrap())
            .collect();
        by_aju.insert(r["nomorAju"].as_str().unwrap(), names);
    }
    for t in 0..8u8 {
        for i in 0..50u8 {
            let aju = format!("AJU-{t}-{i:02}");
            assert_eq!(by_aju[aju.as_str()], ["a.jpg", "b.png", "c.jpg"], "{aju}");
            let photos = records
                .iter()
                .find(|r| r["nomorAju"] == json!(aju))
                .unwrap()["photos"]
                .clone();
            assert_eq!(
                photos[0]["sha256"],
                json!(sha256_hex(&jpeg(t.wrapping_mul(50).wrapping_add(i), 64)))
            );
        }
    }
    let ajus: Vec<&str> = records
        .iter()
        .map(|r| r["nomorAju"].as_str().unwrap())
        .collect();
    assert!(
        ajus.windows(2).all(|w| w[0] < w[1]),
        "records sorted by nomorAju"
    );
    assert_eq!(state["requests"]["kirim-foto-xray"], json!({"200": 400}));
    assert_eq!(state["requests"]["add-foto-xray"], json!({"200": 400}));
}

#[test]
fn a_photo_sent_twice_is_listed_twice() {
    let sandbox = Sandbox::start(&[]);
    let token = sandbox.token();
    let photo = [("same.jpg", jpeg(5, 100))];
    assert_eq!(
        post(&sandbox, KIRIM, &token, upload_form(EXAMPLE_DATA, &photo)).status,
        200
    );
    assert_eq!(
        post(&sandbox, ADD, &token, upload_form(EXAMPLE_DATA, &photo)).status,
        200
    );
    let got = get(&sandbox, &token, &[("nomorAju", AJU)]);
    assert_eq!(got.body["data"]["totalFotoTerupload"], json!(2));
    let photos = records(&sandbox)[0]["photos"].clone();
    assert_eq!(photos[0]["namaFile"], photos[1]["namaFile"]);
}

#[test]
fn sigterm_and_sigint_stop_the_sandbox_cleanly() {
    for signal in ["-TERM", "-INT"] {
        let mut child = kirim_xray()
            .args(["sandbox", "--bind", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap()
            .to_string();
        assert!(
            url.starts_with("http://127.0.0.1:") && !url.ends_with(":0"),
            "{url}"
        );
        http().get(format!("{url}/__sandbox/state")).send().unwrap();
        let killed = std::process::Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "{signal}: {status:?}");
    }
}
