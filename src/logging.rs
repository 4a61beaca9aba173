//! Logging: human lines on stderr (colour only on a terminal) and the full log in `<run>/run.log`.
//! The run folder does not exist when logging starts, so the file layer writes to a sink that
//! discards until [`LogHandle::log_to_file`] points it at run.log.
//! Nothing logs a secret: `Secret` prints as `***`, and the HTTP crates are kept at `info`, below
//! the levels at which they would dump headers.
//! Messages carry values from the manifest, the file system and the server: every field is passed
//! through [`escape_control`], so that a line break or an escape sequence in a cell can neither
//! forge a line of run.log nor drive the terminal.

use std::fs::{File, OpenOptions};
use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

use tracing::field::Field;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::field::MakeExt;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::{self, Writer};

use crate::escape::escape_control;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

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

fn filter(level: &str) -> EnvFilter {
    let directives = format!("{level},hyper=info,hyper_util=info,reqwest=info,rustls=info,h2=info");
    EnvFilter::try_new(directives).unwrap_or_else(|_| EnvFilter::new("info"))
}

/// One field of a log line, escaped: the message as it is, other fields as `name=value`.
fn write_field(w: &mut Writer<'_>, field: &Field, value: &dyn std::fmt::Debug) -> std::fmt::Result {
    let text = format!("{value:?}");
    match field.name() {
        "message" => write!(w, "{}", escape_control(&text)),
        name => write!(w, "{name}={}", escape_control(&text)),
    }
}

/// Install the global subscriber. `quiet` keeps stderr to warnings and errors; run.log always gets
/// `level`. Calling it again (tests) keeps the first subscriber and returns a handle that only
/// writes to its own sink.
pub fn init(level: &str, quiet: bool) -> LogHandle {
    let handle = LogHandle::default();
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(io::stderr)
        .with_ansi(io::stderr().is_terminal())
        .with_target(false)
        .fmt_fields(format::debug_fn(write_field).delimited(" "))
        .with_filter(filter(if quiet { "warn" } else { level }));
    let file = tracing_subscriber::fmt::layer()
        .with_writer(handle.sink.clone())
        .with_ansi(false)
        .fmt_fields(format::debug_fn(write_field).delimited(" "))
        .with_filter(filter(level));
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(file)
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
