//! The messages of the local protocol, split by direction. Append-only: see the crate docs.

use serde::{Deserialize, Serialize};

/// A terminal size in character cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Size {
    /// Columns.
    pub cols: u16,
    /// Rows.
    pub rows: u16,
}

/// What the server shows about a session's activity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    /// Output in the last 30 seconds.
    Active,
    /// No output for 30 seconds.
    Idle,
    /// The program rang the bell or sent a notification nobody has answered yet.
    Attention,
}

impl Status {
    /// The lowercase name used in tables, JSON and the dashboard.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Idle => "idle",
            Status::Attention => "attention",
        }
    }
}

/// How a session's program ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitStatus {
    /// The exit code, or 128 + signal number when a signal ended it (the shell's convention).
    pub code: i32,
    /// The signal that ended it, if one did.
    pub signal: Option<i32>,
}

/// A snapshot of one session, as listed and reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// 16 lowercase hex characters.
    pub id: String,
    /// Unique among live sessions.
    pub name: String,
    /// The program and its arguments.
    pub command: Vec<String>,
    /// The program's working directory.
    pub cwd: String,
    /// The program's pid (the PTY's session leader).
    pub pid: u32,
    /// The session's phone port, once its web listener is up.
    pub port: Option<u16>,
    /// Activity status.
    pub status: Status,
    /// Attached clients, local and phone.
    pub clients: u32,
    /// Milliseconds since the Unix epoch when the session started.
    pub started_at_ms: u64,
    /// Milliseconds since the Unix epoch of the last output or input.
    pub last_seen_ms: u64,
    /// Current PTY size.
    pub size: Size,
    /// The phone link with the session's full key in its fragment, when the session has
    /// a web listener. Only the owner's Unix socket ever carries it.
    pub url: Option<String>,
    /// `clients` by kind.
    pub client_counts: ClientCounts,
    /// What the pending attention says (`bell`, or a notification's text), while the
    /// status is `Attention`.
    pub attention: Option<String>,
}

/// Attached clients by kind; they add up to [`SessionInfo::clients`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientCounts {
    /// Local terminals that may type.
    pub terminals: u32,
    /// Phones (web pages) that proved the full key.
    pub phones: u32,
    /// Read-only clients: `attach --read-only` terminals and pages with a read-only link.
    pub read_only: u32,
}

/// Server-wide facts for `hub info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HubInfo {
    /// The server's pid.
    pub pid: u32,
    /// The server's version string.
    pub version: String,
    /// Milliseconds since the Unix epoch when the server started.
    pub started_at_ms: u64,
    /// The dashboard link with the master key in its fragment, when the dashboard is up.
    pub dashboard_url: Option<String>,
    /// Every live session.
    pub sessions: Vec<SessionInfo>,
    /// The certificate the web listeners serve HTTPS with (`certificate PATH, valid until
    /// DATE`); `None` when they speak plain HTTP.
    pub tls: Option<String>,
}

/// Everything needed to start a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewSession {
    /// Requested name; the server picks one from the command when absent.
    pub name: Option<String>,
    /// Program and arguments; the program is resolved against the `PATH` in `env`.
    pub command: Vec<String>,
    /// Working directory, absolute.
    pub cwd: String,
    /// The caller's environment, passed to the program (TERM is set by the server).
    pub env: Vec<(String, String)>,
    /// The initial PTY size.
    pub size: Size,
    /// A specific phone port instead of the next free one.
    pub port: Option<u16>,
    /// Networking mode override: `local`, `tailscale` or `localhost`.
    pub networking: Option<String>,
}

