//! The JSON messages inside the dashboard's seal (DESIGN.md "Dashboard", seed 004), one
//! enum per direction, tagged by `type`.
//!
//! [`DashboardIn`] is what the page may send; a type this server does not know decodes as
//! [`DashboardIn::Unknown`] and is ignored, extra fields are ignored, and a missing string
//! field is empty (as the original treated it), so older and newer pages keep working; a
//! field of the wrong type makes the message malformed, and it is ignored like bad JSON.
//! [`DashboardOut`] is what the server sends. A session inside it is `protocol::json`'s
//! object, the one the local API and `ls --json` speak too, plus its key ([`listed`]).
//! The wire names are fixed: the page reads them, and the tests below hold them to golden
//! strings.

use itwillsync_protocol::json;
use serde::{Deserialize, Serialize};

use super::files::Listing;
use crate::session::{now_ms, Session};
use crate::web::keys::Role;

/// A message from the page.
#[derive(Debug, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub(crate) enum DashboardIn {
    /// Hang up a session's program.
    StopSession {
        /// The session's exact id.
        #[serde(rename = "sessionId", default)]
        session_id: String,
        /// Another machine's session (empty or `local`: this one's), through its link.
        #[serde(default)]
        machine: String,
    },
    /// Rename a session.
    RenameSession {
        /// The session's exact id.
        #[serde(rename = "sessionId", default)]
        session_id: String,
        /// The new name, checked like any other.
        #[serde(default)]
        name: String,
        /// Another machine's session (empty or `local`: this one's), through its link.
        #[serde(default)]
        machine: String,
    },
    /// Ask for a session's [`Metadata`].
    GetMetadata {
        /// The session's exact id.
        #[serde(rename = "sessionId", default)]
        session_id: String,
    },
    /// Answer a session's attention without typing.
    ClearAttention {
        /// The session's exact id.
        #[serde(rename = "sessionId", default)]
        session_id: String,
    },
    /// Start a session.
    CreateSession {
        /// A bare program name on the server's `PATH`.
        #[serde(default)]
        tool: String,
        /// Its working directory, inside home (empty: home).
        #[serde(default)]
        cwd: String,
        /// Another machine to start it on (empty or `local`: this one); `cwd` is then a
        /// directory there (empty: its home) and the tool is found on its `PATH`.
        #[serde(default)]
        machine: String,
    },
    /// Open another machine's session on this phone: through its mirror on this server
    /// (made if needed), whose port and key the answer (`remote-opened`) carries.
    OpenRemote {
        /// The machine's name.
        #[serde(default)]
        machine: String,
        /// The session's exact id there.
        #[serde(rename = "sessionId", default)]
        session_id: String,
    },
    /// List a directory for the folder browser.
    ListDir {
        /// A directory inside home (empty: home).
        #[serde(default)]
        path: String,
        /// Another machine whose folders to browse (empty or `local`: this one); `path`
        /// is then inside that machine's home.
        #[serde(default)]
        machine: String,
    },
    /// A type this server does not know: ignored.
    #[serde(other)]
    Unknown,
}

impl DashboardIn {
    /// The message's `type`, as `operation-error` names it.
    pub fn operation(&self) -> &'static str {
        match self {
            DashboardIn::StopSession { .. } => "stop-session",
            DashboardIn::RenameSession { .. } => "rename-session",
            DashboardIn::GetMetadata { .. } => "get-metadata",
            DashboardIn::ClearAttention { .. } => "clear-attention",
            DashboardIn::CreateSession { .. } => "create-session",
            DashboardIn::ListDir { .. } => "list-dir",
            DashboardIn::OpenRemote { .. } => "open-remote",
            DashboardIn::Unknown => "unknown",
        }
    }

    /// The session the message names; empty when it names none.
    pub fn session_id(&self) -> &str {
        match self {
            DashboardIn::StopSession { session_id, .. }
            | DashboardIn::RenameSession { session_id, .. }
            | DashboardIn::GetMetadata { session_id }
            | DashboardIn::ClearAttention { session_id }
            | DashboardIn::OpenRemote { session_id, .. } => session_id,
            DashboardIn::CreateSession { .. }
            | DashboardIn::ListDir { .. }
            | DashboardIn::Unknown => "",
        }
    }
}

