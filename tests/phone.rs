//! End-to-end tests of the phone listener (DESIGN.md "Phone protocol") against the real
//! binary, with a real WebSocket client.

#[path = "phone/admission.rs"]
mod admission;
#[path = "phone/pacing.rs"]
mod pacing;
#[path = "phone/resume.rs"]
mod resume;
mod support;

use std::time::Duration;

use itwillsync_protocol::Size;
use serde_json::json;
use support::{Home, Refused};

/// How long "nothing arrives" is watched for.
const QUIET: Duration = Duration::from_millis(500);

fn parser(rows: u16, cols: u16, scrollback: usize) -> vt100::Parser {
    let nz = |n: u16| std::num::NonZeroU16::new(n).expect("a positive size");
    vt100::Parser::new(nz(rows), nz(cols), scrollback)
}

fn sleeper() -> [&'static str; 2] {
    ["sleep", "60"]
}

/// The value of the response header `name` (lowercase), if any.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
}

#[test]
fn files_are_gzipped_validated_and_a_reload_costs_a_few_bytes() {
    let hub = Home::with_config(json!({}));
    let ep = hub.session(&sleeper());
    let plain = ep.get("/vendor/xterm.js", "");
    assert!(header(&plain.head, "content-encoding").is_none());
    let gz = ep.get("/vendor/xterm.js", "Accept-Encoding: br, gzip\r\n");
    assert_eq!(gz.status, 200);
    assert_eq!(header(&gz.head, "content-encoding"), Some("gzip"));
    assert_eq!(header(&gz.head, "vary"), Some("Accept-Encoding"));
    let length = |r: &support::web::Reply| -> usize {
        header(&r.head, "content-length").unwrap().parse().unwrap()
    };
    assert!(length(&gz) * 3 < length(&plain), "xterm.js compressed");
    assert!(ep
        .get("/", "Accept-Encoding: gzip;q=0\r\n")
        .head
        .contains("content-length"));
    assert!(header(
        &ep.get("/", "Accept-Encoding: gzip;q=0\r\n").head,
        "content-encoding"
    )
    .is_none());

    // A reload: every file revalidated with its ETag is a 304 with no body.
    let mut total = 0;
    for path in [
        "/",
        "/vendor/xterm.js",
        "/vendor/xterm.css",
        "/vendor/addon-fit.js",
        "/vendor/noble.js",
        "/vendor/qrcode.js",
        "/terminal.css",
        "/terminal.js",
        "/seal.js",
        "/key.js",
        "/connection.js",
        "/share.js",
        "/chime.js",
        "/manifest.json",
        "/icon.svg",
    ] {
        let first = ep.get(path, "Accept-Encoding: gzip\r\n");
        let etag = header(&first.head, "etag").expect("an etag").to_string();
        let again = ep.get(
            path,
            &format!("Accept-Encoding: gzip\r\nIf-None-Match: {etag}\r\n"),
        );
        assert_eq!(again.status, 304, "{path}");
        assert!(again.body.is_empty(), "{path}");
        total += again.head.len() + 4;
    }
    assert!(total < 5 * 1024, "a reload's responses take {total} bytes");
    // Another representation's tag does not match.
    let etag = header(&plain.head, "etag").unwrap().to_string();
    let other = ep.get(
        "/vendor/xterm.js",
        &format!("Accept-Encoding: gzip\r\nIf-None-Match: {etag}\r\n"),
    );
    assert_eq!(other.status, 200);
}

#[test]
fn an_ended_sessions_link_says_so_and_leads_to_the_dashboard() {
    let hub = Home::with_config(json!({}));
    let ep = hub.session(&["sh", "-c", "read x; exit 3"]);
    assert_eq!(ep.get("/", "").status, 200);
    let id = hub.sessions()[0]["id"].as_str().unwrap().to_string();
    hub.ok(&["kill", &id]);
    support::eventually("the session's end", || ep.get("/", "").status == 410);
    let r = ep.get("/", "");
    assert!(r.body.contains("This session has ended"), "{}", r.body);
    assert!(
        r.body.contains("http://127.0.0.1:"),
        "a link to the dashboard: {}",
        r.body
    );
    assert!(!r.body.contains("{{"), "{}", r.body);
    assert_eq!(
        ep.get("/dashboard.css", "").status,
        200,
        "its styles still load"
    );
}

