//! Upgrading the server in place (DESIGN.md "Hand-over"): `itwillsync server upgrade`
//! makes the running server `exec` a new binary under the same pid, so every program
//! stays its child, every PTY master and listening socket stays open, and no session,
//! byte or link is lost.
//!
//! 1. **Check.** The state (`state`) is captured while everything runs and written to a
//!    sealed memfd; the new binary reads it in a child (`itwillsync server check-state
//!    FD`). If that child fails (it cannot read the version, crashes, is not an
//!    executable for this machine), the server answers why and keeps serving: nothing
//!    was stopped.
//! 2. **Stop.** New sessions are refused; each actor stops between two events and hands
//!    back its PTY master, open, with the input it had not written (`actor.rs`), after
//!    its session log is on disk. Attached terminals are told (`ServerMsg::HandOver`) and
//!    their connections end; they reconnect and resume from their seq (`Follow`).
//! 3. **Exec.** The final state (rings, terminal states as repaints with history, keys,
//!    sizes, the input queued) goes into a new sealed memfd; close-on-exec is cleared on
//!    it, the lock file, the Unix, dashboard and API listeners, every phone listener and
//!    every PTY master; the server execs `NEWBIN server --adopt FD`. If the exec itself
//!    fails, the actors restart on the same masters (the rollback) and the client is told.
//! 4. **Adopt.** The new process reads the state (`adopt`), takes the lock, listeners and
//!    masters by their numbers, rebuilds each session (ring at the same seq, terminal state
//!    from its repaint, program by pid, keys) and each mirror of another machine's session
//!    (ring, terminal state, phone listener and keys; it follows the remote again once a
//!    client attaches), and serves. Phones see their socket close and reconnect with the
//!    key they keep, resuming from `lastSeq`.
//!
//! Listening sockets are never closed: the old process stops accepting only by ceasing to
//! exist, and a connection that arrives meanwhile waits in the kernel's backlog for the
//! new one.

mod adopt;
mod hold;
pub mod state;

pub(crate) use adopt::{adopt_sessions, describe, inherited};
pub use adopt::{check_state, load};
use hold::{resume_actors, stop_actors};
pub(crate) use hold::{ActorLink, Handed, Hold, HoldTable, Holds};

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Write;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use itwillsync_protocol::seal::Key;
use tokio::sync::watch;

use crate::config::Config;
use crate::mirrors::Mirrors;
use crate::registry::Registry;
use crate::session::Carried;
use state::{Header, ServerState, Writer};

/// How long the new binary may take to read a copy of the state.
const CHECK_TIMEOUT: Duration = Duration::from_secs(30);
/// How long attached terminals and phones are given to be told (`HandOver`, 1012).
const GOODBYE_TIMEOUT: Duration = Duration::from_secs(1);

/// Phones' side of a hand-over: their loops close with 1012 ("service restart") when it
/// turns true, so a page knows to reconnect at once rather than after a dropped socket.
/// One server runs per process, so one flag per process: phone loops are started by
/// the sessions' listeners, far from the server's `run`.
static PHONES_LEAVING: std::sync::OnceLock<watch::Sender<bool>> = std::sync::OnceLock::new();

fn phones_leaving_sender() -> &'static watch::Sender<bool> {
    PHONES_LEAVING.get_or_init(|| watch::channel(false).0)
}

/// Watched by every phone loop: true while the server hands over.
pub(crate) fn phones_leaving() -> watch::Receiver<bool> {
    phones_leaving_sender().subscribe()
}

/// Set while the web listeners (phone ports, the dashboard) must not accept, as the
/// Unix socket's [`Server::paused`]. Per process, like [`PHONES_LEAVING`].
static WEB_PAUSED: std::sync::OnceLock<watch::Sender<bool>> = std::sync::OnceLock::new();

fn web_paused_sender() -> &'static watch::Sender<bool> {
    WEB_PAUSED.get_or_init(|| watch::channel(false).0)
}

/// Watched by every web listener's accept loop.
pub(crate) fn web_paused() -> watch::Receiver<bool> {
    web_paused_sender().subscribe()
}

/// The close code phones get at a hand-over (RFC 6455 "service restart").
pub(crate) const CLOSE_SERVICE_RESTART: u16 = 1012;

