//! One session: a program on a PTY, its output ring, its terminal state and its clients.
//!
//! [`Session`] is the shared handle every client task holds. Three tasks work behind it:
//! the actor (`actor.rs`), the only owner of the PTY master, which appends output to the
//! ring and writes input; the terminal-state follower (`follow_output` here), which parses
//! the ring into the vt100 state at its own pace; and the exit watcher in the registry.
//! The follower never slows the PTY: vt100 parses ~45 MB/s and a PTY delivers more. In a
//! flood of plain text it skips what cannot change the final state (`Floods`), so
//! following costs little CPU. When a flood still outruns it by more than the ring, it
//! keeps its state (modes, alternate screen, colours) and continues from the oldest byte
//! still held; the screen is then exact again once the flood's last screenful is parsed.
//! Clients never wait on each other: each keeps its own cursor into the ring (`feed.rs`)
//! and is woken by the `head` watch when the ring grows. Clients that read pace the PTY
//! (see `paced_by_readers`). Input goes through a byte-bounded queue (`input.rs`), signals
//! straight to the program (`program.rs`): neither ever waits for the other.
//!
//! Locks: `ring` (with the exit status), `term`, `clients`, `readers` and `activity` are
//! `std::sync::Mutex`es guarding in-memory state for microseconds; none is held across an
//! `.await`. Nestings, each one way only, so no lock-order cycle exists: `term` inside
//! `clients` (`apply_size`), `ring` inside `readers` (`paced_by_readers`), and the name
//! watch inside `activity` (`info`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use itwillsync_protocol::{EventKind, ExitStatus, SessionInfo, Size, Status};
use tokio::sync::watch;

use crate::events::Events;
use crate::input::{self, Offered, Pending};
use crate::program::{Gone, Program, HANGUP_GRACE};
use crate::repaint::Repaint;
use crate::ring::{Behind, Ring};
use crate::size::{Claim, Clients, Kind};
use crate::term::Term;
use crate::web::keys::{Keys, Role};

/// A session with no output for this long is idle rather than active.
const IDLE_AFTER_MS: u64 = 30_000;

/// Most bytes the follower parses under one hold of the `term` lock (~0.4 ms at vt100's
/// speed), so a redraw request hardly ever waits.
const PARSE_CHUNK: usize = 16 << 10;

/// A reading client's position in the output, and how fast it drains a backlog.
#[derive(Debug, Clone, Copy)]
struct Reader {
    cursor: u64,
    progressed: Instant,
    /// When this reader last fell behind the head and where it was then; `None` while it
    /// is caught up (so idle time never counts against its speed).
    behind_since: Option<(Instant, u64)>,
    /// Bytes per second it drained while behind, over the last complete [`RATE_WINDOW`].
    rate: Option<u64>,
}

impl Reader {
    fn new(cursor: u64, now: Instant) -> Self {
        Self {
            cursor,
            progressed: now,
            behind_since: None,
            rate: None,
        }
    }

    /// Whether the PTY should wait for this reader while it lags more than `limit`.
    fn paces(&self, head: u64, limit: u64) -> bool {
        self.progressed.elapsed() < STALLED_AFTER
            && self.rate.is_none_or(|rate| rate >= PACE_MIN_RATE)
            && head - self.cursor.min(head) > limit
    }
}

/// A client that got output this recently is reading; one that has not is stalled and
/// never holds the PTY back.
const STALLED_AFTER: Duration = Duration::from_millis(1000);
/// A reader that drains a backlog slower than this (bytes per second; a phone on a
/// mobile network, say) never holds the PTY back either: it gets a repaint when it falls
/// a ring behind, rather than slowing the program for everyone.
const PACE_MIN_RATE: u64 = 1 << 20;
/// How long a reader's speed is measured over.
const RATE_WINDOW: Duration = Duration::from_millis(500);

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
    /// The program as a process: signals and reaping.
    program: Program,
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
    /// keep up (see `paced_by_readers`).
    readers: Mutex<HashMap<u64, Reader>>,
    /// Bumped when a reading client got output.
    progress: watch::Sender<()>,
    /// Set once when the program has exited and all its output is in the ring.
    exit: watch::Sender<Option<ExitStatus>>,
    activity: Mutex<Activity>,
}

