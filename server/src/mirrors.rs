//! The mirrors of other machines' sessions this server serves (`session/mirror.rs`),
//! created on demand: when a local terminal attaches to `MACHINE:TARGET` or starts a
//! session there attached (`conn.rs`), or the dashboard opens another machine's session
//! for a phone (`dashboard/client.rs`). There is at most one mirror per remote session;
//! every local client of that session (terminals and phones alike) is a client of it.
//!
//! A mirror is a `Session` with its own phone port and keys on this machine (no secret
//! crosses between machines), but it is not in the registry: `ls`, `/api/sessions` and the
//! dashboard list a remote session once, from the machine's link, and a hand-over or a
//! shutdown of this server leaves the remote programs alone. A hand-over takes the mirrors
//! along (their rings, terminal states, phone listeners and keys: [`Mirrors::export`]);
//! the next server follows each remote session again, from its head, once a client
//! attaches ([`Mirrors::adopt`]), so a phone on a mirror resumes as on a local session. A
//! mirror leaves the table when its remote session has ended, or when its machine is
//! removed (`machine rm`): its clients are then told why (`Session::gone`) and the remote
//! session runs on.
//!
//! Lock: the table is a `std::sync::Mutex` held only to look up, add or remove an entry.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::{bail, Context};
use futures_util::{SinkExt, StreamExt};
use itwillsync_protocol::{ClientMsg, EventKind, ServerMsg, SessionInfo, Size};
use tokio::sync::broadcast;

use crate::config::Config;
use crate::events::Events;
use crate::handover::state::{Decoded, MirrorState, Writer};
use crate::machines::{Link, Machines, Remote as Connection};
use crate::program::Program;
use crate::session::mirror::{self, Remote, Start};
use crate::session::{Parts, Session};
use crate::shutdown::Shutdown;
use crate::size::Clients;
use crate::web::Transport;

/// The size a mirror made for a phone asks for before any client of its own has one.
const UNATTACHED_SIZE: Size = Size { cols: 80, rows: 24 };

/// Every mirror this server holds.
pub struct Mirrors {
    config: Config,
    transport: Transport,
    shutdown: Shutdown,
    /// The machines' links.
    machines: Arc<Machines>,
    /// Live mirrors; each knows its machine and remote id (`Session::remote`).
    table: Arc<Mutex<Vec<Mirror>>>,
    /// Where mirrors' own events go: nowhere. The remote session's events arrive through
    /// the machine's link; a mirror must not announce them a second time.
    silent: Arc<Events>,
}

/// A mirror in the table.
struct Mirror {
    session: Arc<Session>,
    /// A duplicate of its phone listener (the listener's task owns the original), for a
    /// hand-over.
    phone: Option<OwnedFd>,
}

