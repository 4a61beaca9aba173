//! What the sandbox counts and the faults it injects: answers per endpoint and HTTP status, the
//! busiest one-second window, the image bytes received, the `--max-rps` limiter and the seeded
//! fault dice. Tests read the counters through `/__sandbox/state` to check a client's behaviour
//! from the server's side.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The five endpoints, named as `/__sandbox/state` and the client's stats name them, and every
/// other path the gateway is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Login,
    UpdateToken,
    Kirim,
    Add,
    Get,
    /// A path that is none of the five (answered with the gateway's HTML 404).
    Other,
}

impl Endpoint {
    pub fn key(self) -> &'static str {
        match self {
            Endpoint::Login => "login",
            Endpoint::UpdateToken => "update-token",
            Endpoint::Kirim => "kirim-foto-xray",
            Endpoint::Add => "add-foto-xray",
            Endpoint::Get => "get-foto-xray",
            Endpoint::Other => "other",
        }
    }

    /// The endpoint a path names, under either base path of the API text.
    pub fn from_path(path: &str) -> Option<Endpoint> {
        match path {
            "/nle-oauth/v1/user/login" => return Some(Endpoint::Login),
            "/nle-oauth/v1/user/update-token" => return Some(Endpoint::UpdateToken),
            _ => {}
        }
        let rest = path
            .strip_prefix(super::BASE_OPENAPI)
            .or_else(|| path.strip_prefix(super::BASE_PUBLIC))?;
        match rest {
            "/xray/kirim-foto-xray" => Some(Endpoint::Kirim),
            "/xray/add-foto-xray" => Some(Endpoint::Add),
            "/xray/get-foto-xray" => Some(Endpoint::Get),
            _ => None,
        }
    }

    /// One of the three X-ray endpoints: those that need a token, and that faults apply to.
    pub fn is_xray(self) -> bool {
        matches!(self, Endpoint::Kirim | Endpoint::Add | Endpoint::Get)
    }

    /// login or update-token.
    pub fn is_auth(self) -> bool {
        matches!(self, Endpoint::Login | Endpoint::UpdateToken)
    }
}

const WINDOW: Duration = Duration::from_secs(1);

#[derive(Default)]
struct Counters {
    requests: BTreeMap<&'static str, BTreeMap<u16, u64>>,
    /// Arrival instants of gateway requests within the last second, whatever their answer.
    arrivals: VecDeque<Instant>,
    max_rps: usize,
    /// Arrival instants of API requests `--max-rps` let through, within the last second.
    admitted: VecDeque<Instant>,
    /// Bytes of `images` parts read, kirim and add.
    image_bytes: ImageBytes,
}

/// `image_bytes_received` in `/__sandbox/state`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ImageBytes {
    pub kirim: u64,
    pub add: u64,
}

pub struct Traffic {
    counters: Mutex<Counters>,
    dice: Mutex<StdRng>,
    max_rps: Option<u32>,
}

/// A snapshot for `/__sandbox/state`.
pub struct TrafficReport {
    pub requests: BTreeMap<&'static str, BTreeMap<String, u64>>,
    pub max_rps: usize,
    pub image_bytes: ImageBytes,
}

