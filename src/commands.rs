//! What each subcommand does, on top of the client library. Each returns the process's
//! exit code; errors are returned and printed as one line by `main`.

use anyhow::{bail, Context};
use itwillsync_client::{
    attach, connect, connect_or_start, wait_for_key, Connection, Outcome, Proceed,
};
use itwillsync_protocol::text::{check_name, escape};
use itwillsync_protocol::{ClientMsg, NewSession, ServerMsg, SessionInfo};
use itwillsync_server::{Config, Home};

use crate::cli::{Command, HubAction, NewArgs, ServerAction};
use crate::table;

/// Runs one subcommand (other than `server` and `completions`, which need no runtime).
pub async fn run(command: Command, home: &Home) -> anyhow::Result<i32> {
    if !matches!(command, Command::Bridge | Command::Server { .. }) {
        hint_upgrade(home);
    }
    match command {
        Command::New(args) => new(args, home).await,
        Command::Attach { target, read_only } => {
            let config = load_config(home)?;
            let conn = require_server(home).await?;
            let size = itwillsync_client::terminal_size();
            attach_and_report(
                conn,
                ClientMsg::Attach {
                    target,
                    read_only,
                    size,
                },
                &config,
            )
            .await
        }
        Command::Ls { json } => {
            let Some(mut conn) = connect(&home.socket()).await? else {
                if json {
                    println!("[]");
                }
                return Ok(0);
            };
            let local = list(&mut conn).await?;
            let machines = crate::machines::fetch(&mut conn, false).await?;
            let rows = table::Listed::all(&local, &machines);
            if json {
                println!("{}", serde_json::to_string_pretty(&table::json(&rows))?);
            } else if !rows.is_empty() {
                print!("{}", table::sessions(&rows, !machines.is_empty()));
            }
            Ok(0)
        }
        Command::Kill { target, signal } => {
            let signal = signal.as_deref().map(parse_signal).transpose()?;
            let mut conn = require_server(home).await?;
            conn.request(&ClientMsg::Kill { target, signal }).await?;
            Ok(0)
        }
        Command::Rename { target, new_name } => {
            let mut conn = require_server(home).await?;
            conn.request(&ClientMsg::Rename {
                target,
                name: new_name,
            })
            .await?;
            Ok(0)
        }
        Command::Url {
            target,
            qr,
            read_only,
            rotate,
        } => {
            let mut conn = require_server(home).await?;
            let request = ClientMsg::Link {
                target,
                read_only,
                rotate,
            };
            let ServerMsg::Link { url } = conn.request(&request).await? else {
                bail!("unexpected reply to url");
            };
            if rotate {
                eprintln!("the old link no longer works; its clients were disconnected");
            }
            if qr {
                println!("{}", crate::qr::render(&url)?);
            }
            println!("{}", escape(&url));
            Ok(0)
        }
        Command::Machine { action } => crate::machines::run(action, home).await,
        Command::Bridge => {
            let exe = std::env::current_exe().context("cannot find this program's path")?;
            itwillsync_client::bridge(&home.socket(), &exe).await?;
            Ok(0)
        }
        Command::Events { machine, session } => {
            crate::events::print(home, machine.as_deref(), session.as_deref()).await
        }
        Command::Wait {
            target,
            what,
            timeout,
        } => crate::events::wait(home, &target, what, timeout).await,
        Command::Hub { action } => hub(action.unwrap_or(HubAction::Info), home).await,
        Command::Logs {
            follow, all: true, ..
        } => crate::logs::all(home, follow).await,
        Command::Logs {
            follow,
            machine: Some(machine),
            ..
        } => crate::logs::remote(home, machine, follow).await,
        Command::Server {
            action: Some(ServerAction::Upgrade { binary }),
            ..
        } => upgrade(home, binary).await,
        Command::Server { .. }
        | Command::Completions { .. }
        | Command::Setup { .. }
        | Command::Service { .. }
        | Command::Logs {
            machine: None,
            all: false,
            ..
        } => bail!("handled by main"),
    }
}

