//! Phones and the pace of the program: flow control by acknowledgements, a phone that
//! stops reading, a phone too slow for the output. Part of `tests/phone.rs`.

use std::time::Duration;

use serde_json::json;

use super::support::{Home, Phone, DEADLINE};
use super::QUIET;
use itwillsync_protocol::{ClientMsg, ServerMsg, Size};

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