/// Server-wide pieces of a hand-over, made by `run`.
pub struct Server {
    /// `server.lock`'s descriptor, held by the daemon; `None` for servers started
    /// in-process (tests), which cannot hand over.
    lock_fd: Option<RawFd>,
    /// Duplicates of the listeners (their tasks own the originals).
    unix: Option<OwnedFd>,
    dashboard: Option<OwnedFd>,
    api: Option<OwnedFd>,
    started_at_ms: u64,
    config: Config,
    master_key: Option<Key>,
    /// The mirrors of other machines' sessions: handed over too.
    mirrors: Arc<Mirrors>,
    /// Set while attached terminals are to leave; every attachment watches it (and
    /// only attachments: its receiver count is how many have not left yet).
    leaving: watch::Sender<bool>,
    /// Set while the listeners must not accept: a connection made now waits in the
    /// backlog for the new process (a terminal reconnecting at once after `HandOver`
    /// would otherwise reach the old one, which is about to vanish).
    paused: watch::Sender<bool>,
    /// One upgrade at a time.
    busy: tokio::sync::Mutex<()>,
}

/// What `run` gives [`Server::new`].
pub struct Listeners {
    /// The lock file's descriptor (see [`Server`]).
    pub lock_fd: Option<RawFd>,
    /// The Unix socket's listener.
    pub unix: Option<OwnedFd>,
    /// The dashboard's.
    pub dashboard: Option<OwnedFd>,
    /// The local API's.
    pub api: Option<OwnedFd>,
}

impl Server {
    /// The hand-over's view of a running server.
    pub fn new(
        listeners: Listeners,
        started_at_ms: u64,
        config: Config,
        master_key: Option<Key>,
        mirrors: Arc<Mirrors>,
    ) -> Self {
        Self {
            lock_fd: listeners.lock_fd,
            unix: listeners.unix,
            dashboard: listeners.dashboard,
            api: listeners.api,
            started_at_ms,
            config,
            master_key,
            mirrors,
            leaving: watch::channel(false).0,
            paused: watch::channel(false).0,
            busy: tokio::sync::Mutex::new(()),
        }
    }

    /// Watched by attached terminals: true when they are to leave for a hand-over.
    pub fn leaving(&self) -> watch::Receiver<bool> {
        self.leaving.subscribe()
    }

    /// Watched by the Unix socket's accept loop: true while it must not accept.
    pub fn paused(&self) -> watch::Receiver<bool> {
        self.paused.subscribe()
    }

    /// Checks that `binary` (this server's own executable when `None`) can read this
    /// server's state, then stops every session's actor and captures the final state.
    /// An error leaves everything running as it was.
    pub(crate) async fn prepare(
        &self,
        registry: &Arc<Registry>,
        binary: Option<String>,
    ) -> anyhow::Result<Prepared<'_>> {
        let Ok(busy) = self.busy.try_lock() else {
            bail!("an upgrade is already in progress");
        };
        let Some(lock_fd) = self.lock_fd else {
            bail!("this server runs in-process and cannot hand over");
        };
        let binary = match binary {
            Some(path) => checked_binary(Path::new(&path))?,
            None => own_binary()?,
        };
        // 1. The new binary reads a copy while everything runs.
        let (copy, _) = self.capture(registry, lock_fd, &HashMap::new())?;
        let memfd = sealed(&copy)?;
        check_with(&binary, &memfd).await?;
        drop(memfd);
        // 2. Stop.
        registry.set_upgrading(true);
        let handed = match stop_actors(registry).await {
            Ok(handed) => handed,
            Err((e, handed)) => {
                resume_actors(registry, handed, None);
                registry.set_upgrading(false);
                return Err(e);
            }
        };
        self.paused.send_replace(true);
        web_paused_sender().send_replace(true);
        self.leaving.send_replace(true);
        phones_leaving_sender().send_replace(true);
        // Attached terminals and phones drop their receivers once told.
        let goodbyes = async {
            while self.leaving.receiver_count() + phones_leaving_sender().receiver_count() > 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        let _ = tokio::time::timeout(GOODBYE_TIMEOUT, goodbyes).await;
        // 3. The final state.
        let (bytes, mirror_fds) = match self.capture(registry, lock_fd, &handed) {
            Ok(captured) => captured,
            Err(e) => {
                // Refused before any session was read: the input is as the actors had it.
                self.roll_back(registry, handed, None);
                return Err(e);
            }
        };
        let memfd = match sealed(&bytes) {
            Ok(memfd) => memfd,
            Err(e) => {
                self.roll_back(registry, handed, Some(&bytes));
                return Err(e);
            }
        };
        Ok(Prepared {
            server: self,
            registry: registry.clone(),
            binary,
            memfd,
            bytes,
            handed,
            mirror_fds,
            _busy: busy,
        })
    }

