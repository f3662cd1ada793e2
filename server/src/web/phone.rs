//! One phone attached to a session over a sealed WebSocket (`sealed`): the sibling of
//! `attach.rs`.
//!
//! Two tasks serve a phone. The reader opens and parses the phone's JSON messages: input
//! and resize go straight to the session (so typing works even while output to this phone
//! is stalled; a read-only key's are dropped), `resume` goes to the writer through a small
//! bounded channel, and the highest `ack` through a watch. The writer (`Phone::run`) owns
//! the socket's sealing half and a
//! cursor into the ring (`sent`: the output position this phone's screen will reflect once
//! it has drawn everything sent). It never blocks another client. A phone that reads at
//! least 1 MiB/s paces the PTY like a local terminal, so it gets every byte of a flood;
//! when a phone stops reading or is slower than that, the send blocks and the ring moves
//! on without it, and when its cursor has fallen out of the ring it gets a repaint
//! (`Session::paced_by_readers`). Memory per phone is one message.
//!
//! Flow control: once a phone has acknowledged anything, at most `clientBufferLimit`
//! bytes may be sent and not acknowledged; a phone that never acks is paced by the
//! socket's backpressure alone. Output is cut only at UTF-8 boundaries: an incomplete
//! character at the end of what is available waits for the rest.
//!
//! Liveness: an idle connection is pinged every 30 s and closed when a ping goes
//! unanswered until the next, and a phone that accepts nothing for 60 s is dropped, so
//! phones that slept or lost their network never pile up (the page reconnects and
//! resumes). A phone whose key is rotated is closed at once (4002).

use std::sync::Arc;
use std::time::Duration;

use itwillsync_protocol::seal::TAG_LEN;
use itwillsync_protocol::Size;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::keys::{Keys, Revocation, Role};
use super::message::{PhoneIn, PhoneOut};
use super::sealed::{self, Connection, Received, Receiver, Sender};
use crate::session::{Session, Watches};
use crate::size::{Claim, Kind};

/// Most output bytes in one `data` message.
const CHUNK: usize = 64 << 10;
/// How long a new phone has to send `resume` before it is treated as `resume -1`.
const RESUME_WAIT: Duration = Duration::from_millis(150);
/// Resumes queued for the writer; a phone has no reason to send more than one at a time.
const EVENTS: usize = 4;
/// How often an idle connection is pinged (browsers answer pings by themselves). A
/// phone that has sent nothing since the previous ping is gone (it slept, or lost its
/// network): its connection is closed rather than held until the session ends.
const PING_EVERY: Duration = Duration::from_secs(30);
/// A phone that takes this long to accept one message is not reading at all: it is
/// dropped, and resumes when it reconnects.
const SEND_TIMEOUT: Duration = Duration::from_secs(60);

/// What the reader tells the writer.
enum Event {
    /// The phone has output up to this position (negative: nothing).
    Resume(i64),
    /// A message over the size limit: close with 1009.
    TooBig,
    /// A message that did not open: close with 1008.
    Forged,
}

/// What a phone connection is served with.
pub(crate) struct Context {
    /// The session.
    pub session: Arc<Session>,
    /// `clientBufferLimit`.
    pub limit: usize,
    /// `dashboardPort`, for the page's link back.
    pub dashboard_port: u16,
    /// The session's keys: a full-key phone is given the read-only key to share.
    pub keys: Arc<Keys>,
}

/// Serves one phone, once it has proved a key, until it leaves, the session ends, its
/// key is rotated, or its socket fails.
pub(crate) async fn run(connection: Connection, context: Context) {
    let Connection {
        role,
        revocation,
        sender,
        receiver,
    } = connection;
    let session = context.session.clone();
    let read_only = role == Role::ReadOnly;
    let client = session.join(Kind::Phone, read_only, None);
    let (events_tx, events) = mpsc::channel(EVENTS);
    let (acks_tx, acks) = watch::channel(None);
    let (heard_tx, heard) = watch::channel(Instant::now());
    let ends = ReaderEnds {
        events: events_tx,
        acks: acks_tx,
        heard: heard_tx,
    };
    let reader = tokio::spawn(read(receiver, session.clone(), client, read_only, ends));
    let watches = session.watch();
    let size = *watches.size.borrow();
    let mut phone = Phone {
        watches,
        session: &session,
        context: &context,
        role,
        revocation,
        client,
        sender,
        events,
        acks,
        heard,
        limit: context.limit as u64,
        sent: None,
        size,
        chunk: Vec::with_capacity(CHUNK),
    };
    if let Err(e) = phone.run().await {
        tracing::debug!(session = %session.id, client, "phone connection ended: {e}");
    }
    reader.abort();
    session.leave(client);
}