/// Client to server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientMsg {
    /// Create a session. Reply: `Created`, or with `attach` the `Attached` stream as for
    /// `Attach` (so a program that exits at once still shows its output and status), or
    /// `Error`.
    New {
        /// What to start.
        spec: NewSession,
        /// Attach this connection to the new session.
        attach: bool,
    },
    /// List sessions. Reply: `Sessions`.
    List,
    /// Attach to a session (the most recently active when `target` is `None`). Reply:
    /// `Attached`, then `Redraw`, `Size`, `Output`... until `Exit`, `Closing` or `Detach`.
    Attach {
        /// Id, id prefix or name.
        target: Option<String>,
        /// A read-only client sends no input and never sets the size.
        read_only: bool,
        /// The terminal's size.
        size: Size,
    },
    /// Keystrokes for the attached session.
    Input {
        /// Raw bytes as typed.
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
    },
    /// The attached terminal's new size.
    Resize {
        /// New size.
        size: Size,
    },
    /// Leave the attached session. Reply: `Detached`.
    Detach,
    /// End a session's program. Reply: `Done` or `Error`.
    Kill {
        /// Id, id prefix or name.
        target: String,
        /// A signal for the program's process group; `None` hangs it up (SIGHUP, then
        /// SIGKILL after a grace period), which also ends interactive shells.
        signal: Option<i32>,
    },
    /// Rename a session. Reply: `Session` or `Error`.
    Rename {
        /// Id, id prefix or name.
        target: String,
        /// New name, unique among live sessions.
        name: String,
    },
    /// A session's details (`Session`) or, with no target, the server's (`Hub`).
    Info {
        /// Id, id prefix or name.
        target: Option<String>,
    },
    /// Stop every session and the server. Reply: `Done`, then the connection closes.
    Shutdown,
    /// A session's phone link. Reply: `Link` or `Error`.
    Link {
        /// Id, id prefix or name.
        target: String,
        /// The read-only link instead of the full one.
        read_only: bool,
        /// Replace that link's key first, disconnecting every client that used it.
        rotate: bool,
    },
    /// Replace the dashboard's master key, disconnecting every dashboard page. Reply:
    /// `Link` (the new dashboard link) or `Error`.
    RotateMaster,
    /// Stream lifecycle events. Reply: `Subscribed`, then an `Event` for each until the
    /// client closes the connection. Requests other than attaching, `New` and `Shutdown`
    /// sent afterwards are answered in order between the events (a machine link pings and
    /// drives the remote server on its one subscribed connection).
    Subscribe,
    /// The other machines and their links' state. Reply: `Machines`. With `reload` the
    /// server first re-reads `machines.json` (after `machine add` or `rm`).
    Machines {
        /// Re-read `machines.json` first.
        reload: bool,
    },
    /// Create a session on another machine, through its link. Replies as `New`. An empty
    /// `spec.cwd` means that machine's home directory, an empty `spec.env` its server's
    /// environment.
    NewOn {
        /// The machine's name.
        machine: String,
        /// What to start.
        spec: NewSession,
        /// Attach this connection to the new session.
        attach: bool,
    },
    /// Attach like `Attach`, continuing after `from_seq` when the session's ring still
    /// holds it (no `Redraw` then: `Output` from `from_seq` on), otherwise with a
    /// `Redraw` as `Attach` does. How a link resumes a remote session after a cut.
    Follow {
        /// Id, id prefix or name.
        target: String,
        /// A read-only client sends no input and never sets the size.
        read_only: bool,
        /// The terminal's size.
        size: Size,
        /// The output position the client already has.
        from_seq: u64,
    },
    /// A machine's server log (`machine`: `local` for this one, or another machine's
    /// through its link). Reply: `Log` frames of whole lines, then `Done`; with `follow`
    /// no `Done`: what is added keeps coming until the client closes the connection.
    Logs {
        /// Whose log.
        machine: String,
        /// Keep streaming what is added.
        follow: bool,
    },
    /// Hand every session over to a new binary (this server's own executable, as it is
    /// on disk now, when `binary` is `None`) under the same pid. Reply: `Error` (the new
    /// binary cannot take over: the server keeps serving), or `HandOver` and the end of
    /// the connection; the server that answers next is the new binary.
    Upgrade {
        /// The new binary's path.
        binary: Option<String>,
    },
    /// The subdirectories of a directory inside the user's home on this machine (empty
    /// `path`: home), for another machine's dashboard folder browser. Reply: `Dir` or
    /// `Error` (outside home, unreadable).
    ListDir {
        /// The directory.
        path: String,
    },
    /// The last lines of every session's screen (the dashboard's previews; another
    /// machine's dashboard asks through its link). Reply: `Previews`.
    Previews {
        /// Lines per session, at most [`MAX_PREVIEW_LINES`].
        lines: u16,
        /// Characters per line, at most [`MAX_PREVIEW_WIDTH`].
        width: u16,
    },
    /// This client's terminal, for the attach request that follows: the frame's bytes
    /// carry two descriptors in `SCM_RIGHTS`, the client's stdin and stdout (both
    /// terminals). Reply: `Done` (kept for the next request) or `Error` (not terminals).
    /// When the next request attaches to a session of this server, the reply `Attached`
    /// is followed by `Direct`: the server writes the output to that terminal and reads
    /// the keys from it (the detach key among them); otherwise the descriptors are closed
    /// and the attachment is relayed in frames as usual.
    Terminal {
        /// The byte that detaches (the server sees the keys).
        detach_key: u8,
    },
    /// After `Direct`: the terminal is ready (raw mode on, nothing else drawing); the
    /// server starts writing to it.
    Start,
}

