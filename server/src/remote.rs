//! A local client attached to a session on another machine, through this server.
//!
//! The attachment has its own ssh connection to that machine's server ([`Link::open`]),
//! carrying the client's `Attach` (or `New` with `attach`) and relaying frames both ways
//! unchanged, so the client sees exactly what a local attachment shows. The relay counts
//! the remote seq the client has been sent up to. When the connection is cut (ssh exits,
//! or the machine's link goes offline: its pings went unanswered), the relay reconnects
//! with the link's backoff (1 s, doubling) and sends `Follow { from_seq }`: the remote
//! server continues from that seq when its ring still holds it, so the client gets every
//! byte exactly once; only a gap older than the remote ring costs a repaint. Output the
//! client already has (a chunk straddling the cut) is trimmed by seq. Input typed during a
//! cut is held (at most [`HELD_INPUT`] bytes) and sent once the connection is back.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use itwillsync_protocol::{ClientMsg, MachineState, ServerMsg, Size};

use crate::attach::End;
use crate::conn::{Reader, Writer};
use crate::machines::{Link, Remote};
use crate::shutdown::Shutdown;

/// Input kept while the connection is cut; beyond it input is dropped and the client told.
const HELD_INPUT: usize = 1 << 20;
/// The first wait before reconnecting.
const BACKOFF_MIN: Duration = Duration::from_secs(1);
/// How long the server tries to tell a client it is stopping.
const GOODBYE_TIMEOUT: Duration = Duration::from_secs(1);

/// What the relay knows of the attachment across connections.
struct Relay {
    /// The remote session's id, once attached.
    session: Option<String>,
    /// The remote seq the client has been sent up to.
    delivered: Option<u64>,
    read_only: bool,
    size: Size,
    /// Input waiting for the connection to come back.
    held: Vec<u8>,
    /// The client was told its input is being dropped.
    warned: bool,
}

/// How one connection ended.
enum Cut {
    /// The attachment is over.
    End(End),
    /// The connection was lost; the attachment goes on.
    Lost(String),
}

/// Runs an attachment to a session on `link`'s machine until it ends. `first` is the
/// request as that machine's server takes it (`Attach`, `Follow` or `New`).
pub async fn attach(
    link: Arc<Link>,
    first: ClientMsg,
    incoming: &mut Reader,
    out: &mut Writer,
    shutdown: &Shutdown,
) -> anyhow::Result<End> {
    let (read_only, size, from) = match &first {
        ClientMsg::Attach {
            read_only, size, ..
        } => (*read_only, *size, None),
        ClientMsg::Follow {
            read_only,
            size,
            from_seq,
            ..
        } => (*read_only, *size, Some(*from_seq)),
        ClientMsg::New { spec, .. } => (false, spec.size, None),
        _ => anyhow::bail!("not an attachment"),
    };
    let mut relay = Relay {
        session: None,
        delivered: from,
        read_only,
        size,
        held: Vec::new(),
        warned: false,
    };
    let mut request = first;
    let mut backoff = BACKOFF_MIN;
    let mut state = link.state();
    loop {
        let lost = match link.open().await {
            Ok(remote) => {
                let cut = tokio::select! {
                    biased;
                    reason = shutdown.wait() => {
                        let goodbye = ServerMsg::Closing { reason };
                        let _ = tokio::time::timeout(GOODBYE_TIMEOUT, out.send(&goodbye)).await;
                        return Ok(End::Closed);
                    }
                    cut = connection(remote, request, &mut relay, incoming, out, &mut state) => cut?,
                };
                match cut {
                    Cut::End(end) => return Ok(end),
                    Cut::Lost(why) => {
                        backoff = BACKOFF_MIN;
                        why
                    }
                }
            }
            Err(lost) => lost.message().to_string(),
        };
        let Some(session) = relay.session.clone() else {
            // Never attached: the request failed, as a local one would.
            let message = format!("machine {}: {lost}", link.name);
            out.send(&ServerMsg::Error { message }).await?;
            return Ok(End::Detached);
        };
        tracing::info!(machine = %link.name, %session, "attachment cut ({lost}); reconnecting");
        request = ClientMsg::Follow {
            target: session,
            read_only: relay.read_only,
            size: relay.size,
            from_seq: relay.delivered.unwrap_or(0),
        };
        let wait = tokio::time::sleep(backoff);
        backoff = (backoff * 2).min(link.timing().backoff_max);
        tokio::pin!(wait);
        loop {
            tokio::select! {
                _ = &mut wait => break,
                reason = shutdown.wait() => {
                    let goodbye = ServerMsg::Closing { reason };
                    let _ = tokio::time::timeout(GOODBYE_TIMEOUT, out.send(&goodbye)).await;
                    return Ok(End::Closed);
                }
                msg = incoming.recv() => match msg {
                    None => return Ok(End::Closed),
                    Some(msg) => if let Some(end) = offline(&mut relay, msg, out).await? {
                        return Ok(end);
                    },
                },
            }
        }
    }
}

