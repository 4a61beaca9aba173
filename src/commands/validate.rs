//! `kirim-xray validate`: the offline check an operator runs before (or instead of) a run. It
//! reads the manifest the same way `run` does, so what it accepts is exactly what `run` sends.

use serde_json::json;

use crate::cli::{OutputFormat, ValidateArgs};
use crate::exit::Exit;
use crate::manifest::{self, Manifest, ManifestKind};
use crate::validate::{
    self, CheckedRow, Problem, Totals, ValidateOptions, render_problems_table, render_totals,
};

pub fn validate(args: ValidateArgs) -> Exit {
    let manifest_args = &args.manifest_args;
    if let Some(root) = &manifest_args.images_root
        && !root.is_dir()
    {
        crate::eprintln_escaped!(
            "kirim-xray validate: --images-root {}: not a folder",
            root.display()
        );
        return Exit::Usage;
    }
    let manifest = match manifest::read(&args.manifest, manifest_args.sheet.as_deref()) {
        Ok(manifest) => manifest,
        Err(err) => {
            crate::eprintln_escaped!("kirim-xray validate: {err}");
            return Exit::Usage;
        }
    };
    let lookup = |name: &str| std::env::var(name).ok();
    let allow_outside_root =
        match crate::config::env_switch("KIRIM_XRAY_ALLOW_OUTSIDE_ROOT", &lookup) {
            Ok(from_env) => manifest_args.allow_outside_root || from_env.unwrap_or(false),
            Err(e) => {
                crate::eprintln_escaped!("kirim-xray validate: {e}");
                return Exit::Usage;
            }
        };
    let options = ValidateOptions {
        allow_outside_root,
        ..ValidateOptions::new(
            &args.manifest,
            manifest_args.images_root.as_deref(),
            manifest_args.max_image_bytes,
        )
    };
    let rows = validate::validate(&manifest, &options);
    let totals = Totals::of(&rows);
    match args.format {
        OutputFormat::Table => print!("{}", table(&manifest, &rows, &totals)),
        OutputFormat::Json => println!("{}", json(&manifest, &rows, &totals)),
    }
    if manifest.rows.is_empty() {
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

/// The problems table, then the totals.
pub fn table(manifest: &Manifest, rows: &[CheckedRow], totals: &Totals) -> String {
    let name = manifest.display_name();
    let problems: Vec<&Problem> = rows.iter().flat_map(|r| &r.problems).collect();
    let mut out = render_problems_table(&name, &problems);
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str(&render_totals(&name, totals));
    out.push('\n');
    out
}

fn json(manifest: &Manifest, rows: &[CheckedRow], totals: &Totals) -> String {
    let rows: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
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
        })
        .collect();
    let value = json!({
        "manifest": {
            "path": manifest.path.display().to_string(),
            "sha256": manifest.sha256,
            "kind": match manifest.kind {
                ManifestKind::Csv => "csv",
                ManifestKind::Spreadsheet => "spreadsheet",
            },
        },
        "rows": rows,
        "totals": totals,
    });
    // Serialising a Value built from strings and numbers cannot fail.
    serde_json::to_string_pretty(&value).unwrap_or_default()
}
