//! One local connection on the Unix socket: the preamble exchange, then requests and
//! replies, and attachments (see `attach.rs`).
//!
//! Frames are read and written through `protocol::codec::Codec` on tokio-util's
//! `FramedRead`/`FramedWrite`, which own their buffers: [`Reader::recv`] is cancel-safe,
//! so the request and attach loops select on it directly. A frame that is too large, does
//! not decode, or has started but not completed within [`FRAME_TIMEOUT`] ends this
//! connection with an `Error` frame; the server and every other client carry on. Memory
//! per connection is what the peer has sent of its current frame (at most
//! `MAX_FRAME_LEN`, for at most [`FRAME_TIMEOUT`]) plus the frame being written.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use anyhow::Context;
use futures_util::{FutureExt, SinkExt, StreamExt};
use itwillsync_protocol::codec::Codec;
use itwillsync_protocol::{preamble, ClientMsg, HubInfo, NewSession, ServerMsg};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;
use tokio::sync::broadcast;
use tokio::time::Sleep;
use tokio_util::codec::{FramedRead, FramedWrite};

use crate::attach;

mod attachment;
mod fds;
mod route;

use crate::registry::Registry;
use crate::session::Session;
use crate::shutdown::Shutdown;
use crate::tty::Tty;
use crate::web::keys::Role;
use attachment::{attach_to, attachment_of, followed};
use route::{is_attachment, remote, Routed};

/// A decoded request, or the one-line reason the stream is unusable.
pub type Incoming = Result<ClientMsg, String>;

/// How long a peer may take to send its preamble.
const PREAMBLE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a frame may take from its first byte to its last. A local peer sends a frame
/// in one write (the largest, 8 MiB, takes milliseconds), so a frame still incomplete
/// after this is a stuck or hostile peer holding a partial buffer: its connection ends.
const FRAME_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the server tries to tell the client that asked for an upgrade that it
/// happens, before it does.
const GOODBYE: Duration = Duration::from_secs(1);

/// Server-wide facts a connection needs.
pub struct Shared {
    /// The live sessions.
    pub registry: Arc<Registry>,
    /// The shutdown latch.
    pub shutdown: Shutdown,
    /// Milliseconds since the epoch when the server started.
    pub started_at_ms: u64,
    /// The dashboard, when it listens: its link and master key.
    pub dashboard: Option<crate::dashboard::Handle>,
    /// The certificate in force, for `hub info` (`web::Transport::describe`).
    pub tls: Option<String>,
    /// Lifecycle events, for `Subscribe`.
    pub events: Arc<crate::events::Events>,
    /// The other machines' links.
    pub machines: Arc<crate::machines::Machines>,
    /// The mirrors of their sessions that local clients attach to.
    pub mirrors: Arc<crate::mirrors::Mirrors>,
    /// The state directory (`server.log` for `Logs`).
    pub home: crate::home::Home,
    /// Hand-overs to a new binary, for `Upgrade` (and attachments, which watch it).
    pub handover: Arc<crate::handover::Server>,
}

/// The read half, decoding whole frames.
pub struct Reader {
    frames: FramedRead<fds::FdReader, Codec<ClientMsg, ServerMsg>>,
    /// Armed while a frame has started and not completed: its [`FRAME_TIMEOUT`]. Kept
    /// here, not in a `recv` future, so a `select!` that drops `recv` does not reset it.
    stall: Option<Pin<Box<Sleep>>>,
}

impl Reader {
    fn new(half: OwnedReadHalf) -> Self {
        Self {
            frames: FramedRead::new(fds::FdReader::new(half), Codec::new()),
            stall: None,
        }
    }

