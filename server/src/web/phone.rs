//! One phone attached to a session over a sealed WebSocket (`sealed`): the sibling of
//! `attach.rs`.
//!
//! Two tasks serve a phone. The reader opens and parses the phone's JSON messages: input
//! and resize go straight to the session (so typing works even while output to this phone
//! is stalled; a read-only key's are dropped), `resume` goes to the writer through a small
//! bounded channel, and the highest `ack` through a watch. The writer (`Phone::run`) owns
//! the socket's sealing half and a `feed::Feed` (the cursor, repaint and exit logic
//! shared with local terminals; its cursor is the output position this phone's screen
//! will reflect once it has drawn everything sent). It never blocks another client. A phone that reads at
//! least 1 MiB/s paces the PTY like a local terminal, so it gets every byte of a flood;
//! when a phone stops reading or is slower than that, the send blocks and the ring moves
//! on without it, and when its cursor has fallen out of the ring it gets a repaint
//! (`Session::paced_by_readers`). Memory per phone is one message (a repaint goes in
//! `data` messages of at most 1 MiB, all but the last with `seq` -1, nothing between
//! them; `repaint.rs`), plus, during a repaint with history, the copy it is rendered from.
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

use super::chunks::{self, Chunks, Member};
use super::keys::{Keys, Revocation, Role};
use super::message::{PhoneIn, PhoneOut};
use super::sealed::{self, Connection, Received, Receiver, Sender};
use crate::feed::{Cut, Feed, Paint, Step};
use crate::input::{Offered, Pending};
use crate::session::{Session, Watches};
use crate::size::{Claim, Kind};

/// Most output bytes in one `data` message.
const CHUNK: usize = 64 << 10;
/// While output streams (the previous `data` message went out less than this long ago
/// and carried at least [`STREAMING`] bytes), the next waits until this long after it, or
/// until a whole [`CHUNK`] is there: a flood goes out in messages of 64 KiB instead of
/// whatever each PTY read gave (a tenth of that), each sealed, framed and sent in one go.
/// Far below what anyone sees on a phone (a frame is 16 ms).
const GATHER: Duration = Duration::from_millis(2);
/// A message at least this big is part of a stream; typing's echo, even a line or a
/// prompt redrawn, is smaller, and goes out at once however fast the keys come.
const STREAMING: usize = 2 << 10;
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
    /// The session's output as `data` messages, encoded once for all its phones.
    pub chunks: Arc<Chunks>,
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
        context: &context,
        role,
        revocation,
        sender,
        events,
        acks,
        heard,
        limit: context.limit as u64,
        feed: Feed::new(session.clone(), client, Cut::Characters),
        size,
        leaving: crate::handover::phones_leaving(),
        _member: context.chunks.join(),
        last_output: None,
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
    // Input the session cannot take yet waits here; the reader goes on reading meanwhile
    // (acks, resumes), so a program that is not reading never stalls this phone's output.
    let mut pending = Pending::new(session.input_queue());
    loop {
        let received = tokio::select! {
            received = receiver.next() => received,
            _ = pending.flush(session.input_queue()), if !pending.is_empty() => continue,
        };
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
        let action = match incoming(&text, read_only) {
            Ok(action) => action,
            Err(Ignored::Malformed(e)) => {
                // serde_json's message can quote the input (keystrokes): log only its kind.
                let (kind, column) = (e.classify(), e.column());
                tracing::debug!(session = %session.id, client, ?kind, column, "ignored a bad message");
                continue;
            }
            Err(Ignored::ReadOnly) => {
                tracing::debug!(session = %session.id, client, "ignored input from a read-only key");
                continue;
            }
            Err(Ignored::Unknown | Ignored::OutOfRange) => continue,
        };
        if !act(action, &session, client, &events, &acks, &mut pending).await {
            return;
        }
    }
}

