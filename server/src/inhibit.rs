//! Keeps the machine from idle-sleeping while any session runs, where a user-level way
//! exists: `systemd-inhibit --what=idle ... sleep infinity` on Linux, `caffeinate -i` on
//! macOS. The helper starts with the first session and is stopped with the last.
//!
//! One task owns the helper process: it follows the registry, reaps the helper when it
//! exits, and stops it at shutdown. Best effort only: a missing or failing helper is
//! logged once and never started again, never fatal. The helper leads its own process
//! group, and the whole group is signalled, so the `sleep` holding the lock ends too.

use std::sync::Arc;
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::registry::Registry;
use crate::shutdown::Shutdown;

/// How long shutdown waits for the helper to go after SIGTERM.
const STOP_WAIT: Duration = Duration::from_secs(2);

/// Follows `registry` until `shutdown`; the returned task ends once the helper is gone.
pub fn spawn(registry: Arc<Registry>, shutdown: Shutdown) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut changes = registry.changes();
        let mut child: Option<Child> = None;
        let mut failed = false;
        loop {
            let wanted = !registry.list().is_empty();
            if wanted && child.is_none() && !failed {
                match command().map(|mut cmd| cmd.spawn()) {
                    Some(Ok(c)) => child = Some(c),
                    Some(Err(e)) => failed = warn(&format!("cannot start it: {e}")),
                    None => failed = true, // no user-level way on this system
                }
            } else if !wanted {
                if let Some(c) = child.take() {
                    stop(c).await;
                }
            }
            let exited = async {
                match child.as_mut() {
                    Some(c) => c.wait().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                status = exited => {
                    child = None;
                    let why = match status {
                        Ok(status) => format!("it exited ({status})"),
                        Err(e) => format!("cannot wait for it: {e}"),
                    };
                    failed = warn(&why);
                }
                r = changes.changed() => if r.is_err() { break },
                _ = shutdown.wait() => break,
            }
        }
        if let Some(c) = child {
            stop(c).await;
        }
    })
}

/// Logs why the helper is unavailable; returns `true` (it is not tried again).
fn warn(why: &str) -> bool {
    tracing::warn!(
        "sleep inhibitor unavailable ({why}); the machine may idle-sleep while sessions run"
    );
    true
}

fn command() -> Option<Command> {
    let mut cmd = if cfg!(target_os = "macos") {
        let mut cmd = Command::new("caffeinate");
        cmd.arg("-i");
        cmd
    } else if cfg!(target_os = "linux") {
        let mut cmd = Command::new("systemd-inhibit");
        cmd.args([
            "--what=idle",
            "--who=itwillsync",
            "--why=sessions running",
            "sleep",
            "infinity",
        ]);
        cmd
    } else {
        return None;
    };
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    Some(cmd)
}

/// SIGTERM to the helper's group, then SIGKILL if it lingers; reaped either way.
async fn stop(mut child: Child) {
    if let Some(pid) = child.id() {
        // SAFETY: kill(2) with a plain pid and signal number has no memory-safety
        // conditions. The helper leads its own group (`process_group(0)`).
        unsafe { libc::kill(-(pid as i32), libc::SIGTERM) };
    }
    if tokio::time::timeout(STOP_WAIT, child.wait()).await.is_err() {
        let _ = child.kill().await;
    }
}
