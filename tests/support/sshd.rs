//! A real OpenSSH server on a loopback port for the machine tests: its own host key, one
//! client key, and an `authorized_keys` whose forced command runs the requested command
//! with the "remote" side's `ITWILLSYNC_HOME` and this build's binary first on `PATH`.
//! Stopped (and its files removed) on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::{free_port, Home, DEADLINE};

/// Where Debian's OpenSSH server lives; `scripts/test.sh` installs it.
const SSHD: &str = "/usr/sbin/sshd";

/// A running sshd that lets the test's key in as the current user.
pub struct Sshd {
    pub port: u16,
    /// The address it listens on.
    addr: String,
    dir: tempfile::TempDir,
    child: Child,
}

fn keygen(path: &Path) {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .output()
        .expect("ssh-keygen");
    assert!(out.status.success(), "{out:?}");
}

impl Sshd {
    /// Starts sshd; sessions reached through it use `remote`'s state directory.
    pub fn start(remote: &Home) -> Self {
        Self::start_in(remote, None, "127.0.0.1")
    }

    /// Starts sshd in network namespace `netns` (when given), listening on `addr`.
    pub fn start_in(remote: &Home, netns: Option<&str>, addr: &str) -> Self {
        assert!(
            Path::new(SSHD).exists(),
            "the machine tests need OpenSSH's server ({SSHD}): run scripts/test.sh"
        );
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        keygen(&d.join("host"));
        keygen(&d.join("id"));
        let bin_dir = Path::new(super::bin()).parent().unwrap();
        // The other machine's user has a home of its own, with one folder in it.
        let house = d.join("house");
        std::fs::create_dir_all(house.join("project")).unwrap();
        let forced = format!(
            "command=\"export ITWILLSYNC_HOME='{}' HOME='{}' PATH='{}':$PATH; exec sh -c \\\"$SSH_ORIGINAL_COMMAND\\\"\",no-port-forwarding,no-pty ",
            remote.path().display(),
            house.display(),
            bin_dir.display()
        );
        let public = std::fs::read_to_string(d.join("id.pub")).unwrap();
        std::fs::write(d.join("authorized_keys"), forced + &public).unwrap();
        let port = free_port();
        let config = format!(
            "Port {port}\nListenAddress {addr}\nHostKey {host}\nAuthorizedKeysFile {keys}\n\
             PidFile {pid}\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n\
             LogLevel ERROR\n",
            host = d.join("host").display(),
            keys = d.join("authorized_keys").display(),
            pid = d.join("sshd.pid").display(),
        );
        std::fs::write(d.join("sshd_config"), config).unwrap();
        // Privilege separation needs this directory when sshd runs as root.
        let _ = std::fs::create_dir_all("/run/sshd");
        let mut cmd = match netns {
            Some(ns) => {
                let mut cmd = Command::new("ip");
                cmd.args(["netns", "exec", ns, SSHD]);
                cmd
            }
            None => Command::new(SSHD),
        };
        let child = cmd
            .args(["-D", "-e", "-f"])
            .arg(d.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sshd starts");
        let deadline = std::time::Instant::now() + DEADLINE;
        let listening = || match netns {
            // sshd writes its pid file once it listens.
            Some(_) => d.join("sshd.pid").exists(),
            None => std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
        };
        while !listening() {
            assert!(std::time::Instant::now() < deadline, "sshd did not listen");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let addr = addr.to_string();
        Self {
            port,
            addr,
            dir,
            child,
        }
    }

    /// `ITWILLSYNC_SSH_COMMAND` for reaching this server with the test's key.
    pub fn ssh_command(&self) -> String {
        format!(
            "ssh -F /dev/null -i {} -p {} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR",
            self.dir.path().join("id").display(),
            self.port
        )
    }

    /// The destination: the current user at its address.
    pub fn dest(&self) -> String {
        let user = std::env::var("USER")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| {
                let out = Command::new("id").arg("-un").output().unwrap();
                String::from_utf8(out.stdout).unwrap().trim().to_string()
            });
        format!("{user}@{}", self.addr)
    }

    /// The directory of its files.
    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
