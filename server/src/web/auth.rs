//! Who may open a session's page and WebSocket: the session token (from `?token=` or the
//! cookie set on the first page load), a per-IP failure limit, and the `Origin` check.
//!
//! Tokens are compared in constant time. The failure map is bounded: entries whose window
//! and block have passed are pruned, and when it is still full the oldest entry is
//! evicted, so no number of hostile addresses can grow server memory. Tokens never appear
//! in logs.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hyper::header::{COOKIE, HOST, ORIGIN};
use hyper::{HeaderMap, Uri};
use subtle::ConstantTimeEq;

/// Failures from one address within [`WINDOW`] that block it.
const MAX_FAILURES: u32 = 5;
/// How long failures are remembered, and how long a block lasts.
const WINDOW: Duration = Duration::from_secs(60);
/// Most addresses tracked; far more than a LAN has, small enough to scan when pruning.
const MAX_ENTRIES: usize = 1024;

/// The outcome of checking a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The token is right.
    Allowed,
    /// Wrong or missing token (HTTP 401); counted.
    Unauthorized,
    /// Too many failures from this address (HTTP 429).
    Blocked,
    /// The `Origin` is not this page's host (HTTP 403).
    ForeignOrigin,
}

/// Where a valid token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The `token` query parameter: the page redirects to drop it.
    Query,
    /// The cookie.
    Cookie,
}

#[derive(Debug)]
struct Failures {
    count: u32,
    since: Instant,
    blocked_until: Option<Instant>,
}

/// A session's token and its failure bookkeeping.
/// How long the browser keeps a token cookie: a year (browsers cap it near there).
const COOKIE_MAX_AGE_SECS: u32 = 365 * 24 * 3600;

pub struct Auth {
    token: String,
    cookie_name: String,
    /// Failures per address. Held only for a lookup or an update, never across `.await`.
    failures: Mutex<HashMap<IpAddr, Failures>>,
}

impl Auth {
    /// Checks tokens against `token`; the cookie is named after the port so sessions on
    /// one host keep separate cookies.
    pub fn new(token: String, port: u16) -> Self {
        Self {
            token,
            cookie_name: format!("iws_{port}"),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// The `Set-Cookie` value that keeps the token in the browser, out of the URL. It
    /// outlives the browser session, so a page reopened later (or the installed web app)
    /// still gets in while the token is valid.
    pub fn set_cookie(&self) -> String {
        format!(
            "{}={}; HttpOnly; SameSite=Strict; Path=/; Max-Age={COOKIE_MAX_AGE_SECS}",
            self.cookie_name, self.token
        )
    }

    /// Checks a request from `ip`; failures are counted towards a block.
    pub fn check(&self, ip: IpAddr, uri: &Uri, headers: &HeaderMap) -> (Verdict, Option<Source>) {
        let now = Instant::now();
        if self.is_blocked(ip, now) {
            return (Verdict::Blocked, None);
        }
        if !same_origin(headers) {
            return (Verdict::ForeignOrigin, None);
        }
        let source = match query_token(uri.query()) {
            Some(t) => self.matches(t).then_some(Source::Query),
            None => cookie_tokens(headers, &self.cookie_name)
                .any(|t| self.matches(t))
                .then_some(Source::Cookie),
        };
        match source {
            Some(source) => (Verdict::Allowed, Some(source)),
            None => {
                self.fail(ip, now);
                (Verdict::Unauthorized, None)
            }
        }
    }

    fn matches(&self, candidate: &str) -> bool {
        candidate.as_bytes().ct_eq(self.token.as_bytes()).into()
    }

    fn is_blocked(&self, ip: IpAddr, now: Instant) -> bool {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures
            .get(&ip)
            .and_then(|f| f.blocked_until)
            .is_some_and(|until| until > now)
    }

    /// Counts a failure. The 5th failure within the window is itself answered 401; the
    /// block starts with the next request.
    fn fail(&self, ip: IpAddr, now: Instant) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if !failures.contains_key(&ip) && failures.len() >= MAX_ENTRIES {
            failures.retain(|_, f| {
                now.duration_since(f.since) < WINDOW || f.blocked_until.is_some_and(|u| u > now)
            });
            if failures.len() >= MAX_ENTRIES {
                let oldest = failures
                    .iter()
                    .min_by_key(|(_, f)| f.since)
                    .map(|(ip, _)| *ip);
                if let Some(oldest) = oldest {
                    failures.remove(&oldest);
                }
            }
        }
        let entry = failures.entry(ip).or_insert(Failures {
            count: 0,
            since: now,
            blocked_until: None,
        });
        if now.duration_since(entry.since) >= WINDOW {
            *entry = Failures {
                count: 0,
                since: now,
                blocked_until: None,
            };
        }
        entry.count += 1;
        if entry.count >= MAX_FAILURES {
            entry.blocked_until = Some(now + WINDOW);
            tracing::warn!(%ip, "blocking an address for 60 s after {MAX_FAILURES} failed logins");
        }
    }
}

/// The `token` query parameter, if present.
pub fn query_token(query: Option<&str>) -> Option<&str> {
    query?
        .split('&')
        .find_map(|pair| pair.strip_prefix("token="))
}

/// The query without its `token` parameter, for the redirect after the cookie is set.
pub fn query_without_token(query: Option<&str>) -> String {
    query
        .unwrap_or("")
        .split('&')
        .filter(|pair| !pair.is_empty() && *pair != "token" && !pair.starts_with("token="))
        .collect::<Vec<_>>()
        .join("&")
}

fn cookie_tokens<'a>(headers: &'a HeaderMap, name: &'a str) -> impl Iterator<Item = &'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(move |pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name).then_some(v)
        })
}

