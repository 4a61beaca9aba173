//! Test harness: the binary under test, a sandbox on 127.0.0.1 port 0, and a fresh temporary
//! folder per test.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

/// The binary under test, with every `KIRIM_XRAY_*` variable and HOME cleared. The host-wide
/// lock folder is one of this build's own (every test shares it, as every run on a host does), so
/// that tests leave nothing in the system's temporary folder and builders of other checkouts
/// never lock each other out.
pub fn kirim_xray() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kirim-xray"));
    for (key, _) in std::env::vars() {
        if key.starts_with("KIRIM_XRAY_") {
            cmd.env_remove(key);
        }
    }
    cmd.env_remove("HOME");
    cmd.env("NO_COLOR", "1");
    cmd.env("KIRIM_XRAY_LOCK_DIR", lock_dir());
    cmd
}

/// The lock folder every test run shares.
pub fn lock_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("account-locks")
}

/// A running `kirim-xray sandbox`, killed when dropped.
pub struct Sandbox {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    child: Child,
}

impl Sandbox {
    /// Start a sandbox with default options plus `args`.
    pub fn start(args: &[&str]) -> Sandbox {
        let mut child = kirim_xray()
            .args(["sandbox", "--bind", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the sandbox");
        let stdout = child.stdout.take().expect("sandbox stdout");
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        reader
            .read_line(&mut line)
            .expect("read the sandbox's first line");
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from the sandbox: {line:?}"))
            .to_string();
        // Keep draining stdout so that the sandbox never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = reader.read_to_end(&mut sink);
        });
        Sandbox { url, child }
    }

    /// The X-ray API base, as `--api-url` takes it.
    pub fn api_url(&self) -> String {
        format!("{}/openapi/cnpibk", self.url)
    }

    /// `GET /__sandbox/state`.
    pub fn state(&self) -> Value {
        http()
            .get(format!("{}/__sandbox/state", self.url))
            .send()
            .and_then(|r| r.error_for_status())
            .and_then(|r| r.json())
            .expect("sandbox state")
    }

    /// A fresh access token for demo / demo.
    pub fn token(&self) -> String {
        self.token_of("demo", "demo")
    }

    /// A fresh access token for `username` / `password`.
    pub fn token_of(&self, username: &str, password: &str) -> String {
        let answer: Value = http()
            .post(format!("{}/nle-oauth/v1/user/login", self.url))
            .json(&serde_json::json!({"username": username, "password": password}))
            .send()
            .and_then(|r| r.error_for_status())
            .and_then(|r| r.json())
            .expect("login");
        answer["item"]["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }

    /// Stop the sandbox and wait for it (as a restart would).
    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The OS process id, to send it signals.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain blocking HTTP client for tests (loopback only).
pub fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}

/// A fresh temporary folder, removed at the end of the test.
pub struct TestDir {
    dir: tempfile::TempDir,
}

impl TestDir {
    pub fn new() -> TestDir {
        TestDir {
            dir: tempfile::Builder::new()
                .prefix("kirim-xray-test")
                .tempdir()
                .expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn join(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Write a file, creating its parent folders.
    pub fn write(&self, rel: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let path = self.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent");
        }
        std::fs::write(&path, bytes).expect("write file");
        path
    }
}

/// A small but real PNG (1x1 pixel); `seed` changes the pixel so that photos differ by content.
pub fn png(seed: u8) -> Vec<u8> {
    let mut out = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    // IHDR is fixed; the IDAT payload is a stored (uncompressed) zlib block, so the file is valid
    // without a compressor.
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut crc_input = kind.to_vec();
        crc_input.extend_from_slice(data);
        out.extend_from_slice(&crc_input);
        out.extend_from_slice(&crc32(&crc_input).to_be_bytes());
    }
    chunk(&mut out, b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0]);
    let raw = [0u8, seed, seed.wrapping_mul(7), 255 - seed];
    let mut zlib = vec![0x78, 0x01, 0x01];
    zlib.extend_from_slice(&(raw.len() as u16).to_le_bytes());
    zlib.extend_from_slice(&(!(raw.len() as u16)).to_le_bytes());
    zlib.extend_from_slice(&raw);
    zlib.extend_from_slice(&adler32(&raw).to_be_bytes());
    chunk(&mut out, b"IDAT", &zlib);
    chunk(&mut out, b"IEND", &[]);
    out
}

/// A minimal JPEG-looking file (SOI, APP0 JFIF, padding bytes, EOI): recognised by its magic
/// bytes; `len` sets its size.
pub fn jpeg(seed: u8, len: usize) -> Vec<u8> {
    let mut out = vec![
        0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00, 0x01, 0x01, 0x00, 0x00,
        0x01, 0x00, 0x01, 0x00, 0x00,
    ];
    let mut x = seed as u32 + 1;
    while out.len() + 2 < len.max(22) {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        out.push((x >> 16) as u8);
    }
    out.extend_from_slice(&[0xFF, 0xD9]);
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &d in data {
        a = (a + d as u32) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

/// Read a CSV output file into header-keyed rows.
pub fn read_csv(path: &Path) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut reader =
        csv::Reader::from_path(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let headers = reader.headers().expect("headers").clone();
    reader
        .records()
        .map(|r| {
            let r = r.expect("record");
            headers
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// Lower-case hex sha256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// A TCP listener that only counts the connections made to it: where a proxy would be.
pub struct ConnectionCounter {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    count: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl ConnectionCounter {
    pub fn start() -> ConnectionCounter {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let count = std::sync::Arc::new(AtomicUsize::new(0));
        let seen = count.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                seen.fetch_add(1, Ordering::SeqCst);
                // Closed at once: a client that came here fails fast instead of waiting.
                drop(stream);
            }
        });
        ConnectionCounter { url, count }
    }

    pub fn connections(&self) -> usize {
        self.count.load(std::sync::atomic::Ordering::SeqCst)
    }
}
