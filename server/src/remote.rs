//! Another machine's server log (`Logs`) relayed to a local client, on an ssh connection
//! of its own. Attachments to other machines' sessions go through their mirrors
//! (`session/mirror.rs`), not through here.

use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use itwillsync_protocol::{ClientMsg, ServerMsg};

use crate::attach::End;
use crate::conn::{Reader, Writer};
use crate::machines::Link;

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
