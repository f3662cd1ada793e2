//! One session: a program on a PTY, its output ring, its terminal state and its clients.
//!
//! [`Session`] is the shared handle every client task holds. Three tasks work behind it:
//! the actor (`actor.rs`), the only owner of the PTY master, which appends output to the
//! ring and writes input; the terminal-state follower (`session/follower.rs`), which parses
//! the ring into the vt100 state at its own pace; and the exit watcher in the registry.
//! The follower never slows the PTY: vt100 parses ~45 MB/s and a PTY delivers more. In a
//! flood of plain text it skips what cannot change the final state (`follower::Floods`), so
//! following costs little CPU. When a flood still outruns it by more than the ring, it
//! keeps its state (modes, alternate screen, colours) and continues from the oldest byte
//! still held; the screen is then exact again once the flood's last screenful is parsed.
//! Clients never wait on each other: each keeps its own cursor into the ring (`feed.rs`)
//! and is woken by the `head` watch when the ring grows. Clients that read pace the PTY
//! (`session/pacing.rs`). Input goes through a byte-bounded queue (`input.rs`), signals
//! straight to the program (`program.rs`): neither ever waits for the other.
//!
//! Locks: `ring` (with the exit status), `term`, `clients`, `readers` and `activity` are
//! `std::sync::Mutex`es guarding in-memory state for microseconds; none is held across an
//! `.await`. Nestings, each one way only, so no lock-order cycle exists: `term` inside
//! `clients` (`apply_size`), `ring` inside `readers` (`paced_by_readers`), the name
//! watch inside `activity` (`info`), and a direct terminal's state and `readers` inside
//! `shortcuts` (`pushed`: the actor, or a mirror's task, writes to direct
//! terminals armed at the head, `tty::Shortcut`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use itwillsync_protocol::{EventKind, ExitStatus, SessionInfo, Size, Status};
use tokio::sync::watch;

use crate::events::Events;
use crate::input::{self, Offered, Pending};
use crate::program::Program;
use crate::repaint::Repaint;
use crate::ring::{Behind, Ring};
use crate::size::{Claim, Clients, Kind};
use crate::term::Term;
use crate::web::keys::{Keys, Role};

mod ending;
pub(crate) mod follower;
mod handover;
pub(crate) mod mirror;

#[cfg(test)]
pub use follower::THREADS as FOLLOWER_THREADS;
mod pacing;

pub(crate) use handover::Carried;

use pacing::Reader;

/// A session with no output for this long is idle rather than active.
const IDLE_AFTER_MS: u64 = 30_000;

/// A session without input or output for this long gives back its ring's storage beyond
/// [`QUIET_KEEP`] ([`Session::release_quiet_output`]).
const QUIET_AFTER_MS: u64 = 5 * 60_000;
/// Output a quiet session's ring keeps: a few screenfuls of the newest output, so a phone
/// that reconnects still resumes from where it was rather than being repainted.
const QUIET_KEEP: u64 = 64 << 10;

/// Status inputs, updated by the actor and by clients.
#[derive(Debug, Default)]
struct Activity {
    /// Milliseconds since the epoch of the last input or output.
    last_seen_ms: u64,
    /// A bell or notification arrived and no input has answered it yet.
    attention: bool,
    /// What the last one said ("bell", or the notification's text), while `attention`.
    attention_message: Option<String>,
    /// Alerts raised so far. The follower parses each output byte exactly once, so a
    /// phone replaying output on reconnect never raises one again.
    alerts: u64,
}

/// The ring and the exit status, under one lock.
struct Output {
    ring: Ring,
    ended: Option<ExitStatus>,
}

impl std::ops::Deref for Output {
    type Target = Ring;
    fn deref(&self) -> &Ring {
        &self.ring
    }
}

impl std::ops::DerefMut for Output {
    fn deref_mut(&mut self) -> &mut Ring {
        &mut self.ring
    }
}

