//! The state directory, `$ITWILLSYNC_HOME` (default `~/.itwillsync`), and the files in it.
//!
//! The directory holds the socket, the master token and session logs, so only its owner
//! may enter it. A missing one is created 0700. An existing one is never chmod'ed (it may
//! be `/tmp`, or shared on purpose): one that belongs to another user or has any group or
//! other permission bit is refused with a one-line error saying what to do, as tmux
//! refuses an unsafe socket directory. Both the CLI ([`Home::check`], before it trusts a
//! socket there) and the server ([`Home::create`]) check it.
//!
//! One server per directory is guaranteed by an exclusive `flock` on `server.lock` held
//! for the server's life: whoever holds it owns the socket, `hub.json` and `hub.pid`, and
//! anything left there by a crashed server is stale by definition and replaced.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

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

    /// Creates the directory (0700) and `logs/` when missing; refuses an existing directory
    /// that is not private to this user ([`Home::check`]) and never changes its mode.
    pub fn create(&self) -> anyhow::Result<()> {
        if let Some(parent) = self.dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        match DirBuilder::new().mode(0o700).create(&self.dir) {
            // Ours and new: the umask may have narrowed it, so it is set exactly.
            Ok(()) => {
                std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700))
                    .with_context(|| format!("cannot set permissions on {}", self.dir.display()))?
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(e).with_context(|| format!("cannot create {}", self.dir.display()))
            }
        }
        self.check()?;
        match DirBuilder::new().mode(0o700).create(self.logs_dir()) {
            Err(e) if e.kind() != ErrorKind::AlreadyExists => {
                Err(e).with_context(|| format!("cannot create {}", self.logs_dir().display()))
            }
            _ => Ok(()),
        }
    }

    /// Refuses the directory when it exists but other users could enter or write it (any
    /// group or other permission bit), or it belongs to another user. `Ok(false)` when it
    /// does not exist (yet), `Ok(true)` when it is private. A symlink to a private directory
    /// is accepted when the link is this user's too.
    pub fn check(&self) -> anyhow::Result<bool> {
        let uid = rustix::process::getuid().as_raw();
        let link = match std::fs::symlink_metadata(&self.dir) {
            Ok(meta) => meta,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", self.dir.display())),
        };
        let meta = if link.file_type().is_symlink() {
            unsafe_dir(&self.dir, link.uid(), 0, uid)?;
            std::fs::metadata(&self.dir)
                .with_context(|| format!("cannot read {}", self.dir.display()))?
        } else {
            link
        };
        if !meta.is_dir() {
            bail!(
                "the state directory {} is not a directory: set ITWILLSYNC_HOME to a directory",
                self.dir.display()
            );
        }
        unsafe_dir(&self.dir, meta.uid(), meta.mode(), uid)?;
        Ok(true)
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

    /// The dashboard's master key (64 hex characters), kept across restarts.
    pub fn master_key(&self) -> PathBuf {
        self.dir.join("master.token")
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

/// The one-line refusal of a state directory with `owner` and `mode`, for user `uid`.
fn unsafe_dir(dir: &Path, owner: u32, mode: u32, uid: u32) -> anyhow::Result<()> {
    let dir = dir.display();
    if owner != uid {
        bail!(
            "the state directory {dir} belongs to another user (uid {owner}, you are {uid}): \
             set ITWILLSYNC_HOME to a directory of your own"
        );
    }
    if mode & 0o077 != 0 {
        bail!(
            "the state directory {dir} is open to other users (mode {:04o}); it would hold \
             your socket and keys: set ITWILLSYNC_HOME to a new directory, or `chmod 700` \
             this one if only you use it",
            mode & 0o7777
        );
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn a_missing_directory_is_created_private() {
        let tmp = tempfile::tempdir().unwrap();
        let home = Home::at(tmp.path().join("a/b/state"));
        assert!(!home.check().unwrap(), "missing is not an error");
        home.create().unwrap();
        assert_eq!(mode(home.dir()), 0o700);
        assert_eq!(mode(&home.logs_dir()), 0o700);
        assert!(home.check().unwrap());
        home.create().unwrap();
    }

    #[test]
    fn an_open_directory_is_refused_and_left_alone() {
        let tmp = tempfile::tempdir().unwrap();
        for open in [0o1777, 0o755, 0o750, 0o701] {
            let dir = tmp.path().join(format!("open-{open:o}"));
            std::fs::create_dir(&dir).unwrap();
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(open)).unwrap();
            let home = Home::at(dir.clone());
            for err in [home.check().unwrap_err(), home.create().unwrap_err()] {
                let err = format!("{err:#}");
                assert!(err.contains(&*dir.to_string_lossy()), "{err}");
                assert!(
                    err.contains("open to other users") && !err.contains('\n'),
                    "{err}"
                );
            }
            assert_eq!(mode(&dir), open, "the mode is unchanged");
            assert!(!home.logs_dir().exists(), "nothing was created inside");
        }
        // A symlink to a private directory is fine; to an open one it is not.
        let private = tmp.path().join("private");
        std::fs::create_dir(&private).unwrap();
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::symlink(&private, tmp.path().join("link")).unwrap();
        Home::at(tmp.path().join("link")).create().unwrap();
        std::os::unix::fs::symlink(tmp.path().join("open-755"), tmp.path().join("bad")).unwrap();
        assert!(Home::at(tmp.path().join("bad")).check().is_err());
        // A file is not a directory.
        std::fs::write(tmp.path().join("file"), "").unwrap();
        assert!(Home::at(tmp.path().join("file")).create().is_err());
    }

    #[test]
    fn another_users_directory_is_refused() {
        let dir = Path::new("/somewhere");
        let err = unsafe_dir(dir, 1000, 0o40700, 1001)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/somewhere") && err.contains("another user"),
            "{err}"
        );
        assert!(unsafe_dir(dir, 1001, 0o40700, 1001).is_ok());
        let err = unsafe_dir(dir, 1001, 0o41777, 1001)
            .unwrap_err()
            .to_string();
        assert!(err.contains("mode 1777"), "{err}");
    }
}
