//! The one rate limiter every X-ray request of every worker goes through. The rate is the
//! contract with the gateway, so permits are handed out against fixed times by governor (GCRA),
//! not by sleeping after each request; a 429 pushes one shared "not before" instant forward so
//! that every worker pauses, not only the one that was told.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use crate::halt::Halt;

/// Longest pause a single `Retry-After` may impose; a server asking for more is more likely
/// wrong than serious, and a nightly run should not hang on it.
pub const MAX_PAUSE: Duration = Duration::from_secs(300);

type Limiter<C> = RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// Permits are spaced this much wider than `1/rate`. With the exact period, a one-second window
/// that starts on a permit also ends on one and holds `rate + 1` of them; with 5% more room it
/// holds at most `rate`, and a request that leaves up to about 100 ms late after its permit (a
/// busy machine, where 2% proved too little at 20 per second) still does not push a window at the
/// gateway over `rate + 1`. The cost is 5% of the achieved rate.
const PERIOD_MARGIN: f64 = 1.05;

/// Shared rate limiter plus the shared 429 pause.
///
/// Guarantee: in any sliding one-second window no more than `ceil(rate) + burst - 1` permits
/// are granted (GCRA admits `burst` at once, then one per period): with the default burst of 1,
/// never more than the rate.
pub struct Pacer<C: Clock = DefaultClock> {
    limiter: Limiter<C>,
    not_before: Mutex<Option<Instant>>,
    /// Set when the run stops: no permit is handed out any more, and waits for one end at once.
    halt: Halt,
}

/// No permit: the run is stopping (a signal, or a run folder that cannot be written).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Halted;

impl std::fmt::Debug for Pacer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pacer").finish_non_exhaustive()
    }
}

/// The governor quota for `rate` requests per second (may be fractional) and `burst`.
fn quota(rate: f64, burst: u32) -> Result<Quota, String> {
    if !rate.is_finite() || rate <= 0.0 {
        return Err(format!(
            "rate must be a positive number of requests per second, not {rate}"
        ));
    }
    let burst = NonZeroU32::new(burst).ok_or("burst must be at least 1")?;
    // try_: a rate so small that its period overflows a Duration would make from_secs_f64 panic.
    let period = Duration::try_from_secs_f64(PERIOD_MARGIN / rate)
        .map_err(|_| format!("rate {rate} per second is too low"))?;
    Quota::with_period(period)
        .map(|q| q.allow_burst(burst))
        .ok_or_else(|| format!("rate {rate} per second is too high"))
}

impl Pacer<DefaultClock> {
    pub fn new(rate: f64, burst: u32) -> Result<Self, String> {
        Self::with_clock(rate, burst, DefaultClock::default())
    }

    /// Wait until this request may go out: first the shared 429 pause, then a permit. Once the
    /// halt is set, no permit: the wait ends at once with [`Halted`], however long it had left.
    pub fn acquire(&self) -> Result<(), Halted> {
        loop {
            if self.halt.is_set() {
                return Err(Halted);
            }
            if let Some(wait) = self.pause_left_at(Instant::now()) {
                self.halt.sleep(wait);
                continue;
            }
            match self.try_permit() {
                Ok(()) => return Ok(()),
                // Another waiter may take the permit first; then we simply get a new wait time.
                Err(wait) => {
                    self.halt.sleep(wait.max(Duration::from_micros(100)));
                }
            }
        }
    }
}

impl<C: Clock> Pacer<C> {
    pub fn with_clock(rate: f64, burst: u32, clock: C) -> Result<Self, String> {
        Ok(Pacer {
            limiter: RateLimiter::direct_with_clock(quota(rate, burst)?, clock),
            not_before: Mutex::new(None),
            halt: Halt::new(),
        })
    }

    /// Stop handing out permits once `halt` is set.
    pub fn halt_on(&mut self, halt: Halt) {
        self.halt = halt;
    }

    pub fn halted(&self) -> bool {
        self.halt.is_set()
    }

    /// Take a permit now, or say how long until one may be available.
    pub fn try_permit(&self) -> Result<(), Duration> {
        self.limiter
            .check()
            .map_err(|not_until| not_until.wait_time_from(self.limiter.clock().now()))
    }

    /// Pause every worker for `wait` (capped at [`MAX_PAUSE`]) from `now`. Pauses never shorten
    /// one already in force.
    pub fn pause_at(&self, now: Instant, wait: Duration) {
        let until = now + wait.min(MAX_PAUSE);
        let mut not_before = self
            .not_before
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *not_before = Some(match *not_before {
            Some(current) if current > until => current,
            _ => until,
        });
    }

    pub fn pause(&self, wait: Duration) {
        self.pause_at(Instant::now(), wait);
    }

