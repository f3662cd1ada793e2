//! Lifecycle events, `wait` and hooks (DESIGN.md "Events and hooks") against the real
//! binary: what `itwillsync events` prints for a session's life, `wait` returning on exit
//! and timing out, and a hook run on a bell with the event in its environment (and never
//! in its command line).

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use itwillsync_protocol::{ClientMsg, ServerMsg, Size};
use serde_json::{json, Value};
use support::{eventually, Home, DEADLINE};

/// `itwillsync events` running, its lines arriving on a channel.
struct Stream {
    child: Child,
    lines: mpsc::Receiver<Value>,
}

impl Stream {
    fn start(home: &Home, args: &[&str]) -> Self {
        let mut all = vec!["events"];
        all.extend_from_slice(args);
        let mut child = home.cmd(&all).stdout(Stdio::piped()).spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(serde_json::from_str(&line).expect("a JSON line"));
            }
        });
        Self { child, lines }
    }

    /// The next event of kind `kind` (others are skipped).
    fn next(&self, kind: &str) -> Value {
        loop {
            let event = self.next_any();
            if event["event"] == kind {
                return event;
            }
        }
    }

    /// The next event.
    fn next_any(&self) -> Value {
        self.lines.recv_timeout(DEADLINE).expect("an event")
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_session_s_life_as_events_and_wait() {
    let home = Home::new();
    // The server must run before `events` subscribes.
    let first = home.ok(&[
        "new", "-d", "--no-qr", "--name", "first", "--", "sleep", "60",
    ]);
    let first = first.trim();
    let stream = Stream::start(&home, &[]);
    let filtered = Stream::start(&home, &["--session", first]);
    // Both streams are subscribed once each has seen a rename: rename until they have.
    let (mut seen, mut seen_filtered, mut name) = (false, false, "first".to_string());
    for i in 0.. {
        assert!(i < 200, "the event streams never subscribed");
        let next = format!("sync{i}");
        home.ok(&["rename", &name, &next]);
        name = next;
        let wait = Duration::from_millis(100);
        seen |= stream.lines.recv_timeout(wait).is_ok();
        seen_filtered |= filtered.lines.recv_timeout(wait).is_ok();
        if seen && seen_filtered {
            break;
        }
    }
    home.ok(&["rename", &name, "one"]);
    while stream.next("session-renamed")["name"] != "one" {}
    while filtered.next("session-renamed")["name"] != "one" {}
    let script = r"read x; printf '\a'; read y; exit 3";
    let id = home.ok(&[
        "new", "-d", "--no-qr", "--name", "ev", "--", "sh", "-c", script,
    ]);
    let id = id.trim();
    let started = stream.next("session-started");
    assert_eq!(
        (&started["session"], &started["name"], &started["machine"]),
        (&json!(id), &json!("ev"), &json!("local"))
    );
    assert!(started["at"].as_u64().unwrap() > 0);

    // `wait` for the exit, started (and listening: it says so) before it happens.
    let waiting = |what: &str| {
        let mut child = home
            .cmd(&["wait", "ev", "--for", what, "--timeout", "20"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut said = String::new();
        BufReader::new(child.stderr.as_mut().unwrap())
            .read_line(&mut said)
            .unwrap();
        assert!(said.contains("waiting for ev"), "{said}");
        child
    };
    let waiter = waiting("exit");
    let mut attention = waiting("attention");

    let mut raw = home.connect();
    let attach = ClientMsg::Attach {
        target: Some(id.into()),
        read_only: false,
        size: Size { cols: 80, rows: 24 },
    };
    assert!(matches!(raw.request(&attach), ServerMsg::Attached { .. }));
    let attached = stream.next("client-attached");
    assert_eq!(attached["message"], "terminal");
    raw.send(&ClientMsg::Input {
        data: b"go\r".to_vec(),
    });
    let bell = stream.next("attention");
    assert_eq!(
        (&bell["session"], &bell["message"]),
        (&json!(id), &json!("bell"))
    );
    assert!(attention.wait().unwrap().success(), "wait --for attention");
    raw.send(&ClientMsg::Input {
        data: b"\r".to_vec(),
    });
    stream.next("attention-cleared");
    // The exit and the terminal leaving race each other: both come, in either order.
    let (mut exited, mut detached) = (None, None);
    while exited.is_none() || detached.is_none() {
        let event = stream.next_any();
        match event["event"].as_str() {
            Some("session-exited") => exited = Some(event),
            Some("client-detached") => detached = Some(event),
            _ => {}
        }
    }
    let exited = exited.unwrap();
    assert_eq!(
        (&exited["status"], &exited["name"]),
        (&json!(3), &json!("ev"))
    );
    assert_eq!(detached.unwrap()["message"], "terminal");
    let out = waiter.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("ev exited with status 3"));

    // A rename names both; the filtered stream saw only the first session.
    home.ok(&["rename", "one", "second"]);
    let renamed = stream.next("session-renamed");
    assert_eq!(
        (&renamed["name"], &renamed["message"]),
        (&json!("second"), &json!("one"))
    );
    let renamed = filtered.next("session-renamed");
    assert_eq!(renamed["name"], "second");
    let others: Vec<Value> = filtered.lines.try_iter().collect();
    assert!(others.iter().all(|e| e["session"] == first), "{others:?}");

    // A timeout is exit status 1; an unknown session an error.
    let timed_out = home
        .cmd(&["wait", "second", "--for", "exit", "--timeout", "1"])
        .output()
        .unwrap();
    assert_eq!(timed_out.status.code(), Some(1));
    assert!(!home
        .run(&["wait", "nope", "--for", "exit"])
        .status
        .success());
}

#[test]
fn a_hook_runs_on_a_bell_with_the_event_in_its_environment() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("hook.out");
    let pwned = dir.path().join("pwned");
    // The event's text arrives in variables: a name full of shell syntax stays text.
    let hook = format!(
        r#"printf '%s|%s|%s|%s' "$ITWILLSYNC_EVENT" "$ITWILLSYNC_NAME" "$ITWILLSYNC_MACHINE" "$ITWILLSYNC_SESSION" > '{}'"#,
        out.display()
    );
    let home = Home::with_config(json!({ "hooks": { "attention": hook } }));
    let name = format!("x$(touch {})", pwned.display());
    let id = home.ok(&[
        "new",
        "-d",
        "--no-qr",
        "--name",
        &name,
        "--",
        "sh",
        "-c",
        r"printf '\a'; sleep 60",
    ]);
    eventually("the hook's output", || {
        std::fs::read_to_string(&out).is_ok_and(|s| s.ends_with(id.trim()))
    });
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(text, format!("attention|{name}|local|{}", id.trim()));
    assert!(!pwned.exists(), "the name was run as a command");

    // An unknown event kind in `hooks` is an error naming the key.
    let bad = Home::with_config(json!({ "hooks": { "bel": "true" } }));
    let err = bad.run(&["new", "-d", "--no-qr", "--", "true"]);
    let stderr = String::from_utf8_lossy(&err.stderr);
    assert!(
        !err.status.success() && stderr.contains("hooks.bel"),
        "{stderr}"
    );
}
