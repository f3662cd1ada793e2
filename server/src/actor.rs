//! The session actor: the only owner of a PTY master.
//!
//! It reads output into the ring, never waiting for the terminal-state follower or a
//! stalled or slow client (only clients that are reading fast enough pace it, as a plain
//! terminal would), writes the input the session's queue holds (`input.rs`) without ever
//! blocking on a program that does not read, applies the size the policy picks, hands
//! output to the log's writer (`output_log`, never waiting for the disk), and reaps the program (`program.rs`; signals never pass through here).
//!
//! After the program exits it drains what is left in the PTY until EIO, until it has been
//! quiet briefly, or at the latest [`DRAIN_GRACE`] after the exit (a background process
//! that keeps the PTY open and writing cannot keep a dead session alive), then publishes
//! the exit status, so every byte is in the ring first. Dropping the master then hangs up
//! the PTY for any process still holding it.
//!
//! For a hand-over (`handover`) the actor stops between two events when asked: it closes
//! the log (waiting until it is on disk) and hands back the master, open, with the input
//! not yet written and the exit status if the program was reaped during a drain. Nothing
//! read from the PTY is lost: every read is in the ring before the actor looks again.

use std::collections::VecDeque;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Duration;

use itwillsync_protocol::{ExitStatus, Size};
use tokio::io::unix::{AsyncFd, AsyncFdReadyGuard};
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::watch;
use tokio::time::{sleep_until, Instant};

use crate::handover::{ActorLink, Handed};
use crate::output_log::OutputLog;
use crate::session::Session;

/// Largest single read from the PTY (Linux delivers at most a few KiB per read anyway).
const READ_SIZE: usize = 64 << 10;
/// The read buffer a session starts with; it grows to [`READ_SIZE`] the first time a read
/// fills it, so an idle session does not hold 64 KiB for reading a prompt.
const FIRST_READ_SIZE: usize = 4 << 10;
/// Input the actor takes out of the session's queue at once to write.
const WRITE_CHUNK: usize = 64 << 10;
/// While paced by a reading terminal, how often to check whether it has stalled.
const PACE_RECHECK: Duration = Duration::from_millis(50);
/// How often to look for the program's exit when SIGCHLD cannot be listened for.
const REAP_POLL: Duration = Duration::from_secs(1);
/// After the program exits, how long a PTY that a background process still holds open may
/// stay quiet before the session is declared over.
const DRAIN_AFTER_EXIT: Duration = Duration::from_millis(100);
/// The longest the PTY is drained after the program exits, however much a background
/// process still writes.
pub const DRAIN_GRACE: Duration = Duration::from_secs(2);
/// The most read from the PTY, without waiting, once the drain is over (see
/// `Actor::final_drain`): far more than a program's last words, little enough that a
/// background process writing on cannot hold the session open.
const FINAL_DRAIN_MAX: usize = 4 << 20;
/// The same for a program that was hung up (killed, or the server stopping), so that a
/// stop takes at most the hang-up grace period plus a second.
const DRAIN_GRACE_HUNG_UP: Duration = Duration::from_millis(500);

/// The actor's state between events.
struct Actor {
    session: Arc<Session>,
    fd: AsyncFd<OwnedFd>,
    buf: Vec<u8>,
    /// Input taken from the session's queue, not yet written.
    pending: VecDeque<u8>,
    pty_closed: bool,
    /// The program's status once reaped, and until when to drain.
    exited: Option<(ExitStatus, Instant, Instant)>,
    /// Queues output for the log's writer; dropped at the end, which closes the log.
    log: OutputLog,
}

