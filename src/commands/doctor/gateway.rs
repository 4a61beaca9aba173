//! doctor's checks of the gateway, in the order a failure explains the next: DNS, then TLS with
//! the CA in force (and the server's `Date` header for the clock) for each URL, then login, a
//! token refresh and a get for a nomorAju that cannot exist, which must come back as the API's
//! own "not found" envelope: that proves the path and the token, where a wrong `--api-url` only
//! gets a gateway's HTML 404 page. The login, refresh and get go through the client a run uses.

use std::time::{Duration, SystemTime};

use reqwest::Url;
use reqwest::blocking::Client;

use super::{Blame, Check};
use crate::api::{Api, ApiError, HttpApi};
use crate::config::Settings;

/// A nomorAju no declaration can have (the real ones are 26 digits and more): customs must
/// answer that it holds nothing for it.
pub const PROBE_NOMOR_AJU: &str = "KIRIM-XRAY-DOCTOR-PROBE";

/// Clock skew beyond which the clock check fails.
const MAX_SKEW: Duration = Duration::from_secs(60);

/// Run the gateway checks, handing each to `report` as it completes.
pub fn checks(settings: &Settings, report: &mut dyn FnMut(Check)) {
    let mut reached = Vec::new();
    let mut server_date = None;
    let urls = [
        ("API URL", &settings.api_url),
        ("auth URL", &settings.auth_url),
    ];
    for (i, (what, url)) in urls.iter().enumerate() {
        if i == 1 && settings.auth_url == settings.api_url {
            break;
        }
        let (ok, date) = reach(what, url, settings, report);
        reached.push(ok);
        server_date = server_date.or(date);
    }
    report(clock(server_date));
    let auth_reached = *reached.last().unwrap_or(&false);
    let Some(api_settings) = settings.to_api_settings().ok() else {
        report(Check::skipped("login", "no credentials"));
        return;
    };
    if !auth_reached {
        report(Check::skipped("login", "the auth URL could not be reached"));
        return;
    }
    let api = match HttpApi::connect(&api_settings) {
        Ok(api) => api,
        Err(crate::api::ConnectError::Config(m)) => {
            report(Check::fail(
                Blame::Local,
                "login",
                m,
                "fix the setting named above",
            ));
            return;
        }
        Err(e) => {
            report(Check::fail(
                Blame::Gateway,
                "login",
                e.to_string(),
                "check KIRIM_XRAY_USERNAME / KIRIM_XRAY_PASSWORD (or KIRIM_XRAY_TOKEN) and --auth-url",
            ));
            return;
        }
    };
    report(Check::pass(
        "login",
        match &api_settings.credentials {
            crate::api::Credentials::Token(_) => "a ready token (checked by the get below)",
            crate::api::Credentials::Login { .. } => "a token was granted",
        },
    ));
    report(refresh(&api, &api_settings.credentials));
    if reached.first() == Some(&true) {
        report(probe_get(&api));
    } else {
        report(Check::skipped(
            "probe get",
            "the API URL could not be reached",
        ));
    }
}

/// DNS, then one plain GET of the base URL through TLS with the CA in force: any HTTP answer
/// proves the name, the route and the certificate. Returns whether it got one, and its `Date`.
fn reach(
    what: &str,
    url: &str,
    settings: &Settings,
    report: &mut dyn FnMut(Check),
) -> (bool, Option<SystemTime>) {
    let parsed = match Url::parse(url) {
        Ok(u) => u,
        Err(e) => {
            report(Check::fail(
                Blame::Local,
                what,
                format!("{url}: {e}"),
                "fix the URL",
            ));
            return (false, None);
        }
    };
    if !resolves(what, &parsed, report) {
        return (false, None);
    }
    let client = match probe_client(settings, url) {
        Ok(c) => c,
        Err(m) => {
            report(Check::fail(
                Blame::Local,
                "CA certificate",
                m,
                "give --ca-cert a PEM file",
            ));
            return (false, None);
        }
    };
    let name = if parsed.scheme() == "https" {
        format!("TLS {what}")
    } else {
        format!("connect {what}")
    };
    match client.get(url).send() {
        Ok(response) => {
            let date = response
                .headers()
                .get(reqwest::header::DATE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| httpdate::parse_http_date(v).ok());
            let how = match (&settings.ca_cert, parsed.scheme()) {
                (_, "http") => "plain http, no TLS".to_string(),
                (Some(ca), _) => format!("certificate trusted with {}", ca.display()),
                (None, _) => "certificate trusted by the system's CAs".to_string(),
            };
            report(Check::pass(
                &name,
                format!("{url} answered HTTP {} ({how})", response.status().as_u16()),
            ));
            (true, date)
        }
        Err(e) => {
            report(not_reached(&name, url, &e));
            (false, None)
        }
    }
}

/// The DNS check of the URL's host: whether it resolves.
fn resolves(what: &str, parsed: &Url, report: &mut dyn FnMut(Check)) -> bool {
    let host = parsed.host_str().unwrap_or_default().to_string();
    match parsed.socket_addrs(|| None) {
        Ok(addrs) if !addrs.is_empty() => {
            let shown: Vec<String> = addrs.iter().take(3).map(|a| a.ip().to_string()).collect();
            report(Check::pass(
                &format!("DNS {what}"),
                format!("{host} is {}", shown.join(", ")),
            ));
            true
        }
        Ok(_) | Err(_) => {
            report(Check::fail(
                Blame::Gateway,
                &format!("DNS {what}"),
                format!("{host} does not resolve"),
                "check the host name in the URL and this host's DNS (resolv.conf)",
            ));
            false
        }
    }
}

