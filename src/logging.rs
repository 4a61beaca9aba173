//! Logging: human lines on stderr (colour only on a terminal, and never with `NO_COLOR`) and the
//! full log in `<run>/run.log`; or, with `--log-format json`, one JSON object per line in both
//! (see [`json`]). Lines for stderr go above the progress bar when one is shown.
//! The run folder does not exist when logging starts, so the file layer writes to a sink that
//! discards until [`LogHandle::log_to_file`] points it at run.log.
//! Nothing logs a secret: `Secret` prints as `***`, and the HTTP crates are kept at `info`, below
//! the levels at which they would dump headers.
//! Messages carry values from the manifest, the file system and the server: every field is passed
//! through [`escape_control`], so that a line break or an escape sequence in a cell can neither
//! forge a line of run.log nor drive the terminal.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use tracing::field::Field;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::field::MakeExt;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::{self, Writer};

use crate::escape::escape_control;
use crate::progress::{self, ProgressMode};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

mod json;

/// The target of the span around each row in the workers (fields `row`, `nomorAju`, and once the
/// row is done `status`, `action`, `duration_ms`). Only the JSON format shows it: in text the
/// messages already name the row.
pub const ROW_CONTEXT: &str = "kirim_xray::row_context";
/// The target of the one line each finished row gets (`[12/300] row 13 MATCH 2/2 photos`); the
/// progress bar takes its place on stderr.
pub const ROW_DONE: &str = "kirim_xray::row_done";

/// The context of every log line about one row: its number and nomorAju, and once it is done
/// its `status`, `action` and `duration_ms` (recorded by the workers). Only the JSON format shows
/// it. At the level ERROR so that it is enabled whatever the level: a warning about a row under
/// `--quiet` still says which row.
pub fn row_span(row: usize, nomor_aju: &str) -> tracing::Span {
    tracing::span!(
        target: ROW_CONTEXT,
        tracing::Level::ERROR,
        "row",
        row,
        nomorAju = nomor_aju,
        status = tracing::field::Empty,
        action = tracing::field::Empty,
        duration_ms = tracing::field::Empty,
    )
}

/// `--log-format`: how lines are written to stderr and run.log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Lines for people: time, level, message, `name=value` fields.
    #[default]
    Text,
    /// One JSON object per line, for a log shipper.
    Json,
}

impl FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(format!("log format \"{s}\" is not one of text, json")),
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        })
    }
}

/// A writer that discards until it is given a file.
#[derive(Clone, Default)]
struct FileSink(Arc<Mutex<Option<File>>>);

impl Write for FileSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // A poisoned lock only means another thread panicked mid-line: keep logging.
        let mut guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match guard.as_mut() {
            Some(file) => file.write(buf),
            None => Ok(buf.len()),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        let mut guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match guard.as_mut() {
            Some(file) => file.flush(),
            None => Ok(()),
        }
    }
}

impl<'a> MakeWriter<'a> for FileSink {
    type Writer = FileSink;
    fn make_writer(&'a self) -> FileSink {
        self.clone()
    }
}

/// Points the file layer at run.log once the run folder exists.
#[derive(Clone, Default)]
pub struct LogHandle {
    sink: FileSink,
}

impl LogHandle {
    pub fn log_to_file(&self, path: &Path) -> io::Result<()> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        *self.sink.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(file);
        Ok(())
    }
}

/// Stderr, by way of the progress bar: each log line is written whole, above the bar.
#[derive(Clone, Copy, Default)]
struct Stderr;

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        progress::write_stderr(buf)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

impl<'a> MakeWriter<'a> for Stderr {
    type Writer = Stderr;
    fn make_writer(&'a self) -> Stderr {
        Stderr
    }
}

/// `level` for our code; the HTTP crates at most at `info`; then `extra` directives.
fn filter(level: &str, extra: &[&str]) -> EnvFilter {
    let mut directives =
        format!("{level},hyper=info,hyper_util=info,reqwest=info,rustls=info,h2=info");
    for directive in extra {
        directives.push(',');
        directives.push_str(directive);
    }
    EnvFilter::try_new(directives).unwrap_or_else(|_| EnvFilter::new("info"))
}

