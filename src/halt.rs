//! A stop that waiting threads see at once. A signal, or a run folder that can no longer be
//! written, must end the run within moments, not after the next rate-limiter permit (20 s apart at
//! `--rate 0.05`) or a backoff: every wait of a run sleeps on this, and wakes when it is set.
//! A leaf module: the pipeline sets it, the API client and the workers' waits read it.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Cloned into everything that waits; [`Halt::set`] wakes every sleeper.
#[derive(Debug, Clone, Default)]
pub struct Halt(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    set: Mutex<bool>,
    woken: Condvar,
}

impl Halt {
    pub fn new() -> Halt {
        Halt::default()
    }

    /// From now on [`Halt::sleep`] returns at once; sleepers wake.
    pub fn set(&self) {
        *self.0.set.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.0.woken.notify_all();
    }

    pub fn is_set(&self) -> bool {
        *self.0.set.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sleep for `duration`, or until the halt is set. `true` when it is set.
    pub fn sleep(&self, duration: Duration) -> bool {
        let until = Instant::now().checked_add(duration);
        let mut set = self.0.set.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if *set {
                return true;
            }
            let now = Instant::now();
            let left = match until {
                Some(until) if until > now => until - now,
                Some(_) => return false,
                // Beyond what an Instant holds: wait for the halt alone.
                None => Duration::from_secs(3600),
            };
            set = self
                .0
                .woken
                .wait_timeout(set, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sleep_ends_when_the_halt_is_set() {
        let halt = Halt::new();
        assert!(!halt.sleep(Duration::from_millis(1)));
        let sleeper = {
            let halt = halt.clone();
            std::thread::spawn(move || halt.sleep(Duration::from_secs(600)))
        };
        std::thread::sleep(Duration::from_millis(20));
        halt.set();
        // Returns (rather than hanging the test for ten minutes), and says it was halted.
        assert!(sleeper.join().expect("sleeper"));
        assert!(halt.is_set());
        assert!(halt.sleep(Duration::from_secs(600)));
    }
}
