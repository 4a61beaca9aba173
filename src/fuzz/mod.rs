//! Fuzz targets for what reads untrusted bytes: the CSV reader, the spreadsheet readers (and the
//! checks before them), and the parser of the API's answers. They are property tests (proptest):
//! `make test` runs each for a small, fixed number of cases; `make fuzz` sets
//! `KIRIM_XRAY_FUZZ_SECONDS` and runs each for that long, in batches of fresh random cases.
//! A target fails on a panic that escapes, on a message too long to read, or on a value that
//! the reader changed.

mod answer;
mod csv;
mod sheet;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseResult, TestError, TestRng, TestRunner};

use crate::manifest::Limits;

/// Bounds small enough that generated inputs reach them.
pub fn small_limits() -> Limits {
    Limits {
        max_file_bytes: 1 << 20,
        max_rows: 50,
        max_cell_chars: 64,
        max_columns: 40,
        max_unzipped_bytes: 4 << 20,
        max_sheet_cells: 20_000,
        max_text_bytes: 64 << 10,
    }
}

/// Run `test` on values of `strategy`: `cases` of them, or, with `KIRIM_XRAY_FUZZ_SECONDS` set,
/// batch after batch of fresh ones until that many seconds have passed.
pub fn fuzz<S: Strategy>(
    name: &str,
    cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> TestCaseResult,
) {
    let seconds = std::env::var("KIRIM_XRAY_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok());
    let config = |cases| Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let report = |result: Result<(), TestError<S::Value>>| {
        if let Err(err) = result {
            panic!("fuzz target {name} failed: {err}");
        }
    };
    let Some(seconds) = seconds else {
        // The same cases every time, so that `make test` is repeatable.
        let rng = TestRng::deterministic_rng(RngAlgorithm::ChaCha);
        report(TestRunner::new_with_rng(config(cases), rng).run(&strategy, &test));
        return;
    };
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut total = 0u64;
    let mut batch = 0u64;
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    while Instant::now() < deadline {
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&batch.to_le_bytes());
        seed[8..16].copy_from_slice(&nanos.to_le_bytes());
        let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed);
        report(TestRunner::new_with_rng(config(500), rng).run(&strategy, &test));
        total += 500;
        batch += 1;
    }
    eprintln!("fuzz target {name}: {total} cases in {seconds} s, no failure");
}
