//! Lifecycle events (DESIGN.md "Events and hooks"): sessions started, exited, renamed;
//! attention raised and cleared; clients attached and detached; machines online and
//! offline. Other machines' events arrive through their links (`machines.rs`) and are
//! re-emitted here with their machine's name.
//!
//! [`Events`] is a broadcast channel the registry and sessions emit into and that
//! `Subscribe` connections (`conn.rs`) and the hooks runner (`hooks.rs`) read. It is
//! bounded: a subscriber that falls [`CAPACITY`] events behind loses the oldest ones and is
//! told so (it never holds an emitter back), and nobody subscribed costs one clone of an
//! event. Emitting never blocks and never fails.

use itwillsync_protocol::{Event, EventKind, ExitStatus};
use tokio::sync::broadcast;

use crate::session::now_ms;

/// Events a subscriber may lag behind before it loses the oldest.
pub const CAPACITY: usize = 1024;

/// The machine name of events that happen here.
pub const LOCAL: &str = itwillsync_protocol::LOCAL_MACHINE;

/// The server's event stream.
pub struct Events {
    tx: broadcast::Sender<Event>,
}

impl Default for Events {
    fn default() -> Self {
        Self {
            tx: broadcast::channel(CAPACITY).0,
        }
    }
}

impl Events {
    /// A new stream for every event from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }

    /// Emits an event about session `id` called `name`.
    pub fn session(&self, kind: EventKind, id: &str, name: &str, message: Option<String>) {
        self.emit(kind, id, name, message, None);
    }

    /// Emits `SessionExited` for session `id` with its status.
    pub fn exited(&self, id: &str, name: &str, status: ExitStatus) {
        self.emit(EventKind::SessionExited, id, name, None, Some(status));
    }

    /// Emits `MachineOnline` or `MachineOffline` for machine `name` (`message`: why).
    pub fn machine(&self, kind: EventKind, name: &str, message: Option<String>) {
        tracing::debug!(machine = %name, kind = kind.as_str(), "event");
        self.forward(Event {
            kind,
            at_ms: now_ms(),
            machine: name.into(),
            session: None,
            name: None,
            message,
            status: None,
        });
    }

    /// Emits an event as it is: one from another machine, its `machine` set (`machines.rs`).
    pub fn forward(&self, event: Event) {
        // An error only means nobody listens.
        let _ = self.tx.send(event);
    }

    fn emit(
        &self,
        kind: EventKind,
        id: &str,
        name: &str,
        message: Option<String>,
        status: Option<ExitStatus>,
    ) {
        let event = Event {
            kind,
            at_ms: now_ms(),
            machine: LOCAL.into(),
            session: Some(id.into()),
            name: Some(name.into()),
            message,
            status,
        };
        tracing::debug!(session = %id, kind = kind.as_str(), "event");
        // An error only means nobody listens.
        let _ = self.tx.send(event);
    }
}
