//! The server process: state directory, one-server lock, hub files, logging, signals, and
//! the readiness handshake with the client that auto-started it.
//!
//! With `notify_ready`, the server writes `ready` (or `error: ...`) as one line on stdout
//! once its socket accepts connections, then points stdout and stderr at /dev/null, so the
//! starting client learns the outcome from a pipe instead of polling.

use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use anyhow::Context;
use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use itwillsync_protocol::seal::Key;

use itwillsync_protocol::text::escape;

use crate::{session::now_ms, Config, Home, Shutdown, Transport};

/// How long a second server waits for the first one's socket before giving up.
const PEER_READY_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs the server in this process until it shuts down. `warnings` (config.json's unknown
/// keys) go to the server log.
pub fn main(
    home: Home,
    config: Config,
    warnings: &[String],
    notify_ready: bool,
) -> anyhow::Result<()> {
    let result = start(&home, &config, warnings, notify_ready);
    if let Err(e) = &result {
        if notify_ready {
            println!("error: {e:#}");
        }
    }
    result
}

fn start(
    home: &Home,
    config: &Config,
    warnings: &[String],
    notify_ready: bool,
) -> anyhow::Result<()> {
    home.create()?;
    let Some(lock) = home.try_lock()? else {
        // Another server owns this state directory; the client can use that one.
        wait_for_peer(home)?;
        if notify_ready {
            println!("ready");
        }
        return Ok(());
    };
    init_logging(home)?;
    return_freed_memory();
    raise_fd_limit(config.max_sessions).inspect_err(|e| tracing::error!("cannot start: {e:#}"))?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    // Before the socket exists: a bad certificate is the starting command's error, and the
    // Tailscale commands run before anything is served.
    let transport = runtime
        .block_on(Transport::load(config, home))
        .inspect_err(|e| tracing::error!("cannot start: {e:#}"))?;
    // We hold the lock, so whatever socket or pid file is there was left by a dead server.
    let _ = std::fs::remove_file(home.socket());
    let listener = std::os::unix::net::UnixListener::bind(home.socket())
        .with_context(|| format!("cannot listen on {}", home.socket().display()))?;
    std::fs::set_permissions(home.socket(), std::fs::Permissions::from_mode(0o600))?;
    listener.set_nonblocking(true)?;
    write_hub_files(home, config, now_ms())?;
    tracing::info!(pid = std::process::id(), dir = %home.dir().display(), "server started");
    for warning in warnings {
        tracing::warn!("{}", escape(warning));
    }

    if notify_ready {
        println!("ready");
        std::io::stdout().flush()?;
        detach_stdio()?;
    }
    let start = crate::Start {
        lock_fd: Some(std::os::fd::AsRawFd::as_raw_fd(&lock)),
        adopted: None,
    };
    serve(home, config, &runtime, transport, listener, start)
}

/// Runs the server until it stops, removes its files and exits the process.
fn serve(
    home: &Home,
    config: &Config,
    runtime: &tokio::runtime::Runtime,
    transport: Transport,
    listener: std::os::unix::net::UnixListener,
    start: crate::Start,
) -> anyhow::Result<()> {
    let result = runtime.block_on(async {
        let shutdown = Shutdown::default();
        tokio::spawn(on_signals(shutdown.clone()));
        let listener = tokio::net::UnixListener::from_std(listener)?;
        crate::run_with(
            config.clone(),
            home.clone(),
            transport,
            listener,
            shutdown,
            start,
        )
        .await
    });
    for path in [home.socket(), home.hub_json(), home.hub_pid()] {
        let _ = std::fs::remove_file(path);
    }
    match &result {
        Ok(()) => tracing::info!("server stopped"),
        Err(e) => tracing::error!("server failed: {e:#}"),
    }
    // Exit with the runtime still alive: connections (like the one `hub stop` waits on)
    // close only as the process ends, so their end-of-stream means "the server is gone".
    std::process::exit(i32::from(result.is_err()));
}

/// Runs the server a previous one handed over to this binary (`itwillsync server --adopt
/// FD`, exec'd by `handover` under the same pid): its lock, listeners and sessions come
/// from the state in descriptor `fd`. Never returns while it serves.
pub fn adopt(home: Home, fd: &str) -> anyhow::Result<()> {
    let decoded = crate::handover::load(fd);
    init_logging(&home)?;
    let decoded = decoded.inspect_err(|e| tracing::error!("cannot adopt the state: {e:#}"))?;
    // The state's descriptor is not needed any more.
    if let Ok(fd) = fd.parse::<i32>() {
        drop(crate::handover::inherited(fd));
    }
    let server = &decoded.header.server;
    let config = Config::from_json(server.config.clone())?;
    // Held since the first server of this pid took it: flock belongs to the open file.
    let lock = std::fs::File::from(crate::handover::inherited(server.lock_fd));
    // The sessions already run: a limit too low for maxSessions is a warning here.
    if let Err(e) = raise_fd_limit(config.max_sessions) {
        tracing::warn!("{e:#}");
    }
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let transport = runtime
        .block_on(Transport::load(&config, &home))
        .inspect_err(|e| tracing::error!("cannot start: {e:#}"))?;
    let listener =
        std::os::unix::net::UnixListener::from(crate::handover::inherited(server.unix_fd));
    listener.set_nonblocking(true)?;
    write_hub_files(&home, &config, server.started_at_ms)?;
    tracing::info!(
        pid = std::process::id(),
        from = %server.written_by,
        version = env!("CARGO_PKG_VERSION"),
        "server took over"
    );
    let start = crate::Start {
        lock_fd: Some(std::os::fd::AsRawFd::as_raw_fd(&lock)),
        adopted: Some(decoded),
    };
    let result = serve(&home, &config, &runtime, transport, listener, start);
    drop(lock);
    result
}

/// Waits until the server holding the lock accepts connections.
fn wait_for_peer(home: &Home) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + PEER_READY_TIMEOUT;
    while std::os::unix::net::UnixStream::connect(home.socket()).is_err() {
        if std::time::Instant::now() > deadline {
            anyhow::bail!(
                "another server holds {} but does not answer",
                home.lock().display()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// The dashboard's master key, kept in `master.token` (0600, 64 hex characters) across
/// restarts so saved links keep working; made on first use.
pub fn master_key(home: &Home) -> anyhow::Result<Key> {
    let path = home.master_key();
    if let Ok(text) = std::fs::read_to_string(&path) {
        if let Some(key) = Key::from_hex(text.trim()) {
            return Ok(key);
        }
    }
    let key = crate::web::keys::new_key();
    crate::home::write_private(&path, key.to_hex().as_bytes())?;
    Ok(key)
}

/// Replaces the stored master key: `master.token`, and `masterToken` in `hub.json`.
pub fn store_master_key(home: &Home, key: &Key) -> anyhow::Result<()> {
    crate::home::write_private(&home.master_key(), key.to_hex().as_bytes())?;
    let path = home.hub_json();
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let mut hub: serde_json::Value = serde_json::from_str(&text)?;
    hub["masterToken"] = serde_json::Value::String(key.to_hex());
    crate::home::write_private(&path, serde_json::to_string_pretty(&hub)?.as_bytes())
}

fn write_hub_files(home: &Home, config: &Config, started_at_ms: u64) -> anyhow::Result<()> {
    let pid = std::process::id();
    let hub = serde_json::json!({
        "masterToken": master_key(home)?.to_hex(),
        "externalPort": config.dashboard_port,
        "internalPort": config.api_port,
        "pid": pid,
        "startedAt": started_at_ms,
        "version": env!("CARGO_PKG_VERSION"),
    });
    crate::home::write_private(
        &home.hub_json(),
        serde_json::to_string_pretty(&hub)?.as_bytes(),
    )?;
    crate::home::write_private(&home.hub_pid(), format!("{pid}\n").as_bytes())
}

/// Targets logged at `debug` whatever `ITWILLSYNC_LOG` asks (see `init_logging`).
const QUIET_LOGS: &[&str] = &["tungstenite", "tokio_tungstenite", "hyper_tungstenite"];

/// Open files a session needs: its PTY master, its phone listener, its log file, and one
/// for a client.
const FILES_PER_SESSION: u64 = 4;
/// Open files the server needs besides its sessions: its socket, log, lock and state
/// files, the dashboard and API listeners, the runtime's own (~16 in all), and room for
/// clients beyond one a session.
const FILES_BASE: u64 = 64;

/// The open-file limit `maxSessions` sessions need.
pub fn files_needed(max_sessions: usize) -> u64 {
    FILES_BASE + FILES_PER_SESSION * max_sessions as u64
}

/// Raises the soft limit on open files to the hard limit: every session, phone and
/// terminal costs descriptors, and the default soft limit (1024) is soon reached. An error
/// when the hard limit is below what `maxSessions` sessions need ([`files_needed`]).
fn raise_fd_limit(max_sessions: usize) -> anyhow::Result<()> {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let needed = files_needed(max_sessions);
    let mut limit = getrlimit(Resource::Nofile);
    if let Some(hard) = limit.maximum.filter(|hard| *hard < needed) {
        anyhow::bail!(
            "the open-file hard limit ({hard}) is too low for maxSessions {max_sessions}, \
             which needs {needed}: raise it (ulimit -Hn, or LimitNOFILE= in a systemd unit) \
             or lower maxSessions in config.json"
        );
    }
    if limit.current == limit.maximum {
        return Ok(());
    }
    let soft = limit.current;
    limit.current = limit.maximum;
    if setrlimit(Resource::Nofile, limit).is_err() {
        // macOS refuses an unlimited soft limit: what the sessions need is enough.
        limit.current = Some(needed.max(soft.unwrap_or(0)));
        setrlimit(Resource::Nofile, limit).context("cannot raise the open-file limit")?;
    }
    Ok(())
}

/// Makes freed large buffers (grown rings, repaint pieces, flood windows: over 256 KiB)
/// go back to the system at once. glibc otherwise raises its threshold for serving
/// allocations from the heap as such buffers are freed, after which they stay resident:
/// ~17 MiB more for 20 sessions that each printed a megabyte. Output chunks (64 KiB)
/// still come from the heap.
fn return_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only sets a tuning parameter of the allocator.
        if unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 10) } != 1 {
            tracing::debug!("cannot set the allocator's mmap threshold");
        }
    }
}