/// Runs the actor until the program has exited and its output is drained.
pub(crate) async fn run(
    session: Arc<Session>,
    master: OwnedFd,
    mut size: watch::Receiver<Size>,
    log: OutputLog,
    link: ActorLink,
) {
    let ActorLink { mut stop, reaped } = link;
    let mut sigchld = match signal(SignalKind::child()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(session = %session.id, "no SIGCHLD, polling for the exit: {e}");
            None
        }
    };
    // SAFETY: `master` is an open fd owned by the AsyncFd for its whole life.
    let fd = match unsafe { AsyncFd::register(master) } {
        Ok(fd) => fd,
        Err(e) => {
            tracing::error!(session = %session.id, "cannot poll the PTY: {}", e);
            let _ = session.program().signal(libc::SIGKILL);
            let status = loop {
                if let Some(status) = session.program().try_reap() {
                    break status;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            };
            session.set_exited(status);
            return;
        }
    };
    let mut actor = Actor {
        session: session.clone(),
        fd,
        buf: vec![0u8; FIRST_READ_SIZE],
        pending: VecDeque::new(),
        pty_closed: false,
        exited: None,
        log,
    };
    if let Some(status) = reaped {
        // Reaped by the previous server: drain what is left, then publish the exit.
        let now = Instant::now();
        actor.exited = Some((status, now + DRAIN_AFTER_EXIT, now + DRAIN_GRACE_HUNG_UP));
    }
    let mut progress = session.progress();
    // Without a SIGCHLD stream the exit is polled for; with one, an idle session's actor
    // never wakes (a signal that came before the stream existed is caught by this reap).
    let polling = sigchld.is_none();
    actor.reap();

    while !actor.done() {
        actor.take_input();
        let paced = !actor.pty_closed && session.paced_by_readers(READ_SIZE);
        let reading = !actor.pty_closed && !paced;
        let writing = !actor.pending.is_empty() && !actor.pty_closed;
        let drain_until = actor.exited.map(|(_, quiet, cap)| quiet.min(cap));
        tokio::select! {
            ready = actor.fd.readable(), if reading => match ready {
                Ok(guard) => {
                    if let Some(read) = try_read(guard, &mut actor.buf) {
                        actor.on_read(read);
                    }
                }
                Err(_) => actor.pty_closed = true,
            },
            ready = actor.fd.writable(), if writing => match ready {
                Ok(guard) => {
                    if let Some(written) = try_write(guard, actor.pending.as_slices().0) {
                        actor.on_written(written);
                    }
                }
                Err(_) => actor.pending.clear(),
            },
            _ = session.input_queue().arrived(), if actor.pending.len() < WRITE_CHUNK => {}
            changed = size.changed() => {
                if changed.is_ok() {
                    actor.resize(*size.borrow_and_update());
                }
            }
            _ = child_signal(&mut sigchld), if actor.exited.is_none() => actor.reap(),
            _ = tokio::time::sleep(REAP_POLL), if actor.exited.is_none() && polling => actor.reap(),
            _ = sleep_until(drain_until.unwrap_or_else(Instant::now)), if drain_until.is_some() => {}
            // A reading terminal caught up, or may have stalled meanwhile: look again.
            _ = progress.changed(), if paced => {}
            _ = tokio::time::sleep(PACE_RECHECK), if paced => {}
            asked = async { stop.as_mut().expect("guarded").await }, if stop.is_some() => {
                match asked {
                    Ok(reply) => return actor.hand_over(reply).await,
                    // Nobody will ask any more.
                    Err(_) => stop = None,
                }
            }
        }
    }
    actor.final_drain();
    actor.finish();
}

/// One read from a PTY that polled readable; `None` when it was not ready after all.
fn try_read(
    mut guard: AsyncFdReadyGuard<'_, OwnedFd>,
    buf: &mut [u8],
) -> Option<io::Result<usize>> {
    guard
        .try_io(|fd| rustix::io::read(fd.get_ref(), &mut buf[..]).map_err(Into::into))
        .ok()
}

/// One write to a PTY that polled writable; `None` when it was not ready after all.
fn try_write(mut guard: AsyncFdReadyGuard<'_, OwnedFd>, data: &[u8]) -> Option<io::Result<usize>> {
    guard
        .try_io(|fd| rustix::io::write(fd.get_ref(), data).map_err(Into::into))
        .ok()
}

