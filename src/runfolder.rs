//! The run folder: `<out>/<UTC yyyymmddThhmmssZ>/`, the `<out>/latest` link, and the lock that
//! keeps two runs off the same `<out>`. The lock is an OS file lock, so the kernel releases it when
//! the process dies however it dies: a killed run never leaves a stale lock behind.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};

pub const LOCK_FILE: &str = ".lock";
pub const LATEST: &str = "latest";

/// Why the output folder could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds the lock (exit 4).
    #[error("another run holds {path} (pid {pid}, started {started})")]
    Held {
        path: PathBuf,
        pid: String,
        started: String,
    },
    #[error("cannot lock {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

/// The held lock of an output folder; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct OutLock {
    _file: File,
    pub path: PathBuf,
}

/// Create `out` if needed and take its lock, writing our pid and start time into it.
pub fn lock_out(out: &Path, started: DateTime<Utc>) -> Result<OutLock, LockError> {
    let path = out.join(LOCK_FILE);
    let io_err = |source| LockError::Io {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(out).map_err(io_err)?;
    // Not truncated on open: until we hold the lock, the text belongs to the holder.
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io_err)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            let (pid, started) = parse_lock_text(&text);
            return Err(LockError::Held { path, pid, started });
        }
        Err(TryLockError::Error(e)) => return Err(io_err(e)),
    }
    let text = format!(
        "pid {}\nstarted {}\n",
        std::process::id(),
        started.to_rfc3339_opts(SecondsFormat::Secs, true)
    );
    file.set_len(0)
        .and_then(|()| file.seek(SeekFrom::Start(0)))
        .and_then(|_| file.write_all(text.as_bytes()))
        .and_then(|()| file.sync_data())
        .map_err(io_err)?;
    Ok(OutLock { _file: file, path })
}

fn parse_lock_text(text: &str) -> (String, String) {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "unknown".into())
    };
    (field("pid "), field("started "))
}

/// The folder name of a run started at `at`.
pub fn run_dir_name(at: DateTime<Utc>) -> String {
    at.format("%Y%m%dT%H%M%SZ").to_string()
}

/// Create a fresh run folder under `out` (which must exist). The leaf is made with `create_dir`,
/// which fails when the folder exists, so two runs started within the same second still get
/// separate folders (`...Z`, `...Z-2`, `...Z-3`).
pub fn create_run_dir(out: &Path, at: DateTime<Utc>) -> io::Result<PathBuf> {
    let base = run_dir_name(at);
    for n in 1..=1000u32 {
        let name = if n == 1 {
            base.clone()
        } else {
            format!("{base}-{n}")
        };
        let dir = out.join(name);
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("cannot create run folder {}: {e}", dir.display()),
                ));
            }
        }
    }
    Err(io::Error::other(format!(
        "{}: 1000 run folders named {base} already exist",
        out.display()
    )))
}

/// Point `<out>/latest` at `run_dir`, replacing the old link atomically (a temporary link renamed
/// over it), so a reader always finds either the old or the new run. The link is relative, so the
/// whole `out` folder can be moved.
pub fn update_latest(out: &Path, run_dir: &Path) -> io::Result<()> {
    let name = run_dir
        .file_name()
        .ok_or_else(|| io::Error::other(format!("{} has no folder name", run_dir.display())))?;
    let tmp = out.join(format!(".latest.tmp-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    #[cfg(unix)]
    std::os::unix::fs::symlink(name, &tmp)?;
    #[cfg(not(unix))]
    std::fs::write(&tmp, name.to_string_lossy().as_bytes())?;
    std::fs::rename(&tmp, out.join(LATEST)).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn runs_started_in_the_same_second_get_separate_folders() {
        let out = tempfile::tempdir().unwrap();
        let at = Utc.with_ymd_and_hms(2025, 3, 4, 5, 6, 7).unwrap();
        let a = create_run_dir(out.path(), at).unwrap();
        let b = create_run_dir(out.path(), at).unwrap();
        let c = create_run_dir(out.path(), at).unwrap();
        assert_eq!(a.file_name().unwrap(), "20250304T050607Z");
        assert_eq!(b.file_name().unwrap(), "20250304T050607Z-2");
        assert_eq!(c.file_name().unwrap(), "20250304T050607Z-3");
        assert!(a.is_dir() && b.is_dir() && c.is_dir());
    }

    #[test]
    fn a_second_lock_fails_with_the_holders_pid_and_start() {
        let out = tempfile::tempdir().unwrap();
        let out = out.path().join("runs");
        let at = Utc.with_ymd_and_hms(2025, 3, 4, 5, 6, 7).unwrap();
        let held = lock_out(&out, at).unwrap();
        match lock_out(&out, Utc::now()) {
            Err(LockError::Held { pid, started, path }) => {
                assert_eq!(pid, std::process::id().to_string());
                assert_eq!(started, "2025-03-04T05:06:07Z");
                assert_eq!(path, out.join(".lock"));
                let msg = LockError::Held { path, pid, started }.to_string();
                assert!(msg.starts_with("another run holds "), "{msg}");
            }
            other => panic!("expected Held, got {other:?}"),
        }
        drop(held);
        let again = lock_out(&out, at);
        assert!(again.is_ok(), "released on drop: {again:?}");
    }

    #[cfg(unix)]
    #[test]
    fn latest_points_at_the_newest_run() {
        let out = tempfile::tempdir().unwrap();
        let at = Utc.with_ymd_and_hms(2025, 3, 4, 5, 6, 7).unwrap();
        let a = create_run_dir(out.path(), at).unwrap();
        update_latest(out.path(), &a).unwrap();
        let b = create_run_dir(out.path(), at).unwrap();
        update_latest(out.path(), &b).unwrap();
        let link = out.path().join(LATEST);
        assert_eq!(
            std::fs::read_link(&link).unwrap(),
            Path::new("20250304T050607Z-2")
        );
        assert_eq!(
            std::fs::canonicalize(&link).unwrap(),
            std::fs::canonicalize(&b).unwrap()
        );
    }
}
