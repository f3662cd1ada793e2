//! Machines over OpenSSH (DESIGN.md "Machines"): `bridge` joins stdio to the server
//! (starting it); the local server keeps a link to another `ITWILLSYNC_HOME` through a
//! real sshd and `ssh -T DEST itwillsync bridge`, lists, starts, drives and attaches to
//! its sessions, re-emits its events, and resumes an attachment exactly across a cut.

#[path = "machines/cuts.rs"]
mod cuts;
mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::Stdio;
use std::sync::mpsc;

use itwillsync_protocol::{codec, preamble, ClientMsg, ServerMsg, Size};
use support::machines::{read_until, Events, Pair};
use support::{eventually, Home, Term, DEADLINE};

#[test]
fn the_bridge_carries_the_local_protocol_and_starts_the_server() {
    let home = Home::new();
    assert!(home.server_pid().is_none());
    let mut bridge = home
        .cmd(&["bridge"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut to = bridge.stdin.take().unwrap();
    let mut from = bridge.stdout.take().unwrap();
    to.write_all(&preamble::encode()).unwrap();
    to.write_all(&codec::encode_frame(&ClientMsg::List).unwrap())
        .unwrap();
    let mut theirs = [0u8; preamble::LEN];
    from.read_exact(&mut theirs).unwrap();
    preamble::check(&theirs).unwrap();
    let reply: ServerMsg = codec::read_frame(&mut from).unwrap().unwrap();
    assert_eq!(reply, ServerMsg::Sessions { sessions: vec![] });
    assert!(home.server_pid().is_some(), "the bridge started the server");
    // The far end closes: the bridge ends.
    drop(to);
    let mut rest = Vec::new();
    from.read_to_end(&mut rest).unwrap();
    assert!(bridge.wait().unwrap().success());
}

#[test]
fn machines_are_added_listed_through_the_server_and_removed() {
    let pair = Pair::new(serde_json::json!({}));
    pair.remote
        .ok(&["new", "-d", "--no-qr", "--", "sleep", "60"]);
    pair.ok(&["machine", "add", "devbox", &pair.sshd.dest()]);
    pair.ok(&["machine", "add", "gone", "nobody@127.0.0.2"]);
    let dup = pair.run(&["machine", "add", "devbox", "x"]);
    assert!(!dup.status.success());
    for bad in ["local", "a:b", "", "-x"] {
        assert!(
            !pair.run(&["machine", "add", bad, "h"]).status.success(),
            "{bad}"
        );
    }
    let header = pair.ok(&["machine", "ls"]);
    assert!(
        header.starts_with("NAME") && header.contains("LAST-SEEN"),
        "{header}"
    );
    eventually("devbox online with its session", || {
        let row = pair.machine_row("devbox");
        row.contains(" online ") && row.contains(" 1 ") && row.trim_end().ends_with("ago")
    });
    eventually("gone offline", || {
        pair.machine_row("gone").contains("offline")
    });
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(pair.local.path().join("machines.json"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    // rm tells the running server: the link stops and the machine is no longer listed.
    pair.ok(&["machine", "rm", "gone"]);
    assert!(!pair.run(&["machine", "rm", "gone"]).status.success());
    assert!(!pair.ok(&["machine", "ls"]).contains("gone"));
    let unknown = pair.run(&["kill", "gone:x"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no machine named gone"));
}

#[test]
fn removing_a_machine_ends_what_this_server_follows_of_it_and_not_its_sessions() {
    let pair = Pair::new(serde_json::json!({}));
    pair.add_devbox();
    let script = "echo ready-on-devbox; exec sleep 300";
    pair.ok(&[
        "new", "-d", "--no-qr", "--on", "devbox", "--name", "kept", "--", "sh", "-c", script,
    ]);
    let size = Size { cols: 80, rows: 24 };
    let mut term = Term::spawn(&pair.local, &["attach", "devbox:kept"], size);
    term.wait_text("ready-on-devbox");
    // The phone link of the session's mirror: a port of this server's.
    let info = pair.ok(&["url", "devbox:kept"]);
    let link = info.lines().find(|l| l.contains("#k=")).unwrap().trim();
    let address = link.split('/').nth(2).unwrap().to_string();
    let phones = support::Endpoint {
        port: address.rsplit(':').next().unwrap().parse().unwrap(),
        key: link.split("#k=").nth(1).unwrap().to_string(),
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut phone = runtime.block_on(phones.phone());
    runtime.block_on(phone.send(serde_json::json!({"type": "resume", "lastSeq": 0})));
    runtime.block_on(phone.until("ready-on-devbox"));

    pair.ok(&["machine", "rm", "devbox"]);
    // The attached terminal is told why and ends, as when a server stops; the phone is
    // told the session is gone from here (4004).
    term.wait_raw("[itwillsync: machine devbox was removed from this server]");
    assert_eq!(term.wait_exit(), 1);
    let closed = runtime.block_on(async {
        loop {
            let msg = phone.next().await;
            if ["close", "end", "error"].contains(&msg["type"].as_str().unwrap_or_default()) {
                break msg;
            }
        }
    });
    assert_eq!(closed["code"], 4004, "{closed}");
    eventually("the mirror's phone port closed", || {
        std::net::TcpStream::connect(&address).is_err()
    });
    // The session itself runs on there, and nothing here follows it any more.
    let there = pair.remote.sessions();
    assert_eq!(there.len(), 1);
    assert_eq!(there[0]["name"], "kept");
    eventually("the mirror's attachment there ended", || {
        pair.remote.sessions()[0]["clients"] == 0
    });
    let gone = pair.run(&["attach", "devbox:kept"]);
    assert!(!gone.status.success());
}

#[test]
fn remote_sessions_are_started_listed_attached_killed_and_waited_for() {
    let pair = Pair::new(serde_json::json!({}));
    pair.add_devbox();
    let events = Events::start(&pair);
    let local_id = pair.ok(&[
        "new", "-d", "--no-qr", "--name", "here", "--", "sleep", "60",
    ]);
    let remote_id = pair.ok(&[
        "new", "-d", "--no-qr", "--on", "devbox", "--name", "api", "--", "cat",
    ]);
    let remote_id = remote_id.trim();
    // It runs on the remote home, in the remote's home directory.
    let there = pair.remote.sessions();
    assert_eq!(there.len(), 1);
    assert_eq!(there[0]["id"], remote_id);
    events.wait("the remote start", |e| {
        e["event"] == "session-started" && e["machine"] == "devbox" && e["name"] == "api"
    });
    eventually("ls with both machines", || {
        let listed: Vec<serde_json::Value> =
            serde_json::from_str(&pair.ok(&["ls", "--json"])).unwrap();
        listed.len() == 2
            && listed[0]["machine"] == "local"
            && listed[0]["id"] == local_id.trim()
            && listed[1]["machine"] == "devbox"
            && listed[1]["id"] == remote_id
    });
    let table = pair.ok(&["ls"]);
    assert!(table.starts_with("MACHINE"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("devbox") && l.contains("api")),
        "{table}"
    );
    // info, rename and attach by MACHINE:NAME and MACHINE:ID-PREFIX.
    // The phone link is the session's mirror's here (this machine's port and key), so a
    // phone reaches it through this machine, as from the dashboard.
    let info = pair.ok(&["url", &format!("devbox:{}", &remote_id[..6])]);
    assert!(info.contains("#k="), "{info}");
    let there = pair.remote.sessions()[0]["url"]
        .as_str()
        .unwrap()
        .to_string();
    let port = |url: &str| {
        url.split(['#', '/'])
            .nth(2)
            .unwrap()
            .rsplit(':')
            .next()
            .unwrap()
            .to_string()
    };
    let link = info.lines().find(|l| l.contains("#k=")).unwrap().trim();
    assert_ne!(port(link), port(&there), "{link} is devbox's own {there}");
    assert_ne!(
        link.split("#k=").nth(1),
        there.split("#k=").nth(1),
        "devbox's key"
    );
    pair.ok(&["rename", "devbox:api", "api2"]);
    assert_eq!(pair.remote.sessions()[0]["name"], "api2");
    let mut raw = pair.local.connect();
    let size = Size { cols: 80, rows: 24 };
    match raw.request(&ClientMsg::Attach {
        target: Some("devbox:api2".into()),
        read_only: false,
        size,
    }) {
        ServerMsg::Attached { session } => assert_eq!(session.id, remote_id),
        other => panic!("{other:?}"),
    }
    raw.send(&ClientMsg::Input {
        data: b"typed through the laptop\n".to_vec(),
    });
    let mut text = Vec::new();
    // The PTY's echo, then cat's copy.
    read_until(&mut raw, &mut text, |t| {
        t.matches("typed through the laptop").count() >= 2
    });
    // wait sees the remote exit; kill by MACHINE:NAME ends it.
    let wait = pair
        .cmd(&["wait", "devbox:api2", "--for", "exit", "--timeout", "20"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The waiter prints its line once subscribed and looked up.
    let mut wait = wait;
    let mut line = String::new();
    BufReader::new(wait.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("waiting for api2"), "{line}");
    // The remote server's log, through the laptop's server: whole, then followed.
    let log = pair.ok(&["logs", "--machine", "devbox"]);
    assert!(log.contains("session started"), "{log}");
    let mut follow = pair
        .cmd(&["logs", "--machine", "devbox", "-f"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, log_lines) = mpsc::channel::<String>();
    let stdout = follow.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let before = log
        .lines()
        .filter(|l| l.contains("session started"))
        .count();
    let mut seen = 0;
    while seen < before {
        let line = log_lines.recv_timeout(DEADLINE).expect("the log so far");
        seen += usize::from(line.contains("session started"));
    }
    pair.ok(&[
        "new", "-d", "--no-qr", "--on", "devbox", "--", "sleep", "60",
    ]);
    loop {
        let line = log_lines
            .recv_timeout(DEADLINE)
            .expect("the new line, followed");
        if line.contains("session started") {
            break;
        }
    }
    let _ = follow.kill();
    let _ = follow.wait();
    let unknown = pair.run(&["logs", "--machine", "nowhere"]);
    assert!(!unknown.status.success());
    // Every machine's log at once, each line after its machine's name, local first.
    let every = pair.ok(&["logs", "--all"]);
    let first_remote = every.find("devbox |").expect("devbox's lines");
    let local = &every[..first_remote];
    assert!(local.starts_with("local  | "), "{every}");
    assert!(local.contains("server started"), "{every}");
    assert!(every[first_remote..]
        .lines()
        .all(|l| l.starts_with("devbox | ")));
    assert!(every[first_remote..].contains("session started"), "{every}");
    pair.ok(&["kill", "devbox:api2"]);
    loop {
        match raw.recv().expect("an exit") {
            ServerMsg::Exit { .. } => break,
            ServerMsg::Output { .. } | ServerMsg::Size { .. } => {}
            other => panic!("{other:?}"),
        }
    }
    let exited = events.wait("the remote exit", |e| {
        e["event"] == "session-exited" && e["machine"] == "devbox"
    });
    assert_eq!(exited["session"], remote_id);
    let out = wait.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("api2 exited"));
    eventually("the remote session gone from ls", || {
        pair.local.sessions().len() == 2 && pair.remote.sessions().len() == 1
    });
}

#[test]
fn a_hook_runs_on_a_remote_bell_with_the_machine_in_its_environment() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("hook.txt");
    let hook = format!(
        "printf '%s|%s|%s|%s' \"$ITWILLSYNC_EVENT\" \"$ITWILLSYNC_MACHINE\" \"$ITWILLSYNC_NAME\" \"$ITWILLSYNC_MESSAGE\" > '{}'",
        out.display()
    );
    let pair = Pair::new(serde_json::json!({ "hooks": { "attention": hook } }));
    pair.add_devbox();
    let events = Events::start(&pair);
    pair.ok(&[
        "new",
        "-d",
        "--no-qr",
        "--on",
        "devbox",
        "--name",
        "bell",
        "--",
        "sh",
        "-c",
        "read x; printf '\\a'; cat",
    ]);
    let mut raw = pair.local.connect();
    let size = Size { cols: 80, rows: 24 };
    assert!(matches!(
        raw.request(&ClientMsg::Attach {
            target: Some("devbox:bell".into()),
            read_only: false,
            size,
        }),
        ServerMsg::Attached { .. }
    ));
    raw.send(&ClientMsg::Input {
        data: b"ring\n".to_vec(),
    });
    events.wait("the remote bell", |e| {
        e["event"] == "attention" && e["machine"] == "devbox"
    });
    eventually("the hook's file", || {
        std::fs::read_to_string(&out).is_ok_and(|t| t == "attention|devbox|bell|bell")
    });
}

#[test]
fn the_dashboard_groups_sessions_by_machine_and_starts_one_there() {
    let pair = Pair::new(serde_json::json!({}));
    pair.add_devbox();
    pair.ok(&[
        "new", "-d", "--no-qr", "--name", "here", "--", "sleep", "60",
    ]);
    pair.ok(&[
        "new", "-d", "--no-qr", "--on", "devbox", "--name", "api", "--", "sleep", "60",
    ]);
    let dash = pair.local.dashboard();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut page = dash.phone().await;
        let first = page.next().await;
        assert_eq!(first["type"], "sessions");
        let local: Vec<_> = first["sessions"].as_array().unwrap().to_vec();
        assert_eq!(
            local.len(),
            1,
            "only this machine's sessions as cards: {first}"
        );
        assert_eq!(local[0]["name"], "here");
        let deadline = tokio::time::Instant::now() + DEADLINE;
        let machines = |msg: &serde_json::Value, count: usize| {
            msg["type"] == "machines"
                && msg["machines"][0]["name"] == "devbox"
                && msg["machines"][0]["state"] == "online"
                && msg["machines"][0]["sessions"].as_array().map(Vec::len) == Some(count)
        };
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let msg = page.next_within(left).await.expect("a message in time");
            if machines(&msg, 1) {
                let api = &msg["machines"][0]["sessions"][0];
                assert_eq!(api["name"], "api");
                assert_eq!(api["machine"], "devbox");
                assert!(
                    api.get("key").is_none(),
                    "no key of another machine's session"
                );
                break;
            }
        }
        // The folder browser browses devbox's home (its own, with one folder), not this one.
        page.send(serde_json::json!({ "type": "list-dir", "path": "", "machine": "devbox" }))
            .await;
        let listing = loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let msg = page.next_within(left).await.expect("a message in time");
            if msg["type"] == "dir-listing" {
                break msg;
            }
        };
        assert_eq!(listing["machine"], "devbox", "{listing}");
        let there_home = listing["home"].as_str().unwrap().to_string();
        assert!(there_home.ends_with("/house"), "{listing}");
        assert_eq!(listing["entries"][0]["name"], "project", "{listing}");
        let project = listing["entries"][0]["path"].as_str().unwrap().to_string();
        page.send(serde_json::json!({ "type": "list-dir", "path": "/", "machine": "devbox" }))
            .await;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let msg = page.next_within(left).await.expect("a message in time");
            if msg["type"] == "operation-error" {
                assert_eq!(msg["operation"], "list-dir");
                assert!(
                    msg["error"].as_str().unwrap().contains("outside the home"),
                    "{msg}"
                );
                break;
            }
        }
        // "+" on devbox: the tool on its PATH, in the folder chosen there.
        page.send(serde_json::json!({
            "type": "create-session", "tool": "cat", "cwd": project, "machine": "devbox"
        }))
        .await;
        let mut created = None;
        let mut grown = false;
        while created.is_none() || !grown {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let msg = page.next_within(left).await.expect("a message in time");
            assert_ne!(msg["type"], "session-create-error", "{msg}");
            if msg["type"] == "session-created" {
                assert_eq!(msg["session"]["machine"], "devbox");
                created = Some(msg["session"]["id"].as_str().unwrap().to_string());
            }
            grown |= machines(&msg, 2);
        }
        let there = pair.remote.sessions();
        let made = there
            .iter()
            .find(|s| Some(s["id"].as_str().unwrap()) == created.as_deref())
            .expect("the session on devbox");
        assert_eq!(made["agent"], "cat");
        assert_eq!(made["cwd"].as_str().unwrap(), project);
        // Rename and stop it from here: they go to devbox's server through the link.
        let created = created.unwrap();
        page.send(serde_json::json!({
            "type": "rename-session", "sessionId": created, "name": "renamed-there",
            "machine": "devbox"
        }))
        .await;
        let named =
            |s: &serde_json::Value| s["id"] == created.as_str() && s["name"] == "renamed-there";
        support::eventually("the rename on devbox", || {
            pair.remote.sessions().iter().any(named)
        });
        page.send(serde_json::json!({
            "type": "stop-session", "sessionId": created, "machine": "devbox"
        }))
        .await;
        support::eventually("the stop on devbox", || {
            !pair
                .remote
                .sessions()
                .iter()
                .any(|s| s["id"] == created.as_str())
        });
        page.send(serde_json::json!({
            "type": "stop-session", "sessionId": created, "machine": "devbox"
        }))
        .await;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let msg = page.next_within(left).await.expect("a message in time");
            if msg["type"] == "operation-error" {
                assert_eq!(msg["operation"], "stop-session");
                assert!(
                    msg["error"].as_str().unwrap().starts_with("devbox: "),
                    "{msg}"
                );
                break;
            }
        }
        // An unknown machine is a clear error.
        page.send(serde_json::json!({
            "type": "create-session", "tool": "cat", "cwd": "", "machine": "nowhere"
        }))
        .await;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let msg = page.next_within(left).await.expect("a message in time");
            if msg["type"] == "session-create-error" {
                assert!(msg["error"]
                    .as_str()
                    .unwrap()
                    .contains("no machine named nowhere"));
                break;
            }
        }
    });
}

#[test]
fn new_on_a_machine_attaches_this_terminal_to_it() {
    let pair = Pair::new(serde_json::json!({}));
    pair.add_devbox();
    let size = Size { cols: 80, rows: 24 };
    // The answer comes while the program still runs (it waits for a second line): a
    // terminal served directly at the head of a mirror is shown remote output as it
    // arrives, not only when something else (a key, the exit) wakes its attachment.
    let script = "echo hi-from-devbox; read x; echo got-$x; read y; exit 3";
    let mut term = Term::spawn(
        &pair.local,
        &["new", "--no-qr", "--on", "devbox", "--", "sh", "-c", script],
        size,
    );
    term.wait_text("hi-from-devbox");
    term.send(b"yes\r");
    term.wait_raw("got-yes");
    term.send(b"\r");
    assert_eq!(term.wait_exit(), 3, "the remote program's status");
}
