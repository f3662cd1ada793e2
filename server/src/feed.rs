//! One client's feed of a session's output: its cursor into the ring, its repaints, and
//! the exit status after the last byte. Local terminals (`attach.rs`) and phones
//! (`web/phone.rs`) both send what [`Feed::next`] gives them, so the rules live here once:
//!
//! - bytes from the cursor on, in order, at most `max` at a time;
//! - a repaint from the terminal state when the cursor has fallen out of the ring, after
//!   which the client continues from the position the repaint reflects; a repaint comes in
//!   pieces of at most [`Cut::piece`] bytes (`repaint.rs`), one per step, and nothing
//!   else (no output, no exit) comes between them;
//! - the exit status only when the cursor is at the head *and* the program had ended at
//!   that head, both read under the ring's lock (`Session::read_for`): since the actor
//!   pushes the last output before it sets the status, the status never overtakes a byte.
//!
//! It also reports the client's progress to the session (`reader_progressed`), which is
//! how reading clients pace the PTY. The feed never waits for anything but its own
//! session's head and exit watches; [`Feed::changed`] is cancel-safe, so a client loop
//! selects on it beside its socket.

use std::sync::Arc;

use itwillsync_protocol::ExitStatus;
use tokio::sync::watch;

use crate::repaint::Repaint;
use crate::ring::Behind;
use crate::session::Session;

/// Whether a feed may end a chunk inside a UTF-8 character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Anywhere (a terminal reassembles characters itself).
    Anywhere,
    /// Only between characters (a phone's messages are JSON text): an incomplete
    /// character at the end of what is available waits for the rest, until the exit.
    Characters,
}

impl Cut {
    /// Most bytes of a repaint in one step, so that every message stays within 1 MiB: a
    /// local `Redraw` frame carries the bytes as they are (plus a few bytes of header); a
    /// phone's `data` message escapes them as JSON, where a control character can take six
    /// bytes (`\u001b`), and seals them.
    pub fn piece(self) -> usize {
        match self {
            Cut::Anywhere => itwillsync_protocol::codec::REDRAW_PIECE - 64,
            Cut::Characters => 160 << 10,
        }
    }
}

/// Which repaint a client gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paint {
    /// The screen only.
    Screen,
    /// A reset, the scrollback history, then the screen (a phone's `resume -1`).
    WithHistory,
}

/// What a client sends next.
pub enum Step {
    /// Output bytes; `seq` is the position after the last of them.
    Output { seq: u64, data: Vec<u8> },
    /// A piece of a repaint reflecting output up to `seq` (once the `last` piece is drawn).
    Repaint { seq: u64, data: Vec<u8>, last: bool },
    /// The program has exited and everything before was sent.
    Exit(ExitStatus),
    /// Nothing to send now: wait for [`Feed::changed`].
    Idle,
}

/// A client's position in a session's output.
pub struct Feed {
    session: Arc<Session>,
    client: u64,
    cut: Cut,
    /// The position the client has been sent up to; `None` before its first repaint or
    /// resume (a phone waiting for its `resume`).
    cursor: Option<u64>,
    head: watch::Receiver<u64>,
    exit: watch::Receiver<Option<ExitStatus>>,
    /// Progress not yet reported to the session: reported once the client sent it.
    unreported: Option<(u64, bool)>,
    /// A buffer kept between reads that found nothing to send.
    spare: Vec<u8>,
    /// The repaint whose pieces are being sent: they come before anything else.
    repainting: Option<Repaint>,
}

impl Feed {
    /// A feed for `client` of `session`, not positioned yet.
    pub fn new(session: Arc<Session>, client: u64, cut: Cut) -> Self {
        let watches = session.watch();
        Self {
            session,
            client,
            cut,
            cursor: None,
            head: watches.head,
            exit: watches.exit,
            unreported: None,
            spare: Vec::new(),
            repainting: None,
        }
    }

    /// The position the client has been sent up to, once positioned.
    pub fn cursor(&self) -> Option<u64> {
        self.cursor
    }

    /// Whether a repaint is being sent: its next piece is what [`Feed::next`] gives, and
    /// the client sends nothing else until its last piece (the pieces are one stream).
    pub fn repainting(&self) -> bool {
        self.repainting.is_some()
    }

    /// Positions the feed at `seq` (the client already has everything before it) when the
    /// ring still holds it; false otherwise.
    pub fn start_at(&mut self, seq: u64) -> bool {
        let (start, head) = self.session.output_range();
        if seq < start || seq > head {
            return false;
        }
        self.cursor = Some(seq);
        true
    }

