//! Attaching this terminal to a session: raw mode, keys and window size to the server,
//! output to the terminal, until the detach key, the program's exit, the server's
//! departure or a terminating signal.

use std::io::{Read, Write};

use anyhow::bail;
use itwillsync_protocol::{ClientMsg, ExitStatus, ServerMsg, SessionInfo, Size};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

use crate::raw::RawMode;
use crate::Connection;

/// How an attachment ended.
#[derive(Debug)]
pub enum Outcome {
    /// The user pressed the detach key; the session goes on.
    Detached,
    /// The session's program ended.
    Exited(ExitStatus),
    /// The server went away, with its reason.
    ServerGone(String),
    /// This client received a terminating signal.
    Signalled(i32),
}

/// Undoes what programs may have switched on in the terminal, so the shell is usable
/// after detaching: attributes, alternate screen, mouse reporting, bracketed paste,
/// application keys, hidden cursor.
const RESET_MODES: &[u8] =
    b"\x1b[0m\x1b[?1049l\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l\x1b[?2004l\x1b[?1l\x1b>\x1b[?25h";

/// Bytes read from the keyboard at once.
const STDIN_CHUNK: usize = 4096;

/// The terminal's size, or 80x24 when stdout is not a terminal.
pub fn terminal_size() -> Size {
    match rustix::termios::tcgetwinsize(rustix::stdio::stdout()) {
        Ok(ws) if ws.ws_col > 0 && ws.ws_row > 0 => Size {
            cols: ws.ws_col,
            rows: ws.ws_row,
        },
        _ => Size { cols: 80, rows: 24 },
    }
}

/// What `attach`'s `before` decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proceed {
    /// Take over the terminal.
    Attach,
    /// Leave the session running without attaching (as if detached at once).
    Detach,
}

/// Shows `prompt` on stderr and waits for one key in raw mode, which is not passed on:
/// `detach_key` means [`Proceed::Detach`], anything else [`Proceed::Attach`]. Attaches at
/// once when stdin is not a terminal.
pub fn wait_for_key(prompt: &str, detach_key: u8) -> anyhow::Result<Proceed> {
    let Some(raw) = RawMode::enter()? else {
        return Ok(Proceed::Attach);
    };
    eprint!("{prompt}");
    let mut key = [0u8; 1];
    // One byte from the descriptor itself, not through std's buffered stdin: what was
    // typed after it stays in the terminal for whoever reads the keys next (the server,
    // on a direct attachment).
    let read = rustix::io::read(rustix::stdio::stdin(), &mut key);
    drop(raw);
    eprint!("\r\n");
    Ok(match read {
        Ok(1) if key[0] == detach_key => Proceed::Detach,
        _ => Proceed::Attach,
    })
}

/// Sends `request` (an `Attach`, or a `New` with `attach: true`) and runs the attachment
/// that follows until it ends. `before` sees the session before the terminal goes raw
/// (to print its phone link, say) and may decide not to attach after all.
///
/// When stdin and stdout are terminals, they are passed to the server first
/// (`Terminal`): a session of that server is then attached directly (`Direct`: the
/// server writes the output to the terminal and reads the keys itself, and this process
/// only forwards the window size and waits for the end). Otherwise, and for a session on
/// another machine, the output and keys are relayed through this process in frames.
pub async fn attach(
    conn: Connection,
    request: ClientMsg,
    detach_key: u8,
    before: impl FnOnce(&SessionInfo) -> anyhow::Result<Proceed>,
) -> anyhow::Result<(SessionInfo, Outcome)> {
    let read_only = matches!(
        request,
        ClientMsg::Attach {
            read_only: true,
            ..
        }
    );
    let mut link = Link {
        conn,
        detach_key,
        keys: None,
        passed: false,
    };
    link.offer_terminal().await?;
    let session = match link.conn.request(&request).await? {
        ServerMsg::Attached { session } => session,
        other => bail!("unexpected reply: {other:?}"),
    };
    if before(&session)? == Proceed::Detach {
        // Closing the connection detaches; the session goes on.
        return Ok((session, Outcome::Detached));
    }
    let raw = RawMode::enter()?;
    let outcome = link.pump(&session.id, read_only).await;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(RESET_MODES);
    let _ = stdout.flush();
    drop(raw);
    Ok((session, outcome?))
}

