//! results.xlsx: results.csv, images.csv and summary.json of a run folder as one workbook for
//! auditors (sheets `results`, `photos`, `summary`). It is built from those files as they lie on
//! disk, streamed row by row after they are written, so that it says exactly what they say and
//! costs the same memory at 100k rows as at ten.

use std::path::Path;

use anyhow::Context;

use super::{IMAGES_FILE, RESULTS_FILE, SUMMARY_JSON};
use crate::xlsx::{Book, Cell, Column, Kind};

pub const RESULTS_XLSX: &str = "results.xlsx";

/// How a column of results.csv or images.csv is written: document numbers, office codes and
/// names as text, counts as numbers, dates as dates. A column not named here is text.
fn kind_of(column: &str) -> Kind {
    match column {
        "row" | "local_count" | "uploaded" | "server_count" | "attempts" | "requests" | "bytes" => {
            Kind::Integer
        }
        "tanggalBlAwb" => Kind::Date,
        "started_at" | "finished_at" | "sent_at" | "server_waktuRekam" => Kind::DateTime,
        "status" => Kind::Status,
        _ => Kind::Text,
    }
}

fn width_of(column: &str, kind: Kind) -> f64 {
    match column {
        "nomorAju" => 48.0,
        "sha256" => 66.0,
        "message" | "folder" | "file" => 30.0,
        _ => Column::new(column, kind).width,
    }
}

/// The value a CSV cell stands for. The CSV files guard values that a spreadsheet would run as a
/// formula with a leading `'`; a workbook cell is typed text and needs no guard.
fn unguard(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@']) => rest,
        _ => cell,
    }
}

/// Write `run_dir/results.xlsx` from the run folder's results.csv, images.csv and summary.json.
pub fn write_results_xlsx(run_dir: &Path) -> anyhow::Result<()> {
    let mut book = Book::new();
    copy_csv(&mut book, "results", &run_dir.join(RESULTS_FILE))?;
    copy_csv(&mut book, "photos", &run_dir.join(IMAGES_FILE))?;
    let path = run_dir.join(SUMMARY_JSON);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let summary: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))?;
    let mut sheet = book.sheet(
        "summary",
        vec![
            Column::new("field", Kind::Text).width(36.0),
            Column::new("value", Kind::Text).width(70.0),
        ],
    )?;
    let mut fields = Vec::new();
    flatten("", &summary, &mut fields);
    for (field, value) in &fields {
        let value = match value {
            serde_json::Value::Number(n) => n.as_f64().map_or(Cell::Blank, Cell::Number),
            serde_json::Value::String(s) => Cell::Text(s),
            serde_json::Value::Bool(true) => Cell::Text("true"),
            serde_json::Value::Bool(false) => Cell::Text("false"),
            _ => Cell::Blank,
        };
        sheet.push_cells(&[Cell::Text(field), value])?;
    }
    sheet.finish()?;
    book.save(run_dir, RESULTS_XLSX)
}

/// One sheet holding a CSV file, its header as the header row.
fn copy_csv(book: &mut Book, name: &str, path: &Path) -> anyhow::Result<()> {
    let mut reader =
        csv::Reader::from_path(path).with_context(|| format!("cannot read {}", path.display()))?;
    let columns = reader
        .headers()
        .with_context(|| format!("cannot read {}", path.display()))?
        .iter()
        .map(|h| {
            let kind = kind_of(h);
            Column::new(h, kind).width(width_of(h, kind))
        })
        .collect();
    let mut sheet = book.sheet(name, columns)?;
    let mut record = csv::StringRecord::new();
    while reader
        .read_record(&mut record)
        .with_context(|| format!("cannot read {}", path.display()))?
    {
        let cells: Vec<&str> = record.iter().map(unguard).collect();
        sheet.push(&cells)?;
    }
    sheet.finish()?;
    Ok(())
}

