//! Input on its way to a session's program, bounded in bytes at every step.
//!
//! Clients (local terminals, phones, and the follower's answers to terminal queries) offer
//! input to the session's [`Queue`], which holds at most [`QUEUE_LIMIT`] bytes for the
//! actor to write to the PTY. What does not fit waits in the offering client's own
//! [`Pending`] (at most [`CLIENT_LIMIT`] bytes), which moves it on as the actor makes
//! room; input beyond that is dropped and the client told. Nothing here ever waits for the
//! program, so a program that stops reading can hold up neither its clients' output nor
//! their detach, and control (kill, hang-up, shutdown) never queues behind input.
//!
//! Lock: `bytes` is a `std::sync::Mutex` held only to copy bytes in or out; no other lock
//! is taken while it is held.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

use tokio::sync::{watch, Notify};

/// Bytes a session holds for its program beyond what the PTY has taken: a large paste
/// into a program that reads slowly, bounded.
pub const QUEUE_LIMIT: usize = 1 << 20;
/// Bytes one client may have waiting for room in the session's queue; its input beyond
/// that is dropped (it could only pile up in server memory).
pub const CLIENT_LIMIT: usize = 1 << 20;

/// The session's input queue, shared by its clients and its actor.
pub struct Queue {
    bytes: Mutex<VecDeque<u8>>,
    /// Wakes the actor when input arrives.
    arrived: Notify,
    /// Bumped whenever the actor takes bytes out: waiting clients retry.
    room: watch::Sender<u64>,
}

fn lock(m: &Mutex<VecDeque<u8>>) -> MutexGuard<'_, VecDeque<u8>> {
    // Every critical section leaves the queue consistent, so poisoning is harmless.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Default for Queue {
    fn default() -> Self {
        Self {
            bytes: Mutex::new(VecDeque::new()),
            arrived: Notify::new(),
            room: watch::channel(0).0,
        }
    }
}

impl Queue {
    /// Appends as much of `data` as fits; returns how many bytes were taken.
    pub fn offer(&self, data: &[u8]) -> usize {
        let taken = {
            let mut bytes = lock(&self.bytes);
            let n = data.len().min(QUEUE_LIMIT.saturating_sub(bytes.len()));
            bytes.extend(&data[..n]);
            n
        };
        if taken > 0 {
            self.arrived.notify_one();
        }
        taken
    }

    /// Moves up to `max` bytes into `out` (the actor's write buffer).
    pub fn take(&self, max: usize, out: &mut VecDeque<u8>) {
        let moved = {
            let mut bytes = lock(&self.bytes);
            let n = bytes.len().min(max);
            out.extend(bytes.drain(..n));
            n
        };
        if moved > 0 {
            self.room.send_modify(|n| *n += 1);
        }
    }

    /// Drops everything queued (the program can no longer read it).
    pub fn clear(&self) {
        lock(&self.bytes).clear();
        self.room.send_modify(|n| *n += 1);
    }

    /// Resolves when input may have arrived since the last call. Cancel-safe.
    pub async fn arrived(&self) {
        self.arrived.notified().await;
    }

    /// Whether anything is queued.
    pub fn is_empty(&self) -> bool {
        lock(&self.bytes).is_empty()
    }
}

/// What became of a client's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offered {
    /// Queued for the program, or waiting in the client's [`Pending`].
    Accepted,
    /// The program is not reading and this client's waiting input is at its limit: the
    /// input was dropped.
    Dropped,
}

/// One client's input that did not fit in the session's queue yet.
pub struct Pending {
    bytes: VecDeque<u8>,
    room: watch::Receiver<u64>,
}

impl Pending {
    /// An empty buffer for a client of the session whose queue this is.
    pub fn new(queue: &Queue) -> Self {
        Self {
            bytes: VecDeque::new(),
            room: queue.room.subscribe(),
        }
    }

    /// Offers `data` to `queue` behind this client's earlier input, keeping what does not
    /// fit, up to [`CLIENT_LIMIT`].
    pub fn offer(&mut self, queue: &Queue, data: &[u8]) -> Offered {
        self.move_on(queue);
        let data = if self.bytes.is_empty() {
            &data[queue.offer(data)..]
        } else {
            data
        };
        if data.is_empty() {
            return Offered::Accepted;
        }
        if self.bytes.len() + data.len() > CLIENT_LIMIT {
            return Offered::Dropped;
        }
        self.bytes.extend(data);
        Offered::Accepted
    }

    /// Whether input is waiting for room.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Waits for room in `queue` and moves input into it until none is left waiting.
    /// Cancel-safe: it may stop at any await, having moved part of it.
    pub async fn flush(&mut self, queue: &Queue) {
        loop {
            self.room.borrow_and_update();
            self.move_on(queue);
            if self.bytes.is_empty() {
                return;
            }
            if self.room.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
    }

    fn move_on(&mut self, queue: &Queue) {
        let (front, _) = self.bytes.as_slices();
        let n = queue.offer(front);
        self.bytes.drain(..n);
        if n > 0 && !self.bytes.is_empty() {
            let (front, _) = self.bytes.as_slices();
            let n = queue.offer(front);
            self.bytes.drain(..n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queue_and_a_client_hold_at_most_their_limits_and_keep_the_order() {
        let queue = Queue::default();
        let mut client = Pending::new(&queue);
        let chunk: Vec<u8> = (0..=255u8).cycle().take(256 << 10).collect();
        let mut accepted = Vec::new();
        for _ in 0..16 {
            if client.offer(&queue, &chunk) == Offered::Accepted {
                accepted.extend_from_slice(&chunk);
            }
        }
        assert_eq!(accepted.len(), QUEUE_LIMIT + CLIENT_LIMIT);
        let mut out = VecDeque::new();
        while out.len() < accepted.len() {
            queue.take(64 << 10, &mut out);
            client.move_on(&queue);
        }
        assert!(out.iter().eq(accepted.iter()));
        assert!(client.is_empty() && queue.is_empty());
    }
}
