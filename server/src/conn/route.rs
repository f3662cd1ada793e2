//! Where a request goes: this server, or another machine's through its link. A target
//! `MACHINE:TARGET` (session names cannot contain `:`) of `Kill`, `Rename`, `Info`,
//! `Link`, `Attach` and `Follow`, a `NewOn` and a `Logs` for another machine are passed on
//! with `MACHINE:` taken off (`NewOn` as `New`); `local:` and everything else stay here.

use std::sync::Arc;

use itwillsync_protocol::ClientMsg;

use super::Shared;

/// Where a request goes.
pub(super) enum Routed {
    /// This server answers it.
    Here(ClientMsg),
    /// Another machine does, through its link: the request with `MACHINE:` taken off its
    /// target (`NewOn` becomes `New`).
    There(Arc<crate::machines::Link>, ClientMsg),
}

/// Routes requests whose target is `MACHINE:TARGET` (and `NewOn`) to that machine.
pub(super) fn remote(ctx: &Shared, msg: ClientMsg) -> anyhow::Result<Routed> {
    let machines = &ctx.machines;
    let split = |target: &str| -> anyhow::Result<Option<(Arc<crate::machines::Link>, String)>> {
        Ok(machines
            .split(target)?
            .map(|(link, rest)| (link, rest.to_string())))
    };
    let there = |link, msg| Ok(Routed::There(link, msg));
    match msg {
        ClientMsg::NewOn {
            machine,
            spec,
            attach,
        } => {
            let msg = ClientMsg::New { spec, attach };
            if machine == crate::events::LOCAL {
                return Ok(Routed::Here(msg));
            }
            there(machines.get(&machine)?, msg)
        }
        ClientMsg::Attach {
            target: Some(target),
            read_only,
            size,
        } => match split(&target)? {
            Some((link, target)) => there(
                link,
                ClientMsg::Attach {
                    target: Some(target),
                    read_only,
                    size,
                },
            ),
            None => Ok(Routed::Here(ClientMsg::Attach {
                target: Some(target),
                read_only,
                size,
            })),
        },
        ClientMsg::Follow {
            target,
            read_only,
            size,
            from_seq,
        } => match split(&target)? {
            Some((link, target)) => there(
                link,
                ClientMsg::Follow {
                    target,
                    read_only,
                    size,
                    from_seq,
                },
            ),
            None => Ok(Routed::Here(ClientMsg::Follow {
                target,
                read_only,
                size,
                from_seq,
            })),
        },
        ClientMsg::Kill { target, signal } => match split(&target)? {
            Some((link, target)) => there(link, ClientMsg::Kill { target, signal }),
            None => Ok(Routed::Here(ClientMsg::Kill { target, signal })),
        },
        ClientMsg::Rename { target, name } => match split(&target)? {
            Some((link, target)) => there(link, ClientMsg::Rename { target, name }),
            None => Ok(Routed::Here(ClientMsg::Rename { target, name })),
        },
        ClientMsg::Info {
            target: Some(target),
        } => match split(&target)? {
            Some((link, target)) => there(
                link,
                ClientMsg::Info {
                    target: Some(target),
                },
            ),
            None => Ok(Routed::Here(ClientMsg::Info {
                target: Some(target),
            })),
        },
        ClientMsg::Link {
            target,
            read_only,
            rotate,
        } => match split(&target)? {
            Some((link, target)) => there(
                link,
                ClientMsg::Link {
                    target,
                    read_only,
                    rotate,
                },
            ),
            None => Ok(Routed::Here(ClientMsg::Link {
                target,
                read_only,
                rotate,
            })),
        },
        ClientMsg::Logs { machine, follow } if machine != crate::events::LOCAL => {
            Ok(Routed::There(
                machines.get(&machine)?,
                ClientMsg::Logs {
                    machine: crate::events::LOCAL.into(),
                    follow,
                },
            ))
        }
        other => Ok(Routed::Here(other)),
    }
}

/// Whether a request makes the connection an attachment.
pub(super) fn is_attachment(msg: &ClientMsg) -> bool {
    matches!(
        msg,
        ClientMsg::Attach { .. }
            | ClientMsg::Follow { .. }
            | ClientMsg::New { attach: true, .. }
            | ClientMsg::Logs { .. }
    )
}
