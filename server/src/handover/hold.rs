//! The actors' side of a hand-over: the registry's `Hold` on each session (a way to ask its
//! actor to stop, the master's number, the phone listener's duplicate), what a stopped
//! actor hands back, and stopping or restarting them all.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use itwillsync_protocol::ExitStatus;
use tokio::sync::oneshot;

use super::state::Decoded;
use crate::registry::Registry;

/// How long an actor may take to stop (it stops between two events: microseconds, plus
/// its log reaching the disk).
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// What a stopped actor hands back.
pub(crate) struct Handed {
    /// The PTY master, open.
    pub master: OwnedFd,
    /// Input taken from the queue and not yet written.
    pub input: Vec<u8>,
    /// The exit status, when the program was reaped and its output was being drained.
    pub reaped: Option<ExitStatus>,
}

type StopRequest = oneshot::Sender<Handed>;

/// An actor's side of the hand-over.
pub(crate) struct ActorLink {
    /// Asks the actor to stop and hand back its master.
    pub stop: Option<oneshot::Receiver<StopRequest>>,
    /// The program was reaped by the previous server: finish the drain and publish.
    pub reaped: Option<ExitStatus>,
}

/// The registry's hold on one session for a hand-over.
pub(crate) struct Hold {
    stop: Option<oneshot::Sender<StopRequest>>,
    /// The PTY master's number (owned by the actor).
    pub(super) master_fd: RawFd,
    /// A duplicate of the phone listener (the listener task owns the original).
    pub(super) phone: Option<OwnedFd>,
}

impl Hold {
    /// A hold on a session whose actor runs on `master`, and the actor's link.
    pub(crate) fn new(
        master: BorrowedFd<'_>,
        phone: Option<OwnedFd>,
        reaped: Option<ExitStatus>,
    ) -> (Self, ActorLink) {
        let (tx, rx) = oneshot::channel();
        let hold = Self {
            stop: Some(tx),
            master_fd: master.as_raw_fd(),
            phone,
        };
        (
            hold,
            ActorLink {
                stop: Some(rx),
                reaped,
            },
        )
    }

    /// The phone listener's duplicate, for the hold of a restarted actor.
    pub(crate) fn take_phone(&mut self) -> Option<OwnedFd> {
        self.phone.take()
    }
}

/// Stops every actor; their hand-backs by session id. On failure, what was handed back
/// so far (to restart).
pub(super) async fn stop_actors(
    registry: &Registry,
) -> Result<HashMap<String, Handed>, (anyhow::Error, HashMap<String, Handed>)> {
    let mut asked = Vec::new();
    for (id, hold) in registry.holds().iter_mut() {
        let Some(stop) = hold.stop.take() else {
            continue;
        };
        let (tx, rx) = oneshot::channel();
        if stop.send(tx).is_ok() {
            asked.push((id.clone(), rx));
        }
    }
    let mut handed = HashMap::new();
    let mut failed = None;
    for (id, rx) in asked {
        match tokio::time::timeout(STOP_TIMEOUT, rx).await {
            Ok(Ok(back)) => {
                handed.insert(id, back);
            }
            // The actor ended on its own (the program exited): nothing to hand over.
            Ok(Err(_)) => {}
            Err(_) => failed = Some(id),
        }
    }
    match failed {
        Some(id) => Err((anyhow::anyhow!("session {id} did not stop in time"), handed)),
        None => Ok(handed),
    }
}

/// Restarts stopped actors on their masters; `state` (when given) has the input they
/// and the queues held.
pub(super) fn resume_actors(
    registry: &Arc<Registry>,
    handed: HashMap<String, Handed>,
    state: Option<&Decoded>,
) {
    for (id, back) in handed {
        let Ok(session) = registry.find(&id) else {
            continue;
        };
        if let Some(decoded) = state {
            if let Some(s) = decoded.header.sessions.iter().find(|s| s.id == id) {
                session.input_queue().offer(decoded.bytes(s.input));
            }
        } else {
            session.input_queue().offer(&back.input);
        }
        registry.restart_actor(&session, back.master, back.reaped);
    }
}

/// The lock on the registry's holds, for the registry.
pub(crate) type Holds<'a> = MutexGuard<'a, HashMap<String, Hold>>;

/// The holds table a registry keeps.
pub(crate) type HoldTable = Mutex<HashMap<String, Hold>>;
