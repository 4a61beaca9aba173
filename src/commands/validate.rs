//! `kirim-xray validate`: the offline check an operator runs before (or instead of) a run. It
//! reads the manifest the same way `run` does, so what it accepts is exactly what `run` sends.

use serde_json::json;

use crate::cli::{ApiArgs, OutputFormat, ValidateArgs};
use crate::config::{Need, Settings};
use crate::exit::Exit;
use crate::manifest::{self, Manifest, ManifestKind};
use crate::validate::{
    self, CheckedRow, Problem, Totals, ValidateOptions, render_totals, write_problems_table,
};

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
    let rows = validate::validate(&manifest, &options);
    // The raw cells are not needed past validation; a large manifest's memory goes with them.
    let had_rows = !manifest.rows.is_empty();
    let manifest = Manifest {
        rows: Vec::new(),
        ..manifest
    };
    let totals = Totals::of(&rows);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let written = match args.format {
        OutputFormat::Table => write_table(&mut out, &manifest, &rows, &totals),
        OutputFormat::Json => write_json(&mut out, &manifest, &rows, &totals),
    }
    .and_then(|()| std::io::Write::flush(&mut out));
    drop(out);
    if let Err(err) = written {
        crate::eprintln_escaped!("kirim-xray validate: cannot write the report: {err}");
        return Exit::Usage;
    }
    if !had_rows {
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

/// The problems table, then the totals, written line by line.
fn write_table(
    out: &mut impl std::io::Write,
    manifest: &Manifest,
    rows: &[CheckedRow],
    totals: &Totals,
) -> std::io::Result<()> {
    let name = manifest.display_name();
    let problems: Vec<&Problem> = rows.iter().flat_map(|r| &r.problems).collect();
    write_problems_table(out, &name, &problems)?;
    if !problems.is_empty() {
        writeln!(out)?;
    }
    writeln!(out, "{}", render_totals(&name, totals))
}

/// The JSON report, written row by row so that memory does not grow with the manifest: the same
/// text `serde_json::to_string_pretty` gives for the whole document.
fn write_json(
    out: &mut impl std::io::Write,
    manifest: &Manifest,
    rows: &[CheckedRow],
    totals: &Totals,
) -> std::io::Result<()> {
    let head = json!({
        "path": manifest.path.display().to_string(),
        "sha256": manifest.sha256,
        "kind": match manifest.kind {
            ManifestKind::Csv => "csv",
            ManifestKind::Spreadsheet => "spreadsheet",
        },
    });
    writeln!(out, "{{")?;
    writeln!(out, "  \"manifest\": {},", indented(&head, 2)?)?;
    if rows.is_empty() {
        writeln!(out, "  \"rows\": [],")?;
    } else {
        writeln!(out, "  \"rows\": [")?;
        for (i, r) in rows.iter().enumerate() {
            let (photos, bytes) = r.shipment.as_ref().map_or((0, 0), |s| {
                (
                    s.images.len(),
                    s.images.iter().map(|i| i.bytes).sum::<u64>(),
                )
            });
            let row = json!({
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
            });
            let comma = if i + 1 < rows.len() { "," } else { "" };
            writeln!(out, "    {}{comma}", indented(&row, 4)?)?;
        }
        writeln!(out, "  ],")?;
    }
    let totals = serde_json::to_value(totals).map_err(std::io::Error::other)?;
    writeln!(out, "  \"totals\": {}", indented(&totals, 2)?)?;
    writeln!(out, "}}")
}

/// A value pretty-printed, its lines after the first indented by `by` spaces.
fn indented(value: &serde_json::Value, by: usize) -> std::io::Result<String> {
    let text = serde_json::to_string_pretty(value).map_err(std::io::Error::other)?;
    Ok(text.replace('\n', &format!("\n{}", " ".repeat(by))))
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let manifest = crate::manifest::read(&path, None).unwrap();
        let options = ValidateOptions::new(&path, None, None);
        let rows = validate::validate(&manifest, &options);
        for rows in [&rows[..], &[]] {
            let totals = Totals::of(rows);
            let mut out = Vec::new();
            write_json(&mut out, &manifest, rows, &totals).unwrap();
            let text = String::from_utf8(out).unwrap();
            let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(parsed["rows"].as_array().unwrap().len(), rows.len());
            assert_eq!(
                text,
                format!("{}\n", serde_json::to_string_pretty(&parsed).unwrap())
            );
        }
    }
}