/// What a phone's message asks for, once parsed and checked ([`incoming`]).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// Keystrokes for the program.
    Input(String),
    /// A size claim, each dimension in 1..=65535 (the session clamps it to its maximum).
    Resize(Claim),
    /// Send what the page lacks after this position (negative: a redraw).
    Resume(i64),
    /// The page has drawn output up to here.
    Ack(u64),
}

/// Why a phone's message is ignored.
#[derive(Debug)]
pub(crate) enum Ignored {
    /// Not a message (bad JSON, a known type with wrong fields).
    Malformed(serde_json::Error),
    /// Input or a resize from a read-only key.
    ReadOnly,
    /// A type this server does not know (a newer page's).
    Unknown,
    /// A resize to nothing (a dimension of zero or less), or an ack of a negative position.
    OutOfRange,
}

/// Parses and checks one message from the phone: everything the reader does before acting
/// on it, with no session at hand (the fuzz target `phone_message` runs it on any bytes).
pub(crate) fn incoming(text: &[u8], read_only: bool) -> Result<Action, Ignored> {
    let msg = serde_json::from_slice::<PhoneIn>(text).map_err(Ignored::Malformed)?;
    if read_only && matches!(msg, PhoneIn::Input { .. } | PhoneIn::Resize { .. }) {
        return Err(Ignored::ReadOnly);
    }
    Ok(match msg {
        PhoneIn::Input { data } => Action::Input(data),
        PhoneIn::Resize { cols, rows, force } => {
            if cols <= 0 || rows <= 0 {
                return Err(Ignored::OutOfRange);
            }
            let size = Size {
                cols: cols.min(i64::from(u16::MAX)) as u16,
                rows: rows.min(i64::from(u16::MAX)) as u16,
            };
            Action::Resize(if force {
                Claim::Forced(size)
            } else {
                Claim::Resized(size)
            })
        }
        PhoneIn::Resume { last_seq } => Action::Resume(last_seq),
        PhoneIn::Ack { seq } => Action::Ack(u64::try_from(seq).map_err(|_| Ignored::OutOfRange)?),
        PhoneIn::Unknown => return Err(Ignored::Unknown),
    })
}

