//! End-to-end tests of sessions over the Unix socket: the real binary, real PTYs, a real
//! server per test in its own state directory.

#[path = "session/robust.rs"]
mod robust;
mod support;

use itwillsync_protocol::{ClientMsg, ServerMsg, Size};
use support::{alive, eventually, Home, Term};

const SIZE: Size = Size { cols: 80, rows: 24 };

/// Cell-by-cell equality of two screens: text and colours.
fn assert_same_screen(a: &vt100::Screen, b: &vt100::Screen) {
    for row in 0..SIZE.rows {
        for col in 0..SIZE.cols {
            let (x, y) = (a.cell(row, col).unwrap(), b.cell(row, col).unwrap());
            assert_eq!(
                (x.contents(), x.fgcolor(), x.bold()),
                (y.contents(), y.fgcolor(), y.bold()),
                "cell {row},{col} differs:\n{}\n---\n{}",
                a.contents(),
                b.contents()
            );
        }
    }
    assert_eq!(a.cursor_position(), b.cursor_position());
}

#[test]
fn the_detach_key_at_the_phone_code_leaves_the_session_running() {
    let home = Home::new();
    let mut term = Term::spawn(&home, &["new", "--name", "bg", "--", "sleep", "60"], SIZE);
    term.wait_raw("Any key attaches");
    term.send(b"\x1c");
    assert_eq!(term.wait_exit(), 0);
    term.wait_raw("detached from bg");
    let sessions = home.sessions();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["name"], "bg");
}

#[test]
fn new_detach_and_reattach_restores_the_screen_cell_by_cell() {
    let home = Home::new();
    let mut first = Term::spawn(
        &home,
        &[
            "new",
            "--name",
            "work",
            "--",
            "bash",
            "--norc",
            "--noprofile",
        ],
        SIZE,
    );
    // The phone link and code stay up until a key is pressed; that key is not typed into
    // the session (a stray "x" would break the command below).
    first.wait_raw("Any key attaches");
    first.wait_raw("Phone: http://127.0.0.1:");
    first.send(b"x");
    first.send(b"printf '\\033[1;31mred\\033[0m plain %s\\n' $((6*7))\r");
    first.wait_text("red plain 42");
    first.wait_for("prompt after output", |s| {
        s.parser.screen().contents().trim_end().ends_with('#')
            || s.parser.screen().contents().trim_end().ends_with('$')
    });
    let before = first.screen();
    first.send(b"\x1c");
    assert_eq!(first.wait_exit(), 0, "detaching exits 0");
    first.wait_raw("detached from work");

    let sessions = home.sessions();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["name"], "work");
    assert_eq!(sessions[0]["clients"], 0);

    let again = Term::spawn(&home, &["attach", "work"], SIZE);
    // The redraw may trail the newest output by what the terminal state has not parsed
    // yet; the rest follows as output. Wait for it, then compare every cell.
    let want = before.contents();
    again.wait_for("the same screen", |s| s.parser.screen().contents() == want);
    assert_same_screen(&before, &again.screen());
}

#[test]
fn full_screen_programs_are_redrawn_in_the_alternate_screen() {
    let home = Home::new();
    let script = "printf 'main screen line\\n'; printf '\\033[?1049h\\033[H\\033[2Jfull screen\\033[5;5H\\033[32mX\\033[0m'; read x; printf '\\033[?1049l'; read y";
    let id = home.new_detached(&["--", "sh", "-c", script]);
    let mut term = Term::spawn(&home, &["attach", &id[..6]], SIZE);
    term.wait_text("full screen");
    let screen = term.screen();
    assert!(screen.alternate_screen());
    assert_eq!(screen.cell(4, 4).unwrap().contents(), "X");
    assert_eq!(screen.cell(4, 4).unwrap().fgcolor(), vt100::Color::Idx(2));
    assert!(!screen.contents().contains("main screen line"));
    // Leaving the alternate screen shows the main screen the program left behind.
    term.send(b"\r");
    term.wait_for("main screen", |s| !s.parser.screen().alternate_screen());
    term.wait_text("main screen line");
}

#[test]
fn two_terminals_see_the_same_session_live_and_both_type() {
    let home = Home::new();
    let id = home.new_detached(&["--name", "pair", "--", "bash", "--norc", "--noprofile"]);
    let mut a = Term::spawn(&home, &["attach", "pair"], SIZE);
    let mut b = Term::spawn(&home, &["attach", &id], SIZE);
    a.wait_for("prompt", |s| {
        s.parser.screen().contents().contains('#') || s.parser.screen().contents().contains('$')
    });
    a.send(b"echo from-a-$((1+1))\r");
    b.wait_text("from-a-2");
    b.send(b"echo from-b-$((2+2))\r");
    a.wait_text("from-b-4");
    assert_eq!(home.sessions()[0]["clients"], 2);
}