/// Locks a mutex, recovering from poisoning: every critical section here leaves the data
/// consistent at each step, so a panic elsewhere does not invalidate it.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
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
        let head = {
            let mut ring = lock(&self.ring);
            ring.push(data);
            ring.head()
        };
        lock(&self.activity).last_seen_ms = now_ms();
        self.head.send_replace(head);
    }

    /// Whether the actor should wait before reading `next` more bytes: a client that is
    /// reading would otherwise fall out of the ring. Like a plain terminal, a reading
    /// client paces the program; a stalled one (no output for [`STALLED_AFTER`]) or a
    /// slow one (below [`PACE_MIN_RATE`]) never does, so nobody can stop the PTY for long.
    pub(crate) fn paced_by_readers(&self, next: usize) -> bool {
        let readers = lock(&self.readers);
        if readers.is_empty() {
            return false;
        }
        let (head, capacity) = {
            let ring = lock(&self.ring);
            (ring.head(), ring.capacity())
        };
        let limit = (capacity as u64 * 3 / 4).saturating_sub(next as u64);
        readers.values().any(|r| r.paces(head, limit))
    }

    /// Notified when a reading client got output.
    pub(crate) fn progress(&self) -> watch::Receiver<()> {
        self.progress.subscribe()
    }

    /// A client was sent output up to `cursor`.
    pub fn reader_progressed(&self, client: u64, cursor: u64) {
        self.note_reader(client, cursor, false);
    }

    /// A client was repainted and continues from `cursor`: the jump is not reading speed.
    pub fn reader_repainted(&self, client: u64, cursor: u64) {
        self.note_reader(client, cursor, true);
    }

    fn note_reader(&self, client: u64, cursor: u64, repainted: bool) {
        let (now, head) = (Instant::now(), *self.head.borrow());
        {
            let mut readers = lock(&self.readers);
            let reader = readers
                .entry(client)
                .or_insert_with(|| Reader::new(cursor, now));
            reader.cursor = cursor;
            reader.progressed = now;
            if repainted {
                reader.behind_since = None;
            }
            match reader.behind_since {
                _ if cursor >= head => reader.behind_since = None,
                None => reader.behind_since = Some((now, cursor)),
                Some((since, from)) if now - since >= RATE_WINDOW => {
                    let bytes = cursor.saturating_sub(from) as f64;
                    reader.rate = Some((bytes / (now - since).as_secs_f64()) as u64);
                    reader.behind_since = Some((now, cursor));
                }
                Some(_) => {}
            }
        }
        self.progress.send_replace(());
    }

    /// Marks the session as ended; called by the actor after the last output is pushed.
    pub(crate) fn set_exited(&self, status: ExitStatus) {
        lock(&self.ring).ended = Some(status);
        self.exit.send_replace(Some(status));
    }

    /// Starts the follower on its own thread at the lowest scheduling priority, so that on
    /// a busy machine parsing never takes CPU from reading the PTY or feeding clients (the
    /// follower catches up, or skips a flood, when the CPU is free).
    pub(crate) fn spawn_follower(self: &Arc<Self>) -> std::io::Result<()> {
        let session = self.clone();
        let runtime = tokio::runtime::Handle::current();
        std::thread::Builder::new()
            .name(format!("term-{}", &self.id[..8]))
            .spawn(move || {
                lower_priority();
                let follow = std::panic::AssertUnwindSafe(|| {
                    runtime.block_on(session.clone().follow_output())
                });
                if let Err(panic) = std::panic::catch_unwind(follow) {
                    // Without its terminal state the session cannot serve redraws: end it.
                    let why = crate::panic_message(&panic);
                    tracing::error!(session = %session.id, "the terminal state failed: {why}");
                    let _ = session.terminate_on(&runtime);
                }
            })
            .map(drop)
    }

    /// Parses output into the terminal state as it arrives, answers terminal queries while
    /// no local terminal is attached, and raises attention on bells and notifications.
    /// In a flood it skips plain text that cannot change the final state (see
    /// [`crate::term::skippable`]). Returns when the session has ended and everything is
    /// parsed.
    async fn follow_output(self: Arc<Self>) {
        let mut head_rx = self.head.subscribe();
        let mut exit_rx = self.exit.subscribe();
        let mut chunk = Vec::with_capacity(PARSE_CHUNK);
        let mut floods = Floods::default();
        loop {
            if floods.flooding && exit_rx.borrow().is_none() {
                floods.gather(self.term_seq(), &head_rx, &mut exit_rx).await;
            }
            // Read after the wait: a redraw may have skipped a flood meanwhile.
            let exited = exit_rx.borrow_and_update().is_some();
            let parsed = self.term_seq();
            let head = *head_rx.borrow_and_update();
            let max = match floods.plan(&self, parsed, head) {
                Plan::Skipped => continue,
                Plan::ParseUpTo(until) => (until - parsed).min(PARSE_CHUNK as u64) as usize,
                Plan::Parse => PARSE_CHUNK,
            };
            chunk.clear();
            // Bound first: the ring's guard must be gone before `skip_unparsed` locks it.
            let read = lock(&self.ring).read_into(parsed, max, &mut chunk);
            if let Err(Behind) = read {
                self.skip_unparsed();
                continue;
            }
            crate::test_hooks::panic_point("follower-parse", &self.id);
            let (seq, hooks) = {
                let mut term = lock(&self.term);
                if term.seq() != parsed {
                    // A redraw skipped a flood while this chunk was read: it no longer
                    // follows the state. Read again from the new position.
                    continue;
                }
                if exited {
                    term.finish(&chunk);
                } else {
                    term.process(&chunk);
                }
                (term.seq(), term.take_hooks())
            };
            if !hooks.replies.is_empty() && !lock(&self.clients).has_local() {
                // Dropped if the queue is full: a flood of queries needs no flood of answers.
                self.input.offer(&hooks.replies);
            }
            if hooks.alerts > 0 {
                {
                    let mut activity = lock(&self.activity);
                    activity.attention = true;
                    activity.attention_message = hooks.message.clone();
                    activity.alerts += u64::from(hooks.alerts);
                }
                self.emit(EventKind::AttentionRaised, hooks.message);
            }
            if seq > parsed && seq < *self.head.borrow() {
                // More is waiting (beyond a sequence held back at the end, if any).
                tokio::task::yield_now().await;
                continue;
            }
            // Everything available is parsed (or held back until more arrives).
            if exited {
                return;
            }
            tokio::select! {
                r = head_rx.changed() => if r.is_err() { return },
                r = exit_rx.changed() => if r.is_err() { return },
            }
        }
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

    /// Signals the program's process group at once; an error once it has been reaped.
    pub fn signal(&self, signal: i32) -> Result<(), Gone> {
        self.program.signal(signal)
    }

    /// Hangs the program up at once: SIGHUP, then SIGKILL if it has not exited within
    /// [`HANGUP_GRACE`]. An error once it has been reaped.
    pub fn terminate(self: &Arc<Self>) -> Result<(), Gone> {
        self.terminate_on(&tokio::runtime::Handle::current())
    }

    fn terminate_on(self: &Arc<Self>, runtime: &tokio::runtime::Handle) -> Result<(), Gone> {
        if self.program.hang_up()? {
            let session = self.clone();
            runtime.spawn(async move {
                tokio::select! {
                    _ = session.exited() => {}
                    _ = tokio::time::sleep(HANGUP_GRACE) => {
                        tracing::info!(session = %session.id, "no exit after SIGHUP: SIGKILL");
                        let _ = session.program.signal(libc::SIGKILL);
                    }
                }
            });
        }
        Ok(())
    }

    /// Ends a session whose actor failed: kills the program, reaps it off the async
    /// workers, and publishes its status so clients and the registry let go.
    pub(crate) async fn fail(&self) {
        let _ = self.program.signal(libc::SIGKILL);
        let reaped = async {
            loop {
                if let Some(status) = self.program.try_reap() {
                    return status;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        let status = tokio::time::timeout(HANGUP_GRACE, reaped)
            .await
            .unwrap_or(ExitStatus {
                code: 1,
                signal: None,
            });
        self.set_exited(status);
    }

    /// The program as a process (for the actor).
    pub(crate) fn program(&self) -> &Program {
        &self.program
    }

    /// Waits until the program has exited and its output is in the ring.
    pub async fn exited(&self) -> ExitStatus {
        let mut rx = self.exit.subscribe();
        loop {
            if let Some(status) = *rx.borrow_and_update() {
                return status;
            }
            if rx.changed().await.is_err() {
                return ExitStatus {
                    code: 1,
                    signal: None,
                };
            }
        }
    }

    fn apply_size(&self) {
        let clients = lock(&self.clients);
        let Some(size) = clients.effective() else {
            return;
        };
        if *self.size.borrow() != size {
            lock(&self.term).set_size(size);
            self.size.send_replace(size);
        }
    }
}

/// Lowers the calling thread's priority (nice 10 on Linux, where nice is per thread;
/// elsewhere it keeps the default). Not the idle class: the follower holds the `term` lock
/// while it parses, and a thread that only runs when the CPU is idle could hold it for as
/// long as the machine is busy, stalling every redraw.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid has no preconditions; setpriority on our own thread id is benign.
        let tid = unsafe { libc::syscall(libc::SYS_gettid) } as libc::id_t;
        if unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, 10) } != 0 {
            tracing::debug!("cannot lower the terminal-state thread's priority");
        }
    }
}

