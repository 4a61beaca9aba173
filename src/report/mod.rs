//! The run folder's outputs: results.csv, images.csv, summary.json/.txt, journal.jsonl and
//! report.html. Whole-file outputs are written to a temporary file and renamed.