/// When the running server (its `hub.json`) is older than this binary: one line on
/// stderr saying that `itwillsync server upgrade` moves the sessions to this version.
fn hint_upgrade(home: &Home) {
    let Ok(text) = std::fs::read_to_string(home.hub_json()) else {
        return;
    };
    let Ok(hub) = serde_json::from_str::<serde_json::Value>(&text) else {
        return;
    };
    let Some(theirs) = hub["version"].as_str() else {
        return;
    };
    let ours = env!("CARGO_PKG_VERSION");
    if older(theirs, ours) {
        eprintln!(
            "itwillsync: the running server is version {}, this is {ours}: \
             `itwillsync server upgrade` moves the sessions to {ours}",
            escape(theirs)
        );
    }
}

/// Whether version `a` is older than `b` (dot-separated numbers; a pre-release suffix
/// after `-` is ignored).
fn older(a: &str, b: &str) -> bool {
    let parts = |v: &str| -> Option<Vec<u64>> {
        let core = v.split(['-', '+']).next()?;
        core.split('.').map(|n| n.parse().ok()).collect()
    };
    match (parts(a), parts(b)) {
        (Some(a), Some(b)) => a < b,
        _ => false,
    }
}

/// Reads config.json; each unknown key is a warning line on stderr.
pub fn load_config(home: &Home) -> anyhow::Result<Config> {
    let (config, warnings) = Config::load_with_warnings(&home.config())?;
    for warning in warnings {
        eprintln!("itwillsync: warning: {}", escape(&warning));
    }
    Ok(config)
}

async fn require_server(home: &Home) -> anyhow::Result<Connection> {
    connect(&home.socket()).await?.with_context(|| {
        format!(
            "no server is running (state directory {})",
            home.dir().display()
        )
    })
}

/// The running server's facts.
async fn hub_info(conn: &mut Connection) -> anyhow::Result<itwillsync_protocol::HubInfo> {
    match conn.request(&ClientMsg::Info { target: None }).await? {
        ServerMsg::Hub { hub } => Ok(hub),
        other => bail!("unexpected reply to info: {other:?}"),
    }
}

/// `server upgrade`: the running server hands its sessions over to `binary` (by default
/// this binary's installed file) under the same pid; prints what runs now.
async fn upgrade(home: &Home, binary: Option<std::path::PathBuf>) -> anyhow::Result<i32> {
    let mut conn = require_server(home).await?;
    let before = hub_info(&mut conn).await?;
    let binary = match binary {
        Some(path) => Some(
            std::path::absolute(&path)
                .with_context(|| format!("cannot resolve {}", path.display()))?
                .to_string_lossy()
                .into_owned(),
        ),
        None => None,
    };
    conn.send(&ClientMsg::Upgrade { binary }).await?;
    loop {
        match conn.recv().await {
            Ok(ServerMsg::HandOver { .. }) => {}
            Ok(ServerMsg::Warning { message }) => {
                eprintln!("itwillsync: warning: {}", escape(&message))
            }
            Ok(ServerMsg::Error { message }) => {
                bail!(
                    "{message}; the server keeps running (version {})",
                    before.version
                )
            }
            Ok(other) => bail!("unexpected reply to upgrade: {other:?}"),
            // The exec closed the connection: the new binary answers next.
            Err(_) => break,
        }
    }
    let mut conn = conn
        .reconnect()
        .await
        .context("the server did not come back after the upgrade; see server.log")?;
    let after = hub_info(&mut conn).await?;
    if after.pid != before.pid {
        bail!(
            "another server (pid {}) answers now: the sessions of pid {} were lost",
            after.pid,
            before.pid
        );
    }
    println!(
        "server pid {} now runs itwillsync {} (was {}); {} of {} sessions kept",
        after.pid,
        escape(&after.version),
        escape(&before.version),
        after.sessions.len(),
        before.sessions.len()
    );
    Ok(0)
}

async fn list(conn: &mut Connection) -> anyhow::Result<Vec<SessionInfo>> {
    match conn.request(&ClientMsg::List).await? {
        ServerMsg::Sessions { sessions } => Ok(sessions),
        other => bail!("unexpected reply to list: {other:?}"),
    }
}