    /// A repaint of the terminal state (its first piece; [`Feed::next`] gives the rest);
    /// the feed then continues from the position it reflects.
    pub fn repaint(&mut self, paint: Paint) -> Step {
        let repaint = match paint {
            Paint::Screen => self.session.redraw(),
            Paint::WithHistory => self.session.redraw_with_history(),
        };
        self.cursor = Some(repaint.seq());
        self.repainting = Some(repaint);
        self.next_piece()
    }

    /// The next piece of the repaint in progress (`Idle` when there is none).
    fn next_piece(&mut self) -> Step {
        let Some(repaint) = self.repainting.as_mut() else {
            return Step::Idle;
        };
        let seq = repaint.seq();
        let (data, last) = repaint.next_piece(self.cut.piece());
        if last {
            self.repainting = None;
            // Its progress counts once the whole repaint is sent.
            self.unreported = Some((seq, true));
        }
        Step::Repaint { seq, data, last }
    }

    /// What to send next: the next piece of a repaint in progress (whatever `max`), at
    /// most `max` output bytes, a repaint when the ring has moved on past the cursor
    /// (unless `max` is 0), the exit status once everything is sent, or nothing yet.
    pub fn next(&mut self, max: usize) -> Step {
        if self.repainting.is_some() {
            return self.next_piece();
        }
        let Some(cursor) = self.cursor else {
            return Step::Idle;
        };
        // Marked seen before the read: anything later wakes `changed`.
        self.head.borrow_and_update();
        self.exit.borrow_and_update();
        let mut data = std::mem::take(&mut self.spare);
        data.clear();
        let read = match self.session.read_for(cursor, max, &mut data) {
            Ok(read) => read,
            // No room to send anything (a phone's window is full): no repaint either.
            Err(Behind) if max == 0 => {
                self.spare = data;
                return Step::Idle;
            }
            Err(Behind) => return self.repaint(Paint::Screen),
        };
        let take = match (self.cut, read.ended) {
            (Cut::Characters, None) => utf8_boundary(&data),
            _ => read.n,
        };
        if take == 0 {
            self.spare = data;
            return match read.ended {
                Some(status) if cursor == read.head => Step::Exit(status),
                _ => Step::Idle,
            };
        }
        data.truncate(take);
        let seq = cursor + take as u64;
        self.cursor = Some(seq);
        self.unreported = Some((seq, false));
        Step::Output { seq, data }
    }

    /// Tells the session that the client was sent what the last step gave (its reading
    /// speed paces the PTY).
    pub fn delivered(&mut self) {
        match self.unreported.take() {
            Some((seq, false)) => self.session.reader_progressed(self.client, seq),
            Some((seq, true)) => self.session.reader_repainted(self.client, seq),
            None => {}
        }
    }

    /// Waits until output arrives or the program ends. Cancel-safe.
    pub async fn changed(&mut self) {
        if let Some(cursor) = self.cursor {
            if cursor >= *self.head.borrow() {
                let id = self.session.id.clone();
                crate::test_hooks::pause("client-caught-up", &id).await;
            }
        }
        tokio::select! {
            r = self.head.changed() => if r.is_err() { std::future::pending::<()>().await },
            r = self.exit.changed() => if r.is_err() { std::future::pending::<()>().await },
        }
    }
}

/// The length of the longest prefix of `bytes` that does not end inside a UTF-8 character:
/// an incomplete sequence of at most 3 bytes at the end is held back. Invalid bytes are
/// not held (they will never complete).
pub fn utf8_boundary(bytes: &[u8]) -> usize {
    let len = bytes.len();
    for back in 1..=len.min(3) {
        let b = bytes[len - back];
        if b & 0xC0 == 0x80 {
            continue; // a continuation byte: look further back for the lead
        }
        let needed = match b {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => return len, // ASCII or an invalid lead: nothing to wait for
        };
        return if back < needed { len - back } else { len };
    }
    len
}

#[cfg(test)]
mod tests {
    use super::utf8_boundary;

    #[test]
    fn holds_back_only_incomplete_trailing_characters() {
        let s = "aé漢😀".as_bytes();
        assert_eq!(utf8_boundary(s), s.len());
        for cut in 0..s.len() {
            let b = utf8_boundary(&s[..cut]);
            assert!(std::str::from_utf8(&s[..b]).is_ok(), "cut {cut}");
            assert!(cut - b <= 3);
        }
        assert_eq!(utf8_boundary(&[b'a', 0xE6, 0xBC]), 1);
        assert_eq!(utf8_boundary(&[b'a', 0xFF]), 2);
        assert_eq!(utf8_boundary(&[0x80, 0x80, 0x80, 0x80]), 4);
    }
}