fn init_logging(home: &Home) -> anyhow::Result<()> {
    let file = crate::log_file::LogFile::open(home.server_log())
        .with_context(|| format!("cannot open {}", home.server_log().display()))?;
    // A target filter (`debug`, `itwillsync_server=trace,hyper=debug`), not an `EnvFilter`:
    // that one compiles its directives with a regex engine, half a megabyte of code
    // the server would map at every start for a setting almost nobody uses.
    let asked = std::env::var("ITWILLSYNC_LOG").ok();
    let parsed = asked.as_deref().map(str::parse::<Targets>);
    let mut filter = match &parsed {
        Some(Ok(filter)) => filter.clone(),
        _ => Targets::new().with_default(Level::INFO),
    };
    // Whatever level is asked for: the WebSocket library traces every message, which
    // would put keystrokes and screen contents in the log.
    for quiet in QUIET_LOGS {
        filter = filter.with_target(*quiet, Level::DEBUG);
    }
    // Panics are caught per session and per connection; what they said goes to the log
    // (stderr is /dev/null once the server runs). The session logs are written out too:
    // a panic the server does not survive (on the main thread, or while unwinding) still
    // leaves every byte of output read so far on disk.
    std::panic::set_hook(Box::new(|info| {
        tracing::error!("panic: {info}");
        crate::output_log::flush_all();
    }));
    let _ = tracing_subscriber::fmt()
        // The builder's own filter (`info` unless told) would cap what `filter` allows.
        .with_max_level(Level::TRACE)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .finish()
        .with(filter)
        .try_init();
    if let (Some(asked), Some(Err(e))) = (asked, parsed) {
        tracing::warn!("ITWILLSYNC_LOG={}: {e}; logging at info", escape(&asked));
    }
    Ok(())
}

/// Points stdout and stderr at /dev/null so the starting client's pipe closes.
fn detach_stdio() -> anyhow::Result<()> {
    let null = std::fs::OpenOptions::new().write(true).open("/dev/null")?;
    rustix::stdio::dup2_stdout(null.as_fd())?;
    rustix::stdio::dup2_stderr(null.as_fd())?;
    Ok(())
}

async fn on_signals(shutdown: Shutdown) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::error!("cannot install signal handlers");
        return;
    };
    let name = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
        _ = hup.recv() => "SIGHUP",
    };
    shutdown.trigger(&format!("the server received {name}"));
}
