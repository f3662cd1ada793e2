//! `itwillsync logs [-f]`: the server's log (`$ITWILLSYNC_HOME/server.log`), and with
//! `-f` what is added to it, as `tail -f` does (a log that is rotated or truncated is
//! followed into its new file; `server::log_tail`). `--machine M` asks this machine's
//! server for machine M's log, which it streams through M's link (`Logs`).

use std::io::Write;
use std::time::Duration;

use anyhow::{bail, Context};
use itwillsync_protocol::text::escape;
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

/// One machine's log as `Logs` streams it, for [`all`].
enum Piece {
    /// Whole lines.
    Lines(Vec<u8>),
    /// The log ended (`Done`, without `follow`).
    Done,
    /// The machine's log cannot be read (offline, no log yet): why.
    Failed(String),
}

/// `logs --all`: this machine's log and every other machine's, each line after its
/// machine's name (padded, as `docker compose logs` does). Without `follow` one machine
/// after another, local first; with it, lines as they arrive from any machine. A machine
/// whose log cannot be read is reported on stderr and the others go on; the exit code is
/// then 1.
pub async fn all(home: &Home, follow: bool) -> anyhow::Result<i32> {
    let Some(mut conn) = itwillsync_client::connect(&home.socket()).await? else {
        bail!("no server is running, so no machine link (start one with `itwillsync machine ls`)");
    };
    let mut names = vec![itwillsync_protocol::LOCAL_MACHINE.to_string()];
    names.extend(
        crate::machines::fetch(&mut conn, false)
            .await?
            .into_iter()
            .map(|m| m.name),
    );
    let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(usize, Piece)>(64);
    let spawn = |index: usize| {
        let (tx, name, socket) = (tx.clone(), names[index].clone(), home.socket());
        tokio::spawn(async move {
            let sent = stream(&socket, name, follow, |piece| {
                let tx = tx.clone();
                async move { tx.send((index, piece)).await.is_ok() }
            });
            if let Err(e) = sent.await {
                let _ = tx.send((index, Piece::Failed(format!("{e:#}")))).await;
            }
        });
    };
    // With `follow` every log at once; without, one machine's after the other's end. Each
    // stream ends with exactly one `Done` or `Failed`.
    let mut started = if follow { names.len() } else { 1 };
    (0..started).for_each(spawn);
    let (mut ended, mut failed) = (0, false);
    let mut out = std::io::stdout();
    while ended < names.len() {
        let Some((i, piece)) = rx.recv().await else {
            break;
        };
        match piece {
            Piece::Lines(data) => print_lines(&mut out, &names[i], width, &data)?,
            Piece::Done | Piece::Failed(_) => {
                if let Piece::Failed(why) = piece {
                    eprintln!("itwillsync: {}: {}", escape(&names[i]), escape(&why));
                    failed = true;
                }
                ended += 1;
                if started < names.len() {
                    spawn(started);
                    started += 1;
                }
            }
        }
        out.flush()?;
    }
    Ok(i32::from(failed))
}

/// Streams `machine`'s log through the server at `socket`, handing each piece to `sink`
/// until it returns false or the log ends.
async fn stream<F, Fut>(
    socket: &std::path::Path,
    machine: String,
    follow: bool,
    sink: F,
) -> anyhow::Result<()>
where
    F: Fn(Piece) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let Some(mut conn) = itwillsync_client::connect(socket).await? else {
        bail!("the server stopped");
    };
    conn.send(&ClientMsg::Logs { machine, follow }).await?;
    loop {
        let piece = match conn.recv().await? {
            ServerMsg::Log { data } => Piece::Lines(data),
            ServerMsg::Done | ServerMsg::Closing { .. } => Piece::Done,
            ServerMsg::Error { message } => Piece::Failed(message),
            _ => continue,
        };
        let last = !matches!(piece, Piece::Lines(_));
        if !sink(piece).await || last {
            return Ok(());
        }
    }
}

/// Writes whole lines of `machine`'s log, each after the name padded to `width`.
fn print_lines(
    out: &mut impl Write,
    machine: &str,
    width: usize,
    data: &[u8],
) -> std::io::Result<()> {
    let name = escape(machine);
    for line in data.split_inclusive(|&b| b == b'\n') {
        write!(out, "{name:<width$} | ")?;
        out.write_all(line)?;
        if !line.ends_with(b"\n") {
            out.write_all(b"\n")?;
        }
    }
    Ok(())
}
