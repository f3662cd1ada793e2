//! A local terminal attached to a session over the Unix socket.
//!
//! The client gets a redraw of the terminal state, then the ring's bytes from the redraw's
//! position on, in order, from its own cursor. It never waits for any other client. While
//! it reads, it paces the PTY as a plain terminal would (`Session::paced_by_readers`); when
//! it stops reading, the socket fills, this task blocks on the write, and after a second
//! the ring moves on without it. When it reads again and its cursor has fallen
//! out of the ring, it gets a fresh redraw and continues from there. A redraw goes as
//! consecutive `Redraw` frames of at most 1 MiB with the same seq and nothing between
//! them (`repaint.rs`). Server memory per client is one frame, plus the rendered screen
//! while its redraw is being sent.

use std::sync::Arc;

use crate::conn::{Incoming, Reader, Writer};
use crate::feed::{Cut, Feed, Paint, Step};
use crate::input::{Offered, Pending};
use crate::session::Session;
use crate::shutdown::Shutdown;
use crate::size::{Claim, Kind};
use crate::tty::Tty;
use itwillsync_protocol::{ClientMsg, ServerMsg, Size};
use tokio::sync::watch;

mod direct;

/// Most output bytes in one frame.
const CHUNK: usize = 64 << 10;
/// How long the server tries to tell a client it is stopping.
const GOODBYE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// How an attachment ended.
pub enum End {
    /// The client detached; its connection may send more requests.
    Detached,
    /// The connection is finished (program exited, server stopping, client gone).
    Closed,
}

/// What the client asked for.
pub struct Attachment {
    /// A read-only client sends no input and never sets the size.
    pub read_only: bool,
    /// The terminal's size.
    pub size: Size,
    /// Continue after this output position (`Follow`: after a hand-over, or a machine link's cut) instead of a repaint, when the
    /// ring still holds it.
    pub resume: Option<u64>,
    /// True once the server hands over to a new binary: the client is told
    /// (`HandOver`) between two frames (never inside a repaint) and the connection ends.
    pub leaving: watch::Receiver<bool>,
    /// The client's terminal (`ClientMsg::Terminal`): output is written to it and keys
    /// read from it (`direct.rs`) instead of relayed in frames.
    pub terminal: Option<Tty>,
}

/// Runs one attachment until it ends.
pub async fn run(
    session: Arc<Session>,
    attachment: Attachment,
    incoming: &mut Reader,
    out: &mut Writer,
    shutdown: &Shutdown,
) -> anyhow::Result<End> {
    let read_only = attachment.read_only;
    let client = session.join(Kind::Local, read_only, Some(attachment.size));
    let result = tokio::select! {
        // The stop comes first: it hangs up every program, and a task that wakes only
        // after that (a loaded machine) must still say the server went away, not pass on
        // the exit the stop itself caused.
        biased;
        reason = async {
            tokio::select! {
                biased;
                reason = shutdown.wait() => reason,
                reason = session.gone() => reason,
            }
        } => {
            // A client that stopped reading must not hold up the shutdown.
            let goodbye = ServerMsg::Closing { reason };
            let _ = tokio::time::timeout(GOODBYE_TIMEOUT, out.send(&goodbye)).await;
            Ok(End::Closed)
        }
        r = stream(&session, client, attachment, incoming, out) => r,
    };
    session.leave(client);
    result
}

