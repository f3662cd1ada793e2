//! The itwillsync server: one process per user owning every session's PTY.
//!
//! [`run`] takes an already-bound Unix listener and a [`Shutdown`] latch, so tests and the
//! daemon start the same server. [`daemon`] is the process around it: the state directory,
//! the one-server lock, the hub files, logging, signals and the readiness handshake with
//! the client that auto-started it. See ARCHITECTURE.md for the map of modules.

mod actor;
mod api;
mod attach;
pub mod config;
mod conn;
pub mod daemon;
mod dashboard;
mod events;
mod feed;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
pub mod handover;
pub mod home;
mod hooks;
mod inhibit;
mod input;
mod log_file;
pub mod log_tail;
pub mod machines;
mod mirrors;
mod output_log;
mod process;
mod program;
mod pty;
mod registry;
mod remote;
mod repaint;
mod ring;
mod session;
pub mod shutdown;
mod size;
mod term;
mod test_hooks;
#[cfg(test)]
mod tests;
mod throttle;
mod tty;
mod web;

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::net::UnixListener;

pub use config::Config;
pub use home::Home;
pub use process::{resident_kib, status_kib};
pub use pty::{open_pair as open_pty, resolve_program, take_stdin_as_terminal};
pub use session::now_ms;
pub use shutdown::Shutdown;
pub use web::Transport;

use crate::registry::Registry;

/// After a failed accept the loop waits this long, doubling up to the maximum while
/// accepts keep failing (out of file descriptors, say), so it never spins.
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);
static ACCEPT_FAILED: throttle::Throttle = throttle::Throttle::new();
static REFUSED: throttle::Throttle = throttle::Throttle::new();

/// How long `run` waits for hung-up programs beyond their SIGKILL grace: a killed
/// program's session publishes its exit within `actor::DRAIN_GRACE_HUNG_UP` of it.
const STOP_TIMEOUT: Duration = Duration::from_secs(1);

/// Serves local clients on `listener` until `shutdown` is triggered (by a client, a
/// signal or the idle timer), then hangs up every session and waits for them to end.
/// Every web listener speaks `transport` (plain HTTP or HTTPS).
pub async fn run(
    config: Config,
    home: Home,
    transport: Transport,
    listener: UnixListener,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let start = Start::default();
    run_with(config, home, transport, listener, shutdown, start).await
}

/// How a server starts beyond [`run`]'s arguments: the daemon's lock (so it can hand
/// over), and the state a previous server handed over (`handover`), when it adopts one.
#[derive(Default)]
pub struct Start {
    /// `server.lock`'s descriptor, held by the daemon.
    pub lock_fd: Option<std::os::fd::RawFd>,
    /// The previous server's state, whose listeners and sessions this one adopts.
    pub adopted: Option<handover::state::Decoded>,
}

