//! Reading `server.log` as `tail -f` does, for `itwillsync logs` on this machine (the
//! CLI reads the file itself) and for the `Logs` request (another machine's `logs
//! --machine`; [`serve`] streams it): whole lines only, and a log that is rotated or cut
//! shorter is followed into its new file.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::Duration;

use itwillsync_protocol::ServerMsg;

use crate::attach::End;
use crate::conn::{Reader, Writer};
use crate::shutdown::Shutdown;

/// Most bytes one [`Tail::read`] returns.
pub const CHUNK: usize = 256 << 10;

/// A position in a log file that may be rotated.
pub struct Tail {
    path: PathBuf,
    file: Option<File>,
    at: u64,
    inode: Option<u64>,
}

impl Tail {
    /// Opens `path`; an error when it does not exist and `missing_ok` is false.
    pub fn open(path: PathBuf, missing_ok: bool) -> std::io::Result<Self> {
        let file = match File::open(&path) {
            Ok(file) => Some(file),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && missing_ok => None,
            Err(e) => return Err(e),
        };
        let inode = file
            .as_ref()
            .map(|f| f.metadata().map(|m| m.ino()))
            .transpose()?;
        Ok(Self {
            path,
            file,
            at: 0,
            inode,
        })
    }

    /// Appends to `out` the whole lines added since the last call (at most [`CHUNK`]
    /// bytes); the number appended.
    pub fn read(&mut self, out: &mut Vec<u8>) -> std::io::Result<usize> {
        let Some(file) = self.file.as_mut() else {
            return Ok(0);
        };
        let start = out.len();
        file.by_ref().take(CHUNK as u64).read_to_end(out)?;
        // Only whole lines: a line being written is sent once it is complete.
        let end = out[start..]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        out.truncate(start + end);
        self.at += end as u64;
        file.seek(SeekFrom::Start(self.at))?;
        Ok(end)
    }

    /// Looks at the path again: a new file there (rotation), or the same one cut shorter,
    /// is read from its start.
    pub fn reopen_if_replaced(&mut self) -> std::io::Result<()> {
        match std::fs::metadata(&self.path) {
            Ok(meta) => {
                let replaced = self.inode.is_some_and(|i| i != meta.ino()) || meta.len() < self.at;
                if self.file.is_none() || replaced {
                    self.file = Some(File::open(&self.path)?);
                    self.at = 0;
                }
                self.inode = Some(meta.ino());
            }
            Err(_) => self.file = None, // between a rotation's rename and the new file
        }
        Ok(())
    }
}

/// How often a followed log is looked at again.
const POLL: Duration = Duration::from_millis(200);

/// Streams this server's log: what it holds, then (with `follow`) what is added, until the
/// client closes the connection.
pub(crate) async fn serve(
    path: std::path::PathBuf,
    follow: bool,
    incoming: &mut Reader,
    out: &mut Writer,
    shutdown: &Shutdown,
) -> anyhow::Result<End> {
    let mut tail = match Tail::open(path.clone(), follow) {
        Ok(tail) => tail,
        Err(e) => {
            let message = format!("cannot read {}: {e}", path.display());
            out.send(&ServerMsg::Error { message }).await?;
            return Ok(End::Detached);
        }
    };
    loop {
        let mut data = Vec::new();
        if tail.read(&mut data)? > 0 {
            out.send(&ServerMsg::Log { data }).await?;
            continue;
        }
        if !follow {
            out.send(&ServerMsg::Done).await?;
            return Ok(End::Detached);
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => tail.reopen_if_replaced()?,
            msg = incoming.recv() => if msg.is_none() {
                return Ok(End::Closed);
            },
            _ = shutdown.wait() => return Ok(End::Closed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_lines_and_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.log");
        std::fs::write(&path, "one\ntw").unwrap();
        let mut tail = Tail::open(path.clone(), false).unwrap();
        let mut out = Vec::new();
        assert_eq!(tail.read(&mut out).unwrap(), 4);
        assert_eq!(out, b"one\n");
        std::fs::write(&path, "one\ntwo\n").unwrap();
        tail.reopen_if_replaced().unwrap();
        out.clear();
        tail.read(&mut out).unwrap();
        assert_eq!(out, b"two\n");
        std::fs::rename(&path, dir.path().join("server.log.1")).unwrap();
        std::fs::write(&path, "three\n").unwrap();
        tail.reopen_if_replaced().unwrap();
        out.clear();
        tail.read(&mut out).unwrap();
        assert_eq!(out, b"three\n");
        assert!(Tail::open(dir.path().join("none"), false).is_err());
        assert!(Tail::open(dir.path().join("none"), true).is_ok());
    }
}