impl Mirror {
    fn of(&self, machine: &str, id: &str) -> bool {
        self.session
            .remote()
            .is_some_and(|r| r.machine() == machine && r.id() == id)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section is a push, a retain or a lookup.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the remote server answered an attach with, up to the end of its first repaint.
struct Opening {
    info: SessionInfo,
    seq: u64,
    repaint: Vec<u8>,
    /// The frame after the repaint (usually `Size`).
    next: Option<ServerMsg>,
}

impl Mirrors {
    /// No mirrors yet.
    pub fn new(
        config: Config,
        transport: Transport,
        machines: Arc<Machines>,
        events: Arc<Events>,
        shutdown: Shutdown,
    ) -> Arc<Self> {
        let table = Arc::new(Mutex::new(Vec::new()));
        tokio::spawn(follow_renames(table.clone(), events, shutdown.clone()));
        Arc::new(Self {
            config,
            transport,
            shutdown,
            machines,
            table,
            silent: Arc::new(Events::default()),
        })
    }

    /// The machines whose sessions are mirrored.
    pub fn machines(&self) -> &Arc<Machines> {
        &self.machines
    }

    /// Whether any client is attached to a mirror (the server does not stop for lack of
    /// sessions while one is).
    pub fn watched(&self) -> bool {
        lock(&self.table)
            .iter()
            .any(|m| m.session.info().clients > 0)
    }

    /// The mirror of session `id` on `machine`, if there is one.
    pub fn find(&self, machine: &str, id: &str) -> Option<Arc<Session>> {
        lock(&self.table)
            .iter()
            .find(|m| m.of(machine, id))
            .map(|m| m.session.clone())
    }

    /// The mirrors as a hand-over state records them (their bytes appended to `blobs`),
    /// with a duplicate of each one's phone listener: the descriptors the state names,
    /// to be kept open across the exec.
    pub(crate) fn export(&self, blobs: &mut Writer) -> (Vec<MirrorState>, Vec<OwnedFd>) {
        // Taken out first: the table's lock is not held while a repaint is rendered.
        let mirrors: Vec<(Arc<Session>, OwnedFd)> = lock(&self.table)
            .iter()
            .filter_map(|m| Some((m.session.clone(), m.phone.as_ref()?.try_clone().ok()?)))
            .collect();
        let (mut states, mut fds) = (Vec::new(), Vec::new());
        for (session, fd) in mirrors {
            if session.has_ended() {
                continue; // ended: nothing to follow
            }
            if let Some(state) = session.export_mirror(blobs, fd.as_raw_fd()) {
                states.push(state);
                fds.push(fd);
            }
        }
        (states, fds)
    }

    /// Adopts the mirrors a previous server handed over: each keeps its port, keys, ring
    /// and terminal state, and follows its remote session again once a client attaches.
    /// One whose machine is no longer configured is dropped (its port closes).
    pub(crate) fn adopt(&self, decoded: &Decoded) {
        for state in &decoded.header.mirrors {
            if let Err(e) = self.adopt_one(state, decoded) {
                tracing::warn!(machine = %state.machine, session = %state.id, "cannot adopt the mirror: {e:#}");
            }
        }
    }

    fn adopt_one(&self, state: &MirrorState, decoded: &Decoded) -> anyhow::Result<()> {
        let listener = std::net::TcpListener::from(crate::handover::inherited(state.web.fd));
        let link = self.machines.get(&state.machine)?;
        let keys = crate::web::keys::Keys::adopted(&state.web)?;
        let warning = state.network_warning.clone();
        let web = crate::web::Bound::adopt(listener, &self.transport, Arc::new(keys), warning)?;
        let parts = self.parts(
            state.id.clone(),
            state.name.clone(),
            (state.command.clone(), state.cwd.clone()),
            state.size,
            &web,
        );
        let remote = Remote::new(link.clone(), state.id.clone());
        let session = Session::restore_mirror(parts, remote, state, decoded);
        let phone = web.listener_fd().ok();
        lock(&self.table).push(Mirror {
            session: session.clone(),
            phone,
        });
        let (_, head) = session.output_range();
        tracing::info!(machine = %link.name, session = %state.id, head, "mirror adopted");
        self.launch(&session, web, None);
        Ok(())
    }

    /// The mirror of session `target` on `link`'s machine (made if there is none yet) for
    /// a phone that will open it (the dashboard's remote card, `url MACHINE:NAME`): attached
    /// there at [`UNATTACHED_SIZE`] until a client of its own says its size.
    pub async fn open_for_phone(
        &self,
        link: Arc<Link>,
        target: &str,
    ) -> anyhow::Result<Arc<Session>> {
        let request = ClientMsg::Attach {
            target: Some(target.to_string()),
            read_only: false,
            size: UNATTACHED_SIZE,
        };
        self.open(link, request).await
    }

    /// The mirror for `request` on `link`'s machine: `Attach` or `Follow` of a session
    /// there (its mirror, made if there is none yet), or `New` with `attach` (a new
    /// session there, and its mirror).
    pub async fn open(&self, link: Arc<Link>, request: ClientMsg) -> anyhow::Result<Arc<Session>> {
        let (target, size) = match &request {
            ClientMsg::Attach {
                target: Some(target),
                size,
                ..
            }
            | ClientMsg::Follow { target, size, .. } => (Some(target.clone()), *size),
            ClientMsg::New { ref spec, .. } => (None, spec.size),
            _ => bail!("not an attachment"),
        };
        let first = match target {
            Some(target) => {
                let id = self.resolve(&link, target).await?;
                if let Some(mirror) = self.find(&link.name, &id) {
                    return Ok(mirror);
                }
                ClientMsg::Attach {
                    target: Some(id),
                    read_only: false,
                    size,
                }
            }
            None => request,
        };
        let lost = |why: &str| anyhow::anyhow!("machine {}: {why}", link.name);
        let mut connection = link.open().await.map_err(|l| lost(l.message()))?;
        if connection.to.send(&first).await.is_err() {
            bail!(lost(&connection.why_gone("ssh exited").await));
        }
        let timeout = link.timing().offline;
        let opening = tokio::time::timeout(timeout, opening(&mut connection))
            .await
            .map_err(|_| lost("no answer"))??;
        self.start(link, connection, opening).await
    }

    /// The id of the session `target` (id, prefix or name) names on `link`'s machine.
    async fn resolve(&self, link: &Link, target: String) -> anyhow::Result<String> {
        let info = ClientMsg::Info {
            target: Some(target),
        };
        match link.request(info).await? {
            ServerMsg::Session { session } => Ok(session.id),
            ServerMsg::Error { message } => bail!(message),
            other => bail!("machine {} answered {other:?}", link.name),
        }
    }

    /// Makes the mirror of an attached connection and starts what serves it.
    async fn start(
        &self,
        link: Arc<Link>,
        connection: Connection,
        opening: Opening,
    ) -> anyhow::Result<Arc<Session>> {
        let Opening {
            info,
            seq,
            repaint,
            next,
        } = opening;
        let (config, transport) = (self.config.clone(), self.transport.clone());
        let web =
            tokio::task::spawn_blocking(move || crate::web::bind(&config, &transport, None, None))
                .await
                .context("the mirror's phone listener")??;
        let size = match &next {
            Some(ServerMsg::Size { size }) => *size,
            _ => info.size,
        };
        let parts = self.parts(
            info.id.clone(),
            format!("{}:{}", link.name, info.name),
            (info.command.clone(), info.cwd.clone()),
            size,
            &web,
        );
        let remote = Remote::new(link.clone(), info.id.clone());
        let start = Start {
            seq,
            repaint: &repaint,
            started_at_ms: info.started_at_ms,
        };
        let session = Session::mirrored(parts, remote, start);
        {
            let mut table = lock(&self.table);
            if let Some(other) = table.iter().find(|m| m.of(&link.name, &info.id)) {
                // Another client made it meanwhile: this connection and port go unused.
                return Ok(other.session.clone());
            }
            table.push(Mirror {
                session: session.clone(),
                phone: web.listener_fd().ok(),
            });
        }
        tracing::info!(machine = %link.name, session = %info.id, seq, "mirror started");
        self.launch(&session, web, Some((connection, next)));
        Ok(session)
    }

    /// A mirror's parts: its phone listener `web`, the server's limits and policy, a
    /// stand-in program (never signalled: a mirror's kill goes to the remote server).
    fn parts(
        &self,
        id: String,
        name: String,
        (command, cwd): (Vec<String>, String),
        size: Size,
        web: &crate::web::Bound,
    ) -> Parts {
        let max = Size {
            cols: self.config.max_terminal_cols,
            rows: self.config.max_terminal_rows,
        };
        let takeover = std::time::Duration::from_secs(self.config.phone_takeover_secs);
        Parts {
            id,
            name,
            command,
            cwd,
            program: Program::adopt(0, true),
            size,
            ring_capacity: self.config.scrollback_buffer_size,
            clients: Clients::new(self.config.resize_policy, max).with_takeover(takeover),
            web: Some((web.port, web.keys.clone())),
            network_warning: web.warning.clone(),
            events: self.silent.clone(),
        }
    }

    /// Starts what serves a mirror in the table: its terminal-state follower, its phone
    /// listener, its task (on `connection`, the attach that made it, or none yet: the
    /// task follows the remote session once a client attaches), and the watcher that
    /// takes it out of the table when it ends.
    fn launch(
        &self,
        session: &Arc<Session>,
        web: crate::web::Bound,
        connection: Option<(Connection, Option<ServerMsg>)>,
    ) {
        if let Err(e) = session.spawn_follower() {
            tracing::error!(session = %session.id, "cannot start the mirror's terminal state: {e}");
        }
        crate::web::spawn(web, session.clone(), &self.config);
        let idle = std::time::Duration::from_secs(self.config.mirror_idle_secs);
        let task = mirror::run(session.clone(), connection, idle, self.shutdown.clone());
        tokio::spawn(task);
        let (table, ended) = (self.table.clone(), session.clone());
        tokio::spawn(async move {
            tokio::select! {
                _ = ended.exited() => {}
                _ = ended.gone() => {}
            }
            lock(&table).retain(|m| !Arc::ptr_eq(&m.session, &ended));
        });
    }
}

/// Renames mirrors as their remote sessions are renamed, wherever that was done (the
/// machines' events arrive here through their links), so phones' titles follow. Wakes only
/// on events.
async fn follow_renames(table: Arc<Mutex<Vec<Mirror>>>, events: Arc<Events>, shutdown: Shutdown) {
    let mut events = events.subscribe();
    loop {
        let event = tokio::select! {
            _ = shutdown.wait() => return,
            event = events.recv() => match event {
                Ok(event) => event,
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            },
        };
        let (Some(id), Some(name)) = (&event.session, &event.name) else {
            continue;
        };
        if event.kind != EventKind::SessionRenamed || event.machine == crate::events::LOCAL {
            continue;
        }
        if let Some(mirror) = lock(&table).iter().find(|m| m.of(&event.machine, id)) {
            mirror.session.set_name(format!("{}:{name}", event.machine));
        }
    }
}

/// Reads the remote server's answer to an attach up to the end of its first repaint.
async fn opening(connection: &mut Connection) -> anyhow::Result<Opening> {
    let mut info = None;
    let mut repaint: Option<(u64, Vec<u8>)> = None;
    loop {
        let msg = match connection.from.next().await {
            Some(Ok(msg)) => msg,
            Some(Err(e)) => bail!("bad frame: {e}"),
            None => bail!("{}", connection.why_gone("ssh exited").await),
        };
        match (msg, &mut repaint) {
            (ServerMsg::Attached { session }, _) => info = Some(session),
            (ServerMsg::Redraw { seq, data }, None) => repaint = Some((seq, data)),
            (ServerMsg::Redraw { seq, data }, Some((at, pieces))) if *at == seq => {
                pieces.extend_from_slice(&data)
            }
            (ServerMsg::Error { message }, _) => bail!(message),
            (ServerMsg::Warning { .. }, None) => {}
            (next, Some(_)) => {
                let (seq, repaint) = repaint.take().unwrap_or_default();
                let info = info.context("a repaint before the attach")?;
                return Ok(Opening {
                    info,
                    seq,
                    repaint,
                    next: Some(next),
                });
            }
            (other, None) => bail!("unexpected answer to an attach: {other:?}"),
        }
    }
}