/// Whether the request has no `Origin`, or one whose host and port are the `Host` header's.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(ORIGIN) else {
        return true;
    };
    let Some(host) = headers.get(HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let Some(origin) = origin.to_str().ok() else {
        return false;
    };
    let (scheme, authority) = match origin.split_once("://") {
        Some((scheme, rest)) => (scheme, rest.trim_end_matches('/')),
        None => return false, // "null" and other opaque origins
    };
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => "80",
        "https" => "443",
        _ => return false,
    };
    normalise(authority, default_port) == normalise(host, default_port)
}

/// `host[:port]` lowercased with the port made explicit.
fn normalise(authority: &str, default_port: &str) -> String {
    let authority = authority.to_ascii_lowercase();
    let has_port = match authority.rfind(':') {
        // An IPv6 literal has colons inside its brackets.
        Some(i) => !authority[i..].contains(']'),
        None => false,
    };
    if has_port {
        authority
    } else {
        format!("{authority}:{default_port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(uri: &str, headers: &[(&str, &str)]) -> (Uri, HeaderMap) {
        let mut req = hyper::Request::builder().uri(uri);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let parts = req.body(()).unwrap().into_parts().0;
        (parts.uri, parts.headers)
    }

    impl Auth {
        fn check_parts(
            &self,
            ip: IpAddr,
            (uri, headers): &(Uri, HeaderMap),
        ) -> (Verdict, Option<Source>) {
            self.check(ip, uri, headers)
        }
    }

    #[test]
    fn tokens_cookies_origins_and_blocking() {
        let auth = Auth::new("t0k".into(), 8000);
        let ip: IpAddr = "10.0.0.2".parse().unwrap();
        let ok = parts("/?a=1&token=t0k", &[("host", "h:8000")]);
        assert_eq!(
            auth.check_parts(ip, &ok),
            (Verdict::Allowed, Some(Source::Query))
        );
        let cookie = parts("/", &[("cookie", "x=1; iws_8000=t0k"), ("host", "h:8000")]);
        assert_eq!(auth.check_parts(ip, &cookie).1, Some(Source::Cookie));
        let other_port = parts("/", &[("cookie", "iws_8001=t0k")]);
        assert_eq!(auth.check_parts(ip, &other_port).0, Verdict::Unauthorized);
        let foreign = parts(
            "/?token=t0k",
            &[("host", "h:8000"), ("origin", "http://evil:8000")],
        );
        assert_eq!(auth.check_parts(ip, &foreign).0, Verdict::ForeignOrigin);
        let own = parts(
            "/?token=t0k",
            &[("host", "H:8000"), ("origin", "http://h:8000")],
        );
        assert_eq!(auth.check_parts(ip, &own).0, Verdict::Allowed);
        let bad = parts("/?token=nope", &[]);
        for _ in 0..4 {
            assert_eq!(auth.check_parts(ip, &bad).0, Verdict::Unauthorized);
        }
        assert_eq!(auth.check_parts(ip, &ok).0, Verdict::Blocked);
        let elsewhere: IpAddr = "10.0.0.3".parse().unwrap();
        assert_eq!(auth.check_parts(elsewhere, &ok).0, Verdict::Allowed);
        assert_eq!(query_without_token(Some("a=1&token=t0k&b")), "a=1&b");
    }
}