/// How long a client that received a terminating signal waits for the server to stop
/// writing to its terminal before it restores the terminal's mode.
const LEAVE_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// The connection of an attachment and how its terminal is served.
struct Link {
    conn: Connection,
    detach_key: u8,
    /// The keyboard, once this process reads it itself (a relayed attachment). Never
    /// passed to a server after that: the reading thread cannot be stopped and would take
    /// keys from it.
    keys: Option<mpsc::Receiver<Vec<u8>>>,
    /// The server kept the terminal passed for the last attach request: its next frame
    /// after `Attached` says whether it serves it (`Direct`).
    passed: bool,
}

/// Who serves the terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Not known until the frame after `Attached`.
    Undecided,
    /// The server writes to it and reads its keys.
    Direct,
    /// This process, from frames.
    Relayed,
}

impl Link {
    /// Passes the terminal for the next request when stdin and stdout are terminals and
    /// no thread reads the keyboard here; reconnects when the server did not keep it (an
    /// older server closes the connection on a request it does not know).
    async fn offer_terminal(&mut self) -> anyhow::Result<()> {
        let stdin = rustix::stdio::stdin();
        let stdout = rustix::stdio::stdout();
        self.passed = false;
        if self.keys.is_some()
            || !rustix::termios::isatty(stdin)
            || !rustix::termios::isatty(stdout)
        {
            return Ok(());
        }
        self.passed = self.conn.pass_terminal(self.detach_key).await?;
        if !self.passed {
            self.conn = self.conn.reconnect().await?;
        }
        Ok(())
    }

    /// Runs the attachment (`Attached` received) until it ends. The server says first
    /// whether it serves the terminal directly (`Direct`); then this process only waits.
    async fn pump(&mut self, id: &str, read_only: bool) -> anyhow::Result<Outcome> {
        let mut winch = signal(SignalKind::window_change())?;
        let mut term = signal(SignalKind::terminate())?;
        let mut hup = signal(SignalKind::hangup())?;
        let mut stdout = std::io::stdout();
        let mut detaching = false;
        let mut keys_open = true;
        let mut mode = self.undecided();
        // The last output position drawn, to resume from after a hand-over.
        let mut seq = None;

        let outcome = loop {
            if mode == Mode::Relayed && self.keys.is_none() {
                self.keys = Some(spawn_stdin_reader());
            }
            let direct = mode == Mode::Direct;
            tokio::select! {
                frame = self.conn.recv() => {
                    let msg = match frame {
                        Ok(msg) => msg,
                        Err(e) => break Outcome::ServerGone(format!("{e:#}")),
                    };
                    if mode == Mode::Undecided {
                        mode = if msg == ServerMsg::Direct { Mode::Direct } else { Mode::Relayed };
                    }
                    match msg {
                        ServerMsg::Direct => self.conn.send(&ClientMsg::Start).await?,
                        // A large redraw comes as several `Redraw` frames with the same seq:
                        // drawn in order, they are one repaint.
                        ServerMsg::Output { data, seq: at } | ServerMsg::Redraw { data, seq: at } => {
                            stdout.write_all(&data)?;
                            stdout.flush()?;
                            seq = Some(at);
                        }
                        ServerMsg::Written { seq: at } => seq = Some(at),
                        ServerMsg::HandOver { reason } => {
                            match self.resume(id, read_only, seq).await {
                                Ok(()) => mode = self.undecided(),
                                Err(e) => break Outcome::ServerGone(format!("{reason}: {e:#}")),
                            }
                        }
                        ServerMsg::Exit { status } => break Outcome::Exited(status),
                        ServerMsg::Closing { reason } => break Outcome::ServerGone(reason),
                        ServerMsg::Detached => break Outcome::Detached,
                        ServerMsg::Error { message } => bail!("{message}"),
                        _ => {}
                    }
                }
                typed = next_keys(&mut self.keys), if mode == Mode::Relayed && keys_open && !detaching => {
                    let Some(data) = typed else {
                        // End of input: nothing more to type; keep showing output until the end.
                        keys_open = false;
                        continue;
                    };
                    let (before, detach) = match data.iter().position(|b| *b == self.detach_key) {
                        Some(at) => (&data[..at], true),
                        None => (&data[..], false),
                    };
                    if !read_only && !before.is_empty() {
                        self.conn.send(&ClientMsg::Input { data: before.to_vec() }).await?;
                    }
                    if detach {
                        self.conn.send(&ClientMsg::Detach).await?;
                        detaching = true;
                    }
                }
                _ = winch.recv() => {
                    if !read_only {
                        self.conn.send(&ClientMsg::Resize { size: terminal_size() }).await?;
                    }
                }
                _ = term.recv() => break self.leave(direct, libc::SIGTERM).await,
                _ = hup.recv() => break self.leave(direct, libc::SIGHUP).await,
            }
        };
        Ok(outcome)
    }

