//! `kirim-xray validate`: the offline check an operator runs before (or instead of) a run. It
//! reads the manifest the same way `run` does, so what it accepts is exactly what `run` sends.
//! Rows are validated and written out one at a time: memory does not grow with the manifest.

use std::io::{self, Write};

use serde_json::json;

use super::staged::Staged;
use crate::cli::{ApiArgs, OutputFormat, ValidateArgs};
use crate::config::{Need, Settings};
use crate::exit::Exit;
use crate::manifest::{self, Manifest, ManifestKind};
use crate::validate::{self, CheckedRow, ProblemTable, Totals, ValidateOptions, render_totals};

pub fn validate(args: ValidateArgs) -> Exit {
    // The settings as `run` loads them (flags > environment > settings file > defaults), so that
    // `validate` and `run --dry-run` can never disagree about the images root or the sheet.
    let api = ApiArgs {
        config: args.config.clone(),
        ..ApiArgs::default()
    };
    let settings = match Settings::load(&api, &args.manifest_args, Need::Offline) {
        Ok(settings) => settings,
        Err(e) => {
            crate::eprintln_escaped!("kirim-xray validate: {e}");
            return Exit::Usage;
        }
    };
    if let Some(root) = &settings.images_root
        && !root.is_dir()
    {
        crate::eprintln_escaped!(
            "kirim-xray validate: images root {}: not a folder",
            root.display()
        );
        return Exit::Usage;
    }
    let manifest = match manifest::read(&args.manifest, settings.sheet.as_deref()) {
        Ok(manifest) => manifest,
        Err(err) => {
            crate::eprintln_escaped!("kirim-xray validate: {err}");
            return Exit::Usage;
        }
    };
    let options = ValidateOptions {
        allow_outside_root: settings.allow_outside_root,
        ..ValidateOptions::new(
            &args.manifest,
            settings.images_root.as_deref(),
            Some(settings.max_image_bytes),
        )
    };
    let written = match args.format {
        OutputFormat::Table => table(&manifest, &options),
        OutputFormat::Json => json(&manifest, &options),
    };
    let totals = match written {
        Ok(totals) => totals,
        Err(e) => {
            crate::eprintln_escaped!("kirim-xray validate: {e}");
            return Exit::Usage;
        }
    };
    if manifest.row_count == 0 {
        // A nightly export with no rows is far more often a broken export than a day without
        // shipments: say so, and let the exit code call for attention.
        crate::eprintln_escaped!(
            "kirim-xray validate: {} has no data rows",
            args.manifest.display()
        );
        return Exit::RowsNeedAttention;
    }
    if totals.invalid > 0 {
        Exit::RowsNeedAttention
    } else {
        Exit::Ok
    }
}

/// The problems table, then the totals, on stdout. The rows are validated one at a time; those
/// with problems wait on disk, since the table's columns are as wide as its widest value.
pub fn table(manifest: &Manifest, options: &ValidateOptions) -> Result<Totals, String> {
    let cannot_stage =
        |e: io::Error| format!("cannot keep the problems in the temporary folder: {e}");
    let mut totals = Totals::default();
    let mut staged = Staged::writer().map_err(cannot_stage)?;
    let mut failed = None;
    validate::validate_each(manifest, options, &|_| true, &mut |row| {
        totals.add(&row);
        if !row.problems.is_empty()
            && failed.is_none()
            && let Err(e) = staged.push(row)
        {
            failed = Some(e);
        }
    })
    .map_err(|e| e.to_string())?;
    if let Some(e) = failed {
        return Err(cannot_stage(e));
    }
    let staged = staged.finish().map_err(cannot_stage)?;
    let problems = || {
        staged
            .iter()
            .map(|row| row.map(|r| r.problems))
            .flat_map(|problems| match problems {
                Ok(list) => list.into_iter().map(Ok).collect::<Vec<_>>(),
                Err(e) => vec![Err(e)],
            })
    };
    let mut table = ProblemTable::default();
    for p in problems() {
        table.measure(&p.map_err(cannot_stage)?);
    }
    let name = manifest.display_name();
    let mut out = io::BufWriter::new(io::stdout().lock());
    let write = |out: &mut io::BufWriter<io::StdoutLock>, text: &str| {
        out.write_all(text.as_bytes())
            .map_err(|e| format!("cannot write to stdout: {e}"))
    };
    let head = table.head(&name);
    write(&mut out, &head)?;
    for p in problems() {
        write(&mut out, &table.line(&p.map_err(cannot_stage)?))?;
    }
    if !head.is_empty() {
        write(&mut out, "\n")?;
    }
    write(&mut out, &render_totals(&name, &totals))?;
    write(&mut out, "\n")?;
    out.flush()
        .map_err(|e| format!("cannot write to stdout: {e}"))?;
    Ok(totals)
}

/// `validate --format json` on stdout, written as the rows are validated: the same document as
/// one pretty-printed value would be, `{"manifest", "rows", "totals"}`.
fn json(manifest: &Manifest, options: &ValidateOptions) -> Result<Totals, String> {
    let out = io::BufWriter::new(io::stdout().lock());
    let mut totals = Totals::default();
    json_to(out, manifest, options, &mut totals)
        .map_err(|e| format!("cannot write to stdout: {e}"))?;
    Ok(totals)
}