/// A client message while the connection is cut.
async fn offline(
    relay: &mut Relay,
    msg: crate::conn::Incoming,
    out: &mut Writer,
) -> anyhow::Result<Option<End>> {
    match msg {
        Err(message) => {
            out.send(&ServerMsg::Error { message }).await?;
            Ok(Some(End::Closed))
        }
        Ok(ClientMsg::Input { data }) if !relay.read_only => {
            if relay.held.len() + data.len() <= HELD_INPUT {
                relay.held.extend_from_slice(&data);
            } else if !relay.warned {
                relay.warned = true;
                let message = "the machine is unreachable: input dropped".into();
                out.send(&ServerMsg::Warning { message }).await?;
            }
            Ok(None)
        }
        Ok(ClientMsg::Resize { size }) if !relay.read_only => {
            relay.size = size;
            Ok(None)
        }
        Ok(ClientMsg::Detach) => {
            out.send(&ServerMsg::Detached).await?;
            Ok(Some(End::Detached))
        }
        Ok(ClientMsg::Input { .. } | ClientMsg::Resize { .. }) => Ok(None),
        Ok(_) => {
            let message = "only input, resize and detach are accepted while attached".into();
            out.send(&ServerMsg::Error { message }).await?;
            Ok(None)
        }
    }
}

/// Relays one connection until the attachment ends or the connection is lost.
async fn connection(
    mut remote: Remote,
    request: ClientMsg,
    relay: &mut Relay,
    incoming: &mut Reader,
    out: &mut Writer,
    state: &mut tokio::sync::watch::Receiver<MachineState>,
) -> anyhow::Result<Cut> {
    if remote.to.send(&request).await.is_err() {
        return Ok(Cut::Lost(remote.why_gone("ssh exited").await));
    }
    state.borrow_and_update();
    loop {
        tokio::select! {
            frame = remote.from.next() => {
                let msg = match frame {
                    Some(Ok(msg)) => msg,
                    Some(Err(e)) => return Ok(Cut::Lost(format!("bad frame: {e}"))),
                    None => return Ok(Cut::Lost(remote.why_gone("ssh exited").await)),
                };
                if let Some(cut) = from_remote(msg, relay, &mut remote, out).await? {
                    return Ok(cut);
                }
            }
            msg = incoming.recv() => {
                let msg = match msg {
                    None => return Ok(Cut::End(End::Closed)),
                    Some(Err(message)) => {
                        out.send(&ServerMsg::Error { message }).await?;
                        return Ok(Cut::End(End::Closed));
                    }
                    Some(Ok(msg)) => msg,
                };
                match msg {
                    ClientMsg::Resize { size } => {
                        if !relay.read_only {
                            relay.size = size;
                        }
                        if remote.to.send(&ClientMsg::Resize { size }).await.is_err() {
                            return Ok(Cut::Lost("ssh exited".into()));
                        }
                    }
                    msg @ (ClientMsg::Input { .. } | ClientMsg::Detach) => {
                        if remote.to.send(&msg).await.is_err() {
                            return Ok(Cut::Lost("ssh exited".into()));
                        }
                    }
                    _ => {
                        let message = "only input, resize and detach are accepted while attached".into();
                        out.send(&ServerMsg::Error { message }).await?;
                    }
                }
            }
            changed = state.changed() => {
                if changed.is_err() || *state.borrow() == MachineState::Offline {
                    return Ok(Cut::Lost("the machine went offline".into()));
                }
            }
        }
    }
}

