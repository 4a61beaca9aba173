//! The live view of a run at a terminal: one bar with rows done / total, MATCH against rows that
//! need attention, photos and bytes sent, the request rate against the limit, and the ETA.
//! It is fed by the rows as they finish (the same hook that appends them to the journal), so the
//! workers know nothing of it. Log lines reach stderr through [`write_stderr`], which draws them
//! above the bar instead of through it. Off a terminal (cron, pipes) there is no bar: the
//! per-row lines of the log say the same, one plain line each.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, IsTerminal, Write};
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::escape::escape_control;
use crate::model::{RowResult, RowStatus, SentIn};

/// `--progress`: how a run shows its progress on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProgressMode {
    /// A bar when stderr is a terminal (and not `--quiet`), plain lines otherwise.
    #[default]
    Auto,
    /// The bar, even where stderr does not look like a terminal.
    Bar,
    /// One plain line per finished row, as in a log.
    Lines,
    /// Neither: stderr only gets warnings and errors about rows (run.log still has every line).
    None,
}

impl ProgressMode {
    pub const NAMES: &str = "auto, bar, lines, none";

    /// What this mode comes to in this process: `Auto` is decided by whether stderr is a
    /// terminal, and `--quiet` (which keeps stderr to warnings) turns it off.
    pub fn resolve(self, quiet: bool) -> ProgressMode {
        match self {
            ProgressMode::Auto if quiet => ProgressMode::None,
            ProgressMode::Auto if io::stderr().is_terminal() => ProgressMode::Bar,
            ProgressMode::Auto => ProgressMode::Lines,
            other => other,
        }
    }

    /// Whether stderr gets one line per finished row.
    pub fn row_lines(self) -> bool {
        matches!(self, ProgressMode::Lines | ProgressMode::Auto)
    }
}

impl FromStr for ProgressMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(ProgressMode::Auto),
            "bar" => Ok(ProgressMode::Bar),
            "lines" => Ok(ProgressMode::Lines),
            "none" => Ok(ProgressMode::None),
            _ => Err(format!(
                "progress \"{s}\" is not one of {}",
                ProgressMode::NAMES
            )),
        }
    }
}

impl fmt::Display for ProgressMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProgressMode::Auto => "auto",
            ProgressMode::Bar => "bar",
            ProgressMode::Lines => "lines",
            ProgressMode::None => "none",
        })
    }
}

/// The bar on screen, if any: log lines written meanwhile must go above it.
static SHOWN: Mutex<Option<ProgressBar>> = Mutex::new(None);

fn shown() -> std::sync::MutexGuard<'static, Option<ProgressBar>> {
    SHOWN.lock().unwrap_or_else(|p| p.into_inner())
}

/// Write one log line to stderr: above the bar while one is shown (the bar is cleared, the line
/// written, the bar drawn again), straight to stderr otherwise.
pub fn write_stderr(buf: &[u8]) -> io::Result<()> {
    let bar = shown().clone();
    match bar {
        Some(bar) => bar.suspend(|| io::stderr().write_all(buf)),
        None => io::stderr().write_all(buf),
    }
}

/// How far back the "current" request rate looks.
const RATE_WINDOW: Duration = Duration::from_secs(5);

/// The counters behind the bar's second line.
#[derive(Default)]
struct Counts {
    matched: u64,
    attention: u64,
    photos: u64,
    bytes: u64,
    /// (when, API requests sent so far), the last [`RATE_WINDOW`] of them.
    samples: VecDeque<(Instant, u64)>,
}

impl Counts {
    fn add(&mut self, r: &RowResult) {
        match r.status {
            RowStatus::Match => self.matched += 1,
            _ => self.attention += 1,
        }
        self.photos += r.uploaded as u64;
        self.bytes += r
            .images
            .iter()
            .filter(|i| i.sent_in != SentIn::None && i.sent_at.is_some())
            .map(|i| i.bytes)
            .sum::<u64>();
    }

    /// Requests per second over the last few seconds, from the sample just taken.
    fn rate(&mut self, now: Instant, requests: u64) -> f64 {
        self.samples.push_back((now, requests));
        while self
            .samples
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > RATE_WINDOW)
            && self.samples.len() > 2
        {
            self.samples.pop_front();
        }
        match self.samples.front() {
            Some((t, n)) if now.duration_since(*t) >= Duration::from_millis(200) => {
                requests.saturating_sub(*n) as f64 / now.duration_since(*t).as_secs_f64()
            }
            _ => 0.0,
        }
    }

    fn line(&self, rate: f64, limit: f64) -> String {
        format!(
            "{} MATCH, {} need attention · {} photos, {} sent · {rate:.1}/{limit} req/s",
            self.matched,
            self.attention,
            self.photos,
            HumanBytes(self.bytes)
        )
    }
}

