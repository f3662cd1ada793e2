//! The state directory, `$ITWILLSYNC_HOME` (default `~/.itwillsync`), and the files in it.
//!
//! The directory is created 0700. One server per directory is guaranteed by an exclusive
//! `flock` on `server.lock` held for the server's life: whoever holds it owns the socket,
//! `hub.json` and `hub.pid`, and anything left there by a crashed server is stale by
//! definition and replaced.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;

/// Paths inside the state directory.
#[derive(Debug, Clone)]
pub struct Home {
    dir: PathBuf,
}

impl Home {
    /// `$ITWILLSYNC_HOME`, else `~/.itwillsync`. Does not touch the disk.
    pub fn from_env() -> anyhow::Result<Self> {
        if let Some(dir) = std::env::var_os("ITWILLSYNC_HOME").filter(|d| !d.is_empty()) {
            return Ok(Self::at(PathBuf::from(dir)));
        }
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .context("neither ITWILLSYNC_HOME nor HOME is set")?;
        Ok(Self::at(PathBuf::from(home).join(".itwillsync")))
    }

    /// A state directory at `dir`.
    pub fn at(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// The directory itself.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates the directory (0700) and `logs/` if needed, and tightens an existing one.
    pub fn create(&self) -> anyhow::Result<()> {
        std::fs::create_dir_all(self.logs_dir())
            .with_context(|| format!("cannot create {}", self.logs_dir().display()))?;
        for dir in [&self.dir, &self.logs_dir()] {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .with_context(|| format!("cannot set permissions on {}", dir.display()))?;
        }
        Ok(())
    }

    /// The Unix socket local terminals use.
    pub fn socket(&self) -> PathBuf {
        self.dir.join("server.sock")
    }

    /// User settings.
    pub fn config(&self) -> PathBuf {
        self.dir.join("config.json")
    }

    /// `{masterToken, externalPort, internalPort, pid, startedAt, version}`.
    pub fn hub_json(&self) -> PathBuf {
        self.dir.join("hub.json")
    }

    /// The server's pid.
    pub fn hub_pid(&self) -> PathBuf {
        self.dir.join("hub.pid")
    }

    /// Where the Tailscale certificate and its key (0600) are kept.
    pub fn tls_dir(&self) -> PathBuf {
        self.dir.join("tls")
    }

    /// Held with `flock` by the running server.
    pub fn lock(&self) -> PathBuf {
        self.dir.join("server.lock")
    }

    /// The server's own log.
    pub fn server_log(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    /// Where session output logs go.
    pub fn logs_dir(&self) -> PathBuf {
        self.dir.join("logs")
    }

    /// Takes the one-server lock; `Ok(None)` when another server holds it.
    pub fn try_lock(&self) -> anyhow::Result<Option<File>> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(self.lock())
            .with_context(|| format!("cannot open {}", self.lock().display()))?;
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(Some(file)),
            Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
            Err(e) => Err(e).context("cannot lock the state directory"),
        }
    }
}

/// Writes `contents` to `path` with mode 0600, replacing it atomically.
pub fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    file.write_all(contents)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}
