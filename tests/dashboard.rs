//! End-to-end tests of the dashboard (DESIGN.md "Dashboard") and the local API against
//! the real binary, with a real WebSocket client.

mod support;

use std::io::{Read, Write};

use std::path::Path;

use serde_json::{json, Value};
use support::{Endpoint, Home, Phone, Refused, DEADLINE};

fn api_port(hub: &Home) -> u16 {
    hub.config()["apiPort"].as_u64().unwrap() as u16
}

/// Starts a detached session with `HOME` set to `home` (which the server inherits when
/// this starts it); returns its id.
fn session_with_home(hub: &Home, home: &Path, command: &[&str]) -> String {
    let mut args = vec!["new", "-d", "--no-qr", "--"];
    args.extend_from_slice(command);
    let out = hub.cmd(&args).env("HOME", home).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Reads messages until one satisfies `pred` (failing after the deadline).
async fn until(phone: &mut Phone, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let msg = phone
            .next_within(left)
            .await
            .unwrap_or_else(|| panic!("timed out waiting for {what}"));
        if pred(&msg) {
            return msg;
        }
        assert!(
            !matches!(msg["type"].as_str(), Some("close" | "end" | "error")),
            "connection ended waiting for {what}: {msg}"
        );
    }
}

/// The session JSON in an added/updated/created message or the initial list, if it is
/// about `id`.
fn about<'a>(msg: &'a Value, id: &str) -> Option<&'a Value> {
    match msg["type"].as_str()? {
        "sessions" => msg["sessions"].as_array()?.iter().find(|s| s["id"] == id),
        "session-added" | "session-updated" | "session-created" => {
            (msg["session"]["id"] == id).then_some(&msg["session"])
        }
        _ => None,
    }
}

fn status_is<'a>(id: &'a str, status: &'static str) -> impl Fn(&Value) -> bool + 'a {
    move |m| about(m, id).is_some_and(|s| s["status"] == status)
}

fn preview_is<'a>(id: &'a str, lines: &'a [&'a str]) -> impl Fn(&Value) -> bool + 'a {
    move |m| m["type"] == "preview" && m["sessionId"] == id && m["lines"] == json!(lines)
}

/// A raw GET with the given Host header: status and body.
fn get(port: u16, path: &str, host: &str, headers: &str) -> (u16, String, String) {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{headers}\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_ascii_lowercase(), body.to_string())
}

