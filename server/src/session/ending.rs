//! How a session's program ends: signals and the hang-up, to the program or, for a mirror,
//! to its machine; the end of a session whose actor failed; waiting for the exit.

use std::sync::Arc;
use std::time::Duration;

use itwillsync_protocol::ExitStatus;

use super::{lock, mirror, Session};
use crate::program::{Gone, Program, HANGUP_GRACE};

impl Session {
    /// Signals the program's process group at once; an error once it has been reaped.
    pub fn signal(&self, signal: i32) -> Result<(), Gone> {
        match &self.remote {
            Some(remote) => self.ask_remote(remote, Some(signal)),
            None => self.program.signal(signal),
        }
    }

    /// Passes a signal (or a hang-up) on to a mirrored session's machine.
    fn ask_remote(&self, remote: &mirror::Remote, signal: Option<i32>) -> Result<(), Gone> {
        if self.exit.borrow().is_some() {
            return Err(Gone);
        }
        remote.kill(signal);
        Ok(())
    }

    /// Hangs the program up at once: SIGHUP, then SIGKILL if it has not exited within
    /// [`HANGUP_GRACE`]. An error once it has been reaped.
    pub fn terminate(self: &Arc<Self>) -> Result<(), Gone> {
        self.terminate_on(&tokio::runtime::Handle::current())
    }

    pub(super) fn terminate_on(
        self: &Arc<Self>,
        runtime: &tokio::runtime::Handle,
    ) -> Result<(), Gone> {
        if let Some(remote) = &self.remote {
            return self.ask_remote(remote, None);
        }
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

    /// Whether the program has exited and its output is in the ring (what a client is
    /// told the exit after).
    pub fn has_ended(&self) -> bool {
        lock(&self.ring).ended.is_some()
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
}
