//! `--late-commit-rate`: a gateway in front of a slow backend answers 504 at once, and the backend
//! applies the request later anyway. Late requests wait in one queue, in arrival order, and are
//! applied one at a time when due, against the store as it stands then. The queue lives in memory
//! only: pending commits are lost when the process stops, as requests in a crashed backend are.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

/// Applies one late request when due; `true` when it stored photos.
pub type Job = Pin<Box<dyn Future<Output = bool> + Send>>;

/// The longest wait before a late commit, whatever `--late-commit-ms` says (so that `now + delay`
/// cannot overflow).
const MAX_DELAY: Duration = Duration::from_secs(365 * 24 * 3600);

/// `late_commits` in `/__sandbox/state`: `scheduled` = `pending` + `applied` + `refused`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LateCounts {
    /// Requests answered 504 and queued.
    pub scheduled: u64,
    /// Queued and not yet due.
    pub pending: u64,
    /// Applied, and stored photos.
    pub applied: u64,
    /// Applied, and stored nothing (the answer would have been 409, `code:404`, 400, …).
    pub refused: u64,
}

struct Queued {
    due: Instant,
    epoch: u64,
    job: Job,
}

#[derive(Default)]
struct Book {
    counts: LateCounts,
    /// Raised by `/__sandbox/reset`: commits queued before it are dropped.
    epoch: u64,
}

pub struct LateCommits {
    delay: Duration,
    queue: UnboundedSender<Queued>,
    /// Taken by the one worker that applies the queue.
    waiting: Mutex<Option<UnboundedReceiver<Queued>>>,
    book: Mutex<Book>,
}

impl LateCommits {
    pub fn new(delay: Duration) -> LateCommits {
        let (queue, waiting) = unbounded_channel();
        LateCommits {
            delay: delay.min(MAX_DELAY),
            queue,
            waiting: Mutex::new(Some(waiting)),
            book: Mutex::new(Book::default()),
        }
    }

    fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        // Counters only: nothing a panic could leave half-changed.
        self.book.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queue `job` to run `--late-commit-ms` from now.
    pub fn schedule(&self, job: Job) {
        let mut book = self.book();
        book.counts.scheduled += 1;
        book.counts.pending += 1;
        // Sent under the lock: the queue is in order of due time.
        let queued = Queued {
            due: Instant::now() + self.delay,
            epoch: book.epoch,
            job,
        };
        if self.queue.send(queued).is_err() {
            // The worker is gone (the server is stopping): the commit is lost, as in a crash.
            book.counts.pending -= 1;
        }
    }

    /// Apply the queue as commits fall due; runs as long as the server does.
    pub async fn run(&self) {
        let taken = self
            .waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(mut waiting) = taken {
            while let Some(queued) = waiting.recv().await {
                tokio::time::sleep_until(queued.due.into()).await;
                if self.book().epoch != queued.epoch {
                    continue;
                }
                let stored = queued.job.await;
                let mut book = self.book();
                if book.epoch == queued.epoch {
                    book.counts.pending -= 1;
                    if stored {
                        book.counts.applied += 1;
                    } else {
                        book.counts.refused += 1;
                    }
                }
            }
        }
        std::future::pending::<()>().await;
    }

    pub fn report(&self) -> LateCounts {
        self.book().counts
    }

    /// Forget the counts and drop every commit still queued.
    pub fn reset(&self) {
        let mut book = self.book();
        book.epoch += 1;
        book.counts = LateCounts::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    async fn settled(late: &LateCommits) -> LateCounts {
        for _ in 0..10_000 {
            let counts = late.report();
            if counts.pending == 0 {
                return counts;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("late commits still pending: {:?}", late.report());
    }

    #[tokio::test]
    async fn commits_apply_in_order_and_a_reset_drops_those_queued() {
        let late = Arc::new(LateCommits::new(Duration::ZERO));
        let applied = Arc::new(Mutex::new(Vec::new()));
        let job = |n: usize, stored: bool| -> Job {
            let applied = applied.clone();
            Box::pin(async move {
                applied.lock().unwrap().push(n);
                stored
            })
        };
        // Queued before the worker runs, then reset: never applied.
        late.schedule(job(0, true));
        late.reset();
        let worker = tokio::spawn({
            let late = late.clone();
            async move { late.run().await }
        });
        for n in 1..=5 {
            late.schedule(job(n, n % 2 == 1));
        }
        let counts = settled(&late).await;
        assert_eq!(*applied.lock().unwrap(), [1, 2, 3, 4, 5]);
        assert_eq!(
            counts,
            LateCounts {
                scheduled: 5,
                pending: 0,
                applied: 3,
                refused: 2
            }
        );
        worker.abort();
    }
}
