//! End-to-end tests of the phone listener (DESIGN.md "Phone protocol") against the real
//! binary, with a real WebSocket client.

mod support;

use std::time::Duration;

use itwillsync_protocol::{ClientMsg, ServerMsg, Size};
use serde_json::json;
use support::{Home, Phone, Refused, DEADLINE};

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

/// Output that keeps coming: numbered lines, about 200 a second.
const TICKER: &str = "i=0; while true; do echo \"line $i\"; i=$((i+1)); sleep 0.005; done";

#[tokio::test]
async fn resume_after_disconnects_returns_exactly_the_missed_bytes() {
    let hub = Home::with_config(json!({}));
    let ep = hub.session(&["sh", "-c", TICKER]);
    // The witness reads everything from the start: its text is the output, by seq.
    let mut witness = ep.phone().await;
    witness.send(json!({"type": "resume", "lastSeq": 0})).await;
    let mut all = String::new();
    let mut rng: u64 = 0x2545_f491_4f6c_dd1d;
    let mut have = 0u64;
    for round in 0..25 {
        let mut phone = ep.phone().await;
        phone.send(json!({"type": "resume", "lastSeq": have})).await;
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let mut mine = String::new();
        for _ in 0..1 + rng % 4 {
            let d = phone.data().await;
            assert!(
                !d.data.starts_with("\x1bc"),
                "round {round}: a redraw, not a delta"
            );
            mine.push_str(&d.data);
            assert_eq!(d.seq, have + mine.len() as u64, "round {round}");
        }
        drop(phone);
        while (all.len() as u64) < have + mine.len() as u64 {
            all.push_str(&witness.data().await.data);
        }
        let start = have as usize;
        assert_eq!(&all[start..start + mine.len()], mine, "round {round}");
        have += mine.len() as u64;
        // Let output happen while disconnected.
        while (all.len() as u64) < have + 30 {
            all.push_str(&witness.data().await.data);
        }
    }
}

#[tokio::test]
async fn resume_at_head_is_silent_and_minus_one_redraws() {
    let hub = Home::with_config(json!({}));
    let ep = hub.session(&["sh", "-c", "printf 'ready\\n'; sleep 60"]);
    let mut phone = ep.phone().await;
    phone.send(json!({"type": "resume", "lastSeq": 0})).await;
    let (_, head) = phone.until("ready\r\n").await;

    let mut phone = ep.phone().await;
    assert_eq!(phone.next().await["type"], "resize");
    // Then what the page shows: the name, its rights, the dashboard, the Share key.
    let about = phone.next().await;
    assert_eq!(about["type"], "session");
    assert_eq!(
        (about["name"].as_str(), about["readOnly"].as_bool()),
        (Some("sh"), Some(false))
    );
    assert!(about["dashboardPort"].is_u64() && about["readKey"].as_str().unwrap().len() == 43);
    phone.send(json!({"type": "resume", "lastSeq": head})).await;
    assert_eq!(phone.next_within(QUIET).await, None, "nothing to send");

    let mut phone = ep.phone().await;
    phone.send(json!({"type": "sync", "lastSeq": -1})).await;
    let d = phone.data().await;
    assert!(d.data.starts_with("\x1bc") && d.data.contains("ready"));
    assert_eq!(d.seq, head);
    assert_eq!(phone.next_within(QUIET).await, None, "one message");

    // No resume at all: treated as -1 after a short wait. A later resume is answered
    // against what this phone was sent: it already has everything up to there (no
    // byte twice); beyond that, or -1, it gets a redraw.
    let mut phone = ep.phone().await;
    let d = phone.data().await;
    assert!(d.data.starts_with("\x1bc"));
    phone
        .send(json!({"type": "resume", "lastSeq": d.seq}))
        .await;
    assert_eq!(phone.next_within(QUIET).await, None);
    phone.send(json!({"type": "resume", "lastSeq": 2})).await;
    assert_eq!(phone.next_within(QUIET).await, None);
    phone
        .send(json!({"type": "resume", "lastSeq": head + 100}))
        .await;
    let d = phone.data().await;
    assert!(d.data.starts_with("\x1bc") && d.seq == head);
    phone.send(json!({"type": "resume", "lastSeq": -1})).await;
    let d = phone.data().await;
    assert!(d.data.starts_with("\x1bc") && d.seq == head);
}

