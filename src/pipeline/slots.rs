//! Worker slots: at most `concurrency` rows talk to the gateway at once, but a row that only
//! waits (a settle time after an unclear answer, a backoff) gives its slot to the next row, so
//! a late commit or a lagging read costs wall-clock time for that row alone, not a worker.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::halt::Halt;
use crate::sync::set_thread_wait;

/// How many rows may wait at once for each worker slot: beyond that, waiting rows do hold slots
/// (the threads that carry them are the bound).
const WAITING_PER_SLOT: usize = 4;

/// A counting semaphore over the worker slots.
#[derive(Debug)]
pub struct Slots {
    free: Mutex<usize>,
    freed: Condvar,
}

impl Slots {
    pub fn new(concurrency: usize) -> Arc<Slots> {
        Arc::new(Slots {
            free: Mutex::new(concurrency.max(1)),
            freed: Condvar::new(),
        })
    }

    /// Threads for `concurrency` slots: one per slot, and some to carry rows that wait.
    pub fn threads(concurrency: usize) -> usize {
        let concurrency = concurrency.max(1);
        (concurrency + concurrency * WAITING_PER_SLOT).min(256)
    }

    pub fn acquire(&self) {
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        while *free == 0 {
            free = self.freed.wait(free).unwrap_or_else(|p| p.into_inner());
        }
        *free -= 1;
    }

    pub fn release(&self) {
        *self.free.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        self.freed.notify_one();
    }

    /// Make the calling worker thread's waits give its slot back while they last. A wait ends
    /// early when `halt` is set: the run is stopping, and the row's next request will not go out.
    pub fn lend_while_waiting(self: &Arc<Slots>, halt: Halt) {
        let slots = Arc::clone(self);
        set_thread_wait(Some(Arc::new(move |duration: Duration| {
            slots.release();
            halt.sleep(duration);
            slots.acquire();
        })));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn a_waiting_row_lends_its_slot() {
        let slots = Slots::new(1);
        let active = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let ran = Arc::new(AtomicUsize::new(0));
        std::thread::scope(|scope| {
            for i in 0..3 {
                let (slots, active, most, ran) = (&slots, &active, &most, &ran);
                scope.spawn(move || {
                    slots.lend_while_waiting(Halt::new());
                    slots.acquire();
                    let now = active.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    active.fetch_sub(1, Ordering::SeqCst);
                    if i == 0 {
                        // The first row waits long; the others run meanwhile in its slot.
                        crate::sync::Idle::default().wait(Duration::from_millis(300));
                    }
                    ran.fetch_add(1, Ordering::SeqCst);
                    slots.release();
                });
            }
        });
        assert_eq!(ran.load(Ordering::SeqCst), 3);
        // Never two rows active in one slot.
        assert_eq!(most.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_halt_ends_a_rows_wait_and_gives_the_slot_back() {
        let slots = Slots::new(1);
        let halt = Halt::new();
        std::thread::scope(|scope| {
            let waiter = scope.spawn(|| {
                slots.lend_while_waiting(halt.clone());
                slots.acquire();
                // A backoff or settle time far longer than the test may take.
                crate::sync::Idle::default().wait(Duration::from_secs(600));
                slots.release();
            });
            std::thread::sleep(Duration::from_millis(20));
            halt.set();
            waiter.join().expect("the wait ended");
        });
        // The slot is free again.
        slots.acquire();
    }
}
