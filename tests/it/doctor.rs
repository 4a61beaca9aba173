//! `kirim-xray doctor` against the sandbox, and against each thing that goes wrong on the first
//! day: a wrong API path, wrong credentials, a certificate from a CA that `--ca-cert` does not
//! name, a locked `--out`. Each must give a ✗ line naming the problem and the right exit code.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;

use crate::util::{Sandbox, TestDir, kirim_xray};

/// Exit code and stdout of `kirim-xray doctor ARGS` in `dir`, logged in as `user`/`password`.
fn doctor(dir: &Path, user: &str, password: &str, args: &[&str]) -> (i32, String) {
    let out = kirim_xray()
        .current_dir(dir)
        .env("KIRIM_XRAY_USERNAME", user)
        .env("KIRIM_XRAY_PASSWORD", password)
        .arg("doctor")
        .args(args)
        .output()
        .expect("run kirim-xray doctor");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        !stdout.contains(password) && !stderr.contains(password),
        "{stdout}{stderr}"
    );
    (out.status.code().unwrap_or(-1), format!("{stdout}{stderr}"))
}

/// The line of the check `name`, e.g. `✓ login: a token was granted`.
fn line<'a>(text: &'a str, name: &str) -> &'a str {
    text.lines()
        .find(|l| {
            l.get(l.find(' ').map_or(0, |i| i + 1)..)
                .is_some_and(|rest| rest.starts_with(&format!("{name}: ")))
        })
        .unwrap_or_else(|| panic!("no {name} line in:\n{text}"))
}

const USER: &str = "night-op";
const PASSWORD: &str = "Pw-51d0c-doctor-secret";

/// A sandbox that knows [`USER`] with [`PASSWORD`] (besides demo / demo).
fn sandbox(dir: &TestDir) -> Sandbox {
    let users = dir.write(
        "users.csv",
        format!("username,password\n{USER},{PASSWORD}\n"),
    );
    Sandbox::start(&["--users", users.to_str().expect("utf-8 path")])
}

/// The records the sandbox holds (doctor must not have stored any).
fn records(sandbox: &Sandbox) -> usize {
    sandbox.state()["records"]
        .as_array()
        .expect("records is a list")
        .len()
}

#[test]
fn doctor_passes_against_the_sandbox_and_sends_no_photo() {
    let dir = TestDir::new();
    let sandbox = sandbox(&dir);
    let (code, text) = doctor(
        dir.path(),
        USER,
        PASSWORD,
        &[
            "--api-url",
            &sandbox.api_url(),
            "--auth-url",
            &sandbox.url,
            "--rate",
            "20",
        ],
    );
    assert_eq!(code, 0, "{text}");
    for name in [
        "settings",
        "credentials",
        "out",
        "out lock",
        "login",
        "refresh",
        "probe get",
        "clock",
    ] {
        assert!(line(&text, name).starts_with('✓'), "{name}: {text}");
    }
    assert!(line(&text, "probe get").contains("not found"), "{text}");
    // The settings table names each source: the flag typed, the default left.
    assert!(text.contains("flag --rate"), "{text}");
    let state = sandbox.state();
    assert_eq!(records(&sandbox), 0, "{state}");
    assert_eq!(state["requests"]["update-token"]["200"], 1, "{state}");
    assert_eq!(state["requests"]["get-foto-xray"]["404"], 1, "{state}");
}

#[test]
fn a_wrong_api_path_is_a_cross_naming_the_api_url_and_exit_3() {
    let dir = TestDir::new();
    let sandbox = sandbox(&dir);
    let wrong = format!("{}/openapi/wrong", sandbox.url);
    let (code, text) = doctor(
        dir.path(),
        USER,
        PASSWORD,
        &["--api-url", &wrong, "--auth-url", &sandbox.url],
    );
    assert_eq!(code, 3, "{text}");
    let probe = line(&text, "probe get");
    assert!(
        probe.starts_with('✗') && probe.contains("not the API's"),
        "{text}"
    );
    assert!(text.contains("check --api-url"), "{text}");
    assert!(line(&text, "login").starts_with('✓'), "{text}");
}

#[test]
fn wrong_credentials_are_a_cross_on_login_and_exit_3() {
    let dir = TestDir::new();
    let sandbox = sandbox(&dir);
    let (code, text) = doctor(
        dir.path(),
        USER,
        "not-the-password",
        &["--api-url", &sandbox.api_url(), "--auth-url", &sandbox.url],
    );
    assert_eq!(code, 3, "{text}");
    let login = line(&text, "login");
    assert!(login.starts_with('✗') && login.contains("401"), "{text}");
    assert!(text.contains("KIRIM_XRAY_PASSWORD"), "{text}");
    assert_eq!(sandbox.state()["requests"].get("get-foto-xray"), None);
}

