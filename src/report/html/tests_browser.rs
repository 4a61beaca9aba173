//! The page in a real browser: headless Chromium opens report.html at `#q=…` and its script
//! finds the rows by nomorAju and BL/AWB, with their photos and sha256, from the compact rows.
//! Skipped, with a note, where no Chromium is installed (`apt-get install chromium`), or when
//! `KIRIM_XRAY_CHROMIUM` names none; set it to use another binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::*;
use crate::model::{ImageResult, RowFields, SentIn};
use crate::report::journal::tests::sample;
use crate::report::summary::tests::info;

pub(crate) fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("KIRIM_XRAY_CHROMIUM") {
        return Some(PathBuf::from(path)).filter(|p| p.is_file());
    }
    let path = std::env::var_os("PATH")?;
    [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ]
    .iter()
    .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
    .find(|p| p.is_file())
}

/// The DOM of `page` after its script ran, as Chromium dumps it.
pub(crate) fn dump_dom(chromium: &Path, page: &Path, fragment: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("file://{}#{fragment}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium starts");
    // The DOM is read while Chromium writes it: a full pipe would stop it.
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut dom = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut dom).map(|_| dom)
    });
    // Not a timing assertion: only a guard so that a browser that hangs fails the test instead
    // of blocking the whole suite.
    let guard = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if guard.elapsed() > Duration::from_secs(300) {
            let _ = child.kill();
            panic!("chromium did not finish");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "chromium: {status:?}");
    reader.join().unwrap().unwrap()
}

fn row(n: usize, tag: &str) -> RowResult {
    let mut r = sample(n);
    let bl = format!("CNFIND{n:05}");
    r.status = RowStatus::Match;
    r.fields = RowFields {
        nomor_aju: format!("0123456789012345{n:06}20261120{bl}{tag}"),
        nomor_bl_awb: bl.clone(),
        tanggal_bl_awb: "2026-11-20".into(),
        kode_kantor: "040300".into(),
        folder: format!("images/{bl}"),
    };
    r.missing_on_server.clear();
    r.server_count = Some(2);
    r.message = "2 photos sent in 1 request".into();
    r.images = (1..=2)
        .map(|k| ImageResult {
            file: format!("{bl}-{k}.jpg"),
            bytes: 1000 + (n * 31 + k) as u64,
            sha256: format!("{:064x}", n * 1000 + k),
            content_type: "image/jpeg".into(),
            sent_in: SentIn::Kirim,
            sent_at: r.started_at,
            on_server: Some(true),
            server_waktu_rekam: Some(format!("2026-11-20 10:{:02}:00", n % 60)),
        })
        .collect();
    r
}

/// The element with `id` and its content, from the dumped DOM.
fn element<'a>(dom: &'a str, tag: &str, id: &str) -> &'a str {
    let start = dom
        .find(&format!("<{tag} id=\"{id}\""))
        .unwrap_or_else(|| panic!("no {id} in the page"));
    let end = dom[start..].find(&format!("</{tag}>")).unwrap() + start;
    &dom[start..end]
}

#[test]
fn chromium_finds_rows_by_nomor_aju_and_bl_awb_with_their_digests() {
    let Some(chromium) = chromium() else {
        eprintln!("note: no Chromium found (set KIRIM_XRAY_CHROMIUM); the browser test is skipped");
        return;
    };
    // Enough rows that the search decodes past several of its snapshots, a hole in the row
    // numbers, and one row whose every value is hostile.
    let mut rows: Vec<RowResult> = (2..1_500).map(|n| row(n, "CN1")).collect();
    for r in rows.iter_mut().skip(900) {
        r.row += 5;
    }
    rows[1_100] = row(1_107, "CN1FINDME");
    let evil = "<b id=\"pwn\">x</b></script><script>document.title='pwned'</script>&amp;";
    let hostile = &mut rows[1_300];
    hostile.status = RowStatus::Mismatch;
    hostile.fields.nomor_aju = format!("FINDME{evil}\t%b%%");
    hostile.fields.nomor_bl_awb = format!("BL{evil}");
    hostile.message = format!("server said {evil}\nsecond line");
    hostile.missing_on_server = vec![format!("m{evil}.jpg")];
    hostile.images[0].file = format!("{evil}.jpg");
    hostile.images[1].on_server = Some(false);
    hostile.images[1].sha256 = "not a digest".into();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.html");
    let summary = Summary::build(&info(), &rows);
    std::fs::write(&path, render(&summary, &rows)).unwrap();

    let dom = dump_dom(&chromium, &path, "q=findme");
    assert!(dom.contains("<title>kirim-xray report:"), "{dom}");
    assert!(!dom.contains("<b id=\"pwn\">"), "no element from a value");
    let out = element(&dom, "p", "kx-out");
    assert!(out.ends_with(">2 rows match."), "{out}");

    let found = &rows[1_100];
    let f = &found.fields;
    let tr = element(&dom, "tr", &format!("find-row-{}", found.row));
    assert_eq!(
        tr,
        format!(
            "<tr id=\"find-row-{0}\"><td class=\"n\">{0}</td><td><span class=\"st st-MATCH\">\
             MATCH</span></td><td class=\"id\">{1}</td><td class=\"id\">{2}</td><td>2026-11-20</td>\
             <td>040300</td><td class=\"m\">images/{2}</td><td>kirim+add</td><td class=\"n\">2 / 2 / 2\
             </td><td class=\"n\">2 / 3</td><td class=\"msg\">2 photos sent in 1 request</td>",
            found.row, f.nomor_aju, f.nomor_bl_awb
        )
    );
    for image in &found.images {
        let want = format!(
            "<tr><td class=\"id\">{}</td><td class=\"n\">{}</td><td><code class=\"h\">{}</code></td>\
             <td>image/jpeg</td><td>kirim</td><td>2025-01-02T03:04:05Z</td><td>yes</td><td>{}</td></tr>",
            image.file,
            image.bytes,
            image.sha256,
            image.server_waktu_rekam.as_deref().unwrap()
        );
        assert!(dom.contains(&want), "{want} in the page");
    }

    // The hostile row: every value shown as text, exactly.
    let shown = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let h = &rows[1_300];
    let tr = element(&dom, "tr", &format!("find-row-{}", h.row));
    for value in [&h.fields.nomor_aju, &h.fields.nomor_bl_awb, &h.message] {
        assert!(tr.contains(&shown(value)), "{value} in {tr}");
    }
    assert!(
        tr.contains(&format!(
            "<b>missing on server: </b><span class=\"id\">{}</span>",
            shown(&h.missing_on_server[0])
        )),
        "{tr}"
    );
    assert!(dom.contains(&format!(
        "<td class=\"id\">{}</td>",
        shown(&h.images[0].file)
    )));
    assert!(dom.contains("<code class=\"h\">not a digest</code>"));
    assert!(dom.contains("<span class=\"no\">no</span>"));

    // By BL/AWB, exactly: one row.
    let wanted = &rows[700];
    let dom = dump_dom(
        &chromium,
        &path,
        &format!("q={}", wanted.fields.nomor_bl_awb),
    );
    assert!(element(&dom, "p", "kx-out").ends_with(">1 row matches."));
    assert!(dom.contains(&format!("find-row-{}", wanted.row)));
    assert!(dom.contains(&wanted.images[1].sha256));
}