/// The check `name` failed: no HTTP answer from `url`, told apart as a TLS problem or not.
fn not_reached(name: &str, url: &str, e: &reqwest::Error) -> Check {
    let text = crate::api::error_chain(e);
    let lower = text.to_ascii_lowercase();
    let tls = ["certificate", "tls", "handshake", "ssl", "unknownissuer"]
        .iter()
        .any(|w| lower.contains(w));
    let (detail, fix) = if tls {
        (
            format!("TLS problem with {url}: {text}"),
            "the gateway's certificate is not trusted: pass its CA with --ca-cert \
             (KIRIM_XRAY_CA_CERT), or check the host name in the URL",
        )
    } else {
        (
            format!("{url} could not be reached: {text}"),
            "check the URL, a firewall or proxy on the way, and that the gateway is up",
        )
    };
    Check::fail(Blame::Gateway, name, detail, fix)
}

/// A client like the run's (same CA, no redirects, no proxy for plain http), for the reach check.
fn probe_client(settings: &Settings, url: &str) -> Result<Client, String> {
    let mut builder = Client::builder()
        .user_agent(concat!("kirim-xray/", env!("CARGO_PKG_VERSION")))
        .timeout(settings.timeout.min(Duration::from_secs(30)))
        .redirect(reqwest::redirect::Policy::none());
    if url.starts_with("http://") {
        builder = builder.no_proxy();
    }
    if let Some(path) = &settings.ca_cert {
        let pem =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("{} is not PEM: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!("{} holds no certificate", path.display()));
        }
        builder = builder.tls_certs_merge(certs);
    }
    builder
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// This host's clock against the server's `Date` header.
pub fn clock(server: Option<SystemTime>) -> Check {
    let Some(server) = server else {
        return Check::skipped("clock", "no Date header came back to compare with");
    };
    let now = SystemTime::now();
    let (skew, ahead) = match now.duration_since(server) {
        Ok(d) => (d, "ahead of"),
        Err(e) => (e.duration(), "behind"),
    };
    if skew <= MAX_SKEW {
        Check::pass(
            "clock",
            format!("within {} s of the server's", skew.as_secs().max(1)),
        )
    } else {
        Check::fail(
            Blame::Local,
            "clock",
            format!("{} s {ahead} the server's Date", skew.as_secs()),
            "set this host's clock with NTP (timedatectl set-ntp true): run folders, the journal \
             and the audit trail carry its times",
        )
    }
}

/// Renew the token once now, as a long run will every few minutes.
fn refresh(api: &HttpApi, credentials: &crate::api::Credentials) -> Check {
    if let crate::api::Credentials::Token(_) = credentials {
        return Check::skipped("refresh", "a ready token cannot be refreshed");
    }
    let result = api.renew_token();
    let stats = api.stats();
    let refreshed = stats
        .requests
        .get("update-token")
        .is_some_and(|o| o.contains_key("200"));
    match result {
        Ok(()) if refreshed => Check::pass("refresh", "update-token granted a new token"),
        Ok(()) => {
            let answered: Vec<String> = stats
                .requests
                .get("update-token")
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default();
            Check::fail(
                Blame::Gateway,
                "refresh",
                format!(
                    "update-token did not grant a token (answered {}); only a new login did",
                    if answered.is_empty() {
                        "nothing".into()
                    } else {
                        answered.join(", ")
                    }
                ),
                "check --auth-url; a run would log in again every few minutes instead",
            )
        }
        Err(e) => Check::fail(
            Blame::Gateway,
            "refresh",
            e.to_string(),
            "check --auth-url and the account with the gateway's operator",
        ),
    }
}

/// One get for [`PROBE_NOMOR_AJU`]: only the API's own "not found" proves the path and token.
fn probe_get(api: &HttpApi) -> Check {
    let name = "probe get";
    match api.get(PROBE_NOMOR_AJU) {
        Ok(None) => Check::pass(
            name,
            format!(
                "get-foto-xray for {PROBE_NOMOR_AJU} answered the API's own \"not found\": the path and the token are right"
            ),
        ),
        Ok(Some(_)) => Check::fail(
            Blame::Gateway,
            name,
            format!("get-foto-xray found a record for {PROBE_NOMOR_AJU}, which no declaration has"),
            "check --api-url: it does not seem to lead to the customs X-ray API",
        ),
        Err(e @ ApiError::Gateway { .. }) => Check::fail(
            Blame::Gateway,
            name,
            format!("the answer was not the API's: {e}"),
            "check --api-url (it must end in /openapi/cnpibk; the endpoints are under /xray/)",
        ),
        Err(
            e @ ApiError::Rejected {
                status: 401 | 403, ..
            },
        ) => Check::fail(
            Blame::Gateway,
            name,
            format!("the API refused the token: {e}"),
            "check that the account may use the X-ray API, and --auth-url",
        ),
        Err(e) => Check::fail(
            Blame::Gateway,
            name,
            e.to_string(),
            "check --api-url, and that the gateway is up",
        ),
    }
}
