//! What get sees, which need not be what the store holds: `--stale-read-ms` puts get on a read
//! replica that lags behind the store (a photo, and so a new record, shows only that long after it
//! was stored), and `--detail-limit` cuts the listed `detail` short while `totalFotoTerupload`
//! still counts every photo the replica shows. Uploads decide on the store itself, never on this.

use std::time::{Duration, Instant};

use super::answer::{Detail, GetData};
use super::store::Record;

/// The record as a replica lagging `lag` behind shows it at `now`: only photos stored at least
/// `lag` ago. `None` when it shows none, i.e. the record is too new to be there yet.
pub fn lagged(mut record: Record, lag: Duration, now: Instant) -> Option<Record> {
    if !lag.is_zero() {
        record
            .photos
            .retain(|p| p.stored_at.is_none_or(|at| now.duration_since(at) >= lag));
    }
    (!record.photos.is_empty()).then_some(record)
}

/// get's `data` for a record: every photo counted, at most `limit` listed, in upload order.
pub fn get_data(record: Record, limit: Option<usize>) -> GetData {
    let total = record.photos.len();
    let detail = record
        .photos
        .into_iter()
        .take(limit.unwrap_or(usize::MAX))
        .map(|p| Detail {
            nama_file: p.nama_file,
            waktu_rekam: p.waktu_rekam,
        })
        .collect();
    GetData {
        nomor_aju: record.nomor_aju,
        nomor_bl_awb: record.nomor_bl_awb,
        tanggal_bl_awb: record.tanggal_bl_awb,
        kode_kantor: record.kode_kantor,
        npwp_pemberitahu: record.npwp_pemberitahu,
        total_foto_terupload: total,
        keterangan: None,
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::super::store::Photo;
    use super::*;

    fn photo(name: &str, stored_at: Option<Instant>) -> Photo {
        Photo {
            nama_file: name.to_string(),
            bytes: 1,
            sha256: String::new(),
            content_type: "image/jpeg".to_string(),
            waktu_rekam: "2025-10-01 01:02:03".to_string(),
            data: None,
            stored_at,
        }
    }

    fn record(photos: Vec<Photo>) -> Record {
        Record {
            nomor_aju: "A".into(),
            nomor_bl_awb: "B".into(),
            tanggal_bl_awb: "2025-09-30".into(),
            kode_kantor: "009000".into(),
            npwp_pemberitahu: "N".into(),
            photos,
        }
    }

    #[test]
    fn a_replica_shows_photos_once_the_lag_has_passed() {
        let t0 = Instant::now();
        let lag = Duration::from_millis(1500);
        let r = record(vec![
            photo("loaded.jpg", None),
            photo("old.jpg", Some(t0)),
            photo("new.jpg", Some(t0 + Duration::from_millis(1000))),
        ]);
        let names = |r: Option<Record>| -> Vec<String> {
            r.map(|r| r.photos.into_iter().map(|p| p.nama_file).collect())
                .unwrap_or_default()
        };
        assert_eq!(
            names(lagged(r.clone(), lag, t0 + Duration::from_millis(1499))),
            ["loaded.jpg"]
        );
        assert_eq!(
            names(lagged(r.clone(), lag, t0 + lag)),
            ["loaded.jpg", "old.jpg"]
        );
        assert_eq!(names(lagged(r.clone(), Duration::ZERO, t0)).len(), 3);
        let fresh = record(vec![photo("new.jpg", Some(t0))]);
        assert!(lagged(fresh.clone(), lag, t0 + Duration::from_millis(10)).is_none());
        assert!(lagged(fresh, lag, t0 + lag).is_some());
    }

    #[test]
    fn the_limit_cuts_the_list_not_the_total() {
        let r = record((0..5).map(|i| photo(&format!("{i}.jpg"), None)).collect());
        let data = get_data(r.clone(), Some(2));
        assert_eq!(data.total_foto_terupload, 5);
        let names: Vec<&str> = data.detail.iter().map(|d| d.nama_file.as_str()).collect();
        assert_eq!(names, ["0.jpg", "1.jpg"]);
        assert_eq!(get_data(r.clone(), None).detail.len(), 5);
        assert_eq!(get_data(r, Some(0)).detail.len(), 0);
    }
}