/// Passes one frame of the remote server on to the client; `Some` ends the connection.
async fn from_remote(
    msg: ServerMsg,
    relay: &mut Relay,
    remote: &mut Remote,
    out: &mut Writer,
) -> anyhow::Result<Option<Cut>> {
    match msg {
        ServerMsg::Attached { session } => {
            let first = relay.session.is_none();
            relay.session = Some(session.id.clone());
            if first {
                out.send(&ServerMsg::Attached { session }).await?;
            }
            if !relay.held.is_empty() {
                let data = std::mem::take(&mut relay.held);
                relay.warned = false;
                if remote.to.send(&ClientMsg::Input { data }).await.is_err() {
                    return Ok(Some(Cut::Lost("ssh exited".into())));
                }
            }
        }
        ServerMsg::Output { seq, mut data } => {
            if let Some(delivered) = relay.delivered {
                let start = seq.saturating_sub(data.len() as u64);
                if seq <= delivered {
                    return Ok(None); // the client has all of it
                }
                if start < delivered {
                    data.drain(..(delivered - start) as usize);
                }
            }
            relay.delivered = Some(seq);
            out.send(&ServerMsg::Output { seq, data }).await?;
        }
        ServerMsg::Redraw { seq, data } => {
            relay.delivered = Some(seq);
            out.send(&ServerMsg::Redraw { seq, data }).await?;
        }
        msg @ (ServerMsg::Exit { .. } | ServerMsg::Closing { .. }) => {
            out.send(&msg).await?;
            return Ok(Some(Cut::End(End::Closed)));
        }
        ServerMsg::Detached => {
            out.send(&ServerMsg::Detached).await?;
            return Ok(Some(Cut::End(End::Detached)));
        }
        ServerMsg::Error { message } if relay.session.is_none() => {
            out.send(&ServerMsg::Error { message }).await?;
            return Ok(Some(Cut::End(End::Detached)));
        }
        // A resume refused: the session ended (or was removed) while the link was down,
        // and its exit status went with it.
        ServerMsg::Error { message } => {
            let message =
                format!("the session ended while the machine was unreachable ({message})");
            out.send(&ServerMsg::Error { message }).await?;
            return Ok(Some(Cut::End(End::Closed)));
        }
        other => out.send(&other).await?,
    }
    Ok(None)
}

/// Streams another machine's server log (`Logs`) on a connection of its own until it ends
/// (`Done` without `follow`), the client closes, or the machine is lost.
pub async fn logs(
    link: Arc<Link>,
    follow: bool,
    incoming: &mut Reader,
    out: &mut Writer,
) -> anyhow::Result<End> {
    let lost = |why: &str| ServerMsg::Error {
        message: format!("machine {}: {why}", link.name),
    };
    let mut remote = match link.open().await {
        Ok(remote) => remote,
        Err(e) => {
            out.send(&lost(e.message())).await?;
            return Ok(End::Detached);
        }
    };
    let request = ClientMsg::Logs {
        machine: itwillsync_protocol::LOCAL_MACHINE.into(),
        follow,
    };
    if remote.to.send(&request).await.is_err() {
        out.send(&lost(&remote.why_gone("ssh exited").await))
            .await?;
        return Ok(End::Detached);
    }
    loop {
        tokio::select! {
            frame = remote.from.next() => match frame {
                Some(Ok(msg @ ServerMsg::Log { .. })) => out.send(&msg).await?,
                Some(Ok(msg @ (ServerMsg::Done | ServerMsg::Error { .. }))) => {
                    out.send(&msg).await?;
                    return Ok(End::Detached);
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    out.send(&lost(&e.to_string())).await?;
                    return Ok(End::Detached);
                }
                None => {
                    out.send(&lost(&remote.why_gone("ssh exited").await)).await?;
                    return Ok(End::Detached);
                }
            },
            msg = incoming.recv() => if msg.is_none() {
                return Ok(End::Closed);
            },
        }
    }
}
