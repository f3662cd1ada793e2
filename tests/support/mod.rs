//! Test support: a private state directory per test with free ports, the real binary run
//! in a real PTY and rendered by vt100, and a raw protocol client for the Unix socket.
//! Everything started here is stopped when the values drop.

#![allow(dead_code)] // each test binary uses a different part of this module

use std::io::{Read, Write};

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use itwillsync_protocol::{codec, preamble, ClientMsg, ServerMsg, Size};

pub mod machines;
pub mod sshd;
pub mod web;
#[allow(unused_imports)] // only the phone tests use these
pub use web::{Endpoint, Phone, Refused};

/// How long any single wait in a test may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// Lines of its server's log a failing test prints.
const LOG_TAIL: usize = 80;

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_itwillsync")
}

/// A free TCP port on 127.0.0.1, released before use. Picked at random below the kernel's
/// ephemeral range (`ip_local_port_range`), where no bind to port 0 goes: a session's
/// phone listener or an outgoing connection of another test could otherwise take it
/// between this check and the server's bind. Where that range starts too low, the
/// kernel's own choice.
pub fn free_port() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    const LOWEST: u16 = 10_000;
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range");
    let ephemeral = range
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(0);
    if ephemeral > LOWEST + 1000 {
        for _ in 0..100 {
            // RandomState is seeded afresh for every value: a random number, no crate.
            let random = std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish();
            let port = LOWEST + (random % u64::from(ephemeral - LOWEST)) as u16;
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return port;
            }
        }
    }
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A temporary `ITWILLSYNC_HOME` with its own ports; stops its server on drop.
pub struct Home {
    pub dir: tempfile::TempDir,
}

impl Home {
    pub fn new() -> Self {
        Self::with_config(serde_json::json!({}))
    }

