//! A mirror: a session of this server whose output comes from a session on another
//! machine instead of a PTY (issue 12, "remote sessions behave like local ones").
//!
//! The mirror task ([`run`]) takes the actor's place. It holds its own ssh connection to
//! that machine's server (`Link::open`) as one attached client of the remote session and
//! pushes every `Output` into this session's ring at the remote seq, so the ring's seqs
//! *are* the remote's: a local terminal or phone behind the mirror resumes exactly as it
//! would on a local session, and the mirror itself resumes with `Follow { from_seq: head }`
//! after a cut (bytes it already has are trimmed by seq). When the remote answers a resume
//! with a repaint instead (the gap was older than the remote ring), the ring restarts at
//! the repaint's seq and the terminal state is the repaint parsed (`Term::restored`, as a
//! hand-over rebuilds it); local clients behind it fall out of the ring and are repainted
//! by the usual rule (`feed.rs`).
//!
//! Input from the session's queue goes as `Input`; the size the local policy chose as
//! `Resize` (the remote's policy then applies among its clients, and the size it reports
//! with `Size` is the one local clients are told); kill and rename go to the remote server
//! on the machine's link (`Link::request`). The remote's `Exit` comes after its last byte
//! and is published after the last byte here too, so `feed.rs` keeps its order.
//!
//! A mirror costs nothing while nobody watches: `mirrorIdleSecs` (60) after the last
//! client left, the task closes its connection (no timer runs while it is closed) and keeps the session
//! (ring, terminal state, phone port, keys); the next client to attach wakes it and it
//! resumes with `Follow`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use itwillsync_protocol::{ClientMsg, ExitStatus, MachineState, ServerMsg, Size};
use tokio::sync::watch;
use tokio::time::Instant;

use super::{lock, Output, Parts, Session};
use crate::machines::{Link, Remote as Connection, BACKOFF_MIN};
use crate::ring::Ring;
use crate::shutdown::Shutdown;
use crate::term::Term;

/// Most input bytes in one `Input` frame.
const INPUT_CHUNK: usize = 64 << 10;
/// A repaint's pieces come back to back; a repaint followed by nothing for this long is
/// complete (one that is followed by a frame is complete at that frame).
const REDRAW_SETTLE: Duration = Duration::from_millis(50);

/// What the local clients ask of the remote session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Demand {
    /// The size the local resize policy chose, when a client may set it.
    pub size: Option<Size>,
    /// Clients attached (terminals and phones, read-only ones included).
    pub watchers: usize,
}

/// The remote side of a mirror session: where it lives and what its clients ask.
pub(crate) struct Remote {
    /// The machine's link: kill and rename go through it.
    link: Arc<Link>,
    /// The session's id on that machine.
    id: String,
    /// Set by `Session::apply_size` on every join, leave and claim; the task watches it.
    demand: watch::Sender<Demand>,
    /// Why this server no longer serves the session, once it does not (its machine was
    /// removed): every client is told, then the mirror leaves the table.
    closed: watch::Sender<Option<String>>,
}

impl Remote {
    /// The remote session `id` on `link`'s machine.
    pub fn new(link: Arc<Link>, id: String) -> Self {
        Self {
            link,
            id,
            demand: watch::channel(Demand {
                size: None,
                watchers: 0,
            })
            .0,
            closed: watch::channel(None).0,
        }
    }

    /// The machine's name.
    pub fn machine(&self) -> &str {
        &self.link.name
    }

    /// The session's id on that machine.
    pub fn id(&self) -> &str {
        &self.id
    }

    pub(super) fn set_demand(&self, demand: Demand) {
        self.demand
            .send_if_modified(|d| std::mem::replace(d, demand) != demand);
    }

    /// Asks the remote server to signal (`Some`) or hang up (`None`) the program; the
    /// answer is logged, the exit arrives as the remote's `Exit`.
    pub(super) fn kill(&self, signal: Option<i32>) {
        let link = self.link.clone();
        let target = self.id.clone();
        tokio::spawn(async move {
            match link.request(ClientMsg::Kill { target, signal }).await {
                Ok(ServerMsg::Done) => {}
                Ok(ServerMsg::Error { message }) => {
                    tracing::warn!(machine = %link.name, "kill through a mirror: {message}")
                }
                Ok(other) => tracing::warn!(machine = %link.name, "kill answered {other:?}"),
                Err(e) => tracing::warn!(machine = %link.name, "kill through a mirror: {e:#}"),
            }
        });
    }
}