fn id_of(hub: &Home, ep: &Endpoint) -> String {
    hub.sessions()
        .iter()
        .find(|s| s["port"] == ep.port)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn live_list_previews_renames_and_attention() {
    let hub = Home::new();
    let lines = hub.session(&[
        "sh",
        "-c",
        "for i in 1 2 3 4 5 6 7; do echo line$i; done; exec sleep 60",
    ]);
    let a = id_of(&hub, &lines);
    let dash = hub.dashboard();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut page = dash.phone().await;
        let first = page.next().await;
        assert_eq!(first["type"], "sessions", "{first}");
        assert!(first["home"].is_string());
        let info = about(&first, &a).expect("listed").clone();
        assert_eq!(info["name"], "sh");
        assert_eq!(info["port"], lines.port);
        // The session's key, for the page to open it; no link with a secret in a query.
        assert_eq!(info["key"], lines.key.as_str());
        assert!(info.get("url").is_none() && info.get("token").is_none());
        assert_eq!(
            info["clientKinds"],
            json!({"terminal": 0, "phone": 0, "readOnly": 0})
        );
        assert_eq!(info["agent"], "sh");
        assert!(info["command"].as_str().unwrap().starts_with("sh -c for"));
        for key in ["pid", "connectedAt", "lastSeen", "clients", "cols", "rows"] {
            assert!(info[key].is_u64(), "{key} in {info}");
        }
        let last5 = ["line3", "line4", "line5", "line6", "line7"];
        until(&mut page, "the preview", preview_is(&a, &last5)).await;

        // A program drawing in the alternate screen: the preview is that screen.
        let alt = hub.session(&[
            "sh",
            "-c",
            r"printf 'main\n\033[?1049h\033[H\033[2Jalt-top\033[10;1Halt-bottom'; exec sleep 60",
        ]);
        let b = id_of(&hub, &alt);
        until(&mut page, "session-added", |m| {
            m["type"] == "session-added" && m["session"]["id"] == b.as_str()
        })
        .await;
        until(
            &mut page,
            "the alternate-screen preview",
            preview_is(&b, &["alt-top", "alt-bottom"]),
        )
        .await;

        // Renames: live; empty and duplicate names refused with a reason.
        page.send(json!({"type": "rename-session", "sessionId": b, "name": "full"}))
            .await;
        until(&mut page, "the rename", |m| {
            about(m, &b).is_some_and(|s| s["name"] == "full")
        })
        .await;
        for name in ["  ", "sh", "evil\u{202e}txt", "box:name"] {
            page.send(json!({"type": "rename-session", "sessionId": b, "name": name}))
                .await;
            let err = until(&mut page, "a refusal", |m| m["type"] == "operation-error").await;
            assert_eq!(err["operation"], "rename-session");
            assert_eq!(err["sessionId"], b.as_str());
            assert!(!err["error"].as_str().unwrap().is_empty());
        }
        page.send(json!({"type": "get-metadata", "sessionId": "0123456789abcdef"}))
            .await;
        let err = until(&mut page, "unknown id", |m| m["type"] == "operation-error").await;
        assert_eq!(err["operation"], "get-metadata");

        // A bell raises attention; input from a phone clears it.
        let bell = hub.session(&["sh", "-c", r"read x; printf '\a'; exec sleep 60"]);
        let c = id_of(&hub, &bell);
        let mut phone = bell.phone().await;
        phone.send(json!({"type": "input", "data": "go\r"})).await;
        until(&mut page, "attention", status_is(&c, "attention")).await;
        phone.send(json!({"type": "input", "data": "x"})).await;
        until(&mut page, "attention cleared", status_is(&c, "active")).await;

        // An OSC 777 split across two writes raises it too; clear-attention clears it.
        let osc = hub.session(&[
            "sh",
            "-c",
            r"printf '\033]77'; sleep 0.2; printf '7;notify;t;b\033\\'; exec sleep 60",
        ]);
        let d = id_of(&hub, &osc);
        until(&mut page, "OSC 777 attention", status_is(&d, "attention")).await;
        page.send(json!({"type": "clear-attention", "sessionId": d}))
            .await;
        until(&mut page, "cleared", status_is(&d, "active")).await;
        // A phone replaying those bytes from the start does not raise it again.
        let mut replay = osc.phone().await;
        replay.send(json!({"type": "resume", "lastSeq": 0})).await;
        let data = replay.data().await;
        assert!(data.data.contains("\x1b]777;notify"), "{:?}", data.data);
        let quiet = tokio::time::Instant::now() + std::time::Duration::from_secs(1);
        while let Some(msg) = page
            .next_within(quiet.saturating_duration_since(tokio::time::Instant::now()))
            .await
        {
            assert!(!status_is(&d, "attention")(&msg), "re-raised: {msg}");
        }

        // A progress report (OSC 9;4) is not a notification.
        let progress = hub.session(&[
            "sh",
            "-c",
            r"printf '\033]9;4;1;50\007done94'; exec sleep 60",
        ]);
        let e = id_of(&hub, &progress);
        until(
            &mut page,
            "the progress preview",
            preview_is(&e, &["done94"]),
        )
        .await;
        let (status, _, body) = get(
            api_port(&hub),
            "/api/sessions",
            &format!("127.0.0.1:{}", api_port(&hub)),
            "",
        );
        assert_eq!(status, 200);
        let list: Value = serde_json::from_str(&body).unwrap();
        let entry = list
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == e.as_str())
            .unwrap();
        assert_eq!(entry["status"], "active", "{entry}");

        // Exits leave the list.
        hub.ok(&["kill", &a]);
        until(&mut page, "session-removed", |m| {
            m["type"] == "session-removed" && m["sessionId"] == a.as_str()
        })
        .await;
    });
}

