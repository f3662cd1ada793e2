//! The live sessions: creation, lookup by id, id prefix or name, renaming, removal.
//!
//! Every name passes `protocol::text::check_name`, whoever gives it (the CLI over the
//! socket, the dashboard's page); a name derived from the program is made valid with
//! `name_from` (a program named with escape sequences must not name a session with them).
//!
//! A `std::sync::Mutex` guards the map; it is held only to copy handles in or out, never
//! across an `.await`. A session leaves the map when its program has exited and its
//! output is drained; clients still attached keep their handle and finish reading it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::{bail, Context};
use itwillsync_protocol::text::{check_name, name_from};
use itwillsync_protocol::{NewSession, Size};
use rand::RngExt;
use tokio::sync::watch;

use crate::config::Config;
use crate::output_log::OutputLog;
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
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves the vector consistent, so poisoning is harmless.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Registry {
    /// An empty registry.
    pub fn new(config: Config, transport: Transport, logs_dir: PathBuf) -> Arc<Self> {
        Arc::new(Self {
            sessions: Mutex::new(Vec::new()),
            config,
            transport,
            logs_dir,
            changes: watch::channel(0).0,
        })
    }

    /// Live sessions, oldest first.
    pub fn list(&self) -> Vec<Arc<Session>> {
        lock(&self.sessions).clone()
    }

    /// Notified on every add and remove.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
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
        session.set_name(name);
        drop(sessions);
        self.changes.send_modify(|n| *n += 1);
        Ok(session)
    }

    /// Starts a session. The command is resolved before anything is created, so a missing
    /// program is an error that leaves no trace.
    pub fn create(self: &Arc<Self>, spec: NewSession) -> anyhow::Result<Arc<Session>> {
        let cwd = Path::new(&spec.cwd);
        if !cwd.is_dir() {
            bail!("no such directory: {}", spec.cwd);
        }
        let program = spec.command.first().context("no command given")?;
        let resolved = crate::pty::resolve_program(program, &spec.env, cwd)?;
        let networking = spec.networking.as_deref();
        let web = crate::web::bind(&self.config, &self.transport, spec.port, networking)?;
        let mut sessions = lock(&self.sessions);
        if sessions.len() >= self.config.max_sessions {
            bail!(
                "the server already runs {} sessions (maxSessions)",
                sessions.len()
            );
        }
        let name = match &spec.name {
            Some(name) => {
                let name = check_name(name)?.to_string();
                if sessions.iter().any(|s| s.name() == name) {
                    bail!("a session named {name:?} already exists");
                }
                name
            }
            None => unique_name(&sessions, program),
        };
        let id = loop {
            let id = format!("{:016x}", rand::rng().random::<u64>());
            if !sessions.iter().any(|s| s.id == id) {
                break id;
            }
        };
        let max = Size {
            cols: self.config.max_terminal_cols,
            rows: self.config.max_terminal_rows,
        };
        let takeover = std::time::Duration::from_secs(self.config.phone_takeover_secs);
        let clients = Clients::new(self.config.resize_policy, max).with_takeover(takeover);
        let size = clients.clamp(spec.size);
        let spec = NewSession { size, ..spec };
        let spawned = crate::pty::spawn(&resolved, &spec, &[("ITWILLSYNC_SESSION", &id)])?;
        let (session, ends) = Session::new(Parts {
            id: id.clone(),
            name,
            command: spec.command.clone(),
            cwd: spec.cwd.clone(),
            pid: spawned.pid,
            size,
            ring_capacity: self.config.scrollback_buffer_size,
            clients,
            web: Some((web.port, web.keys.clone())),
            network_warning: web.warning.clone(),
        });
        sessions.push(session.clone());
        drop(sessions);
        tracing::info!(session = %id, pid = spawned.pid, "session started");

        let log = OutputLog::open(&self.logs_dir, &id);
        tokio::spawn(crate::actor::run(
            session.clone(),
            spawned.master,
            spawned.child,
            ends,
            log,
        ));
        if let Err(e) = session.spawn_follower() {
            // Without a follower the session still runs; redraws show a blank screen.
            tracing::error!(session = %id, "cannot start the terminal-state thread: {e}");
        }
        crate::web::spawn(web, session.clone(), &self.config);
        let registry = self.clone();
        let watched = session.clone();
        tokio::spawn(async move {
            watched.exited().await;
            lock(&registry.sessions).retain(|s| s.id != watched.id);
            registry.changes.send_modify(|n| *n += 1);
        });
        self.changes.send_modify(|n| *n += 1);
        Ok(session)
    }
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