/// What [`Session::read_for`] found.
pub(crate) struct Read {
    /// Bytes copied.
    pub n: usize,
    /// The head when they were.
    pub head: u64,
    /// The exit status, when the program had ended by then.
    pub ended: Option<ExitStatus>,
}

/// The shared handle of a session.
pub struct Session {
    /// 16 lowercase hex characters.
    pub id: String,
    /// Program and arguments.
    pub command: Vec<String>,
    /// Working directory.
    pub cwd: String,
    /// The program's pid.
    pub pid: u32,
    /// The program as a process: signals and reaping. A stand-in, never signalled, for a
    /// mirror.
    program: Program,
    /// For a mirror of a session on another machine (`session/mirror.rs`): that session.
    /// Its signals and size go there instead of to `program` and a PTY.
    remote: Option<mirror::Remote>,
    /// Input waiting for the program, bounded in bytes.
    input: input::Queue,
    /// Milliseconds since the epoch when it started.
    pub started_at_ms: u64,
    /// The phone listener's port and keys, when it has one.
    web: Option<(u16, Arc<Keys>)>,
    /// Why the phone URL is not in the networking mode asked for, if it is not.
    pub network_warning: Option<String>,
    /// Lifecycle events: attention raised and cleared, clients attached and detached.
    events: Arc<Events>,
    /// The current name, watched by phones (their title).
    name: watch::Sender<String>,
    /// The last `scrollbackBufferSize` bytes of output, and the exit status once the
    /// program has ended: one lock, so a reader sees the status only together with the
    /// head it follows (see `read_for`). Writer: the actor.
    ring: Mutex<Output>,
    /// The ring's head, published after every append.
    head: watch::Sender<u64>,
    /// The terminal state. Writer: the follower.
    term: Mutex<Term>,
    /// Attached clients and the resize policy.
    clients: Mutex<Clients>,
    /// The PTY size the policy chose; the actor applies it, clients report it.
    size: watch::Sender<Size>,
    /// Reading clients' cursors and speeds, so the actor can pace the PTY for those that
    /// keep up (`session/pacing.rs`).
    readers: Mutex<HashMap<u64, Reader>>,
    /// Bumped when a reading client got output.
    progress: watch::Sender<()>,
    /// Set once when the program has exited and all its output is in the ring.
    exit: watch::Sender<Option<ExitStatus>>,
    activity: Mutex<Activity>,
    /// Direct terminals the actor may write to itself (`tty::Shortcut`).
    shortcuts: Mutex<Vec<Arc<crate::tty::Shortcut>>>,
}

/// Locks a mutex, recovering from poisoning: every critical section here leaves the data
/// consistent at each step, so a panic elsewhere does not invalidate it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Everything a new session is made of, gathered by the registry.
pub(crate) struct Parts {
    pub id: String,
    pub name: String,
    pub command: Vec<String>,
    pub cwd: String,
    pub program: Program,
    pub size: Size,
    pub ring_capacity: usize,
    pub clients: Clients,
    /// The phone listener's port and keys.
    pub web: Option<(u16, Arc<Keys>)>,
    pub network_warning: Option<String>,
    /// Where attention and client events go.
    pub events: Arc<Events>,
}

impl Session {
    /// A session handle and the size watch for its actor.
    pub(crate) fn new(parts: Parts) -> (Arc<Self>, watch::Receiver<Size>) {
        let (size, size_rx) = watch::channel(parts.size);
        let now = now_ms();
        let session = Arc::new(Self {
            id: parts.id,
            command: parts.command,
            cwd: parts.cwd,
            pid: parts.program.pid,
            program: parts.program,
            remote: None,
            input: input::Queue::default(),
            started_at_ms: now,
            web: parts.web,
            network_warning: parts.network_warning,
            events: parts.events,
            name: watch::channel(parts.name).0,
            ring: Mutex::new(Output {
                ring: Ring::new(parts.ring_capacity),
                ended: None,
            }),
            head: watch::channel(0).0,
            term: Mutex::new(Term::new(parts.size)),
            readers: Mutex::new(HashMap::new()),
            progress: watch::channel(()).0,
            shortcuts: Mutex::new(Vec::new()),
            clients: Mutex::new(parts.clients),
            size,
            exit: watch::channel(None).0,
            activity: Mutex::new(Activity {
                last_seen_ms: now,
                attention: false,
                attention_message: None,
                alerts: 0,
            }),
        });
        (session, size_rx)
    }

