//! Remote sessions behave like local ones (issue 12): a phone opens another machine's
//! session through the laptop's dashboard, on the laptop's own port for it (its mirror),
//! types, resizes and gets the remote exit after the last byte; kill and rename go to the
//! remote server; the session is listed once. A real sshd, as in `machines.rs`.

mod support;

use serde_json::json;
use support::machines::{open_remote, ssh_children, Pair};
use support::{eventually, Phone, DEADLINE};

/// Reads `data` until the text so far contains `want`, checking that each message
/// continues where the last ended; returns the text and the position after it.
async fn read_until(phone: &mut Phone, mut seq: u64, want: &str) -> (String, u64) {
    let mut text = String::new();
    while !text.contains(want) {
        let msg = phone.next().await;
        match msg["type"].as_str() {
            Some("data") => {
                let data = msg["data"].as_str().unwrap();
                let end = msg["seq"].as_u64().expect("output, not a repaint");
                assert_eq!(end - data.len() as u64, seq, "a gap or an overlap");
                seq = end;
                text.push_str(data);
            }
            Some("resize" | "session") => {}
            _ => panic!("unexpected {msg}"),
        }
    }
    (text, seq)
}

/// A phone on `mirror`, past its first repaint; that repaint's seq.
async fn repainted_phone(mirror: &support::Endpoint) -> (Phone, u64) {
    let mut phone = mirror.phone().await;
    phone.send(json!({"type": "resume", "lastSeq": -1})).await;
    let (_, seq, _) = phone.repaint().await;
    (phone, seq)
}

/// Attaches to session `id` on the other machine itself (a terminal `cols` wide there)
/// and types `keys`: the program runs on while nobody follows it through the laptop.
fn type_there(pair: &Pair, id: &str, cols: u16, keys: &[u8]) -> support::Raw {
    let mut there = pair.remote.connect();
    there.request(&itwillsync_protocol::ClientMsg::Attach {
        target: Some(id.to_string()),
        read_only: false,
        size: itwillsync_protocol::Size { cols, rows: 24 },
    });
    there.send(&itwillsync_protocol::ClientMsg::Input {
        data: keys.to_vec(),
    });
    there
}

/// Waits for a message of `kind` for which `pred` holds, skipping output.
async fn wait_message(phone: &mut Phone, kind: &str, pred: impl Fn(&serde_json::Value) -> bool) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let msg = phone.next_within(left).await.expect("a message in time");
        match msg["type"].as_str() {
            Some(t) if t == kind && pred(&msg) => return,
            Some("data" | "resize" | "session") => {}
            _ => panic!("unexpected {msg}"),
        }
    }
}

/// Starts session `api` on devbox; its id. It answers each line `x` with `got-x` until
/// `bye`, after which it prints `last-line` and exits 3.
fn start_api(pair: &Pair) -> String {
    let script = "stty -echo; while read x; do \
                  if [ \"$x\" = bye ]; then echo last-line; exit 3; fi; echo got-$x; done";
    let api = pair.ok(&[
        "new", "-d", "--no-qr", "--on", "devbox", "--name", "api", "--", "sh", "-c", script,
    ]);
    api.trim().to_string()
}

