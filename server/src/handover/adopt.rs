//! The new binary's side of a hand-over: reading and checking a state (`server
//! check-state`, and `server --adopt` before it serves), taking over the descriptors the
//! previous server left open, and adopting its sessions into the registry.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use anyhow::{bail, Context};
use itwillsync_protocol::seal::Key;

use super::state::{self, Decoded};
use crate::config::Config;
use crate::registry::Registry;
use crate::session::Session;

/// Reads a whole state from descriptor `fd` (from offset 0, leaving the offset alone).
fn read_fd(fd: BorrowedFd<'_>) -> std::io::Result<Vec<u8>> {
    let file = std::mem::ManuallyDrop::new(unsafe {
        // SAFETY: the descriptor stays open; ManuallyDrop never closes it.
        std::fs::File::from_raw_fd(fd.as_raw_fd())
    });
    let len = file.metadata()?.len();
    let mut bytes = vec![0u8; len as usize];
    file.read_exact_at(&mut bytes, 0)?;
    Ok(bytes)
}

/// Reads a state from `source` (a descriptor number or a path) and checks everything the
/// new server needs before it could serve: the format, the settings, the keys.
pub fn load(source: &str) -> anyhow::Result<Decoded> {
    let bytes = match source.parse::<RawFd>() {
        Ok(fd) if fd >= 0 => {
            rustix::io::fcntl_getfd(unsafe { BorrowedFd::borrow_raw(fd) })
                .with_context(|| format!("descriptor {fd} is not open"))?;
            // SAFETY: just checked to be open; only read here.
            read_fd(unsafe { BorrowedFd::borrow_raw(fd) })
                .with_context(|| format!("cannot read descriptor {fd}"))?
        }
        _ => std::fs::read(source).with_context(|| format!("cannot read {source}"))?,
    };
    let decoded = state::decode(bytes)?;
    validate(&decoded)?;
    Ok(decoded)
}

/// What the format alone does not say: the settings are settings, the keys are keys.
fn validate(decoded: &Decoded) -> anyhow::Result<()> {
    let server = &decoded.header.server;
    Config::from_json(server.config.clone()).context("the state's settings")?;
    if let Some(key) = &server.master_key {
        Key::from_hex(key).context("the state's master key is not a key")?;
    }
    for session in &decoded.header.sessions {
        if let Some(web) = &session.web {
            let keys = std::iter::once(&web.full).chain(web.read_only.as_ref());
            for key in keys {
                Key::from_hex(key)
                    .with_context(|| format!("session {}: a key is not a key", session.id))?;
            }
        }
        if session.command.is_empty() {
            bail!("session {}: no command", session.id);
        }
    }
    for mirror in &decoded.header.mirrors {
        crate::web::keys::Keys::adopted(&mirror.web)
            .with_context(|| format!("the mirror of {}", mirror.name))?;
    }
    Ok(())
}

/// `itwillsync server check-state FD|PATH`: one line, for the person or the server that
/// asked.
pub fn check_state(source: &str) -> anyhow::Result<String> {
    let decoded = load(source)?;
    Ok(format!(
        "state version {} from itwillsync {}: {} sessions, readable by this binary",
        decoded.version,
        decoded.header.server.written_by,
        decoded.header.sessions.len()
    ))
}

/// A descriptor the previous server left open for this one.
pub(crate) fn inherited(fd: RawFd) -> OwnedFd {
    // SAFETY: the state names it: open, kept across exec, owned by nobody else here.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let _ = rustix::io::fcntl_setfd(owned.as_fd(), rustix::io::FdFlags::CLOEXEC);
    owned
}

/// Adopts `decoded`'s sessions into `registry` (in the new process).
pub(crate) fn adopt_sessions(registry: &Arc<Registry>, decoded: &Decoded) {
    for s in &decoded.header.sessions {
        if let Err(e) = registry.adopt(s, decoded) {
            tracing::error!(session = %s.id, "cannot adopt the session: {e:#}");
        }
    }
}

/// Sessions, for the log line after adoption.
pub(crate) fn describe(sessions: &[Arc<Session>]) -> String {
    sessions
        .iter()
        .map(|s| format!("{} (pid {})", s.id, s.pid))
        .collect::<Vec<_>>()
        .join(", ")
}