    /// The current name.
    pub fn name(&self) -> String {
        self.name.borrow().clone()
    }

    /// Renames; the registry checks uniqueness.
    pub(crate) fn set_name(&self, name: String) {
        self.name.send_replace(name);
    }

    /// A snapshot for listings.
    pub fn info(&self) -> SessionInfo {
        // Copied before `activity` is taken: no two of these locks are ever held together.
        let counts = lock(&self.clients).counts();
        let activity = lock(&self.activity);
        let status = if activity.attention {
            Status::Attention
        } else if now_ms().saturating_sub(activity.last_seen_ms) < IDLE_AFTER_MS {
            Status::Active
        } else {
            Status::Idle
        };
        SessionInfo {
            id: self.id.clone(),
            name: self.name(),
            command: self.command.clone(),
            cwd: self.cwd.clone(),
            pid: self.pid,
            port: self.web.as_ref().map(|(port, _)| *port),
            status,
            clients: counts.terminals + counts.phones + counts.read_only,
            client_counts: counts,
            started_at_ms: self.started_at_ms,
            last_seen_ms: activity.last_seen_ms,
            size: *self.size.borrow(),
            url: self.link(Role::Full),
            attention: activity.attention_message.clone(),
        }
    }

    /// The phone link of `role`, with its key, when the session has a web listener.
    pub fn link(&self, role: Role) -> Option<String> {
        self.web.as_ref().and_then(|(_, keys)| keys.link(role))
    }

    /// Replaces the key of `role`, disconnecting the clients that used it; the new link.
    pub fn rotate(&self, role: Role) -> Option<String> {
        let (_, keys) = self.web.as_ref()?;
        keys.rotate(role)?;
        keys.link(role)
    }

    /// The key of `role`, when the session has a web listener.
    pub fn key(&self, role: Role) -> Option<itwillsync_protocol::seal::Key> {
        self.web.as_ref().and_then(|(_, keys)| keys.key(role))
    }

    /// Milliseconds since the epoch of the last input or output.
    pub fn last_seen_ms(&self) -> u64 {
        lock(&self.activity).last_seen_ms
    }

    /// How many bells and notifications the program has sent: a change means a new alert.
    pub fn alerts(&self) -> u64 {
        lock(&self.activity).alerts
    }

    /// Answers pending attention without typing (the dashboard's `clear-attention`).
    pub fn clear_attention(&self) {
        let was = {
            let mut activity = lock(&self.activity);
            activity.attention_message = None;
            std::mem::take(&mut activity.attention)
        };
        if was {
            self.emit(EventKind::AttentionCleared, None);
        }
    }

    /// Emits an event about this session.
    fn emit(&self, kind: EventKind, message: Option<String>) {
        self.events.session(kind, &self.id, &self.name(), message);
    }

    /// The last `count` non-empty lines of the screen (the alternate one while a
    /// full-screen program runs), as plain text of at most `width` characters.
    pub fn preview(&self, count: usize, width: usize) -> Vec<String> {
        lock(&self.term).preview(count, width)
    }

    // ----- output side (actor and follower) -----

    /// Appends PTY output to the ring and wakes every reader.
    pub(crate) fn push_output(&self, data: &[u8]) {
        let from = {
            let mut ring = lock(&self.ring);
            ring.push(data);
            ring.head() - data.len() as u64
        };
        self.pushed(from, data);
    }

