//! Named points where the server can be paused (or made to panic) by its own tests, so a
//! race is reproduced on purpose rather than hoped for (after shpool's `test_hooks`).
//!
//! Compiled in only for the server crate's tests: in every other build [`pause`] and
//! [`panic_point`] are empty and vanish. A test arms a point for one key (a session id)
//! with [`arm`]; the first task to reach it with that key stops there, reports that it
//! arrived, and waits until the test releases it.
//!
//! Points (the key is a session id unless said otherwise): `client-caught-up` (a client's
//! feed has sent everything up to the head it saw and is about to wait), `log-write` (a
//! session log's writer took output and is about to write it: a stuck disk),
//! `session-removal` (a session ended and the registry is about to let go of it), and, armed with
//! [`arm_panic`] to panic there, `actor-read` (the actor read output), `follower-parse`
//! (the follower is about to parse output) and `info-request` (a connection answers
//! `Info` for this target). [`arm_stall`] makes every pass through such a point block
//! its thread for a while: `follower-parse` then stands for a parse slower than any
//! output.

#[cfg(test)]
pub use imp::{arm, arm_panic, arm_stall, panic_point, pause};

#[cfg(not(test))]
/// Pauses here when a test armed `point` for `key` (tests only; empty otherwise).
#[inline(always)]
pub async fn pause(_point: &'static str, _key: &str) {}

#[cfg(not(test))]
/// Panics here when a test armed `point` for `key` (tests only; empty otherwise).
#[inline(always)]
pub fn panic_point(_point: &'static str, _key: &str) {}

#[cfg(test)]
mod imp {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use tokio::sync::{watch, Notify};

    /// What an armed point does.
    enum Action {
        Pause(Arc<Gate>),
        Panic,
        /// Blocks every task that passes for this long; stays armed.
        Stall(std::time::Duration),
    }

    /// Armed points by (point, key). Held only to insert or remove an entry.
    static ARMED: Mutex<Option<HashMap<(&'static str, String), Action>>> = Mutex::new(None);

    /// An armed pause: the test waits for [`Gate::reached`], then calls [`Gate::release`].
    pub struct Gate {
        reached: watch::Sender<bool>,
        release: Notify,
    }

    impl Gate {
        /// Waits until a task stops at the point.
        pub async fn reached(&self) {
            let mut rx = self.reached.subscribe();
            let _ = rx.wait_for(|r| *r).await;
        }

        /// Lets the stopped task (or the next to arrive) go on.
        pub fn release(&self) {
            self.release.notify_one();
        }
    }

    fn take(point: &'static str, key: &str) -> Option<Action> {
        let mut armed = ARMED.lock().unwrap_or_else(|e| e.into_inner());
        armed.as_mut()?.remove(&(point, key.to_string()))
    }

    fn put(point: &'static str, key: &str, action: Action) {
        let mut armed = ARMED.lock().unwrap_or_else(|e| e.into_inner());
        armed
            .get_or_insert_with(HashMap::new)
            .insert((point, key.to_string()), action);
    }

    /// Arms `point` for `key`: the first task to reach it stops until released.
    pub fn arm(point: &'static str, key: &str) -> Arc<Gate> {
        let gate = Arc::new(Gate {
            reached: watch::channel(false).0,
            release: Notify::new(),
        });
        put(point, key, Action::Pause(gate.clone()));
        gate
    }

    /// Arms `point` for `key` to panic in the first task that reaches it.
    pub fn arm_panic(point: &'static str, key: &str) {
        put(point, key, Action::Panic);
    }

    /// Arms `point` for `key` to block every thread that passes it for `time`, until the
    /// end of the test process.
    pub fn arm_stall(point: &'static str, key: &str, time: std::time::Duration) {
        put(point, key, Action::Stall(time));
    }

    /// Stops here when `point` is armed for `key`.
    pub async fn pause(point: &'static str, key: &str) {
        match take(point, key) {
            Some(Action::Pause(gate)) => {
                gate.reached.send_replace(true);
                gate.release.notified().await;
            }
            Some(Action::Panic) => panic!("test hook {point} panicked, as armed"),
            Some(other) => put(point, key, other),
            None => {}
        }
    }

    /// Panics (or stalls) here when `point` is armed for `key`.
    pub fn panic_point(point: &'static str, key: &str) {
        match take(point, key) {
            Some(Action::Panic) => panic!("test hook {point} panicked, as armed"),
            Some(Action::Stall(time)) => {
                put(point, key, Action::Stall(time));
                std::thread::sleep(time);
            }
            Some(other) => put(point, key, other),
            None => {}
        }
    }
}
