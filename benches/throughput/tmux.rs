//! tmux as the peer the `mem`, `cpu` and `scale` parts measure beside ours: the OS's
//! `tmux` on its own socket (`-L`), with no configuration file (`-f /dev/null`), the
//! status line off (its clock would redraw during echo timings) and `history-limit` 2000,
//! so both servers keep at least 2,000 lines. The server is killed on drop (by its own
//! socket, never by name) and its socket file removed.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use itwillsync_protocol::Size;

use crate::peers::InPty;

/// The OS's tmux, if it runs: its version line.
pub fn version() -> Option<String> {
    let out = Command::new("tmux").arg("-V").output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// One tmux server on a socket of its own.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    /// A name for a server not started yet; the first session starts it.
    pub fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        Self {
            socket: format!("itwillsync-bench-{}-{n}", std::process::id()),
        }
    }

    /// `tmux` on this server's socket.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket, "-f", "/dev/null"]).args(args);
        c
    }

    /// Runs tmux; its stdout. `Err` with its stderr when it fails.
    pub fn run(&self, args: &[&str]) -> Result<String, String> {
        let out = self
            .command(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// A detached session `name` of `size` running `sh -c script`; the server's options
    /// are set with the first one.
    pub fn new_session(&self, name: &str, size: Size, script: &str) -> Result<(), String> {
        let (cols, rows) = (size.cols.to_string(), size.rows.to_string());
        let mut args = vec![
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            &cols,
            "-y",
            &rows,
            "sh",
            "-c",
            script,
        ];
        args.extend([";", "set", "-g", "history-limit", "2000"]);
        args.extend([";", "set", "-g", "status", "off"]);
        self.run(&args).map(drop)
    }

    /// The server's pid.
    pub fn pid(&self) -> i32 {
        self.run(&["display", "-p", "#{pid}"])
            .unwrap()
            .parse()
            .unwrap()
    }

    /// `tmux attach -t target` in a PTY of `size`, once it has drawn.
    pub fn attach(&self, target: &str, size: Size) -> InPty {
        let mut client = InPty::spawn(self.command(&["attach", "-t", target]), size);
        // It has attached once it has switched to the alternate screen.
        assert!(
            client.read_until(b"\x1b[?1049h", Duration::from_secs(10)),
            "tmux attach did not draw"
        );
        client
    }
}

impl Drop for Tmux {
    /// Kills this server and removes its socket file, which tmux leaves behind.
    fn drop(&mut self) {
        let _ = self
            .command(&["kill-server"])
            .stderr(Stdio::null())
            .status();
        let dir = std::env::var("TMUX_TMPDIR").unwrap_or_else(|_| "/tmp".into());
        // SAFETY: getuid cannot fail.
        let uid = unsafe { libc::getuid() };
        let _ = std::fs::remove_file(format!("{dir}/tmux-{uid}/{}", self.socket));
    }
}
