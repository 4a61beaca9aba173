//! Token lifetimes and the secrets a token holder must never show.

use super::*;

fn tokens(expires_in: Option<Duration>, margin: Duration) -> Tokens {
    Tokens {
        access: Secret::new("a"),
        refresh: Some(Secret::new("r")),
        expires_at: expires_in.map(|d| Instant::now() + d),
        refresh_expires_at: None,
        margin,
    }
}

#[test]
fn renewal_starts_inside_the_margin() {
    let now = Instant::now();
    let t = tokens(Some(Duration::from_secs(300)), Duration::from_secs(30));
    assert!(!t.needs_renewal(now));
    assert!(t.needs_renewal(now + Duration::from_secs(271)));
    assert!(t.still_valid(now + Duration::from_secs(271)));
    assert!(!t.still_valid(now + Duration::from_secs(301)));
    let ready = tokens(None, Duration::ZERO);
    assert!(!ready.needs_renewal(now + Duration::from_secs(100_000)));
    assert!(ready.still_valid(now + Duration::from_secs(100_000)));
}

#[test]
fn expired_refresh_token_is_not_used() {
    let now = Instant::now();
    let mut t = tokens(Some(Duration::from_secs(3)), Duration::from_secs(1));
    assert!(t.refresh_usable(now).is_some());
    t.refresh_expires_at = Some(now);
    assert!(t.refresh_usable(now).is_none());
}

#[test]
fn debug_output_hides_every_secret() {
    let auth = Auth::new(
        Credentials::Login {
            username: "demo".into(),
            password: Secret::new("hunter2"),
        },
        "http://127.0.0.1:1",
    );
    auth.state().tokens = Some(Tokens {
        access: Secret::new("access-token-value"),
        refresh: Some(Secret::new("refresh-token-value")),
        expires_at: None,
        refresh_expires_at: None,
        margin: Duration::ZERO,
    });
    let shown = format!("{auth:?}");
    for secret in ["hunter2", "access-token-value", "refresh-token-value"] {
        assert!(!shown.contains(secret), "{shown}");
    }
}