/// Colour on stderr: only on a terminal, and not when `NO_COLOR` is set to anything
/// (<https://no-color.org>).
fn colour() -> bool {
    io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// One field of a log line, escaped: the message as it is, other fields as `name=value`.
fn write_field(w: &mut Writer<'_>, field: &Field, value: &dyn std::fmt::Debug) -> std::fmt::Result {
    let text = format!("{value:?}");
    match field.name() {
        "message" => write!(w, "{}", escape_control(&text)),
        name => write!(w, "{name}={}", escape_control(&text)),
    }
}

/// Install the global subscriber with text lines. `quiet` keeps stderr to warnings and errors;
/// run.log always gets `level`.
pub fn init(level: &str, quiet: bool) -> LogHandle {
    init_with(level, quiet, LogFormat::Text, ProgressMode::Auto)
}

type BoxedLayer = Box<dyn tracing_subscriber::Layer<tracing_subscriber::Registry> + Send + Sync>;

/// Install the global subscriber. Calling it again (tests) keeps the first subscriber and returns
/// a handle that only writes to its own sink.
pub fn init_with(level: &str, quiet: bool, format: LogFormat, progress: ProgressMode) -> LogHandle {
    let handle = LogHandle::default();
    let stderr_level = if quiet { "warn" } else { level };
    // The row span adds nothing to a text line; the per-row lines give way to the bar (or to
    // nothing, with `--progress none`) on stderr, never in run.log.
    let no_row_context = format!("{ROW_CONTEXT}=off");
    let no_row_done = format!("{ROW_DONE}=off");
    let mut stderr_extra = Vec::new();
    let mut file_extra = Vec::new();
    if format == LogFormat::Text {
        stderr_extra.push(no_row_context.as_str());
        file_extra.push(no_row_context.as_str());
    }
    if !progress.resolve(quiet).row_lines() {
        stderr_extra.push(no_row_done.as_str());
    }
    let (stderr, file): (BoxedLayer, BoxedLayer) = match format {
        LogFormat::Text => (
            tracing_subscriber::fmt::layer()
                .with_writer(Stderr)
                .with_ansi(colour())
                .with_target(false)
                .fmt_fields(format::debug_fn(write_field).delimited(" "))
                .with_filter(filter(stderr_level, &stderr_extra))
                .boxed(),
            tracing_subscriber::fmt::layer()
                .with_writer(handle.sink.clone())
                .with_ansi(false)
                .fmt_fields(format::debug_fn(write_field).delimited(" "))
                .with_filter(filter(level, &file_extra))
                .boxed(),
        ),
        LogFormat::Json => (
            json::JsonLayer::new(Stderr)
                .with_filter(filter(stderr_level, &stderr_extra))
                .boxed(),
            json::JsonLayer::new(handle.sink.clone())
                .with_filter(filter(level, &file_extra))
                .boxed(),
        ),
    };
    let _ = tracing_subscriber::registry()
        .with(vec![stderr, file])
        .try_init();
    handle
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sink_discards_until_pointed_at_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let handle = LogHandle::default();
        let mut w = handle.sink.make_writer();
        w.write_all(b"before\n").unwrap();
        let path = dir.path().join("run.log");
        handle.log_to_file(&path).unwrap();
        w.write_all(b"after\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "after\n");
    }

    #[test]
    fn a_value_cannot_forge_a_log_line_or_reach_the_terminal_raw() {
        use tracing_subscriber::layer::SubscriberExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.log");
        let handle = LogHandle::default();
        handle.log_to_file(&path).unwrap();
        let layer = tracing_subscriber::fmt::layer()
            .with_writer(handle.sink.clone())
            .with_ansi(false)
            .fmt_fields(format::debug_fn(write_field).delimited(" "));
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            let cell = "AJU1\n2025-01-02T00:00:00Z ERROR forged\u{1b}[2J\r\0";
            tracing::warn!(row = cell, "row 2: {cell}");
        });
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(!text.trim_end().chars().any(char::is_control), "{text:?}");
        assert!(
            text.contains("row 2: AJU1\\n2025-01-02T00:00:00Z ERROR forged\\u{1b}[2J\\r\\0"),
            "{text}"
        );
        assert!(text.contains("row=\"AJU1\\n"), "{text}");
    }
}