#[test]
fn stop_create_and_the_home_boundary() {
    let hub = Home::new();
    let home = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(home.path()).unwrap();
    std::fs::create_dir(root.join("proj")).unwrap();
    std::os::unix::fs::symlink(outside.path(), root.join("escape")).unwrap();
    let shell = session_with_home(&hub, home.path(), &["bash", "-i"]);
    let dash = hub.dashboard();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut page = dash.phone().await;
        let first = page.next().await;
        assert_eq!(first["home"], root.to_str().unwrap());

        // Bad JSON and unknown types are ignored; the connection carries on.
        page.send_text("{not json").await;
        page.send(json!({"type": "bogus"})).await;
        page.send(json!({"type": "get-metadata", "sessionId": shell}))
            .await;
        let meta = until(&mut page, "metadata", |m| m["type"] == "metadata").await;
        let meta = &meta["metadata"];
        assert_eq!(meta["agent"], "bash");
        assert!(meta["memoryKB"].as_u64().unwrap() > 0, "{meta}");
        assert!(meta["pid"].as_u64().unwrap() > 0 && meta["port"].is_u64());
        assert!(meta["uptimeMs"].is_u64() && meta["connectedAt"].is_u64());

        // The folder browser lists home's directories, not the symlink out of it.
        page.send(json!({"type": "list-dir", "path": ""})).await;
        let listing = until(&mut page, "dir-listing", |m| m["type"] == "dir-listing").await;
        assert_eq!(listing["path"], root.to_str().unwrap());
        assert_eq!(
            listing["entries"],
            json!([{"name": "proj", "path": root.join("proj")}])
        );
        for path in [outside.path().to_path_buf(), root.join("escape")] {
            page.send(json!({"type": "list-dir", "path": path})).await;
            let err = until(&mut page, "refusal", |m| m["type"] == "operation-error").await;
            assert_eq!(err["operation"], "list-dir");
        }

        // Creating: a bare tool name on PATH, in a directory inside home.
        let proj = root.join("proj");
        page.send(json!({"type": "create-session", "tool": "cat", "cwd": proj}))
            .await;
        let creating = until(&mut page, "creating", |m| m["type"] == "session-creating").await;
        assert_eq!(creating["tool"], "cat");
        let created = until(&mut page, "created", |m| {
            m["type"] == "session-created" || m["type"] == "session-create-error"
        })
        .await;
        assert_eq!(created["type"], "session-created", "{created}");
        assert_eq!(created["session"]["cwd"], proj.to_str().unwrap());
        assert_eq!(created["session"]["command"], "cat");
        let bad = [
            ("sh -c id", proj.clone()),
            ("/bin/sh", proj.clone()),
            ("no-such-tool-itwillsync", proj.clone()),
            ("cat", outside.path().to_path_buf()),
            ("cat", root.join("escape")),
        ];
        for (tool, cwd) in bad {
            page.send(json!({"type": "create-session", "tool": tool, "cwd": cwd}))
                .await;
            let reply = until(&mut page, "create error", |m| {
                m["type"] == "session-created" || m["type"] == "session-create-error"
            })
            .await;
            assert_eq!(reply["type"], "session-create-error", "{tool} {cwd:?}");
            assert!(!reply["error"].as_str().unwrap().is_empty());
        }
        assert_eq!(hub.sessions().len(), 2);

        // Stop hangs up an interactive shell too.
        page.send(json!({"type": "stop-session", "sessionId": shell}))
            .await;
        until(&mut page, "the shell's removal", |m| {
            m["type"] == "session-removed" && m["sessionId"] == shell.as_str()
        })
        .await;

        // A message over 64 KiB closes the connection.
        page.send(json!({"type": "bogus", "pad": "x".repeat(70_000)}))
            .await;
        let end = until(&mut page, "close", |m| {
            matches!(m["type"].as_str(), Some("close" | "end" | "error"))
        })
        .await;
        assert!(end["type"] != "close" || end["code"] == 1009, "{end}");
    });
}