/// A message to the page.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub(crate) enum DashboardOut<'a> {
    /// Every live session, and the home directory: the first message.
    Sessions {
        /// Oldest first.
        sessions: Vec<json::Session>,
        /// The server's home directory (`null` when it has none).
        home: Option<String>,
    },
    /// A session started (elsewhere than on this page).
    SessionAdded {
        /// The new session.
        session: json::Session,
    },
    /// A session's name, status, clients or size changed, or it raised a new alert.
    SessionUpdated {
        /// Its new state.
        session: json::Session,
    },
    /// The session this page asked for (`create-session`) started.
    SessionCreated {
        /// The new session.
        session: json::Session,
    },
    /// A session ended.
    #[serde(rename_all = "camelCase")]
    SessionRemoved {
        /// Its id.
        session_id: &'a str,
    },
    /// The last lines of a session's screen.
    #[serde(rename_all = "camelCase")]
    Preview {
        /// The session's id.
        session_id: &'a str,
        /// Another machine's session: that machine (absent for this one's).
        #[serde(skip_serializing_if = "Option::is_none")]
        machine: Option<&'a str>,
        /// At most 5 lines, plain text.
        lines: &'a [String],
    },
    /// The answer to `get-metadata`.
    #[serde(rename_all = "camelCase")]
    Metadata {
        /// The session's id.
        session_id: &'a str,
        /// Its details.
        metadata: Metadata,
    },
    /// A request failed.
    #[serde(rename_all = "camelCase")]
    OperationError {
        /// The request's `type`.
        operation: &'a str,
        /// The session it named (empty when none).
        session_id: &'a str,
        /// One line for the user.
        error: String,
    },
    /// The answer to `list-dir`.
    DirListing {
        /// The directory and its subdirectories.
        #[serde(flatten)]
        listing: Listing,
        /// The machine it is on, when not this one (as `list-dir` named it).
        #[serde(skip_serializing_if = "Option::is_none")]
        machine: Option<&'a str>,
    },
    /// `create-session` was received and is being acted on.
    SessionCreating {
        /// As asked.
        tool: &'a str,
        /// As asked.
        cwd: &'a str,
    },
    /// `create-session` failed.
    SessionCreateError {
        /// One line for the user.
        error: String,
    },
    /// The other machines, each with its link's state and its sessions as last known:
    /// after `sessions` when any machine is configured, then whenever one changes.
    Machines {
        /// In `machines.json` order.
        machines: Vec<Machine>,
    },
    /// The answer to `open-remote`: the session's mirror on this server, opened like a
    /// local card (`http(s)://HOST:port/#k=key`).
    #[serde(rename_all = "camelCase")]
    RemoteOpened {
        /// As asked.
        machine: &'a str,
        /// As asked.
        session_id: &'a str,
        /// The mirror's phone port on this server.
        port: u16,
        /// The mirror's full key (base64url).
        key: String,
    },
}

/// Another machine as the dashboard groups it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Machine {
    /// Its name.
    pub name: String,
    /// `connecting`, `online`, `offline` or `needs upgrade`.
    pub state: &'static str,
    /// Milliseconds since the Unix epoch when it last answered (`null`: never).
    pub last_seen: Option<u64>,
    /// Why it is offline or needs an upgrade.
    pub detail: Option<String>,
    /// Its sessions, each with `machine` (and `offline` while the machine is not online);
    /// no keys: they are opened on that machine.
    pub sessions: Vec<json::Session>,
}