/// Reads the phone's messages until it closes or errs.
async fn read(
    mut receiver: Receiver,
    session: Arc<Session>,
    client: u64,
    read_only: bool,
    ends: ReaderEnds,
) {
    let ReaderEnds {
        events,
        acks,
        heard,
    } = ends;
    loop {
        let received = receiver.next().await;
        heard.send_replace(Instant::now());
        let text = match received {
            Received::Message(text) => text,
            Received::Heard => continue, // tungstenite answers pings itself
            Received::Closed => return,
            Received::TooBig => {
                let _ = events.send(Event::TooBig).await;
                return;
            }
            Received::Forged => {
                tracing::info!(session = %session.id, client, "a sealed message did not open");
                let _ = events.send(Event::Forged).await;
                return;
            }
        };
        let msg = match serde_json::from_slice::<PhoneIn>(&text) {
            Ok(msg) => msg,
            Err(e) => {
                // serde_json's message can quote the input (keystrokes): log only its kind.
                let (kind, column) = (e.classify(), e.column());
                tracing::debug!(session = %session.id, client, ?kind, column, "ignored a bad message");
                continue;
            }
        };
        if read_only && matches!(msg, PhoneIn::Input { .. } | PhoneIn::Resize { .. }) {
            tracing::debug!(session = %session.id, client, "ignored input from a read-only key");
            continue;
        }
        if !handle_incoming(msg, &session, client, &events, &acks).await {
            return;
        }
    }
}

/// Acts on one message from the phone; false when the writer has gone.
async fn handle_incoming(
    msg: PhoneIn,
    session: &Session,
    client: u64,
    events: &mpsc::Sender<Event>,
    acks: &watch::Sender<Option<u64>>,
) -> bool {
    match msg {
        PhoneIn::Input { data } => session.input(client, data.into_bytes()).await,
        PhoneIn::Resize { cols, rows, force } => {
            if cols <= 0 || rows <= 0 {
                return true;
            }
            let size = Size {
                cols: cols.min(i64::from(u16::MAX)) as u16,
                rows: rows.min(i64::from(u16::MAX)) as u16,
            };
            let claim = if force {
                Claim::Forced(size)
            } else {
                Claim::Resized(size)
            };
            session.claim(client, claim);
        }
        PhoneIn::Resume { last_seq } => return events.send(Event::Resume(last_seq)).await.is_ok(),
        PhoneIn::Ack { seq } => {
            if let Ok(seq) = u64::try_from(seq) {
                acks.send_if_modified(|acked| {
                    let newer = !matches!(*acked, Some(a) if a >= seq);
                    if newer {
                        *acked = Some(seq);
                    }
                    newer
                });
            }
        }
        PhoneIn::Unknown => {} // a newer page's message: ignored
    }
    true
}

/// The reader's senders to the writer.
struct ReaderEnds {
    events: mpsc::Sender<Event>,
    acks: watch::Sender<Option<u64>>,
    /// When anything (a message, a pong) last arrived.
    heard: watch::Sender<Instant>,
}

/// The writer's state.
struct Phone<'a> {
    session: &'a Session,
    context: &'a Context,
    /// The role of the key this phone proved.
    role: Role,
    revocation: Revocation,
    client: u64,
    watches: Watches,
    sender: Sender,
    events: mpsc::Receiver<Event>,
    /// The highest acknowledged position; `None` until the phone acks at all.
    acks: watch::Receiver<Option<u64>>,
    heard: watch::Receiver<Instant>,
    limit: u64,
    /// The output position this phone has been sent up to; `None` before its resume.
    sent: Option<u64>,
    /// The size this phone was last told.
    size: Size,
    chunk: Vec<u8>,
}