    /// `data` was just pushed into the ring at output position `from`: the session was
    /// active now, readers are woken, and direct terminals are offered it. Whatever pushes
    /// output (the actor, a mirror's task) must call this.
    pub(crate) fn pushed(&self, from: u64, data: &[u8]) {
        lock(&self.activity).last_seen_ms = now_ms();
        self.head.send_replace(from + data.len() as u64);
        self.offer_to_terminals(from, data);
    }

    /// Direct terminals waiting at `from` get `data` (just pushed there) now, from here;
    /// any other armed one is woken to catch up itself (`tty::Shortcut::offer`): an armed
    /// attachment waits for nothing else.
    fn offer_to_terminals(&self, from: u64, data: &[u8]) {
        for cut in lock(&self.shortcuts).iter() {
            if let Some(seq) = cut.offer(from, data) {
                self.reader_progressed(cut.client, seq);
            }
        }
    }

    /// Wakes every armed direct terminal (the ring restarted: they repaint).
    pub(crate) fn wake_terminals(&self) {
        for cut in lock(&self.shortcuts).iter() {
            cut.interrupt();
        }
    }

    /// Lets the actor (a mirror's task) write output straight to a direct terminal while
    /// it is armed.
    pub(crate) fn add_shortcut(&self, cut: Arc<crate::tty::Shortcut>) {
        lock(&self.shortcuts).push(cut);
    }

    /// Stops the actor writing to that terminal (it is disarmed too, under its lock).
    pub(crate) fn remove_shortcut(&self, cut: &Arc<crate::tty::Shortcut>) {
        lock(&self.shortcuts).retain(|c| !Arc::ptr_eq(c, cut));
        cut.disarm();
    }

    /// Marks the session as ended; called by the actor after the last output is pushed.
    pub(crate) fn set_exited(&self, status: ExitStatus) {
        lock(&self.ring).ended = Some(status);
        self.exit.send_replace(Some(status));
    }

    // ----- client side -----

    /// Watches the client loops select on.
    pub fn watch(&self) -> Watches {
        Watches {
            head: self.head.subscribe(),
            size: self.size.subscribe(),
            exit: self.exit.subscribe(),
            name: self.name.subscribe(),
        }
    }

    /// Copies up to `max` output bytes from seq `from` into `out`, and tells, under the
    /// same lock, the head and whether the program has ended: a reader that finds itself at
    /// that head with an exit status has everything (the actor pushes the last output
    /// before it sets the status).
    pub(crate) fn read_for(
        &self,
        from: u64,
        max: usize,
        out: &mut Vec<u8>,
    ) -> Result<Read, Behind> {
        let output = lock(&self.ring);
        let n = output.ring.read_into(from, max, out)?;
        Ok(Read {
            n,
            head: output.ring.head(),
            ended: output.ended,
        })
    }

    /// A repaint of the current terminal state and the output position it corresponds to
    /// (never older than the ring's start, so the caller can continue from the ring). It
    /// is rendered under the `term` lock: its size is bounded by the screen's.
    pub fn redraw(&self) -> Repaint {
        self.skip_unparsed();
        let term = lock(&self.term);
        Repaint::rendered(term.seq(), term.redraw())
    }

    fn term_seq(&self) -> u64 {
        lock(&self.term).seq()
    }

    /// When the session has been quiet (no input or output) for [`QUIET_AFTER_MS`], gives
    /// back the ring's storage except the newest [`QUIET_KEEP`] bytes, and except what the
    /// terminal state has not parsed yet or a reading client has not been sent: nothing
    /// that is still needed is dropped. A client that comes back from before the new start
    /// (a phone resuming) is repainted, as when it falls out of the ring. The ring grows
    /// again on the next output.
    pub(crate) fn release_quiet_output(&self) {
        if now_ms().saturating_sub(self.last_seen_ms()) < QUIET_AFTER_MS {
            return;
        }
        // Each only moves forward, so what they say stays a safe bound.
        let parsed = self.term_seq();
        let reading = self.oldest_reader();
        let mut ring = lock(&self.ring);
        let keep_from = ring
            .head()
            .saturating_sub(QUIET_KEEP)
            .min(parsed)
            .min(reading.unwrap_or(u64::MAX));
        if keep_from > ring.start() {
            ring.release_before(keep_from);
        }
    }