impl Machine {
    /// From the link's view of the machine.
    pub fn of(info: &itwillsync_protocol::MachineInfo) -> Self {
        let offline = info.state != itwillsync_protocol::MachineState::Online;
        Self {
            name: info.name.clone(),
            state: info.state.as_str(),
            last_seen: info.last_seen_ms,
            detail: info.detail.clone(),
            sessions: info
                .sessions
                .iter()
                .map(|s| json::Session {
                    machine: Some(info.name.clone()),
                    offline: offline.then_some(true),
                    ..json::Session::public(s)
                })
                .collect(),
        }
    }
}

impl DashboardOut<'_> {
    /// The message as JSON text.
    pub fn to_json(&self) -> Vec<u8> {
        // Writing to a Vec cannot fail, and no map here has non-string keys.
        serde_json::to_vec(self).expect("a message always serializes")
    }
}

/// A session's details for the Info sheet (`get-metadata`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Metadata {
    /// The program's pid.
    pub pid: u32,
    /// The program's name (as in the session object).
    pub agent: String,
    /// Its working directory.
    pub cwd: String,
    /// The session's phone port.
    pub port: Option<u16>,
    /// The program's resident memory; 0 where it cannot be read (other systems, a
    /// process that just ended).
    #[serde(rename = "memoryKB")]
    pub memory_kb: u64,
    /// Milliseconds since the session started.
    pub uptime_ms: u64,
    /// Milliseconds since the Unix epoch when the session started.
    pub connected_at: u64,
}

impl Metadata {
    /// `s`'s details now.
    pub fn of(s: &Session) -> Self {
        let info = s.info();
        Self {
            pid: info.pid,
            agent: json::agent(&info.command).to_string(),
            cwd: info.cwd,
            port: info.port,
            memory_kb: crate::process::resident_kib(info.pid).unwrap_or(0),
            uptime_ms: now_ms().saturating_sub(info.started_at_ms),
            connected_at: info.started_at_ms,
        }
    }
}

/// A session as the dashboard lists it: the public object plus `key`, the session's full
/// key (base64url), from which the page builds the session's link on its own host. Only
/// for the dashboard's sealed WebSocket; never for the local API.
pub(crate) fn listed(s: &Session) -> json::Session {
    json::Session {
        key: s.key(Role::Full).map(|k| k.to_link_text()),
        ..json::Session::public(&s.info())
    }
}

#[cfg(test)]
mod tests {
    use super::super::files::Entry;
    use super::*;