/// Most lines per session a `Previews` request gets.
pub const MAX_PREVIEW_LINES: u16 = 50;
/// Most characters per line a `Previews` request gets.
pub const MAX_PREVIEW_WIDTH: u16 = 500;

/// One session's preview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preview {
    /// The session's id.
    pub id: String,
    /// The last non-empty lines of its screen, plain text.
    pub lines: Vec<String>,
}

/// Server to client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServerMsg {
    /// A session was created.
    Created {
        /// The new session.
        session: SessionInfo,
    },
    /// The live sessions, oldest first.
    Sessions {
        /// Snapshots.
        sessions: Vec<SessionInfo>,
    },
    /// One session's details.
    Session {
        /// Snapshot.
        session: SessionInfo,
    },
    /// The server's details.
    Hub {
        /// Snapshot.
        hub: HubInfo,
    },
    /// The attach request was accepted; a `Redraw` follows.
    Attached {
        /// The attached session.
        session: SessionInfo,
    },
    /// PTY output; `seq` counts the session's output bytes up to and including `data`.
    Output {
        /// Byte count after this chunk.
        seq: u64,
        /// The bytes.
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
    },
    /// Escape sequences that repaint the terminal from the session's state as of `seq`.
    Redraw {
        /// The output position the repaint corresponds to.
        seq: u64,
        /// The bytes.
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
    },
    /// The PTY's size changed (or is being reported after attach).
    Size {
        /// New size.
        size: Size,
    },
    /// The session's program ended; the attachment is over.
    Exit {
        /// How it ended.
        status: ExitStatus,
    },
    /// The request succeeded and has nothing else to say.
    Done,
    /// The request failed; one line for the user.
    Error {
        /// What went wrong.
        message: String,
    },
    /// The server is going away (`hub stop`, SIGTERM); the connection closes next.
    Closing {
        /// Why.
        reason: String,
    },
    /// The client's `Detach` was honoured; the connection stays open for other requests.
    Detached,
    /// Something the user should know about the request, before its reply (a session
    /// that asked for Tailscale got the LAN address, say).
    Warning {
        /// One line for the user.
        message: String,
    },
    /// A link with its key in the fragment (the reply to `Link` and `RotateMaster`).
    Link {
        /// The link.
        url: String,
    },
    /// The `Subscribe` request was accepted: events follow.
    Subscribed,
    /// Something happened to a session, a client or a machine.
    Event {
        /// What.
        event: Event,
    },
    /// The other machines (the reply to `Machines`).
    Machines {
        /// In `machines.json` order.
        machines: Vec<MachineInfo>,
    },
    /// Whole lines of a server log (the reply to `Logs`).
    Log {
        /// The bytes.
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
    },
    /// The server is handing its sessions over to a new binary (`Upgrade`); the connection
    /// closes next. An attached client reconnects to the same socket and sends `Follow`.
    HandOver {
        /// Why, for the log or the user.
        reason: String,
    },
    /// The answer to `Previews`: every live session's, oldest first.
    Previews {
        /// One per session.
        previews: Vec<Preview>,
    },
    /// A directory's subdirectories (the reply to `ListDir`).
    Dir {
        /// The listing.
        listing: DirListing,
    },
    /// Right after `Attached`, when the client passed its terminal (`Terminal`): the
    /// server writes the output to that terminal and reads the keys from it, once the
    /// client sends `Start`. The frames that follow carry no output: `Size`, `Warning`,
    /// `Written`, and the end (`Exit`, `Detached`, `Closing`, `HandOver`), each sent once
    /// everything before it is written to the terminal.
    Direct,
    /// Before `HandOver` on a direct attachment: the output position written to the
    /// terminal (the `from_seq` of the client's `Follow`).
    Written {
        /// Output bytes written, counted as `Output`'s `seq`.
        seq: u64,
    },
}

