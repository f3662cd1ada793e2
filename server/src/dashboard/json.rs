//! The JSON the dashboard and the local API speak about a session (DESIGN.md "Dashboard",
//! seed 004's `SessionInfo` plus `command`, `clients`, `cols`, `rows`, `url`).
//!
//! Built by hand from [`Session::info`] rather than derived, because the wire names are
//! the original's camelCase ones and the local protocol's `SessionInfo` stays binary.

use serde_json::{json, Value};

use crate::session::{now_ms, Session};
use crate::web::auth::query_token;

/// A session as the dashboard lists it: [`public`] plus `token` (the session token from
/// its phone URL, so the page can build the link itself when `url` is absent) and `url`.
/// Only for the dashboard's authenticated WebSocket; never for the local API.
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

/// A session without any secret: no token, key or link. The local API on 127.0.0.1
/// answers every local account, so this is all it may say (DESIGN.md "Security model").
pub fn public(s: &Session) -> Value {
    let mut value = session(s);
    if let Value::Object(fields) = &mut value {
        fields.remove("token");
        fields.remove("url");
    }
    value
}

/// The answer to `get-metadata`.
pub fn metadata(s: &Session) -> Value {
    let info = s.info();
    json!({
        "pid": info.pid,
        "agent": info.command.first(),
        "cwd": info.cwd,
        "port": info.port,
        // 0 where it cannot be read (other systems, a process that just ended).
        "memoryKB": crate::process::resident_kib(info.pid).unwrap_or(0),
        "uptimeMs": now_ms().saturating_sub(info.started_at_ms),
        "connectedAt": info.started_at_ms,
    })
}
