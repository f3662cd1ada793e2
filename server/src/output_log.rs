//! Each session's output appended to `logs/<id>.log` (0600), off the actor's path.
//!
//! The actor hands output to an [`OutputLog`], which only copies it into a queue bounded
//! in bytes ([`QUEUE_BYTES`]); a writer task takes everything queued (gathering for at most
//! [`GATHER`]) and writes it on a blocking thread. A slow or stuck disk therefore never
//! stalls PTY reads: when the queue is full, output is left out of the log and a one-line
//! note says how much. A failing disk never stops a session: the first error is logged
//! and the log is closed.
//!
//! Each log is capped at `maxLogBytesPerSession`: when `<id>.log` reaches half of it, it
//! becomes `<id>.log.1` (replacing the older one) and a new `<id>.log` starts, so the two
//! together hold at most the cap and always the newest output.
//!
//! Locks: a `std::sync::Mutex` around the queue, held to append or to take it, never
//! across I/O or an `.await`; one around the batch the writer took; and one around the
//! file, held on a blocking thread while a batch is written, so that [`flush_all`] (the
//! server's panic hook: a crash still leaves the logs on disk) and the writer never write
//! out of order. The queue's and the batch's locks are taken inside the file's, never the
//! other way round.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::Notify;
use tokio::time::Instant;

/// Output waiting for the writer, per session: a few seconds of a fast disk at full PTY
/// speed, and the most memory a stuck disk costs.
const QUEUE_BYTES: usize = 4 << 20;
/// Queued output the writer takes without waiting for more: large enough that bulk output
/// costs few system calls.
const BATCH: usize = 64 << 10;
/// How long the writer gathers output before writing less than a batch: output reaches
/// the file within this time.
const GATHER: Duration = Duration::from_millis(100);

/// The actor's end of a session's log; dropping it lets the writer finish and close.
pub struct OutputLog {
    queue: Arc<Queue>,
    /// The writer, so a hand-over can wait until everything queued is on disk.
    writer: Option<tokio::task::JoinHandle<()>>,
}

/// Output between the actor and the writer.
#[derive(Default)]
struct Queue {
    /// Held to append or take, never across I/O.
    state: Mutex<Pending>,
    /// Wakes the writer: output arrived or the log closed.
    wake: Notify,
    /// The file, once opened. Held (on a blocking thread) while a batch is written.
    file: Mutex<Option<Capped>>,
    /// The batch the writer took and has not written yet: [`flush_all`] writes it before
    /// what is still queued, so a crash's flush keeps the order.
    taken: Mutex<Option<(Vec<u8>, u64)>>,
}

#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    /// Bytes left out since the writer last took the queue. While non-zero nothing is
    /// queued, so the note marks exactly where output is missing.
    dropped: u64,
    closed: bool,
}

impl OutputLog {
    /// Starts the writer of `dir/<id>.log`, capped at `cap` bytes with its predecessor;
    /// if the file cannot be opened the session runs without a log.
    pub fn open(dir: &Path, id: &str, cap: u64) -> Self {
        let queue = Arc::new(Queue::default());
        {
            let mut live = lock(&LIVE);
            live.retain(|q| q.strong_count() > 0);
            live.push(Arc::downgrade(&queue));
        }
        let file = Capped::new(dir, id, cap);
        let writer = tokio::spawn(write_out(queue.clone(), file, id.to_string()));
        Self {
            queue,
            writer: Some(writer),
        }
    }

    /// Closes the log and waits until its writer has written everything queued (before a
    /// hand-over's exec, which would end the writer mid-way).
    pub async fn close(mut self) {
        let writer = self.writer.take();
        drop(self);
        if let Some(writer) = writer {
            let _ = writer.await;
        }
    }

    /// Queues output for the log; never waits (when the queue is full it is left out).
    /// Wakes the writer only when what it waits for comes: the first output after it took
    /// the queue, a full batch, or the first byte left out.
    pub fn write(&self, data: &[u8]) {
        let wake = {
            let mut pending = lock(&self.queue.state);
            let before = pending.bytes.len();
            if pending.dropped > 0 || before + data.len() > QUEUE_BYTES {
                pending.dropped += data.len() as u64;
                pending.dropped == data.len() as u64
            } else {
                pending.bytes.extend_from_slice(data);
                before == 0 || (before < BATCH && pending.bytes.len() >= BATCH)
            }
        };
        if wake {
            self.queue.wake.notify_one();
        }
    }
}

impl Drop for OutputLog {
    fn drop(&mut self) {
        self.queue
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .closed = true;
        self.queue.wake.notify_one();
    }
}