/// [`run`], for the daemon: able to hand over, or adopting a previous server's state.
pub async fn run_with(
    config: Config,
    home: Home,
    transport: Transport,
    listener: UnixListener,
    shutdown: Shutdown,
    start: Start,
) -> anyhow::Result<()> {
    output_log::prune(&home.logs_dir(), config.log_retention_days);
    let tls = transport.describe();
    let events = Arc::new(events::Events::default());
    hooks::spawn(&events, config.hook_commands()?, shutdown.clone());
    let registry = Registry::new(
        config.clone(),
        transport.clone(),
        home.logs_dir(),
        events.clone(),
    );
    let ssh = std::env::var("ITWILLSYNC_SSH_COMMAND")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "ssh".into());
    let machines = machines::Machines::start(
        home.clone(),
        machines::Timing::from_config(&config),
        ssh,
        events.clone(),
        shutdown.clone(),
    );
    let mirrors = mirrors::Mirrors::new(
        config.clone(),
        transport.clone(),
        machines.clone(),
        events.clone(),
        shutdown.clone(),
    );
    let adopted = start.adopted.as_ref().map(|d| &d.header.server);
    let started_at_ms = adopted.map_or_else(session::now_ms, |s| s.started_at_ms);
    let inherited =
        |fd: Option<i32>| fd.map(|fd| std::net::TcpListener::from(handover::inherited(fd)));
    let dashboard_listener = inherited(adopted.and_then(|s| s.dashboard_fd));
    let mut dashboard = match dashboard::spawn(
        &config,
        &transport,
        registry.clone(),
        mirrors.clone(),
        home.clone(),
        shutdown.clone(),
        dashboard_listener,
    ) {
        Ok(handle) => Some(handle),
        Err(e) => {
            tracing::warn!("no dashboard: {e:#}");
            None
        }
    };
    let api = match api::spawn(
        config.api_port,
        registry.clone(),
        started_at_ms,
        shutdown.clone(),
        inherited(adopted.and_then(|s| s.api_fd)),
    ) {
        Ok(fd) => Some(fd),
        Err(e) => {
            tracing::warn!("no local API: {e:#}");
            None
        }
    };
    let listeners = handover::Listeners {
        lock_fd: start.lock_fd,
        unix: std::os::fd::AsFd::as_fd(&listener)
            .try_clone_to_owned()
            .ok(),
        dashboard: dashboard.as_mut().and_then(|d| d.take_listener_fd()),
        api,
    };
    let master_key = dashboard.as_ref().and_then(|d| d.key());
    let handover = Arc::new(handover::Server::new(
        listeners,
        started_at_ms,
        config.clone(),
        master_key,
        mirrors.clone(),
    ));
    if let Some(decoded) = &start.adopted {
        handover::adopt_sessions(&registry, decoded);
        mirrors.adopt(decoded);
        let sessions = registry.list();
        tracing::info!(
            "adopted {} sessions from itwillsync {}: {}",
            sessions.len(),
            decoded.header.server.written_by,
            handover::describe(&sessions)
        );
    }
    let inhibitor = inhibit::spawn(registry.clone(), shutdown.clone());
    let ctx = Arc::new(conn::Shared {
        mirrors: mirrors.clone(),
        registry: registry.clone(),
        shutdown: shutdown.clone(),
        started_at_ms,
        dashboard,
        tls,
        events,
        machines: machines.clone(),
        home: home.clone(),
        handover,
    });
    tokio::spawn(idle_shutdown(
        registry.clone(),
        mirrors.clone(),
        shutdown.clone(),
        config.idle_shutdown_secs,
    ));
    tokio::spawn(release_quiet_output(registry.clone()));
    let uid = rustix::process::getuid();
    let mut backoff = ACCEPT_BACKOFF_MIN;
    // During a hand-over nothing is accepted: connections wait for the new process.
    let mut paused = ctx.handover.paused();
    loop {
        let accepting = !*paused.borrow_and_update();
        tokio::select! {
            // The pause first: a client told of a hand-over reconnects at once, and must
            // wait in the backlog for the new process, never be taken by this one.
            biased;
            _ = paused.changed() => {}
            accepted = listener.accept(), if accepting => {
                let stream = match accepted {
                    Ok((stream, _)) => {
                        backoff = ACCEPT_BACKOFF_MIN;
                        stream
                    }
                    Err(e) => {
                        // Usually out of file descriptors: retrying at once would spin.
                        ACCEPT_FAILED.hit(|more| tracing::warn!("accept failed: {e} ({more} more)"));
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                        continue;
                    }
                };
                match stream.peer_cred() {
                    Ok(cred) if cred.uid() == uid.as_raw() => {
                        let ctx = ctx.clone();
                        tokio::spawn(async move {
                            // A panic ends this connection only.
                            let served = AssertUnwindSafe(conn::serve(stream, ctx)).catch_unwind();
                            if let Err(panic) = served.await {
                                tracing::error!("a connection failed: {}", panic_message(&panic));
                            }
                        });
                    }
                    Ok(cred) => REFUSED.hit(|more| tracing::warn!(uid = cred.uid(), "refused a connection from another user ({more} more)")),
                    Err(e) => REFUSED.hit(|more| tracing::warn!("cannot check a peer's credentials: {e} ({more} more)")),
                }
            }
            reason = shutdown.wait() => {
                tracing::info!("shutting down: {reason}");
                break;
            }
        }
    }
    drop(listener);
    machines.stop_all();
    stop_sessions(&registry).await;
    let _ = inhibitor.await;
    Ok(())
}

/// Hangs up every session and waits (bounded) until all have exited.
async fn stop_sessions(registry: &Registry) {
    let sessions = registry.list();
    for session in &sessions {
        // Gone: it has exited already and is only draining.
        let _ = session.terminate();
    }
    let all = async {
        for session in &sessions {
            session.exited().await;
        }
    };
    if tokio::time::timeout(program::HANGUP_GRACE + STOP_TIMEOUT, all)
        .await
        .is_err()
    {
        tracing::warn!("some sessions did not exit in time");
    }
}

/// How often the server looks for sessions gone quiet, whose rings can give back their
/// storage: one timer for the whole server, none per session.
const QUIET_SWEEP: Duration = Duration::from_secs(60);

/// Gives back the ring storage of sessions quiet for long
/// ([`session::Session::release_quiet_output`]). While no session runs it waits for one
/// without waking.
async fn release_quiet_output(registry: Arc<Registry>) {
    let mut changes = registry.changes();
    loop {
        if registry.list().is_empty() {
            if changes.changed().await.is_err() {
                return;
            }
            continue;
        }
        tokio::time::sleep(QUIET_SWEEP).await;
        for session in registry.list() {
            session.release_quiet_output();
        }
    }
}

/// Triggers shutdown `secs` after the last session ends (0: never), unless a client is
/// still attached to a mirror of another machine's session then (checked again every
/// `secs` while it is).
async fn idle_shutdown(
    registry: Arc<Registry>,
    mirrors: Arc<mirrors::Mirrors>,
    shutdown: Shutdown,
    secs: u64,
) {
    if secs == 0 {
        return;
    }
    let mut changes = registry.changes();
    loop {
        if registry.list().is_empty() {
            let idle = tokio::time::sleep(Duration::from_secs(secs));
            tokio::select! {
                _ = idle => {
                    if registry.list().is_empty() && !mirrors.watched() {
                        shutdown.trigger("no sessions left (idleShutdownSecs)");
                        return;
                    }
                }
                r = changes.changed() => if r.is_err() { return },
            }
        } else if changes.changed().await.is_err() {
            return;
        }
    }
}

/// The text a panic carried, for the log.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}
