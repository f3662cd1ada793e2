//! Keeps the machine from idle-sleeping while any session runs, where a user-level way
//! exists: `systemd-inhibit --what=idle ... sleep infinity` on Linux, `caffeinate -i` on
//! macOS. The helper starts with the first session and is stopped with the last.
//!
//! Best effort only: a missing or failing helper is logged once and never stops the
//! server. The helper runs in its own process group so stopping it also stops the
//! `sleep` it holds the lock with.

use std::sync::{Arc, Mutex};

use tokio::process::{Child, Command};

use crate::registry::Registry;

/// The helper's state. `child` is held only to start or stop it, never across `.await`.
pub struct Inhibitor {
    child: Mutex<Option<Child>>,
    /// Whether a failure was logged already.
    warned: Mutex<bool>,
}

/// Starts following the registry; [`Inhibitor::release`] stops the helper at shutdown.
pub fn spawn(registry: Arc<Registry>) -> Arc<Inhibitor> {
    let inhibitor = Arc::new(Inhibitor {
        child: Mutex::new(None),
        warned: Mutex::new(false),
    });
    let this = inhibitor.clone();
    tokio::spawn(async move {
        let mut changes = registry.changes();
        loop {
            if registry.list().is_empty() {
                this.release();
            } else {
                this.hold();
            }
            if changes.changed().await.is_err() {
                this.release();
                return;
            }
        }
    });
    inhibitor
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

impl Inhibitor {
    fn hold(&self) {
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        let running = match child.as_mut() {
            Some(c) => match c.try_wait() {
                Ok(None) => true,
                Ok(Some(status)) => {
                    self.warn_once(&format!("the sleep inhibitor exited ({status})"));
                    false
                }
                Err(_) => false,
            },
            None => false,
        };
        if running || *self.warned.lock().unwrap_or_else(|e| e.into_inner()) {
            return;
        }
        let Some(mut cmd) = command() else {
            return;
        };
        match cmd.spawn() {
            Ok(c) => *child = Some(c),
            Err(e) => self.warn_once(&format!("cannot start the sleep inhibitor: {e}")),
        }
    }

    /// Stops the helper, if it runs.
    pub fn release(&self) {
        let child = self.child.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(mut child) = child {
            if let Some(pid) = child.id() {
                // SAFETY: kill(2) with a plain pid and signal number has no memory-safety
                // conditions. The helper leads its own group (`process_group(0)`).
                unsafe { libc::kill(-(pid as i32), libc::SIGTERM) };
            }
            let _ = child.start_kill();
        }
    }

    fn warn_once(&self, what: &str) {
        let mut warned = self.warned.lock().unwrap_or_else(|e| e.into_inner());
        if !*warned {
            tracing::warn!("{what}; the machine may idle-sleep while sessions run");
            *warned = true;
        }
    }
}
