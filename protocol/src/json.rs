//! A session as web pages and scripts see it: the camelCase JSON object of the dashboard's
//! messages, the local API's `/api/sessions` and `itwillsync ls --json` (DESIGN.md
//! "Dashboard", seed 004's `SessionInfo` plus `command`, `clients`, `clientKinds`, `cols`,
//! `rows`).
//!
//! One struct, built in one place ([`Session::public`], from the local protocol's
//! [`SessionInfo`]), so the three cannot drift apart. The public form carries no secret;
//! the dashboard adds `key` (inside its seal) and `ls --json` adds `url` (the owner's Unix
//! socket is the only source of it). Both are left out of the JSON when absent, so the
//! local API, which every local account can read, never even names them.
//!
//! Wire names are fixed: the pages and scripts read them. Only serialization is derived:
//! nothing reads these objects back.

use serde::{Serialize, Serializer};

use crate::{SessionInfo, Status};

/// One session's JSON object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    /// 16 lowercase hex characters.
    pub id: String,
    /// Unique among live sessions.
    pub name: String,
    /// The program's name without its directory (`claude` for `/usr/bin/claude`).
    pub agent: String,
    /// The program and its arguments, joined by spaces.
    pub command: String,
    /// The program's working directory.
    pub cwd: String,
    /// The program's pid.
    pub pid: u32,
    /// The session's phone port (`null` before its web listener is up).
    pub port: Option<u16>,
    /// `active`, `idle` or `attention`.
    #[serde(serialize_with = "status_name")]
    pub status: Status,
    /// Attached clients, local and phone.
    pub clients: u32,
    /// `clients` by kind.
    pub client_kinds: ClientKinds,
    /// PTY columns.
    pub cols: u16,
    /// PTY rows.
    pub rows: u16,
    /// Milliseconds since the Unix epoch when the session started.
    pub connected_at: u64,
    /// Milliseconds since the Unix epoch of the last output or input.
    pub last_seen: u64,
    /// What the pending bell or notification said (`null` when nothing is pending).
    pub attention_message: Option<String>,
    /// The session's full key (base64url): the dashboard only, inside its seal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The session's link with its full key: `ls --json` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The machine it runs on (`local` for this one): `ls --json` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub machine: Option<String>,
    /// Whether that machine is unreachable (the session is shown as last known):
    /// `ls --json` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offline: Option<bool>,
}

/// Attached clients by kind (`clientKinds`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientKinds {
    /// Local terminals that may type.
    pub terminal: u32,
    /// Pages that proved the full key.
    pub phone: u32,
    /// Read-only terminals and pages.
    pub read_only: u32,
}

impl Session {
    /// The public form of `info`: no key and no link, whatever `info` holds.
    pub fn public(info: &SessionInfo) -> Self {
        let counts = info.client_counts;
        Self {
            id: info.id.clone(),
            name: info.name.clone(),
            agent: agent(&info.command).to_string(),
            command: info.command.join(" "),
            cwd: info.cwd.clone(),
            pid: info.pid,
            port: info.port,
            status: info.status,
            clients: info.clients,
            client_kinds: ClientKinds {
                terminal: counts.terminals,
                phone: counts.phones,
                read_only: counts.read_only,
            },
            cols: info.size.cols,
            rows: info.size.rows,
            connected_at: info.started_at_ms,
            last_seen: info.last_seen_ms,
            attention_message: info.attention.clone(),
            key: None,
            url: None,
            machine: None,
            offline: None,
        }
    }
}

/// The program's name without its directory; empty for an empty command.
pub fn agent(command: &[String]) -> &str {
    command
        .first()
        .map(|c| c.rsplit('/').next().unwrap_or(c))
        .unwrap_or("")
}

fn status_name<S: Serializer>(status: &Status, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(status.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClientCounts, Size};

    fn info() -> SessionInfo {
        SessionInfo {
            id: "0123456789abcdef".into(),
            name: "claude".into(),
            command: vec!["/usr/bin/claude".into(), "--resume".into()],
            cwd: "/home/u/proj".into(),
            pid: 4242,
            port: Some(7964),
            status: Status::Attention,
            clients: 3,
            started_at_ms: 1_700_000_000_000,
            last_seen_ms: 1_700_000_001_000,
            size: Size { cols: 80, rows: 24 },
            url: Some("http://h:7964/#k=SECRET".into()),
            client_counts: ClientCounts {
                terminals: 1,
                phones: 1,
                read_only: 1,
            },
            attention: Some("Build finished".into()),
        }
    }

    const PUBLIC: &str = concat!(
        r#"{"id":"0123456789abcdef","name":"claude","agent":"claude","#,
        r#""command":"/usr/bin/claude --resume","cwd":"/home/u/proj","pid":4242,"port":7964,"#,
        r#""status":"attention","clients":3,"clientKinds":{"terminal":1,"phone":1,"readOnly":1},"#,
        r#""cols":80,"rows":24,"connectedAt":1700000000000,"lastSeen":1700000001000,"#,
        r#""attentionMessage":"Build finished""#,
    );

    #[test]
    fn the_public_form_has_the_wire_names_and_no_secret() {
        let json = serde_json::to_string(&Session::public(&info())).unwrap();
        assert_eq!(json, format!("{PUBLIC}}}"));
    }

    #[test]
    fn key_and_url_appear_only_when_added() {
        let with_key = Session {
            key: Some("KEY".into()),
            ..Session::public(&info())
        };
        let json = serde_json::to_string(&with_key).unwrap();
        assert_eq!(json, format!(r#"{PUBLIC},"key":"KEY"}}"#));
        let with_url = Session {
            url: info().url,
            ..Session::public(&info())
        };
        let json = serde_json::to_string(&with_url).unwrap();
        assert_eq!(
            json,
            format!(r#"{PUBLIC},"url":"http://h:7964/#k=SECRET"}}"#)
        );
    }

    #[test]
    fn no_port_is_null_and_agent_is_the_program_name() {
        let mut info = info();
        info.port = None;
        info.status = Status::Idle;
        info.command = vec![];
        let value = serde_json::to_value(Session::public(&info)).unwrap();
        assert!(value["port"].is_null());
        assert_eq!(value["status"], "idle");
        assert_eq!(value["agent"], "");
        assert_eq!(agent(&["sh".into()]), "sh");
        assert_eq!(agent(&["./bin/aider".into()]), "aider");
    }
}