#[test]
fn public_page_sealed_handshake_rate_limit_and_origin() {
    let hub = Home::with_config(json!({}));
    let ep = hub.session(&sleeper());
    let k = ep.key.clone();

    // The page is public and holds nothing about the session.
    let r = ep.get("/", "");
    assert_eq!(r.status, 200);
    assert!(!r.body.contains("sleep") && !r.body.contains(&k));
    for header in ["cache-control: no-cache", "referrer-policy: no-referrer"] {
        assert!(r.head.contains(header), "{}", r.head);
    }
    assert!(r
        .head
        .contains("content-security-policy: default-src 'none'"));
    let ws_origin = format!("connect-src 'self' ws://127.0.0.1:{};", ep.port);
    assert!(r.head.contains(&ws_origin), "{}", r.head);
    assert!(!r.head.contains("set-cookie"), "{}", r.head);
    assert_eq!(ep.get("/vendor/xterm.js", "").status, 200);
    assert_eq!(ep.get("/../Cargo.toml", "").status, 404);
    // A link of an older version says it no longer works.
    assert_eq!(ep.get(&format!("/?token={k}"), "").status, 410);
    assert_eq!(ep.get("/ws", "").status, 426);

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        // A foreign Origin is refused before any key is tried; the page's own is fine.
        let evil = ep.try_phone(&k, Some("http://evil.example:80")).await;
        assert_eq!(evil.err(), Some(Refused::Http(403)));
        let own = format!("http://127.0.0.1:{}", ep.port);
        assert!(ep.try_phone(&k, Some(&own)).await.is_ok());
        assert!(
            ep.try_phone_at("/", &k, None).await.is_ok(),
            "the original's URL"
        );
        // Four failures, then a success that clears them: the owner is never locked out.
        for wrong in [
            "wrong",
            "",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "x",
        ] {
            assert_eq!(
                ep.try_phone(wrong, None).await.err(),
                Some(Refused::Closed(4001))
            );
        }
        assert!(ep.try_phone(&k, None).await.is_ok());
        // Five failures block this address: 4029 even with the right key.
        for _ in 0..5 {
            assert_eq!(
                ep.try_phone("wrong", None).await.err(),
                Some(Refused::Closed(4001))
            );
        }
        assert_eq!(
            ep.try_phone(&k, None).await.err(),
            Some(Refused::Closed(4029))
        );
    });
}

#[tokio::test]
async fn size_first_and_utf8_split_across_reads_arrives_intact() {
    let hub = Home::with_config(json!({}));
    let text: String = "aé漢é漢漢ééé".repeat(4000);
    let script = "printf %s \"$0\"; printf '\\nEND\\n'; sleep 60";
    let ep = hub.session(&["sh", "-c", script, &text]);
    let mut phone = ep.phone().await;
    let first = phone.next().await;
    assert_eq!(first["type"], "resize", "{first}");
    assert!(first["cols"].as_u64().unwrap() > 0 && first["rows"].as_u64().unwrap() > 0);
    phone.send(json!({"type": "resume", "lastSeq": 0})).await;
    let mut got = String::new();
    let mut seq = 0;
    while !got.contains("\nEND") {
        let d = phone.data().await;
        assert!(!d.data.contains('\u{fffd}'), "a character was split");
        seq += d.data.len() as u64;
        assert_eq!(d.seq, seq, "seq counts bytes");
        got.push_str(&d.data);
    }
    assert!(got.starts_with(&text), "output arrived intact");
}

