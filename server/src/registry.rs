//! The live sessions: creation, lookup by id, id prefix or name, renaming, removal.
//!
//! Every name passes `protocol::text::check_name`, whoever gives it (the CLI over the
//! socket, the dashboard's page); a name derived from the program is made valid with
//! `name_from` (a program named with escape sequences must not name a session with them).
//!
//! A `std::sync::Mutex` guards the map; it is held only to copy handles in or out, never
//! across an `.await`. A session leaves the map when its program has exited and its
//! output is drained; clients still attached keep their handle and finish reading it.
//! The last few ended sessions are kept a while longer, found only by exact id with
//! [`Registry::find_ended`]: an attachment from another machine whose link was cut while
//! the program ended resumes (`Follow`) with the output it missed and the exit status.

use std::collections::VecDeque;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use std::panic::AssertUnwindSafe;

use anyhow::{bail, Context};
use futures_util::FutureExt;
use itwillsync_protocol::text::{check_name, name_from};
use itwillsync_protocol::{EventKind, NewSession, Size};
use rand::RngExt;
use tokio::sync::watch;

use crate::config::Config;
use crate::events::Events;
use crate::handover::state::{Decoded, SessionState};
use crate::handover::{Hold, HoldTable, Holds};
use crate::output_log::OutputLog;
use crate::program::Program;
use crate::session::{Parts, Session};
use crate::size::Clients;
use crate::web::Transport;

/// The live sessions, oldest first.
pub struct Registry {
    sessions: Mutex<Vec<Arc<Session>>>,
    config: Config,
    /// HTTP or HTTPS, for the sessions' phone listeners.
    transport: Transport,
    logs_dir: PathBuf,
    /// Bumped on every add and remove, for the idle-shutdown timer and listeners.
    changes: watch::Sender<u64>,
    /// Lifecycle events: sessions started, renamed, exited (and, through each session,
    /// attention and clients).
    events: Arc<Events>,
    /// Per live session, what a hand-over needs: its actor's stop, its master's number,
    /// its phone listener (`handover`). Its own lock, never held with `sessions`.
    holds: HoldTable,
    /// A hand-over is under way: no session starts.
    upgrading: AtomicBool,
    /// Sessions that ended, newest last, with when: at most [`ENDED_KEPT`], for
    /// [`ENDED_FOR`].
    ended: Mutex<VecDeque<(Instant, Arc<Session>)>>,
}

