//! `itwillsync machine add NAME DEST | ls | rm NAME`: the other machines this one reaches
//! over OpenSSH (DESIGN.md "Machines"), kept in `$ITWILLSYNC_HOME/machines.json` (0600).
//!
//! A machine is reached as `ssh -T -o BatchMode=yes DEST itwillsync bridge` (the ssh
//! command replaced by `ITWILLSYNC_SSH_COMMAND`, as git does with `GIT_SSH_COMMAND`), which
//! joins the local protocol to that machine's server. Until the server keeps a link to
//! each machine, `machine ls` probes them itself: it connects, checks the protocol version
//! and counts the sessions.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context};
use itwillsync_protocol::codec::{read_frame_async, write_frame_async};
use itwillsync_protocol::preamble::{self, PreambleError};
use itwillsync_protocol::text::escape;
use itwillsync_protocol::{ClientMsg, ServerMsg};
use itwillsync_server::Home;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::cli::MachineAction;

/// How long a probe may take (ssh's own connection, the remote server's start included).
const PROBE_TIMEOUT: Duration = Duration::from_secs(20);

/// One machine.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Machine {
    name: String,
    dest: String,
}

fn file(home: &Home) -> PathBuf {
    home.dir().join("machines.json")
}

fn load(home: &Home) -> anyhow::Result<Vec<Machine>> {
    let path = file(home);
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).with_context(|| format!("{}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn save(home: &Home, machines: &[Machine]) -> anyhow::Result<()> {
    home.create()?;
    let text = serde_json::to_string_pretty(machines)?;
    itwillsync_server::home::write_private(&file(home), text.as_bytes())
}

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
            println!("added {name}; `itwillsync machine ls` checks that it answers");
            Ok(0)
        }
        MachineAction::Rm { name } => {
            let before = machines.len();
            machines.retain(|m| m.name != name);
            if machines.len() == before {
                bail!("no machine named {}", escape(&format!("{name:?}")));
            }
            save(home, &machines)?;
            println!("removed {name}");
            Ok(0)
        }
        MachineAction::Ls => {
            // Probed side by side: an offline machine costs its timeout once, not per row.
            let probes: Vec<_> = machines
                .iter()
                .map(|m| {
                    let dest = m.dest.clone();
                    tokio::spawn(async move { probe(&dest).await })
                })
                .collect();
            let mut rows = Vec::new();
            for (m, probe) in machines.iter().zip(probes) {
                let state = probe.await.context("a probe failed")?;
                let (state, sessions) = match state {
                    Ok(n) => ("online".to_string(), n.to_string()),
                    Err(e) => (format!("{e:#}"), "-".into()),
                };
                let (dest, state) = (escape(&m.dest).into_owned(), escape(&state).into_owned());
                rows.push(vec![m.name.clone(), dest, state, sessions]);
            }
            print!(
                "{}",
                crate::table::render(&["NAME", "DEST", "STATE", "SESSIONS"], rows)
            );
            Ok(0)
        }
    }
}

/// The ssh command line for `dest` running `itwillsync bridge` there.
fn ssh(dest: &str) -> tokio::process::Command {
    let ssh = std::env::var("ITWILLSYNC_SSH_COMMAND").unwrap_or_else(|_| "ssh".into());
    let mut cmd = tokio::process::Command::new("sh");
    // Like GIT_SSH_COMMAND, the variable is a shell command line; the destination and
    // the remote command are arguments, never spliced into it.
    cmd.arg("-c")
        // `exec`, so the child is ssh itself: killing it ends the connection.
        .arg(format!("exec {ssh} -T -o BatchMode=yes \"$@\""))
        .args(["itwillsync-ssh", dest, "itwillsync", "bridge"]);
    cmd
}

/// Connects to `dest`'s server through ssh and the bridge: its session count, or why not.
async fn probe(dest: &str) -> anyhow::Result<usize> {
    let mut child = ssh(dest)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("offline (cannot run ssh)")?;
    let (mut to, mut from) = (child.stdin.take().unwrap(), child.stdout.take().unwrap());
    let talk = async {
        to.write_all(&preamble::encode()).await?;
        write_frame_async(&mut to, &ClientMsg::List).await?;
        let mut theirs = [0u8; preamble::LEN];
        from.read_exact(&mut theirs).await?;
        match preamble::check(&theirs) {
            Err(PreambleError::VersionMismatch { theirs, .. }) => {
                bail!("needs upgrade (it speaks protocol {theirs})")
            }
            other => other?,
        }
        match read_frame_async::<ServerMsg>(&mut from).await? {
            Some(ServerMsg::Sessions { sessions }) => Ok(sessions.len()),
            other => bail!("unexpected answer {other:?}"),
        }
    };
    let result = tokio::time::timeout(PROBE_TIMEOUT, talk).await;
    drop((to, from));
    let _ = child.start_kill();
    let output = tokio::time::timeout(Duration::from_secs(5), child.wait_with_output()).await;
    let output = output.map_err(std::io::Error::other).and_then(|o| o);
    match result {
        Ok(Ok(n)) => Ok(n),
        Ok(Err(e)) if e.to_string().starts_with("needs upgrade") => Err(e),
        Ok(Err(_)) => {
            let stderr = output.map(|o| o.stderr).unwrap_or_default();
            let why = String::from_utf8_lossy(&stderr);
            let why = why
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("no answer");
            bail!("offline ({})", why.trim())
        }
        Err(_) => bail!("offline (no answer in {} s)", PROBE_TIMEOUT.as_secs()),
    }
}