    /// The state of this server, every session still running and every mirror; `handed`
    /// has the actors' hand-backs by session id (none for a check's copy). With it, the
    /// duplicates of the mirrors' phone listeners the state names.
    fn capture(
        &self,
        registry: &Registry,
        lock_fd: RawFd,
        handed: &HashMap<String, Handed>,
    ) -> anyhow::Result<(Vec<u8>, Vec<OwnedFd>)> {
        // Checked first: once a session is exported, its queued input is in the state.
        let unix = self
            .unix
            .as_ref()
            .context("no Unix listener to hand over")?;
        let mut blobs = Writer::default();
        let mut sessions = Vec::new();
        let holds = registry.holds();
        for session in registry.list() {
            let Some(hold) = holds.get(&session.id) else {
                continue;
            };
            if session.has_ended() {
                continue; // ended: nothing to hand over
            }
            let back = handed.get(&session.id);
            if !handed.is_empty() && back.is_none() {
                continue; // its actor ended meanwhile
            }
            let carried = Carried {
                master_fd: back.map_or(hold.master_fd, |h| h.master.as_raw_fd()),
                input: back.map_or(&[][..], |h| &h.input[..]),
                reaped: back.and_then(|h| h.reaped),
                web_fd: hold.phone.as_ref().map(|fd| fd.as_raw_fd()),
            };
            sessions.push(session.export(&mut blobs, carried));
        }
        drop(holds);
        let (mirrors, mirror_fds) = self.mirrors.export(&mut blobs);
        let header = Header {
            server: ServerState {
                written_by: env!("CARGO_PKG_VERSION").to_string(),
                pid: std::process::id(),
                started_at_ms: self.started_at_ms,
                config: self.config.to_json(),
                master_key: self.master_key.as_ref().map(Key::to_hex),
                lock_fd,
                unix_fd: unix.as_raw_fd(),
                dashboard_fd: self.dashboard.as_ref().map(|fd| fd.as_raw_fd()),
                api_fd: self.api.as_ref().map(|fd| fd.as_raw_fd()),
            },
            sessions,
            mirrors,
        };
        Ok((blobs.finish(&header), mirror_fds))
    }

    /// Undoes a stop: actors restart on their masters, the input goes back in the
    /// queue (from the state `bytes` when one was written: it holds the queues too),
    /// terminals may attach and sessions start again.
    fn roll_back(
        &self,
        registry: &Arc<Registry>,
        handed: HashMap<String, Handed>,
        bytes: Option<&[u8]>,
    ) {
        let decoded = bytes.and_then(|b| state::decode(b.to_vec()).ok());
        resume_actors(registry, handed, decoded.as_ref());
        self.leaving.send_replace(false);
        self.paused.send_replace(false);
        web_paused_sender().send_replace(false);
        phones_leaving_sender().send_replace(false);
        registry.set_upgrading(false);
    }
}

/// A hand-over ready to exec.
pub(crate) struct Prepared<'a> {
    server: &'a Server,
    registry: Arc<Registry>,
    binary: PathBuf,
    memfd: OwnedFd,
    bytes: Vec<u8>,
    handed: HashMap<String, Handed>,
    /// The mirrors' phone listeners the state names (duplicates, kept open until the exec).
    mirror_fds: Vec<OwnedFd>,
    _busy: tokio::sync::MutexGuard<'a, ()>,
}

