//! `itwillsync logs [-f]`: the server's log (`$ITWILLSYNC_HOME/server.log`), and with
//! `-f` what is added to it, as `tail -f` does (a log that is rotated or truncated is
//! followed into its new file). Other machines' logs come with machines (not yet built):
//! `--machine` accepts only `local`.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use anyhow::{bail, Context};
use itwillsync_server::Home;

/// How often a followed log is looked at again.
const POLL: Duration = Duration::from_millis(200);

/// Prints the log, then (with `follow`) what is added until interrupted.
pub fn run(home: &Home, follow: bool, machine: Option<&str>) -> anyhow::Result<i32> {
    if let Some(machine) = machine.filter(|m| *m != "local") {
        bail!("no machine named {machine:?} (only `local` exists until machines are added)");
    }
    let path = home.server_log();
    let mut out = std::io::stdout().lock();
    let mut file = match File::open(&path) {
        Ok(file) => Some(file),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && follow => None,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("no server log yet at {}", path.display())
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut at = 0u64;
    let mut inode = None;
    loop {
        if let Some(f) = file.as_mut() {
            at += copy_new(f, &mut out)?;
            out.flush()?;
        }
        if !follow {
            return Ok(0);
        }
        std::thread::sleep(POLL);
        // A new file at the path (rotation), or the same one cut shorter: start over.
        match std::fs::metadata(&path) {
            Ok(meta) => {
                let replaced = inode.is_some_and(|i| i != meta.ino()) || meta.len() < at;
                if file.is_none() || replaced {
                    file = Some(File::open(&path)?);
                    at = 0;
                }
                inode = Some(meta.ino());
            }
            Err(_) => file = None, // between a rotation's rename and the new file
        }
    }
}

/// Copies what `file` holds past its current position; the number of bytes copied.
fn copy_new(file: &mut File, out: &mut impl Write) -> anyhow::Result<u64> {
    let start = file.stream_position()?;
    let mut buf = Vec::new();
    file.read_to_end(&mut buf)?;
    // Only whole lines: a line being written is printed once it is complete.
    let end = buf.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    out.write_all(&buf[..end])?;
    file.seek(SeekFrom::Start(start + end as u64))?;
    Ok(end as u64)
}
