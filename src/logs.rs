//! `itwillsync logs [-f]`: the server's log (`$ITWILLSYNC_HOME/server.log`), and with
//! `-f` what is added to it, as `tail -f` does (a log that is rotated or truncated is
//! followed into its new file; `server::log_tail`). `--machine M` asks this machine's
//! server for machine M's log, which it streams through M's link (`Logs`).

use std::io::Write;
use std::time::Duration;

use anyhow::{bail, Context};
use itwillsync_protocol::{ClientMsg, ServerMsg};
use itwillsync_server::log_tail::Tail;
use itwillsync_server::Home;

/// How often a followed log is looked at again.
const POLL: Duration = Duration::from_millis(200);

/// Prints this machine's log, then (with `follow`) what is added until interrupted. The
/// file is read directly: it works without a running server.
pub fn run(home: &Home, follow: bool) -> anyhow::Result<i32> {
    let path = home.server_log();
    let mut tail = match Tail::open(path.clone(), follow) {
        Ok(tail) => tail,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("no server log yet at {}", path.display())
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut out = std::io::stdout().lock();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        if tail.read(&mut buf)? > 0 {
            out.write_all(&buf)?;
            continue;
        }
        out.flush()?;
        if !follow {
            return Ok(0);
        }
        std::thread::sleep(POLL);
        tail.reopen_if_replaced()?;
    }
}

/// `logs --machine M`: machine M's log through this machine's server.
pub async fn remote(home: &Home, machine: String, follow: bool) -> anyhow::Result<i32> {
    let Some(mut conn) = itwillsync_client::connect(&home.socket()).await? else {
        bail!("no server is running, so no machine link (start one with `itwillsync machine ls`)");
    };
    conn.send(&ClientMsg::Logs { machine, follow }).await?;
    let mut out = std::io::stdout();
    loop {
        match conn.recv().await? {
            ServerMsg::Log { data } => {
                out.write_all(&data)?;
                out.flush()?;
            }
            ServerMsg::Done => return Ok(0),
            ServerMsg::Error { message } => bail!("{message}"),
            ServerMsg::Closing { .. } => return Ok(0),
            _ => {}
        }
    }
}
