//! Each session's output appended to `logs/<id>.log` (0600).
//!
//! Writes go through a buffer the actor flushes within 100 ms of new output and on exit. A
//! failing disk never stops a session: the first error is logged and the log is closed.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Buffer size: large enough that bulk output costs few system calls.
const BUFFER: usize = 64 << 10;

/// An append-only output log that turns itself off on the first error.
pub struct OutputLog {
    file: Option<BufWriter<File>>,
    path: PathBuf,
}

impl OutputLog {
    /// Opens (creating 0600) `dir/<id>.log`; on failure the session runs without a log.
    pub fn open(dir: &Path, id: &str) -> Self {
        let path = dir.join(format!("{id}.log"));
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)
            .map(|f| BufWriter::with_capacity(BUFFER, f));
        let file = match file {
            Ok(f) => Some(f),
            Err(e) => {
                tracing::warn!(path = %path.display(), "session log disabled: {e}");
                None
            }
        };
        Self { file, path }
    }

    /// Appends output.
    pub fn write(&mut self, data: &[u8]) {
        if let Some(file) = &mut self.file {
            if let Err(e) = file.write_all(data) {
                self.fail(e);
            }
        }
    }

    /// Pushes buffered output to the file.
    pub fn flush(&mut self) {
        if let Some(file) = &mut self.file {
            if let Err(e) = file.flush() {
                self.fail(e);
            }
        }
    }

    fn fail(&mut self, e: std::io::Error) {
        tracing::warn!(path = %self.path.display(), "session log disabled: {e}");
        // Dropping a BufWriter retries the flush once; the error is ignored there.
        self.file = None;
    }
}

/// Removes `*.log` files in `dir` older than `days`.
pub fn prune(dir: &Path, days: u64) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let cutoff = SystemTime::now() - Duration::from_secs(days.saturating_mul(86_400));
    for entry in entries.flatten() {
        let path = entry.path();
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .map(|t| t < cutoff)
            .unwrap_or(false);
        if old && path.extension().is_some_and(|e| e == "log") {
            if let Err(e) = std::fs::remove_file(&path) {
                tracing::warn!(path = %path.display(), "cannot remove old log: {e}");
            }
        }
    }
}