#[tokio::test]
async fn redraw_for_too_old_or_everything_renders_the_live_screen() {
    let hub = Home::with_config(json!({"scrollbackBufferSize": 65536}));
    let script = "i=1; while [ $i -le 4000 ]; do \
                  printf '\\033[3%dmline %d\\033[0m\\n' $((i%7)) $i; i=$((i+1)); done; \
                  printf 'E''ND'; sleep 60";
    let ep = hub.session(&["sh", "-c", script]);
    let mut expected_bytes = Vec::new();
    for i in 1..=4000 {
        expected_bytes.extend(format!("\x1b[3{}mline {i}\x1b[0m\r\n", i % 7).bytes());
    }
    expected_bytes.extend(b"END");
    assert!(expected_bytes.len() > 65536);

    let mut phone = ep.phone().await;
    let size = phone.next().await;
    let (cols, rows) = (
        size["cols"].as_u64().unwrap() as u16,
        size["rows"].as_u64().unwrap() as u16,
    );
    phone.send(json!({"type": "resume", "lastSeq": -1})).await;
    let (_, head) = phone.until("END").await;
    assert_eq!(head, expected_bytes.len() as u64);
    let mut expected = parser(rows, cols, 0);
    expected.process(&expected_bytes);

    for last_seq in [1, -1] {
        let mut phone = ep.phone().await;
        phone
            .send(json!({"type": "resume", "lastSeq": last_seq}))
            .await;
        let d = phone.data().await;
        assert!(d.data.starts_with("\x1bc"), "resume {last_seq}: a redraw");
        assert!(d.seq <= head);
        let mut shown = parser(rows, cols, 100);
        shown.process(d.data.as_bytes());
        // The redraw reflects the terminal state's position, which may trail the head
        // by what the follower has not parsed yet; the rest arrives as output.
        let mut seq = d.seq;
        while seq < head {
            let d = phone.data().await;
            assert_eq!(d.seq, seq + d.data.len() as u64);
            shown.process(d.data.as_bytes());
            seq = d.seq;
        }
        assert_eq!(shown.screen().contents(), expected.screen().contents());
        assert_eq!(
            shown.screen().cursor_position(),
            expected.screen().cursor_position()
        );
        for row in 0..rows - 1 {
            assert_eq!(
                shown.screen().cell(row, 0).map(|c| c.fgcolor()),
                expected.screen().cell(row, 0).map(|c| c.fgcolor()),
                "colour of row {row}"
            );
        }
        shown.screen_mut().set_scrollback(1);
        assert!(
            shown.screen().contents().starts_with("line "),
            "history came too"
        );
    }
}

