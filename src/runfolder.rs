//! The run folder: `<out>/<UTC yyyymmddThhmmssZ>/`, the `<out>/latest` link, and the locks: one
//! that keeps two runs off the same `<out>`, and one per gateway account in a host-wide folder,
//! so that two runs for the same account (a cron job and an operator, from different `--out`
//! folders) never send side by side: together they would add the same photos and send twice the
//! rate. Both are OS file locks, so the kernel releases them when the process dies however it
//! dies: a killed run never leaves a stale lock behind.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};

pub const LOCK_FILE: &str = ".lock";
pub const LATEST: &str = "latest";

/// Why the output folder or the account could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds the lock of the output folder (exit 4).
    #[error("another run holds {path} (pid {pid}, started {started})")]
    Held {
        path: PathBuf,
        pid: String,
        started: String,
    },
    /// Another process holds the lock of the same account (exit 4).
    #[error(
        "another run for the same account ({account}) holds {path}: pid {pid}, run folder {run_dir}, started {started}"
    )]
    AccountHeld {
        path: PathBuf,
        account: String,
        pid: String,
        run_dir: String,
        started: String,
    },
    #[error("cannot lock {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

impl LockError {
    /// Another process holds the lock (as opposed to a lock that could not be taken at all).
    pub fn is_held(&self) -> bool {
        matches!(self, LockError::Held { .. } | LockError::AccountHeld { .. })
    }
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
    (lock_field(text, "pid"), lock_field(text, "started"))
}

/// A `name value` line of a lock file, or "unknown".
fn lock_field(text: &str, name: &str) -> String {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(name)
                .and_then(|v| v.strip_prefix(' '))
                .map(|v| v.trim().to_string())
        })
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// Who a run sends as: the lock key and how messages name the account. The key is a digest of
/// the gateway (API and login URLs) and the user name, or of a digest of a ready token: the lock
/// folder is shared by every user of the host, so neither a token nor any other secret may appear
/// in a file name or a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub key: String,
    /// `user demo at https://...`, or `a token at https://...`.
    pub label: String,
}

impl Account {
    pub fn new(api_url: &str, auth_url: &str, user: Option<&str>, token: Option<&str>) -> Account {
        use sha2::{Digest, Sha256};
        let who = match (user, token) {
            (Some(user), _) => format!("user {user}"),
            (None, Some(token)) => format!("token {}", hex::encode(Sha256::digest(token))),
            (None, None) => "nobody".into(),
        };
        let text = format!("kirim-xray account\n{api_url}\n{auth_url}\n{who}\n");
        let key = hex::encode(Sha256::digest(text.as_bytes()));
        let label = match user {
            Some(user) => format!("user {user} at {api_url}"),
            None => format!("the same token at {api_url}"),
        };
        Account { key, label }
    }

    /// The lock file of this account under `lock_dir`.
    pub fn lock_path(&self, lock_dir: &Path) -> PathBuf {
        lock_dir.join(format!("account-{}.lock", &self.key[..32]))
    }
}

/// The held lock of one account on this host; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct AccountLock {
    file: File,
    /// Whether this process can write the holder's details into the file (it may belong to
    /// another user and not be writable: the lock itself holds anyway).
    writable: bool,
    started: DateTime<Utc>,
    pub path: PathBuf,
}

impl AccountLock {
    /// Say which run folder holds the lock, for a run that is refused while it does.
    pub fn record_run_dir(&mut self, run_dir: &Path) -> io::Result<()> {
        self.write_holder(&run_dir.display().to_string())
    }

    fn write_holder(&mut self, run_dir: &str) -> io::Result<()> {
        if !self.writable {
            return Ok(());
        }
        let text = format!(
            "pid {}\nrun_dir {run_dir}\nstarted {}\n",
            std::process::id(),
            self.started.to_rfc3339_opts(SecondsFormat::Secs, true)
        );
        self.file.set_len(0)?;
        self.file.seek(SeekFrom::Start(0))?;
        self.file.write_all(text.as_bytes())?;
        self.file.sync_data()
    }
}

/// Take the lock of `account` in the host-wide `lock_dir`, creating both as needed. The folder
/// is made world-writable with the sticky bit (like /tmp), and a lock file readable and writable
/// by all, so that a cron user and an operator lock each other out whoever came first. A lock
/// file that this user cannot write is still locked, through a read-only handle.
pub fn lock_account(
    lock_dir: &Path,
    account: &Account,
    started: DateTime<Utc>,
) -> Result<AccountLock, LockError> {
    let path = account.lock_path(lock_dir);
    let io_err = |source| LockError::Io {
        path: path.clone(),
        source,
    };
    make_shared_dir(lock_dir).map_err(io_err)?;
    let (file, writable) = open_shared_file(&path).map_err(io_err)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = (&file).read_to_string(&mut text);
            return Err(LockError::AccountHeld {
                path,
                account: account.label.clone(),
                pid: lock_field(&text, "pid"),
                run_dir: lock_field(&text, "run_dir"),
                started: lock_field(&text, "started"),
            });
        }
        Err(TryLockError::Error(e)) => return Err(io_err(e)),
    }
    let mut lock = AccountLock {
        file,
        writable,
        started,
        path: path.clone(),
    };
    if !writable {
        tracing::warn!(
            "{} belongs to another user and is not writable: locked, but a run refused meanwhile \
             will not see this run's details",
            path.display()
        );
    }
    lock.write_holder("(being created)").map_err(io_err)?;
    Ok(lock)
}

