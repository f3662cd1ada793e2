//! `itwillsync machine add NAME DEST | ls | rm NAME`: the other machines this one reaches
//! over OpenSSH (DESIGN.md "Machines"), kept in `$ITWILLSYNC_HOME/machines.json` (0600).
//!
//! The server keeps a link to each machine (`server/src/machines.rs`: `ssh -T -o
//! BatchMode=yes DEST itwillsync bridge`, the ssh command replaced by
//! `ITWILLSYNC_SSH_COMMAND` as git does with `GIT_SSH_COMMAND`). `add` and `rm` tell a
//! running server to re-read the file; `ls` asks the server (starting it, so the links
//! start) for each link's state, session count and when the machine last answered.

use anyhow::{bail, Context};
use itwillsync_client::{connect, connect_or_start};
use itwillsync_protocol::text::escape;
use itwillsync_protocol::{ClientMsg, MachineInfo, ServerMsg};
use itwillsync_server::machines::{load, save, Machine};
use itwillsync_server::Home;

use crate::cli::MachineAction;

/// A machine name: what `MACHINE:NAME` can carry and a terminal shows as is.
fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if !ok {
        bail!(
            "{} is not a machine name (1 to 32 letters, digits, '-', '_' or '.')",
            escape(&format!("{name:?}"))
        );
    }
    if name == "local" {
        bail!("\"local\" is this machine's name");
    }
    Ok(())
}

/// Runs one `machine` action.
pub async fn run(action: MachineAction, home: &Home) -> anyhow::Result<i32> {
    let mut machines = load(home)?;
    match action {
        MachineAction::Add { name, dest } => {
            check_name(&name)?;
            if dest.is_empty() || dest.starts_with('-') || dest.chars().any(char::is_whitespace) {
                bail!("{} is not an ssh destination", escape(&format!("{dest:?}")));
            }
            if machines.iter().any(|m| m.name == name) {
                bail!("a machine named {name:?} already exists (machine rm it first)");
            }
            machines.push(Machine {
                name: name.clone(),
                dest,
            });
            save(home, &machines)?;
            reload(home).await?;
            println!("added {name}; `itwillsync machine ls` shows whether it answers");
            Ok(0)
        }
        MachineAction::Rm { name } => {
            let before = machines.len();
            machines.retain(|m| m.name != name);
            if machines.len() == before {
                bail!("no machine named {}", escape(&format!("{name:?}")));
            }
            save(home, &machines)?;
            reload(home).await?;
            println!("removed {name}");
            Ok(0)
        }
        MachineAction::Ls => {
            let exe = std::env::current_exe().context("cannot find this program's path")?;
            let mut conn = connect_or_start(&home.socket(), &exe).await?;
            let machines = fetch(&mut conn, false).await?;
            let rows = machines.iter().map(row).collect();
            print!(
                "{}",
                crate::table::render(&["NAME", "DEST", "STATE", "SESSIONS", "LAST-SEEN"], rows)
            );
            Ok(0)
        }
    }
}

/// Tells a running server that `machines.json` changed.
async fn reload(home: &Home) -> anyhow::Result<()> {
    if let Some(mut conn) = connect(&home.socket()).await? {
        fetch(&mut conn, true).await?;
    }
    Ok(())
}

/// The server's machines, after it re-read the file when `reload`.
pub async fn fetch(
    conn: &mut itwillsync_client::Connection,
    reload: bool,
) -> anyhow::Result<Vec<MachineInfo>> {
    match conn.request(&ClientMsg::Machines { reload }).await? {
        ServerMsg::Machines { machines } => Ok(machines),
        other => bail!("unexpected reply to machines: {other:?}"),
    }
}

/// One `machine ls` row (`table::render` escapes every cell).
fn row(m: &MachineInfo) -> Vec<String> {
    let state = match &m.detail {
        Some(why) => format!("{} ({why})", m.state.as_str()),
        None => m.state.as_str().to_string(),
    };
    let seen = m
        .last_seen_ms
        .map(|ms| format!("{} ago", crate::table::uptime(ms)))
        .unwrap_or_else(|| "never".into());
    vec![
        m.name.clone(),
        m.dest.clone(),
        state,
        m.sessions.len().to_string(),
        seen,
    ]
}