    /// A home whose config.json has `extra` merged over the test defaults.
    pub fn with_config(extra: serde_json::Value) -> Self {
        let dir = tempfile::tempdir().unwrap();
        // The server refuses a state directory others can enter (tempdirs are 0755 here).
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let defaults = serde_json::json!({
            "networkingMode": "localhost",
            "dashboardPort": free_port(),
            "apiPort": free_port(),
            // The kernel's choice: a scan from a base could take another test's ports.
            "sessionPortBase": 0,
            "idleShutdownSecs": 0,
        });
        std::fs::write(dir.path().join("config.json"), defaults.to_string()).unwrap();
        let home = Self { dir };
        home.configure(extra);
        home
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// config.json as it is now.
    pub fn config(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.path().join("config.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    /// Merges `extra` into config.json (before the server starts, which reads it then).
    pub fn configure(&self, extra: serde_json::Value) {
        let mut config = self.config();
        for (k, v) in extra.as_object().unwrap() {
            config[k] = v.clone();
        }
        std::fs::write(self.path().join("config.json"), config.to_string()).unwrap();
    }

    /// The dashboard of this home's running server: its port and master key.
    pub fn dashboard(&self) -> Endpoint {
        let hex = std::fs::read_to_string(self.path().join("master.token")).unwrap();
        let key = itwillsync_protocol::seal::Key::from_hex(hex.trim()).expect("a hex key");
        Endpoint {
            port: self.config()["dashboardPort"].as_u64().unwrap() as u16,
            key: key.to_link_text(),
        }
    }

    pub fn socket(&self) -> PathBuf {
        self.path().join("server.sock")
    }

    /// The binary with this home in its environment.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin());
        cmd.args(args)
            .env("ITWILLSYNC_HOME", self.path())
            .stdin(Stdio::null());
        cmd
    }

    /// Runs the binary to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Runs the binary, killing it and returning `None` if it takes longer than `limit`.
    pub fn run_within(&self, args: &[&str], limit: Duration) -> Option<Output> {
        let mut child = self
            .cmd(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + limit;
        while child.try_wait().unwrap().is_none() {
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Some(child.wait_with_output().unwrap())
    }

    /// Runs the binary and returns its stdout, failing the test on a non-zero exit.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Starts a detached session and returns its id.
    pub fn new_detached(&self, args: &[&str]) -> String {
        let mut all = vec!["new", "-d"];
        all.extend_from_slice(args);
        self.ok(&all).trim().to_string()
    }

    /// `ls --json`, parsed.
    pub fn sessions(&self) -> Vec<serde_json::Value> {
        serde_json::from_str(&self.ok(&["ls", "--json"])).unwrap()
    }

    /// The running server's pid, from hub.pid.
    pub fn server_pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.path().join("hub.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// A raw protocol connection to the server.
    pub fn connect(&self) -> Raw {
        Raw::connect(&self.socket())
    }

    /// A raw client attached to session `id` (full, `size`), past its first repaint, and
    /// that repaint's seq.
    pub fn attach_raw(&self, id: &str, size: Size) -> (Raw, u64) {
        let mut raw = self.connect();
        let ServerMsg::Attached { .. } = raw.request(&ClientMsg::Attach {
            target: Some(id.to_string()),
            read_only: false,
            size,
        }) else {
            panic!("not attached")
        };
        let Some(ServerMsg::Redraw { seq, .. }) = raw.recv() else {
            panic!("no redraw")
        };
        (raw, seq)
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // The test failed: its server's account of it goes before the directory does.
            let log = std::fs::read_to_string(self.path().join("server.log")).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(LOG_TAIL)..].join("\n");
            eprintln!(
                "--- the last {LOG_TAIL} lines of {}/server.log:\n{tail}",
                self.path().display()
            );
        }
        let pid = self.server_pid();
        // Bounded: a test that failed because the server hangs must not hang here too.
        let _ = self.run_within(&["hub", "stop"], Duration::from_secs(10));
        if let Some(pid) = pid {
            // A server that did not stop in time must not outlive the test.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// Serialises the tests that flood a PTY with tens of megabytes, so that on a small
/// machine they do not starve each other's readers.
pub fn heavy() -> std::sync::MutexGuard<'static, ()> {
    static HEAVY: Mutex<()> = Mutex::new(());
    HEAVY.lock().unwrap_or_else(|e| e.into_inner())
}

/// Polls `cond` until it holds or the deadline passes (for state outside our process
/// that offers no event to wait on, like another process's exit).
pub fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether `pid` is a live (not zombie) process.
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

/// Resident memory of `pid` in KiB.
pub fn rss_kib(pid: i32) -> u64 {
    itwillsync_server::resident_kib(pid as u32).expect("the memory of a live process")
}

/// The binary running in a real PTY, its output rendered by vt100.
pub struct Term {
    child: Child,
    master: std::fs::File,
    screen: Arc<(Mutex<Screen>, Condvar)>,
}

pub struct Screen {
    pub parser: vt100::Parser,
    pub raw: Vec<u8>,
    pub closed: bool,
}

/// Starts `itwillsync ARGS` in a new PTY of `size` (its controlling terminal, with
/// `TERM=xterm-256color`): the child and the PTY's master.
fn spawn_in_pty(home: &Home, args: &[&str], size: Size) -> (Child, std::os::fd::OwnedFd) {
    let (master, slave) = itwillsync_server::open_pty().unwrap();
    let ws = rustix::termios::Winsize {
        ws_row: size.rows,
        ws_col: size.cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    rustix::termios::tcsetwinsize(&master, ws).unwrap();
    let mut cmd = home.cmd(args);
    cmd.env("TERM", "xterm-256color")
        .stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave));
    // SAFETY: two async-signal-safe system calls in the child before exec.
    unsafe {
        cmd.pre_exec(itwillsync_server::take_stdin_as_terminal);
    }
    (cmd.spawn().unwrap(), master)
}

impl Term {
    /// Runs `itwillsync ARGS` in a PTY of `size`.
    pub fn spawn(home: &Home, args: &[&str], size: Size) -> Self {
        let (child, master) = spawn_in_pty(home, args, size);
        let master = std::fs::File::from(master);
        let rows = std::num::NonZeroU16::new(size.rows).unwrap();
        let cols = std::num::NonZeroU16::new(size.cols).unwrap();
        let screen = Arc::new((
            Mutex::new(Screen {
                parser: vt100::Parser::new(rows, cols, 0),
                raw: Vec::new(),
                closed: false,
            }),
            Condvar::new(),
        ));
        let mut reader = master.try_clone().unwrap();
        let shared = screen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 65536];
            loop {
                let n = reader.read(&mut buf).unwrap_or(0);
                let (lock, cvar) = &*shared;
                let mut s = lock.lock().unwrap();
                if n == 0 {
                    s.closed = true;
                    cvar.notify_all();
                    return;
                }
                s.parser.process(&buf[..n]);
                s.raw.extend_from_slice(&buf[..n]);
                cvar.notify_all();
            }
        });
        Self {
            child,
            master,
            screen,
        }
    }

    /// Types bytes.
    pub fn send(&mut self, bytes: &[u8]) {
        self.master.write_all(bytes).unwrap();
    }

    /// Waits until `cond` holds for the screen; returns its contents then.
    pub fn wait_for(&self, what: &str, cond: impl Fn(&Screen) -> bool) -> String {
        let (lock, cvar) = &*self.screen;
        let deadline = Instant::now() + DEADLINE;
        let mut s = lock.lock().unwrap();
        while !cond(&s) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "timed out waiting for {what}; screen:\n{}",
                s.parser.screen().contents()
            );
            s = cvar.wait_timeout(s, left).unwrap().0;
        }
        s.parser.screen().contents()
    }

    /// Waits until the screen shows `text`.
    pub fn wait_text(&self, text: &str) -> String {
        self.wait_for(text, |s| s.parser.screen().contents().contains(text))
    }

    /// Waits until the binary's raw output contains `text` (the screen may have
    /// scrolled it away or it may sit in the last line read after the process exited).
    pub fn wait_raw(&self, text: &str) {
        self.wait_for(text, |s| String::from_utf8_lossy(&s.raw).contains(text));
    }

    /// A copy of everything the binary wrote.
    pub fn raw(&self) -> Vec<u8> {
        self.screen.0.lock().unwrap().raw.clone()
    }

    /// A copy of the rendered screen.
    pub fn screen(&self) -> vt100::Screen {
        self.screen.0.lock().unwrap().parser.screen().clone()
    }

    /// The path of the PTY's terminal side (the binary's stdin and stdout).
    pub fn tty_path(&self) -> PathBuf {
        tty_path(&self.master)
    }

    /// Whether the binary's terminal is in the canonical mode with echo (the shell's),
    /// as opposed to the raw mode of an attachment.
    pub fn cooked(&self) -> bool {
        cooked(&self.tty_path())
    }

    /// The pid of the binary.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Waits for the binary to exit and returns its exit code.
    pub fn wait_exit(&mut self) -> i32 {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "client did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Term {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The path of the terminal side of the PTY whose master is `master`.
pub fn tty_path(master: &impl std::os::fd::AsFd) -> PathBuf {
    let name = rustix::pty::ptsname(master, Vec::new()).unwrap();
    PathBuf::from(name.to_str().unwrap())
}

/// Whether the terminal at `path` is in the canonical mode with echo.
pub fn cooked(path: &Path) -> bool {
    use rustix::fs::{Mode, OFlags};
    use rustix::termios::LocalModes;
    let fd = rustix::fs::open(path, OFlags::RDWR | OFlags::NOCTTY, Mode::empty()).unwrap();
    let modes = rustix::termios::tcgetattr(&fd).unwrap().local_modes;
    modes.contains(LocalModes::ICANON | LocalModes::ECHO)
}

/// How many of `pid`'s descriptors are open on the file at `path`.
pub fn fds_on(pid: i32, path: &Path) -> usize {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return 0;
    };
    dir.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target == path)
        .count()
}

