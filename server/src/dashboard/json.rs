//! The JSON the dashboard and the local API speak about a session (DESIGN.md "Dashboard",
//! seed 004's `SessionInfo` plus `command`, `clients`, `cols`, `rows`, `url`).
//!
//! Built by hand from [`Session::info`] rather than derived, because the wire names are
//! the original's camelCase ones and the local protocol's `SessionInfo` stays binary.

use serde_json::{json, Value};

use crate::session::{now_ms, Session};
use crate::web::auth::query_token;

/// A session as the dashboard lists it. `token` is the session token from its phone URL,
/// so the page can build the link itself when `url` is absent.
pub fn session(s: &Session) -> Value {
    let info = s.info();
    let token = info
        .url
        .as_deref()
        .and_then(|url| url.split_once('?'))
        .and_then(|(_, query)| query_token(Some(query)))
        .map(str::to_string);
    json!({
        "id": info.id,
        "name": info.name,
        "port": info.port,
        "token": token,
        "agent": info.command.first(),
        "cwd": info.cwd,
        "pid": info.pid,
        "connectedAt": info.started_at_ms,
        "lastSeen": info.last_seen_ms,
        "status": info.status.as_str(),
        "command": info.command.join(" "),
        "clients": info.clients,
        "cols": info.size.cols,
        "rows": info.size.rows,
        "url": info.url,
    })
}

/// The answer to `get-metadata`.
pub fn metadata(s: &Session) -> Value {
    let info = s.info();
    json!({
        "pid": info.pid,
        "agent": info.command.first(),
        "cwd": info.cwd,
        "port": info.port,
        "memoryKB": memory_kb(info.pid),
        "uptimeMs": now_ms().saturating_sub(info.started_at_ms),
        "connectedAt": info.started_at_ms,
    })
}

/// The resident memory of `pid` in KiB, from `/proc/PID/status` (`VmRSS`); 0 where that
/// is unavailable (other systems, or a process that just ended).
fn memory_kb(pid: u32) -> u64 {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return 0;
    };
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn memory_of_this_process_is_read_and_of_no_process_is_zero() {
        assert!(super::memory_kb(std::process::id()) > 0);
        assert_eq!(super::memory_kb(u32::MAX), 0);
    }
}