    /// The mode right after `Attached`.
    fn undecided(&self) -> Mode {
        if self.passed {
            Mode::Undecided
        } else {
            Mode::Relayed
        }
    }

    /// Ends the attachment on a terminating signal. A server that writes to the terminal
    /// itself is asked to detach first, and waited for (at most [`LEAVE_WAIT`]), so that
    /// nothing it writes comes after the terminal's mode is restored.
    async fn leave(&mut self, direct: bool, signal: i32) -> Outcome {
        if direct && self.conn.send(&ClientMsg::Detach).await.is_ok() {
            let _ = tokio::time::timeout(LEAVE_WAIT, async {
                while let Ok(msg) = self.conn.recv().await {
                    if matches!(
                        msg,
                        ServerMsg::Detached | ServerMsg::Exit { .. } | ServerMsg::Closing { .. }
                    ) {
                        return;
                    }
                }
            })
            .await;
        }
        Outcome::Signalled(signal)
    }

    /// Reconnects after a hand-over and attaches to session `id` again, continuing after
    /// `seq` (the server repaints only if its ring no longer holds it), passing the
    /// terminal again when it can. A connection that breaks on the way
    /// (reached the old server as it left) is tried again.
    async fn resume(&mut self, id: &str, read_only: bool, seq: Option<u64>) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + crate::connection::HANDOVER_WAIT;
        loop {
            let attempt = async {
                let conn = self.conn.reconnect().await?;
                let mut link = Link {
                    conn,
                    detach_key: self.detach_key,
                    keys: self.keys.take(),
                    passed: false,
                };
                let offered = link.offer_terminal().await;
                self.keys = link.keys.take();
                offered?;
                self.passed = link.passed;
                let mut conn = link.conn;
                let size = terminal_size();
                let request = match seq {
                    Some(from_seq) => ClientMsg::Follow {
                        target: id.to_string(),
                        read_only,
                        size,
                        from_seq,
                    },
                    None => ClientMsg::Attach {
                        target: Some(id.to_string()),
                        read_only,
                        size,
                    },
                };
                match conn.request(&request).await? {
                    ServerMsg::Attached { .. } => Ok(conn),
                    other => bail!("unexpected reply: {other:?}"),
                }
            };
            match attempt.await {
                Ok(conn) => {
                    self.conn = conn;
                    // `Direct`, when it comes, is the next frame: the loop answers it.
                    return Ok(());
                }
                Err(e) if tokio::time::Instant::now() >= deadline => return Err(e),
                // An answer from the server (no such session) will not change.
                Err(e)
                    if !e.to_string().contains("lost the server")
                        && !e.to_string().contains("closed the connection") =>
                {
                    return Err(e)
                }
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            }
        }
    }
}

/// The next keys read by the keyboard thread (none while there is no thread).
async fn next_keys(keys: &mut Option<mpsc::Receiver<Vec<u8>>>) -> Option<Vec<u8>> {
    match keys {
        Some(keys) => keys.recv().await,
        None => std::future::pending().await,
    }
}

/// Reads the keyboard on a thread (a blocking read on the shared terminal is the only
/// portable way; making stdin non-blocking would affect the parent shell too).
fn spawn_stdin_reader() -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel(16);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = vec![0u8; STDIN_CHUNK];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if tx.blocking_send(buf[..n].to_vec()).is_err() {
                        return;
                    }
                }
            }
        }
    });
    rx
}
