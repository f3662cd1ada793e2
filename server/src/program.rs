//! A session's program as a process: its pid, the signals sent to it, its reaping.
//!
//! Signals take this path, never the actor's input: a kill is answered at once however
//! much input waits for a program that is not reading. [`Program::hang_up`] is shpool's
//! kill: SIGHUP to the process group, a timed wait, SIGKILL; a group that is already gone
//! (ESRCH) counts as done.
//!
//! No signal ever reaches a pid the server has reaped (the kernel may have given it to
//! another process): the program is reaped only here, under the same lock that every
//! signal takes, and once reaped it is never signalled again. Until then its pid, even as
//! a zombie, still names it.
//!
//! Reaping is `waitpid` on the pid, not `std::process::Child`, so a server that was
//! handed its sessions across `exec` (`handover`) reaps the programs it adopted exactly
//! as it reaps those it started: they are still this process's children.

use std::process::Child;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use itwillsync_protocol::ExitStatus;

/// After SIGHUP, how long a program may take to exit before SIGKILL.
pub const HANGUP_GRACE: Duration = Duration::from_secs(2);

/// The program has been reaped: it can no longer be signalled.
#[derive(Debug, thiserror::Error)]
#[error("the session has ended")]
pub struct Gone;

/// The program's process.
pub struct Program {
    /// Its pid, also its process group and session id.
    pub pid: u32,
    state: Mutex<State>,
}

struct State {
    /// Set once reaped.
    reaped: bool,
    /// Set by the first hang-up.
    hung_up: bool,
}

impl Program {
    /// Wraps a started program; `child.id()` is its pid.
    pub fn new(child: Child) -> Self {
        // Dropping a `Child` neither waits nor kills: the pid is reaped by `try_reap`.
        Self::adopt(child.id(), false)
    }

    /// A program this process started before an `exec` (`handover`): still its child,
    /// reaped already when `reaped`.
    pub fn adopt(pid: u32, reaped: bool) -> Self {
        Self {
            pid,
            state: Mutex::new(State {
                reaped,
                hung_up: false,
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every critical section leaves the state consistent, so poisoning is harmless.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends `signal` to the program's process group (or to the program alone, when it
    /// has left its group). A group with no process left counts as signalled.
    pub fn signal(&self, signal: i32) -> Result<(), Gone> {
        let state = self.state();
        if state.reaped {
            return Err(Gone);
        }
        // The lock is held across kill(2): reaping, which frees the pid, waits for it.
        signal_group(self.pid as i32, signal);
        Ok(())
    }

    /// Sends SIGHUP; true the first time (the caller then arms the SIGKILL).
    pub fn hang_up(&self) -> Result<bool, Gone> {
        let mut state = self.state();
        if state.reaped {
            return Err(Gone);
        }
        signal_group(self.pid as i32, libc::SIGHUP);
        Ok(!std::mem::replace(&mut state.hung_up, true))
    }

    /// Whether the program was hung up.
    pub fn was_hung_up(&self) -> bool {
        self.state().hung_up
    }

    /// Reaps the program if it has exited and returns its status, once; `None` while it
    /// runs and after it was reaped.
    pub fn try_reap(&self) -> Option<ExitStatus> {
        let mut state = self.state();
        if state.reaped {
            return None;
        }
        let mut raw = 0;
        // SAFETY: waitpid(2) on our child's pid with a valid status pointer.
        let status = match unsafe { libc::waitpid(self.pid as i32, &mut raw, libc::WNOHANG) } {
            0 => return None,
            pid if pid > 0 => exit_status(raw),
            _ => {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::Interrupted {
                    return None;
                }
                // Reaped by someone else (ECHILD): nothing is left to signal either way.
                tracing::error!(pid = self.pid, "cannot wait for the program: {e}");
                ExitStatus {
                    code: 1,
                    signal: None,
                }
            }
        };
        state.reaped = true;
        Some(status)
    }
}

/// Signals the process group `pid` leads; falls back to the process itself.
fn signal_group(pid: i32, signal: i32) {
    // SAFETY: kill(2) with a plain pid and signal number has no memory-safety conditions.
    unsafe {
        if libc::kill(-pid, signal) != 0 {
            // ESRCH: no group (the program left it); the process alone, if it is there.
            libc::kill(pid, signal);
        }
    }
}

/// A raw `waitpid` status as the protocol's.
fn exit_status(raw: i32) -> ExitStatus {
    use std::os::unix::process::ExitStatusExt;
    let s = std::process::ExitStatus::from_raw(raw);
    match (s.code(), s.signal()) {
        (Some(code), _) => ExitStatus { code, signal: None },
        (None, Some(sig)) => ExitStatus {
            code: 128 + sig,
            signal: Some(sig),
        },
        (None, None) => ExitStatus {
            code: 1,
            signal: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reaped_program_is_never_signalled_again() {
        let child = std::process::Command::new("true").spawn().unwrap();
        let program = Program::new(child);
        let status = loop {
            if let Some(status) = program.try_reap() {
                break status;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        assert_eq!(status.code, 0);
        assert!(program.signal(libc::SIGTERM).is_err());
        assert!(program.hang_up().is_err());
    }
}
