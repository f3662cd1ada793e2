//! Creating a PTY and starting a program on it.
//!
//! The program becomes a session leader with the PTY slave as its controlling terminal and
//! stdio; the server keeps only the master, non-blocking, for the session actor to own.

use std::ffi::OsString;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{bail, Context};
use itwillsync_protocol::{NewSession, Size};

/// The `TERM` every session's program sees.
const TERM: &str = "xterm-256color";

/// A started program and the master side of its PTY.
pub struct Spawned {
    /// Non-blocking PTY master.
    pub master: OwnedFd,
    /// The program (its pid is also its process group and session id); reaped only by
    /// `program::Program`.
    pub child: std::process::Child,
}

/// Finds the program the way a shell would, using the `PATH` of the caller's environment,
/// so that a missing command is an error before any session exists.
pub fn resolve_program(
    program: &str,
    env: &[(String, String)],
    cwd: &Path,
) -> anyhow::Result<PathBuf> {
    if program.is_empty() {
        bail!("no command given");
    }
    if program.contains('/') {
        let path = cwd.join(program);
        return if is_executable(&path) {
            Ok(path)
        } else {
            bail!("command not found: {program}")
        };
    }
    let path_var = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_str())
        .unwrap_or("/usr/local/bin:/usr/bin:/bin");
    path_var
        .split(':')
        .map(|dir| {
            if dir.is_empty() {
                cwd.to_path_buf()
            } else {
                cwd.join(dir)
            }
        })
        .map(|dir| dir.join(program))
        .find(|p| is_executable(p))
        .with_context(|| format!("command not found: {program}"))
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// A new PTY: its master and its slave, both close-on-exec, the slave opened without
/// becoming the caller's controlling terminal (the server is a session leader itself).
/// Also what the tests and the benchmark open PTYs with.
pub fn open_pair() -> anyhow::Result<(OwnedFd, OwnedFd)> {
    use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};

    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)
        .context("cannot open a PTY")?;
    grantpt(&master).context("grantpt")?;
    unlockpt(&master).context("unlockpt")?;
    let name = ptsname(&master, Vec::new()).context("ptsname")?;
    let slave: OwnedFd = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(std::ffi::OsStr::from_bytes(name.as_bytes()))
        .context("cannot open the PTY slave")?
        .into();
    Ok((master, slave))
}

/// Run in a forked child before exec (`pre_exec`): makes it a session leader whose
/// controlling terminal is its stdin, the PTY slave. Only async-signal-safe calls.
pub fn take_stdin_as_terminal() -> std::io::Result<()> {
    rustix::process::setsid()?;
    rustix::process::ioctl_tiocsctty(std::io::stdin().as_fd())?;
    Ok(())
}

/// Opens a PTY of `spec.size` and starts `program` (already resolved) on it. Blocking
/// (fork and exec): async callers run it with `spawn_blocking`.
pub fn spawn(
    program: &Path,
    spec: &NewSession,
    extra_env: &[(&str, &str)],
) -> anyhow::Result<Spawned> {
    let (master, slave) = open_pair()?;
    set_size(&master, spec.size)?;

    let mut cmd = std::process::Command::new(program);
    cmd.arg0(&spec.command[0])
        .args(&spec.command[1..])
        .current_dir(&spec.cwd)
        .env_clear()
        .envs(
            spec.env
                .iter()
                .map(|(k, v)| (OsString::from(k), OsString::from(v))),
        )
        .envs(extra_env.iter().copied())
        .env("TERM", TERM)
        .stdin(Stdio::from(slave.try_clone().context("dup")?))
        .stdout(Stdio::from(slave.try_clone().context("dup")?))
        .stderr(Stdio::from(slave));
    // SAFETY: it runs in the forked child before exec and only makes two async-signal-safe
    // system calls.
    unsafe {
        cmd.pre_exec(take_stdin_as_terminal);
    }
    let child = cmd
        .spawn()
        .with_context(|| format!("cannot start {}", spec.command[0]))?;
    rustix::io::ioctl_fionbio(&master, true).context("cannot make the PTY non-blocking")?;
    Ok(Spawned { master, child })
}

/// Sets the PTY's window size; the kernel sends SIGWINCH to the foreground group.
pub fn set_size(master: &impl AsFd, size: Size) -> anyhow::Result<()> {
    let winsize = rustix::termios::Winsize {
        ws_row: size.rows,
        ws_col: size.cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    rustix::termios::tcsetwinsize(master, winsize).context("cannot resize the PTY")
}
