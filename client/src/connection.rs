//! A connection to the server: preamble check, then request/reply frames, read and
//! written through `protocol::codec::Codec` on a tokio-util `Framed` stream (which owns
//! its buffers, so [`Connection::recv`] is cancel-safe and can sit in a `select!`).

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, Context};
use futures_util::{SinkExt, StreamExt};
use itwillsync_protocol::codec::Codec;
use itwillsync_protocol::text::escape;
use itwillsync_protocol::{preamble, ClientMsg, ServerMsg};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio_util::codec::Framed;

/// An open connection that has passed the preamble exchange.
pub struct Connection {
    frames: Framed<UnixStream, Codec<ServerMsg, ClientMsg>>,
    /// The socket it connected to, to reconnect after a hand-over.
    socket: std::path::PathBuf,
}

/// Connects to a running server; `Ok(None)` when none is running.
pub async fn connect(socket: &Path) -> anyhow::Result<Option<Connection>> {
    let mut stream = match UnixStream::connect(socket).await {
        Ok(stream) => stream,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(e).with_context(|| format!("cannot connect to {}", socket.display())),
    };
    stream.write_all(&preamble::encode()).await?;
    let mut theirs = [0u8; preamble::LEN];
    stream
        .read_exact(&mut theirs)
        .await
        .context("the server closed the connection during the handshake")?;
    preamble::check(&theirs)?;
    Ok(Some(Connection {
        frames: Framed::new(stream, Codec::new()),
        socket: socket.to_path_buf(),
    }))
}

/// Connects, starting a server first when none is running. `exe` is this program, run as
/// `exe server --daemon`; the server reports `ready` or its error on a pipe.
pub async fn connect_or_start(socket: &Path, exe: &Path) -> anyhow::Result<Connection> {
    if let Some(conn) = connect(socket).await? {
        return Ok(conn);
    }
    let exe = exe.to_path_buf();
    tokio::task::spawn_blocking(move || start_server(&exe)).await??;
    connect(socket)
        .await?
        .context("the server started but its socket does not accept connections")
}

fn start_server(exe: &Path) -> anyhow::Result<()> {
    let mut cmd = Command::new(exe);
    cmd.args(["server", "--daemon"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    // SAFETY: setsid is async-signal-safe; it detaches the server from our terminal and
    // process group so it outlives this command and ignores its signals.
    unsafe {
        cmd.pre_exec(|| {
            rustix::process::setsid()?;
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start {}", exe.display()))?;
    let mut line = String::new();
    if let Some(stdout) = child.stdout.take() {
        BufReader::new(stdout).read_line(&mut line)?;
    }
    match line.trim_end() {
        "ready" => {
            // The daemon keeps running; reap it later only if it exits while we live.
            std::thread::spawn(move || child.wait());
            Ok(())
        }
        "" => bail!("the server exited during start-up; see server.log in the state directory"),
        other => bail!(
            "cannot start the server: {}",
            other.trim_start_matches("error: ")
        ),
    }
}

/// How long a client waits for the server to come back after a hand-over.
pub const HANDOVER_WAIT: std::time::Duration = std::time::Duration::from_secs(20);

impl Connection {
    /// The socket this connection reached.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// A new connection to the same socket once the server that handed over (or its
    /// successor) answers again, within [`HANDOVER_WAIT`].
    pub async fn reconnect(&self) -> anyhow::Result<Connection> {
        let deadline = tokio::time::Instant::now() + HANDOVER_WAIT;
        loop {
            match connect(&self.socket).await {
                Ok(Some(conn)) => return Ok(conn),
                Ok(None) | Err(_) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                Ok(None) => bail!("the server did not come back"),
                Err(e) => return Err(e),
            }
        }
    }

    /// Sends one message.
    pub async fn send(&mut self, msg: &ClientMsg) -> anyhow::Result<()> {
        self.frames.send(msg).await.context("lost the server")
    }

    /// Receives one message; an error when the server closed the connection. Cancel-safe.
    pub async fn recv(&mut self) -> anyhow::Result<ServerMsg> {
        self.frames
            .next()
            .await
            .context("the server closed the connection")?
            .context("lost the server")
    }

    /// Sends a request and returns its reply; an `Error` reply becomes an error, and
    /// warnings before the reply are printed (escaped) on stderr.
    pub async fn request(&mut self, msg: &ClientMsg) -> anyhow::Result<ServerMsg> {
        self.send(msg).await?;
        loop {
            match self.recv().await? {
                ServerMsg::Warning { message } => {
                    eprintln!("itwillsync: warning: {}", escape(&message))
                }
                ServerMsg::Error { message } => bail!("{message}"),
                reply => return Ok(reply),
            }
        }
    }

    /// Passes this process's stdin and stdout (terminals) to the server for the attach
    /// request sent next (`Terminal`, the descriptors in `SCM_RIGHTS` with its frame):
    /// `Ok(true)` when the server kept them. `Ok(false)` when it refused them or does not
    /// know the request (an older server, which closes the connection: reconnect then).
    pub async fn pass_terminal(&mut self, detach_key: u8) -> anyhow::Result<bool> {
        use std::os::fd::AsFd;
        let frame = itwillsync_protocol::codec::encode_frame(&ClientMsg::Terminal { detach_key })?;
        let stream = self.frames.get_ref();
        let fds = [rustix::stdio::stdin(), rustix::stdio::stdout()];
        let mut sent = 0;
        while sent < frame.len() {
            stream.writable().await?;
            let result = stream.try_io(tokio::io::Interest::WRITABLE, || {
                let iov = [std::io::IoSlice::new(&frame[sent..])];
                let mut space =
                    [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(2))];
                let mut control = rustix::net::SendAncillaryBuffer::new(&mut space);
                // The descriptors go with the frame's first byte only.
                if sent == 0 {
                    let rights = rustix::net::SendAncillaryMessage::ScmRights(&fds);
                    control.push(rights);
                }
                let socket = stream.as_fd();
                Ok(rustix::net::sendmsg(
                    socket,
                    &iov,
                    &mut control,
                    rustix::net::SendFlags::empty(),
                )?)
            });
            match result {
                Ok(n) => sent += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e).context("lost the server"),
            }
        }
        match self.recv().await {
            Ok(ServerMsg::Done) => Ok(true),
            Ok(_) | Err(_) => Ok(false),
        }
    }

    /// Waits until the server closes the connection.
    pub async fn wait_closed(&mut self) {
        while let Some(Ok(_)) = self.frames.next().await {}
    }
}
