//! results.csv (one line per manifest row) and images.csv (one line per local photo). Column
//! names and order are part of the contract: auditors load these files into spreadsheets.

use std::io::Write;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::escape::escape_control;
use crate::model::RowResult;

pub const RESULTS_COLUMNS: [&str; 19] = [
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

pub const IMAGES_COLUMNS: [&str; 10] = [
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

/// RFC 3339 UTC with seconds, or empty.
pub fn time(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// A cell that came from the manifest, a file name or the server. Its control characters are
/// escaped (`\n`, `\u{1b}`), as in every output meant for people. A spreadsheet runs a value that
/// starts with `=`, `+`, `-` or `@` as a formula when an auditor opens the file; such a value gets
/// a leading `'`, which spreadsheets show as plain text. The journal and report.html keep the
/// value exactly.
pub(crate) fn text(value: &str) -> String {
    let value = escape_control(value);
    if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.into_owned()
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// results.csv of `rows`, in memory (small runs, tests); a run writes it a row at a time with
/// [`results_header`] and [`result_record`].
pub fn results_csv(rows: &[RowResult]) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    results_header(&mut w)?;
    for r in rows {
        result_record(&mut w, r)?;
    }
    w.into_inner().map_err(|e| e.into_error().into())
}

/// images.csv of `rows`, in memory (small runs, tests); a run writes it a row at a time with
/// [`images_header`] and [`image_records`].
pub fn images_csv(rows: &[RowResult]) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    images_header(&mut w)?;
    for r in rows {
        image_records(&mut w, r)?;
    }
    w.into_inner().map_err(|e| e.into_error().into())
}

pub fn results_header<W: Write>(w: &mut csv::Writer<W>) -> Result<(), csv::Error> {
    w.write_record(RESULTS_COLUMNS)
}

pub fn images_header<W: Write>(w: &mut csv::Writer<W>) -> Result<(), csv::Error> {
    w.write_record(IMAGES_COLUMNS)
}

/// The line of results.csv of one row.
pub fn result_record<W: Write>(w: &mut csv::Writer<W>, r: &RowResult) -> Result<(), csv::Error> {
    w.write_record([
        r.row.to_string(),
        text(&r.fields.nomor_aju),
        text(&r.fields.nomor_bl_awb),
        text(&r.fields.tanggal_bl_awb),
        text(&r.fields.kode_kantor),
        text(&r.fields.folder),
        r.status.to_string(),
        r.action.clone(),
        r.local_count.to_string(),
        r.uploaded.to_string(),
        opt(r.server_count),
        text(&r.missing_on_server.join(";")),
        text(&r.extra_on_server.join(";")),
        text(r.npwp_pemberitahu.as_deref().unwrap_or_default()),
        r.attempts.to_string(),
        r.requests.to_string(),
        text(&r.message),
        time(r.started_at),
        time(r.finished_at),
    ])
}

/// The lines of images.csv of one row: one per local photo.
pub fn image_records<W: Write>(w: &mut csv::Writer<W>, r: &RowResult) -> Result<(), csv::Error> {
    for i in &r.images {
        w.write_record([
            r.row.to_string(),
            text(&r.fields.nomor_aju),
            text(&i.file),
            i.bytes.to_string(),
            i.sha256.clone(),
            text(&i.content_type),
            i.sent_in.as_str().to_string(),
            time(i.sent_at),
            opt(i.on_server),
            text(i.server_waktu_rekam.as_deref().unwrap_or_default()),
        ])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::journal::tests::sample;

    fn parse(bytes: &[u8]) -> (Vec<String>, Vec<Vec<String>>) {
        let mut r = csv::Reader::from_reader(bytes);
        let headers = r.headers().unwrap().iter().map(str::to_string).collect();
        let rows = r
            .records()
            .map(|rec| rec.unwrap().iter().map(str::to_string).collect())
            .collect();
        (headers, rows)
    }

    #[test]
    fn results_columns_in_contract_order() {
        let mut second = sample(3);
        second.server_count = None;
        second.npwp_pemberitahu = None;
        second.started_at = None;
        second.missing_on_server = vec!["x.png".into(), "y.png".into()];
        let (headers, rows) = parse(&results_csv(&[sample(2), second]).unwrap());
        assert_eq!(
            headers.join(","),
            "row,nomorAju,nomorBlAwb,tanggalBlAwb,kodeKantor,folder,status,action,local_count,\
             uploaded,server_count,missing_on_server,extra_on_server,npwpPemberitahu,attempts,\
             requests,message,started_at,finished_at"
        );
        assert_eq!(
            rows[0],
            [
                "2",
                "AJU2",
                "BL,1\"x",
                "2025-01-02",
                "040300",
                "photos/a",
                "MISMATCH",
                "kirim+add",
                "2",
                "2",
                "1",
                "b.png",
                "",
                "0123",
                "2",
                "3",
                "line\\nbreak",
                "2025-01-02T03:04:05Z",
                "2025-01-02T03:04:05Z"
            ]
        );
        assert_eq!(rows[1][10], "", "no server count → empty");
        assert_eq!(rows[1][11], "x.png;y.png");
        assert_eq!(rows[1][13], "");
        assert_eq!(rows[1][17], "");
    }

    #[test]
    fn images_columns_in_contract_order() {
        let mut r = sample(2);
        let mut second = r.images[0].clone();
        second.file = "b.png".into();
        second.sent_in = crate::model::SentIn::None;
        second.sent_at = None;
        second.on_server = None;
        second.server_waktu_rekam = None;
        r.images.push(second);
        let (headers, rows) = parse(&images_csv(&[r]).unwrap());
        assert_eq!(
            headers.join(","),
            "row,nomorAju,file,bytes,sha256,content_type,sent_in,sent_at,on_server,server_waktuRekam"
        );
        assert_eq!(
            rows[0],
            [
                "2",
                "AJU2",
                "a.png",
                "10",
                "ab",
                "image/png",
                "kirim",
                "2025-01-02T03:04:05Z",
                "true",
                "2025-01-02 10:00:00"
            ]
        );
        assert_eq!(rows[1][6..], ["none", "", "", ""]);
    }

    #[test]
    fn values_a_spreadsheet_would_run_as_formulas_are_written_as_text() {
        let mut row = sample(2);
        row.fields.nomor_aju = "=HYPERLINK(\"http://x\",\"click\")".into();
        row.fields.folder = "@SUM(A1)".into();
        row.message = "+1".into();
        row.images[0].file = "-scan.jpg".into();
        let (_, results) = parse(&results_csv(std::slice::from_ref(&row)).unwrap());
        assert_eq!(results[0][1], "'=HYPERLINK(\"http://x\",\"click\")");
        assert_eq!(results[0][5], "'@SUM(A1)");
        assert_eq!(results[0][16], "'+1");
        assert_eq!(results[0][0], "2", "numbers stay numbers");
        let (_, images) = parse(&images_csv(&[row]).unwrap());
        assert_eq!(images[0][1], "'=HYPERLINK(\"http://x\",\"click\")");
        assert_eq!(images[0][2], "'-scan.jpg");
        assert_eq!(text("CN-1"), "CN-1", "only the first character matters");
    }

    #[test]
    fn control_characters_are_escaped_in_every_text_cell() {
        let mut row = sample(2);
        row.fields.nomor_aju = "AJU\u{1b}]0;owned\u{7}".into();
        row.fields.folder = "\rphotos/a".into();
        row.message = "server said \0 and \u{9b}2J".into();
        row.missing_on_server = vec!["b\n.png".into()];
        row.images[0].file = "a\r\nb.png".into();
        let results = results_csv(std::slice::from_ref(&row)).unwrap();
        let images = images_csv(std::slice::from_ref(&row)).unwrap();
        for bytes in [&results, &images] {
            let text = String::from_utf8(bytes.clone()).unwrap();
            let raw: Vec<char> = text
                .chars()
                .filter(|c| c.is_control() && *c != '\n')
                .collect();
            assert!(raw.is_empty(), "raw control characters {raw:?} in {text}");
            assert_eq!(text.lines().count(), 2, "one line per row: {text}");
        }
        let (_, results) = parse(&results);
        assert_eq!(results[0][1], "AJU\\u{1b}]0;owned\\u{7}");
        assert_eq!(results[0][5], "\\rphotos/a");
        assert_eq!(results[0][11], "b\\n.png");
        assert_eq!(results[0][16], "server said \\0 and \\u{9b}2J");
        let (_, images) = parse(&images);
        assert_eq!(images[0][2], "a\\r\\nb.png");
    }
}