async fn new(args: NewArgs, home: &Home) -> anyhow::Result<i32> {
    let config = load_config(home)?;
    if let Some(name) = &args.name {
        // The server checks it too; checked here, a bad name starts no server.
        check_name(name)?;
    }
    let spec = match &args.on {
        // Another machine's program, directory and environment are that machine's: its
        // server fills in what is left empty.
        Some(_) => NewSession {
            name: args.name.clone(),
            command: args.command.clone(),
            cwd: args
                .cwd
                .as_ref()
                .map(|d| d.to_string_lossy().into_owned())
                .unwrap_or_default(),
            env: Vec::new(),
            size: itwillsync_client::terminal_size(),
            port: args.port,
            networking: args.networking().map(str::to_owned),
        },
        None => local_spec(&args)?,
    };
    let wrap = |spec: NewSession, attach: bool| match &args.on {
        Some(machine) => ClientMsg::NewOn {
            machine: machine.clone(),
            spec,
            attach,
        },
        None => ClientMsg::New { spec, attach },
    };
    let exe = std::env::current_exe().context("cannot find this program's path")?;
    let mut conn = connect_or_start(&home.socket(), &exe).await?;
    if !args.detach {
        let request = wrap(spec, true);
        let no_qr = args.no_qr;
        let (detach_key, key_name) = (config.detach_byte(), config.detach_key.clone());
        let show = |s: &SessionInfo| {
            announce(s, no_qr)?;
            if s.url.is_none() || no_qr {
                return Ok(Proceed::Attach);
            }
            // The attach redraw clears the screen: keep the code up until the user is
            // done with it (`itwillsync url NAME --qr` shows it again later).
            // One line of at most 80 columns: the code, the link and this fit 24 rows.
            let prompt =
                format!("Scan it with your phone. Any key attaches; {key_name} leaves it running.");
            wait_for_key(&prompt, detach_key)
        };
        return attach_and_report_with(conn, request, &config, show).await;
    }
    let session = match conn.request(&wrap(spec, false)).await? {
        ServerMsg::Created { session } => session,
        other => bail!("unexpected reply to new: {other:?}"),
    };
    announce(&session, args.no_qr)?;
    println!("{}", session.id);
    Ok(0)
}

/// What to start on this machine: the directory checked and the program resolved here,
/// with this command's environment.
fn local_spec(args: &NewArgs) -> anyhow::Result<NewSession> {
    let cwd = match &args.cwd {
        Some(dir) => dir.clone(),
        None => std::env::current_dir().context("cannot read the current directory")?,
    };
    let cwd = std::fs::canonicalize(&cwd)
        .with_context(|| format!("no such directory: {}", cwd.display()))?;
    if !cwd.is_dir() {
        bail!("not a directory: {}", cwd.display());
    }
    let env: Vec<(String, String)> = std::env::vars().collect();
    // Checked here too so a typo neither starts a server nor leaves a session behind.
    itwillsync_server::resolve_program(&args.command[0], &env, &cwd)?;
    Ok(NewSession {
        name: args.name.clone(),
        command: args.command.clone(),
        cwd: cwd.to_string_lossy().into_owned(),
        env,
        size: itwillsync_client::terminal_size(),
        port: args.port,
        networking: args.networking().map(str::to_owned),
    })
}

/// Prints a new session's phone link (and QR code) on stderr, so stdout stays the id.
fn announce(session: &SessionInfo, no_qr: bool) -> anyhow::Result<()> {
    let Some(url) = &session.url else {
        return Ok(());
    };
    if !no_qr {
        eprintln!("{}", crate::qr::render(url)?);
    }
    eprintln!("Phone: {}", escape(url));
    Ok(())
}

async fn attach_and_report(
    conn: Connection,
    request: ClientMsg,
    config: &Config,
) -> anyhow::Result<i32> {
    attach_and_report_with(conn, request, config, |_| Ok(Proceed::Attach)).await
}

/// Attaches; `before` runs once the session is known, before the screen is taken over.
async fn attach_and_report_with(
    conn: Connection,
    request: ClientMsg,
    config: &Config,
    before: impl FnOnce(&SessionInfo) -> anyhow::Result<Proceed>,
) -> anyhow::Result<i32> {
    let (session, outcome) = attach(conn, request, config.detach_byte(), before).await?;
    let name = escape(&session.name);
    Ok(match outcome {
        Outcome::Detached => {
            eprintln!(
                "\r\n[detached from {name} ({}); `itwillsync attach {name}` to return]",
                session.id
            );
            0
        }
        Outcome::Exited(status) => {
            let how = match status.signal {
                Some(sig) => format!("was killed by signal {sig}"),
                None => format!("exited with status {}", status.code),
            };
            eprintln!("\r\n[{name} {how}]");
            status.code
        }
        Outcome::ServerGone(reason) => {
            eprintln!("\r\n[itwillsync: {}]", escape(&reason));
            1
        }
        Outcome::Signalled(sig) => 128 + sig,
    })
}