/// How a mirror starts: the remote's repaint at `seq` (what its first attach returned).
pub(crate) struct Start<'a> {
    pub seq: u64,
    pub repaint: &'a [u8],
    pub started_at_ms: u64,
}

impl Session {
    /// A mirror of `remote`, its ring starting at the repaint's seq and its terminal state
    /// the repaint parsed. `parts.program` is a stand-in (never signalled: kill goes to
    /// the remote server).
    pub(crate) fn mirrored(parts: Parts, remote: Remote, start: Start<'_>) -> Arc<Self> {
        let mut session = Self::begun(parts, start);
        let fresh = Arc::get_mut(&mut session).expect("nobody else holds a new session");
        fresh.remote = Some(remote);
        session
    }

    /// A session whose ring starts at `start.seq` with the terminal state its repaint.
    fn begun(parts: Parts, start: Start<'_>) -> Arc<Self> {
        let (size, capacity) = (parts.size, parts.ring_capacity);
        let (mut session, _size_rx) = Self::new(parts);
        let fresh = Arc::get_mut(&mut session).expect("nobody else holds a new session");
        fresh.ring = std::sync::Mutex::new(Output {
            ring: Ring::resumed(capacity, start.seq),
            ended: None,
        });
        fresh.head = watch::channel(start.seq).0;
        fresh.term = std::sync::Mutex::new(Term::restored(size, start.repaint, start.seq));
        fresh.started_at_ms = start.started_at_ms;
        session
    }

    /// The remote side, when this session is a mirror.
    pub(crate) fn remote(&self) -> Option<&Remote> {
        self.remote.as_ref()
    }

    /// Resolves, with the reason, when this server stops serving the session while it
    /// runs on: a mirror whose machine was removed (`machine rm`). Attachments and phones
    /// end with that reason; the session's listener and terminal state stop. Never for a
    /// session of this machine.
    pub(crate) async fn gone(&self) -> String {
        let Some(remote) = &self.remote else {
            return std::future::pending().await;
        };
        let mut closed = remote.closed.subscribe();
        let reason = closed.wait_for(Option::is_some).await.ok();
        match reason.and_then(|reason| reason.clone()) {
            Some(reason) => reason,
            // The sender lives as long as the session.
            None => std::future::pending().await,
        }
    }

    /// Appends remote output ending at remote seq `seq`: what the ring already holds is
    /// trimmed; a gap (the remote skipped output without a repaint, which it never does)
    /// restarts the ring there, so clients behind it are repainted.
    fn push_remote(&self, seq: u64, data: &[u8]) {
        let start = seq.saturating_sub(data.len() as u64);
        let (from, skip) = {
            let mut output = lock(&self.ring);
            let head = output.ring.head();
            if seq <= head {
                return;
            }
            if start > head {
                tracing::warn!(session = %self.id, gap = start - head, "remote output skipped ahead");
                output.ring = Ring::resumed(output.ring.capacity(), start);
            }
            let from = output.ring.head();
            let skip = from.saturating_sub(start) as usize;
            output.ring.push(&data[skip..]);
            (from, skip)
        };
        self.pushed(from, &data[skip..]);
    }

    /// The remote repainted at `seq` (its ring no longer held what this one asked for):
    /// the terminal state becomes the repaint, then the ring restarts at `seq`. In that
    /// order, so a client repainted in between gets the new state and waits for output at
    /// its seq. A repaint this ring is already past changes nothing (the output after it
    /// is trimmed by seq).
    fn restart_remote(&self, seq: u64, repaint: &[u8]) {
        if seq <= lock(&self.ring).ring.head() {
            return;
        }
        let size = *self.size.borrow();
        *lock(&self.term) = Term::restored(size, repaint, seq);
        {
            let mut output = lock(&self.ring);
            output.ring = Ring::resumed(output.ring.capacity(), seq);
        }
        tracing::info!(session = %self.id, seq, "mirror repainted: the remote ring had moved on");
        self.head.send_replace(seq);
        self.wake_terminals();
    }