/// The binary running in a real PTY whose output nobody reads: a terminal that has
/// stopped reading. Killed on drop.
pub struct Unread {
    child: Child,
    pub master: std::fs::File,
}

impl Unread {
    /// Runs `itwillsync ARGS` in a PTY of `size` and never reads its output (until asked).
    pub fn spawn(home: &Home, args: &[&str], size: Size) -> Self {
        let (child, master) = spawn_in_pty(home, args, size);
        Self {
            child,
            master: std::fs::File::from(master),
        }
    }

    /// Waits until the binary has written something (without reading it).
    pub fn wait_output(&self) {
        let mut poll = libc::pollfd {
            fd: std::os::fd::AsRawFd::as_raw_fd(&self.master),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let ready = unsafe { libc::poll(&mut poll, 1, DEADLINE.as_millis() as i32) };
        assert_eq!(ready, 1, "the terminal got output");
    }

    /// Reads everything until the binary ends; what it wrote.
    pub fn read_to_end(&mut self) -> Vec<u8> {
        let mut all = Vec::new();
        let mut buf = vec![0u8; 64 << 10];
        while let Ok(n @ 1..) = self.master.read(&mut buf) {
            all.extend_from_slice(&buf[..n]);
        }
        all
    }

    /// Waits for the binary to exit and returns its exit code.
    pub fn wait_exit(&mut self) -> i32 {
        self.child.wait().unwrap().code().unwrap_or(-1)
    }
}

impl Drop for Unread {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A raw protocol connection, for what the CLI never sends.
pub struct Raw {
    pub stream: UnixStream,
}

impl Raw {
    pub fn connect(socket: &Path) -> Self {
        let mut stream = UnixStream::connect(socket).unwrap();
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        stream.write_all(&preamble::encode()).unwrap();
        let mut theirs = [0u8; preamble::LEN];
        stream.read_exact(&mut theirs).unwrap();
        preamble::check(&theirs).unwrap();
        Self { stream }
    }

    pub fn send(&mut self, msg: &ClientMsg) {
        self.stream
            .write_all(&codec::encode_frame(msg).unwrap())
            .unwrap();
    }

    /// The next message; `None` at end of stream.
    pub fn recv(&mut self) -> Option<ServerMsg> {
        codec::read_frame(&mut self.stream).unwrap()
    }

    pub fn request(&mut self, msg: &ClientMsg) -> ServerMsg {
        self.send(msg);
        self.recv().expect("server closed the connection")
    }
}
