//! The state one server hands the next across `exec` (docs/PROTOCOL.md "Hand-over").
//!
//! Layout: 8 magic bytes `ITWSTATE`, the format version (`u32`, big-endian), the length of
//! the header (`u64`, big-endian), the header as JSON, then the blob section: ring bytes,
//! redraws and queued input, each referenced from the header by offset and length.
//!
//! Why JSON plus blobs and not bincode: the header is self-describing, so a reader of
//! version N can take version N-1's header with `#[serde(default)]` for fields added since
//! and a clear error naming a field that does not fit, and a person can read it with `jq`
//! when a hand-over goes wrong; the bulk (up to `scrollbackBufferSize` of ring per
//! session) stays raw bytes, with no 3-4x blow-up of a JSON byte array and no copy through
//! a serializer. bincode stays the Unix socket's codec only (`protocol::codec`).
//!
//! Versions: a reader of version N reads N and N-1 ([`decode`] migrates N-1 up); anything
//! else is refused with one line, before any exec (`itwillsync server check-state`).

use itwillsync_protocol::{ClientCounts, ExitStatus, Size};
use serde::{Deserialize, Serialize};

/// First bytes of a state.
pub const MAGIC: [u8; 8] = *b"ITWSTATE";

/// The version this binary writes. A build with the `state-next` feature writes the next
/// one (and still reads this one): the tests' stand-in for a newer release.
#[cfg(not(feature = "state-next"))]
pub const VERSION: u32 = 1;
/// The version this binary writes (`state-next`: one more than the release's).
#[cfg(feature = "state-next")]
pub const VERSION: u32 = 2;

/// The oldest version this binary reads.
pub const OLDEST_READ: u32 = if VERSION > 1 { VERSION - 1 } else { 1 };

/// Bytes before the header: magic, version, header length.
const PREFIX: usize = 8 + 4 + 8;

/// Largest header accepted (a few kilobytes per session in practice).
const MAX_HEADER: u64 = 64 << 20;

/// Why a state cannot be read: one line for the user.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refused {
    /// Not a hand-over state at all (or cut short before its header).
    #[error("not an itwillsync hand-over state")]
    NotAState,
    /// A version this binary does not read.
    #[error("hand-over state version {found}: this binary reads versions {oldest} to {newest}")]
    Version {
        /// The state's version.
        found: u32,
        /// The oldest this binary reads.
        oldest: u32,
        /// The newest this binary reads (the one it writes).
        newest: u32,
    },
    /// The header does not decode, or refers to bytes that are not there.
    #[error("hand-over state is damaged: {0}")]
    Damaged(String),
}

/// A run of bytes in the blob section.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blob {
    /// From the start of the blob section.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
}

/// Everything the next server needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Header {
    /// The server as a whole.
    pub server: ServerState,
    /// Every live session, oldest first.
    pub sessions: Vec<SessionState>,
    /// The mirrors of other machines' sessions (`mirrors.rs`), so that their phones'
    /// ports, keys and output positions outlast the hand-over as local sessions' do.
    #[serde(default)]
    pub mirrors: Vec<MirrorState>,
}

/// Server-wide state. Descriptor numbers are the same in the new process (exec keeps
/// them), with close-on-exec cleared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerState {
    /// The writer's version (`CARGO_PKG_VERSION`), for the log and `upgrade`'s answer.
    pub written_by: String,
    /// The pid, which exec keeps: a reader in another process only checks the format.
    pub pid: u32,
    /// When the first server of this pid started (kept across upgrades).
    pub started_at_ms: u64,
    /// The settings in force (`Config` as JSON): the ports and limits stay those of the
    /// running server, whatever config.json says now.
    pub config: serde_json::Value,
    /// The dashboard's master key (hex), when the dashboard runs.
    pub master_key: Option<String>,
    /// `server.lock`, held (flock) across the exec.
    pub lock_fd: i32,
    /// The Unix socket's listener.
    pub unix_fd: i32,
    /// The dashboard's listener, when it runs.
    pub dashboard_fd: Option<i32>,
    /// The local API's listener, when it runs.
    pub api_fd: Option<i32>,
}

