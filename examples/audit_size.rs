//! Builds audit.html for a large synthetic month, without any API or ledger, to measure the page
//! alone: its size and the time to write it. `scripts/audit-size.sh` runs it, then opens the page
//! in headless Chromium.
//!
//!     cargo run --release --example audit_size -- OUT.html [DOCUMENTS] [PHOTOS]
//!
//! The documents are those of 30 nights (tanggalBlAwb the night's date), in the order the audit
//! gives them. One in 25 was FAILED by its night's run and fixed by a retry (two runs in its
//! history); one in 500 is still FAILED, one in 700 NOT_FOUND. It prints
//! `size=… documents=… not_match=… seconds=…` and the nomorAju, BL/AWB and sha256 of a fixed
//! document in the middle, for a search to find.

use std::time::Instant;

use anyhow::Context;
use sha2::{Digest, Sha256};

use kirim_xray::audit::{Scope, html};
use kirim_xray::ledger::query::{Doc, Photo, Touch};

const NIGHTS: usize = 30;

fn touch(i: usize, night: usize, retry: bool, status: &str, photos: usize, bl: &str) -> Touch {
    let (run, command) = if retry {
        (format!("202610{:02}T230000Z", night + 1), "retry")
    } else {
        (format!("202610{:02}T200000Z", night + 1), "run")
    };
    let second = (i % 2_000) / 2;
    let at = |s: usize| {
        format!(
            "2026-10-{:02}T{}:{:02}:{:02}.{:03}Z",
            night + 1,
            if retry { 23 } else { 20 },
            s / 60 % 60,
            s % 60,
            (i * 37) % 1000
        )
    };
    let sent = status != "NOT_FOUND" && status != "FAILED";
    Touch {
        run: run.clone(),
        command: command.into(),
        run_started: format!("{}Z", &at(0)[..19]),
        row: (i % 2_000) as i64 + 2,
        status: status.into(),
        action: if sent { "kirim" } else { "" }.into(),
        local_count: photos as i64,
        uploaded: if sent { photos as i64 } else { 0 },
        server_count: sent.then_some(photos as i64),
        missing_on_server: vec![],
        extra_on_server: vec![],
        attempts: 1,
        requests: if sent { 2 } else { 1 },
        message: match status {
            "FAILED" => "kirim: the server answered 503 Service Unavailable".into(),
            "NOT_FOUND" => "kirim: the BL/AWB is not known to customs (code 404)".into(),
            _ => format!("{photos} photos sent in 1 request"),
        },
        finished_at: Some(at(second + 1)),
        photos: (1..=photos)
            .map(|k| {
                let sha = Sha256::digest(format!("{i}/{k}"));
                Photo {
                    file: format!("{bl}-{k}.jpg"),
                    bytes: 20_000 + i64::from(sha[0]) * 97 + i64::from(sha[1]),
                    sha256: hex::encode(sha),
                    content_type: "image/jpeg".into(),
                    sent_in: if sent { "kirim" } else { "none" }.into(),
                    sent_at: sent.then(|| at(second)),
                    on_server: sent.then_some(true),
                    waktu_rekam: sent.then(|| {
                        format!(
                            "2026-10-{:02} 03:{:02}:{:02}",
                            night + 2,
                            second / 60 % 60,
                            second % 60
                        )
                    }),
                }
            })
            .collect(),
    }
}

fn doc(i: usize, per_night: usize, photos: usize) -> Doc {
    let night = (i / per_night).min(NIGHTS - 1);
    let bl = format!("CNM{:02}R{:05}", night + 1, i % per_night);
    let history = match (i % 500, i % 700, i % 25) {
        (250, _, _) => vec![touch(i, night, false, "FAILED", photos, &bl)],
        (_, 350, _) => vec![touch(i, night, false, "NOT_FOUND", photos, &bl)],
        (_, _, 12) => vec![
            touch(i, night, false, "FAILED", photos, &bl),
            touch(i, night, true, "MATCH", photos, &bl),
        ],
        _ => vec![touch(i, night, false, "MATCH", photos, &bl)],
    };
    Doc {
        nomor_aju: format!(
            "01234567890123450{:02}{:05}202610{:02}{bl}",
            night + 1,
            i % per_night,
            night + 1
        ),
        nomor_bl_awb: bl,
        tanggal_bl_awb: format!("2026-10-{:02}", night + 1),
        kode_kantor: "009000".into(),
        folder: format!("img/r{:05}", i % per_night),
        history,
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = args
        .first()
        .context("usage: audit_size OUT.html [DOCUMENTS] [PHOTOS]")?;
    let n: usize = args.get(1).map_or(Ok(100_000), |s| s.parse())?;
    let photos: usize = args.get(2).map_or(Ok(1), |s| s.parse())?;
    let per_night = n.div_ceil(NIGHTS).max(1);
    let docs: Vec<Doc> = (0..n).map(|i| doc(i, per_night, photos)).collect();
    let scope = Scope {
        title: "tanggalBlAwb 2026-10-01 to 2026-10-30".into(),
        made_at: "2026-11-01T08:00:00Z".into(),
        ledger: "runs/ledger.sqlite".into(),
    };
    let begun = Instant::now();
    let mut file = std::io::BufWriter::new(std::fs::File::create(out)?);
    html::write(&mut file, &scope, &docs)?;
    drop(file);
    let seconds = begun.elapsed().as_secs_f64();
    let size = std::fs::metadata(out)?.len();
    let open = docs.iter().filter(|d| d.status() != "MATCH").count();
    println!("size={size} documents={n} not_match={open} seconds={seconds:.3}");
    // A fixed document, fixed by a retry, for the search to find with both runs' photos.
    let probe = &docs[(n / 2 / 25) * 25 + 12];
    println!("aju={}", probe.nomor_aju);
    println!("bl={}", probe.nomor_bl_awb);
    println!("sha256={}", probe.history[0].photos[0].sha256);
    Ok(())
}