#[tokio::test]
async fn two_phones_and_a_terminal_typing_all_reach_the_program() {
    // The viewport policy: phones follow the terminal unless forced (`active`, the
    // default, is tested in size.rs and the browser tests).
    let hub = Home::with_config(json!({"resizePolicy": "viewport"}));
    let ep = hub.session(&["cat"]);
    let mut a = ep.phone().await;
    let mut b = ep.phone().await;
    a.send(json!({"type": "resume", "lastSeq": 0})).await;
    b.send(json!({"type": "resume", "lastSeq": 0})).await;
    // With no local terminal attached a phone sets the size, and every phone is told.
    a.send(json!({"type": "resize", "cols": 101, "rows": 31, "force": false}))
        .await;
    for phone in [&mut a, &mut b] {
        loop {
            let msg = phone.next().await;
            if msg["type"] == "resize" && msg["cols"] == 101 && msg["rows"] == 31 {
                break;
            }
        }
    }
    // A terminal attaches (its size applies now) and all three type, in turn.
    let id = hub.sessions()[0]["id"].as_str().unwrap().to_string();
    let mut term = support::Term::spawn(&hub, &["attach", &id], Size { cols: 90, rows: 20 });
    for phone in [&mut a, &mut b] {
        loop {
            let msg = phone.next().await;
            if msg["type"] == "resize" && msg["cols"] == 90 && msg["rows"] == 20 {
                break;
            }
        }
    }
    // cat echoes each line once as typed (the PTY's echo) and once as its output. Each
    // line is typed only after both copies of the one before it are shown: typed while
    // cat's copy is on its way, its echo would come out split by that copy.
    let shown_twice = |term: &support::Term, line: &str| {
        term.wait_for(line, |s| {
            s.parser.screen().contents().matches(line).count() == 2
        });
    };
    a.send(json!({"type": "input", "data": "from alpha\r"}))
        .await;
    shown_twice(&term, "from alpha");
    b.send(json!({"type": "input", "data": "from bravo\r"}))
        .await;
    shown_twice(&term, "from bravo");
    term.send(b"from the desk\r");
    for phone in [&mut a, &mut b] {
        let mut text = String::new();
        while text.matches("from the desk").count() < 2 {
            text.push_str(&phone.data().await.data);
        }
        let (alpha, bravo, desk) = (
            text.find("from alpha").unwrap(),
            text.find("from bravo").unwrap(),
            text.find("from the desk").unwrap(),
        );
        assert!(alpha < bravo && bravo < desk, "in arrival order: {text:?}");
        assert_eq!(text.matches("from alpha").count(), 2, "{text:?}");
    }
    // A phone's size is a viewport while a terminal is attached; forced, it applies.
    a.send(json!({"type": "resize", "cols": 60, "rows": 15, "force": false}))
        .await;
    a.send(json!({"type": "resize", "cols": 70, "rows": 16, "force": true}))
        .await;
    loop {
        let msg = b.next().await;
        if msg["type"] == "resize" {
            assert_eq!(
                (msg["cols"].as_u64(), msg["rows"].as_u64()),
                (Some(70), Some(16))
            );
            break;
        }
    }
    term.send(b"\x1c");
    assert_eq!(term.wait_exit(), 0);
}

#[tokio::test]
async fn exit_comes_after_all_output() {
    let hub = Home::with_config(json!({}));
    let ep = hub.session(&["sh", "-c", "read x; printf 'last words'; exit 3"]);
    let mut phone = ep.phone().await;
    phone.send(json!({"type": "resume", "lastSeq": 0})).await;
    phone.send(json!({"type": "input", "data": "go\r"})).await;
    let mut text = String::new();
    loop {
        let msg = phone.next().await;
        match msg["type"].as_str() {
            Some("data") => text.push_str(msg["data"].as_str().unwrap()),
            Some("resize" | "session") => {}
            Some("exit") => {
                assert_eq!(msg["code"], 3);
                break;
            }
            _ => panic!("unexpected {msg}"),
        }
    }
    assert!(text.ends_with("last words"), "{text:?}");
    assert_eq!(phone.next().await["type"], "close");
}

#[tokio::test]
async fn bad_messages_are_ignored_and_oversized_ones_close_the_socket() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    let hub = Home::with_config(json!({}));
    let ep = hub.session(&["cat"]);
    let mut phone = ep.phone().await;
    phone.send(json!({"type": "resume", "lastSeq": 0})).await;
    for bad in [
        "not json",
        "{\"type\":\"launch\"}",
        "{\"type\":\"input\",\"data\":5}",
        "{\"type\":\"resize\",\"cols\":-4,\"rows\":1e9}",
        "{\"type\":\"ack\",\"seq\":-7}",
        "{\"type\":\"resize\",\"cols\":99999,\"rows\":99999}",
    ] {
        phone.send_text(bad).await;
    }
    // The absurd size was clamped to maxTerminalCols x maxTerminalRows and told (after
    // the 80x24 every phone hears first).
    loop {
        let msg = phone.next().await;
        if msg["type"] == "resize" && msg["cols"] != 80 {
            assert_eq!(
                (msg["cols"].as_u64(), msg["rows"].as_u64()),
                (Some(500), Some(200))
            );
            break;
        }
    }
    phone
        .send(json!({"type": "input", "data": "still here\r"}))
        .await;
    phone.until("still here\r\nstill here").await;

    let mut other = ep.phone().await;
    other.send(json!({"type": "resume", "lastSeq": 0})).await;
    let huge = "x".repeat((1 << 20) + 10);
    let sealed = phone.seal(json!({"type": "input", "data": huge}));
    let _ = phone.ws.send(Message::binary(sealed)).await;
    loop {
        let msg = phone.next().await;
        match msg["type"].as_str() {
            Some("close") => {
                assert_eq!(msg["code"], 1009);
                break;
            }
            Some("data" | "resize" | "session") => continue,
            _ => panic!("expected a close, got {msg}"),
        }
    }
    other
        .send(json!({"type": "input", "data": "after\r"}))
        .await;
    other.until("after\r\nafter").await;
}

