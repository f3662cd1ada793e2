//! One local connection on the Unix socket: the preamble exchange, then requests and
//! replies, and attachments (see `attach.rs`).
//!
//! A reader task decodes frames into a small bounded channel, so the request loop can
//! select on it safely. A frame that is too large or does not decode ends this connection
//! with an `Error` frame; the server and every other client carry on.

use std::sync::Arc;

use anyhow::Context;
use itwillsync_protocol::codec::{read_frame_async, write_frame_async};
use itwillsync_protocol::{preamble, ClientMsg, HubInfo, NewSession, ServerMsg};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::OwnedWriteHalf;
use tokio::net::UnixStream;
use tokio::sync::{broadcast, mpsc};

use crate::attach;
use crate::registry::Registry;
use crate::session::Session;
use crate::shutdown::Shutdown;
use crate::web::keys::Role;

/// A decoded request, or the one-line reason the stream is unusable.
pub type Incoming = Result<ClientMsg, String>;

/// How long a peer may take to send its preamble.
const PREAMBLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Decoded requests buffered ahead of the request loop.
const INCOMING_QUEUE: usize = 32;

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
}

/// The write half, sending whole frames.
pub struct Writer(OwnedWriteHalf);

impl Writer {
    /// Sends one message.
    pub async fn send(&mut self, msg: &ServerMsg) -> anyhow::Result<()> {
        write_frame_async(&mut self.0, msg)
            .await
            .context("cannot write to client")
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

    let (mut rd, wr) = stream.into_split();
    let mut out = Writer(wr);
    let (tx, mut incoming) = mpsc::channel::<Incoming>(INCOMING_QUEUE);
    let reader = tokio::spawn(async move {
        loop {
            let item = match read_frame_async::<ClientMsg>(&mut rd).await {
                Ok(Some(msg)) => Ok(msg),
                Ok(None) => return,
                Err(e) => Err(e.to_string()),
            };
            let last = item.is_err();
            if tx.send(item).await.is_err() || last {
                return;
            }
        }
    });
    let result = requests(&mut incoming, &mut out, ctx).await;
    reader.abort();
    result
}

async fn requests(
    incoming: &mut mpsc::Receiver<Incoming>,
    out: &mut Writer,
    ctx: &Shared,
) -> anyhow::Result<()> {
    while let Some(item) = incoming.recv().await {
        let msg = match item {
            Ok(msg) => msg,
            Err(message) => {
                tracing::warn!("bad frame from a client: {message}");
                out.send(&ServerMsg::Error { message }).await?;
                return Ok(());
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
                session.map(|s| (s, read_only, size))
            }
            ClientMsg::New { spec, attach } => {
                let size = spec.size;
                let created = create(ctx, spec).await;
                if let Some(message) = created
                    .as_ref()
                    .ok()
                    .and_then(|s| s.network_warning.clone())
                {
                    out.send(&ServerMsg::Warning { message }).await?;
                }
                if !attach {
                    let reply = match created {
                        Ok(session) => ServerMsg::Created {
                            session: session.info(),
                        },
                        Err(e) => error(e),
                    };
                    out.send(&reply).await?;
                    continue;
                }
                created.map(|s| (s, false, size))
            }
            ClientMsg::Subscribe => return subscribe(incoming, out, ctx).await,
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
                let reply = reply(other, ctx).await;
                out.send(&reply).await?;
                continue;
            }
        };
        match attachment {
            Ok((session, read_only, size)) => {
                let end = attach::run(session, read_only, size, incoming, out, &ctx.shutdown);
                if let attach::End::Closed = end.await? {
                    return Ok(());
                }
            }
            Err(e) => out.send(&error(e)).await?,
        }
    }
    Ok(())
}

/// Streams lifecycle events until the client closes the connection or the server stops.
/// A client that reads too slowly loses the oldest events and is told how many.
async fn subscribe(
    incoming: &mut mpsc::Receiver<Incoming>,
    out: &mut Writer,
    ctx: &Shared,
) -> anyhow::Result<()> {
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
            msg = incoming.recv() => if msg.is_none() {
                return Ok(()); // the client went away; anything else it sends is ignored
            },
            _ = ctx.shutdown.wait() => {
                let reason = "the server is stopping".to_string();
                out.send(&ServerMsg::Closing { reason }).await?;
                return Ok(());
            }
        }
    }
}

async fn create(ctx: &Shared, spec: NewSession) -> anyhow::Result<Arc<Session>> {
    if ctx.shutdown.is_triggered() {
        anyhow::bail!("the server is stopping");
    }
    ctx.registry.create(spec).await
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
                sessions: registry.list().iter().map(|s| s.info()).collect(),
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
                    sessions: registry.list().iter().map(|s| s.info()).collect(),
                    tls: ctx.tls.clone(),
                },
            },
            ClientMsg::Link {
                target,
                read_only,
                rotate,
            } => {
                let session = registry.find(&target)?;
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
                ServerMsg::Link { url }
            }
            ClientMsg::RotateMaster => {
                let dashboard = ctx
                    .dashboard
                    .as_ref()
                    .context("the dashboard is not running")?;
                let url = dashboard.rotate()?;
                tracing::info!("master key rotated");
                ServerMsg::Link { url }
            }
            ClientMsg::Input { .. } | ClientMsg::Resize { .. } | ClientMsg::Detach => {
                anyhow::bail!("not attached to a session")
            }
            ClientMsg::Attach { .. }
            | ClientMsg::New { .. }
            | ClientMsg::Shutdown
            | ClientMsg::Subscribe => {
                anyhow::bail!("attach, new and shutdown are handled by the request loop")
            }
        })
    }
    .await;
    result.unwrap_or_else(error)
}
