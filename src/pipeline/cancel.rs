//! How a run is told to stop: the first SIGINT/SIGTERM, or authentication lost for good. The
//! workers ask before taking each row; what stopped the run first decides its exit code.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, OnceLock};

use crate::exit::Exit;
use crate::model::RowResult;
use crate::validate::CheckedRow;

/// Set by the first SIGINT/SIGTERM, or when the API client can no longer authenticate: start no
/// new row. Remembers what came first, which decides the exit code, the note in summary.json and
/// the message of the rows left SKIPPED. Both end the run the same way on purpose: rows in flight
/// finish (bounded wait), every output is written, `--resume` and `retry` pick up the rest.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<Stop>);

#[derive(Debug, Default)]
struct Stop {
    /// 0 until stopped; then the signal number, or [`AUTH_LOST`].
    first: AtomicI32,
    /// Why authentication was lost; set before `first` can turn [`AUTH_LOST`].
    auth_lost: OnceLock<String>,
}

pub const SIGINT: i32 = 2;
pub const SIGTERM: i32 = 15;
/// Not a signal number: the run stopped because authentication was lost.
const AUTH_LOST: i32 = -1;

impl Cancel {
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Ask the run to stop, as if `signal` had arrived.
    pub fn request(&self, signal: i32) {
        self.stop(signal);
    }

    /// Stop the run because the API client can no longer authenticate (`why` says how).
    pub fn auth_lost(&self, why: String) {
        let _ = self.0.auth_lost.set(why);
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

    /// Why authentication was lost, when that is what stopped the run (first).
    fn lost_because(&self) -> Option<&str> {
        match self.0.first.load(Ordering::SeqCst) {
            AUTH_LOST => self.0.auth_lost.get().map(String::as_str),
            _ => None,
        }
    }

    /// The exit code the stop calls for: 3 when authentication was lost (DESIGN: "could not
    /// authenticate"), 143 for SIGTERM, 130 for any other signal.
    pub fn exit(&self) -> Option<Exit> {
        match self.0.first.load(Ordering::SeqCst) {
            0 => None,
            AUTH_LOST => Some(Exit::Unreachable),
            SIGTERM => Some(Exit::Terminated),
            _ => Some(Exit::Interrupted),
        }
    }

    /// Why the run stopped, to open summary.json's note: "interrupted" or "authentication was
    /// lost: …".
    pub fn cause(&self) -> Option<String> {
        if !self.is_set() {
            return None;
        }
        Some(match self.lost_because() {
            Some(why) => format!("authentication was lost: {why}"),
            None => "interrupted".into(),
        })
    }

    /// A valid row this run does not start, saying why.
    pub fn not_started(&self, row: &CheckedRow) -> RowResult {
        match self.lost_because() {
            Some(why) => RowResult {
                message: format!("not started: authentication was lost: {why}"),
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