/// The progress of one batch of rows: a bar when the mode resolves to one, else nothing (the
/// per-row log lines are the progress then).
pub struct Progress<'a> {
    bar: Option<ProgressBar>,
    limit: f64,
    /// API requests sent so far, read when a row finishes.
    requests: Box<dyn Fn() -> u64 + Sync + 'a>,
    counts: Mutex<Counts>,
}

impl<'a> Progress<'a> {
    /// Start showing `total` rows, sent at most at `limit` requests per second.
    pub fn start(
        mode: ProgressMode,
        quiet: bool,
        total: usize,
        limit: f64,
        requests: impl Fn() -> u64 + Sync + 'a,
    ) -> Progress<'a> {
        let bar = (mode.resolve(quiet) == ProgressMode::Bar).then(|| new_bar(mode, total));
        if let Some(bar) = &bar {
            *shown() = Some(bar.clone());
        }
        let progress = Progress {
            bar,
            limit,
            requests: Box::new(requests),
            counts: Mutex::new(Counts::default()),
        };
        progress.redraw(&mut progress.counts());
        progress
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn redraw(&self, counts: &mut Counts) {
        if let Some(bar) = &self.bar {
            let rate = counts.rate(Instant::now(), (self.requests)());
            bar.set_message(counts.line(rate, self.limit));
        }
    }

    /// A row finished. A row that needs attention is also named above the bar, since the bar
    /// replaces the per-row lines on stderr.
    pub fn row_done(&self, r: &RowResult) {
        let Some(bar) = &self.bar else { return };
        let mut counts = self.counts();
        counts.add(r);
        bar.inc(1);
        self.redraw(&mut counts);
        if r.status != RowStatus::Match {
            let message = match r.message.as_str() {
                "" => String::new(),
                m => format!(": {}", escape_control(m)),
            };
            bar.println(format!(
                "row {} {} {}{message}",
                r.row,
                escape_control(&r.fields.nomor_aju),
                r.status
            ));
        }
    }

    /// Take the bar off the screen (before the summary is printed). Also done on drop.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            // One run shows one bar at a time: the one on screen is this one.
            let mut shown = shown();
            bar.finish_and_clear();
            *shown = None;
        }
    }
}

impl Drop for Progress<'_> {
    fn drop(&mut self) {
        self.finish();
    }
}

fn new_bar(mode: ProgressMode, total: usize) -> ProgressBar {
    // `bar` draws even where stderr is not detected as a terminal; `auto` only got here on one.
    let target = match mode {
        ProgressMode::Bar => {
            ProgressDrawTarget::term_like_with_hz(Box::new(console::Term::stderr()), 10)
        }
        _ => ProgressDrawTarget::stderr_with_hz(10),
    };
    let style = ProgressStyle::with_template(
        "[{elapsed_precise}] {wide_bar} {pos}/{len} rows · ETA {eta}\n{msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    let bar = ProgressBar::with_draw_target(Some(total as u64), target).with_style(style);
    bar.enable_steady_tick(Duration::from_millis(500));
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_lines_are_the_fallback_off_a_terminal() {
        for name in ["auto", "bar", "lines", "none"] {
            let mode: ProgressMode = name.parse().unwrap();
            assert_eq!(mode.to_string(), name);
        }
        assert!("spinner".parse::<ProgressMode>().is_err());
        // Tests run with stderr captured, not on a terminal.
        if !io::stderr().is_terminal() {
            assert_eq!(ProgressMode::Auto.resolve(false), ProgressMode::Lines);
        }
        assert_eq!(ProgressMode::Auto.resolve(true), ProgressMode::None);
        assert_eq!(ProgressMode::Bar.resolve(true), ProgressMode::Bar);
    }

    #[test]
    fn the_rate_is_taken_over_the_last_seconds() {
        let mut c = Counts::default();
        let t0 = Instant::now();
        assert_eq!(c.rate(t0, 0), 0.0);
        let rate = c.rate(t0 + Duration::from_secs(2), 10);
        assert!((rate - 5.0).abs() < 1e-9, "{rate}");
        // Ten seconds later at a slower pace: the first samples have left the window.
        c.rate(t0 + Duration::from_secs(8), 16);
        let rate = c.rate(t0 + Duration::from_secs(12), 20);
        assert!((rate - 1.0).abs() < 1e-9, "{rate}");
    }
}
