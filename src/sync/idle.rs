//! How a row waits (settle times, backoff). The protocol only says how long; the pipeline decides
//! what waiting means, so that a row that waits gives its worker slot to another row instead of
//! holding it idle.

use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;

type Wait = Arc<dyn Fn(Duration) + Send + Sync>;

thread_local! {
    /// How waits on this thread are done, when the thread belongs to a pool that lends its
    /// slot out while a row waits (see `pipeline`).
    static THREAD_WAIT: RefCell<Option<Wait>> = const { RefCell::new(None) };
}

/// Make every default wait on this thread go through `wait` (or plain sleeps again with `None`).
pub fn set_thread_wait(wait: Option<Wait>) {
    THREAD_WAIT.with(|w| *w.borrow_mut() = wait);
}

/// A way to wait. The default waits as the thread was told ([`set_thread_wait`]), else sleeps.
#[derive(Clone, Default)]
pub struct Idle(Option<Wait>);

impl Idle {
    pub fn new(wait: impl Fn(Duration) + Send + Sync + 'static) -> Idle {
        Idle(Some(Arc::new(wait)))
    }

    pub fn wait(&self, duration: Duration) {
        if duration.is_zero() {
            return;
        }
        match &self.0 {
            Some(wait) => wait(duration),
            None => match THREAD_WAIT.with(|w| w.borrow().clone()) {
                Some(wait) => wait(duration),
                None => std::thread::sleep(duration),
            },
        }
    }
}

impl fmt::Debug for Idle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Idle(custom)"
        } else {
            "Idle(sleep)"
        })
    }
}

/// uniform(0, min(cap, base·2^n)): full jitter keeps workers that failed together from coming
/// back together.
pub fn backoff(base: Duration, cap: Duration, n: u32) -> Duration {
    let step = base.saturating_mul(1u32 << n.min(20)).min(cap);
    if step.is_zero() {
        return Duration::ZERO;
    }
    rand::rng().random_range(Duration::ZERO..=step)
}
