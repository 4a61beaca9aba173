//! audit.csv: one line per document, its latest verdict and the runs that touched it. Cells are
//! made safe the way results.csv's are (control characters escaped, no formula).

use std::io::Write;

use super::history_line;
use crate::ledger::query::Doc;
use crate::report::tables::text;

pub const COLUMNS: [&str; 13] = [
    "nomorAju",
    "nomorBlAwb",
    "tanggalBlAwb",
    "kodeKantor",
    "status",
    "last_run",
    "last_command",
    "last_action",
    "runs",
    "history",
    "photos",
    "photos_on_server",
    "message",
];

pub fn write(out: &mut dyn Write, docs: &[Doc]) -> anyhow::Result<()> {
    let mut w = ::csv::Writer::from_writer(std::io::BufWriter::new(out));
    w.write_record(COLUMNS)?;
    for d in docs {
        let last = d.latest();
        let on_server = last
            .photos
            .iter()
            .filter(|p| p.on_server == Some(true))
            .count();
        w.write_record([
            text(&d.nomor_aju),
            text(&d.nomor_bl_awb),
            text(&d.tanggal_bl_awb),
            text(&d.kode_kantor),
            last.status.clone(),
            last.run.clone(),
            last.command.clone(),
            text(&last.action),
            d.history.len().to_string(),
            text(&history_line(d)),
            last.photos.len().to_string(),
            on_server.to_string(),
            text(&last.message),
        ])?;
    }
    w.flush()?;
    Ok(())
}