    fn decode(text: &str) -> DashboardIn {
        serde_json::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn id(s: &str) -> String {
        s.to_string()
    }

    #[test]
    fn every_page_message_decodes_as_it_always_has() {
        let cases = [
            (
                r#"{"type":"stop-session","sessionId":"0123456789abcdef"}"#,
                DashboardIn::StopSession {
                    session_id: id("0123456789abcdef"),
                    machine: id(""),
                },
            ),
            (
                r#"{"type":"rename-session","sessionId":"ab","name":"new name"}"#,
                DashboardIn::RenameSession {
                    session_id: id("ab"),
                    name: id("new name"),
                    machine: id(""),
                },
            ),
            (
                r#"{"type":"stop-session","sessionId":"ab","machine":"devbox"}"#,
                DashboardIn::StopSession {
                    session_id: id("ab"),
                    machine: id("devbox"),
                },
            ),
            (
                r#"{"type":"rename-session","sessionId":"ab","name":"x","machine":"devbox"}"#,
                DashboardIn::RenameSession {
                    session_id: id("ab"),
                    name: id("x"),
                    machine: id("devbox"),
                },
            ),
            (
                r#"{"type":"get-metadata","sessionId":"ab"}"#,
                DashboardIn::GetMetadata {
                    session_id: id("ab"),
                },
            ),
            (
                r#"{"type":"clear-attention","sessionId":"ab"}"#,
                DashboardIn::ClearAttention {
                    session_id: id("ab"),
                },
            ),
            (
                r#"{"type":"create-session","tool":"claude","cwd":"/home/u/proj"}"#,
                DashboardIn::CreateSession {
                    tool: id("claude"),
                    cwd: id("/home/u/proj"),
                    machine: id(""),
                },
            ),
            (
                r#"{"type":"create-session","tool":"claude","cwd":"","machine":"devbox"}"#,
                DashboardIn::CreateSession {
                    tool: id("claude"),
                    cwd: id(""),
                    machine: id("devbox"),
                },
            ),
            (
                r#"{"type":"list-dir","path":""}"#,
                DashboardIn::ListDir {
                    path: id(""),
                    machine: id(""),
                },
            ),
            (
                r#"{"type":"open-remote","machine":"devbox","sessionId":"ab"}"#,
                DashboardIn::OpenRemote {
                    machine: id("devbox"),
                    session_id: id("ab"),
                },
            ),
            // A missing string is empty: list-dir without a path lists home.
            (
                r#"{"type":"list-dir"}"#,
                DashboardIn::ListDir {
                    path: id(""),
                    machine: id(""),
                },
            ),
            (
                r#"{"type":"list-dir","path":"~/src","machine":"devbox"}"#,
                DashboardIn::ListDir {
                    path: id("~/src"),
                    machine: id("devbox"),
                },
            ),
            (
                r#"{"type":"get-metadata"}"#,
                DashboardIn::GetMetadata { session_id: id("") },
            ),
            // Extra fields, and fields in any order, are fine.
            (
                r#"{"sessionId":"ab","type":"stop-session","confirm":true,"n":[1,2]}"#,
                DashboardIn::StopSession {
                    session_id: id("ab"),
                    machine: id(""),
                },
            ),
            (r#"{"type":"bogus","pad":"xx"}"#, DashboardIn::Unknown),
            (r#"{"type":"sessions"}"#, DashboardIn::Unknown),
        ];
        for (text, expected) in cases {
            let decoded = decode(text);
            if expected != DashboardIn::Unknown {
                let tag: serde_json::Value = serde_json::from_str(text).unwrap();
                assert_eq!(decoded.operation(), tag["type"], "{text}");
            }
            assert_eq!(decoded, expected, "{text}");
        }
        for bad in [
            "{not json",
            r#"{"sessionId":"ab"}"#,
            r#"{"type":"list-dir","path":5}"#,
        ] {
            assert!(serde_json::from_str::<DashboardIn>(bad).is_err(), "{bad}");
        }
    }

    fn session() -> json::Session {
        json::Session {
            id: id("0123456789abcdef"),
            name: id("sh"),
            agent: id("sh"),
            command: id("sh -c x"),
            cwd: id("/h"),
            pid: 7,
            port: Some(7964),
            status: itwillsync_protocol::Status::Idle,
            clients: 0,
            client_kinds: json::ClientKinds {
                terminal: 0,
                phone: 0,
                read_only: 0,
            },
            cols: 80,
            rows: 24,
            connected_at: 1,
            last_seen: 2,
            attention_message: None,
            key: Some(id("KEY")),
            url: None,
            machine: None,
            offline: None,
        }
    }

    const SESSION: &str = concat!(
        r#"{"id":"0123456789abcdef","name":"sh","agent":"sh","command":"sh -c x","cwd":"/h","#,
        r#""pid":7,"port":7964,"status":"idle","clients":0,"#,
        r#""clientKinds":{"terminal":0,"phone":0,"readOnly":0},"cols":80,"rows":24,"#,
        r#""connectedAt":1,"lastSeen":2,"attentionMessage":null,"key":"KEY"}"#
    );

    #[test]
    fn every_server_message_is_the_json_the_page_expects() {
        let lines = vec![id("$ make"), id("ok \"done\"")];
        let cases = [
            (
                DashboardOut::Sessions {
                    sessions: vec![session()],
                    home: Some(id("/home/u")),
                },
                format!(r#"{{"type":"sessions","sessions":[{SESSION}],"home":"/home/u"}}"#),
            ),
            (
                DashboardOut::Sessions {
                    sessions: vec![],
                    home: None,
                },
                id(r#"{"type":"sessions","sessions":[],"home":null}"#),
            ),
            (
                DashboardOut::SessionAdded { session: session() },
                format!(r#"{{"type":"session-added","session":{SESSION}}}"#),
            ),
            (
                DashboardOut::SessionUpdated { session: session() },
                format!(r#"{{"type":"session-updated","session":{SESSION}}}"#),
            ),
            (
                DashboardOut::SessionCreated { session: session() },
                format!(r#"{{"type":"session-created","session":{SESSION}}}"#),
            ),
            (
                DashboardOut::SessionRemoved { session_id: "ab" },
                id(r#"{"type":"session-removed","sessionId":"ab"}"#),
            ),
            (
                DashboardOut::Preview {
                    session_id: "ab",
                    machine: None,
                    lines: &lines,
                },
                id(r#"{"type":"preview","sessionId":"ab","lines":["$ make","ok \"done\""]}"#),
            ),
            (
                DashboardOut::Preview {
                    session_id: "ab",
                    machine: Some("devbox"),
                    lines: &lines[..1],
                },
                id(r#"{"type":"preview","sessionId":"ab","machine":"devbox","lines":["$ make"]}"#),
            ),
            (
                DashboardOut::RemoteOpened {
                    machine: "devbox",
                    session_id: "ab",
                    port: 4000,
                    key: id("KEY"),
                },
                id(
                    r#"{"type":"remote-opened","machine":"devbox","sessionId":"ab","port":4000,"key":"KEY"}"#,
                ),
            ),
            (
                DashboardOut::Metadata {
                    session_id: "ab",
                    metadata: Metadata {
                        pid: 7,
                        agent: id("sh"),
                        cwd: id("/h"),
                        port: Some(7964),
                        memory_kb: 1024,
                        uptime_ms: 5000,
                        connected_at: 1,
                    },
                },
                id(concat!(
                    r#"{"type":"metadata","sessionId":"ab","metadata":{"pid":7,"agent":"sh","#,
                    r#""cwd":"/h","port":7964,"memoryKB":1024,"uptimeMs":5000,"connectedAt":1}}"#
                )),
            ),
            (
                DashboardOut::OperationError {
                    operation: "rename-session",
                    session_id: "ab",
                    error: id("a session named \"sh\" exists"),
                },
                id(concat!(
                    r#"{"type":"operation-error","operation":"rename-session","sessionId":"ab","#,
                    r#""error":"a session named \"sh\" exists"}"#
                )),
            ),
            (
                DashboardOut::DirListing {
                    listing: Listing {
                        path: id("/home/u/a"),
                        parent: Some(id("/home/u")),
                        entries: vec![Entry {
                            name: id("b"),
                            path: id("/home/u/a/b"),
                        }],
                        home: id("/home/u"),
                    },
                    machine: None,
                },
                id(concat!(
                    r#"{"type":"dir-listing","path":"/home/u/a","parent":"/home/u","#,
                    r#""entries":[{"name":"b","path":"/home/u/a/b"}],"home":"/home/u"}"#
                )),
            ),
            (
                DashboardOut::DirListing {
                    listing: Listing {
                        path: id("/home/me"),
                        parent: None,
                        entries: vec![],
                        home: id("/home/me"),
                    },
                    machine: Some("devbox"),
                },
                id(concat!(
                    r#"{"type":"dir-listing","path":"/home/me","parent":null,"entries":[],"#,
                    r#""home":"/home/me","machine":"devbox"}"#
                )),
            ),
            (
                DashboardOut::SessionCreating {
                    tool: "cat",
                    cwd: "/home/u/proj",
                },
                id(r#"{"type":"session-creating","tool":"cat","cwd":"/home/u/proj"}"#),
            ),
            (
                DashboardOut::SessionCreateError {
                    error: id("no such directory"),
                },
                id(r#"{"type":"session-create-error","error":"no such directory"}"#),
            ),
        ];
        for (msg, expected) in cases {
            let json = msg.to_json();
            assert_eq!(std::str::from_utf8(&json).unwrap(), expected);
        }
    }
}