    /// The remote server applied `size`: the terminal state and local clients follow.
    fn resized_remotely(&self, size: Size) {
        if *self.size.borrow() != size {
            lock(&self.term).set_size(size);
            self.size.send_replace(size);
        }
    }
}

/// How one connection ended.
enum Cut {
    /// The session is over (its exit is published).
    Ended,
    /// Nobody watched for the idle time: closed until a client attaches.
    Idle,
    /// The connection was lost; the mirror reconnects.
    Lost(String),
}

/// The mirror task's state across connections.
struct Task {
    session: Arc<Session>,
    link: Arc<Link>,
    id: String,
    demand: watch::Receiver<Demand>,
    /// The size last sent to the remote.
    sent_size: Option<Size>,
    /// A repaint being received: its seq and its pieces so far.
    redraw: Option<(u64, Vec<u8>)>,
    /// How long the connection stays up with nobody attached (`mirrorIdleSecs`).
    idle_after: Duration,
    /// The current connection has delivered a frame: the remote took the resume. A cut
    /// after that starts the reconnection backoff over, as the machine's link does.
    served: bool,
}

/// Runs the mirror of `session` until the remote session ends or the server stops.
/// `connection` is the one its first attach came on, with the first frame after that
/// attach's repaint (`None` for a mirror handed over: it follows the remote session once
/// a client attaches); `idle_after` is `mirrorIdleSecs`.
pub(crate) async fn run(
    session: Arc<Session>,
    connection: Option<(Connection, Option<ServerMsg>)>,
    idle_after: Duration,
    shutdown: Shutdown,
) {
    let Some(remote) = session.remote() else {
        return;
    };
    let mut task = Task {
        link: remote.link.clone(),
        id: remote.id.clone(),
        demand: remote.demand.subscribe(),
        sent_size: None,
        redraw: None,
        idle_after,
        session: session.clone(),
        served: false,
    };
    let mut connection = connection;
    let mut backoff = BACKOFF_MIN;
    let link = task.link.clone();
    let removed = link.removed();
    tokio::pin!(removed);
    loop {
        if connection.is_none() && task.demand.borrow().watchers == 0 {
            // Nobody watches: no connection, no timer, until a client attaches.
            let removal = tokio::select! {
                _ = shutdown.wait() => return,
                _ = &mut removed => true,
                _ = task.demand.wait_for(|d| d.watchers > 0) => false,
            };
            if removal {
                return task.close();
            }
            backoff = BACKOFF_MIN;
        }
        let cut = tokio::select! {
            biased;
            _ = shutdown.wait() => return,
            _ = &mut removed => return task.close(),
            cut = task.serve(connection.take()) => cut,
        };
        let why = match cut {
            Cut::Ended => return,
            Cut::Idle => {
                tracing::debug!(session = %task.id, "mirror idle: connection closed");
                continue;
            }
            Cut::Lost(why) => why,
        };
        tracing::info!(machine = %task.link.name, session = %task.id, "mirror cut ({why}); reconnecting");
        if task.served {
            backoff = BACKOFF_MIN;
        }
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = &mut removed => return task.close(),
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = task.link.timing().after(backoff);
    }
}

impl Task {
    /// Serves one connection: the given one, or a new one resuming at the ring's head.
    async fn serve(&mut self, given: Option<(Connection, Option<ServerMsg>)>) -> Cut {
        self.served = false;
        let (mut remote, pending) = match given {
            Some(given) => given,
            None => match self.link.open().await {
                Ok(mut remote) => {
                    let size = self.demand.borrow().size;
                    let size = size.unwrap_or(*self.session.size.borrow());
                    self.sent_size = Some(size);
                    let resume = ClientMsg::Follow {
                        target: self.id.clone(),
                        read_only: false,
                        size,
                        from_seq: self.session.output_range().1,
                    };
                    if remote.to.send(&resume).await.is_err() {
                        return Cut::Lost(remote.why_gone("ssh exited").await);
                    }
                    (remote, None)
                }
                Err(lost) => return Cut::Lost(lost.message().to_string()),
            },
        };
        if let Some(msg) = pending {
            if let Some(cut) = self.take(msg) {
                return cut;
            }
        }
        self.connected(&mut remote).await
    }