#[test]
fn a_phone_opens_a_remote_session_through_the_laptop() {
    let pair = Pair::new(json!({}));
    pair.add_devbox();
    let api = start_api(&pair);
    let nap = pair.ok(&[
        "new", "-d", "--no-qr", "--on", "devbox", "--name", "nap", "--", "sleep", "600",
    ]);
    let nap = nap.trim().to_string();
    let dash = pair.local.dashboard();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mirror = open_remote(&dash, "devbox", &api).await;
        // The laptop's own port and key: not the remote session's.
        let remote_port = pair.remote.sessions()[0]["port"].as_u64().unwrap();
        assert_ne!(u64::from(mirror.port), remote_port);
        let (mut phone, seq) = repainted_phone(&mirror).await;

        // Typing reaches the remote program; its answer comes back.
        phone.send(json!({"type": "input", "data": "hi\r"})).await;
        let (_, seq) = read_until(&mut phone, seq, "got-hi\r\n").await;

        // The laptop's dashboard shows the remote session's preview, asked through the link.
        let mut page = dash.phone().await;
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let msg = page
                .next_within(left)
                .await
                .expect("a remote preview in time");
            if msg["type"] == "preview"
                && msg["machine"] == "devbox"
                && msg["sessionId"] == api.as_str()
            {
                let lines = msg["lines"].as_array().unwrap();
                if lines.iter().any(|l| l == "got-hi") {
                    break;
                }
            }
        }
        drop(page);

        // The phone's size goes to the remote session (one client there: the mirror),
        // and the size the remote applied comes back.
        phone
            .send(json!({"type": "resize", "cols": 101, "rows": 31}))
            .await;
        wait_message(&mut phone, "resize", |m| {
            m["cols"] == 101 && m["rows"] == 31
        })
        .await;
        let there = pair.remote.sessions();
        let there = there.iter().find(|s| s["id"] == api.as_str()).unwrap();
        assert_eq!(
            (there["cols"].as_u64(), there["rows"].as_u64()),
            (Some(101), Some(31))
        );

        // Listed once, under its machine: the mirror is not a local session.
        let listed: Vec<serde_json::Value> =
            serde_json::from_str(&pair.ok(&["ls", "--json"])).unwrap();
        assert_eq!(listed.len(), 2, "{listed:?}");
        assert!(
            listed.iter().all(|s| s["machine"] == "devbox"),
            "{listed:?}"
        );

        // A rename through the laptop reaches the remote server, and the phone's title.
        pair.ok(&["rename", "devbox:api", "api2"]);
        wait_message(&mut phone, "session", |m| m["name"] == "devbox:api2").await;
        eventually("renamed there", || {
            pair.remote.sessions().iter().any(|s| s["name"] == "api2")
        });
        // One made on that machine itself reaches the title too (through the link's events).
        pair.remote.ok(&["rename", "api2", "api3"]);
        wait_message(&mut phone, "session", |m| m["name"] == "devbox:api3").await;

        // The remote exit comes after the last byte.
        phone.send(json!({"type": "input", "data": "bye\r"})).await;
        let (text, _) = read_until(&mut phone, seq, "last-line\r\n").await;
        assert!(text.ends_with("last-line\r\n"), "{text:?}");
        let exit = phone.next().await;
        assert_eq!(exit["type"], "exit", "{exit}");
        assert_eq!(exit["code"], 3);

        // Kill through the laptop: the phone of another remote session sees it end.
        let mirror = open_remote(&dash, "devbox", &nap).await;
        let mut phone = mirror.phone().await;
        phone.send(json!({"type": "resume", "lastSeq": -1})).await;
        phone.repaint().await;
        pair.ok(&["kill", "devbox:nap"]);
        wait_message(&mut phone, "exit", |m| m["code"] == 129).await;
    });
    eventually("both gone there", || pair.remote.sessions().is_empty());
    // Each mirror's connection ended with its session: only the machine's link is left.
    let server = pair.local.server_pid().unwrap();
    eventually("only the link's ssh", || ssh_children(server).len() == 1);
}

