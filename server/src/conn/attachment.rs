//! Where an attaching request lands and how it runs: a session of this server, or the
//! mirror of another machine's (`mirrors.rs`), attached to alike (`attach.rs`).

use std::sync::Arc;

use itwillsync_protocol::{ClientMsg, Size};

use super::{error, Reader, Shared, Writer};
use crate::attach;
use crate::session::Session;

/// The session a `Follow` resumes: a local one (live, or ended in the last minutes), or,
/// by its bare id, another machine's
/// that this server mirrored before it was handed over (its clients resume by the id the
/// mirror gave them; the mirror is made again).
pub(super) async fn followed(
    ctx: &Shared,
    target: String,
    read_only: bool,
    size: Size,
) -> anyhow::Result<Arc<Session>> {
    let here = ctx.registry.find(&target);
    if here.is_ok() {
        return here;
    }
    // A session that ended while its client was away (a machine link cut during the
    // program's end): the output it missed and the exit status.
    if let Some(ended) = ctx.registry.find_ended(&target) {
        return Ok(ended);
    }
    let Some(link) = ctx.machines.holding(&target).await else {
        return here;
    };
    let request = ClientMsg::Attach {
        target: Some(target),
        read_only,
        size,
    };
    ctx.mirrors.open(link, request).await
}

/// What attaching to a session asked for: read-only, size, and the seq to resume after.
pub(super) type Asked = (Arc<Session>, bool, Size, Option<u64>);

/// Runs an attachment to a session found (or the error finding it).
pub(super) async fn attach_to(
    attachment: anyhow::Result<Asked>,
    terminal: Option<crate::tty::Tty>,
    incoming: &mut Reader,
    out: &mut Writer,
    ctx: &Shared,
) -> anyhow::Result<attach::End> {
    match attachment {
        Ok((session, read_only, size, resume)) => {
            let attachment = attach::Attachment {
                read_only,
                size,
                resume,
                leaving: ctx.handover.leaving(),
                terminal,
            };
            attach::run(session, attachment, incoming, out, &ctx.shutdown).await
        }
        Err(e) => {
            out.send(&error(e)).await?;
            Ok(attach::End::Detached)
        }
    }
}

/// An attaching request's read-only flag, size and resume position.
pub(super) fn attachment_of(msg: &ClientMsg) -> (bool, Size, Option<u64>) {
    match msg {
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
        _ => (true, Size { cols: 80, rows: 24 }, None),
    }
}
