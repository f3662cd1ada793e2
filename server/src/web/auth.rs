//! Who may try a key on a web port: the per-address failure limit and the `Origin` check
//! (DESIGN.md "Security model"). The keys themselves are proved inside the WebSocket
//! (`sealed`); nothing here reads a query, a cookie or any other secret.
//!
//! Only a failed proof counts (a wrong key, or no proof within the handshake's time
//! limit); a successful one clears the address, so the owner's own page can never lock
//! itself out. The failure map is bounded: entries whose window and block have passed are
//! pruned, and when it is still full the oldest entry is evicted, so no number of hostile
//! addresses can grow server memory.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hyper::header::{HOST, ORIGIN};
use hyper::HeaderMap;

/// Failures from one address within [`WINDOW`] that block it.
const MAX_FAILURES: u32 = 5;
/// How long failures are remembered, and how long a block lasts.
const WINDOW: Duration = Duration::from_secs(60);
/// Most addresses tracked; far more than a LAN has, small enough to scan when pruning.
const MAX_ENTRIES: usize = 1024;

#[derive(Debug)]
struct Failures {
    count: u32,
    since: Instant,
    blocked_until: Option<Instant>,
}

/// The failure bookkeeping of one port.
#[derive(Default)]
pub struct Auth {
    /// Failures per address. Held only for a lookup or an update, never across `.await`.
    failures: Mutex<HashMap<IpAddr, Failures>>,
}

impl Auth {
    /// An empty failure record.
    pub fn new() -> Self {
        Self::default()
    }

    /// How much longer `ip` is blocked, if it is.
    pub fn blocked_for(&self, ip: IpAddr) -> Option<Duration> {
        let now = Instant::now();
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures
            .get(&ip)
            .and_then(|f| f.blocked_until)
            .and_then(|until| until.checked_duration_since(now))
            .filter(|left| !left.is_zero())
    }

    /// A proof from `ip` failed (or never came).
    pub fn failed(&self, ip: IpAddr) {
        self.fail(ip, Instant::now());
    }

    /// A proof from `ip` succeeded: its failures are forgotten.
    pub fn succeeded(&self, ip: IpAddr) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures.remove(&ip);
    }

    /// Counts a failure. The 5th failure within the window blocks the address from the
    /// next attempt on.
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

/// Whether the request has no `Origin`, or one whose host and port are the `Host` header's.
pub fn same_origin(headers: &HeaderMap) -> bool {
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

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut req = hyper::Request::builder();
        for (k, v) in pairs {
            req = req.header(*k, *v);
        }
        req.body(()).unwrap().into_parts().0.headers
    }

    #[test]
    fn origins() {
        assert!(same_origin(&headers(&[("host", "h:8000")])));
        assert!(same_origin(&headers(&[
            ("host", "H:8000"),
            ("origin", "http://h:8000")
        ])));
        assert!(same_origin(&headers(&[
            ("host", "h"),
            ("origin", "http://h")
        ])));
        assert!(same_origin(&headers(&[
            ("host", "h:443"),
            ("origin", "https://h")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "h:8000"),
            ("origin", "http://evil:8000")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "h:8000"),
            ("origin", "null")
        ])));
        assert!(!same_origin(&headers(&[("origin", "http://h:8000")])));
    }

    #[test]
    fn five_failures_block_and_a_success_clears() {
        let auth = Auth::new();
        let ip: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..4 {
            auth.failed(ip);
        }
        assert_eq!(auth.blocked_for(ip), None);
        auth.succeeded(ip);
        for _ in 0..4 {
            auth.failed(ip);
        }
        assert_eq!(auth.blocked_for(ip), None, "the success cleared the count");
        auth.failed(ip);
        let left = auth.blocked_for(ip).unwrap();
        assert!(left > Duration::from_secs(59) && left <= WINDOW);
        let elsewhere: IpAddr = "10.0.0.3".parse().unwrap();
        assert_eq!(auth.blocked_for(elsewhere), None);
    }
}
