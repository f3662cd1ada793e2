//! `itwillsync server upgrade`: the running server execs the new binary under its pid and
//! hands every session over (DESIGN.md "Hand-over"), with the real binary, real PTYs, a
//! real terminal client and real phones.

mod support;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::SinkExt;
use itwillsync_protocol::{codec, ClientMsg, ServerMsg, Size};
use serde_json::{json, Value};
use support::{Endpoint, Home, Raw, Term, DEADLINE};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

const SIZE: Size = Size { cols: 80, rows: 24 };

/// Lines `n 0`, `n 1`, ... in batches of 1000, about 1 MB/s, after one line of input: the
/// readers (a terminal and phones) all keep up, so none of them falls out of the ring.
const FLOOD: &str =
    "read x; i=0; while :; do seq -f 'n %.0f' $i $((i+999)); i=$((i+1000)); sleep 0.01; done";

/// Checks a flood's output: complete lines `n 0`, `n 1`, ... each exactly once, in order.
#[derive(Default)]
struct Lines {
    partial: Vec<u8>,
    next: u64,
}

impl Lines {
    /// Takes more output; panics on a line out of order (a byte lost or repeated).
    fn feed(&mut self, bytes: &[u8]) {
        self.partial.extend_from_slice(bytes);
        while let Some(end) = self.partial.windows(2).position(|w| w == b"\r\n") {
            let line: Vec<u8> = self.partial.drain(..end + 2).take(end).collect();
            if line.is_empty() {
                continue;
            }
            let text = String::from_utf8_lossy(&line);
            assert_eq!(text, format!("n {}", self.next), "every line exactly once");
            self.next += 1;
        }
    }
}

/// `ls --json` entry of `id`.
fn entry(home: &Home, id: &str) -> Value {
    home.sessions()
        .into_iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("session {id} is listed"))
}

/// A phone on `endpoint` reading the flood from its start until line `until` has come,
/// acknowledging as it goes and reconnecting (with its key, resuming from its last seq)
/// whenever its socket ends; the close codes it was given (`None`: no close frame).
async fn phone_reads(
    endpoint: Endpoint,
    mut until: watch::Receiver<u64>,
    ready: Arc<tokio::sync::Barrier>,
) -> Vec<Option<u64>> {
    let mut lines = Lines::default();
    let mut seq = 0u64;
    let mut closes = Vec::new();
    let mut first = true;
    loop {
        let mut phone = endpoint.phone().await;
        phone.send(json!({"type": "resume", "lastSeq": seq})).await;
        if first {
            first = false;
            ready.wait().await;
        }
        loop {
            let msg = phone.next().await;
            match msg["type"].as_str() {
                Some("data") => {
                    let data = msg["data"].as_str().unwrap();
                    let at = msg["seq"].as_u64().expect("no repaint: every byte resumed");
                    assert_eq!(at, seq + data.len() as u64, "every byte, in order");
                    seq = at;
                    lines.feed(data.as_bytes());
                    // Fails once the server has gone: the next read says how.
                    let ack = phone.seal(json!({"type": "ack", "seq": seq}));
                    let _ = phone.ws.send(Message::binary(ack)).await;
                    if lines.next > *until.borrow_and_update() {
                        return closes;
                    }
                }
                Some("resize" | "session" | "attention") => {}
                Some("close") => {
                    closes.push(msg["code"].as_u64());
                    break;
                }
                // A socket that ended without a close frame.
                Some("end" | "error") => {
                    closes.push(None);
                    break;
                }
                other => panic!("unexpected phone message {other:?}: {msg}"),
            }
        }
    }
}

/// The next frame of a raw connection; `None` when the connection ended.
fn next_frame(raw: &mut Raw) -> Option<ServerMsg> {
    codec::read_frame(&mut raw.stream).ok().flatten()
}