fn json_to(
    mut out: impl Write,
    manifest: &Manifest,
    options: &ValidateOptions,
    totals: &mut Totals,
) -> io::Result<()> {
    let head = json!({
        "path": manifest.path.display().to_string(),
        "sha256": manifest.sha256,
        "kind": match manifest.kind {
            ManifestKind::Csv => "csv",
            ManifestKind::Spreadsheet => "spreadsheet",
        },
    });
    write!(
        out,
        "{{\n  \"manifest\": {},\n  \"rows\": [",
        pretty(&head, "  ")
    )?;
    let mut written = Ok(());
    let mut first = true;
    validate::validate_each(manifest, options, &|_| true, &mut |r| {
        totals.add(&r);
        if written.is_ok() {
            let sep = if first { "\n    " } else { ",\n    " };
            first = false;
            written = write!(out, "{sep}{}", pretty(&row_json(&r), "    "));
        }
    })
    .map_err(io::Error::other)?;
    written?;
    let close = if first { "]" } else { "\n  ]" };
    let totals = serde_json::to_value(*totals).map_err(io::Error::other)?;
    write!(
        out,
        "{close},\n  \"totals\": {}\n}}\n",
        pretty(&totals, "  ")
    )?;
    out.flush()
}

/// `value` pretty-printed as it would be at the depth that `indent` opens, with DEL and the C1
/// controls escaped.
fn pretty(value: &serde_json::Value, indent: &str) -> String {
    // Serialising a Value built from strings and numbers cannot fail.
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    let text = text.replace('\n', &format!("\n{indent}"));
    crate::escape::json_controls(&text).into_owned()
}

fn row_json(r: &CheckedRow) -> serde_json::Value {
    let (photos, bytes) = r.shipment.as_ref().map_or((0, 0), |s| {
        (
            s.images.len(),
            s.images.iter().map(|i| i.bytes).sum::<u64>(),
        )
    });
    json!({
        "row": r.row,
        "status": if r.is_valid() { "valid" } else { "invalid" },
        "nomorAju": r.fields.nomor_aju,
        "nomorBlAwb": r.fields.nomor_bl_awb,
        "tanggalBlAwb": r.fields.tanggal_bl_awb,
        "kodeKantor": r.fields.kode_kantor,
        "folder": r.fields.folder,
        "photos": photos,
        "bytes": bytes,
        "problems": r.problems,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{Cell, RawRow};

    #[test]
    fn the_streamed_report_is_the_pretty_document() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("f")).unwrap();
        std::fs::write(dir.path().join("f/a.gif"), b"GIF89a....").unwrap();
        let path = dir.path().join("m.csv");
        std::fs::write(
            &path,
            "nomorAju,nomorBlAwb,tanggalBlAwb,kodeKantor,folder\n\
             AJU1,BL1,2026-11-20,009000,f\n\
             AJU2,BL2,2026-02-30,9000,gone\n",
        )
        .unwrap();
        let read = crate::manifest::read(&path, None).unwrap();
        let empty = Manifest::from_rows(&path, "ff", ManifestKind::Csv, vec![]);
        let options = ValidateOptions::new(&path, None, None);
        for (manifest, rows) in [(&read, 2), (&empty, 0)] {
            let mut out = Vec::new();
            let mut totals = Totals::default();
            json_to(&mut out, manifest, &options, &mut totals).unwrap();
            let text = String::from_utf8(out).unwrap();
            let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(parsed["rows"].as_array().unwrap().len(), rows);
            assert_eq!(totals.rows, rows);
            assert_eq!(
                text,
                format!("{}\n", serde_json::to_string_pretty(&parsed).unwrap())
            );
        }
    }

    /// The streamed document is byte for byte the one pretty-printed whole.
    #[test]
    fn the_json_written_row_by_row_is_the_whole_document() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("a")).unwrap();
        std::fs::write(dir.path().join("a/1.png"), b"\x89PNG\r\n\x1a\n0000").unwrap();
        let text = |s: &str| Cell::Text(s.into());
        let rows = vec![
            RawRow {
                row: 2,
                cells: [
                    text("AJU1"),
                    text("BL1"),
                    text("2025-01-02"),
                    text("040300"),
                    text("a"),
                ],
            },
            RawRow {
                row: 4,
                cells: [
                    text("AJU\u{9b}2"),
                    Cell::Empty,
                    text("2025-01-02"),
                    text("40300"),
                    text("missing"),
                ],
            },
        ];
        let options = ValidateOptions::new(&dir.path().join("m.csv"), None, None);
        for rows in [rows.clone(), vec![]] {
            let manifest =
                Manifest::from_rows(dir.path().join("m.csv"), "ff", ManifestKind::Csv, rows);
            let mut streamed = Vec::new();
            let mut totals = Totals::default();
            json_to(&mut streamed, &manifest, &options, &mut totals).unwrap();

            let checked = validate::validate(&manifest, &options);
            let whole = json!({
                "manifest": {
                    "path": manifest.path.display().to_string(),
                    "sha256": manifest.sha256,
                    "kind": "csv",
                },
                "rows": checked.iter().map(row_json).collect::<Vec<_>>(),
                "totals": Totals::of(&checked),
            });
            let whole = format!(
                "{}\n",
                crate::escape::json_controls(&serde_json::to_string_pretty(&whole).unwrap())
            );
            assert_eq!(String::from_utf8(streamed).unwrap(), whole);
            assert_eq!(totals, Totals::of(&checked));
        }
    }
}
