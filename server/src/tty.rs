//! A client's terminal, passed over the Unix socket (`ClientMsg::Terminal`), for a direct
//! attachment: the server writes the output to it and reads the keys from it, as tmux's
//! server does, instead of relaying both through the client process.
//!
//! Each passed descriptor is opened again through `/proc/self/fd` (`O_NOCTTY`, so the
//! server never gains a controlling terminal), which gives the server its own open file
//! description: `O_NONBLOCK` on it is the server's alone, and the client's (and its
//! shell's) stdin and stdout stay blocking. Where that open fails (no `/proc`, a terminal
//! the user may not open by name), the passed descriptor itself is made non-blocking; the
//! client restores its descriptors' flags when it ends (`client/src/raw.rs`). Reads and
//! writes never block a runtime thread: both wait on [`AsyncFd`] readiness.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::Mutex;

use anyhow::{bail, Context};
use rustix::fs::{Mode, OFlags};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::Notify;

/// A passed terminal, opened for a direct attachment.
pub struct Tty {
    keys: AsyncFd<OwnedFd>,
    screen: AsyncFd<OwnedFd>,
    /// The byte that detaches.
    pub detach_key: u8,
}

impl Tty {
    /// The terminal from a client's two passed descriptors (stdin, stdout); an error
    /// when they are not two terminals.
    pub fn open(fds: Vec<OwnedFd>, detach_key: u8) -> anyhow::Result<Self> {
        let [keys, screen]: [OwnedFd; 2] = match fds.try_into() {
            Ok(pair) => pair,
            Err(fds) => bail!(
                "Terminal needs two descriptors (stdin, stdout) passed with it, got {}",
                fds.len()
            ),
        };
        if !rustix::termios::isatty(&keys) || !rustix::termios::isatty(&screen) {
            bail!("the descriptors passed with Terminal are not terminals");
        }
        Ok(Self {
            keys: register(own(keys)?, Interest::READABLE)?,
            screen: register(own(screen)?, Interest::WRITABLE)?,
            detach_key,
        })
    }

    /// Reads keys; `Ok(0)` at the end of input. Cancel-safe.
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut ready = self.keys.readable().await?;
            match ready.try_io(|fd| Ok(rustix::io::read(fd, &mut *buf)?)) {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }

    /// Writes some of `data` (at least one byte) once the terminal takes it. Cancel-safe:
    /// nothing is written unless it returns.
    pub async fn write(&self, data: &[u8]) -> io::Result<usize> {
        loop {
            let mut ready = self.screen.writable().await?;
            match ready.try_io(|fd| Ok(rustix::io::write(fd, data)?)) {
                Ok(Ok(n)) if n < data.len() => {
                    // Full: the next write waits for room instead of failing once first.
                    ready.clear_ready();
                    return Ok(n);
                }
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }
}

/// A direct terminal shared by its attachment and the session's actor, the actor's short
/// cut: while the attachment has sent everything and waits (armed at its cursor), the
/// actor writes what it reads from the PTY straight to the terminal, as tmux's server
/// does, without waking the attachment or copying the bytes out of the ring. Anything
/// else (the terminal is full, the attachment was not at the head) disarms it and wakes
/// the attachment, which takes over from the position written. Only one of them writes
/// at a time: the actor under the lock, the attachment only while disarmed.
pub struct Shortcut {
    pub tty: Tty,
    /// The attachment's client id (its reading progress paces the PTY).
    pub client: u64,
    /// Armed, and the output position the terminal has been written up to.
    state: Mutex<(bool, u64)>,
    /// The attachment's wake-up when the actor disarms.
    disarmed: Notify,
}

impl Shortcut {
    pub fn new(tty: Tty, client: u64) -> Self {
        Self {
            tty,
            client,
            state: Mutex::new((false, 0)),
            disarmed: Notify::new(),
        }
    }

    /// Lets the actor write the output after `at` (everything before it is written).
    pub fn arm(&self, at: u64) {
        *crate::session::lock(&self.state) = (true, at);
    }

    /// Takes the writing back: the position the terminal is written up to.
    pub fn disarm(&self) -> u64 {
        let mut state = crate::session::lock(&self.state);
        state.0 = false;
        state.1
    }

    /// Disarms it and wakes the attachment, if it was armed (the output it waits at is
    /// gone: a mirror's ring restarted).
    pub fn interrupt(&self) {
        let mut state = crate::session::lock(&self.state);
        if state.0 {
            state.0 = false;
            drop(state);
            self.disarmed.notify_one();
        }
    }

    /// Waits until the actor disarms the short cut. Cancel-safe.
    pub async fn disarmed(&self) {
        self.disarmed.notified().await
    }

    /// The actor's side: `data` was just pushed at output position `from`. Written at
    /// once when armed at `from` (the new position when all of it went), else disarmed
    /// with the attachment woken. The position written up to, when anything was.
    pub fn offer(&self, from: u64, data: &[u8]) -> Option<u64> {
        let mut state = crate::session::lock(&self.state);
        let (armed, at) = *state;
        if !armed {
            return None;
        }
        let written = if at == from {
            rustix::io::write(self.tty.screen.get_ref(), data).unwrap_or(0)
        } else {
            0
        };
        state.1 = at + written as u64;
        if written < data.len() {
            state.0 = false;
            drop(state);
            self.disarmed.notify_one();
        }
        (written > 0).then_some(at + written as u64)
    }
}

/// The terminal behind `fd` on an open file description of the server's own, non-blocking;
/// `fd` itself, made non-blocking, when it cannot be opened again.
fn own(fd: OwnedFd) -> anyhow::Result<OwnedFd> {
    let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
    let flags = OFlags::RDWR | OFlags::NOCTTY | OFlags::NONBLOCK | OFlags::CLOEXEC;
    match rustix::fs::open(&path, flags, Mode::empty()) {
        Ok(own) if rustix::termios::isatty(&own) => Ok(own),
        _ => {
            let flags = rustix::fs::fcntl_getfl(&fd)?;
            rustix::fs::fcntl_setfl(&fd, flags | OFlags::NONBLOCK)
                .context("cannot make the passed terminal non-blocking")?;
            Ok(fd)
        }
    }
}

/// Polls `fd` for `interest` only: a terminal signals room after every read of its other
/// side, and each such signal would wake an idle runtime thread for nothing.
fn register(fd: OwnedFd, interest: Interest) -> anyhow::Result<AsyncFd<OwnedFd>> {
    let raw = fd.as_fd().as_raw_fd();
    // SAFETY: `fd` is an open descriptor owned by the AsyncFd for its whole life.
    unsafe { AsyncFd::register_with_interest(fd, interest) }
        .map_err(|e| e.into_parts().1)
        .with_context(|| format!("cannot poll the passed terminal (fd {raw})"))
}
