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
mod tests;