    /// The next request; `None` at the end of the stream. Cancel-safe.
    pub async fn recv(&mut self) -> Option<Incoming> {
        std::future::poll_fn(|cx| {
            if let Poll::Ready(item) = self.frames.poll_next_unpin(cx) {
                self.stall = None;
                return Poll::Ready(item.map(|r| r.map_err(|e| e.to_string())));
            }
            // Pending: everything the socket had is in the buffer.
            if self.frames.read_buffer().is_empty() {
                self.stall = None;
                return Poll::Pending;
            }
            let stall = self
                .stall
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(FRAME_TIMEOUT)));
            match stall.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    self.stall = None;
                    let secs = FRAME_TIMEOUT.as_secs();
                    Poll::Ready(Some(Err(format!(
                        "a frame was not completed within {secs} s"
                    ))))
                }
                Poll::Pending => Poll::Pending,
            }
        })
        .await
    }

    /// A request that has already arrived, without waiting.
    pub fn try_recv(&mut self) -> Option<Incoming> {
        self.recv().now_or_never().flatten()
    }

    /// The descriptors the client passed (`SCM_RIGHTS`) up to the last frame read, taken.
    pub fn take_fds(&mut self) -> Vec<std::os::fd::OwnedFd> {
        self.frames.get_mut().take_fds()
    }
}

/// The write half, sending whole frames.
pub struct Writer(FramedWrite<OwnedWriteHalf, Codec<ClientMsg, ServerMsg>>);

impl Writer {
    /// Sends one message. A send cut short by a `select!` leaves the frame in the
    /// buffer, to be finished by the next send: the stream never carries half a frame
    /// followed by another.
    pub async fn send(&mut self, msg: &ServerMsg) -> anyhow::Result<()> {
        self.0.send(msg).await.context("cannot write to client")
    }
}

/// Serves one connection to its end.
pub async fn serve(stream: UnixStream, ctx: Arc<Shared>) {
    if let Err(e) = serve_inner(stream, &ctx).await {
        tracing::debug!("connection ended: {e:#}");
    }
}

async fn serve_inner(mut stream: UnixStream, ctx: &Shared) -> anyhow::Result<()> {
    stream.write_all(&preamble::encode()).await?;
    let mut theirs = [0u8; preamble::LEN];
    tokio::time::timeout(PREAMBLE_TIMEOUT, stream.read_exact(&mut theirs))
        .await
        .context("no preamble")??;
    preamble::check(&theirs)?;

    let (rd, wr) = stream.into_split();
    let mut incoming = Reader::new(rd);
    let mut out = Writer(FramedWrite::new(wr, Codec::new()));
    requests(&mut incoming, &mut out, ctx).await
}