/// The follower's look-ahead for plain text it may skip in a flood. While a flood of
/// plain text lasts, the follower lets a megabyte gather (at most [`FLOOD_PAUSE`]) and
/// skips all of it but the lines that settle the screen, so a flood costs little CPU
/// whatever its size; the state stays exact at its position throughout.
#[derive(Default)]
struct Floods {
    /// Output to skip (`from..to`) once parsing reaches `from`, found for this many rows.
    skip: Option<(u64, u64, u16)>,
    /// No need to look again before this position (the last look found nothing).
    next_look: u64,
    /// The last look found plain text to skip.
    flooding: bool,
}

/// What the follower does next.
enum Plan {
    /// Moved past skipped output: look again.
    Skipped,
    /// Parse, but stop at this position (where a skip starts).
    ParseUpTo(u64),
    Parse,
}

/// Unparsed output beyond which the follower looks ahead for plain text to skip (more than
/// the lines that settle the screen, ~170 KB at 80 columns).
const FLOOD_LOOK: u64 = 256 << 10;
/// How much a flood may gather before the follower looks, and how far it looks at once.
const FLOOD_BACKLOG: u64 = 1 << 20;
const FLOOD_WINDOW: usize = FLOOD_BACKLOG as usize;
/// How long the follower waits for a flood to gather: the most the terminal state (and
/// so previews and query answers) lags behind while one lasts.
const FLOOD_PAUSE: Duration = Duration::from_millis(100);
/// How often it looks while a flood gathers.
const FLOOD_POLL: Duration = Duration::from_millis(4);

