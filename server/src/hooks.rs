//! Hooks (DESIGN.md "Events and hooks"): `config.json` `hooks` maps an event kind to a
//! command, run with `sh -c` for each such event with the event in the environment:
//! `ITWILLSYNC_EVENT`, `ITWILLSYNC_SESSION`, `ITWILLSYNC_NAME`, `ITWILLSYNC_MACHINE`,
//! `ITWILLSYNC_MESSAGE`, `ITWILLSYNC_STATUS`. Event text never becomes part of the command
//! line, so a notification cannot inject shell code.
//!
//! One task reads the event stream. At most one hook runs per kind and session at a time
//! (an event that arrives while its hook still runs is skipped), each is killed with its
//! process group after [`TIMEOUT`], and a failing hook is logged once until it succeeds
//! again, so a broken command cannot flood the log.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use itwillsync_protocol::{Event, EventKind};
use tokio::process::Command;
use tokio::sync::broadcast::error::RecvError;

use crate::events::Events;
use crate::shutdown::Shutdown;

/// How long a hook may run.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Hooks running now (by kind and session) and kinds whose failure was logged. Held only
/// to insert or remove an entry.
#[derive(Default)]
struct State {
    running: HashSet<(EventKind, String)>,
    failing: HashSet<EventKind>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // Each critical section is one set operation: poisoning cannot leave it half done.
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// Starts running `hooks` for the events of `events` until `shutdown`.
pub fn spawn(events: &Events, hooks: HashMap<EventKind, String>, shutdown: Shutdown) {
    if hooks.is_empty() {
        return;
    }
    let mut rx = events.subscribe();
    let state = Arc::new(Mutex::new(State::default()));
    tokio::spawn(async move {
        loop {
            let event = tokio::select! {
                event = rx.recv() => event,
                _ = shutdown.wait() => return,
            };
            let event = match event {
                Ok(event) => event,
                Err(RecvError::Lagged(n)) => {
                    tracing::warn!("hooks fell behind: {n} events skipped");
                    continue;
                }
                Err(RecvError::Closed) => return,
            };
            if let Some(command) = hooks.get(&event.kind) {
                start(command.clone(), event, state.clone());
            }
        }
    });
}

/// Runs one hook, unless the same kind already runs for the same session.
fn start(command: String, event: Event, state: Arc<Mutex<State>>) {
    let key = (event.kind, event.session.clone().unwrap_or_default());
    if !lock(&state).running.insert(key.clone()) {
        tracing::debug!(
            kind = event.kind.as_str(),
            "hook still running; event skipped"
        );
        return;
    }
    tokio::spawn(async move {
        let outcome = run(&command, &event).await;
        let mut state = lock(&state);
        state.running.remove(&key);
        match outcome {
            Ok(()) => {
                state.failing.remove(&event.kind);
            }
            Err(e) => {
                if state.failing.insert(event.kind) {
                    tracing::warn!(kind = event.kind.as_str(), "hook failed: {e:#}");
                }
            }
        }
    });
}

/// `sh -c COMMAND` with the event in its environment; killed with its process group after
/// [`TIMEOUT`].
async fn run(command: &str, event: &Event) -> anyhow::Result<()> {
    let status = event.status.map(|s| s.code.to_string()).unwrap_or_default();
    let mut child = Command::new("sh")
        .args(["-c", command])
        .env("ITWILLSYNC_EVENT", event.kind.as_str())
        .env("ITWILLSYNC_SESSION", event.session.as_deref().unwrap_or(""))
        .env("ITWILLSYNC_NAME", event.name.as_deref().unwrap_or(""))
        .env("ITWILLSYNC_MACHINE", &event.machine)
        .env("ITWILLSYNC_MESSAGE", event.message.as_deref().unwrap_or(""))
        .env("ITWILLSYNC_STATUS", status)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()?;
    match tokio::time::timeout(TIMEOUT, child.wait()).await {
        Ok(status) => {
            let status = status?;
            anyhow::ensure!(status.success(), "`{command}` exited with {status}");
            Ok(())
        }
        Err(_) => {
            if let Some(pid) = child
                .id()
                .and_then(|p| rustix::process::Pid::from_raw(p as i32))
            {
                let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
            }
            let _ = child.wait().await;
            anyhow::bail!(
                "`{command}` ran over {} s and was killed",
                TIMEOUT.as_secs()
            )
        }
    }
}