#[test]
fn an_unwatched_mirror_closes_its_connection_and_resumes_exactly() {
    let pair = Pair::new(json!({ "mirrorIdleSecs": 1 }));
    pair.add_devbox();
    let script =
        "stty -echo; while read x; do [ \"$x\" = q ] && { echo bye; exit 7; }; echo got-$x; done";
    let id = pair.ok(&[
        "new", "-d", "--no-qr", "--on", "devbox", "--name", "echo", "--", "sh", "-c", script,
    ]);
    let id = id.trim().to_string();
    let server = pair.local.server_pid().unwrap();
    let dash = pair.local.dashboard();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mirror = open_remote(&dash, "devbox", &id).await;
        let (mut phone, seq) = repainted_phone(&mirror).await;
        phone.send(json!({"type": "input", "data": "a\r"})).await;
        let (_, seq) = read_until(&mut phone, seq, "got-a\r\n").await;
        assert_eq!(ssh_children(server).len(), 2, "the link and the mirror's");
        drop(phone);
        // Nobody watches: a second later the mirror's connection is closed.
        eventually("the mirror's ssh gone", || ssh_children(server).len() == 1);
        // The program prints meanwhile (typed on its own machine).
        let mut there = type_there(&pair, &id, 80, b"b\n");
        let mut text = Vec::new();
        support::machines::read_until(&mut there, &mut text, |t| t.contains("got-b"));
        // The phone comes back with its position: the mirror reconnects and the phone
        // gets exactly what it missed, without a repaint.
        let mut phone = mirror.phone().await;
        phone.send(json!({"type": "resume", "lastSeq": seq})).await;
        let (text, seq) = read_until(&mut phone, seq, "got-b\r\n").await;
        assert_eq!(text, "got-b\r\n");
        assert_eq!(ssh_children(server).len(), 2, "the mirror reconnected");
        // The program prints its last line and ends while nobody follows it from here:
        // the phone that comes back still gets that line and then the real exit code.
        drop(phone);
        eventually("the mirror's ssh gone", || ssh_children(server).len() == 1);
        there.send(&itwillsync_protocol::ClientMsg::Input {
            data: b"q\n".to_vec(),
        });
        loop {
            match there.recv().expect("the exit on its own machine") {
                itwillsync_protocol::ServerMsg::Exit { status } => {
                    assert_eq!(status.code, 7);
                    break;
                }
                _ => continue,
            }
        }
        let mut phone = mirror.phone().await;
        phone.send(json!({"type": "resume", "lastSeq": seq})).await;
        let (text, _) = read_until(&mut phone, seq, "bye\r\n").await;
        assert_eq!(text, "bye\r\n");
        wait_message(&mut phone, "exit", |m| m["code"] == 7).await;
    });
}

#[test]
fn a_gap_older_than_the_remote_ring_costs_a_repaint_and_nothing_else() {
    let pair = Pair::new(json!({ "mirrorIdleSecs": 1 }));
    // The remote ring holds 64 KiB; the program prints 100 KB while the mirror is closed.
    pair.remote
        .configure(json!({ "scrollbackBufferSize": 65536 }));
    pair.add_devbox();
    let script = "stty -echo; read x; echo first; read x; \
                  i=0; while [ $i -lt 2000 ]; do printf 'L%049d\\n' $i; i=$((i+1)); done; \
                  read x; echo after-the-gap; read x";
    let id = pair.ok(&[
        "new", "-d", "--no-qr", "--on", "devbox", "--name", "flood", "--", "sh", "-c", script,
    ]);
    let id = id.trim().to_string();
    let server = pair.local.server_pid().unwrap();
    let dash = pair.local.dashboard();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mirror = open_remote(&dash, "devbox", &id).await;
        let (mut phone, seq) = repainted_phone(&mirror).await;
        phone.send(json!({"type": "input", "data": "go\r"})).await;
        let (_, seq) = read_until(&mut phone, seq, "first\r\n").await;
        drop(phone);
        eventually("the mirror's ssh gone", || ssh_children(server).len() == 1);
        // The flood, typed on its own machine, while nobody follows it from here.
        let mut there = type_there(&pair, &id, 120, b"go\n");
        let mut text = Vec::new();
        support::machines::read_until(&mut there, &mut text, |t| {
            t.contains(&format!("L{:049}", 1999))
        });
        // Back from before the remote ring's start: one repaint (the mirror's ring
        // restarted at the remote's repaint), then output exactly from there.
        let mut phone = mirror.phone().await;
        phone.send(json!({"type": "resume", "lastSeq": seq})).await;
        let (screen, at, _) = phone.repaint().await;
        assert!(at > seq + 65536, "repainted at {at}, from {seq}");
        assert!(
            screen.contains(&format!("L{:049}", 1999)),
            "the screen after the flood"
        );
        phone.send(json!({"type": "input", "data": "x\r"})).await;
        let (text, _) = read_until(&mut phone, at, "after-the-gap\r\n").await;
        assert_eq!(text, "after-the-gap\r\n");
        // A terminal attached through the laptop is served by the same mirror, its
        // state the one after the gap.
        let mut raw = pair.local.connect();
        let attach = itwillsync_protocol::ClientMsg::Attach {
            target: Some(format!("devbox:{id}")),
            read_only: false,
            size: itwillsync_protocol::Size {
                cols: 120,
                rows: 24,
            },
        };
        let attached = raw.request(&attach);
        assert!(
            matches!(attached, itwillsync_protocol::ServerMsg::Attached { .. }),
            "{attached:?}"
        );
        let mut text = Vec::new();
        support::machines::read_until(&mut raw, &mut text, |t| t.contains("after-the-gap"));
        assert_eq!(ssh_children(server).len(), 2, "one mirror for both");
    });
}

