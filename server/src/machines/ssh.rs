//! One ssh connection to another machine's server: `sh -c 'exec $ITWILLSYNC_SSH_COMMAND
//! -T -o BatchMode=yes "$@"' itwillsync-ssh DEST itwillsync bridge` started with piped
//! stdio (killed when dropped), the preambles exchanged, then frames both ways. ssh's
//! stderr is read by a task of its own that keeps the last line, so a lost connection can
//! say why ("Connection refused", "Permission denied"). The machine's link
//! (`machines.rs`) and each attachment or log stream through it (`remote.rs`) open one.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use itwillsync_protocol::codec::Codec;
use itwillsync_protocol::preamble::{self, PreambleError};
use itwillsync_protocol::{ClientMsg, ServerMsg};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::task::JoinHandle;
use tokio_util::codec::{FramedRead, FramedWrite};

use super::lock;

/// Why a connection ended or could not be made, in one line.
#[derive(Debug)]
pub enum Lost {
    /// The other end speaks another protocol version.
    Mismatch(String),
    /// ssh failed or exited, or the machine stopped answering.
    Gone(String),
}

impl Lost {
    /// The line for the user.
    pub fn message(&self) -> &str {
        match self {
            Lost::Mismatch(m) | Lost::Gone(m) => m,
        }
    }
}

/// One ssh connection to a machine's server, past the preamble exchange.
pub struct Remote {
    /// Frames from the remote server.
    pub from: FramedRead<ChildStdout, Codec<ServerMsg, ClientMsg>>,
    /// Frames to the remote server.
    pub to: FramedWrite<ChildStdin, Codec<ServerMsg, ClientMsg>>,
    /// ssh itself (killed when this is dropped).
    pub child: Child,
    /// ssh's last line on stderr.
    stderr: Tail,
}

/// The last non-empty line ssh wrote on stderr, read by a task of its own.
struct Tail {
    last: Arc<Mutex<String>>,
    task: Option<JoinHandle<()>>,
}

impl Remote {
    /// Starts ssh to `dest` and exchanges preambles within `timeout`.
    pub(super) async fn open(ssh: &str, dest: &str, timeout: Duration) -> Result<Remote, Lost> {
        let mut child = ssh_command(ssh, dest)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| Lost::Gone(format!("cannot run ssh: {e}")))?;
        // Both were asked for as pipes just above, so both are there.
        let (mut to, mut from) = (child.stdin.take().unwrap(), child.stdout.take().unwrap());
        let mut stderr = Tail {
            last: Arc::new(Mutex::new(String::new())),
            task: None,
        };
        if let Some(err) = child.stderr.take() {
            let last = stderr.last.clone();
            stderr.task = Some(tokio::spawn(async move {
                let mut lines = BufReader::new(err).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if !line.trim().is_empty() {
                        *lock(&last) = line.trim().chars().take(200).collect();
                    }
                }
            }));
        }
        let handshake = async {
            to.write_all(&preamble::encode()).await?;
            let mut theirs = [0u8; preamble::LEN];
            from.read_exact(&mut theirs).await?;
            Ok::<_, std::io::Error>(theirs)
        };
        let theirs = match tokio::time::timeout(timeout, handshake).await {
            Ok(Ok(theirs)) => theirs,
            Ok(Err(_)) => {
                return Err(Lost::Gone(
                    why_gone(&mut child, &mut stderr, "ssh exited").await,
                ))
            }
            Err(_) => return Err(Lost::Gone(format!("no answer in {}", seconds(timeout)))),
        };
        match preamble::check(&theirs) {
            Ok(()) => {}
            Err(PreambleError::VersionMismatch { ours, theirs }) => {
                return Err(Lost::Mismatch(format!(
                    "it speaks protocol {theirs}, this server {ours}: install the same \
                     itwillsync version on both"
                )))
            }
            Err(e) => return Err(Lost::Gone(format!("{e} (is itwillsync on its PATH?)"))),
        }
        Ok(Remote {
            from: FramedRead::new(from, Codec::new()),
            to: FramedWrite::new(to, Codec::new()),
            child,
            stderr,
        })
    }

    /// Why the connection ended: ssh's last line on stderr, or `fallback`.
    pub async fn why_gone(&mut self, fallback: &str) -> String {
        why_gone(&mut self.child, &mut self.stderr, fallback).await
    }
}

/// ssh's last line on stderr once it has exited (waiting a moment for it), or `fallback`.
async fn why_gone(child: &mut Child, stderr: &mut Tail, fallback: &str) -> String {
    let moment = Duration::from_millis(500);
    let _ = tokio::time::timeout(moment, child.wait()).await;
    if let Some(task) = stderr.task.take() {
        let _ = tokio::time::timeout(moment, task).await;
    }
    let line = lock(&stderr.last).clone();
    if line.is_empty() {
        fallback.to_string()
    } else {
        line
    }
}

/// `90 s`, or `0.2 s` for the tests' short timers.
pub(super) fn seconds(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

/// `ssh … DEST itwillsync bridge`, with `ssh` replaced by `ITWILLSYNC_SSH_COMMAND`.
fn ssh_command(ssh: &str, dest: &str) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new("sh");
    // `exec`, so the child is ssh itself: killing it ends the connection.
    cmd.arg("-c")
        .arg(format!("exec {ssh} -T -o BatchMode=yes \"$@\""))
        .args(["itwillsync-ssh", dest, "itwillsync", "bridge"])
        .stdin(Stdio::null());
    cmd
}