/// The writer task: opens the file, then writes what is queued until the log is closed
/// and everything is written.
async fn write_out(queue: Arc<Queue>, file: Capped, id: String) {
    let opened = queue.clone();
    let open = move || *lock(&opened.file) = Some(file.opened());
    if tokio::task::spawn_blocking(open).await.is_err() {
        return;
    }
    while let Some(batch) = queue.next().await {
        *lock(&queue.taken) = Some(batch);
        crate::test_hooks::pause("log-write", &id).await;
        let writing = queue.clone();
        if let Err(e) = tokio::task::spawn_blocking(move || writing.write_pending()).await {
            tracing::warn!(session = %id, "session log disabled: {e}");
            return;
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Each critical section leaves the data whole (bytes appended or taken at once).
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Every live session log's queue, for [`flush_all`].
static LIVE: Mutex<Vec<std::sync::Weak<Queue>>> = Mutex::new(Vec::new());

/// Writes what every session log has queued, now, on the calling thread: the server's
/// panic hook calls it, so that even a crash that ends the process leaves the logs on
/// disk up to the last output read. A log whose file is busy (its writer is in the
/// middle of a write) is skipped rather than waited for.
pub fn flush_all() {
    let Ok(live) = LIVE.try_lock() else {
        return;
    };
    for queue in live.iter().filter_map(std::sync::Weak::upgrade) {
        queue.flush_now();
    }
}

impl Queue {
    /// [`flush_all`] for this log: the writer's batch first, then what was queued after
    /// it. Skipped while the writer holds the file (it is writing).
    fn flush_now(&self) {
        let Ok(mut file) = self.file.try_lock() else {
            return;
        };
        let Some(file) = file.as_mut() else {
            return;
        };
        let taken = lock(&self.taken).take();
        if let Some((bytes, dropped)) = taken {
            append(file, &bytes, dropped);
        }
        let mut pending = lock(&self.state);
        let bytes = std::mem::take(&mut pending.bytes);
        let dropped = std::mem::take(&mut pending.dropped);
        drop(pending);
        append(file, &bytes, dropped);
    }
}

impl Queue {
    /// The next output to write and how much was left out before it: waits for output,
    /// then gathers up to [`BATCH`] for at most [`GATHER`]. `None` once closed and empty.
    async fn next(&self) -> Option<(Vec<u8>, u64)> {
        loop {
            {
                let pending = lock(&self.state);
                if !pending.bytes.is_empty() || pending.dropped > 0 {
                    break;
                }
                if pending.closed {
                    return None;
                }
            }
            self.wake.notified().await;
        }
        let deadline = Instant::now() + GATHER;
        loop {
            {
                let pending = lock(&self.state);
                if pending.bytes.len() >= BATCH || pending.dropped > 0 || pending.closed {
                    break;
                }
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        let mut pending = lock(&self.state);
        let bytes = std::mem::take(&mut pending.bytes);
        Some((bytes, std::mem::take(&mut pending.dropped)))
    }

    /// Writes the batch the writer took (blocking I/O), under the file's lock.
    fn write_pending(&self) {
        let mut file = lock(&self.file);
        let taken = lock(&self.taken).take();
        if let (Some(file), Some((bytes, dropped))) = (file.as_mut(), taken) {
            append(file, &bytes, dropped);
        }
    }
}

/// Appends output, then the note saying how much was left out after it.
fn append(file: &mut Capped, bytes: &[u8], dropped: u64) {
    file.append(bytes);
    if dropped > 0 {
        let note = format!(
            "\r\n[itwillsync: {dropped} bytes of output left out of this log: the disk was too slow]\r\n"
        );
        file.append(note.as_bytes());
    }
}

/// A session's log file and its predecessor, together at most `cap` bytes. Blocking I/O:
/// used only on the writer's blocking thread.
struct Capped {
    path: PathBuf,
    file: Option<File>,
    /// Bytes in the current file.
    len: u64,
    /// The size at which the current file becomes the predecessor: half the cap.
    rotate_at: u64,
}

impl Capped {
    /// Not yet opened (see [`Capped::opened`]).
    fn new(dir: &Path, id: &str, cap: u64) -> Self {
        Self {
            path: dir.join(format!("{id}.log")),
            file: None,
            len: 0,
            rotate_at: (cap / 2).max(1),
        }
    }

    /// Opens (creating 0600) the file for appending; without it the log is off.
    fn opened(mut self) -> Self {
        match open(&self.path) {
            Ok(file) => {
                self.len = file.metadata().map(|m| m.len()).unwrap_or(0);
                self.file = Some(file);
            }
            Err(e) => tracing::warn!(path = %self.path.display(), "session log disabled: {e}"),
        }
        self
    }

    /// Appends `data`, rotating whenever the current file reaches half the cap.
    fn append(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let Some(file) = &mut self.file else { return };
            if self.len >= self.rotate_at {
                self.rotate();
                continue;
            }
            let room = (self.rotate_at - self.len).min(data.len() as u64) as usize;
            if let Err(e) = file.write_all(&data[..room]) {
                self.fail(e);
                return;
            }
            self.len += room as u64;
            data = &data[room..];
        }
    }

    /// `<id>.log` becomes `<id>.log.1`; a new `<id>.log` starts.
    fn rotate(&mut self) {
        self.file = None;
        let older = predecessor(&self.path);
        let reopened = std::fs::rename(&self.path, &older).and_then(|()| open(&self.path));
        match reopened {
            Ok(file) => {
                self.file = Some(file);
                self.len = 0;
            }
            Err(e) => self.fail(e),
        }
    }

    fn fail(&mut self, e: std::io::Error) {
        tracing::warn!(path = %self.path.display(), "session log disabled: {e}");
        self.file = None;
    }
}

fn open(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

/// `<id>.log.1` for `<id>.log`.
fn predecessor(path: &Path) -> PathBuf {
    let mut older = path.as_os_str().to_owned();
    older.push(".1");
    PathBuf::from(older)
}

/// Removes session logs (`*.log` and their `*.log.1`) in `dir` older than `days`.
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
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if old && (name.ends_with(".log") || name.ends_with(".log.1")) {
            if let Err(e) = std::fs::remove_file(&path) {
                tracing::warn!(path = %path.display(), "cannot remove old log: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(path: &Path) -> Vec<u8> {
        std::fs::read(path).unwrap_or_default()
    }

    #[test]
    fn the_log_and_its_predecessor_hold_at_most_the_cap_and_the_newest_output() {
        let dir = tempfile::tempdir().unwrap();
        let cap = 1000;
        let mut log = Capped::new(dir.path(), "s", cap).opened();
        let mut all = Vec::new();
        for i in 0..300u32 {
            let chunk = format!("line {i}\n").into_bytes();
            all.extend_from_slice(&chunk);
            log.append(&chunk);
            let current = read(&dir.path().join("s.log"));
            let older = read(&dir.path().join("s.log.1"));
            assert!(current.len() as u64 <= cap / 2 && older.len() as u64 <= cap / 2);
            // Together they are the newest output, without a gap.
            let kept = [older, current].concat();
            assert!(all.ends_with(&kept), "the newest output, in order");
        }
        let kept = read(&dir.path().join("s.log.1")).len() + read(&dir.path().join("s.log")).len();
        assert!(
            kept as u64 >= cap / 2,
            "at least half the cap is kept: {kept}"
        );
        let mode = std::fs::metadata(dir.path().join("s.log")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(mode.permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn a_chunk_larger_than_the_cap_keeps_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Capped::new(dir.path(), "s", 100).opened();
        let chunk: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
        log.append(&chunk);
        let kept = [
            read(&dir.path().join("s.log.1")),
            read(&dir.path().join("s.log")),
        ]
        .concat();
        assert_eq!(kept, chunk[900..]);
    }

    #[tokio::test]
    async fn a_crash_flush_writes_the_writers_batch_then_the_queue() {
        let dir = tempfile::tempdir().unwrap();
        let gate = crate::test_hooks::arm("log-write", "crash");
        let log = OutputLog::open(dir.path(), "crash", 1 << 30);
        log.write(b"taken ");
        gate.reached().await;
        // The writer took "taken " and is stuck; more output waits in the queue.
        log.write(b"queued");
        log.queue.flush_now();
        assert_eq!(read(&dir.path().join("crash.log")), b"taken queued");
        // The writer, released, finds its batch written and writes nothing twice.
        gate.release();
        log.close().await;
        assert_eq!(read(&dir.path().join("crash.log")), b"taken queued");
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_queue_leaves_output_out_with_a_note_instead_of_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let gate = crate::test_hooks::arm("log-write", "q");
        let log = OutputLog::open(dir.path(), "q", 1 << 30);
        log.write(b"first ");
        gate.reached().await;
        // The writer is stuck: the queue fills, then output is left out, and no write waits.
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..6 {
            log.write(&chunk);
        }
        log.write(b" after");
        gate.release();
        drop(log);
        let path = dir.path().join("q.log");
        let text = loop {
            let bytes = read(&path);
            if bytes.ends_with(b"slow]\r\n") {
                break String::from_utf8(bytes).unwrap();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        assert!(text.starts_with("first xxx"), "{}", &text[..20]);
        let note =
            "[itwillsync: 2097158 bytes of output left out of this log: the disk was too slow]";
        let at = text.find(note).expect("the note");
        assert_eq!(
            at,
            "first ".len() + (4 << 20) + 2,
            "right where output is missing"
        );
        assert_eq!(at + note.len() + 2, text.len(), "the note ends the log");
    }
}