impl Phone<'_> {
    async fn run(&mut self) -> anyhow::Result<()> {
        self.send_size(self.size).await?;
        self.send_about().await?;
        let resume_deadline = Instant::now() + RESUME_WAIT;
        let mut ping = tokio::time::interval_at(Instant::now() + PING_EVERY, PING_EVERY);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_ping: Option<Instant> = None;
        loop {
            while let Ok(event) = self.events.try_recv() {
                if !self.handle(event).await? {
                    return Ok(());
                }
            }
            // Compared, not `has_changed`: the `select!` below marks changes as seen.
            let now = *self.watches.size.borrow();
            if now != self.size {
                self.size = now;
                self.send_size(now).await?;
            }
            if let Some(sent) = self.sent {
                let head = *self.watches.head.borrow_and_update();
                let exited = *self.watches.exit.borrow_and_update();
                let window = self.window(sent);
                if sent < head
                    && window > 0
                    && self.send_output(sent, window, exited.is_some()).await?
                {
                    continue;
                }
                if let (Some(status), true) = (exited, sent == head) {
                    // The actor publishes the exit after the last output: all is sent.
                    self.send_msg(&PhoneOut::Exit { code: status.code }).await?;
                    self.sender.close(1000, "session ended").await;
                    return Ok(());
                }
            }
            tokio::select! {
                event = self.events.recv() => match event {
                    Some(event) => if !self.handle(event).await? {
                        return Ok(());
                    },
                    None => return Ok(()), // the phone closed or its socket failed
                },
                _ = self.watches.head.changed() => {}
                _ = self.watches.size.changed() => {}
                _ = self.watches.exit.changed() => {}
                _ = self.watches.name.changed() => self.send_about().await?,
                _ = self.acks.changed() => {}
                _ = self.revocation.revoked() => {
                    self.sender.close(sealed::close::REVOKED, "link revoked").await;
                    return Ok(());
                }
                _ = ping.tick() => {
                    if last_ping.is_some_and(|at| *self.heard.borrow() < at) {
                        anyhow::bail!("the phone stopped answering pings");
                    }
                    timeout(self.sender.ping()).await?;
                    last_ping = Some(Instant::now());
                }
                _ = tokio::time::sleep_until(resume_deadline), if self.sent.is_none() => {
                    self.resume(-1).await?;
                }
            }
        }
    }

    /// Handles a reader event; false ends the connection.
    async fn handle(&mut self, event: Event) -> anyhow::Result<bool> {
        match event {
            Event::Resume(seq) => {
                self.resume(seq).await?;
                Ok(true)
            }
            Event::TooBig => {
                self.sender.close(1009, "message over 1 MiB").await;
                Ok(false)
            }
            Event::Forged => {
                self.sender.close(1008, "bad message").await;
                Ok(false)
            }
        }
    }

    /// Answers `resume` with `last_seq` N. Before anything was sent on this connection:
    /// the bytes after N when the ring holds them (nothing when N is the head), else a
    /// redraw (a reset, then history and screen). A resume that arrives later (after the
    /// 150 ms wait already sent a redraw, or after another resume) is answered against
    /// what this phone has been sent: once it has drawn what is in flight its screen
    /// reflects `sent`, so N up to `sent` needs nothing (resending would draw bytes
    /// twice), while -1 or an N beyond anything sent gets a redraw.
    async fn resume(&mut self, last_seq: i64) -> anyhow::Result<()> {
        let (start, head) = self.session.output_range();
        match (self.sent, u64::try_from(last_seq)) {
            (None, Ok(n)) if n >= start && n <= head => self.sent = Some(n),
            (Some(sent), Ok(n)) if n <= sent => {}
            _ => {
                self.send_repaint(self.session.redraw_with_history())
                    .await?
            }
        }
        Ok(())
    }

    /// How many more bytes this phone may be sent before it acknowledges some.
    fn window(&mut self, sent: u64) -> u64 {
        match *self.acks.borrow_and_update() {
            None => CHUNK as u64,
            Some(acked) => self.limit.saturating_sub(sent.saturating_sub(acked)),
        }
    }

    /// Sends the next output from `sent`, at most `window` bytes, or a repaint when the
    /// ring has moved past it. False when nothing could be sent yet (only part of a
    /// character is available).
    async fn send_output(&mut self, sent: u64, window: u64, exited: bool) -> anyhow::Result<bool> {
        self.chunk.clear();
        let max = window.min(CHUNK as u64) as usize;
        let n = match self.session.read_output(sent, max, &mut self.chunk) {
            Ok(n) => n,
            Err(_behind) => {
                // Fell out of the ring mid-stream: a repaint of the screen only (no reset,
                // so the page keeps its own scrollback; cheap, since a phone behind in a
                // flood may need it often), then on from its position.
                self.send_repaint(self.session.redraw()).await?;
                return Ok(true);
            }
        };
        let take = if exited {
            n
        } else {
            utf8_boundary(&self.chunk[..n])
        };
        if take == 0 {
            return Ok(false);
        }
        let seq = sent + take as u64;
        self.sent = Some(seq);
        self.send(data_message(&self.chunk[..take], seq)).await?;
        self.session.reader_progressed(self.client, seq);
        Ok(true)
    }

    /// Sends a repaint made at output position `seq` and continues from there.
    async fn send_repaint(&mut self, (seq, bytes): (u64, Vec<u8>)) -> anyhow::Result<()> {
        self.sent = Some(seq);
        self.send(data_message(&bytes, seq)).await?;
        self.session.reader_repainted(self.client, seq);
        Ok(())
    }

    async fn send_size(&mut self, size: Size) -> anyhow::Result<()> {
        let (cols, rows) = (size.cols, size.rows);
        self.send_msg(&PhoneOut::Resize { cols, rows }).await
    }

    /// What the page shows about the session: its name (the title), whether it may type,
    /// the dashboard's port, and for a full-key phone the read-only key to share.
    async fn send_about(&mut self) -> anyhow::Result<()> {
        let name = self.watches.name.borrow_and_update().clone();
        let read_key = match self.role {
            Role::Full => self
                .context
                .keys
                .key(Role::ReadOnly)
                .map(|k| k.to_link_text()),
            Role::ReadOnly => None,
        };
        let about = PhoneOut::Session {
            name: &name,
            read_only: self.role == Role::ReadOnly,
            dashboard_port: self.context.dashboard_port,
            read_key,
        };
        self.send_msg(&about).await
    }

    async fn send_msg(&mut self, msg: &PhoneOut<'_>) -> anyhow::Result<()> {
        self.send(msg.to_json(TAG_LEN)).await
    }

    async fn send(&mut self, json: Vec<u8>) -> anyhow::Result<()> {
        timeout(self.sender.send(json)).await
    }
}

