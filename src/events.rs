//! `itwillsync events` (lifecycle events as JSON lines, for scripts) and `itwillsync wait
//! NAME --for exit|attention` (exits 0 when it happens, 1 on timeout), both on the
//! server's `Subscribe` stream, which carries other machines' events too (`wait
//! MACHINE:NAME`).

use std::io::Write;
use std::time::Duration;

use anyhow::bail;
use itwillsync_client::Connection;
use itwillsync_protocol::text::escape;
use itwillsync_protocol::{ClientMsg, Event, EventKind, ServerMsg, Status};
use itwillsync_server::Home;

use crate::cli::WaitFor;

/// One event as a JSON line's object.
pub fn json(event: &Event) -> serde_json::Value {
    serde_json::json!({
        "event": event.kind.as_str(),
        "at": event.at_ms,
        "machine": event.machine,
        "session": event.session,
        "name": event.name,
        "message": event.message,
        "status": event.status.map(|s| s.code),
        "signal": event.status.and_then(|s| s.signal),
    })
}

/// Subscribes; the connection then carries only events.
async fn subscribe(home: &Home) -> anyhow::Result<Connection> {
    let Some(mut conn) = itwillsync_client::connect(&home.socket()).await? else {
        bail!("no server is running (start one with `itwillsync new`)");
    };
    match conn.request(&ClientMsg::Subscribe).await? {
        ServerMsg::Subscribed => Ok(conn),
        other => bail!("unexpected reply to subscribe: {other:?}"),
    }
}

/// The next event, or `None` when the server stops.
async fn next(conn: &mut Connection) -> anyhow::Result<Option<Event>> {
    loop {
        match conn.recv().await {
            Ok(ServerMsg::Event { event }) => return Ok(Some(event)),
            Ok(ServerMsg::Warning { message }) => {
                eprintln!("itwillsync: warning: {}", escape(&message))
            }
            Ok(ServerMsg::Closing { .. }) | Err(_) => return Ok(None),
            Ok(other) => bail!("unexpected message in the event stream: {other:?}"),
        }
    }
}

/// `events`: prints every event matching the filters until the server stops.
pub async fn print(
    home: &Home,
    machine: Option<&str>,
    session: Option<&str>,
) -> anyhow::Result<i32> {
    let mut conn = subscribe(home).await?;
    let mut out = std::io::stdout();
    while let Some(event) = next(&mut conn).await? {
        if machine.is_some_and(|m| m != event.machine) {
            continue;
        }
        let about =
            |s: &str| event.session.as_deref() == Some(s) || event.name.as_deref() == Some(s);
        if session.is_some_and(|s| !about(s)) {
            continue;
        }
        writeln!(out, "{}", json(&event))?;
        out.flush()?;
    }
    Ok(0)
}

/// `wait`: 0 when `target` exits (or needs attention), 1 on timeout or when the session
/// ends without the attention asked for.
pub async fn wait(
    home: &Home,
    target: &str,
    what: WaitFor,
    timeout: Option<u64>,
) -> anyhow::Result<i32> {
    let mut conn = subscribe(home).await?;
    // Subscribed first, then looked up: nothing that happens in between is missed.
    let Some(mut lookup) = itwillsync_client::connect(&home.socket()).await? else {
        bail!("the server went away");
    };
    let info = match lookup
        .request(&ClientMsg::Info {
            target: Some(target.to_string()),
        })
        .await?
    {
        ServerMsg::Session { session } => session,
        other => bail!("unexpected reply to info: {other:?}"),
    };
    // `MACHINE:NAME` is a session there; its events carry that machine's name.
    let machine = match target.split_once(':') {
        Some((machine, _)) => machine,
        None => itwillsync_protocol::LOCAL_MACHINE,
    };
    if what == WaitFor::Attention && info.status == Status::Attention {
        println!("{} needs attention", escape(&info.name));
        return Ok(0);
    }
    let thing = match what {
        WaitFor::Exit => "exit",
        WaitFor::Attention => "need attention",
    };
    eprintln!("itwillsync: waiting for {} to {thing}", escape(&info.name));
    let watch = async {
        while let Some(event) = next(&mut conn).await? {
            if event.session.as_deref() != Some(info.id.as_str()) || event.machine != machine {
                continue;
            }
            match (what, event.kind) {
                (WaitFor::Exit, EventKind::SessionExited) => {
                    let code = event.status.map_or(0, |s| s.code);
                    println!("{} exited with status {code}", escape(&info.name));
                    return Ok(0);
                }
                (WaitFor::Attention, EventKind::AttentionRaised) => {
                    let message = event.message.unwrap_or_else(|| "bell".into());
                    println!("{}: {}", escape(&info.name), escape(&message));
                    return Ok(0);
                }
                (WaitFor::Attention, EventKind::SessionExited) => {
                    eprintln!(
                        "itwillsync: {} exited without asking for attention",
                        escape(&info.name)
                    );
                    return Ok(1);
                }
                _ => {}
            }
        }
        bail!("the server stopped")
    };
    match timeout {
        Some(secs) => match tokio::time::timeout(Duration::from_secs(secs), watch).await {
            Ok(result) => result,
            Err(_) => {
                eprintln!("itwillsync: timed out after {secs} s");
                Ok(1)
            }
        },
        None => watch.await,
    }
}
