//! The session actor: the only owner of a PTY master.
//!
//! It reads output into the ring, never waiting for the terminal-state follower or a
//! stalled or slow client (only clients that are reading fast enough pace it, as a plain
//! terminal would), queues input so a program that stops reading never blocks output,
//! applies the size the policy picks, delivers signals, flushes the output log, and reaps
//! the program. After the program exits it drains what is left in the PTY (until EIO, or
//! until it has been quiet briefly when a background process keeps the PTY open) before
//! publishing the exit status, so every byte is in the ring first.

use std::collections::VecDeque;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Duration;

use itwillsync_protocol::{ExitStatus, Size};
use tokio::io::unix::AsyncFd;
use tokio::time::{sleep_until, Instant};

use crate::output_log::OutputLog;
use crate::session::{ActorEnds, Command, Session};

/// Largest single read from the PTY (Linux delivers at most a few KiB per read anyway).
const READ_SIZE: usize = 64 << 10;
/// Input queued for the program beyond which new input waits (bounds memory).
const MAX_PENDING_INPUT: usize = 1 << 20;
/// How often buffered log output reaches the file.
const LOG_FLUSH: Duration = Duration::from_millis(100);
/// While paced by a reading terminal, how often to check whether it has stalled.
const PACE_RECHECK: Duration = Duration::from_millis(50);
/// After SIGHUP, how long a program may take to exit before SIGKILL.
pub const HANGUP_GRACE: Duration = Duration::from_secs(2);
/// After the program exits, how long a PTY that a background process still holds open may
/// stay quiet before the session is declared over.
const DRAIN_AFTER_EXIT: Duration = Duration::from_millis(100);

/// Runs the actor until the program has exited and its output is drained.
pub(crate) async fn run(
    session: Arc<Session>,
    master: OwnedFd,
    mut child: tokio::process::Child,
    mut ends: ActorEnds,
    mut log: OutputLog,
) {
    // SAFETY: `master` is an open fd owned by the AsyncFd for its whole life.
    let fd = match unsafe { AsyncFd::register(master) } {
        Ok(fd) => fd,
        Err(e) => {
            tracing::error!(session = %session.id, "cannot poll the PTY: {}", e);
            let _ = child.start_kill();
            let status = wait_status(child.wait().await);
            session.set_exited(status);
            return;
        }
    };
    let pid = session.pid as i32;
    let mut buf = vec![0u8; READ_SIZE];
    let mut pending: VecDeque<u8> = VecDeque::new();
    let mut pty_closed = false;
    let mut status: Option<ExitStatus> = None;
    let mut drain_until = Instant::now();
    let mut kill_at: Option<Instant> = None;
    let mut progress = session.progress();
    // Armed only while the log holds unwritten output, so an idle session wakes nobody; one
    // timer, reset rather than recreated at every read.
    let flush = tokio::time::sleep(LOG_FLUSH);
    tokio::pin!(flush);
    let mut flush_armed = false;

    loop {
        if status.is_some() && (pty_closed || Instant::now() >= drain_until) {
            break;
        }
        let paced = !pty_closed && session.paced_by_readers(READ_SIZE);
        tokio::select! {
            ready = fd.readable(), if !pty_closed && !paced => {
                let Ok(mut guard) = ready else { pty_closed = true; continue };
                match guard.try_io(|fd| rustix::io::read(fd.get_ref(), &mut buf[..]).map_err(Into::into)) {
                    Ok(Ok(0)) | Ok(Err(_)) => pty_closed = true, // EIO: every slave fd is closed
                    Ok(Ok(n)) => {
                        session.push_output(&buf[..n]);
                        log.write(&buf[..n]);
                        if !flush_armed {
                            flush.as_mut().reset(Instant::now() + LOG_FLUSH);
                            flush_armed = true;
                        }
                        if status.is_some() {
                            drain_until = Instant::now() + DRAIN_AFTER_EXIT;
                        }
                    }
                    Err(_would_block) => {}
                }
            }
            ready = fd.writable(), if !pending.is_empty() && !pty_closed => {
                let Ok(mut guard) = ready else { pending.clear(); continue };
                let (front, _) = pending.as_slices();
                match guard.try_io(|fd| rustix::io::write(fd.get_ref(), front).map_err(Into::into)) {
                    Ok(Ok(n)) => { pending.drain(..n); }
                    Ok(Err(e)) => {
                        tracing::debug!(session = %session.id, "PTY write failed: {e}");
                        pending.clear();
                    }
                    Err(_would_block) => {}
                }
            }
            cmd = ends.commands.recv(), if pending.len() < MAX_PENDING_INPUT => match cmd {
                Some(Command::Input(data)) => pending.extend(data),
                Some(Command::Signal(sig)) => signal_group(pid, sig),
                Some(Command::Terminate) => {
                    signal_group(pid, libc::SIGHUP);
                    kill_at.get_or_insert(Instant::now() + HANGUP_GRACE);
                }
                None => {}
            },
            changed = ends.size.changed() => {
                if changed.is_ok() {
                    let size: Size = *ends.size.borrow_and_update();
                    if let Err(e) = crate::pty::set_size(fd.get_ref(), size) {
                        tracing::debug!(session = %session.id, "{e:#}");
                    }
                }
            }
            exit = child.wait(), if status.is_none() => {
                status = Some(wait_status(exit));
                drain_until = Instant::now() + DRAIN_AFTER_EXIT;
            }
            _ = sleep_until(drain_until), if status.is_some() => {}
            _ = sleep_until(kill_at.unwrap_or_else(Instant::now)), if kill_at.is_some() => {
                signal_group(pid, libc::SIGKILL);
                kill_at = None;
            }
            // A reading terminal caught up, or may have stalled meanwhile: look again.
            _ = progress.changed(), if paced => {}
            _ = tokio::time::sleep(PACE_RECHECK), if paced => {}
            _ = &mut flush, if flush_armed => {
                log.flush();
                flush_armed = false;
            }
        }
    }
    log.flush();
    if let Some(status) = status {
        tracing::info!(session = %session.id, code = status.code, "program exited");
        session.set_exited(status);
    }
}

/// Signals the process group `pid` leads; falls back to the process itself.
fn signal_group(pid: i32, signal: i32) {
    // SAFETY: kill(2) with a plain pid and signal number has no memory-safety conditions.
    unsafe {
        if libc::kill(-pid, signal) != 0 {
            libc::kill(pid, signal);
        }
    }
}

fn wait_status(result: std::io::Result<std::process::ExitStatus>) -> ExitStatus {
    use std::os::unix::process::ExitStatusExt;
    match result {
        Ok(s) => match (s.code(), s.signal()) {
            (Some(code), _) => ExitStatus { code, signal: None },
            (None, Some(sig)) => ExitStatus {
                code: 128 + sig,
                signal: Some(sig),
            },
            (None, None) => ExitStatus {
                code: 1,
                signal: None,
            },
        },
        Err(e) => {
            tracing::error!("cannot wait for the program: {e}");
            ExitStatus {
                code: 1,
                signal: None,
            }
        }
    }
}