/// A send to the phone, bounded by [`SEND_TIMEOUT`].
async fn timeout(
    send: impl std::future::Future<Output = anyhow::Result<()>>,
) -> anyhow::Result<()> {
    match tokio::time::timeout(SEND_TIMEOUT, send).await {
        Ok(sent) => sent,
        Err(_) => anyhow::bail!("the phone stopped reading"),
    }
}

/// `{"type":"data","data":S,"seq":N}` for output bytes, escaped in one pass over them
/// (this is the phone path's hot loop: no `serde_json::Value`, no copy of valid text),
/// with room for the escapes and the seal's tag. Invalid UTF-8 becomes U+FFFD, as the
/// page's decoder would show it.
fn data_message(bytes: &[u8], seq: u64) -> Vec<u8> {
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    };
    let room = bytes.len() + bytes.len() / 8 + TAG_LEN;
    PhoneOut::Data { data: &text, seq }.to_json(room)
}

/// The length of the longest prefix of `bytes` that does not end inside a UTF-8 character:
/// an incomplete sequence of at most 3 bytes at the end is held back. Invalid bytes are
/// not held (they will never complete).
fn utf8_boundary(bytes: &[u8]) -> usize {
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
    use super::{data_message, utf8_boundary};

    #[test]
    fn data_messages_carry_output_as_json_text_with_invalid_utf8_replaced() {
        let mut samples: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"plain text, longer than one word".to_vec(),
            (0u8..=0x7f).collect(),
            "quote\" back\\slash \u{1b}[1m é漢😀\r\n"
                .as_bytes()
                .to_vec(),
            b"bad \xff\xfe utf-8 \xe6\xbc".to_vec(),
        ];
        // Every byte that needs escaping (and some that do not) at every offset.
        for special in [b'"', b'\\', b'\n', 0x00, 0x1f, 0x7f, 0xc3] {
            for at in 0..20 {
                let mut v = vec![b'x'; 20];
                v[at] = special;
                if special == 0xc3 {
                    v.insert(at + 1, 0xa9); // é
                }
                samples.push(v);
            }
        }
        for bytes in samples {
            let json = data_message(&bytes, 12345);
            let expected = serde_json::json!({
                "type": "data",
                "data": String::from_utf8_lossy(&bytes),
                "seq": 12345,
            });
            let parsed: serde_json::Value = serde_json::from_slice(&json).expect("valid JSON");
            assert_eq!(parsed, expected, "{bytes:?}");
        }
    }

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
