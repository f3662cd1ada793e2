//! Two machines for the machine tests: a local home linked to a remote one through a real
//! sshd, `itwillsync events` on a channel, the local server's ssh children, two network
//! namespaces joined by a veth pair (for cable pulls), and a home's dashboard endpoint.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

use itwillsync_protocol::ServerMsg;

use super::{eventually, sshd::Sshd, Home, DEADLINE};

/// A local home linked to a remote one through a real sshd, with short link timers.
pub struct Pair {
    pub local: Home,
    pub remote: Home,
    pub sshd: Sshd,
}

impl Pair {
    pub fn new(local_config: serde_json::Value) -> Self {
        let remote = Home::new();
        let sshd = Sshd::start(&remote);
        let local = Home::with_config(serde_json::json!({
            "machinePingSecs": 1,
            "machineOfflineSecs": 3,
            "machineBackoffMaxSecs": 2,
        }));
        local.configure(local_config);
        Self {
            local,
            remote,
            sshd,
        }
    }

    /// The binary on the local home, reaching the sshd with the test's key. The first such
    /// command that starts the local server gives it the variable.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = self.local.cmd(args);
        cmd.env("ITWILLSYNC_SSH_COMMAND", self.sshd.ssh_command());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> std::process::Output {
        self.cmd(args).output().unwrap()
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// `machine ls`'s row for `name`.
    pub fn machine_row(&self, name: &str) -> String {
        let text = self.ok(&["machine", "ls"]);
        text.lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} not listed: {text}"))
            .to_string()
    }

    /// Adds the sshd as `devbox` and waits until its link is online.
    pub fn add_devbox(&self) {
        self.ok(&["machine", "add", "devbox", &self.sshd.dest()]);
        eventually("devbox online", || {
            self.machine_row("devbox").contains(" online ")
        });
    }
}

/// `itwillsync events` running, its lines on a channel.
pub struct Events {
    child: Child,
    pub lines: mpsc::Receiver<serde_json::Value>,
}

impl Events {
    pub fn start(pair: &Pair) -> Self {
        Self::of(pair.cmd(&["events"]))
    }

    /// `command` (an `events` of the binary) running, its lines on a channel.
    pub fn of(mut command: Command) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(serde_json::from_str(&line).unwrap()).is_err() {
                    return;
                }
            }
        });
        Self { child, lines }
    }

    /// Waits for the first event matching `pred`.
    pub fn wait(&self, what: &str, pred: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        let deadline = std::time::Instant::now() + DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(event) if pred(&event) => return event,
                Ok(_) => {}
                Err(_) => panic!("timed out waiting for {what}"),
            }
        }
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Collects output frames until `stop` holds for the text so far.
pub fn read_until(raw: &mut super::Raw, text: &mut Vec<u8>, stop: impl Fn(&str) -> bool) {
    while !stop(&String::from_utf8_lossy(text)) {
        match raw.recv().expect("the attachment ended") {
            ServerMsg::Output { data, .. } | ServerMsg::Redraw { data, .. } => {
                text.extend_from_slice(&data)
            }
            _ => {}
        }
    }
}

/// The local server's ssh children (its links and attachments).
pub fn ssh_children(server: i32) -> Vec<i32> {
    // Each thread's children are listed under that thread.
    let mut children = String::new();
    for task in std::fs::read_dir(format!("/proc/{server}/task")).unwrap() {
        let path = task.unwrap().path().join("children");
        children += &std::fs::read_to_string(path).unwrap_or_default();
        children.push(' ');
    }
    children
        .split_whitespace()
        .filter_map(|p| p.parse::<i32>().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "ssh")
        })
        .collect()
}

/// Two network namespaces joined by a veth pair, removed on drop.
pub struct Netns {
    pub names: [String; 2],
    /// The second namespace's address.
    pub far: String,
}

impl Netns {
    pub fn ip(args: &[&str]) {
        let out = Command::new("ip").args(args).output().expect("ip");
        assert!(out.status.success(), "ip {args:?}: {out:?}");
    }