#[test]
fn missing_credentials_are_a_local_problem_exit_2() {
    let dir = TestDir::new();
    let out = kirim_xray()
        .current_dir(dir.path())
        .args(["doctor", "--api-url", "http://127.0.0.1:9/openapi/cnpibk"])
        .args(["--auth-url", "http://127.0.0.1:9"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(line(&text, "credentials").starts_with('✗'), "{text}");
    assert!(line(&text, "login").starts_with('-'), "{text}");
}

#[test]
fn a_locked_out_folder_names_the_holder_and_is_exit_2() {
    let dir = TestDir::new();
    let sandbox = sandbox(&dir);
    // Another run's lock: an OS lock on <out>/.lock with its holder's details.
    let lock_path = dir.write("runs/.lock", "pid 4242\nstarted 2026-11-28T01:00:00Z\n");
    let holder = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&lock_path)
        .unwrap();
    holder
        .try_lock()
        .expect("take the lock as another run would");
    let (code, text) = doctor(
        dir.path(),
        USER,
        PASSWORD,
        &[
            "--api-url",
            &sandbox.api_url(),
            "--auth-url",
            &sandbox.url,
            "--out",
            "runs",
        ],
    );
    assert_eq!(code, 2, "{text}");
    let lock = line(&text, "out lock");
    assert!(
        lock.starts_with('✗') && lock.contains("pid 4242") && lock.contains("2026-11-28T01:00:00Z"),
        "{text}"
    );
    // Still held by its holder, and its text untouched.
    assert_eq!(
        std::fs::read_to_string(&lock_path).unwrap(),
        "pid 4242\nstarted 2026-11-28T01:00:00Z\n"
    );
    drop(holder);
    let (code, text) = doctor(
        dir.path(),
        USER,
        PASSWORD,
        &[
            "--api-url",
            &sandbox.api_url(),
            "--auth-url",
            &sandbox.url,
            "--out",
            "runs",
        ],
    );
    assert_eq!(code, 0, "once the holder is gone: {text}");
}

/// A private CA and a certificate for 127.0.0.1 that it signed: (CA PEM, cert DER, key DER).
fn private_ca() -> (String, Vec<u8>, Vec<u8>) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    (ca.pem(), cert.der().to_vec(), key.serialize_der())
}

/// A TLS server on 127.0.0.1 port 0 that answers every request with an empty 404, over the
/// certificate given. Serves in a thread until the test ends.
fn tls_server(cert: Vec<u8>, key: Vec<u8>) -> String {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(cert)],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)),
        )
        .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let config = config.clone();
            std::thread::spawn(move || {
                let Ok(conn) = rustls::ServerConnection::new(config) else {
                    return;
                };
                let mut tls = rustls::StreamOwned::new(conn, stream);
                let mut buf = [0u8; 4096];
                if tls.read(&mut buf).unwrap_or(0) == 0 {
                    return;
                }
                let date = httpdate::fmt_http_date(std::time::SystemTime::now());
                let _ = write!(
                    tls,
                    "HTTP/1.1 404 Not Found\r\nDate: {date}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                let _ = tls.flush();
                tls.conn.send_close_notify();
                let _ = tls.flush();
            });
        }
    });
    format!("https://127.0.0.1:{port}")
}

#[test]
fn a_certificate_from_an_untrusted_ca_is_a_tls_cross_and_exit_3() {
    let dir = TestDir::new();
    let (ca, cert, key) = private_ca();
    let (other_ca, _, _) = private_ca();
    dir.write("gateway-ca.pem", &ca);
    dir.write("other-ca.pem", &other_ca);
    let url = tls_server(cert, key);
    let api = format!("{url}/openapi/cnpibk");
    let args = |ca: &'static str| {
        vec![
            "--api-url".to_string(),
            api.clone(),
            "--auth-url".into(),
            url.clone(),
            "--ca-cert".into(),
            ca.into(),
        ]
    };

    let untrusted = args("other-ca.pem");
    let untrusted: Vec<&str> = untrusted.iter().map(String::as_str).collect();
    let (code, text) = doctor(dir.path(), USER, PASSWORD, &untrusted);
    assert_eq!(code, 3, "{text}");
    let tls = line(&text, "TLS API URL");
    assert!(
        tls.starts_with('✗') && tls.contains("TLS problem"),
        "{text}"
    );
    assert!(
        tls.to_ascii_lowercase().contains("certificate") || tls.contains("UnknownIssuer"),
        "{text}"
    );
    assert!(text.contains("--ca-cert"), "{text}");
    assert!(
        line(&text, "login").starts_with('-'),
        "login is not tried: {text}"
    );

    // With the CA that signed it, the same server passes TLS (and then fails at login: it is
    // no gateway), which proves the cross above was about trust.
    let trusted = args("gateway-ca.pem");
    let trusted: Vec<&str> = trusted.iter().map(String::as_str).collect();
    let (code, text) = doctor(dir.path(), USER, PASSWORD, &trusted);
    assert!(line(&text, "TLS API URL").starts_with('✓'), "{text}");
    assert!(
        line(&text, "TLS API URL").contains("gateway-ca.pem"),
        "{text}"
    );
    assert!(line(&text, "clock").starts_with('✓'), "{text}");
    assert_eq!(code, 3, "{text}");
}

#[test]
fn doctor_with_a_manifest_prints_its_plan() {
    let dir = TestDir::new();
    let sandbox = sandbox(&dir);
    dir.write("a/01.jpg", crate::util::jpeg(1, 300));
    dir.write(
        "manifest.csv",
        "nomorAju,nomorBlAwb,tanggalBlAwb,kodeKantor,folder\n\
         012345678901234500000020250930CNTESTXRAY3CN1,CNTESTXRAY3,2025-09-30,009000,a\n",
    );
    let (code, text) = doctor(
        dir.path(),
        USER,
        PASSWORD,
        &[
            "--api-url",
            &sandbox.api_url(),
            "--auth-url",
            &sandbox.url,
            "--manifest",
            "manifest.csv",
        ],
    );
    assert_eq!(code, 0, "{text}");
    assert!(line(&text, "manifest").starts_with('✓'), "{text}");
    assert!(
        text.contains("1 in the manifest: 1 valid, 0 invalid"),
        "{text}"
    );
    assert_eq!(records(&sandbox), 0, "nothing was sent for the manifest");
}