    /// Moves the terminal state past output that has already left the ring unparsed.
    fn skip_unparsed(&self) {
        let start = lock(&self.ring).start();
        let mut term = lock(&self.term);
        if term.seq() < start {
            tracing::debug!(session = %self.id, skipped = start - term.seq(), "terminal state skipped a flood");
            term.skip_to(start);
        }
    }

    /// Like [`Session::redraw`], but starting with a terminal reset and the scrollback
    /// history, for phones. The `term` lock is held only to copy the state; the history
    /// (up to tens of megabytes of escape sequences) is rendered from the copy, piece by
    /// piece, as the client takes it.
    pub fn redraw_with_history(&self) -> Repaint {
        self.skip_unparsed();
        let snapshot = lock(&self.term).snapshot();
        Repaint::with_history(snapshot)
    }

    /// The oldest output position the ring still holds, and the head.
    pub fn output_range(&self) -> (u64, u64) {
        let ring = lock(&self.ring);
        (ring.start(), ring.head())
    }

    /// Registers a client and applies the resize policy. Returns its id.
    pub fn join(&self, kind: Kind, read_only: bool, size: Option<Size>) -> u64 {
        let id = lock(&self.clients).join(kind, read_only, size);
        self.apply_size();
        let what = Clients::describe(kind, read_only);
        self.emit(EventKind::ClientAttached, Some(what.into()));
        id
    }

    /// Unregisters a client; the next eligible client's size applies.
    pub fn leave(&self, client: u64) {
        lock(&self.readers).remove(&client);
        self.progress.send_replace(());
        let what = lock(&self.clients).leave(client);
        self.apply_size();
        if let Some(what) = what {
            self.emit(EventKind::ClientDetached, Some(what.into()));
        }
    }

    /// A client reported a size (or forced it).
    pub fn claim(&self, client: u64, claim: Claim) {
        lock(&self.clients).claim(client, claim);
        self.apply_size();
    }

    /// Sends a client's keystrokes to the program, in arrival order with everyone else's;
    /// what the session cannot take yet waits in the client's `pending`, which the client
    /// flushes (`Pending::flush`) while it goes on serving. Never waits. Typing answers any
    /// pending attention.
    pub fn input(&self, client: u64, data: &[u8], pending: &mut Pending) -> Offered {
        if data.is_empty() {
            return Offered::Accepted;
        }
        self.claim(client, Claim::Typed);
        let answered = {
            let mut activity = lock(&self.activity);
            activity.attention_message = None;
            activity.last_seen_ms = now_ms();
            std::mem::take(&mut activity.attention)
        };
        if answered {
            self.emit(EventKind::AttentionCleared, None);
        }
        pending.offer(&self.input, data)
    }

    /// The session's input queue (for the actor, and for clients' `Pending`).
    pub fn input_queue(&self) -> &input::Queue {
        &self.input
    }

    fn apply_size(&self) {
        let clients = lock(&self.clients);
        if let Some(remote) = &self.remote {
            // The remote server applies it, and tells the size it chose (`Size`).
            let counts = clients.counts();
            let watchers = counts.terminals + counts.phones + counts.read_only;
            let size = clients.effective();
            remote.set_demand(mirror::Demand {
                size,
                watchers: watchers as usize,
            });
            return;
        }
        let Some(size) = clients.effective() else {
            return;
        };
        if *self.size.borrow() != size {
            lock(&self.term).set_size(size);
            self.size.send_replace(size);
        }
    }
}

/// The watches a client loop selects on.
pub struct Watches {
    /// The ring's head.
    pub head: watch::Receiver<u64>,
    /// The PTY size.
    pub size: watch::Receiver<Size>,
    /// The exit status, once the program has ended.
    pub exit: watch::Receiver<Option<ExitStatus>>,
    /// The session's name.
    pub name: watch::Receiver<String>,
}
