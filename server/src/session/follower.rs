//! The terminal-state follower: one task per session, parsing the ring into the vt100
//! state at its own pace, answering terminal queries while no local terminal is attached,
//! and raising attention on bells and notifications. In a flood of plain text it skips
//! what cannot change the final state ([`Floods`]).
//!
//! The followers of all sessions share one small pool of low-priority threads ([`pool`]:
//! [`THREADS`], however many sessions run). Fairness: a follower parses at most
//! [`PARSE_CHUNK`] bytes and then yields to the back of the pool's queue, so followers
//! take turns in slices of ~0.4 ms and a flooding session only ever takes its share; an
//! idle follower waits on its session's watches and costs no wake-up.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures_util::FutureExt;
use itwillsync_protocol::{EventKind, ExitStatus};
use tokio::sync::watch;

use super::{lock, Session};
use crate::ring::Behind;
use crate::term::{Hooks, Term};

/// Most bytes the follower parses under one hold of the `term` lock (~0.4 ms at vt100's
/// speed), so a redraw request hardly ever waits.
const PARSE_CHUNK: usize = 16 << 10;

/// Threads of the follower pool: enough to parse on two cores at once; a fixed number,
/// so a thousand sessions cost no more threads than one.
pub const THREADS: usize = 2;

/// The follower pool: a runtime of its own whose [`THREADS`] workers run at a lower
/// scheduling priority, so that on a busy machine parsing never takes CPU from reading
/// PTYs or feeding clients (followers catch up, or skip a flood, when the CPU is free).
/// Started with the first session, shared by every server in the process (the in-process
/// tests start several), never stopped. `None` when it cannot start.
fn pool() -> Option<&'static tokio::runtime::Runtime> {
    static POOL: OnceLock<Option<tokio::runtime::Runtime>> = OnceLock::new();
    POOL.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(THREADS)
            .max_blocking_threads(1)
            .thread_name("term")
            .on_thread_start(lower_priority)
            .enable_time()
            .build()
            .inspect_err(|e| tracing::error!("cannot start the terminal-state threads: {e}"))
            .ok()
    })
    .as_ref()
}

impl Session {
    /// Starts the follower as a task of the follower pool ([`pool`]).
    pub(crate) fn spawn_follower(self: &Arc<Self>) -> std::io::Result<()> {
        let pool = pool().ok_or_else(|| std::io::Error::other("no terminal-state threads"))?;
        let session = self.clone();
        let runtime = tokio::runtime::Handle::current();
        pool.spawn(async move {
            let follow = std::panic::AssertUnwindSafe(session.clone().follow_output());
            if let Err(panic) = follow.catch_unwind().await {
                // Without its terminal state the session cannot serve redraws: end it.
                let why = crate::panic_message(&panic);
                tracing::error!(session = %session.id, "the terminal state failed: {why}");
                let _ = session.terminate_on(&runtime);
            }
        });
        Ok(())
    }

    /// Parses output into the terminal state as it arrives, answers terminal queries while
    /// no local terminal is attached, and raises attention on bells and notifications.
    /// In a flood it skips plain text that cannot change the final state (see
    /// [`crate::term::skippable`]). Returns when the session has ended and everything is
    /// parsed.
    async fn follow_output(self: Arc<Self>) {
        let mut head_rx = self.head.subscribe();
        let mut exit_rx = self.exit.subscribe();
        // Grows with the output read at once (up to PARSE_CHUNK): a session that prints a
        // line now and then keeps a small buffer.
        let mut chunk = Vec::new();
        let mut floods = Floods::default();
        let read = |from, max, out: &mut Vec<u8>| lock(&self.ring).read_into(from, max, out);
        let mut stream = Stream::new(*head_rx.borrow());
        loop {
            if floods.flooding && exit_rx.borrow().is_none() {
                floods.gather(self.term_seq(), &head_rx, &mut exit_rx).await;
            }
            // Read after the wait: a redraw may have skipped a flood meanwhile.
            let exited = exit_rx.borrow_and_update().is_some();
            let head = *head_rx.borrow_and_update();
            // Only with output to parse (tests only): a new session's follower looks once
            // before there is any, which a test arming this point must not race.
            if cfg!(test) && head > self.term_seq() {
                crate::test_hooks::panic_point("follower-parse", &self.id);
            }
            let (parsed, seq, hooks) =
                match floods.step(&read, &self.term, head, exited, &mut chunk) {
                    Step::Again => continue,
                    Step::Behind => {
                        self.skip_unparsed();
                        continue;
                    }
                    Step::Parsed { from, to, hooks } => (from, to, hooks),
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
                // More is waiting (beyond a sequence held back at the end, if any): the
                // other sessions' followers get their turn first.
                tokio::task::yield_now().await;
                continue;
            }
            // Everything available is parsed (or held back until more arrives).
            if exited {
                return;
            }
            if stream.fast(head) {
                // Kept up with, but fast: let it gather and skip what it may, as a flood
                // the follower fell behind on.
                floods.flooding = true;
            }
            tokio::select! {
                r = head_rx.changed() => if r.is_err() { return },
                r = exit_rx.changed() => if r.is_err() { return },
                _ = self.gone() => return,
            }
        }
    }
}