/// The next SIGCHLD, or never when there is no listener.
async fn child_signal(sigchld: &mut Option<Signal>) {
    match sigchld {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

impl Actor {
    /// The program has exited and the PTY is drained (or the drain is over).
    fn done(&self) -> bool {
        match self.exited {
            Some((_, quiet, cap)) => {
                let now = Instant::now();
                self.pty_closed || now >= quiet || now >= cap
            }
            None => false,
        }
    }

    /// Refills the write buffer from the session's queue; once the PTY is gone, empties the
    /// queue so no client waits for room forever.
    fn take_input(&mut self) {
        let input = self.session.input_queue();
        if self.pty_closed {
            self.pending.clear();
            if !input.is_empty() {
                input.clear();
            }
        } else if self.pending.len() < WRITE_CHUNK {
            input.take(WRITE_CHUNK - self.pending.len(), &mut self.pending);
        }
    }

    /// Handles a read.
    fn on_read(&mut self, read: io::Result<usize>) {
        match read {
            // EIO: every slave fd is closed.
            Ok(0) | Err(_) => self.pty_closed = true,
            Ok(n) => {
                crate::test_hooks::panic_point("actor-read", &self.session.id);
                self.session.push_output(&self.buf[..n]);
                self.log.write(&self.buf[..n]);
                if n == self.buf.len() && n < READ_SIZE {
                    self.buf.resize(READ_SIZE, 0);
                }
                if let Some((_, quiet, _)) = &mut self.exited {
                    *quiet = Instant::now() + DRAIN_AFTER_EXIT;
                }
            }
        }
    }

    fn on_written(&mut self, written: io::Result<usize>) {
        match written {
            Ok(n) => {
                self.pending.drain(..n);
            }
            Err(e) => {
                tracing::debug!(session = %self.session.id, "PTY write failed: {e}");
                self.pending.clear();
            }
        }
    }

    /// Applies the size the policy picked.
    fn resize(&self, size: Size) {
        if let Err(e) = crate::pty::set_size(self.fd.get_ref(), size) {
            tracing::debug!(session = %self.session.id, "{e:#}");
        }
    }

    /// Reaps the program if it has exited, and starts the drain.
    fn reap(&mut self) {
        if self.exited.is_some() {
            return;
        }
        let program = self.session.program();
        if let Some(status) = program.try_reap() {
            let now = Instant::now();
            let grace = if program.was_hung_up() {
                DRAIN_GRACE_HUNG_UP
            } else {
                DRAIN_GRACE
            };
            self.exited = Some((status, now + DRAIN_AFTER_EXIT, now + grace));
        }
    }

    /// Reads whatever the PTY still holds, without waiting, before the session ends. The
    /// quiet period may have run out while this task was not scheduled (a loaded machine)
    /// or while a reading client paced it: the program's last output was written before it
    /// exited and must not be lost. Bounded, since a background process may still write.
    fn final_drain(&mut self) {
        let mut left = FINAL_DRAIN_MAX;
        while !self.pty_closed && left > 0 {
            let want = self.buf.len().min(left);
            match rustix::io::read(self.fd.get_ref(), &mut self.buf[..want]) {
                Err(rustix::io::Errno::AGAIN) | Err(rustix::io::Errno::INTR) => break,
                read => {
                    let read = read.map_err(io::Error::from);
                    if let Ok(n) = read {
                        left = left.saturating_sub(n);
                    }
                    self.on_read(read);
                }
            }
        }
    }

    /// Stops for a hand-over: the log on disk, then the master (open), the input taken
    /// from the queue and not yet written, and the exit status if reaped, to `reply`.
    async fn hand_over(mut self, reply: tokio::sync::oneshot::Sender<Handed>) {
        // What clients queue from now on is taken with the state (`Session::export`).
        let input = std::mem::take(&mut self.pending);
        self.log.close().await;
        let handed = Handed {
            master: self.fd.into_inner(),
            input: input.into(),
            reaped: self.exited.map(|(status, ..)| status),
        };
        if let Err(handed) = reply.send(handed) {
            // The hand-over gave up waiting: the master closes here, which hangs the
            // program up. It only gives up on an actor that did not answer at all.
            tracing::error!(session = %self.session.id, "a hand-over stopped the actor and left");
            drop(handed);
        }
    }

    /// Publishes the exit; dropping the master hangs up whatever still holds the PTY, and
    /// dropping the log lets its writer finish.
    fn finish(self) {
        self.session.input_queue().clear();
        if let Some((status, ..)) = self.exited {
            tracing::info!(session = %self.session.id, code = status.code, "program exited");
            self.session.set_exited(status);
        }
    }
}
