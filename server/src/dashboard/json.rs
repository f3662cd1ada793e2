//! The JSON the dashboard and the local API speak about a session (DESIGN.md "Dashboard",
//! seed 004's `SessionInfo` plus `command`, `clients`, `clientKinds`, `cols`, `rows`,
//! `attentionMessage` (what the pending bell or notification said, else null), and,
//! for the dashboard only, `key`).
//!
//! Built by hand from [`Session::info`] rather than derived, because the wire names are
//! the original's camelCase ones and the local protocol's `SessionInfo` stays binary.

use serde_json::{json, Value};

use crate::session::{now_ms, Session};
use crate::web::keys::Role;

/// A session as the dashboard lists it: [`public`] plus `key`, the session's full key
/// (base64url), from which the page builds the session's link on its own host. Only for
/// the dashboard's sealed WebSocket; never for the local API.
pub fn session(s: &Session) -> Value {
    let mut value = public(s);
    if let Value::Object(fields) = &mut value {
        let key = s.key(Role::Full).map(|k| k.to_link_text());
        fields.insert("key".into(), json!(key));
    }
    value
}

/// A session without any secret: no key, no link. The local API on 127.0.0.1 answers
/// every local account, so this is all it may say (DESIGN.md "Security model").
pub fn public(s: &Session) -> Value {
    let info = s.info();
    let counts = info.client_counts;
    json!({
        "id": info.id,
        "name": info.name,
        "port": info.port,
        "agent": info.command.first(),
        "cwd": info.cwd,
        "pid": info.pid,
        "connectedAt": info.started_at_ms,
        "lastSeen": info.last_seen_ms,
        "status": info.status.as_str(),
        "command": info.command.join(" "),
        "clients": info.clients,
        "clientKinds": {
            "terminal": counts.terminals,
            "phone": counts.phones,
            "readOnly": counts.read_only,
        },
        "cols": info.size.cols,
        "rows": info.size.rows,
        "attentionMessage": s.attention_message(),
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
        // 0 where it cannot be read (other systems, a process that just ended).
        "memoryKB": crate::process::resident_kib(info.pid).unwrap_or(0),
        "uptimeMs": now_ms().saturating_sub(info.started_at_ms),
        "connectedAt": info.started_at_ms,
    })
}