async fn hub(action: HubAction, home: &Home) -> anyhow::Result<i32> {
    match action {
        HubAction::Info => {
            let mut conn = require_server(home).await?;
            let ServerMsg::Hub { hub } = conn.request(&ClientMsg::Info { target: None }).await?
            else {
                bail!("unexpected reply to info");
            };
            println!(
                "server pid {} (version {}), up {}",
                hub.pid,
                escape(&hub.version),
                table::uptime(hub.started_at_ms)
            );
            let dir = home.dir().to_string_lossy();
            println!("state directory: {}", escape(&dir));
            match &hub.dashboard_url {
                Some(url) => {
                    println!("dashboard: {}", escape(url));
                    match crate::qr::render(url) {
                        Ok(qr) => println!("{qr}"),
                        Err(e) => eprintln!("cannot draw the QR code: {e}"),
                    }
                }
                None => println!("dashboard: not listening (see server.log)"),
            }
            match &hub.tls {
                Some(certificate) => println!("web: HTTPS ({certificate})"),
                None => println!(
                    "web: plain HTTP (connections are sealed; use HTTPS against an active \
                     attacker on the network: see README)"
                ),
            }
            println!("{} session(s){}", hub.sessions.len(), names(&hub.sessions));
            Ok(0)
        }
        HubAction::Status => {
            let Some(mut conn) = connect(&home.socket()).await? else {
                println!("no server is running");
                return Ok(0);
            };
            let sessions = list(&mut conn).await?;
            print!("{}", table::status(&sessions));
            Ok(0)
        }
        HubAction::Stop => {
            let Some(mut conn) = connect(&home.socket()).await? else {
                eprintln!("no server is running");
                return Ok(0);
            };
            conn.request(&ClientMsg::Shutdown).await?;
            // The server holds this connection until it has stopped every session.
            conn.wait_closed().await;
            eprintln!("server stopped");
            Ok(0)
        }
        HubAction::Rotate => {
            let mut conn = require_server(home).await?;
            let ServerMsg::Link { url } = conn.request(&ClientMsg::RotateMaster).await? else {
                bail!("unexpected reply to rotate");
            };
            eprintln!("the old dashboard link no longer works; its pages were disconnected");
            println!("dashboard: {url}");
            Ok(0)
        }
    }
}

fn names(sessions: &[SessionInfo]) -> String {
    if sessions.is_empty() {
        return String::new();
    }
    let names: Vec<_> = sessions.iter().map(|s| escape(&s.name)).collect();
    format!(": {}", names.join(", "))
}

/// `TERM`, `SIGTERM`, `term` or `15`.
fn parse_signal(name: &str) -> anyhow::Result<i32> {
    if let Ok(n) = name.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
        bail!("signal number out of range: {n}");
    }
    let upper = name.to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    Ok(match bare {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "KILL" => libc::SIGKILL,
        "TERM" => libc::SIGTERM,
        "USR1" => libc::SIGUSR1,
        "USR2" => libc::SIGUSR2,
        "CONT" => libc::SIGCONT,
        "STOP" => libc::SIGSTOP,
        "TSTP" => libc::SIGTSTP,
        "WINCH" => libc::SIGWINCH,
        _ => bail!("unknown signal: {name}"),
    })
}

#[cfg(test)]
mod tests {
    use super::older;

    #[test]
    fn versions_compare_by_number() {
        assert!(older("0.1.0", "0.2.0"));
        assert!(older("0.9.9", "0.10.0"));
        assert!(older("1.2", "1.2.1"));
        assert!(!older("0.2.0", "0.2.0"));
        assert!(!older("0.3.0", "0.2.9"));
        assert!(!older("garbage", "0.2.0"));
        assert!(older("0.1.0-rc1", "0.1.1"));
    }
}
