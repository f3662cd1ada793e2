//! `server.log`, rotated by size: past [`MAX_BYTES`] it becomes `server.log.1` (replacing
//! the previous one) and a new `server.log` starts, so the server's own log never takes
//! more than twice that on disk, whatever floods it.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;

/// Size at which the log is rotated.
pub const MAX_BYTES: u64 = 10 << 20;

/// The log file, written through `tracing`'s writer (behind a `Mutex`).
pub struct LogFile {
    path: PathBuf,
    file: File,
    len: u64,
    max: u64,
}

impl LogFile {
    /// Opens (appending to) `path`.
    pub fn open(path: PathBuf) -> std::io::Result<Self> {
        Self::with_max(path, MAX_BYTES)
    }

    fn with_max(path: PathBuf, max: u64) -> std::io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let len = file.metadata()?.len();
        Ok(Self {
            path,
            file,
            len,
            max,
        })
    }

    /// Moves the full log aside and starts a new one; on failure it keeps writing.
    fn rotate(&mut self) {
        let mut old = self.path.clone().into_os_string();
        old.push(".1");
        let reopened = std::fs::rename(&self.path, &old).and_then(|()| {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
        });
        if let Ok(file) = reopened {
            self.file = file;
            self.len = 0;
        }
    }
}

impl Write for LogFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.len >= self.max {
            self.rotate();
        }
        let n = self.file.write(buf)?;
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_two_files_of_bounded_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.log");
        let mut log = LogFile::with_max(path.clone(), 1000).unwrap();
        for i in 0..1000 {
            writeln!(log, "line {i:04} of a log that floods").unwrap();
        }
        let len = |p: &std::path::Path| std::fs::metadata(p).unwrap().len();
        assert!(len(&path) <= 1000 + 40);
        assert!(len(&dir.path().join("server.log.1")) <= 1000 + 40);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
        let last = std::fs::read_to_string(&path).unwrap();
        assert!(last.ends_with("line 0999 of a log that floods\n"));
    }
}