async fn requests(incoming: &mut Reader, out: &mut Writer, ctx: &Shared) -> anyhow::Result<()> {
    // A terminal passed for the next request (`Terminal`); closed by any other request.
    let mut terminal: Option<Tty> = None;
    while let Some(item) = incoming.recv().await {
        let msg = match item {
            Ok(msg) => msg,
            Err(message) => {
                tracing::warn!("bad frame from a client: {message}");
                out.send(&ServerMsg::Error { message }).await?;
                return Ok(());
            }
        };
        let passed = incoming.take_fds();
        if let ClientMsg::Terminal { detach_key } = msg {
            terminal = None;
            match Tty::open(passed, detach_key) {
                Ok(tty) => {
                    terminal = Some(tty);
                    out.send(&ServerMsg::Done).await?;
                }
                Err(e) => out.send(&error(e)).await?,
            }
            continue;
        }
        // Only the request right after `Terminal` may use it.
        let terminal = terminal.take();
        let msg = match remote(ctx, msg) {
            Ok(Routed::Here(msg)) => msg,
            Ok(Routed::There(link, msg)) => {
                if let ClientMsg::Logs { follow, .. } = msg {
                    let end = crate::remote::logs(link, follow, incoming, out);
                    if let attach::End::Closed = end.await? {
                        return Ok(());
                    }
                } else if is_attachment(&msg) {
                    // Attached to the session's mirror here, as to a local session.
                    let (read_only, size, resume) = attachment_of(&msg);
                    let mirror = ctx.mirrors.open(link, msg).await;
                    let attachment = mirror.map(|s| (s, read_only, size, resume));
                    let end = attach_to(attachment, terminal, incoming, out, ctx);
                    if let attach::End::Closed = end.await? {
                        return Ok(());
                    }
                } else {
                    out.send(&there(link, msg, ctx).await).await?;
                }
                continue;
            }
            Err(e) => {
                out.send(&error(e)).await?;
                continue;
            }
        };
        let attachment = match msg {
            ClientMsg::Attach {
                target,
                read_only,
                size,
            } => {
                let session = match target {
                    Some(t) => ctx.registry.find(&t),
                    None => ctx.registry.most_recent(),
                };
                session.map(|s| (s, read_only, size, None))
            }
            ClientMsg::Upgrade { binary } => {
                upgrade(out, ctx, binary).await?;
                continue;
            }
            ClientMsg::Follow {
                target,
                read_only,
                size,
                from_seq,
            } => followed(ctx, target, read_only, size)
                .await
                .map(|s| (s, read_only, size, Some(from_seq))),
            ClientMsg::New { spec, attach: true } => {
                let size = spec.size;
                let created = create(ctx, spec).await;
                warn_network(out, &created).await?;
                created.map(|s| (s, false, size, None))
            }
            ClientMsg::Subscribe => return subscribe(incoming, out, ctx).await,
            ClientMsg::Logs { follow, .. } => {
                let path = ctx.home.server_log();
                let end = crate::log_tail::serve(path, follow, incoming, out, &ctx.shutdown);
                if let attach::End::Closed = end.await? {
                    return Ok(());
                }
                continue;
            }
            ClientMsg::Shutdown => {
                tracing::info!("shutdown requested by a client");
                out.send(&ServerMsg::Done).await?;
                ctx.shutdown.trigger("the server was stopped (hub stop)");
                // Hold the connection until the process ends: the client's end-of-stream
                // then means every session is gone and the files are removed.
                std::future::pending::<()>().await;
                return Ok(());
            }
            other => {
                answer(other, out, ctx).await?;
                continue;
            }
        };
        if let attach::End::Closed = attach_to(attachment, terminal, incoming, out, ctx).await? {
            return Ok(());
        }
    }
    Ok(())
}

/// Hands the server over to a new binary: answers `Error` when the new binary cannot
/// take over (everything keeps running), or `HandOver` and then execs it (this
/// connection ends with the process image; the new server answers the reconnection).
async fn upgrade(out: &mut Writer, ctx: &Shared, binary: Option<String>) -> anyhow::Result<()> {
    if ctx.shutdown.is_triggered() {
        let message = "the server is stopping".to_string();
        return out.send(&ServerMsg::Error { message }).await;
    }
    let prepared = match ctx.handover.prepare(&ctx.registry, binary).await {
        Ok(prepared) => prepared,
        Err(e) => {
            tracing::warn!("upgrade refused: {e:#}");
            return out.send(&error(e)).await;
        }
    };
    let reason = format!("handing over to {}", prepared.binary().display());
    let _ = tokio::time::timeout(GOODBYE, out.send(&ServerMsg::HandOver { reason })).await;
    let failed = prepared.exec();
    out.send(&error(failed)).await
}

/// Answers a request that does not attach: `New` without attaching (a warning, then its
/// reply) or any request `reply` answers.
async fn answer(msg: ClientMsg, out: &mut Writer, ctx: &Shared) -> anyhow::Result<()> {
    let reply = match msg {
        ClientMsg::New {
            spec,
            attach: false,
        } => {
            let created = create(ctx, spec).await;
            warn_network(out, &created).await?;
            match created {
                Ok(session) => ServerMsg::Created {
                    session: session.info(),
                },
                Err(e) => error(e),
            }
        }
        other => reply(other, ctx).await,
    };
    out.send(&reply).await
}

