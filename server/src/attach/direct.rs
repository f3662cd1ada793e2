//! A direct attachment: the client passed its terminal (`ClientMsg::Terminal`), so this
//! task writes the output straight to it and reads the keys from it, as tmux's server
//! does; the socket carries only the rest (`Size`, `Warning`, the end). Nothing is drawn
//! before the client's `Start` (it may still be showing a prompt). The rules of a relayed
//! attachment hold unchanged: a repaint first (or the output after a `Follow`'s seq), the
//! exit status only after the last byte is written, the pieces of a repaint with nothing
//! between them, `HandOver` (after `Written`) between two pieces of output. A terminal
//! that stops reading blocks nothing but this task's writes, which wait on readiness;
//! the feed's pacing stops counting it after a second, as for a client that stops
//! reading its socket, and keys and requests are still read while it waits.
//!
//! Once everything is written, the attachment arms its `tty::Shortcut` at its cursor and
//! waits: the actor (a mirror's task, for another machine's session) then writes what it
//! pushes straight to the terminal (no wake-up of this task, no copy out of the ring).
//! Whatever wakes this task disarms the short cut first (under its lock, so the actor is
//! not writing) and continues from the position written.

use std::sync::Arc;

use itwillsync_protocol::{ClientMsg, ServerMsg};
use tokio::sync::watch;

use super::{hand_over, handle, tell_size, End, Typing, CHUNK};
use crate::conn::{Reader, Writer};
use crate::feed::{Feed, Paint, Step};
use crate::session::Session;
use crate::tty::{Shortcut, Tty};

/// A short cut the actor uses until this is dropped.
struct Registered<'a> {
    session: &'a Session,
    cut: Arc<Shortcut>,
}

impl<'a> Registered<'a> {
    fn new(session: &'a Session, cut: &Arc<Shortcut>) -> Self {
        session.add_shortcut(cut.clone());
        Self {
            session,
            cut: cut.clone(),
        }
    }
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.session.remove_shortcut(&self.cut);
    }
}

/// What woke an armed attachment.
enum Woke {
    Keys(std::io::Result<usize>),
    Request(Option<crate::conn::Incoming>),
    /// Output to send (the short cut was disarmed, the program ended), or a change of
    /// size or hand-over to look at.
    Output,
}

/// Bytes of keys read at once.
const KEYS_CHUNK: usize = 4096;

/// One direct attachment's terminal and typing.
pub(super) struct Direct<'a> {
    session: &'a Arc<Session>,
    client: u64,
    read_only: bool,
    /// The terminal, shared with the actor's short cut.
    cut: Arc<Shortcut>,
    typing: Typing,
    /// False once the terminal's input ended (hung up): output goes on.
    keys_open: bool,
    keys: Vec<u8>,
}

impl<'a> Direct<'a> {
    pub(super) fn new(session: &'a Arc<Session>, client: u64, read_only: bool, tty: Tty) -> Self {
        Self {
            session,
            client,
            read_only,
            cut: Arc::new(Shortcut::new(tty, client)),
            typing: Typing::new(session),
            keys_open: true,
            keys: vec![0; KEYS_CHUNK],
        }
    }