#[test]
fn exit_status_propagates_to_new_and_attach() {
    let home = Home::new();
    let out = home.run(&["new", "--", "sh", "-c", "echo bye; exit 7"]);
    assert_eq!(out.status.code(), Some(7));
    assert!(String::from_utf8_lossy(&out.stdout).contains("bye"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("exited with status 7"));
    // The original tool's form.
    let out = home.run(&["sh", "-c", "exit 3"]);
    assert_eq!(out.status.code(), Some(3));

    let id = home.new_detached(&["--", "sh", "-c", "read x; exit 9"]);
    let mut term = Term::spawn(&home, &["attach", &id], SIZE);
    term.send(b"go\r");
    assert_eq!(term.wait_exit(), 9);
}

#[test]
fn kill_ends_an_interactive_shell() {
    let home = Home::new();
    let id = home.new_detached(&[
        "--name",
        "victim",
        "--",
        "bash",
        "--norc",
        "--noprofile",
        "-i",
    ]);
    let pid = home.sessions()[0]["pid"].as_i64().unwrap() as i32;
    assert!(alive(pid));
    home.ok(&["kill", &id[..5]]);
    eventually("the shell to die", || !alive(pid));
    eventually("the session to leave the list", || {
        home.sessions().is_empty()
    });

    let id = home.new_detached(&["--", "sleep", "100"]);
    home.ok(&["kill", "--signal", "TERM", &id]);
    eventually("sleep to end", || home.sessions().is_empty());
}

#[test]
fn read_only_clients_cannot_type() {
    let home = Home::new();
    let id = home.new_detached(&["--", "cat"]);
    let mut watcher = Term::spawn(&home, &["attach", "--read-only", &id], SIZE);
    let mut writer = Term::spawn(&home, &["attach", &id], SIZE);
    watcher.send(b"ignored-text\r");
    writer.send(b"typed-text\r");
    watcher.wait_text("typed-text");
    writer.wait_text("typed-text");
    assert!(!writer.screen().contents().contains("ignored-text"));
    // The output log is written at least every 100 ms.
    eventually("the output log", || {
        std::fs::read_to_string(home.path().join("logs").join(format!("{id}.log")))
            .is_ok_and(|l| l.contains("typed-text"))
    });
}

#[test]
fn terminal_queries_are_answered_while_no_terminal_is_attached() {
    let home = Home::new();
    let script = r#"stty -echo; printf 'ab\033[6n'; IFS= read -r -d R pos; echo " pos=${pos#*[}"; read wait"#;
    let id = home.new_detached(&["--", "bash", "--norc", "--noprofile", "-c", script]);
    // No terminal is attached, so the server must answer; the program then prints it.
    let log = home.path().join("logs").join(format!("{id}.log"));
    eventually("the answer in the output log", || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("pos=1;3"))
    });
    let term = Term::spawn(&home, &["attach", &id], SIZE);
    term.wait_text("ab pos=1;3");
}