#[tokio::test]
async fn a_large_history_comes_in_bounded_pieces_that_draw_it_exactly() {
    let hub = Home::new();
    // 2,500 rows of history, each letter with its own colour: megabytes of repaint.
    let mut bytes = Vec::new();
    for i in 0..2500u32 {
        for c in 0..70u32 {
            let letter = char::from(b'a' + ((i + c) % 26) as u8);
            let (r, g, b) = (i % 256, c * 3, (i * c) % 256);
            bytes.extend(format!("\x1b[38;2;{r};{g};{b}m{letter}").bytes());
        }
        bytes.extend(b"\x1b[0m\r\n");
    }
    bytes.extend(b"END");
    // The PTY turns each newline into CR LF.
    let file = hub.path().join("history");
    std::fs::write(&file, String::from_utf8_lossy(&bytes).replace("\r\n", "\n")).unwrap();
    let script = format!("cat {}; sleep 60", file.display());
    let ep = hub.session(&["sh", "-c", &script]);
    let mut phone = ep.phone().await;
    let size = phone.next().await;
    let (cols, rows) = (
        size["cols"].as_u64().unwrap() as u16,
        size["rows"].as_u64().unwrap() as u16,
    );
    phone.send(json!({"type": "resume", "lastSeq": 0})).await;
    let (_, head) = phone.until("END").await;
    assert_eq!(head, bytes.len() as u64);

    // Once the terminal state has parsed everything, resume -1 is one repaint of it all.
    let (text, pieces) = loop {
        let mut phone = ep.phone().await;
        phone.send(json!({"type": "resume", "lastSeq": -1})).await;
        let (text, seq, pieces) = phone.repaint().await;
        if seq == head {
            break (text, pieces);
        }
    };
    assert!(text.starts_with("\x1bc"));
    assert!(pieces.len() > 4, "{} pieces", pieces.len());
    assert!(
        pieces.iter().all(|&len| len <= 1 << 20),
        "every message within 1 MiB: {pieces:?}"
    );
    let mut expected = parser(rows, cols, 2000);
    expected.process(&bytes);
    let mut shown = parser(rows, cols, 5000);
    shown.process(text.as_bytes());
    assert_eq!(shown.screen().contents(), expected.screen().contents());
    for back in [1, 100, 1000, 1990] {
        expected.screen_mut().set_scrollback(back);
        shown.screen_mut().set_scrollback(back);
        assert_eq!(
            shown.screen().contents_formatted(),
            expected.screen().contents_formatted(),
            "history {back} rows back"
        );
    }
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
    a.send(json!({"type": "input", "data": "from alpha\r"}))
        .await;
    term.wait_text("from alpha");
    b.send(json!({"type": "input", "data": "from bravo\r"}))
        .await;
    term.wait_text("from bravo");
    term.send(b"from the desk\r");
    // cat echoes each line once as typed (the PTY's echo) and once as its output.
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

#[tokio::test]
async fn an_acking_phone_gets_at_most_the_buffer_limit_unacknowledged() {
    const LIMIT: u64 = 65536;
    let hub = Home::with_config(json!({"clientBufferLimit": LIMIT}));
    let ep = hub.session(&["sh", "-c", "read x; yes | head -c 2000000; sleep 60"]);
    let mut phone = ep.phone().await;
    phone.send(json!({"type": "resume", "lastSeq": 0})).await;
    phone.send(json!({"type": "ack", "seq": 0})).await;
    phone.send(json!({"type": "input", "data": "go\r"})).await;
    let mut acked = 0;
    for _ in 0..3 {
        // The window is used: more than half of it arrives (on a busy machine this may
        // take a while, so wait with the deadline, not a quiet period).
        let mut seq = acked;
        while seq - acked <= LIMIT / 2 {
            let msg = tokio::time::timeout(DEADLINE, phone.next_within(DEADLINE))
                .await
                .ok()
                .flatten()
                .expect("output resumes after an ack");
            if msg["type"] == "data" {
                seq = msg["seq"].as_u64().unwrap();
                assert!(seq - acked <= LIMIT, "{} bytes unacknowledged", seq - acked);
            }
        }
        // Then the server pauses within the window.
        while let Some(msg) = phone.next_within(QUIET).await {
            if msg["type"] == "data" {
                seq = msg["seq"].as_u64().unwrap();
                assert!(seq - acked <= LIMIT, "{} bytes unacknowledged", seq - acked);
            }
        }
        phone.send(json!({"type": "ack", "seq": seq})).await;
        acked = seq;
    }
}

/// Lines of `yes` output: 50 MB from `yes`, 75 MB through the PTY (`\n` becomes `\r\n`):
/// far more than the 10 MiB ring plus the socket buffers.
const Y_LINES: u64 = 25_000_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_that_stops_reading_slows_neither_another_phone_nor_a_terminal() {
    // The default 10 MiB ring: the reading phone and the terminal pace the PTY and lose
    // nothing; the stalled phone stops counting after a second and falls out of the ring.
    let hub = Home::new();
    let script = format!(
        "read x; yes | head -c {}; printf 'FIN''ISHED'; sleep 60",
        Y_LINES * 2
    );
    let ep = hub.session(&["sh", "-c", &script]);
    let id = hub.sessions()[0]["id"].as_str().unwrap().to_string();
    let mut stalled: Phone = ep.phone().await;
    stalled.send(json!({"type": "resume", "lastSeq": 0})).await;
    let mut reader = ep.phone().await;
    reader.send(json!({"type": "resume", "lastSeq": 0})).await;
    // A local terminal reading everything, on its own thread.
    let mut terminal = hub.connect();
    let attach = ClientMsg::Attach {
        target: Some(id),
        read_only: false,
        size: Size { cols: 80, rows: 24 },
    };
    let ServerMsg::Attached { .. } = terminal.request(&attach) else {
        panic!("not attached")
    };
    let Some(ServerMsg::Redraw { seq: start, .. }) = terminal.recv() else {
        panic!("no redraw")
    };
    let terminal = std::thread::spawn(move || {
        let mut cursor = start;
        loop {
            match terminal.recv().expect("the terminal's stream ended early") {
                ServerMsg::Output { seq, data } => {
                    assert_eq!(
                        seq,
                        cursor + data.len() as u64,
                        "the terminal gets every byte"
                    );
                    cursor = seq;
                    if data.ends_with(b"FINISHED") {
                        return cursor;
                    }
                }
                ServerMsg::Size { .. } => {}
                other => panic!("the terminal got {other:?}"),
            }
        }
    });
    reader.send(json!({"type": "input", "data": "go\r"})).await;
    let started = std::time::Instant::now();
    let seq = reader.every_byte_until("FINISHED").await;
    // The echoed "go\r\n", every "y\n" as "y\r\n", then the marker.
    assert_eq!(seq, 4 + Y_LINES * 3 + 8);
    assert_eq!(terminal.join().unwrap(), seq);
    eprintln!(
        "{seq} bytes to a phone and a terminal in {:?}",
        started.elapsed()
    );
    // The stalled phone fell out of the ring: once it reads again it gets what its
    // socket buffered, then a repaint of the screen (its position jumps), then the rest.
    assert!(
        stalled.repainted_before("FINISHED").await,
        "a stalled phone resynchronises with a redraw"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_phone_is_repainted_instead_of_slowing_the_program() {
    // A 1 MiB ring, and at most 128 KiB in flight per acking phone, so the slow phone's
    // socket holds little: it falls behind the ring soon.
    let hub = Home::with_config(json!({
        "scrollbackBufferSize": 1 << 20,
        "clientBufferLimit": 128 << 10,
    }));
    let lines = 2_000_000u64;
    let script = format!(
        "read x; yes | head -c {}; printf 'FIN''ISHED'; sleep 60",
        lines * 2
    );
    let ep = hub.session(&["sh", "-c", &script]);
    let mut slow = ep.phone().await;
    slow.send(json!({"type": "resume", "lastSeq": 0})).await;
    slow.send(json!({"type": "ack", "seq": 0})).await;
    let mut fast = ep.phone().await;
    fast.send(json!({"type": "resume", "lastSeq": 0})).await;
    fast.send(json!({"type": "input", "data": "go\r"})).await;

    let fast = tokio::spawn(async move { fast.every_byte_until("FINISHED").await });
    // A link of at most 64 KiB per 100 ms (under the 1 MiB/s a phone needs to pace the
    // program): one message per tick, each acknowledged.
    let mut link = tokio::time::interval(Duration::from_millis(100));
    let (mut seq, mut repainted) = (0u64, false);
    loop {
        link.tick().await;
        let d = slow.data().await;
        repainted |= d.seq != seq + d.data.len() as u64;
        seq = d.seq;
        slow.send(json!({"type": "ack", "seq": seq})).await;
        if d.data.ends_with("FINISHED") || d.data.contains("FINISHED\x1b") {
            break;
        }
    }
    assert!(repainted, "the slow phone was repainted, not waited for");
    assert_eq!(fast.await.unwrap(), 4 + lines * 3 + 8);
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
    assert!(log.lines().count() > 10, "a trace-level log: {log}");
    let key = itwillsync_protocol::seal::Key::from_link_text(&ep.key).unwrap();
    for secret in [ep.key.clone(), key.to_hex()] {
        assert!(!log.contains(&secret), "the session key is in the log");
    }
    let leak: Vec<&str> = log.lines().filter(|l| l.contains("hunter2")).collect();
    assert!(leak.is_empty(), "keystrokes are in the log: {leak:?}");
}

/// `count` idle TCP connections from `source` to `port`, which never send a byte.
async fn idle_connections(source: [u8; 4], port: u16, count: usize) -> Vec<tokio::net::TcpStream> {
    let mut streams = Vec::new();
    for _ in 0..count {
        streams.push(support::web::connect_from(source.into(), port).await);
    }
    streams
}

/// How many of `streams` the server closed at once (within two seconds, far less than the
/// 10 s any open connection has for its request); the open ones.
async fn closed_at_once(
    streams: Vec<tokio::net::TcpStream>,
) -> (usize, Vec<tokio::net::TcpStream>) {
    use tokio::io::AsyncReadExt;
    let checks = streams.into_iter().map(|mut stream| async move {
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut byte)).await;
        match read {
            Err(_) => Some(stream), // still open, waiting for a request
            Ok(Ok(0)) | Ok(Err(_)) => None,
            Ok(Ok(_)) => panic!("an idle connection was sent something"),
        }
    });
    let results = futures_util::future::join_all(checks).await;
    let total = results.len();
    let open: Vec<_> = results.into_iter().flatten().collect();
    (total - open.len(), open)
}

/// Idle connections that never prove a key cannot fill a phone port (issue 9, case 4):
/// one address keeps at most 8 unauthenticated connections, the rest are closed at once,
/// and a phone from another address still connects and gets output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_from_one_address_leave_room_for_a_phone() {
    let hub = Home::with_config(json!({}));
    let ep = hub.session(&["sh", "-c", "read x; echo got-$x; sleep 60"]);
    let flood = idle_connections([127, 0, 0, 1], ep.port, 70).await;
    let (closed, open) = closed_at_once(flood).await;
    assert_eq!(
        (closed, open.len()),
        (62, 8),
        "eight stay, the rest are closed"
    );

    let mut phone = ep.phone_from([127, 0, 0, 2].into()).await;
    phone.send(json!({"type": "resume", "lastSeq": 0})).await;
    phone.send(json!({"type": "input", "data": "in\r"})).await;
    phone.until("got-in").await;
    drop(open);
}

/// Unauthenticated connections from many addresses are capped server-wide at 256; over it
/// new ones are closed at once, while an authenticated phone keeps its place and output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_caps_unauthenticated_connections_but_not_phones() {
    let hub = Home::with_config(json!({}));
    let ep = hub.session(&["sh", "-c", "while read x; do echo got-$x; done"]);
    let mut phone = ep.phone().await;
    phone.send(json!({"type": "resume", "lastSeq": 0})).await;

    let mut flood = Vec::new();
    for host in 0..33u8 {
        flood.extend(idle_connections([127, 0, 1, host], ep.port, 8).await);
    }
    let (closed, open) = closed_at_once(flood).await;
    assert_eq!((closed, open.len()), (8, 256), "the server-wide cap");
    let newcomer = idle_connections([127, 0, 2, 1], ep.port, 1).await;
    assert_eq!(
        closed_at_once(newcomer).await.0,
        1,
        "a new address is closed too"
    );

    phone
        .send(json!({"type": "input", "data": "during\r"}))
        .await;
    phone.until("got-during").await;
    drop(open);
}