/// One session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionState {
    /// 16 lowercase hex characters.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Program and arguments.
    pub command: Vec<String>,
    /// Working directory.
    pub cwd: String,
    /// The program's pid: still this process's child after exec.
    pub pid: u32,
    /// Milliseconds since the epoch when it started.
    pub started_at_ms: u64,
    /// Milliseconds since the epoch of the last input or output.
    pub last_seen_ms: u64,
    /// The PTY's size.
    pub size: Size,
    /// Its ring and terminal state.
    #[serde(flatten)]
    pub output: OutputState,
    /// Input accepted from clients and not yet written to the program.
    pub input: Blob,
    /// The phone listener, when the session has one.
    pub web: Option<WebState>,
    /// Why the phone URL is not in the mode asked for, if it is not.
    pub network_warning: Option<String>,
    /// Clients attached at the hand-over (they reconnect on their own).
    pub clients: ClientCounts,
    /// Attention pending, and what it said.
    pub attention: bool,
    /// What the pending attention said.
    pub attention_message: Option<String>,
    /// Alerts raised so far.
    pub alerts: u64,
    /// The exit status when the program had exited (and was reaped) but its output was
    /// still being drained: the new server finishes the drain and publishes it.
    pub reaped: Option<ExitStatus>,
    /// The program was hung up (`kill`, SIGHUP) and has not exited yet: the new server
    /// hangs it up again and arms the SIGKILL that follows within the grace period.
    #[serde(default)]
    pub hung_up: bool,
    /// The PTY master.
    pub master_fd: i32,
}

/// A session's output: its ring and its terminal state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputState {
    /// The ring's capacity (`scrollbackBufferSize` when it started).
    pub ring_capacity: u64,
    /// The seq of the ring's first byte; the ring's bytes follow, so the head is
    /// `ring_start + ring.len`.
    pub ring_start: u64,
    /// The ring's bytes.
    pub ring: Blob,
    /// The output position the terminal state reflects.
    pub term_seq: u64,
    /// The terminal state as a repaint with history (`Session::redraw_with_history`),
    /// parsed by the new server into a fresh terminal state at `term_seq`.
    pub redraw: Blob,
}

/// The mirror of another machine's session: what its phones need to find again (port,
/// keys, output at the remote's seqs). The new server follows the remote session again
/// (`Follow` from the head) once a client attaches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MirrorState {
    /// The machine's name.
    pub machine: String,
    /// The session's id (the same on that machine and here).
    pub id: String,
    /// Its name here (`MACHINE:NAME`).
    pub name: String,
    /// Program and arguments, as that machine reported them.
    pub command: Vec<String>,
    /// Working directory there.
    pub cwd: String,
    /// Milliseconds since the epoch when it started.
    pub started_at_ms: u64,
    /// The size that machine applied last.
    pub size: Size,
    /// Its ring and terminal state.
    #[serde(flatten)]
    pub output: OutputState,
    /// The phone listener on this machine.
    pub web: WebState,
    /// Why the phone URL is not in the mode asked for, if it is not.
    pub network_warning: Option<String>,
}

/// A session's phone listener and its keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebState {
    /// Its port.
    pub port: u16,
    /// `http://HOST:PORT/` (or `https://`): links are this plus the key.
    pub base_url: String,
    /// The full key (hex).
    pub full: String,
    /// The read-only key (hex).
    pub read_only: Option<String>,
    /// Rotations so far: (full, read-only).
    pub generations: (u64, u64),
    /// The listening socket.
    pub fd: i32,
}

/// A state being written: the header and the blob section it refers to.
#[derive(Default)]
pub struct Writer {
    blobs: Vec<u8>,
}