/// Streams lifecycle events until the client closes the connection or the server stops,
/// answering the requests it sends meanwhile between them. A client that reads too slowly
/// loses the oldest events and is told how many.
async fn subscribe(incoming: &mut Reader, out: &mut Writer, ctx: &Shared) -> anyhow::Result<()> {
    let mut events = ctx.events.subscribe();
    out.send(&ServerMsg::Subscribed).await?;
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(event) => out.send(&ServerMsg::Event { event }).await?,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    let message = format!("{n} events were lost: this client read too slowly");
                    out.send(&ServerMsg::Warning { message }).await?;
                }
                Err(broadcast::error::RecvError::Closed) => return Ok(()),
            },
            msg = incoming.recv() => match msg {
                None => return Ok(()), // the client went away
                Some(Err(message)) => {
                    out.send(&ServerMsg::Error { message }).await?;
                    return Ok(());
                }
                // Answered between events, in order (a machine link pings and drives the
                // remote server this way).
                Some(Ok(msg)) => match remote(ctx, msg) {
                    Ok(Routed::Here(msg)) if !is_attachment(&msg) => answer(msg, out, ctx).await?,
                    Ok(Routed::There(link, msg)) if !is_attachment(&msg) => {
                        out.send(&there(link, msg, ctx).await).await?;
                    }
                    Ok(_) => {
                        let message = "a subscribed connection cannot attach".into();
                        out.send(&ServerMsg::Error { message }).await?;
                    }
                    Err(e) => out.send(&error(e)).await?,
                },
            },
            _ = ctx.shutdown.wait() => {
                let reason = "the server is stopping".to_string();
                out.send(&ServerMsg::Closing { reason }).await?;
                return Ok(());
            }
        }
    }
}

/// Starts a session. An empty `cwd` is the home directory and an empty `env` the server's
/// own environment: what another machine's `new --on` sends, knowing neither.
/// Sends a new session's network warning (its phone link may not be reachable), if any.
async fn warn_network(
    out: &mut Writer,
    created: &anyhow::Result<Arc<Session>>,
) -> anyhow::Result<()> {
    match created
        .as_ref()
        .ok()
        .and_then(|s| s.network_warning.clone())
    {
        Some(message) => out.send(&ServerMsg::Warning { message }).await,
        None => Ok(()),
    }
}

async fn create(ctx: &Shared, mut spec: NewSession) -> anyhow::Result<Arc<Session>> {
    if ctx.shutdown.is_triggered() {
        anyhow::bail!("the server is stopping");
    }
    if spec.env.is_empty() {
        spec.env = std::env::vars().collect();
    }
    if spec.cwd.is_empty() {
        spec.cwd = std::env::var("HOME")
            .ok()
            .filter(|h| h.starts_with('/'))
            .context("no working directory given and HOME is not set")?;
    }
    ctx.registry.create(spec).await
}

/// The answer to a request for another machine's session (not an attachment): from that
/// machine's server, except a phone link, which is its mirror's here (the laptop's port and
/// keys: a phone reaches the session through this machine, as from the dashboard).
async fn there(link: Arc<crate::machines::Link>, msg: ClientMsg, ctx: &Shared) -> ServerMsg {
    let ClientMsg::Link {
        target,
        read_only,
        rotate,
    } = msg
    else {
        return link.request(msg).await.unwrap_or_else(error);
    };
    let mirror = ctx.mirrors.open_for_phone(link, &target).await;
    mirror
        .and_then(|mirror| self::link(&mirror, read_only, rotate))
        .unwrap_or_else(error)
}

/// A session's phone link (`Link`), its key rotated first when `rotate`.
fn link(session: &Session, read_only: bool, rotate: bool) -> anyhow::Result<ServerMsg> {
    let role = if read_only {
        Role::ReadOnly
    } else {
        Role::Full
    };
    let url = if rotate {
        session.rotate(role)
    } else {
        session.link(role)
    };
    let url = url.context("the session has no phone listener")?;
    if rotate {
        tracing::info!(session = %session.id, ?role, "link rotated");
    }
    Ok(ServerMsg::Link { url })
}