/// The number of the last complete flood line in a terminal's output.
fn last_line(raw: &[u8]) -> Option<u64> {
    let text = String::from_utf8_lossy(&raw[raw.len().saturating_sub(4096)..]).into_owned();
    text.rsplit("\r\n")
        .skip(1)
        .find_map(|l| l.strip_prefix("n ").and_then(|n| n.parse().ok()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_keeps_every_session_byte_and_phone() {
    let exits = tempfile::NamedTempFile::new().unwrap();
    let hook = format!(
        "echo \"$ITWILLSYNC_NAME $ITWILLSYNC_STATUS\" >> {}",
        exits.path().display()
    );
    let home = Home::with_config(json!({"hooks": {"session-exited": hook}}));
    let flood = home.session(&["sh", "-c", FLOOD]);
    let flood_id = home.sessions()[0]["id"].as_str().unwrap().to_string();
    let prompt = home.new_detached(&[
        "--name",
        "prompt",
        "--",
        "sh",
        "-c",
        "printf 'ready> '; read line; echo \"got $line\"; sleep 600",
    ]);
    // Ignores SIGHUP: `kill` hangs it up and the SIGKILL follows 2 s later; the hand-over
    // comes in between, so the new server must send it.
    let ending = home.new_detached(&[
        "--name",
        "ending",
        "--",
        "sh",
        "-c",
        "trap '' HUP; echo waiting; while :; do sleep 0.1; done",
    ]);
    let server = home.server_pid().expect("a server");
    let before: Vec<Value> = home.sessions();

    // A terminal and two phones on the flood; the flood starts once all are there.
    let terminal = Term::spawn(&home, &["attach", &flood_id], SIZE);
    terminal.wait_for("the terminal attached", |_| {
        entry(&home, &flood_id)["clientKinds"]["terminal"] == 1
    });
    let (target, until) = watch::channel(u64::MAX);
    let ready = Arc::new(tokio::sync::Barrier::new(3));
    let phones: Vec<_> = (0..2)
        .map(|_| {
            let endpoint = Endpoint {
                port: flood.port,
                key: flood.key.clone(),
            };
            tokio::spawn(phone_reads(endpoint, until.clone(), ready.clone()))
        })
        .collect();
    ready.wait().await;
    let mut terminal = terminal;
    terminal.send(b"\r");
    terminal.wait_for("20000 lines", |s| {
        last_line(&s.raw).is_some_and(|n| n >= 20_000)
    });

    // The third session is being stopped: hung up, its SIGKILL not sent yet.
    let mut watcher = attached(&home, &ending);
    let hung_up = Instant::now();
    home.ok(&["kill", &ending]);

    let out = home
        .run_within(&["server", "upgrade"], DEADLINE)
        .expect("upgrade returns");
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "upgrade failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains(&format!("server pid {server} now runs itwillsync")),
        "{said}"
    );
    assert_eq!(home.server_pid(), Some(server), "the same pid");
    assert!(
        hung_up.elapsed() < Duration::from_secs(2),
        "the upgrade came within the hang-up grace"
    );
    assert!(home.sessions().iter().any(|s| s["id"] == ending.as_str()));

    // The first two sessions: same program (same pid, alive), port, keys, name, start.
    let after: Vec<Value> = home.sessions();
    for id in [&flood_id, &prompt] {
        let was = before.iter().find(|s| s["id"] == id.as_str()).unwrap();
        let now = entry(&home, id);
        for key in [
            "name",
            "pid",
            "port",
            "url",
            "command",
            "cwd",
            "connectedAt",
        ] {
            assert_eq!(now[key], was[key], "{key} of {id}");
        }
        assert!(support::alive(now["pid"].as_i64().unwrap() as i32));
    }
    assert!(after.len() >= 2);

    // The terminal re-attached by itself and every line came exactly once.
    let seam = last_line(&terminal.raw()).unwrap();
    let more = seam + 20_000;
    target.send_replace(more);
    terminal.wait_for("20000 lines after the hand-over", |s| {
        last_line(&s.raw).is_some_and(|n| n >= more)
    });
    // It passed its terminal again: the new binary writes to it directly.
    let tty = terminal.tty_path();
    support::eventually("the new binary holds the terminal", || {
        support::fds_on(server, &tty) >= 2
    });
    let raw = terminal.raw();
    let start = raw
        .windows(7)
        .position(|w| w == b"\r\nn 0\r\n")
        .expect("the flood's first line")
        + 2;
    let mut lines = Lines::default();
    lines.feed(&raw[start..]);
    assert!(lines.next > more, "the terminal saw the flood go on");
    // The phones too, each closed with 1012 ("service restart") and reconnected with
    // its key.
    for phone in phones {
        let closes = phone.await.expect("a phone read every line");
        assert_eq!(closes, [Some(1012)], "one close, for the hand-over");
    }

    // The prompt answers input typed after the hand-over.
    let mut typist = attached(&home, &prompt);
    typist.send(&ClientMsg::Input {
        data: b"hello\r".to_vec(),
    });
    let deadline = Instant::now() + DEADLINE;
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains("got hello") {
        assert!(Instant::now() < deadline, "no answer from the prompt");
        match next_frame(&mut typist) {
            Some(ServerMsg::Output { data, .. } | ServerMsg::Redraw { data, .. }) => {
                seen.extend(data)
            }
            Some(_) => {}
            None => panic!("the prompt's connection ended"),
        }
    }

    // The third session: its watcher was told, and the new server sent the SIGKILL the
    // old one had armed (128 + 9) and reported it.
    let mut told = false;
    while let Some(msg) = next_frame(&mut watcher) {
        told |= matches!(msg, ServerMsg::HandOver { .. });
    }
    assert!(told, "an attached client gets HandOver");
    support::eventually("the exit status of the third session", || {
        std::fs::read_to_string(exits.path()).is_ok_and(|t| t.contains("ending 137"))
    });
    support::eventually("the third session is gone", || {
        home.sessions().iter().all(|s| s["id"] != ending.as_str())
    });
    let log = std::fs::read_to_string(home.path().join("server.log")).unwrap();
    assert!(log.contains("server took over"), "{log}");
}

/// A binary that fails to read the state (or to run at all) leaves the old server
/// serving: the same pid, its sessions running, new sessions accepted.
/// A raw client of `home`'s server, attached to session `id` (writable, at [`SIZE`]).
fn attached(home: &Home, id: &str) -> Raw {
    let mut raw = Raw::connect(&home.socket());
    let attach = ClientMsg::Attach {
        target: Some(id.to_string()),
        read_only: false,
        size: SIZE,
    };
    assert!(matches!(raw.request(&attach), ServerMsg::Attached { .. }));
    raw
}

#[test]
fn a_failing_binary_leaves_the_server_serving() {
    let home = Home::new();
    let id = home.new_detached(&["--", "sh", "-c", "while :; do echo tick; sleep 0.05; done"]);
    let server = home.server_pid().unwrap();
    let script = home.path().join("broken");
    std::fs::write(
        &script,
        "#!/bin/sh\necho 'itwillsync: cannot read: too new' >&2\nexit 1\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let not_exec = home.path().join("plain");
    std::fs::write(&not_exec, "not a program").unwrap();
    for (binary, reason) in [
        ("/bin/false", "exited with 1".to_string()),
        (
            script.to_str().unwrap(),
            "cannot take over: cannot read: too new".to_string(),
        ),
        (
            not_exec.to_str().unwrap(),
            "is not an executable file".to_string(),
        ),
        ("/nonexistent/itwillsync", "no new binary at".to_string()),
    ] {
        let out = home.run(&["server", "upgrade", "--binary", binary]);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "{binary}: {err}");
        assert!(err.contains(&reason), "{binary}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert_eq!(home.server_pid(), Some(server));
    }
    // The session still runs and still sends output; a new one starts.
    let mut raw = attached(&home, &id);
    let mut ticks = 0;
    while ticks < 3 {
        if let Some(ServerMsg::Output { data, .. }) = next_frame(&mut raw) {
            ticks += String::from_utf8_lossy(&data).matches("tick").count();
        }
    }
    home.new_detached(&["--", "sleep", "60"]);
    assert_eq!(home.sessions().len(), 2);
}

/// A state of a version this binary does not read is refused before the exec, in one
/// line naming the version; the server keeps serving. The state is the real one, taken
/// from the check the server runs, with its version raised by one.
#[test]
fn a_state_too_new_is_refused_before_the_exec() {
    let home = Home::new();
    home.new_detached(&["--", "sleep", "60"]);
    let server = home.server_pid().unwrap();
    let copy = home.path().join("state");
    let wrapper = home.path().join("newer");
    // Saves the state it is asked to check, raises its version (bytes 8..12, big-endian)
    // and checks that with the real binary.
    let script = format!(
        "#!/bin/sh\nset -e\ncat /proc/self/fd/$3 > {copy}\n\
         v=$(od -An -tu1 -j11 -N1 {copy} | tr -d ' ')\n\
         printf \"$(printf '\\\\%03o' $((v + 1)))\" | dd of={copy} bs=1 seek=11 conv=notrunc 2>/dev/null\n\
         exec {bin} server check-state {copy}\n",
        copy = copy.display(),
        bin = support::bin(),
    );
    std::fs::write(&wrapper, script).unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = home.run(&["server", "upgrade", "--binary", wrapper.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success());
    assert!(
        err.contains("hand-over state version 2: this binary reads versions"),
        "{err}"
    );
    assert_eq!(home.server_pid(), Some(server));
    // The same state, unchanged, is readable; the raised one is refused by itself too.
    let refused = home.run(&["server", "check-state", copy.to_str().unwrap()]);
    assert!(!refused.status.success());
    let mut bytes = std::fs::read(&copy).unwrap();
    bytes[11] -= 1;
    std::fs::File::create(&copy)
        .unwrap()
        .write_all(&bytes)
        .unwrap();
    let ok = home.ok(&["server", "check-state", copy.to_str().unwrap()]);
    assert!(ok.contains("1 sessions, readable by this binary"), "{ok}");
}

/// With `ITWILLSYNC_NEXT_BIN` naming a build with the `state-next` feature (its state
/// version is one higher; `scripts/test.sh` builds it): this build upgrades to it (it
/// reads the previous version), and it refuses to go back (this build cannot read its
/// state), keeping the sessions where they are.
#[test]
fn an_upgrade_to_the_next_state_version_and_no_way_back() {
    let next = std::env::var("ITWILLSYNC_NEXT_BIN")
        .expect("this test needs the state-next build in ITWILLSYNC_NEXT_BIN: run scripts/test.sh");
    let home = Home::new();
    let id = home.new_detached(&["--", "sh", "-c", "read x; echo \"got $x\"; sleep 60"]);
    let pid = entry(&home, &id)["pid"].clone();
    let server = home.server_pid().unwrap();
    let out = home.run(&["server", "upgrade", "--binary", &next]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(home.server_pid(), Some(server));
    assert_eq!(entry(&home, &id)["pid"], pid);
    let back = home.run(&["server", "upgrade", "--binary", support::bin()]);
    let err = String::from_utf8_lossy(&back.stderr).into_owned();
    assert!(!back.status.success());
    assert!(err.contains("hand-over state version 2"), "{err}");
    assert_eq!(home.server_pid(), Some(server));
    let mut raw = attached(&home, &id);
    raw.send(&ClientMsg::Input {
        data: b"hi\r".to_vec(),
    });
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains("got hi") {
        match next_frame(&mut raw) {
            Some(ServerMsg::Output { data, .. } | ServerMsg::Redraw { data, .. }) => {
                seen.extend(data)
            }
            Some(_) => {}
            None => panic!("the connection ended"),
        }
    }
}

/// A command that finds the server older than itself (`hub.json`'s version) says once,
/// in one line, that `server upgrade` moves the sessions; with the same version, nothing.
#[test]
fn an_older_server_is_pointed_out_once() {
    let home = Home::new();
    home.new_detached(&["--", "sleep", "60"]);
    let quiet = home.run(&["ls"]);
    assert!(quiet.status.success());
    assert!(!String::from_utf8_lossy(&quiet.stderr).contains("upgrade"));
    let path = home.path().join("hub.json");
    let mut hub: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    hub["version"] = json!("0.0.1");
    std::fs::write(&path, hub.to_string()).unwrap();
    let out = home.run(&["ls"]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        err.matches("`itwillsync server upgrade` moves the sessions")
            .count(),
        1,
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("version 0.0.1"), "{err}");
}