/// How many ended sessions are kept for `Follow` (each with its ring).
const ENDED_KEPT: usize = 4;
/// How long an ended session is kept for `Follow`: as long as its phone page says it
/// ended.
const ENDED_FOR: Duration = crate::web::ENDED_LINGER;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves the vector consistent, so poisoning is harmless.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Registry {
    /// An empty registry.
    pub fn new(
        config: Config,
        transport: Transport,
        logs_dir: PathBuf,
        events: Arc<Events>,
    ) -> Arc<Self> {
        Arc::new(Self {
            sessions: Mutex::new(Vec::new()),
            config,
            transport,
            logs_dir,
            changes: watch::channel(0).0,
            events,
            holds: HoldTable::default(),
            upgrading: AtomicBool::new(false),
            ended: Mutex::new(VecDeque::new()),
        })
    }

    /// What a hand-over needs of each live session.
    pub(crate) fn holds(&self) -> Holds<'_> {
        self.holds.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Refuses (or again accepts) new sessions while a hand-over is under way.
    pub(crate) fn set_upgrading(&self, upgrading: bool) {
        self.upgrading.store(upgrading, Ordering::SeqCst);
    }

    /// Live sessions, oldest first.
    pub fn list(&self) -> Vec<Arc<Session>> {
        lock(&self.sessions).clone()
    }

    /// The live sessions whose program has not ended, oldest first: what `ls` shows. A
    /// session whose end its clients were told stays in [`Registry::list`] until the task
    /// that removes it runs; listed meanwhile, it would still show after its own
    /// attachment printed the exit.
    pub fn running(&self) -> Vec<Arc<Session>> {
        let mut sessions = self.list();
        sessions.retain(|s| !s.has_ended());
        sessions
    }

    /// Notified on every add and remove.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// A session that ended less than [`ENDED_FOR`] ago (one of the last [`ENDED_KEPT`]),
    /// by exact id: what `Follow` resumes when the live sessions have none.
    pub fn find_ended(&self, id: &str) -> Option<Arc<Session>> {
        self.ended()
            .iter()
            .find(|(_, s)| s.id == id)
            .map(|(_, s)| s.clone())
    }

    /// The ended sessions kept, those older than [`ENDED_FOR`] let go first.
    fn ended(&self) -> MutexGuard<'_, VecDeque<(Instant, Arc<Session>)>> {
        let mut ended = lock(&self.ended);
        ended.retain(|(at, _)| at.elapsed() < ENDED_FOR);
        ended
    }

    /// Finds a session by exact id, exact name or unique id prefix.
    pub fn find(&self, target: &str) -> anyhow::Result<Arc<Session>> {
        let sessions = lock(&self.sessions);
        if let Some(s) = sessions.iter().find(|s| s.id == target) {
            return Ok(s.clone());
        }
        if let Some(s) = sessions.iter().find(|s| s.name() == target) {
            return Ok(s.clone());
        }
        let matches: Vec<_> = sessions
            .iter()
            .filter(|s| !target.is_empty() && s.id.starts_with(target))
            .collect();
        match matches.as_slice() {
            [one] => Ok((*one).clone()),
            [] => bail!("no session matches {target:?}"),
            many => bail!(
                "{target:?} is ambiguous: it matches {}",
                many.iter()
                    .map(|s| s.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// The session with the most recent input or output.
    pub fn most_recent(&self) -> anyhow::Result<Arc<Session>> {
        lock(&self.sessions)
            .iter()
            .max_by_key(|s| s.last_seen_ms())
            .cloned()
            .context("no sessions are running")
    }

    /// Renames a session; names are unique among live sessions.
    pub fn rename(&self, target: &str, name: &str) -> anyhow::Result<Arc<Session>> {
        let name = check_name(name)?.to_string();
        let session = self.find(target)?;
        let sessions = lock(&self.sessions);
        if sessions
            .iter()
            .any(|s| s.id != session.id && s.name() == name)
        {
            bail!("a session named {name:?} already exists");
        }
        let old = session.name();
        session.set_name(name.clone());
        drop(sessions);
        self.changes.send_modify(|n| *n += 1);
        if old != name {
            let renamed = EventKind::SessionRenamed;
            self.events.session(renamed, &session.id, &name, Some(old));
        }
        Ok(session)
    }

    /// Starts a session. The command is resolved before anything is created, so a missing
    /// program is an error that leaves no trace. Resolving, binding the phone listener
    /// (which may ask `tailscale` for an address) and fork/exec run on a blocking thread,
    /// with no lock held; the name and the session limit are checked again before the
    /// session is added (a program started for a name taken meanwhile is killed).
    pub async fn create(self: &Arc<Self>, spec: NewSession) -> anyhow::Result<Arc<Session>> {
        if self.upgrading.load(Ordering::SeqCst) {
            bail!("the server is being upgraded: try again in a moment");
        }
        self.admit(spec.name.as_deref())?;
        let id = format!("{:016x}", rand::rng().random::<u64>());
        let max = Size {
            cols: self.config.max_terminal_cols,
            rows: self.config.max_terminal_rows,
        };
        let takeover = std::time::Duration::from_secs(self.config.phone_takeover_secs);
        let clients = Clients::new(self.config.resize_policy, max).with_takeover(takeover);
        let size = clients.clamp(spec.size);
        let spec = NewSession { size, ..spec };
        let (config, transport) = (self.config.clone(), self.transport.clone());
        let (started_id, started_spec) = (id.clone(), spec.clone());
        let (web, spawned) = tokio::task::spawn_blocking(move || {
            start(&config, &transport, &started_spec, &started_id)
        })
        .await
        .context("the session's start-up failed")??;
        let program = Program::new(spawned.child);
        let mut sessions = lock(&self.sessions);
        let name = match self.admit_locked(&sessions, spec.name.as_deref()) {
            Ok(name) => name.unwrap_or_else(|| unique_name(&sessions, &spec.command[0])),
            Err(e) => {
                drop(sessions);
                discard(program);
                return Err(e);
            }
        };
        let pid = program.pid;
        let (session, _size_rx) = Session::new(Parts {
            id: id.clone(),
            name,
            command: spec.command.clone(),
            cwd: spec.cwd.clone(),
            program,
            size,
            ring_capacity: self.config.scrollback_buffer_size,
            clients,
            web: Some((web.port, web.keys.clone())),
            network_warning: web.warning.clone(),
            events: self.events.clone(),
        });
        sessions.push(session.clone());
        drop(sessions);
        tracing::info!(session = %id, pid, "session started");
        self.launch(&session, spawned.master, web, None);
        let started = EventKind::SessionStarted;
        self.events
            .session(started, &session.id, &session.name(), None);
        Ok(session)
    }

    /// Starts what serves a session that is in the list: its actor on `master`, its
    /// terminal-state follower, its phone listener, and the watcher that removes it once
    /// it has ended.
    fn launch(
        self: &Arc<Self>,
        session: &Arc<Session>,
        master: OwnedFd,
        web: crate::web::Bound,
        reaped: Option<itwillsync_protocol::ExitStatus>,
    ) {
        let phone = web
            .listener_fd()
            .inspect_err(|e| tracing::warn!(session = %session.id, "the phone port cannot be handed over: {e}"))
            .ok();
        self.start_actor(session, master, phone, reaped);
        if let Err(e) = session.spawn_follower() {
            // Without a follower the session still runs; redraws show a blank screen.
            tracing::error!(session = %session.id, "cannot start the terminal-state thread: {e}");
        }
        crate::web::spawn(web, session.clone(), &self.config);
        let registry = self.clone();
        let watched = session.clone();
        tokio::spawn(async move {
            let status = watched.exited().await;
            crate::test_hooks::pause("session-removal", &watched.id).await;
            lock(&registry.sessions).retain(|s| s.id != watched.id);
            registry.holds().remove(&watched.id);
            registry.changes.send_modify(|n| *n += 1);
            registry.events.exited(&watched.id, &watched.name(), status);
            let mut ended = registry.ended();
            if ended.len() == ENDED_KEPT {
                ended.pop_front();
            }
            ended.push_back((Instant::now(), watched));
        });
        self.changes.send_modify(|n| *n += 1);
    }

    /// Runs a session's actor on `master`, supervised: a panic ends that session only.
    fn start_actor(
        &self,
        session: &Arc<Session>,
        master: OwnedFd,
        phone: Option<OwnedFd>,
        reaped: Option<itwillsync_protocol::ExitStatus>,
    ) {
        let (hold, link) = Hold::new(master.as_fd(), phone, reaped);
        self.holds().insert(session.id.clone(), hold);
        let log = OutputLog::open(
            &self.logs_dir,
            &session.id,
            self.config.max_log_bytes_per_session,
        );
        let size_rx = session.watch().size;
        let actor = crate::actor::run(session.clone(), master, size_rx, log, link);
        let supervised = session.clone();
        tokio::spawn(async move {
            // A panic ends this session only: its program is killed and its clients told.
            if let Err(panic) = AssertUnwindSafe(actor).catch_unwind().await {
                let why = crate::panic_message(&panic);
                tracing::error!(session = %supervised.id, "the session failed: {why}");
                supervised.fail().await;
            }
        });
    }

    /// Restarts the actor of a session whose hand-over was rolled back.
    pub(crate) fn restart_actor(
        &self,
        session: &Arc<Session>,
        master: OwnedFd,
        reaped: Option<itwillsync_protocol::ExitStatus>,
    ) {
        let phone = self
            .holds()
            .get_mut(&session.id)
            .and_then(|hold| hold.take_phone());
        self.start_actor(session, master, phone, reaped);
    }

    /// Adopts a session a previous server handed over (`handover`): its program by pid,
    /// its PTY master and phone listener by descriptor number, its ring, terminal state,
    /// keys and name as they were.
    pub(crate) fn adopt(
        self: &Arc<Self>,
        state: &SessionState,
        decoded: &Decoded,
    ) -> anyhow::Result<Arc<Session>> {
        let master = crate::handover::inherited(state.master_fd);
        let web = match &state.web {
            Some(web) => {
                let listener = std::net::TcpListener::from(crate::handover::inherited(web.fd));
                let keys = crate::web::keys::Keys::adopted(web)?;
                let warning = state.network_warning.clone();
                crate::web::Bound::adopt(listener, &self.transport, Arc::new(keys), warning)?
            }
            None => bail!("the session has no phone listener"),
        };
        let max = Size {
            cols: self.config.max_terminal_cols,
            rows: self.config.max_terminal_rows,
        };
        let takeover = std::time::Duration::from_secs(self.config.phone_takeover_secs);
        let clients = Clients::new(self.config.resize_policy, max).with_takeover(takeover);
        let program = Program::adopt(state.pid, state.reaped.is_some());
        let (session, _size_rx) = Session::restore(
            Parts {
                id: state.id.clone(),
                name: state.name.clone(),
                command: state.command.clone(),
                cwd: state.cwd.clone(),
                program,
                size: state.size,
                ring_capacity: state.output.ring_capacity as usize,
                clients,
                web: Some((web.port, web.keys.clone())),
                network_warning: state.network_warning.clone(),
                events: self.events.clone(),
            },
            state,
            decoded,
        );
        lock(&self.sessions).push(session.clone());
        self.launch(&session, master, web, state.reaped);
        if state.hung_up {
            // Its SIGKILL timer was the previous process's: hang up again, arming ours.
            let _ = session.terminate();
        }
        Ok(session)
    }

    /// Whether a session named `name` (checked; automatic when `None`) may start now.
    fn admit(&self, name: Option<&str>) -> anyhow::Result<()> {
        self.admit_locked(&lock(&self.sessions), name).map(drop)
    }

    fn admit_locked(
        &self,
        sessions: &[Arc<Session>],
        name: Option<&str>,
    ) -> anyhow::Result<Option<String>> {
        if sessions.len() >= self.config.max_sessions {
            bail!(
                "the server already runs {} sessions (maxSessions)",
                sessions.len()
            );
        }
        let Some(name) = name else { return Ok(None) };
        let name = check_name(name)?.to_string();
        if sessions.iter().any(|s| s.name() == name) {
            bail!("a session named {name:?} already exists");
        }
        Ok(Some(name))
    }
}

/// The blocking part of starting a session: the directory and program checks, the phone
/// listener, fork and exec.
fn start(
    config: &Config,
    transport: &Transport,
    spec: &NewSession,
    id: &str,
) -> anyhow::Result<(crate::web::Bound, crate::pty::Spawned)> {
    let cwd = Path::new(&spec.cwd);
    if !cwd.is_dir() {
        bail!("no such directory: {}", spec.cwd);
    }
    let program = spec.command.first().context("no command given")?;
    let resolved = crate::pty::resolve_program(program, &spec.env, cwd)?;
    let networking = spec.networking.as_deref();
    let web = crate::web::bind(config, transport, spec.port, networking)?;
    let spawned = crate::pty::spawn(&resolved, spec, &[("ITWILLSYNC_SESSION", id)])?;
    Ok((web, spawned))
}

/// Kills and reaps a program that will not become a session, off the async workers.
fn discard(program: Program) {
    let _ = program.signal(libc::SIGKILL);
    tokio::task::spawn_blocking(move || {
        while program.try_reap().is_none() {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    });
}

/// The program's base name, with `-2`, `-3`... when taken. A base name that is not a valid
/// session name (control characters, say) loses what makes it invalid (`name_from`).
fn unique_name(sessions: &[Arc<Session>], program: &str) -> String {
    let file_name = Path::new(program)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| program.to_string());
    let base = name_from(&file_name);
    let taken = |n: &str| sessions.iter().any(|s| s.name() == n);
    if !taken(&base) {
        return base;
    }
    (2..)
        .map(|i| format!("{base}-{i}"))
        .find(|n| !taken(n))
        .unwrap_or(base)
}