/// How fast output arrives, as the follower sees it when it has caught up: a stream of
/// more than [`FLOOD_LOOK`] within [`FLOOD_PAUSE`] (2.5 MB/s) is a flood even when the
/// follower keeps up with it. Parsing all of it would cost vt100's full price (about 2 CPU
/// seconds per 100 MB) where gathering and skipping costs a few percent of that.
struct Stream {
    /// Where the current measurement started.
    since: std::time::Instant,
    from: u64,
}

impl Stream {
    fn new(head: u64) -> Self {
        Self {
            since: std::time::Instant::now(),
            from: head,
        }
    }

    /// Whether output up to `head` came fast enough to be treated as a flood: at least
    /// [`FLOOD_LOOK`] since the measurement started, at 2.5 MB/s or more.
    fn fast(&mut self, head: u64) -> bool {
        let bytes = head.saturating_sub(self.from);
        let elapsed = self.since.elapsed();
        if bytes < FLOOD_LOOK {
            if elapsed >= FLOOD_PAUSE {
                *self = Self::new(head);
            }
            return false;
        }
        *self = Self::new(head);
        elapsed.as_secs_f64() * FLOOD_LOOK as f64 <= bytes as f64 * FLOOD_PAUSE.as_secs_f64()
    }
}

/// Lowers the calling thread's priority (nice 10 on Linux, where nice is per thread;
/// elsewhere it keeps the default). Not the idle class: a follower holds its `term` lock
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
pub(crate) struct Floods {
    /// Output to skip (`from..to`) once parsing reaches `from`, found for this many rows.
    skip: Option<(u64, u64, u16)>,
    /// No need to look again before this position (the last look found nothing).
    next_look: u64,
    /// The last look found plain text to skip.
    flooding: bool,
    /// Unparsed output beyond which it looks ([`FLOOD_LOOK`]), and how far ([`FLOOD_WINDOW`]).
    look: u64,
    window: usize,
}

impl Default for Floods {
    fn default() -> Self {
        Self::with_window(FLOOD_LOOK, FLOOD_WINDOW)
    }
}

/// What one [`Floods::step`] did.
pub(crate) enum Step {
    /// Nothing parsed (moved past skipped output, or a redraw moved the state): again.
    Again,
    /// The output to parse has left the ring: skip to what it still holds.
    Behind,
    /// Parsed output from one position to the other (less than read when a sequence is
    /// cut off at the end), finding these hooks.
    Parsed { from: u64, to: u64, hooks: Hooks },
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
    /// Looks ahead once `look` bytes are unparsed, `window` bytes at a time: the follower's
    /// are [`FLOOD_LOOK`] and [`FLOOD_WINDOW`]; the fuzz target takes smaller ones, to
    /// reach the same decisions with less output.
    pub(crate) fn with_window(look: u64, window: usize) -> Self {
        Self {
            skip: None,
            next_look: 0,
            flooding: false,
            look,
            window,
        }
    }

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

    /// Plans, reads and parses the next chunk of output up to `head` (everything of it,
    /// cut-off sequences included, once the program has `exited`): the follower's work
    /// between its waits, on the session's terminal state, reading the ring with `read`
    /// (`Ring::read_into` under the ring's lock). The fuzz target `flood_differential`
    /// drives it the same way against a full parse.
    pub(crate) fn step(
        &mut self,
        read: &impl Fn(u64, usize, &mut Vec<u8>) -> Result<usize, Behind>,
        term: &Mutex<Term>,
        head: u64,
        exited: bool,
        chunk: &mut Vec<u8>,
    ) -> Step {
        let parsed = lock(term).seq();
        let max = match self.plan(read, term, parsed, head) {
            Plan::Skipped => return Step::Again,
            Plan::ParseUpTo(until) => (until - parsed).min(PARSE_CHUNK as u64) as usize,
            Plan::Parse => PARSE_CHUNK,
        };
        chunk.clear();
        if let Err(Behind) = read(parsed, max, chunk) {
            return Step::Behind;
        }
        let mut term = lock(term);
        if term.seq() != parsed {
            // A redraw skipped a flood while this chunk was read: it no longer follows
            // the state. Read again from the new position.
            return Step::Again;
        }
        // Only the very end of the output is finished: a sequence cut at a chunk's end
        // continues in the next chunk.
        if exited && parsed + chunk.len() as u64 >= head {
            term.finish(chunk);
        } else {
            term.process(chunk);
        }
        Step::Parsed {
            from: parsed,
            to: term.seq(),
            hooks: term.take_hooks(),
        }
    }

    fn plan(
        &mut self,
        read: &impl Fn(u64, usize, &mut Vec<u8>) -> Result<usize, Behind>,
        term: &Mutex<Term>,
        parsed: u64,
        head: u64,
    ) -> Plan {
        if let Some((from, to, rows)) = self.skip {
            if parsed < from {
                return Plan::ParseUpTo(from);
            }
            self.skip = None;
            // The state here decides: a scroll region may have been set on the way, or the
            // screen grown taller than the lines kept can settle.
            let mut term = lock(term);
            if parsed == from && term.may_skip() && term.rows() <= rows {
                term.skip_to(to);
                return Plan::Skipped;
            }
        }
        if head.saturating_sub(parsed) < self.look || parsed < self.next_look {
            return Plan::Parse;
        }
        // Allocated and written (zeroed memory would be mapped lazily) before the ring is
        // locked: the actor waits on that lock.
        let mut window = vec![1; self.window];
        window.clear();
        if read(parsed, self.window, &mut window).is_err() {
            return Plan::Parse; // the ring moved on: the next read catches up
        }
        let rows = lock(term).rows();
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