#[test]
fn sealed_page_api_hub_info_and_a_lasting_master_key() {
    let hub = Home::new();
    hub.session(&["sleep", "60"]);
    let dash = hub.dashboard();
    let (port, k) = (dash.port, dash.key.clone());
    let host = format!("127.0.0.1:{port}");

    // hub info prints the link (key in the fragment), a QR code and the sessions.
    let info = hub.ok(&["hub", "info"]);
    let url = format!("http://127.0.0.1:{port}/#k={k}");
    assert!(info.contains(&format!("dashboard: {url}")), "{info}");
    assert!(
        info.contains('▀') || info.contains('▄'),
        "a QR code: {info}"
    );
    assert!(info.contains("1 session"), "{info}");

    // The page is public and holds no secret; old links are gone.
    let (status, head, body) = get(port, "/", &host, "");
    assert_eq!(status, 200);
    assert!(body.contains("dashboard.js") && !body.contains(&k));
    assert!(
        head.contains("cache-control: no-cache") && head.contains("referrer-policy: no-referrer")
    );
    assert!(!head.contains("set-cookie"));
    assert_eq!(get(port, "/dashboard.js", &host, "").0, 200);
    assert_eq!(get(port, "/?token=abc", &host, "").0, 410);

    // The local API, and its Host check against DNS rebinding.
    let api = api_port(&hub);
    for host in [format!("127.0.0.1:{api}"), format!("localhost:{api}")] {
        let (status, _, body) = get(api, "/api/health", &host, "");
        assert_eq!(status, 200);
        let health: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(health["status"], "ok");
        assert_eq!(health["sessions"], 1);
        assert_eq!(health["pid"], hub.server_pid().unwrap());
        assert!(health["uptime"].is_u64());
    }
    assert_eq!(get(api, "/api/health", "evil.example", "").0, 403);
    assert_eq!(
        get(api, "/api/health", &format!("evil.example:{api}"), "").0,
        403
    );

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        assert!(dash.try_phone_at("/", &k, None).await.is_ok());
        let evil = dash.try_phone(&k, Some("http://evil.example:80")).await;
        assert_eq!(evil.err(), Some(Refused::Http(403)));
        for _ in 0..5 {
            let refused = dash.try_phone("nope", None).await.err();
            assert_eq!(refused, Some(Refused::Closed(4001)));
        }
        let blocked = dash.try_phone(&k, None).await.err();
        assert_eq!(blocked, Some(Refused::Closed(4029)));
    });

    // The master key survives a restart.
    hub.ok(&["hub", "stop"]);
    hub.session(&["sleep", "60"]);
    assert_eq!(hub.dashboard().key, k);
    assert!(hub.ok(&["hub", "info"]).contains(&url));
}

/// `GET /api/sessions` as `uid` through bash's `/dev/tcp` (a child process, so it can run
/// as another account): the whole response.
fn api_as(uid: Option<u32>, port: u16) -> String {
    use std::os::unix::process::CommandExt;
    let script = format!(
        "exec 3<>/dev/tcp/127.0.0.1/{port}; \
         printf 'GET /api/sessions HTTP/1.1\\r\\nHost: 127.0.0.1:{port}\\r\\nConnection: close\\r\\n\\r\\n' >&3; \
         cat <&3"
    );
    let mut cmd = std::process::Command::new("bash");
    cmd.args(["-c", &script]).current_dir("/");
    if let Some(uid) = uid {
        cmd.uid(uid).gid(uid);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_local_api_holds_no_secrets() {
    let hub = Home::new();
    let ep = hub.session(&["sleep", "60"]);
    let id = id_of(&hub, &ep);
    let master = hub.dashboard().key;
    let api = api_port(&hub);
    // Another local account (`nobody`, where the test may switch to it) and the owner.
    let nobody = (rustix::process::geteuid().is_root()).then_some(65534);
    for uid in [nobody, None] {
        let response = api_as(uid, api);
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(response.contains(&id), "the session is listed: {response}");
        for secret in [&ep.key, &master] {
            assert!(!response.contains(secret.as_str()), "a secret: {response}");
        }
        assert!(!response.contains("\"key\"") && !response.contains("url"));
    }
}