#[test]
fn a_stalled_client_never_slows_another_and_memory_stays_bounded() {
    let _heavy = support::heavy();
    let home = Home::new();
    let id = home.new_detached(&[
        "--",
        "sh",
        "-c",
        "read go; yes | head -c 50000000; read done",
    ]);
    let size = Size { cols: 80, rows: 24 };
    // The stalled client attaches and never reads again.
    let mut stalled = home.connect();
    stalled.send(&ClientMsg::Attach {
        target: Some(id.clone()),
        read_only: false,
        size,
    });
    let (mut reader, mut cursor) = home.attach_raw(&id, size);
    reader.send(&ClientMsg::Input {
        data: b"\r".to_vec(),
    });
    let mut ys = 0u64;
    let mut redraws = 0;
    let server = home.server_pid().unwrap();
    let mut peak_rss = 0;
    while ys < 25_000_000 {
        match reader.recv().expect("stream ended early") {
            ServerMsg::Output { seq, data } => {
                assert_eq!(seq, cursor + data.len() as u64, "output is contiguous");
                cursor = seq;
                ys += data.iter().filter(|b| **b == b'y').count() as u64;
                if ys % 1_000_000 < 30_000 {
                    peak_rss = peak_rss.max(support::rss_kib(server));
                }
            }
            ServerMsg::Redraw { .. } => redraws += 1,
            ServerMsg::Size { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(ys, 25_000_000, "every byte arrived, in order");
    assert_eq!(redraws, 0, "a reading client never needs a redraw");
    // The ring is 10 MiB; everything else is per-client frames and the terminal state.
    assert!(peak_rss < 64 * 1024, "server RSS peaked at {peak_rss} KiB");

    // The stalled client, reading again, is resynchronised with a redraw.
    reader.send(&ClientMsg::Input {
        data: b"\r".to_vec(),
    });
    let mut saw_redraw_after_start = false;
    let mut frames = 0;
    loop {
        match stalled.recv() {
            Some(ServerMsg::Redraw { .. }) if frames > 2 => saw_redraw_after_start = true,
            Some(ServerMsg::Exit { .. }) | None => break,
            _ => {}
        }
        frames += 1;
    }
    assert!(
        saw_redraw_after_start,
        "the stalled client got a redraw when it fell behind"
    );
}

#[test]
fn hub_stop_ends_every_session_and_removes_the_files() {
    let home = Home::new();
    home.new_detached(&["--", "sleep", "1000"]);
    home.new_detached(&["--", "bash", "--norc", "--noprofile", "-i"]);
    let pids: Vec<i32> = home
        .sessions()
        .iter()
        .map(|s| s["pid"].as_i64().unwrap() as i32)
        .collect();
    let server = home.server_pid().unwrap();
    let mut attached = Term::spawn(&home, &["attach"], SIZE);
    attached.wait_for("attached", |s| !s.raw.is_empty());
    home.ok(&["hub", "stop"]);
    assert!(!alive(server), "hub stop returns after the server exits");
    for pid in pids {
        assert!(!alive(pid), "session process {pid} survived hub stop");
    }
    for file in ["server.sock", "hub.json", "hub.pid"] {
        assert!(!home.path().join(file).exists(), "{file} left behind");
    }
    assert_eq!(
        attached.wait_exit(),
        1,
        "an attached client is told the server went away"
    );
    attached.wait_raw("hub stop");
    assert_eq!(home.ok(&["ls"]), "", "ls with no server prints nothing");
}

#[test]
fn stale_files_from_a_crashed_server_are_replaced() {
    let home = Home::new();
    std::fs::write(home.path().join("hub.pid"), "999999\n").unwrap();
    std::fs::write(home.path().join("hub.json"), "{}").unwrap();
    // A socket file nobody answers on.
    drop(std::os::unix::net::UnixListener::bind(home.socket()).unwrap());
    home.new_detached(&["--", "sleep", "100"]);
    let pid = home.server_pid().unwrap();
    assert_ne!(pid, 999_999);
    assert!(alive(pid));
    let hub: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(home.path().join("hub.json")).unwrap())
            .unwrap();
    assert_eq!(hub["pid"], pid);
    assert_eq!(hub["masterToken"].as_str().unwrap().len(), 64);
    use std::os::unix::fs::PermissionsExt;
    for (file, mode) in [
        ("", 0o700),
        ("server.sock", 0o600),
        ("hub.json", 0o600),
        ("hub.pid", 0o600),
    ] {
        let meta = std::fs::metadata(home.path().join(file)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, mode, "{file}");
    }
}

#[test]
fn the_server_exits_after_its_last_session_when_idle() {
    let home = Home::with_config(serde_json::json!({ "idleShutdownSecs": 1 }));
    home.run(&["new", "--", "true"]);
    let pid = home.server_pid().expect("server running");
    eventually("the idle server to exit", || !alive(pid));
    assert!(!home.socket().exists());
}

/// The largest screen `maxTerminalCols × maxTerminalRows` allows (the defaults).
const BIGGEST: Size = Size {
    cols: 500,
    rows: 200,
};

/// Paints every cell of a `size` screen with its own letter and accents, its own truecolour
/// foreground and background and changing attributes, row by row without scrolling; then
/// the same on the alternate screen, as a full-screen program over a shell would (a
/// redraw carries both screens).
fn truecolour_paint(size: Size) -> Vec<u8> {
    let mut out = Vec::new();
    for screen in 0..2u32 {
        if screen == 1 {
            out.extend_from_slice(b"\x1b[?1049h");
        }
        for row in 0..u32::from(size.rows) {
            out.extend_from_slice(format!("\x1b[{};1H", row + 1).as_bytes());
            for col in 0..u32::from(size.cols) {
                let i = row * u32::from(size.cols) + col;
                let (r, g, b) = (i >> 16, (i >> 8) & 255, i & 255);
                // Mathematical bold letters (4 bytes, one column) with three accents.
                let letter = char::from_u32(0x1D41A + (i + screen) % 26).unwrap();
                let attrs = ["1", "3", "4", "7"]
                    .iter()
                    .enumerate()
                    .filter(|(bit, _)| (i + screen) >> bit & 1 == 1)
                    .fold(String::from("0"), |acc, (_, a)| acc + ";" + a);
                out.extend_from_slice(
                    format!(
                        "\x1b[{attrs}m\x1b[38;2;{r};{g};{b}m\x1b[48;2;{};{};{}m{letter}\u{301}\u{323}\u{331}",
                        255 - b,
                        255 - g,
                        r + screen
                    )
                    .as_bytes(),
                );
            }
        }
    }
    out
}

#[test]
fn a_terminal_of_the_largest_size_attaches_to_a_screen_of_distinct_truecolour_cells() {
    let home = Home::new();
    let paint = truecolour_paint(BIGGEST);
    let file = home.path().join("paint");
    std::fs::write(&file, &paint).unwrap();
    home.new_detached(&["--", "sleep", "100"]); // starts the server
    let mut raw = home.connect();
    let spec = itwillsync_protocol::NewSession {
        name: Some("big".into()),
        command: vec![
            "sh".into(),
            "-c".into(),
            format!("cat {}; exec sleep 100", file.display()),
        ],
        cwd: home.path().display().to_string(),
        env: vec![("PATH".into(), std::env::var("PATH").unwrap())],
        size: BIGGEST,
        port: None,
        networking: None,
    };
    let id = match raw.request(&ClientMsg::New {
        spec,
        attach: false,
    }) {
        ServerMsg::Created { session } => session.id,
        other => panic!("unexpected reply {other:?}"),
    };
    let rows = std::num::NonZeroU16::new(BIGGEST.rows).unwrap();
    let cols = std::num::NonZeroU16::new(BIGGEST.cols).unwrap();
    let mut want = vt100::Parser::new(rows, cols, 0);
    want.process(&paint);
    let want = want.screen().clone();
    let want_formatted = want.contents_formatted();
    let last = want
        .cell(BIGGEST.rows - 1, BIGGEST.cols - 1)
        .unwrap()
        .bgcolor();

    // Once the terminal state has parsed all of it, an attach gets it as a redraw (about
    // 8 MiB: both screens), not as output replayed from the ring.
    eventually("a redraw of the whole paint", || {
        let mut watcher = home.connect();
        watcher.send(&ClientMsg::Attach {
            target: Some(id.clone()),
            read_only: true,
            size: BIGGEST,
        });
        if !matches!(watcher.recv(), Some(ServerMsg::Attached { .. })) {
            return false;
        }
        // Consecutive `Redraw` frames with the same seq: one repaint, in frames of at most
        // 1 MiB.
        let mut pieces = 0;
        loop {
            match watcher.recv() {
                Some(ServerMsg::Redraw { seq, data }) if seq == paint.len() as u64 => {
                    assert!(
                        data.len() < 1 << 20,
                        "a redraw frame of {} bytes",
                        data.len()
                    );
                    pieces += 1;
                }
                Some(ServerMsg::Redraw { .. }) => return false,
                _ => break,
            }
        }
        assert!(pieces > 8, "{pieces} pieces");
        true
    });
    let big = Term::spawn(&home, &["attach", &id], BIGGEST);
    big.wait_for("the painted screen", |s| {
        let screen = s.parser.screen();
        screen
            .cell(BIGGEST.rows - 1, BIGGEST.cols - 1)
            .unwrap()
            .bgcolor()
            == last
            && screen.contents_formatted() == want_formatted
    });
    let got = big.screen();
    for row in 0..BIGGEST.rows {
        for col in 0..BIGGEST.cols {
            let (x, y) = (want.cell(row, col).unwrap(), got.cell(row, col).unwrap());
            assert_eq!(
                (
                    x.contents(),
                    x.fgcolor(),
                    x.bgcolor(),
                    x.bold(),
                    x.inverse()
                ),
                (
                    y.contents(),
                    y.fgcolor(),
                    y.bgcolor(),
                    y.bold(),
                    y.inverse()
                ),
                "cell {row},{col}"
            );
        }
    }
    assert_eq!(want.cursor_position(), got.cursor_position());
}
