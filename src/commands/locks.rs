//! The locks of a run that may talk to the API: its output folder (two runs never write the same
//! `--out`) and its account (two runs for the same gateway account never send side by side on one
//! host, from whatever `--out`). Either one held by another run ends the command with exit 4 and
//! a message naming the holder.

use std::path::Path;

use chrono::{DateTime, Utc};

use crate::api::Credentials;
use crate::config::Settings;
use crate::exit::Exit;
use crate::runfolder::{self, Account, AccountLock, OutLock};

/// The locks a run holds while it may talk to the API; released when dropped.
#[derive(Debug)]
pub struct Locks {
    pub out: OutLock,
    /// `None` only for settings without credentials (a command that never sends).
    pub account: Option<AccountLock>,
}

/// A lock that could not be taken, printed: exit 4 when another run holds it.
fn refused(e: runfolder::LockError) -> Exit {
    crate::eprintln_escaped!("kirim-xray: {e}");
    if e.is_held() {
        Exit::Locked
    } else {
        Exit::Usage
    }
}

/// Take the lock of `out`, printing why not (exit 4 when another run holds it).
pub fn lock(out: &Path, at: DateTime<Utc>) -> Result<OutLock, Exit> {
    runfolder::lock_out(out, at).map_err(refused)
}

/// The account the settings send as, for its host-wide lock; `None` without credentials.
/// URLs are compared in their parsed form (`HTTP://GW:443/x/` is `https://gw/x`).
pub fn account_of(settings: &Settings) -> Option<Account> {
    let canonical = |url: &str| {
        reqwest::Url::parse(url).map_or(url.to_string(), |u| {
            u.as_str().trim_end_matches('/').to_string()
        })
    };
    let (api, auth) = (canonical(&settings.api_url), canonical(&settings.auth_url));
    Some(match settings.credentials.as_ref()? {
        Credentials::Login { username, .. } => Account::new(&api, &auth, Some(username), None),
        Credentials::Token(token) => Account::new(&api, &auth, None, Some(token.expose())),
    })
}

/// Take the lock of the account in the host-wide lock folder (exit 4 when another run for the
/// same account holds it, from whatever out folder), and name `run_dir` in it when known.
pub fn lock_account(
    settings: &Settings,
    at: DateTime<Utc>,
    run_dir: Option<&Path>,
) -> Result<Option<AccountLock>, Exit> {
    let Some(account) = account_of(settings) else {
        return Ok(None);
    };
    let mut lock = runfolder::lock_account(&settings.lock_dir, &account, at).map_err(refused)?;
    if let Some(dir) = run_dir {
        record_run_dir(&mut lock, dir);
    }
    Ok(Some(lock))
}

pub fn record_run_dir(lock: &mut AccountLock, run_dir: &Path) {
    if let Err(e) = lock.record_run_dir(run_dir) {
        tracing::warn!(
            "cannot write the run folder into {}: {e}",
            lock.path.display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Secret;
    use crate::config::Layer;

    fn settings(api: &str, credentials: Option<Credentials>) -> Settings {
        let flags = Layer {
            api_url: Some(api.into()),
            auth_url: Some("https://gw.example".into()),
            ..Layer::default()
        };
        Settings::from_layers(flags, Layer::default(), Layer::default(), credentials).unwrap()
    }

    #[test]
    fn the_account_is_the_gateway_and_the_user_or_the_token() {
        let login = |user: &str| {
            Some(Credentials::Login {
                username: user.into(),
                password: Secret::new("pw"),
            })
        };
        let a = account_of(&settings(
            "https://gw.example/openapi/cnpibk",
            login("demo"),
        ))
        .unwrap();
        let same = account_of(&settings(
            "HTTPS://GW.example:443/openapi/cnpibk/",
            login("demo"),
        ));
        assert_eq!(Some(&a), same.as_ref(), "the same URL written otherwise");
        assert_eq!(a.label, "user demo at https://gw.example/openapi/cnpibk");
        let other = account_of(&settings("https://gw.example/openapi/cnpibk", login("ops")));
        assert_ne!(Some(&a), other.as_ref());
        let token = account_of(&settings(
            "https://gw.example/openapi/cnpibk",
            Some(Credentials::Token(Secret::new("s3cr3t"))),
        ))
        .unwrap();
        assert_ne!(a, token);
        assert!(!token.label.contains("s3cr3t"), "{}", token.label);
        assert_eq!(account_of(&settings("https://gw.example/x", None)), None);
    }
}