impl Prepared<'_> {
    /// The binary that will take over.
    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// Execs the new binary with the state; returns only if that failed, after the
    /// rollback (every session runs on as before).
    pub fn exec(self) -> anyhow::Error {
        let error = self.try_exec();
        tracing::error!("the hand-over failed, the sessions stay here: {error:#}");
        let Prepared {
            server,
            registry,
            bytes,
            handed,
            ..
        } = self;
        server.roll_back(&registry, handed, Some(&bytes));
        error
    }

    fn try_exec(&self) -> anyhow::Error {
        let mut fds: Vec<RawFd> = vec![self.memfd.as_raw_fd()];
        fds.extend(self.server.lock_fd);
        fds.extend(self.server.unix.as_ref().map(|fd| fd.as_raw_fd()));
        fds.extend(self.server.dashboard.as_ref().map(|fd| fd.as_raw_fd()));
        fds.extend(self.server.api.as_ref().map(|fd| fd.as_raw_fd()));
        fds.extend(self.handed.values().map(|h| h.master.as_raw_fd()));
        fds.extend(
            self.registry
                .holds()
                .values()
                .filter_map(|h| h.phone.as_ref().map(|fd| fd.as_raw_fd())),
        );
        fds.extend(self.mirror_fds.iter().map(|fd| fd.as_raw_fd()));
        for fd in &fds {
            // SAFETY: every number is a descriptor this struct (or the daemon) keeps open.
            let fd = unsafe { BorrowedFd::borrow_raw(*fd) };
            if let Err(e) = rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::empty()) {
                set_cloexec(&fds);
                return anyhow::anyhow!("cannot keep a descriptor open across exec: {e}");
            }
        }
        tracing::info!(binary = %self.binary.display(), sessions = self.handed.len(), "handing over");
        let error = Command::new(&self.binary)
            .arg0(arg0())
            .args(["server", "--adopt"])
            .arg(self.memfd.as_raw_fd().to_string())
            .exec();
        set_cloexec(&fds);
        anyhow::anyhow!("cannot run {}: {error}", self.binary.display())
    }
}

/// Sets close-on-exec again (after a failed exec).
fn set_cloexec(fds: &[RawFd]) {
    for fd in fds {
        // SAFETY: see `try_exec`.
        let fd = unsafe { BorrowedFd::borrow_raw(*fd) };
        let _ = rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::CLOEXEC);
    }
}

/// This process's `argv[0]`, for the new one.
fn arg0() -> OsString {
    std::env::args_os()
        .next()
        .unwrap_or_else(|| "itwillsync".into())
}

/// The executable this server runs: `/proc/self/exe`, which names the file even after a
/// package manager replaced it (without the kernel's " (deleted)").
fn own_binary() -> anyhow::Result<PathBuf> {
    let exe = std::fs::read_link("/proc/self/exe")
        .or_else(|_| std::env::current_exe())
        .context("cannot find this server's executable")?;
    let text = exe.to_string_lossy();
    let path = match text.strip_suffix(" (deleted)") {
        Some(path) => PathBuf::from(path),
        None => exe,
    };
    checked_binary(&path)
}

fn checked_binary(path: &Path) -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let meta =
        std::fs::metadata(path).with_context(|| format!("no new binary at {}", path.display()))?;
    if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
        bail!("{} is not an executable file", path.display());
    }
    std::fs::canonicalize(path).with_context(|| format!("cannot resolve {}", path.display()))
}

/// `bytes` in a sealed memfd (close-on-exec until the exec itself).
fn sealed(bytes: &[u8]) -> anyhow::Result<OwnedFd> {
    use rustix::fs::{MemfdFlags, SealFlags};
    let fd = rustix::fs::memfd_create(
        "itwillsync-state",
        MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
    )
    .context("cannot create a memfd for the state")?;
    let mut file = std::fs::File::from(fd);
    file.write_all(bytes).context("cannot write the state")?;
    let fd = OwnedFd::from(file);
    rustix::fs::fcntl_add_seals(
        &fd,
        SealFlags::WRITE | SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL,
    )
    .context("cannot seal the state")?;
    Ok(fd)
}

/// Runs `binary server check-state FD` on the state in `memfd`; its one-line error when
/// it fails.
async fn check_with(binary: &Path, memfd: &OwnedFd) -> anyhow::Result<()> {
    let raw = memfd.as_raw_fd();
    let mut cmd = tokio::process::Command::new(binary);
    cmd.args(["server", "check-state"])
        .arg(raw.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // SAFETY: only fcntl(2), async-signal-safe, between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let fd = BorrowedFd::borrow_raw(raw);
            rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::empty())?;
            Ok(())
        });
    }
    let shown = binary.display();
    let child = cmd.spawn().with_context(|| format!("cannot run {shown}"))?;
    let output = tokio::time::timeout(CHECK_TIMEOUT, child.wait_with_output())
        .await
        .with_context(|| format!("{shown} did not read the state within 30 s"))?
        .with_context(|| format!("cannot run {shown}"))?;
    if output.status.success() {
        return Ok(());
    }
    let said = String::from_utf8_lossy(&output.stderr);
    let line = said
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .trim_start_matches("itwillsync: ");
    match (line.is_empty(), output.status.code()) {
        (false, _) => bail!("{shown} cannot take over: {line}"),
        (true, Some(code)) => bail!("{shown} cannot take over: it exited with {code}"),
        (true, None) => bail!("{shown} cannot take over: it was killed by a signal"),
    }
}