impl Traffic {
    pub fn new(seed: Option<u64>, max_rps: Option<u32>) -> Traffic {
        let dice = match seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_rng(&mut rand::rng()),
        };
        Traffic {
            counters: Mutex::new(Counters::default()),
            dice: Mutex::new(dice),
            max_rps,
        }
    }

    fn counters(&self) -> std::sync::MutexGuard<'_, Counters> {
        // Counters stay consistent whatever panicked while holding them.
        self.counters.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Note a gateway request's arrival; `false` when `--max-rps` refuses it (only `limited`
    /// requests can be refused, and only those let through fill the limiter's window). The window
    /// slides: it is the last second before this arrival, not a calendar second.
    pub fn arrive(&self, now: Instant, limited: bool) -> bool {
        let mut c = self.counters();
        prune(&mut c.arrivals, now);
        c.arrivals.push_back(now);
        c.max_rps = c.max_rps.max(c.arrivals.len());
        let Some(limit) = self.max_rps.filter(|_| limited) else {
            return true;
        };
        prune(&mut c.admitted, now);
        if c.admitted.len() >= limit as usize {
            return false;
        }
        c.admitted.push_back(now);
        true
    }

    pub fn count(&self, endpoint: Endpoint, status: u16) {
        *self
            .counters()
            .requests
            .entry(endpoint.key())
            .or_default()
            .entry(status)
            .or_default() += 1;
    }

    /// `bytes` of `images` parts read from a kirim or add request.
    pub fn received(&self, endpoint: Endpoint, bytes: u64) {
        let mut c = self.counters();
        match endpoint {
            Endpoint::Kirim => c.image_bytes.kirim += bytes,
            Endpoint::Add => c.image_bytes.add += bytes,
            _ => {}
        }
    }

    /// One throw of the fault dice: `true` with probability `rate`. A rate of 0 throws nothing,
    /// so that enabling one fault does not shift the sequence of another.
    pub fn roll(&self, rate: f64) -> bool {
        if rate <= 0.0 {
            return false;
        }
        let x: f64 = self.dice.lock().unwrap_or_else(|e| e.into_inner()).random();
        x < rate
    }

    pub fn report(&self) -> TrafficReport {
        let c = self.counters();
        TrafficReport {
            requests: c
                .requests
                .iter()
                .map(|(k, v)| (*k, v.iter().map(|(s, n)| (s.to_string(), *n)).collect()))
                .collect(),
            max_rps: c.max_rps,
            image_bytes: c.image_bytes,
        }
    }

    pub fn reset(&self) {
        *self.counters() = Counters::default();
    }
}

fn prune(window: &mut VecDeque<Instant>, now: Instant) {
    while window
        .front()
        .is_some_and(|t| now.duration_since(*t) >= WINDOW)
    {
        window.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sliding_window_limits_and_measures() {
        let t = Traffic::new(Some(1), Some(2));
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        assert!(t.arrive(t0, true));
        assert!(t.arrive(ms(100), true));
        assert!(!t.arrive(ms(900), true));
        // The first arrival leaves the window one second after it came.
        assert!(t.arrive(ms(1000), true));
        assert!(!t.arrive(ms(1050), true));
        assert!(t.arrive(ms(1100), true));
        // Refused arrivals still count in max_rps: 100, 900, 1000, 1050 ms fall in one second.
        assert_eq!(t.report().max_rps, 4);
        // An unlimited arrival is never refused, counts in max_rps, and takes no permit.
        assert!(t.arrive(ms(1150), false));
        assert_eq!(t.report().max_rps, 5);
        assert!(t.arrive(ms(2050), true));
    }

    #[test]
    fn seeded_dice_repeat() {
        let throws = |seed| {
            let t = Traffic::new(Some(seed), None);
            (0..200).map(|_| t.roll(0.3)).collect::<Vec<_>>()
        };
        assert_eq!(throws(7), throws(7));
        assert_ne!(throws(7), throws(8));
        let hits = throws(7).iter().filter(|x| **x).count();
        assert!((30..=90).contains(&hits), "{hits}");
    }

    #[test]
    fn paths() {
        assert_eq!(
            Endpoint::from_path("/openapi/cnpibk/xray/kirim-foto-xray"),
            Some(Endpoint::Kirim)
        );
        assert_eq!(
            Endpoint::from_path(
                "/kirim-cn-pibk-barkir-public/kirim-cn-pibk-barkir/xray/get-foto-xray"
            ),
            Some(Endpoint::Get)
        );
        assert_eq!(Endpoint::from_path("/xray/get-foto-xray"), None);
    }
}