/// Create `dir` if needed; a folder this process creates is world-writable with the sticky bit.
fn make_shared_dir(dir: &Path) -> io::Result<()> {
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    match std::fs::create_dir(dir) {
        Ok(()) => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o1777))?;
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Open (or create, readable and writable by all) a lock file; read-only when it belongs to
/// another user who did not leave it writable. The second value says whether it is writable.
fn open_shared_file(path: &Path) -> io::Result<(File, bool)> {
    match OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)
    {
        Ok(file) => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                file.set_permissions(std::fs::Permissions::from_mode(0o666))?;
            }
            return Ok((file, true));
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    match OpenOptions::new().read(true).write(true).open(path) {
        Ok(file) => Ok((file, true)),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            Ok((OpenOptions::new().read(true).open(path)?, false))
        }
        Err(e) => Err(e),
    }
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

    #[test]
    fn one_account_one_run_whatever_the_out_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let locks = tmp.path().join("locks");
        let at = Utc.with_ymd_and_hms(2025, 3, 4, 5, 6, 7).unwrap();
        let demo = Account::new("http://gw/api", "http://gw", Some("demo"), None);
        let mut held = lock_account(&locks, &demo, at).unwrap();
        held.record_run_dir(Path::new("/srv/runs/20250304T050607Z"))
            .unwrap();
        match lock_account(&locks, &demo, Utc::now()) {
            Err(e @ LockError::AccountHeld { .. }) => {
                assert!(e.is_held());
                let msg = e.to_string();
                assert!(
                    msg.starts_with(
                        "another run for the same account (user demo at http://gw/api)"
                    ),
                    "{msg}"
                );
                assert!(
                    msg.ends_with(&format!(
                        "pid {}, run folder /srv/runs/20250304T050607Z, started 2025-03-04T05:06:07Z",
                        std::process::id()
                    )),
                    "{msg}"
                );
            }
            other => panic!("expected AccountHeld, got {other:?}"),
        }
        // Another user, another gateway: other locks.
        let other_user = Account::new("http://gw/api", "http://gw", Some("ops"), None);
        let other_gateway = Account::new("http://gw2/api", "http://gw", Some("demo"), None);
        assert!(lock_account(&locks, &other_user, at).is_ok());
        assert!(lock_account(&locks, &other_gateway, at).is_ok());
        drop(held);
        assert!(lock_account(&locks, &demo, at).is_ok(), "released on drop");
    }

    #[test]
    fn a_token_never_reaches_the_lock_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let token = "eyJSECRET-TOKEN-VALUE";
        let a = Account::new("http://gw/api", "http://gw", None, Some(token));
        assert_eq!(
            a,
            Account::new("http://gw/api", "http://gw", None, Some(token))
        );
        assert_ne!(
            a,
            Account::new("http://gw/api", "http://gw", None, Some("other"))
        );
        assert!(!a.label.contains("SECRET"), "{}", a.label);
        let mut lock = lock_account(tmp.path(), &a, Utc::now()).unwrap();
        lock.record_run_dir(Path::new("runs/x")).unwrap();
        for entry in std::fs::read_dir(tmp.path()).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            assert!(!name.contains("SECRET"), "{name}");
            let text = std::fs::read_to_string(entry.path()).unwrap();
            assert!(!text.contains("SECRET"), "{text}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn the_lock_folder_and_files_are_shared_by_every_user_of_the_host() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let locks = tmp.path().join("host/locks");
        let a = Account::new("http://gw/api", "http://gw", Some("demo"), None);
        let held = lock_account(&locks, &a, Utc::now()).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(&locks), 0o1777, "like /tmp");
        assert_eq!(mode(&held.path), 0o666, "whatever the umask");
        drop(held);
        // A lock file another user left read-only still locks (through a read-only handle
        // when this user cannot write it).
        std::fs::set_permissions(a.lock_path(&locks), std::fs::Permissions::from_mode(0o444))
            .unwrap();
        let again = lock_account(&locks, &a, Utc::now()).unwrap();
        assert!(matches!(
            lock_account(&locks, &a, Utc::now()),
            Err(LockError::AccountHeld { .. })
        ));
        drop(again);
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
