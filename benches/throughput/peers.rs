//! The things a bench part measures, driven only through their public interfaces: our
//! server (the real binary, its Unix socket protocol and its web ports), a phone (the
//! sealed WebSocket protocol of docs/PROTOCOL.md), a real client in a PTY, and what /proc
//! says about a process.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use itwillsync_protocol::{codec, preamble, ClientMsg, NewSession, ServerMsg, Size};

/// One server with its own private state directory and free ports; stopped on drop.
pub struct Hub {
    pub home: PathBuf,
    /// A server started in the foreground by [`Hub::start`], reaped when stopped.
    server: Option<Child>,
    _dir: tempfile::TempDir,
}

impl Hub {
    /// A state directory whose `config.json` has free ports, no idle shutdown, and `extra`.
    pub fn new(extra: serde_json::Value) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        // Private, as the server requires of a state directory.
        std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), 0o700)
            .create(&home)
            .unwrap();
        let mut config = serde_json::json!({
            "networkingMode": "localhost", "dashboardPort": free_port(), "apiPort": free_port(),
            "sessionPortBase": 0, "idleShutdownSecs": 0, "maxSessions": 60,
        });
        for (k, v) in extra.as_object().unwrap() {
            config[k] = v.clone();
        }
        std::fs::write(home.join("config.json"), config.to_string()).unwrap();
        Self {
            home,
            server: None,
            _dir: dir,
        }
    }

    /// Runs the real CLI; its stdout, trimmed. Panics with its stderr when it fails.
    pub fn itwillsync(&self, args: &[&str]) -> String {
        let out = self.command(args).stdin(Stdio::null()).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    /// The CLI with this hub's state directory.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_itwillsync"));
        c.args(args).env("ITWILLSYNC_HOME", &self.home);
        c
    }

    /// The server's pid (`hub.pid`).
    pub fn pid(&self) -> i32 {
        std::fs::read_to_string(self.home.join("hub.pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    /// Starts a server with no session (`itwillsync server` in the foreground) and waits
    /// until its socket answers.
    pub fn start(&mut self) {
        let child = self
            .command(&["server"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.server = Some(child);
        let start = Instant::now();
        while UnixStream::connect(self.home.join("server.sock")).is_err()
            || !self.home.join("hub.pid").exists()
        {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the server did not start"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stops the server (and its sessions); the next request starts a fresh one.
    pub fn stop(&mut self) {
        let _ = self.command(&["hub", "stop"]).stdin(Stdio::null()).output();
        if let Some(mut child) = self.server.take() {
            let _ = child.wait();
        }
    }

    /// A connection that has exchanged preambles.
    pub fn connect(&self) -> UnixStream {
        let mut s = self.connect_raw();
        s.write_all(&preamble::encode()).unwrap();
        let mut theirs = [0u8; preamble::LEN];
        s.read_exact(&mut theirs).unwrap();
        s
    }

    /// A bare connection to the socket, nothing sent.
    pub fn connect_raw(&self) -> UnixStream {
        UnixStream::connect(self.home.join("server.sock")).unwrap()
    }

    /// A session of `command` (through the socket, so its size is exact); its id.
    pub fn new_session(&self, command: &[&str], size: Size) -> String {
        self.try_new_session(command, size).unwrap()
    }

    /// [`Hub::new_session`], or the server's refusal.
    pub fn try_new_session(&self, command: &[&str], size: Size) -> Result<String, String> {
        let mut conn = self.connect();
        let spec = NewSession {
            name: None,
            command: command.iter().map(|s| s.to_string()).collect(),
            cwd: "/".into(),
            env: std::env::vars().collect(),
            size,
            port: None,
            networking: None,
        };
        send(
            &mut conn,
            &ClientMsg::New {
                spec,
                attach: false,
            },
        );
        match recv(&mut conn) {
            Some(ServerMsg::Created { session }) => Ok(session.id),
            Some(ServerMsg::Error { message }) => Err(message),
            other => Err(format!("{other:?}")),
        }
    }

    /// A session's full phone link (`http://HOST:PORT/#k=KEY`), as `itwillsync url` gets it.
    pub fn link(&self, id: &str) -> String {
        let mut conn = self.connect();
        let request = ClientMsg::Link {
            target: id.to_string(),
            read_only: false,
            rotate: false,
        };
        send(&mut conn, &request);
        match recv(&mut conn) {
            Some(ServerMsg::Link { url }) => url,
            other => panic!("link of {id}: {other:?}"),
        }
    }

    /// A new session of `sh -c script` and its phone link.
    pub fn phone_session(&self, script: &str, size: Size) -> (String, String) {
        let id = self.new_session(&["sh", "-c", script], size);
        let link = self.link(&id);
        (id, link)
    }

    /// Attaches `conn` to `id` and reads until the redraw; its seq and bytes.
    pub fn attach(&self, conn: &mut UnixStream, id: &str, size: Size) -> (u64, Vec<u8>) {
        let attach = ClientMsg::Attach {
            target: Some(id.to_string()),
            read_only: false,
            size,
        };
        send(conn, &attach);
        loop {
            match recv(conn) {
                Some(ServerMsg::Redraw { seq, data }) => return (seq, data),
                Some(ServerMsg::Error { message }) => panic!("attach {id}: {message}"),
                None => panic!("attach {id}: connection closed"),
                _ => {}
            }
        }
    }
}

impl Drop for Hub {
    /// Stops the server and its sessions, also when a measurement panics.
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port free right now (for the config's fixed ports).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn send(s: &mut UnixStream, msg: &ClientMsg) {
    s.write_all(&codec::encode_frame(msg).unwrap()).unwrap();
}

pub fn recv(s: &mut UnixStream) -> Option<ServerMsg> {
    codec::read_frame(s).unwrap()
}

pub fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).unwrap().len()
}

/// MB/s (10^6 bytes).
pub fn mbs(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / 1e6 / d.as_secs_f64()
}

/// p50 and p99.
pub fn percentiles(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    (v[v.len() / 2], v[v.len() * 99 / 100])
}

/// The median of a few rounds.
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// A process's user + system CPU seconds (`/proc/PID/stat`).
pub fn cpu_seconds(pid: i32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

/// A process's resident memory in KiB.
pub fn rss_kib(pid: i32) -> u64 {
    itwillsync_server::resident_kib(pid as u32).expect("the process's memory")
}

/// A process's open file descriptors.
pub fn fd_count(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// A process's threads.
pub fn thread_count(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .count()
}

/// The process's thread count once it has stayed the same for 11 s (at most 40 s): the
/// threads it keeps, without those of a thread pool's burst (Tokio lets a blocking thread
/// linger 10 s after its last task).
pub fn settled_thread_count(pid: i32) -> usize {
    let start = Instant::now();
    let (mut count, mut since) = (thread_count(pid), Instant::now());
    while since.elapsed() < Duration::from_secs(11) && start.elapsed() < Duration::from_secs(40) {
        std::thread::sleep(Duration::from_millis(250));
        let now = thread_count(pid);
        if now != count {
            (count, since) = (now, Instant::now());
        }
    }
    count
}

/// A PTY pair with the default (cooked) settings sessions get.
pub fn pty() -> (std::fs::File, OwnedFd) {
    let (master, slave) = itwillsync_server::open_pty().unwrap();
    (std::fs::File::from(master), slave)
}

/// `cat FILE` writing into a fresh PTY: its master, to read, and the `cat`.
pub fn cat_into_pty(file: &Path) -> (std::fs::File, Child) {
    let (master, slave) = pty();
    let cat = Command::new("cat")
        .arg(file)
        .stdout(Stdio::from(slave))
        .spawn()
        .unwrap();
    (master, cat)
}

/// Reads until the end (EOF, or EIO once a PTY's other side is closed).
pub fn drain(from: &mut impl Read) {
    let mut buf = vec![0u8; 64 << 10];
    while matches!(from.read(&mut buf), Ok(n) if n > 0) {}
}

/// A program (a terminal client: `itwillsync attach`, `tmux attach`) running in a PTY the
/// bench reads and types into, as a terminal emulator would. Killed on drop.
pub struct InPty {
    pub master: std::fs::File,
    child: Child,
}

impl InPty {
    /// Starts `command` as the session leader of a new `size` PTY.
    pub fn spawn(mut command: Command, size: Size) -> Self {
        let (master, slave) = pty();
        let ws = libc::winsize {
            ws_row: size.rows,
            ws_col: size.cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads a winsize from a valid pointer.
        unsafe {
            libc::ioctl(
                std::os::fd::AsRawFd::as_raw_fd(&slave),
                libc::TIOCSWINSZ,
                &ws,
            )
        };
        command
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave))
            .env("TERM", "xterm-256color");
        // SAFETY: setsid and TIOCSCTTY are async-signal-safe; the child makes its PTY its
        // controlling terminal, as a terminal emulator's child does.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut command, || {
                libc::setsid();
                libc::ioctl(0, libc::TIOCSCTTY, 0);
                Ok(())
            })
        };
        let child = command.spawn().unwrap();
        Self { master, child }
    }

    /// Reads until `needle` has appeared in the output; `false` when the client ended or
    /// `limit` passed first.
    pub fn read_until(&mut self, needle: &[u8], limit: Duration) -> bool {
        let start = Instant::now();
        let mut seen = Vec::new();
        let mut buf = [0u8; 64 << 10];
        while let Some(left) = limit.checked_sub(start.elapsed()) {
            let mut poll = libc::pollfd {
                fd: std::os::fd::AsRawFd::as_raw_fd(&self.master),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd; a client that prints nothing must not hang the bench.
            if unsafe { libc::poll(&mut poll, 1, left.as_millis() as i32) } == 0 {
                return false;
            }
            match self.master.read(&mut buf) {
                Ok(n) if n > 0 => {
                    seen.extend_from_slice(&buf[..n]);
                    if seen.windows(needle.len()).any(|w| w == needle) {
                        return true;
                    }
                    let keep = seen.len().saturating_sub(needle.len());
                    seen.drain(..keep);
                }
                _ => return false,
            }
        }
        false
    }

    /// Reads everything until the client ends (EOF or EIO); the bytes read.
    pub fn drain(&mut self) -> u64 {
        let mut buf = vec![0u8; 64 << 10];
        let mut total = 0;
        while let Ok(n @ 1..) = self.master.read(&mut buf) {
            total += n as u64;
        }
        total
    }
}

impl Drop for InPty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal phone: the sealed WebSocket protocol of docs/PROTOCOL.md, acking as it reads.
pub mod ws {
    use futures_util::{SinkExt, StreamExt};
    use itwillsync_protocol::seal::{Channel, ClientHandshake, Key};
    use tokio_tungstenite::tungstenite::Message;

    pub type Stream = tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >;

    /// What a phone got from the server.
    pub enum Got {
        /// A `data` message: its text and seq (`None`: a repaint piece before its last).
        Data(String, Option<u64>),
        /// `exit`.
        Exit,
        /// The socket closed or failed.
        Closed,
    }

    pub struct Phone {
        pub ws: Stream,
        pub channel: Channel,
        pub seq: u64,
    }

    /// The WebSocket address and key of a link (`http://HOST:PORT/#k=KEY`).
    pub fn parse(link: &str) -> (String, Key) {
        let (base, key) = link.split_once("/#k=").unwrap();
        let url = format!("{}/ws", base.replacen("http://", "ws://", 1));
        (url, Key::from_link_text(key).unwrap())
    }

    /// Opens the WebSocket; nothing else.
    pub async fn open(url: &str) -> Result<Stream, String> {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        Ok(ws)
    }

    /// The next binary message (the handshake's); `None` when the socket closed.
    pub async fn binary(ws: &mut Stream) -> Option<Vec<u8>> {
        loop {
            match ws.next().await? {
                Ok(Message::Binary(bytes)) => return Some(bytes.to_vec()),
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    impl Phone {
        /// Proves `key` on an open socket (the sealed handshake, as a page does).
        pub async fn handshake(mut ws: Stream, key: &Key) -> Result<Self, String> {
            let hello = binary(&mut ws).await.ok_or("closed before the hello")?;
            let client = ClientHandshake::new(key.clone(), &hello, rand::random())
                .map_err(|e| format!("hello: {e}"))?;
            ws.send(Message::binary(client.answer().to_vec()))
                .await
                .map_err(|e| format!("answer: {e}"))?;
            let proof = binary(&mut ws).await.ok_or("closed before the proof")?;
            let channel = client.finish(&proof).map_err(|e| format!("proof: {e}"))?;
            Ok(Self {
                ws,
                channel,
                seq: 0,
            })
        }

        /// Connects to a link and takes the current screen (`resume -1`), so `seq` is known.
        pub async fn connect(link: &str) -> Self {
            let (url, key) = parse(link);
            let mut phone = Self::handshake(open(&url).await.unwrap(), &key)
                .await
                .unwrap();
            phone.send(r#"{"type":"resume","lastSeq":-1}"#).await;
            loop {
                if let Got::Data(_, Some(seq)) = phone.next().await {
                    phone.seq = seq;
                    return phone;
                }
            }
        }

        /// Sends a message; a failure (the session ended and closed the socket) is ignored.
        pub async fn send(&mut self, text: &str) {
            let mut sealed = text.as_bytes().to_vec();
            self.channel.sealer.seal(&mut sealed).unwrap();
            let _ = self.ws.send(Message::binary(sealed)).await;
        }

        /// The next `data` or `exit` (other messages skipped).
        pub async fn next(&mut self) -> Got {
            loop {
                let sealed = match self.ws.next().await {
                    Some(Ok(Message::Binary(sealed))) => sealed,
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return Got::Closed,
                    Some(Ok(_)) => continue,
                };
                let mut text = sealed.to_vec();
                self.channel
                    .opener
                    .open(&mut text)
                    .expect("a sealed message");
                let msg: serde_json::Value = serde_json::from_slice(&text).unwrap();
                match msg["type"].as_str() {
                    Some("data") => {
                        let data = msg["data"].as_str().unwrap().to_string();
                        return Got::Data(data, msg["seq"].as_u64());
                    }
                    Some("exit") => return Got::Exit,
                    _ => {}
                }
            }
        }

        /// The next `data` message with a seq: its text and seq.
        pub async fn next_data(&mut self) -> (String, u64) {
            loop {
                match self.next().await {
                    Got::Data(data, Some(seq)) => return (data, seq),
                    Got::Data(_, None) => {}
                    Got::Exit | Got::Closed => panic!("the phone's stream ended"),
                }
            }
        }

        /// Reads until `marker`, acking every 64 KiB; checks that bytes between redraws
        /// are contiguous. Returns the output bytes received (redraws not counted).
        pub async fn drain_until(mut self, marker: &str) -> u64 {
            let mut acked = self.seq;
            let mut bytes = 0;
            loop {
                let (data, seq) = self.next_data().await;
                if seq == self.seq + data.len() as u64 {
                    bytes += data.len() as u64;
                } else {
                    // Fell a ring behind: a repaint, and on from its position.
                    assert!(seq > self.seq, "a repaint moves forward");
                }
                self.seq = seq;
                if seq - acked >= 64 << 10 || data.contains(marker) {
                    self.send(&format!(r#"{{"type":"ack","seq":{seq}}}"#)).await;
                    acked = seq;
                }
                if data.contains(marker) {
                    return bytes;
                }
            }
        }
    }
}