/// The leaves of a JSON value as `path = value`, paths as `counts.MATCH` or `resumed_at[0]`.
fn flatten<'a>(
    prefix: &str,
    value: &'a serde_json::Value,
    out: &mut Vec<(String, &'a serde_json::Value)>,
) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&path, v, out);
            }
        }
        serde_json::Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), v, out);
            }
        }
        leaf => out.push((prefix.to_string(), leaf)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::journal::tests::sample;
    use crate::report::summary::tests::info;
    use calamine::{Data, Reader, Xlsx, open_workbook};

    fn sheet(path: &Path, name: &str) -> Vec<Vec<Data>> {
        let mut book: Xlsx<_> = open_workbook(path).unwrap();
        let range = book.worksheet_range(name).unwrap();
        range.rows().map(<[Data]>::to_vec).collect()
    }

    fn text(s: &str) -> Data {
        Data::String(s.into())
    }

    #[test]
    fn results_xlsx_keeps_document_numbers_as_text_and_holds_the_photos_sha256() {
        let dir = tempfile::tempdir().unwrap();
        let aju = "00000000000000000000000000000000000000000042";
        let mut r = sample(2);
        r.fields.nomor_aju = aju.into();
        r.fields.kode_kantor = "009000".into();
        r.fields.nomor_bl_awb = "=1+1".into();
        r.images[0].sha256 = "a".repeat(64);
        let rows = vec![r, sample(3)];
        crate::report::write_outputs(dir.path(), &info(), &rows).unwrap();

        let path = dir.path().join(RESULTS_XLSX);
        let results = sheet(&path, "results");
        let header: Vec<String> = results[0].iter().map(|d| d.to_string()).collect();
        let at = |name: &str| header.iter().position(|h| h == name).unwrap();
        assert_eq!(results.len(), 3, "header and two rows");
        assert_eq!(results[1][at("nomorAju")], text(aju));
        assert_eq!(results[1][at("kodeKantor")], text("009000"));
        assert_eq!(
            results[1][at("nomorBlAwb")],
            text("=1+1"),
            "text, not a formula"
        );
        assert_eq!(results[1][at("row")], Data::Float(2.0));
        assert_eq!(results[1][at("status")], text("MISMATCH"));
        assert!(matches!(results[1][at("tanggalBlAwb")], Data::DateTime(_)));
        assert!(matches!(results[1][at("finished_at")], Data::DateTime(_)));

        let photos = sheet(&path, "photos");
        let header: Vec<String> = photos[0].iter().map(|d| d.to_string()).collect();
        let sha = header.iter().position(|h| h == "sha256").unwrap();
        assert_eq!(photos[1][sha], text(&"a".repeat(64)));
        assert_eq!(photos[1][1], text(aju));

        let summary = sheet(&path, "summary");
        let field = |name: &str| {
            summary
                .iter()
                .find(|r| r[0] == text(name))
                .map(|r| r[1].clone())
        };
        assert_eq!(field("rows_in_run"), Some(Data::Float(2.0)));
        assert_eq!(field("command"), Some(text("run")));
        let digest = std::fs::read(dir.path().join(RESULTS_FILE)).unwrap();
        let digest = crate::report::seal::sha256_bytes(&digest);
        assert_eq!(field("sha256.results.csv"), Some(text(&digest)));
    }

    #[test]
    fn csv_guards_are_dropped_only_before_formula_characters() {
        assert_eq!(unguard("'=x"), "=x");
        assert_eq!(unguard("'@x"), "@x");
        assert_eq!(unguard("'abc"), "'abc");
        assert_eq!(unguard("abc"), "abc");
    }

    /// `soffice` on PATH, when LibreOffice is installed.
    fn soffice() -> Option<std::path::PathBuf> {
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .map(|dir| dir.join("soffice"))
            .find(|p| p.is_file())
    }

    #[test]
    fn libreoffice_opens_results_xlsx_and_reads_the_same_cells() {
        let Some(soffice) = soffice() else {
            eprintln!("skipped: LibreOffice (soffice) is not installed");
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let aju = "12345678901234567890123456789012345678901234";
        let mut r = sample(2);
        r.fields.nomor_aju = aju.into();
        r.fields.kode_kantor = "009000".into();
        r.images[0].sha256 = "b".repeat(64);
        crate::report::write_outputs(dir.path(), &info(), &vec![r]).unwrap();
        let out = dir.path().join("lo");
        let profile = dir.path().join("profile");
        // Every sheet to its own CSV (`-1`), UTF-8 (76), cells as shown.
        let status = std::process::Command::new(soffice)
            .arg(format!(
                "-env:UserInstallation=file://{}",
                profile.display()
            ))
            .args(["--headless", "--norestore", "--convert-to"])
            .arg("csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,-1")
            .arg("--outdir")
            .arg(&out)
            .arg(dir.path().join(RESULTS_XLSX))
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "soffice failed: {status}");
        let read = |name: &str| {
            let path = out.join(format!("results-{name}.csv"));
            let mut r = csv::Reader::from_path(&path).unwrap_or_else(|e| {
                let found: Vec<_> = std::fs::read_dir(&out).unwrap().collect();
                panic!("{}: {e}; found {found:?}", path.display())
            });
            let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
            let rows: Vec<Vec<String>> = r
                .records()
                .map(|x| x.unwrap().iter().map(String::from).collect())
                .collect();
            (header, rows)
        };
        let (header, rows) = read("results");
        let at = |name: &str| header.iter().position(|h| h == name).unwrap();
        assert_eq!(rows[0][at("nomorAju")], aju);
        assert_eq!(rows[0][at("kodeKantor")], "009000");
        assert_eq!(rows[0][at("tanggalBlAwb")], "2025-01-02");
        assert_eq!(rows[0][at("status")], "MISMATCH");
        let (header, rows) = read("photos");
        let sha = header.iter().position(|h| h == "sha256").unwrap();
        assert_eq!(rows[0][sha], "b".repeat(64));
        let (_, rows) = read("summary");
        assert!(
            rows.iter().any(|r| r[0] == "rows_in_run" && r[1] == "1"),
            "{rows:?}"
        );
    }
}
