//! Pacing: a client that reads holds the PTY back as a plain terminal would, so it gets every
//! byte of a flood; a stalled client (no output for [`STALLED_AFTER`]) or a slow one (below
//! [`PACE_MIN_RATE`] while behind) never does. The actor asks [`Session::paced_by_readers`]
//! before each read; client feeds report what they sent.

use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::{lock, Session};

/// A reading client's position in the output, and how fast it drains a backlog.
#[derive(Debug, Clone, Copy)]
pub(super) struct Reader {
    cursor: u64,
    progressed: Instant,
    /// When this reader last fell behind the head and where it was then; `None` while it
    /// is caught up (so idle time never counts against its speed).
    behind_since: Option<(Instant, u64)>,
    /// Bytes per second it drained while behind, over the last complete [`RATE_WINDOW`].
    rate: Option<u64>,
}

impl Reader {
    fn new(cursor: u64, now: Instant) -> Self {
        Self {
            cursor,
            progressed: now,
            behind_since: None,
            rate: None,
        }
    }

    /// Whether the PTY should wait for this reader while it lags more than `limit`.
    fn paces(&self, head: u64, limit: u64) -> bool {
        self.progressed.elapsed() < STALLED_AFTER
            && self.rate.is_none_or(|rate| rate >= PACE_MIN_RATE)
            && head - self.cursor.min(head) > limit
    }
}

/// A client that got output this recently is reading; one that has not is stalled and
/// never holds the PTY back.
const STALLED_AFTER: Duration = Duration::from_millis(1000);
/// A reader that drains a backlog slower than this (bytes per second; a phone on a
/// mobile network, say) never holds the PTY back either: it gets a repaint when it falls
/// a ring behind, rather than slowing the program for everyone.
const PACE_MIN_RATE: u64 = 1 << 20;
/// How long a reader's speed is measured over.
const RATE_WINDOW: Duration = Duration::from_millis(500);

impl Session {
    /// Whether the actor should wait before reading `next` more bytes: a client that is
    /// reading would otherwise fall out of the ring. Like a plain terminal, a reading
    /// client paces the program; a stalled one (no output for [`STALLED_AFTER`]) or a
    /// slow one (below [`PACE_MIN_RATE`]) never does, so nobody can stop the PTY for long.
    pub(crate) fn paced_by_readers(&self, next: usize) -> bool {
        let readers = lock(&self.readers);
        if readers.is_empty() {
            return false;
        }
        let (head, capacity) = {
            let ring = lock(&self.ring);
            (ring.head(), ring.capacity())
        };
        let limit = (capacity as u64 * 3 / 4).saturating_sub(next as u64);
        readers.values().any(|r| r.paces(head, limit))
    }

    /// The oldest cursor of the reading clients, if any.
    pub(super) fn oldest_reader(&self) -> Option<u64> {
        lock(&self.readers).values().map(|r| r.cursor).min()
    }

    /// Notified when a reading client got output.
    pub(crate) fn progress(&self) -> watch::Receiver<()> {
        self.progress.subscribe()
    }

    /// A client was sent output up to `cursor`.
    pub fn reader_progressed(&self, client: u64, cursor: u64) {
        self.note_reader(client, cursor, false);
    }

    /// A client was repainted and continues from `cursor`: the jump is not reading speed.
    pub fn reader_repainted(&self, client: u64, cursor: u64) {
        self.note_reader(client, cursor, true);
    }

    fn note_reader(&self, client: u64, cursor: u64, repainted: bool) {
        let (now, head) = (Instant::now(), *self.head.borrow());
        {
            let mut readers = lock(&self.readers);
            let reader = readers
                .entry(client)
                .or_insert_with(|| Reader::new(cursor, now));
            reader.cursor = cursor;
            reader.progressed = now;
            if repainted {
                reader.behind_since = None;
            }
            match reader.behind_since {
                _ if cursor >= head => reader.behind_since = None,
                None => reader.behind_since = Some((now, cursor)),
                Some((since, from)) if now - since >= RATE_WINDOW => {
                    let bytes = cursor.saturating_sub(from) as f64;
                    reader.rate = Some((bytes / (now - since).as_secs_f64()) as u64);
                    reader.behind_since = Some((now, cursor));
                }
                Some(_) => {}
            }
        }
        self.progress.send_replace(());
    }
}