    /// Runs the attachment until it ends (`Attached` and `Direct` are sent).
    pub(super) async fn run(
        mut self,
        mut feed: Feed,
        resume: Option<u64>,
        mut leaving: watch::Receiver<bool>,
        incoming: &mut Reader,
        out: &mut Writer,
    ) -> anyhow::Result<End> {
        let mut size_rx = self.session.watch().size;
        // Until `Start`, the client owns its terminal: only requests are handled.
        loop {
            if *leaving.borrow_and_update() {
                // Nothing was written: the client resumes from where it was.
                return hand_over(out).await;
            }
            tokio::select! {
                msg = incoming.recv() => match msg {
                    Some(Ok(ClientMsg::Start)) => break,
                    Some(msg) => if let Some(end) = self.request(msg, out).await? {
                        return Ok(end);
                    },
                    None => return Ok(End::Closed),
                },
                _ = leaving.changed() => {}
                _ = self.typing.pending.flush(self.session.input_queue()), if !self.typing.pending.is_empty() => {}
            }
        }
        // The output position the terminal shows.
        let mut written = resume.filter(|&seq| feed.start_at(seq));
        let mut step = match written {
            Some(_) => Step::Idle,
            None => feed.repaint(Paint::Screen),
        };
        let mut told = None;
        let watches = self.session.watch();
        let (head_rx, mut exit_rx) = (watches.head, watches.exit);
        // Also when this future is dropped (the server stops): the actor writes nothing
        // more to the terminal once the attachment is over.
        let _registered = Registered::new(self.session, &self.cut);
        loop {
            match step {
                Step::Output { seq, data } => {
                    if let Some(end) = self.write_all(&data, incoming, out).await? {
                        return Ok(end);
                    }
                    written = Some(seq);
                }
                Step::Repaint { seq, data, last } => {
                    if let Some(end) = self.write_all(&data, incoming, out).await? {
                        return Ok(end);
                    }
                    if last {
                        written = Some(seq);
                    }
                }
                Step::Exit(status) => {
                    // Every byte is in the terminal (each write returned) before this.
                    out.send(&ServerMsg::Exit { status }).await?;
                    return Ok(End::Closed);
                }
                Step::Idle => {}
            }
            feed.delivered();
            if feed.repainting() {
                step = feed.next(CHUNK);
                continue;
            }
            if *leaving.borrow_and_update() {
                if let Some(seq) = written {
                    out.send(&ServerMsg::Written { seq }).await?;
                }
                return hand_over(out).await;
            }
            tell_size(&mut size_rx, &mut told, out).await?;
            while let Some(msg) = incoming.try_recv() {
                if let Some(end) = self.request(msg, out).await? {
                    return Ok(end);
                }
            }
            // Seen before the look: an exit after it wakes the armed wait below.
            exit_rx.borrow_and_update();
            step = feed.next(CHUNK);
            if !matches!(step, Step::Idle) {
                continue;
            }
            // Everything is written: until something wakes this task, the actor writes
            // what it reads straight to the terminal (`tty::Shortcut`).
            let Some(cursor) = feed.cursor() else {
                continue;
            };
            self.cut.arm(cursor);
            if *head_rx.borrow() != cursor {
                // Output came between the look and the arming: it is this task's to send.
                self.cut.disarm();
                continue;
            }
            let woke = tokio::select! {
                biased;
                read = self.cut.tty.read(&mut self.keys), if self.keys_open => Woke::Keys(read),
                msg = incoming.recv() => Woke::Request(msg),
                _ = self.cut.disarmed() => Woke::Output,
                _ = exit_rx.changed() => Woke::Output,
                _ = size_rx.changed() => Woke::Output,
                _ = leaving.changed() => Woke::Output,
                _ = self.typing.pending.flush(self.session.input_queue()), if !self.typing.pending.is_empty() => Woke::Output,
            };
            let at = self.cut.disarm();
            if at > cursor && !feed.start_at(at) {
                // Written beyond what the ring still holds (it moved on meanwhile).
                step = feed.repaint(Paint::Screen);
            }
            if at > cursor {
                written = Some(at);
                self.session.reader_progressed(self.client, at);
            }
            match woke {
                Woke::Keys(read) => {
                    if let Some(end) = self.typed(read, out).await? {
                        return Ok(end);
                    }
                }
                Woke::Request(Some(msg)) => {
                    if let Some(end) = self.request(msg, out).await? {
                        return Ok(end);
                    }
                }
                Woke::Request(None) => return Ok(End::Closed),
                Woke::Output => {}
            }
        }
    }

    /// Writes all of `data` to the terminal, reading keys and requests while it waits for
    /// the terminal to take more; `Some` ends the attachment (detached, or the terminal
    /// or the client is gone).
    async fn write_all(
        &mut self,
        mut data: &[u8],
        incoming: &mut Reader,
        out: &mut Writer,
    ) -> anyhow::Result<Option<End>> {
        while !data.is_empty() {
            tokio::select! {
                biased;
                read = self.cut.tty.read(&mut self.keys), if self.keys_open => {
                    if let Some(end) = self.typed(read, out).await? {
                        return Ok(Some(end));
                    }
                }
                msg = incoming.recv() => match msg {
                    Some(msg) => if let Some(end) = self.request(msg, out).await? {
                        return Ok(Some(end));
                    },
                    None => return Ok(Some(End::Closed)),
                },
                wrote = self.cut.tty.write(data) => match wrote {
                    Ok(n) => data = &data[n..],
                    Err(e) => {
                        tracing::debug!(session = %self.session.id, "a direct terminal went away: {e}");
                        return Ok(Some(End::Closed));
                    }
                },
            }
        }
        Ok(None)
    }

    /// Handles keys read from the terminal: the program gets what comes before the
    /// detach key; the detach key ends the attachment.
    async fn typed(
        &mut self,
        read: std::io::Result<usize>,
        out: &mut Writer,
    ) -> anyhow::Result<Option<End>> {
        let n = match read {
            Ok(n) if n > 0 => n,
            // The terminal hung up or its input ended: output goes on until the end.
            _ => {
                self.keys_open = false;
                return Ok(None);
            }
        };
        let data = &self.keys[..n];
        let (before, detach) = match data.iter().position(|b| *b == self.cut.tty.detach_key) {
            Some(at) => (&data[..at], true),
            None => (data, false),
        };
        if !self.read_only && !before.is_empty() {
            let typing = &mut self.typing;
            typing.offer(self.session, self.client, before, out).await?;
        }
        if detach {
            out.send(&ServerMsg::Detached).await?;
            return Ok(Some(End::Detached));
        }
        Ok(None)
    }

    /// Handles a client message (`Resize`, `Detach`, `Input` from a client that reads
    /// its keys itself after all).
    async fn request(
        &mut self,
        msg: crate::conn::Incoming,
        out: &mut Writer,
    ) -> anyhow::Result<Option<End>> {
        handle(
            self.session,
            self.client,
            self.read_only,
            msg,
            out,
            &mut self.typing,
        )
        .await
    }
}