fn error(e: anyhow::Error) -> ServerMsg {
    ServerMsg::Error {
        message: format!("{e:#}"),
    }
}

/// Answers a request that is not an attachment.
async fn reply(msg: ClientMsg, ctx: &Shared) -> ServerMsg {
    let registry = &ctx.registry;
    let result: anyhow::Result<ServerMsg> = async {
        Ok(match msg {
            ClientMsg::List => ServerMsg::Sessions {
                sessions: registry.running().iter().map(|s| s.info()).collect(),
            },
            ClientMsg::Kill { target, signal } => {
                let session = registry.find(&target)?;
                match signal {
                    Some(signal) => session.signal(signal)?,
                    None => session.terminate()?,
                }
                ServerMsg::Done
            }
            ClientMsg::Rename { target, name } => ServerMsg::Session {
                session: registry.rename(&target, &name)?.info(),
            },
            ClientMsg::Info {
                target: Some(target),
            } => ServerMsg::Session {
                session: {
                    crate::test_hooks::panic_point("info-request", &target);
                    registry.find(&target)?.info()
                },
            },
            ClientMsg::Info { target: None } => ServerMsg::Hub {
                hub: HubInfo {
                    pid: std::process::id(),
                    version: env!("CARGO_PKG_VERSION").to_string(),
                    started_at_ms: ctx.started_at_ms,
                    dashboard_url: ctx.dashboard.as_ref().and_then(|d| d.link()),
                    sessions: registry.running().iter().map(|s| s.info()).collect(),
                    tls: ctx.tls.clone(),
                },
            },
            ClientMsg::Link {
                target,
                read_only,
                rotate,
            } => link(&*registry.find(&target)?, read_only, rotate)?,
            ClientMsg::RotateMaster => {
                let dashboard = ctx
                    .dashboard
                    .as_ref()
                    .context("the dashboard is not running")?;
                let url = dashboard.rotate()?;
                tracing::info!("master key rotated");
                ServerMsg::Link { url }
            }
            ClientMsg::Previews { lines, width } => {
                let lines = lines.min(itwillsync_protocol::MAX_PREVIEW_LINES) as usize;
                let width = width.min(itwillsync_protocol::MAX_PREVIEW_WIDTH) as usize;
                let previews = registry
                    .list()
                    .iter()
                    .map(|s| itwillsync_protocol::Preview {
                        id: s.id.clone(),
                        lines: s.preview(lines, width),
                    })
                    .collect();
                ServerMsg::Previews { previews }
            }
            ClientMsg::Machines { reload } => {
                if reload {
                    ctx.machines.reload()?;
                }
                ServerMsg::Machines {
                    machines: ctx.machines.infos(),
                }
            }
            ClientMsg::ListDir { path } => {
                let home = crate::dashboard::files::Home::from_env()
                    .context("this machine's server has no home directory")?;
                ServerMsg::Dir {
                    listing: home.listing_blocking(&path).await?,
                }
            }
            ClientMsg::Input { .. }
            | ClientMsg::Resize { .. }
            | ClientMsg::Detach
            | ClientMsg::Start => {
                anyhow::bail!("not attached to a session")
            }
            ClientMsg::Attach { .. }
            | ClientMsg::Follow { .. }
            | ClientMsg::Upgrade { .. }
            | ClientMsg::New { .. }
            | ClientMsg::NewOn { .. }
            | ClientMsg::Logs { .. }
            | ClientMsg::Shutdown
            | ClientMsg::Subscribe
            | ClientMsg::Terminal { .. } => {
                anyhow::bail!("attach, new and shutdown are handled by the request loop")
            }
        })
    }
    .await;
    result.unwrap_or_else(error)
}