    pub fn new() -> Self {
        let id = std::process::id();
        let names = [format!("itws{id}a"), format!("itws{id}b")];
        let net = format!("10.{}.{}", 200 + (id >> 16) % 50, (id >> 8) % 256);
        let netns = Self {
            names: names.clone(),
            far: format!("{net}.2"),
        };
        let [a, b] = [names[0].as_str(), names[1].as_str()];
        Self::ip(&["netns", "add", a]);
        Self::ip(&["netns", "add", b]);
        Self::ip(&[
            "link", "add", "veth0", "netns", a, "type", "veth", "peer", "name", "veth1", "netns", b,
        ]);
        Self::ip(&[
            "-n",
            a,
            "addr",
            "add",
            &format!("{net}.1/24"),
            "dev",
            "veth0",
        ]);
        Self::ip(&[
            "-n",
            b,
            "addr",
            "add",
            &format!("{net}.2/24"),
            "dev",
            "veth1",
        ]);
        for (ns, dev) in [(a, "veth0"), (b, "veth1"), (a, "lo"), (b, "lo")] {
            Self::ip(&["-n", ns, "link", "set", dev, "up"]);
        }
        netns
    }

    /// Moves the calling thread into namespace `name` (sockets it opens then live there).
    pub fn enter(name: &str) {
        let file = std::fs::File::open(format!("/run/netns/{name}")).expect("the namespace");
        let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
        // SAFETY: setns(2) on an open namespace file; it affects only this thread.
        assert_eq!(unsafe { libc::setns(fd, libc::CLONE_NEWNET) }, 0, "setns");
    }

    /// Takes the near end of the cable down or up.
    pub fn link(&self, up: bool) {
        let state = if up { "up" } else { "down" };
        Self::ip(&["-n", &self.names[0], "link", "set", "veth0", state]);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for name in &self.names {
            let _ = Command::new("ip").args(["netns", "del", name]).output();
        }
    }
}

/// Opens session `target` of `machine` the way a phone does from the dashboard of `hub`
/// (`open-remote`): the endpoint of its mirror on `hub`'s server.
pub async fn open_remote(hub: &super::Endpoint, machine: &str, target: &str) -> super::Endpoint {
    let mut page = hub.phone().await;
    page.send(serde_json::json!({
        "type": "open-remote", "machine": machine, "sessionId": target
    }))
    .await;
    loop {
        let msg = page.next().await;
        assert_ne!(msg["type"], "operation-error", "{msg}");
        if msg["type"] == "remote-opened" {
            assert_eq!(msg["machine"], machine);
            return super::Endpoint {
                port: msg["port"].as_u64().unwrap() as u16,
                key: msg["key"].as_str().unwrap().to_string(),
            };
        }
    }
}

/// What a phone attached through the laptop received until the program's exit.
#[derive(Debug, Default)]
pub struct Received {
    /// The output after the first repaint, in order.
    pub text: String,
    /// Repaints after the first (or gaps and overlaps, which look the same).
    pub repaints: usize,
    /// The exit code.
    pub code: i64,
}

/// Reads a phone whose first repaint reflected `seq` until the exit. A `data` message
/// that does not start where the last one ended is a repaint (the page cannot tell them
/// apart otherwise): counted, its text not kept.
pub async fn phone_until_exit(phone: &mut super::Phone, mut seq: u64) -> Received {
    let mut received = Received::default();
    loop {
        let msg = phone.next().await;
        match msg["type"].as_str() {
            Some("data") => {
                let data = msg["data"].as_str().unwrap();
                match msg["seq"].as_u64() {
                    Some(end) if end.checked_sub(data.len() as u64) == Some(seq) => {
                        received.text.push_str(data);
                        seq = end;
                    }
                    Some(end) => {
                        received.repaints += 1;
                        seq = end;
                    }
                    None => {} // a piece of a repaint before its last
                }
            }
            Some("exit") => {
                received.code = msg["code"].as_i64().unwrap();
                return received;
            }
            Some("resize" | "session") => {}
            _ => panic!("unexpected {msg}"),
        }
    }
}

/// Checks that `text` holds the lines `L0`… `L{lines - 1}`, each once, in order.
pub fn every_line_once(text: &str, lines: usize) {
    let got: Vec<&str> = text.split("\r\n").filter(|l| l.starts_with('L')).collect();
    let expected: Vec<String> = (0..lines).map(|i| format!("L{i}")).collect();
    assert_eq!(got, expected, "every line exactly once, in order");
}