impl Floods {
    /// Waits until [`FLOOD_BACKLOG`] has gathered past `parsed`, the program ends, or
    /// [`FLOOD_PAUSE`] passes; a flood that slowed down below that ends flood mode. It
    /// looks every few milliseconds rather than at every append, so the actor wakes
    /// nobody while a flood gathers.
    async fn gather(
        &mut self,
        parsed: u64,
        head: &watch::Receiver<u64>,
        exit: &mut watch::Receiver<Option<ExitStatus>>,
    ) {
        let deadline = tokio::time::Instant::now() + FLOOD_PAUSE;
        loop {
            let backlog = head.borrow().saturating_sub(parsed);
            if backlog >= FLOOD_BACKLOG {
                return;
            }
            if tokio::time::Instant::now() >= deadline {
                self.flooding = backlog >= FLOOD_LOOK;
                return;
            }
            tokio::select! {
                _ = exit.changed() => return,
                _ = tokio::time::sleep(FLOOD_POLL) => {}
            }
        }
    }

    fn plan(&mut self, session: &Session, parsed: u64, head: u64) -> Plan {
        if let Some((from, to, rows)) = self.skip {
            if parsed < from {
                return Plan::ParseUpTo(from);
            }
            self.skip = None;
            // The state here decides: a scroll region may have been set on the way, or the
            // screen grown taller than the lines kept can settle.
            let mut term = lock(&session.term);
            if parsed == from && term.may_skip() && term.rows() <= rows {
                term.skip_to(to);
                return Plan::Skipped;
            }
        }
        if head.saturating_sub(parsed) < FLOOD_LOOK || parsed < self.next_look {
            return Plan::Parse;
        }
        // Allocated and written (zeroed memory would be mapped lazily) before the ring is
        // locked: the actor waits on that lock.
        let mut window = vec![1; FLOOD_WINDOW];
        window.clear();
        if lock(&session.ring)
            .read_into(parsed, FLOOD_WINDOW, &mut window)
            .is_err()
        {
            return Plan::Parse; // the ring moved on: the next read catches up
        }
        let rows = lock(&session.term).rows();
        self.flooding = false;
        match crate::term::skippable(&window, rows) {
            Some(skip) => {
                self.flooding = true;
                let (from, to) = (parsed + skip.start as u64, parsed + skip.end as u64);
                self.skip = Some((from, to, rows));
                Plan::ParseUpTo(from)
            }
            None => {
                self.next_look = parsed + window.len() as u64 / 2;
                Plan::Parse
            }
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