#[test]
fn tailscale_mode_takes_the_tailscale_address_or_warns_and_falls_back() {
    let hub = Home::new();
    // A stand-in for the Tailscale CLI (not part of itwillsync): `tailscale ip -4` prints
    // the address in `ip` when that file exists, else fails as with a stopped daemon.
    let bin = hub.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let ip = bin.join("ip");
    let stub = bin.join("tailscale");
    let script = format!(
        "#!/bin/sh\n[ \"$*\" = 'ip -4' ] || exit 2\ncat '{}' 2>/dev/null || {{ echo 'Tailscale is stopped.' >&2; exit 1; }}\n",
        ip.display()
    );
    std::fs::write(&stub, script).unwrap();
    std::fs::set_permissions(&stub, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    // The server starts with the first `new` and inherits its PATH.
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let new = || {
        let out = hub
            .cmd(&["new", "-d", "--no-qr", "--tailscale", "--", "sleep", "60"])
            .env("PATH", &path)
            .output()
            .unwrap();
        assert!(out.status.success());
        let id = String::from_utf8(out.stdout).unwrap().trim().to_string();
        let session = hub
            .sessions()
            .into_iter()
            .find(|s| s["id"] == id.as_str())
            .unwrap();
        let url = session["url"].as_str().unwrap().to_string();
        (url, String::from_utf8(out.stderr).unwrap())
    };

    let (url, stderr) = new();
    assert!(
        stderr.contains("warning: no Tailscale address")
            && stderr.contains("Tailscale is stopped."),
        "{stderr}"
    );
    assert!(!url.starts_with("http://100."), "{url}");
    // The fallback listens on every interface, so the URL's port answers on loopback too.
    let port: u16 = url
        .split(':')
        .nth(2)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let (_, key) = url.split_once("#k=").unwrap();
    let endpoint = support::Endpoint {
        port,
        key: key.into(),
    };
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let mut phone = endpoint.phone().await;
        assert_eq!(phone.next().await["type"], "resize");
    });

    std::fs::write(&ip, "127.0.0.1\n").unwrap();
    let (url, stderr) = new();
    assert!(!stderr.contains("warning"), "{stderr}");
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
}

#[tokio::test]
async fn neither_keys_nor_keystrokes_reach_the_log_even_at_trace_level() {
    let hub = Home::new();
    // The server starts with the first command and takes its log level from it.
    let started = hub
        .cmd(&["new", "-d", "--no-qr", "--", "sleep", "60"])
        .env("ITWILLSYNC_LOG", "trace")
        .output()
        .unwrap();
    assert!(started.status.success());
    let ep = hub.session(&["cat"]);
    assert_eq!(
        ep.try_phone("wrong", None).await.err(),
        Some(Refused::Closed(4001))
    );
    let mut phone = ep.phone().await;
    phone.send(json!({"type": "resume", "lastSeq": 0})).await;
    phone
        .send(json!({"type": "input", "data": "hunter2-typed\r"}))
        .await;
    phone.until("hunter2-typed").await;
    drop(phone);
    hub.ok(&["hub", "stop"]);
    let log = std::fs::read_to_string(hub.path().join("server.log")).unwrap();
    let verbose = log.contains(" DEBUG ") || log.contains(" TRACE ");
    assert!(verbose, "a trace-level log: {log}");
    let key = itwillsync_protocol::seal::Key::from_link_text(&ep.key).unwrap();
    for secret in [ep.key.clone(), key.to_hex()] {
        assert!(!log.contains(&secret), "the session key is in the log");
    }
    let leak: Vec<&str> = log.lines().filter(|l| l.contains("hunter2")).collect();
    assert!(leak.is_empty(), "keystrokes are in the log: {leak:?}");
}