/// Acts on one message from the phone; false when the writer has gone.
async fn act(
    action: Action,
    session: &Session,
    client: u64,
    events: &mpsc::Sender<Event>,
    acks: &watch::Sender<Option<u64>>,
    pending: &mut Pending,
) -> bool {
    match action {
        Action::Input(data) => {
            if session.input(client, data.as_bytes(), pending) == Offered::Dropped {
                tracing::debug!(session = %session.id, client, "input dropped: the program is not reading");
            }
        }
        Action::Resize(claim) => session.claim(client, claim),
        Action::Resume(last_seq) => return events.send(Event::Resume(last_seq)).await.is_ok(),
        Action::Ack(seq) => {
            acks.send_if_modified(|acked| {
                let newer = !matches!(*acked, Some(a) if a >= seq);
                if newer {
                    *acked = Some(seq);
                }
                newer
            });
        }
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

/// How long a phone closed for a hand-over has to close its side.
const CLOSE_ANSWER_WAIT: Duration = Duration::from_millis(500);

/// The writer's state.
struct Phone<'a> {
    context: &'a Context,
    /// The role of the key this phone proved.
    role: Role,
    revocation: Revocation,
    watches: Watches,
    sender: Sender,
    events: mpsc::Receiver<Event>,
    /// The highest acknowledged position; `None` until the phone acks at all.
    acks: watch::Receiver<Option<u64>>,
    heard: watch::Receiver<Instant>,
    limit: u64,
    /// Its position in the output; not positioned before its resume.
    feed: Feed,
    /// The size this phone was last told.
    size: Size,
    /// True while the server hands over to a new binary: the phone is closed with 1012
    /// and reconnects to the new one, resuming from its `lastSeq`.
    leaving: watch::Receiver<bool>,
    /// Counts this phone among those sharing the session's encoded chunks.
    _member: Member,
    /// When the last output (not a repaint) of at least [`STREAMING`] bytes was sent, if
    /// the last was: output within [`GATHER`] of it is gathered into bigger messages.
    last_output: Option<Instant>,
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
            // Nothing comes between the pieces of a repaint: they are one stream.
            let repainting = self.feed.repainting();
            if !repainting {
                while let Ok(event) = self.events.try_recv() {
                    if !self.handle(event).await? {
                        return Ok(());
                    }
                }
            }
            // Compared, not `has_changed`: the `select!` below marks changes as seen.
            let now = *self.watches.size.borrow();
            if now != self.size && !repainting {
                self.size = now;
                self.send_size(now).await?;
            }
            if !repainting && *self.leaving.borrow_and_update() {
                let code = crate::handover::CLOSE_SERVICE_RESTART;
                self.sender.close(code, "service restart").await;
                // Until the phone closes too: what it sent meanwhile (acks) is read, so
                // the exec does not find unread bytes and answer with a reset, which
                // could cost the phone the close frame.
                let answered = async { while self.events.recv().await.is_some() {} };
                let _ = tokio::time::timeout(CLOSE_ANSWER_WAIT, answered).await;
                return Ok(());
            }
            let gathering = self.gathering();
            let step = match gathering {
                Some(_) => Step::Idle,
                None => {
                    let size = self.read_size();
                    self.feed.next(size)
                }
            };
            if let Step::Exit(status) = step {
                self.send_msg(&PhoneOut::Exit { code: status.code }).await?;
                self.sender.close(1000, "session ended").await;
                return Ok(());
            }
            if self.send_step(step).await? {
                continue;
            }
            tokio::select! {
                event = self.events.recv() => match event {
                    Some(event) => if !self.handle(event).await? {
                        return Ok(());
                    },
                    None => return Ok(()), // the phone closed or its socket failed
                },
                _ = self.feed.changed(), if gathering.is_none() => {}
                _ = tokio::time::sleep_until(gathering.unwrap_or_else(Instant::now)), if gathering.is_some() => {}
                _ = self.watches.size.changed() => {}
                _ = self.watches.name.changed() => self.send_about().await?,
                _ = self.acks.changed() => {}
                _ = self.leaving.changed() => {}
                _ = self.revocation.revoked() => {
                    self.sender.close(sealed::close::REVOKED, "link revoked").await;
                    return Ok(());
                }
                // Another machine's session that this server no longer follows.
                _ = self.context.session.gone() => {
                    self.sender.close(sealed::close::GONE, "machine removed").await;
                    return Ok(());
                }
                _ = ping.tick() => {
                    if last_ping.is_some_and(|at| *self.heard.borrow() < at) {
                        anyhow::bail!("the phone stopped answering pings");
                    }
                    timeout(self.sender.ping()).await?;
                    last_ping = Some(Instant::now());
                }
                _ = tokio::time::sleep_until(resume_deadline), if self.feed.cursor().is_none() => {
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
        let step = match (self.feed.cursor(), u64::try_from(last_seq)) {
            (None, Ok(n)) if self.feed.start_at(n) => return Ok(()),
            (Some(sent), Ok(n)) if n <= sent => return Ok(()),
            _ => self.feed.repaint(Paint::WithHistory),
        };
        self.send_step(step).await.map(drop)
    }

    /// Until when to let output gather before reading it ([`GATHER`]); `None` to read now.
    fn gathering(&self) -> Option<Instant> {
        let until = self.last_output? + GATHER;
        let cursor = self.feed.cursor()?;
        if self.feed.repainting() || Instant::now() >= until {
            return None;
        }
        let (_, head) = self.context.session.output_range();
        (head.saturating_sub(cursor) < CHUNK as u64).then_some(until)
    }

    /// How many output bytes to read next: within the window, cut where the session's
    /// other phones cut theirs (`chunks`), so the JSON is encoded once for all of them
    /// (0: wait for acknowledgements until such a chunk fits the window whole).
    fn read_size(&mut self) -> usize {
        let max = self.window().min(CHUNK as u64) as usize;
        let whole = match *self.acks.borrow() {
            None => CHUNK,
            Some(_) => self.limit.min(CHUNK as u64) as usize,
        };
        match self.feed.cursor() {
            Some(cursor) if max > 0 && !self.feed.repainting() => {
                let (_, head) = self.context.session.output_range();
                self.context.chunks.read_size(cursor, head, max, whole)
            }
            _ => max,
        }
    }

    /// How many more bytes this phone may be sent before it acknowledges some.
    fn window(&mut self) -> u64 {
        let sent = self.feed.cursor().unwrap_or(0);
        match *self.acks.borrow_and_update() {
            None => CHUNK as u64,
            Some(acked) => self.limit.saturating_sub(sent.saturating_sub(acked)),
        }
    }

    /// Sends output or a repaint as a `data` message; false for a step with nothing to
    /// send. A repaint when the phone fell out of the ring mid-stream is of the screen
    /// only (no reset, so the page keeps its own scrollback; cheap, since a phone behind
    /// in a flood may need it often).
    async fn send_step(&mut self, step: Step) -> anyhow::Result<bool> {
        let message = match step {
            Step::Output { seq, data } => {
                self.last_output = (data.len() >= STREAMING).then(Instant::now);
                self.context.chunks.message(&data, seq)
            }
            Step::Repaint {
                seq,
                data,
                last: true,
            } => chunks::encode(&data, chunks::seq_number(seq)),
            // A repaint's earlier pieces reflect no position yet: a page that reconnects
            // before the last one resumes with -1 and gets the whole repaint again.
            Step::Repaint { data, .. } => chunks::encode(&data, -1),
            Step::Exit(_) | Step::Idle => return Ok(false),
        };
        self.send(message).await?;
        self.feed.delivered();
        Ok(true)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incoming_messages_are_checked_before_anything_acts_on_them() {
        let size = |cols, rows| Size { cols, rows };
        let cases = [
            (
                r#"{"type":"input","data":"ls\r"}"#,
                Some(Action::Input("ls\r".into())),
            ),
            (
                r#"{"type":"resize","cols":100,"rows":30}"#,
                Some(Action::Resize(Claim::Resized(size(100, 30)))),
            ),
            (
                r#"{"type":"resize","cols":1e0,"rows":2}"#,
                None, // not an integer: malformed
            ),
            (
                r#"{"type":"resize","cols":9999999999,"rows":1,"force":true}"#,
                Some(Action::Resize(Claim::Forced(size(u16::MAX, 1)))),
            ),
            (r#"{"type":"resize","cols":0,"rows":30}"#, None),
            (r#"{"type":"resize","cols":80,"rows":-1}"#, None),
            (
                r#"{"type":"resume","lastSeq":-1}"#,
                Some(Action::Resume(-1)),
            ),
            (r#"{"type":"ack","seq":7}"#, Some(Action::Ack(7))),
            (r#"{"type":"ack","seq":-7}"#, None),
            (r#"{"type":"launch"}"#, None),
            (r#"{"type":"input"}"#, None),
        ];
        for (text, want) in cases {
            assert_eq!(incoming(text.as_bytes(), false).ok(), want, "{text}");
        }
        // A read-only key's input and resizes are dropped; its resumes and acks are not.
        for text in [
            r#"{"type":"input","data":"rm -rf ~\r"}"#,
            r#"{"type":"resize","cols":10,"rows":10,"force":true}"#,
        ] {
            assert!(
                matches!(incoming(text.as_bytes(), true), Err(Ignored::ReadOnly)),
                "{text}"
            );
        }
        let ack = incoming(br#"{"type":"ack","seq":3}"#, true);
        assert_eq!(ack.ok(), Some(Action::Ack(3)));
    }
}
