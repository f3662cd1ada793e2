//! Phones coming back: resuming from their last seq exactly, silently at the head, with a
//! redraw when the gap left the ring, and a large history in bounded pieces. Part of
//! `tests/phone.rs`.

use serde_json::json;

use super::support::Home;
use super::{parser, QUIET};

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