#[test]
fn a_terminal_on_a_remote_session_resumes_after_the_laptop_hands_over() {
    use itwillsync_protocol::{ClientMsg, ServerMsg, Size};
    let pair = Pair::new(json!({}));
    pair.add_devbox();
    start_api(&pair);
    let size = Size { cols: 80, rows: 24 };
    let mut raw = pair.local.connect();
    let id = match raw.request(&ClientMsg::Attach {
        target: Some("devbox:api".into()),
        read_only: false,
        size,
    }) {
        ServerMsg::Attached { session } => session.id,
        other => panic!("{other:?}"),
    };
    raw.send(&ClientMsg::Input {
        data: b"one\n".to_vec(),
    });
    let mut seq = 0;
    let mut text = String::new();
    while !text.contains("got-one") {
        match raw.recv().expect("output") {
            ServerMsg::Output { seq: end, data } => {
                seq = end;
                text.push_str(&String::from_utf8_lossy(&data));
            }
            ServerMsg::Redraw { seq: at, .. } => seq = at,
            _ => {}
        }
    }
    pair.ok(&["server", "upgrade"]);
    loop {
        match raw.recv().expect("the hand-over notice") {
            ServerMsg::HandOver { .. } => break,
            ServerMsg::Output { .. } | ServerMsg::Size { .. } => {}
            other => panic!("{other:?}"),
        }
    }
    // The client resumes by the id it was given, as `attach` does after a hand-over: the
    // new server mirrors the session again.
    let mut raw = pair.local.connect();
    let resumed = raw.request(&ClientMsg::Follow {
        target: id.clone(),
        read_only: false,
        size,
        from_seq: seq,
    });
    assert!(matches!(resumed, ServerMsg::Attached { .. }), "{resumed:?}");
    raw.send(&ClientMsg::Input {
        data: b"bye\n".to_vec(),
    });
    let mut text = String::new();
    let status = loop {
        match raw.recv().expect("output, then the exit") {
            ServerMsg::Output { data, .. } | ServerMsg::Redraw { data, .. } => {
                text.push_str(&String::from_utf8_lossy(&data))
            }
            ServerMsg::Exit { status } => break status,
            _ => {}
        }
    };
    assert!(text.contains("last-line"), "{text:?}");
    assert_eq!(status.code, 3);
}

#[test]
fn a_phone_on_a_remote_session_resumes_after_the_laptop_hands_over() {
    let pair = Pair::new(json!({}));
    pair.add_devbox();
    let api = start_api(&pair);
    let dash = pair.local.dashboard();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mirror = open_remote(&dash, "devbox", &api).await;
        let (mut phone, seq) = repainted_phone(&mirror).await;
        phone.send(json!({"type": "input", "data": "one\r"})).await;
        let (_, seq) = read_until(&mut phone, seq, "got-one\r\n").await;

        pair.ok(&["server", "upgrade"]);
        // Told to reconnect at once (1012), as a phone of a local session is.
        wait_message(&mut phone, "close", |m| m["code"] == 1012).await;

        // The same port and key on the new server, and the output from where it was:
        // every byte after `seq`, no repaint.
        let mut phone = mirror.phone().await;
        phone.send(json!({"type": "resume", "lastSeq": seq})).await;
        phone.send(json!({"type": "input", "data": "two\r"})).await;
        let (_, seq) = read_until(&mut phone, seq, "got-two\r\n").await;
        phone.send(json!({"type": "input", "data": "bye\r"})).await;
        let (text, _) = read_until(&mut phone, seq, "last-line\r\n").await;
        assert!(!text.contains("got-one"), "output drawn twice: {text:?}");
        wait_message(&mut phone, "exit", |m| m["code"] == 3).await;
    });
}