async fn stream(
    session: &Arc<Session>,
    client: u64,
    attachment: Attachment,
    incoming: &mut Reader,
    out: &mut Writer,
) -> anyhow::Result<End> {
    let Attachment {
        read_only,
        resume,
        mut leaving,
        terminal,
        ..
    } = attachment;
    let mut size_rx = session.watch().size;
    let mut feed = Feed::new(session.clone(), client, Cut::Anywhere);
    out.send(&ServerMsg::Attached {
        session: session.info(),
    })
    .await?;
    if let Some(tty) = terminal {
        out.send(&ServerMsg::Direct).await?;
        let direct = direct::Direct::new(session, client, read_only, tty);
        return direct.run(feed, resume, leaving, incoming, out).await;
    }
    // A resumed client has everything up to its seq: no repaint while the ring holds it.
    let mut step = match resume {
        Some(seq) if feed.start_at(seq) => Step::Idle,
        _ => feed.repaint(Paint::Screen),
    };
    let mut typing = Typing::new(session);
    let mut told = None;
    loop {
        match step {
            Step::Output { seq, data } => out.send(&ServerMsg::Output { seq, data }).await?,
            // Consecutive `Redraw` frames with the same seq are one repaint.
            Step::Repaint { seq, data, .. } => out.send(&ServerMsg::Redraw { seq, data }).await?,
            Step::Exit(status) => {
                out.send(&ServerMsg::Exit { status }).await?;
                return Ok(End::Closed);
            }
            Step::Idle => {}
        }
        feed.delivered();
        if feed.repainting() {
            // Nothing comes between the pieces of a repaint.
            step = feed.next(CHUNK);
            continue;
        }
        if *leaving.borrow_and_update() {
            return hand_over(out).await;
        }
        tell_size(&mut size_rx, &mut told, out).await?;
        // Keystrokes first, so typing stays responsive under heavy output.
        while let Some(msg) = incoming.try_recv() {
            if let Some(end) = handle(session, client, read_only, msg, out, &mut typing).await? {
                return Ok(end);
            }
        }
        step = feed.next(CHUNK);
        if !matches!(step, Step::Idle) {
            continue;
        }
        tokio::select! {
            msg = incoming.recv() => match msg {
                Some(msg) => if let Some(end) = handle(session, client, read_only, msg, out, &mut typing).await? {
                    return Ok(end);
                },
                None => return Ok(End::Closed),
            },
            _ = feed.changed() => {}
            _ = size_rx.changed() => {}
            _ = leaving.changed() => {}
            _ = typing.pending.flush(session.input_queue()), if !typing.pending.is_empty() => {}
        }
    }
}

/// Tells the client the server is handing over to a new binary (it resumes there); the
/// attachment ends.
async fn hand_over(out: &mut Writer) -> anyhow::Result<End> {
    let reason = "the server is handing over to a new binary".into();
    out.send(&ServerMsg::HandOver { reason }).await?;
    Ok(End::Closed)
}

/// Sends the session's size unless the client was last `told` it.
async fn tell_size(
    size: &mut watch::Receiver<Size>,
    told: &mut Option<Size>,
    out: &mut Writer,
) -> anyhow::Result<()> {
    let now = *size.borrow_and_update();
    if *told != Some(now) {
        out.send(&ServerMsg::Size { size: now }).await?;
        *told = Some(now);
    }
    Ok(())
}

/// This client's input on its way to the program.
struct Typing {
    /// What the session could not take yet.
    pending: Pending,
    /// The client was told its input is being dropped, and has not had input accepted
    /// since.
    warned: bool,
}

impl Typing {
    fn new(session: &Session) -> Self {
        Self {
            pending: Pending::new(session.input_queue()),
            warned: false,
        }
    }

    /// Offers keys to the program; the client is told once when they are dropped.
    async fn offer(
        &mut self,
        session: &Session,
        client: u64,
        data: &[u8],
        out: &mut Writer,
    ) -> anyhow::Result<()> {
        match session.input(client, data, &mut self.pending) {
            Offered::Accepted => self.warned = false,
            Offered::Dropped if !self.warned => {
                self.warned = true;
                let message = "the program is not reading its input: input dropped".into();
                out.send(&ServerMsg::Warning { message }).await?;
            }
            Offered::Dropped => {}
        }
        Ok(())
    }
}

/// Handles one client message while attached; `Some` ends the attachment.
async fn handle(
    session: &Session,
    client: u64,
    read_only: bool,
    msg: Incoming,
    out: &mut Writer,
    typing: &mut Typing,
) -> anyhow::Result<Option<End>> {
    let msg = match msg {
        Ok(msg) => msg,
        Err(message) => {
            out.send(&ServerMsg::Error { message }).await?;
            return Ok(Some(End::Closed));
        }
    };
    match msg {
        ClientMsg::Input { data } if !read_only => {
            typing.offer(session, client, &data, out).await?;
        }
        ClientMsg::Input { .. } => {}
        ClientMsg::Resize { size } if !read_only => session.claim(client, Claim::Resized(size)),
        ClientMsg::Resize { .. } => {}
        ClientMsg::Detach => {
            out.send(&ServerMsg::Detached).await?;
            return Ok(Some(End::Detached));
        }
        _ => {
            let message = "only input, resize and detach are accepted while attached".into();
            out.send(&ServerMsg::Error { message }).await?;
        }
    }
    Ok(None)
}