impl Writer {
    /// Appends `bytes` to the blob section.
    pub fn blob(&mut self, bytes: &[u8]) -> Blob {
        let blob = Blob {
            offset: self.blobs.len() as u64,
            len: bytes.len() as u64,
        };
        self.blobs.extend_from_slice(bytes);
        blob
    }

    /// The whole state, in version [`VERSION`].
    pub fn finish(self, header: &Header) -> Vec<u8> {
        encode_as(VERSION, header, &self.blobs)
    }
}

fn encode_as(version: u32, header: &Header, blobs: &[u8]) -> Vec<u8> {
    let json = serde_json::to_vec(header).expect("the header serializes");
    let mut out = Vec::with_capacity(PREFIX + json.len() + blobs.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&(json.len() as u64).to_be_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(blobs);
    out
}

/// A state that was read and checked: every blob lies inside it.
#[derive(Debug)]
pub struct Decoded {
    /// The version it was written in.
    pub version: u32,
    /// The header.
    pub header: Header,
    blobs: Vec<u8>,
}

impl Decoded {
    /// The bytes of `blob` (checked by [`decode`]).
    pub fn bytes(&self, blob: Blob) -> &[u8] {
        &self.blobs[blob.offset as usize..(blob.offset + blob.len) as usize]
    }
}

/// Reads and checks a state: the magic, a version this binary reads, the header, every
/// blob's bounds, and that no two descriptors have the same number.
pub fn decode(mut bytes: Vec<u8>) -> Result<Decoded, Refused> {
    if bytes.len() < PREFIX || bytes[..8] != MAGIC {
        return Err(Refused::NotAState);
    }
    let version = u32::from_be_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if !(OLDEST_READ..=VERSION).contains(&version) {
        return Err(Refused::Version {
            found: version,
            oldest: OLDEST_READ,
            newest: VERSION,
        });
    }
    let header_len = u64::from_be_bytes(bytes[12..20].try_into().expect("8 bytes"));
    if header_len > MAX_HEADER || header_len > (bytes.len() - PREFIX) as u64 {
        return Err(Refused::Damaged(format!(
            "a header of {header_len} bytes in a state of {} bytes",
            bytes.len()
        )));
    }
    let header_end = PREFIX + header_len as usize;
    let header = read_header(version, &bytes[PREFIX..header_end])?;
    bytes.drain(..header_end);
    let decoded = Decoded {
        version,
        header,
        blobs: bytes,
    };
    check(&decoded)?;
    Ok(decoded)
}

/// The header of `version` as this version's [`Header`]. Version N-1 differs from N only
/// by fields N added, which default (`state-next` adds none: its N-1 is the release's
/// format, read as is); a later format change that renames or reshapes a field migrates
/// it here.
fn read_header(version: u32, json: &[u8]) -> Result<Header, Refused> {
    let header: Header = serde_json::from_slice(json)
        .map_err(|e| Refused::Damaged(format!("header (version {version}): {e}")))?;
    Ok(header)
}

fn check(state: &Decoded) -> Result<(), Refused> {
    let len = state.blobs.len() as u64;
    let mut fds = vec![state.header.server.lock_fd, state.header.server.unix_fd];
    fds.extend(state.header.server.dashboard_fd);
    fds.extend(state.header.server.api_fd);
    for session in &state.header.sessions {
        check_output(
            &session.id,
            &session.output,
            &[("input", session.input)],
            len,
        )?;
        fds.push(session.master_fd);
        fds.extend(session.web.as_ref().map(|web| web.fd));
    }
    for mirror in &state.header.mirrors {
        check_output(&mirror.id, &mirror.output, &[], len)?;
        fds.push(mirror.web.fd);
    }
    let count = fds.len();
    fds.sort_unstable();
    fds.dedup();
    if fds.len() != count || fds.first().is_some_and(|fd| *fd < 0) {
        return Err(Refused::Damaged("descriptor numbers repeat".into()));
    }
    Ok(())
}

/// Every blob of session `id` (its ring, its redraw and `more`) lies within the `len`
/// bytes of the blob section, its ring within its capacity and its terminal state not
/// ahead of its output.
fn check_output(
    id: &str,
    output: &OutputState,
    more: &[(&str, Blob)],
    len: u64,
) -> Result<(), Refused> {
    let blobs = [("ring", output.ring), ("redraw", output.redraw)];
    for (what, blob) in blobs.iter().chain(more) {
        if blob
            .offset
            .checked_add(blob.len)
            .is_none_or(|end| end > len)
        {
            return Err(Refused::Damaged(format!(
                "session {id}: its {what} lies outside the state"
            )));
        }
    }
    if output.ring.len > output.ring_capacity {
        return Err(Refused::Damaged(format!(
            "session {id}: a ring of {} bytes in a capacity of {}",
            output.ring.len, output.ring_capacity
        )));
    }
    if output.term_seq > output.ring_start + output.ring.len {
        return Err(Refused::Damaged(format!(
            "session {id}: its terminal state is ahead of its output"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(w: &mut Writer, n: i32) -> SessionState {
        SessionState {
            id: format!("{n:016x}"),
            name: format!("s{n}"),
            command: vec!["bash".into(), "-l".into()],
            cwd: "/tmp".into(),
            pid: 1000 + n as u32,
            started_at_ms: 1,
            last_seen_ms: 2,
            size: Size { cols: 80, rows: 24 },
            output: OutputState {
                ring_capacity: 1 << 20,
                ring_start: 10,
                ring: w.blob(b"ring bytes \x1b[31m\xff"),
                term_seq: 12,
                redraw: w.blob(b"\x1bcscreen"),
            },
            input: w.blob(b"typed"),
            web: Some(WebState {
                port: 40000,
                base_url: "http://127.0.0.1:40000/".into(),
                full: "aa".repeat(32),
                read_only: Some("bb".repeat(32)),
                generations: (1, 0),
                fd: 20 + n,
            }),
            network_warning: None,
            clients: ClientCounts {
                terminals: 1,
                phones: 2,
                read_only: 0,
            },
            attention: true,
            attention_message: Some("bell".into()),
            alerts: 3,
            reaped: (n == 2).then_some(ExitStatus {
                code: 0,
                signal: None,
            }),
            hung_up: n == 1,
            master_fd: 10 + n,
        }
    }

    fn mirror(w: &mut Writer) -> MirrorState {
        let web = session(w, 3).web.unwrap();
        MirrorState {
            machine: "devbox".into(),
            id: "00000000000000aa".into(),
            name: "devbox:api".into(),
            command: vec!["cat".into()],
            cwd: "/srv".into(),
            started_at_ms: 7,
            size: Size { cols: 90, rows: 30 },
            output: OutputState {
                ring_capacity: 1 << 16,
                ring_start: 500,
                ring: w.blob(b"remote bytes"),
                term_seq: 505,
                redraw: w.blob(b"\x1bcremote screen"),
            },
            web,
            network_warning: Some("no tailscale".into()),
        }
    }

    fn sample() -> (Header, Vec<u8>) {
        let mut w = Writer::default();
        let sessions = vec![session(&mut w, 1), session(&mut w, 2)];
        let mirrors = vec![mirror(&mut w)];
        let header = Header {
            server: ServerState {
                written_by: "0.1.0".into(),
                pid: 42,
                started_at_ms: 5,
                config: serde_json::json!({"apiPort": 1}),
                master_key: Some("cc".repeat(32)),
                lock_fd: 3,
                unix_fd: 4,
                dashboard_fd: Some(5),
                api_fd: None,
            },
            sessions,
            mirrors,
        };
        let bytes = w.finish(&header);
        (header, bytes)
    }

    #[test]
    fn round_trips_header_and_blobs() {
        let (header, bytes) = sample();
        let decoded = decode(bytes).unwrap();
        assert_eq!(decoded.version, VERSION);
        assert_eq!(decoded.header, header);
        let s = &decoded.header.sessions[1];
        assert_eq!(decoded.bytes(s.output.ring), b"ring bytes \x1b[31m\xff");
        assert_eq!(decoded.bytes(s.output.redraw), b"\x1bcscreen");
        assert_eq!(decoded.bytes(s.input), b"typed");
        let m = &decoded.header.mirrors[0];
        assert_eq!(decoded.bytes(m.output.ring), b"remote bytes");
    }

    #[test]
    fn a_state_from_before_mirrors_were_handed_over_reads_with_none() {
        let (mut header, bytes) = sample();
        let blobs = &bytes[PREFIX + serde_json::to_vec(&header).unwrap().len()..];
        let mut json = serde_json::to_value(&header).unwrap();
        json.as_object_mut().unwrap().remove("mirrors");
        // The ring's fields sit in the session's object, as they always have.
        assert!(json["sessions"][0]["ringStart"].is_u64(), "{json}");
        let json = serde_json::to_vec(&json).unwrap();
        let mut old = Vec::new();
        old.extend_from_slice(&MAGIC);
        old.extend_from_slice(&OLDEST_READ.to_be_bytes());
        old.extend_from_slice(&(json.len() as u64).to_be_bytes());
        old.extend_from_slice(&json);
        old.extend_from_slice(blobs);
        header.mirrors.clear();
        assert_eq!(decode(old).unwrap().header, header);
    }

    #[test]
    fn reads_the_previous_version_and_refuses_others() {
        let (header, bytes) = sample();
        let blobs = &bytes[PREFIX + serde_json::to_vec(&header).unwrap().len()..];
        let previous = encode_as(OLDEST_READ, &header, blobs);
        assert_eq!(decode(previous).unwrap().header, header);
        for version in [0, VERSION + 1, u32::MAX] {
            if (OLDEST_READ..=VERSION).contains(&version) {
                continue;
            }
            let err = decode(encode_as(version, &header, blobs)).unwrap_err();
            assert_eq!(
                err,
                Refused::Version {
                    found: version,
                    oldest: OLDEST_READ,
                    newest: VERSION
                }
            );
            assert!(err.to_string().contains(&format!("version {version}")));
        }
    }

    #[test]
    fn refuses_damage_with_one_line() {
        let (_, bytes) = sample();
        assert_eq!(decode(b"hello".to_vec()).unwrap_err(), Refused::NotAState);
        // Cut anywhere: refused, never a panic.
        for cut in [PREFIX, PREFIX + 5, bytes.len() - 1] {
            let err = decode(bytes[..cut].to_vec()).unwrap_err();
            assert!(matches!(err, Refused::Damaged(_)), "{cut}: {err}");
            assert!(!err.to_string().contains('\n'));
        }
        let mut bad = bytes.clone();
        bad[PREFIX] = b'[';
        assert!(matches!(decode(bad), Err(Refused::Damaged(_))));
    }

    #[test]
    fn refuses_repeated_descriptors() {
        let (header, _) = sample();
        for repeat in ["a master", "a mirror's listener"] {
            let mut w = Writer::default();
            let mut header = header.clone();
            header.sessions = vec![session(&mut w, 1), session(&mut w, 2)];
            header.mirrors = vec![mirror(&mut w)];
            match repeat {
                "a master" => header.sessions[1].master_fd = header.sessions[0].master_fd,
                _ => header.mirrors[0].web.fd = header.sessions[0].master_fd,
            }
            let err = decode(w.finish(&header)).unwrap_err();
            let expected = Refused::Damaged("descriptor numbers repeat".into());
            assert_eq!(err, expected, "{repeat}");
        }
    }
}
