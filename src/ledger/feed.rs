//! Feeding the ledger as rows finish, without ever holding up an upload: the workers only hand
//! a copy of each journal line to a thread of the ledger's own, which writes it. A ledger that
//! cannot be opened or written costs one warning, and the thread then only drains what it is
//! given; the run goes on, and its journal is what [`super::rebuild`] reads later. The thread is
//! handed at most [`QUEUED`] rows at a time: when rows finish faster than the ledger takes them,
//! the ones that do not fit are left to the run's end, which reads the whole journal into the
//! ledger anyway ([`super::record_run`]). So the feed's memory stays bounded at any rate.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::model::RowResult;

/// The running feed of one run folder. Dropping it (after the run's end read the whole journal
/// into the ledger, see [`super::record_run`]) tells the thread to drop what it was still given
/// rather than write it, and waits for it.
#[derive(Debug)]
pub struct Feed {
    tx: Mutex<Option<SyncSender<RowResult>>>,
    closing: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Feed {
    /// Start feeding `<out>/ledger.sqlite` with the rows of `run_dir` (whose output folder the
    /// caller holds the lock of). The ledger is opened, and rebuilt or caught up when needed, on
    /// the feed's thread.
    pub fn start(run_dir: &Path) -> Feed {
        let (tx, rx) = mpsc::sync_channel::<RowResult>(QUEUED);
        let run_dir = run_dir.to_path_buf();
        let closing = Arc::new(AtomicBool::new(false));
        let closed = Arc::clone(&closing);
        let thread = std::thread::Builder::new()
            .name("ledger".into())
            .spawn(move || write_rows(&run_dir, rx, &closed));
        match thread {
            Ok(thread) => Feed {
                tx: Mutex::new(Some(tx)),
                closing,
                thread: Some(thread),
            },
            Err(e) => {
                tracing::warn!("ledger: cannot start its thread ({e}); it is updated at the end");
                Feed {
                    tx: Mutex::new(None),
                    closing,
                    thread: None,
                }
            }
        }
    }

    /// Hand one finished row to the ledger's thread; returns at once. A row that does not fit
    /// in the queue is left to the run's end (see the module's note).
    pub fn record(&self, row: &RowResult) {
        let tx = self.tx.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = tx.as_ref() {
            match tx.try_send(row.clone()) {
                Ok(()) | Err(TrySendError::Disconnected(_)) => {}
                Err(TrySendError::Full(_)) => {
                    tracing::trace!("ledger: row {} left to the run's end", row.row);
                }
            }
        }
    }
}

impl Feed {
    /// Let the thread write everything it was given, and wait for it.
    pub fn finish(mut self) {
        self.tx.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.closing.store(true, Ordering::Relaxed);
        self.tx.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn write_rows(run_dir: &Path, rx: mpsc::Receiver<RowResult>, closing: &AtomicBool) {
    let out = super::out_of(run_dir);
    let warn = |e: anyhow::Error| {
        tracing::warn!(
            "ledger {} not updated as rows finish: {e:#}; the run goes on, and \
             `kirim-xray ledger rebuild` recreates it from the journals",
            super::path_in(&out).display()
        );
    };
    let opened = {
        let _one = super::one_writer();
        super::open_current(&out)
    };
    let mut conn = match opened {
        Ok(conn) => Some(conn),
        Err(e) => {
            warn(e);
            None
        }
    };
    // Rows come faster than one transaction each could keep up with: whatever has arrived is
    // written in one go, under the process's one-writer lock (the run's end takes it too).
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < BATCH
            && let Ok(row) = rx.try_recv()
        {
            batch.push(row);
        }
        if closing.load(Ordering::Relaxed) {
            // The run has ended and read its whole journal into the ledger.
            break;
        }
        let _one = super::one_writer();
        if let Some(c) = conn.as_mut()
            && let Err(e) = super::record_rows(c, run_dir, &batch)
        {
            warn(e);
            conn = None;
        }
    }
}

/// Most rows written in one transaction.
const BATCH: usize = 500;

/// Most rows waiting for the ledger's thread (about 1 KiB each).
const QUEUED: usize = 4 * BATCH;