/// A directory's subdirectories, confined to the user's home: the folder browser's view
/// (the dashboard's `dir-listing` message has the same fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirListing {
    /// The directory, canonical.
    pub path: String,
    /// Its parent; `None` at home, which the browser cannot leave.
    pub parent: Option<String>,
    /// Its subdirectories, sorted by name.
    pub entries: Vec<DirEntry>,
    /// The home directory.
    pub home: String,
}

/// One subdirectory in a [`DirListing`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirEntry {
    /// Its name.
    pub name: String,
    /// Its path (not resolved: what the user sees).
    pub path: String,
}

/// The state of the link to another machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MachineState {
    /// ssh is starting or the handshake is under way.
    Connecting,
    /// The link is up and answering pings.
    Online,
    /// ssh exited or pings went unanswered; the link retries with backoff.
    Offline,
    /// The other machine speaks another protocol version.
    NeedsUpgrade,
}

impl MachineState {
    /// The lowercase name in `machine ls`, JSON and the dashboard.
    pub fn as_str(self) -> &'static str {
        match self {
            MachineState::Connecting => "connecting",
            MachineState::Online => "online",
            MachineState::Offline => "offline",
            MachineState::NeedsUpgrade => "needs upgrade",
        }
    }
}

/// Another machine as this server sees it through its link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineInfo {
    /// The name in `machines.json` (what `MACHINE:NAME` starts with).
    pub name: String,
    /// The ssh destination.
    pub dest: String,
    /// The link's state.
    pub state: MachineState,
    /// Milliseconds since the Unix epoch when the machine last answered.
    pub last_seen_ms: Option<u64>,
    /// Its sessions as last known (kept while it is offline).
    pub sessions: Vec<SessionInfo>,
    /// Why it is offline or needs an upgrade, in one line.
    pub detail: Option<String>,
}

/// What kind of lifecycle event (DESIGN.md "Events and hooks").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventKind {
    /// A session was created.
    SessionStarted,
    /// A session's program exited and its output is delivered; `status` says how.
    SessionExited,
    /// A session was renamed; `name` is the new name, `message` the old one.
    SessionRenamed,
    /// The program rang the bell or sent a notification; `message` is its text.
    AttentionRaised,
    /// Someone typed or cleared the attention.
    AttentionCleared,
    /// A terminal or phone attached.
    ClientAttached,
    /// A terminal or phone left.
    ClientDetached,
    /// A machine's link came up.
    MachineOnline,
    /// A machine's link went down.
    MachineOffline,
}

impl EventKind {
    /// Every kind, in a fixed order.
    pub const ALL: [EventKind; 9] = [
        EventKind::SessionStarted,
        EventKind::SessionExited,
        EventKind::SessionRenamed,
        EventKind::AttentionRaised,
        EventKind::AttentionCleared,
        EventKind::ClientAttached,
        EventKind::ClientDetached,
        EventKind::MachineOnline,
        EventKind::MachineOffline,
    ];

    /// The name in `itwillsync events` output, `config.json` `hooks` and
    /// `ITWILLSYNC_EVENT`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::SessionStarted => "session-started",
            EventKind::SessionExited => "session-exited",
            EventKind::SessionRenamed => "session-renamed",
            EventKind::AttentionRaised => "attention",
            EventKind::AttentionCleared => "attention-cleared",
            EventKind::ClientAttached => "client-attached",
            EventKind::ClientDetached => "client-detached",
            EventKind::MachineOnline => "machine-online",
            EventKind::MachineOffline => "machine-offline",
        }
    }

    /// The kind named `name` ([`EventKind::as_str`]).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// One lifecycle event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// The machine it happened on (`local` for this one).
    pub machine: String,
    /// The session's id, for session and client events.
    pub session: Option<String>,
    /// The session's name (the new one for a rename).
    pub name: Option<String>,
    /// A notification's text, the old name of a renamed session, or what kind of client
    /// attached or left (`terminal`, `phone`, `read-only`).
    pub message: Option<String>,
    /// How the program ended, for `SessionExited`.
    pub status: Option<ExitStatus>,
}