    /// How much of the shared pause is left at `now`, if any.
    pub fn pause_left_at(&self, now: Instant) -> Option<Duration> {
        let not_before = *self
            .not_before
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        not_before
            .filter(|until| *until > now)
            .map(|until| until - now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    /// Greedy callers on a fake clock: take permits as fast as allowed for `secs` seconds and
    /// return the grant times in nanoseconds.
    fn grants(rate: f64, burst: u32, secs: u64) -> Vec<u64> {
        let clock = FakeRelativeClock::default();
        let pacer = Pacer::with_clock(rate, burst, clock.clone()).unwrap();
        let mut now = 0u64;
        let mut granted = Vec::new();
        while now < secs * 1_000_000_000 {
            match pacer.try_permit() {
                Ok(()) => granted.push(now),
                Err(wait) => {
                    let step = wait.max(Duration::from_nanos(1));
                    clock.advance(step);
                    now += step.as_nanos() as u64;
                }
            }
        }
        granted
    }

    fn max_in_window(times: &[u64], window_ns: u64) -> usize {
        let mut best = 0;
        for (i, start) in times.iter().enumerate() {
            let n = times[i..]
                .iter()
                .take_while(|t| **t < start + window_ns)
                .count();
            best = best.max(n);
        }
        best
    }

    #[test]
    fn never_more_than_rate_plus_burst_minus_one_in_any_second() {
        for (rate, burst) in [
            (20.0, 1),
            (5.0, 1),
            (5.0, 3),
            (2.5, 2),
            (50.0, 10),
            (100.0, 1),
        ] {
            let times = grants(rate, burst, 10);
            let limit = rate.ceil() as usize + burst as usize - 1;
            // A closed window: a permit exactly one second after another counts too.
            let seen = max_in_window(&times, 1_000_000_001);
            assert!(seen <= limit, "rate {rate} burst {burst}: {seen} > {limit}");
        }
    }

    #[test]
    fn reaches_the_rate_when_there_is_work() {
        for (rate, burst) in [(20.0, 1), (5.0, 1), (0.5, 1), (2.5, 2)] {
            let times = grants(rate, burst, 10);
            // Within the 5% margin of the rate.
            let expected = (rate * 10.0 / PERIOD_MARGIN) as usize;
            assert!(
                times.len() >= expected,
                "rate {rate} burst {burst}: {} permits in 10 s, expected {expected}",
                times.len()
            );
            assert!(times.len() <= expected + burst as usize);
        }
    }

    #[test]
    fn bad_settings_are_refused() {
        assert!(Pacer::new(0.0, 1).is_err());
        assert!(Pacer::new(-1.0, 1).is_err());
        assert!(Pacer::new(f64::NAN, 1).is_err());
        assert!(Pacer::new(5.0, 0).is_err());
        // One request in longer than a Duration can hold: refused, not a panic.
        assert!(Pacer::new(1e-300, 1).is_err());
        assert!(Pacer::new(f64::INFINITY, 1).is_err());
    }

    #[test]
    fn a_halt_ends_the_wait_for_a_permit_and_refuses_the_next() {
        // One permit every 20 s: the second caller would wait that long.
        let mut pacer = Pacer::new(0.05, 1).unwrap();
        let halt = Halt::new();
        pacer.halt_on(halt.clone());
        assert_eq!(pacer.acquire(), Ok(()));
        std::thread::scope(|scope| {
            let waiter = scope.spawn(|| pacer.acquire());
            std::thread::sleep(Duration::from_millis(50));
            halt.set();
            assert_eq!(waiter.join().expect("waiter"), Err(Halted));
        });
        // The shared 429 pause does not hold a halted caller either.
        pacer.pause(MAX_PAUSE);
        assert_eq!(pacer.acquire(), Err(Halted));
    }

    #[test]
    fn pause_only_moves_forward_and_is_capped() {
        let pacer = Pacer::new(5.0, 1).unwrap();
        let t0 = Instant::now();
        assert_eq!(pacer.pause_left_at(t0), None);
        pacer.pause_at(t0, Duration::from_secs(10));
        assert_eq!(pacer.pause_left_at(t0), Some(Duration::from_secs(10)));
        // A shorter pause later does not shorten the one in force.
        pacer.pause_at(t0 + Duration::from_secs(1), Duration::from_secs(2));
        assert_eq!(pacer.pause_left_at(t0), Some(Duration::from_secs(10)));
        // A longer one extends it.
        pacer.pause_at(t0 + Duration::from_secs(5), Duration::from_secs(10));
        assert_eq!(pacer.pause_left_at(t0), Some(Duration::from_secs(15)));
        assert_eq!(pacer.pause_left_at(t0 + Duration::from_secs(15)), None);
        // Capped.
        pacer.pause_at(t0, Duration::from_secs(100_000));
        assert_eq!(
            pacer.pause_left_at(t0 + Duration::from_secs(15)),
            Some(MAX_PAUSE - Duration::from_secs(15))
        );
    }
}