    async fn connected(&mut self, remote: &mut Connection) -> Cut {
        let mut state = self.link.state();
        state.borrow_and_update();
        let mut idle_at = None;
        let mut input = VecDeque::new();
        loop {
            let demand = *self.demand.borrow_and_update();
            if demand.watchers > 0 {
                idle_at = None;
            } else if idle_at.is_none() {
                idle_at = Some(Instant::now() + self.idle_after);
            }
            if let Some(size) = demand.size.filter(|s| Some(*s) != self.sent_size) {
                self.sent_size = Some(size);
                if remote.to.send(&ClientMsg::Resize { size }).await.is_err() {
                    return Cut::Lost(remote.why_gone("ssh exited").await);
                }
            }
            self.session.input_queue().take(INPUT_CHUNK, &mut input);
            if !input.is_empty() {
                let data = input.drain(..).collect();
                if remote.to.send(&ClientMsg::Input { data }).await.is_err() {
                    return Cut::Lost(remote.why_gone("ssh exited").await);
                }
                continue;
            }
            let idle = async {
                match idle_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                frame = remote.from.next() => match frame {
                    Some(Ok(msg)) => if let Some(cut) = self.take(msg) {
                        return cut;
                    },
                    Some(Err(e)) => return Cut::Lost(format!("bad frame: {e}")),
                    None => return Cut::Lost(remote.why_gone("ssh exited").await),
                },
                _ = self.session.input_queue().arrived() => {}
                changed = self.demand.changed() => if changed.is_err() {
                    return Cut::Ended;
                },
                _ = tokio::time::sleep(REDRAW_SETTLE), if self.redraw.is_some() => self.repainted(),
                changed = state.changed() => {
                    if changed.is_err() || *state.borrow() == MachineState::Offline {
                        return Cut::Lost("the machine went offline".into());
                    }
                }
                _ = idle => return Cut::Idle,
            }
        }
    }

    /// Applies a complete repaint.
    fn repainted(&mut self) {
        if let Some((seq, data)) = self.redraw.take() {
            self.session.restart_remote(seq, &data);
        }
    }

    /// Takes one frame of the remote server; `Some` ends the connection.
    fn take(&mut self, msg: ServerMsg) -> Option<Cut> {
        self.served = true;
        if let ServerMsg::Redraw { seq, data } = msg {
            match &mut self.redraw {
                Some((at, pieces)) if *at == seq => pieces.extend_from_slice(&data),
                _ => {
                    self.repainted();
                    self.redraw = Some((seq, data));
                }
            }
            return None;
        }
        self.repainted();
        match msg {
            ServerMsg::Output { seq, data } => self.session.push_remote(seq, &data),
            ServerMsg::Size { size } => self.session.resized_remotely(size),
            ServerMsg::Attached { session } => {
                let name = format!("{}:{}", self.link.name, session.name);
                if self.session.name() != name {
                    self.session.set_name(name);
                }
            }
            ServerMsg::Exit { status } => return Some(self.ended(status)),
            ServerMsg::Error { message } => {
                // The only request that can fail is the resume: the session ended while the
                // machine was unreachable, so long ago (10 minutes, or 4 sessions ended
                // since) that its server no longer keeps it, its status gone with it.
                tracing::info!(session = %self.id, "the mirrored session is gone: {message}");
                let status = ExitStatus {
                    code: 1,
                    signal: None,
                };
                return Some(self.ended(status));
            }
            ServerMsg::Closing { reason } | ServerMsg::HandOver { reason } => {
                return Some(Cut::Lost(reason));
            }
            ServerMsg::Detached => return Some(Cut::Lost("detached".into())),
            ServerMsg::Warning { message } => {
                tracing::debug!(session = %self.id, "remote warning: {message}");
            }
            _ => {}
        }
        None
    }

    /// The machine was removed: every client of the mirror is told, and nothing is
    /// followed any more (its connection is already dropped). The remote session runs on.
    fn close(&self) {
        tracing::info!(machine = %self.link.name, session = %self.id, "mirror closed: the machine was removed");
        self.session.input_queue().clear();
        if let Some(remote) = self.session.remote() {
            let reason = format!("machine {} was removed from this server", self.link.name);
            remote.closed.send_replace(Some(reason));
        }
    }

    fn ended(&self, status: ExitStatus) -> Cut {
        self.session.input_queue().clear();
        self.session.set_exited(status);
        Cut::Ended
    }
}

#[cfg(test)]
mod tests;
