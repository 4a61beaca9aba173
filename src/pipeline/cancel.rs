//! How a run is told to stop: the first SIGINT/SIGTERM, authentication lost for good, or a run
//! folder that can no longer be written. The workers ask before taking each row; what stopped the
//! run first decides its exit code.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, OnceLock};

use crate::exit::Exit;
use crate::halt::Halt;
use crate::model::RowResult;
use crate::validate::CheckedRow;

/// Set by the first SIGINT/SIGTERM, when the API client can no longer authenticate, or when the
/// run folder can no longer be written: start no new row. Remembers what came first, which
/// decides the exit code, the note in summary.json and the message of the rows left SKIPPED. All
/// end the run alike on purpose: rows in flight end (bounded wait), the outputs are written,
/// `--resume` and `retry` pick up the rest. A signal and an unwritable run folder also set the
/// [`Halt`]: nothing more is sent, every wait ends at once (rows in flight end SKIPPED).
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<Stop>);

#[derive(Debug, Default)]
struct Stop {
    /// 0 until stopped; then the signal number, or [`AUTH_LOST`].
    first: AtomicI32,
    /// "authentication was lost: …"; set before `first` can turn [`AUTH_LOST`].
    auth_lost: OnceLock<String>,
    /// "the run folder cannot be written: …"; set before `first` can turn [`OUTPUT_LOST`].
    output_lost: OnceLock<String>,
    halt: Halt,
}

pub const SIGINT: i32 = 2;
pub const SIGTERM: i32 = 15;
/// Not a signal number: the run stopped because authentication was lost.
const AUTH_LOST: i32 = -1;
/// Not a signal number: the run stopped because its run folder could not be written.
const OUTPUT_LOST: i32 = -2;

impl Cancel {
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Ask the run to stop, as if `signal` had arrived.
    pub fn request(&self, signal: i32) {
        self.stop(signal);
        self.0.halt.set();
    }

    /// Stop the run: the run folder cannot be written (`why` names the file and the OS error).
    /// `true` the first time.
    pub fn output_lost(&self, why: String) -> bool {
        let first = (self.0.output_lost)
            .set(format!("the run folder cannot be written: {why}"))
            .is_ok();
        self.stop(OUTPUT_LOST);
        self.0.halt.set();
        first
    }

    /// What every wait of the run sleeps on: set by a signal or an unwritable run folder.
    pub fn halt(&self) -> Halt {
        self.0.halt.clone()
    }

    /// Stop the run because the API client can no longer authenticate (`why` says how).
    pub fn auth_lost(&self, why: String) {
        let _ = (self.0.auth_lost).set(format!("authentication was lost: {why}"));
        self.stop(AUTH_LOST);
    }

    fn stop(&self, code: i32) {
        let _ = self
            .0
            .first
            .compare_exchange(0, code, Ordering::SeqCst, Ordering::SeqCst);
    }

    pub fn is_set(&self) -> bool {
        self.0.first.load(Ordering::SeqCst) != 0
    }

    /// Why authentication or the run folder was lost, when that is what stopped the run (first).
    fn lost_because(&self) -> Option<String> {
        match self.0.first.load(Ordering::SeqCst) {
            AUTH_LOST => self.0.auth_lost.get().cloned(),
            OUTPUT_LOST => self.0.output_lost.get().cloned(),
            _ => None,
        }
    }

    /// The exit code the stop calls for: 3 when authentication was lost (DESIGN: "could not
    /// authenticate"), 5 when the run folder could not be written, 143 for SIGTERM, 130 for any
    /// other signal.
    pub fn exit(&self) -> Option<Exit> {
        match self.0.first.load(Ordering::SeqCst) {
            0 => None,
            AUTH_LOST => Some(Exit::Unreachable),
            OUTPUT_LOST => Some(Exit::RunFolder),
            SIGTERM => Some(Exit::Terminated),
            _ => Some(Exit::Interrupted),
        }
    }

    /// Why the run stopped, to open summary.json's note: "interrupted", "authentication was
    /// lost: …" or "the run folder cannot be written: …".
    pub fn cause(&self) -> Option<String> {
        if !self.is_set() {
            return None;
        }
        Some(self.lost_because().unwrap_or_else(|| "interrupted".into()))
    }

    /// A valid row this run does not start, saying why.
    pub fn not_started(&self, row: &CheckedRow) -> RowResult {
        match self.lost_because() {
            Some(why) => RowResult {
                message: format!("not started: {why}"),
                ..RowResult::skipped(row)
            },
            None => RowResult::skipped(row),
        }
    }

    /// Listen for SIGINT and SIGTERM on a small thread. The first sets this flag; the second ends
    /// the process at once (every journal line is written whole by one write, so the journal
    /// stays readable).
    #[cfg(unix)]
    pub fn install_signal_handlers(&self) -> std::io::Result<()> {
        use signal_hook::consts::{SIGINT as INT, SIGTERM as TERM};
        let mut signals = signal_hook::iterator::Signals::new([INT, TERM])?;
        let cancel = self.clone();
        std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                // A local flag, not `cancel.is_set()`: a run already stopping because
                // authentication was lost still waits for its rows at the first signal.
                let mut signalled = false;
                for signal in signals.forever() {
                    if signalled {
                        eprintln!("kirim-xray: second signal, stopping now");
                        let code = if signal == TERM { 143 } else { 130 };
                        std::process::exit(code);
                    }
                    signalled = true;
                    cancel.request(signal);
                    tracing::warn!(
                        "signal {signal}: starting no new row; rows in flight finish, the rest are SKIPPED (signal again to stop at once)"
                    );
                }
            })?;
        Ok(())
    }

    #[cfg(not(unix))]
    pub fn install_signal_handlers(&self) -> std::io::Result<()> {
        Ok(())
    }
}
