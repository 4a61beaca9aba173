//! Builds report.html for a large synthetic run, without any API, to measure the report alone:
//! its size, the time to write it and (with `/usr/bin/time -v`) the writer's peak memory.
//! `scripts/report-size.sh` runs it, then opens the page in headless Chromium.
//!
//!     cargo run --release --example report_size -- OUT.html [ROWS] [PHOTOS] [SECONDS_PER_ROW]
//!
//! Rows are made one at a time as the writer asks for them, as a journal read from disk would
//! give them, so the figures are the writer's own. Two rows in 50 need attention (one NOT_FOUND,
//! one MISMATCH), so 100,000 rows have 4,000 of them: the first 1,000 are shown in full. SECONDS_PER_ROW (default 0.00042: 100,000 rows in 42 s, the run against the
//! sandbox) spaces the rows' timestamps; 0.2 is a night at 5 requests a second, where every
//! timestamp differs from the row before. It prints `size=… rows=… photos=… seconds=…`, and the
//! nomorAju, BL/AWB and sha256 of a row in the middle, for a search to find.

use std::time::Instant;

use anyhow::Context;
use chrono::{DateTime, Duration, TimeZone, Utc};
use sha2::{Digest, Sha256};

use kirim_xray::config::{Layer, Settings};
use kirim_xray::model::{ImageResult, RowFields, RowResult, RowStatus, SentIn};
use kirim_xray::report::summary::PhotoCounts;
use kirim_xray::report::{ManifestInfo, RequestCounts, RunInfo, Summary, html};

fn at(start: DateTime<Utc>, seconds: f64) -> DateTime<Utc> {
    start + Duration::microseconds((seconds * 1e6) as i64)
}

/// Row `i` (0-based) of the synthetic run: the shapes of the sample manifest, with the BL/AWB in
/// nomorAju, in the folder and in the file names, as couriers name them.
fn row(i: usize, photos: usize, start: DateTime<Utc>, per_row: f64) -> RowResult {
    let n = i + 2;
    let bl = format!("CNBENCH{i:07}");
    let status = match i % 50 {
        17 => RowStatus::NotFound,
        33 => RowStatus::Mismatch,
        _ => RowStatus::Match,
    };
    let begun = at(start, i as f64 * per_row);
    let ended = at(start, (i as f64 + 0.8) * per_row + 0.02);
    let images: Vec<ImageResult> = (1..=photos)
        .map(|k| {
            let sha = Sha256::digest(format!("{i}/{k}"));
            let sent = status != RowStatus::NotFound;
            ImageResult {
                file: format!("{bl}-{k}.jpg"),
                bytes: 20_000 + u64::from(sha[0]) * 97 + u64::from(sha[1]),
                sha256: hex::encode(sha),
                content_type: "image/jpeg".into(),
                sent_in: if sent { SentIn::Kirim } else { SentIn::None },
                sent_at: sent.then_some(begun),
                on_server: match status {
                    RowStatus::NotFound => None,
                    RowStatus::Mismatch => Some(k != photos),
                    _ => Some(true),
                },
                server_waktu_rekam: sent.then(|| {
                    (begun + Duration::hours(7))
                        .format("%Y-%m-%d %H:%M:%S")
                        .to_string()
                }),
            }
        })
        .collect();
    let on_server = images.iter().filter(|p| p.on_server == Some(true)).count();
    RowResult {
        row: n,
        fields: RowFields {
            nomor_aju: format!("0123456789012345{:06}20261120{bl}CN1", i % 1_000_000),
            nomor_bl_awb: bl.clone(),
            tanggal_bl_awb: "2026-11-20".into(),
            kode_kantor: "040300".into(),
            folder: format!("images/{bl}"),
        },
        status,
        action: "kirim".into(),
        local_count: photos,
        uploaded: if status == RowStatus::NotFound {
            0
        } else {
            photos
        },
        server_count: (status != RowStatus::NotFound).then_some(on_server),
        missing_on_server: match status {
            RowStatus::Mismatch => vec![format!("{bl}-{photos}.jpg")],
            _ => vec![],
        },
        extra_on_server: vec![],
        npwp_pemberitahu: (status != RowStatus::NotFound).then(|| "0987654321098000".into()),
        attempts: 1,
        requests: if status == RowStatus::NotFound { 1 } else { 2 },
        message: match status {
            RowStatus::NotFound => "kirim: the BL/AWB is not known to customs (code 404)".into(),
            RowStatus::Mismatch => format!("the server lacks {bl}-{photos}.jpg"),
            _ => format!("{photos} photos sent in 1 request"),
        },
        started_at: Some(begun),
        finished_at: Some(ended),
        images,
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = args
        .first()
        .context("usage: report_size OUT.html [ROWS] [PHOTOS] [SECONDS_PER_ROW]")?;
    let rows: usize = args.get(1).map_or(Ok(100_000), |s| s.parse())?;
    let photos: usize = args.get(2).map_or(Ok(2), |s| s.parse())?;
    let per_row: f64 = args.get(3).map_or(Ok(0.000_42), |s| s.parse())?;
    let start = Utc
        .with_ymd_and_hms(2026, 11, 20, 18, 0, 0)
        .single()
        .context("start")?;

    let settings =
        Settings::from_layers(Layer::default(), Layer::default(), Layer::default(), None)?
            .public_view();
    let mut counts: std::collections::BTreeMap<RowStatus, usize> =
        RowStatus::ALL.into_iter().map(|s| (s, 0)).collect();
    let mut photo_counts = PhotoCounts::default();
    for i in 0..rows {
        let r = row(i, photos, start, per_row);
        *counts.entry(r.status).or_default() += 1;
        photo_counts.local += r.local_count;
        photo_counts.sent += r.uploaded;
        photo_counts.on_server += r
            .images
            .iter()
            .filter(|p| p.on_server == Some(true))
            .count();
    }
    let finished = at(start, rows as f64 * per_row + 1.0);
    let summary = Summary {
        version: env!("CARGO_PKG_VERSION").to_string(),
        run: RunInfo {
            command: "run".into(),
            run_dir: "runs/20261120T180000Z".into(),
            manifest: ManifestInfo {
                path: "manifest.csv".into(),
                sha256: hex::encode(Sha256::digest(b"manifest")),
                rows,
            },
            rows_selected: None,
            started_at: start,
            finished_at: Some(finished),
            settings,
            requests: RequestCounts::default(),
            exit_code: Some(if counts[&RowStatus::Match] == rows {
                0
            } else {
                1
            }),
            previous_run: None,
            note: None,
            resumed_at: vec![],
            not_in_manifest: vec![],
        },
        duration_seconds: Some((finished - start).num_milliseconds() as f64 / 1000.0),
        rows_in_run: rows,
        counts,
        photos: photo_counts,
        retries: 0,
        sha256: Default::default(),
    };

    let began = Instant::now();
    let file = std::fs::File::create(out).with_context(|| format!("cannot create {out}"))?;
    html::write(file, &summary, || {
        Ok((0..rows).map(|i| Ok(row(i, photos, start, per_row))))
    })?;
    let seconds = began.elapsed().as_secs_f64();
    let size = std::fs::metadata(out)?.len();
    println!(
        "size={size} rows={rows} photos={} seconds={seconds:.2}",
        rows * photos
    );
    let middle = row((rows / 2 + 7).min(rows.max(1) - 1), photos, start, per_row);
    println!(
        "find: nomorAju={} bl={} row={} sha256={}",
        middle.fields.nomor_aju,
        middle.fields.nomor_bl_awb,
        middle.row,
        middle.images.first().map_or("", |p| p.sha256.as_str())
    );
    Ok(())
}
