//! Direct attachments: `itwillsync attach` in a real terminal passes it to the server,
//! which writes the output to it and reads the keys from it (docs/PROTOCOL.md,
//! `Terminal`). Every byte, the status after the last one, the detach key, the terminal's
//! mode restored on every way out, and a terminal that stops reading holding up nobody.

mod support;

use itwillsync_protocol::{ClientMsg, ServerMsg, Size};
use support::{fds_on, Home, Term, Unread};

const SIZE: Size = Size { cols: 80, rows: 24 };

/// Waits until the server holds `term`'s terminal (the attachment is direct).
fn served_directly(home: &Home, term: &Term) {
    let server = home.server_pid().expect("a server");
    let tty = term.tty_path();
    support::eventually("the server holds the terminal", || {
        fds_on(server, &tty) >= 2
    });
}

#[test]
fn a_direct_terminal_gets_every_byte_of_a_flood_then_the_status() {
    let _heavy = support::heavy();
    let home = Home::new();
    let id = home.new_detached(&["--", "sh", "-c", "read go; seq 1 200000; exit 7"]);
    let mut term = Term::spawn(&home, &["attach", &id], SIZE);
    served_directly(&home, &term);
    // The client set raw mode itself before the server drew.
    term.wait_for("the redraw", |s| !s.raw.is_empty());
    assert!(!term.cooked(), "raw mode while attached");
    term.send(b"\r");
    assert_eq!(term.wait_exit(), 7, "the program's status");
    term.wait_raw("exited with status 7");
    let raw = String::from_utf8_lossy(&term.raw()).into_owned();
    let numbers: Vec<u64> = raw
        .split("\r\n")
        .filter_map(|line| line.parse().ok())
        .collect();
    assert_eq!(numbers.len(), 200_000, "every line, once");
    assert!(
        numbers.iter().zip(1..).all(|(n, want)| *n == want),
        "every line in order"
    );
    let last = raw.rfind("\r\n200000\r\n").expect("the last line");
    let status = raw.rfind("exited with status 7").unwrap();
    assert!(status > last, "the status comes after the last byte");
    assert!(
        term.cooked(),
        "the terminal's mode is restored after the exit"
    );
    let server = home.server_pid().expect("a server");
    support::eventually("the server let the terminal go", || {
        fds_on(server, &term.tty_path()) == 0
    });
}

#[test]
fn the_detach_key_is_seen_by_the_server_and_the_terminal_is_restored() {
    let home = Home::new();
    let id = home.new_detached(&["--name", "typist", "--", "cat"]);
    let mut term = Term::spawn(&home, &["attach", &id], SIZE);
    served_directly(&home, &term);
    term.send(b"hello direct\r");
    term.wait_text("hello direct\nhello direct");
    // Keys typed before the detach key in the same read reach the program.
    term.send(b"tail\x1c");
    assert_eq!(term.wait_exit(), 0, "detaching exits 0");
    term.wait_raw("detached from typist");
    assert!(
        term.cooked(),
        "the terminal's mode is restored after detaching"
    );
    let server = home.server_pid().expect("a server");
    support::eventually("the server let the terminal go", || {
        fds_on(server, &term.tty_path()) == 0
    });
    let sessions = home.sessions();
    assert_eq!(sessions[0]["clients"], 0, "the session goes on, detached");

    // What was typed before the detach key arrived: a new terminal shows it.
    let mut again = Term::spawn(&home, &["attach", "typist"], SIZE);
    served_directly(&home, &again);
    again.send(b"\r");
    again.wait_text("tail\ntail");
    again.send(b"\x1c");
    assert_eq!(again.wait_exit(), 0);
}

#[test]
fn a_killed_server_leaves_the_terminal_restored() {
    let home = Home::new();
    let id = home.new_detached(&["--", "cat"]);
    let mut term = Term::spawn(&home, &["attach", &id], SIZE);
    served_directly(&home, &term);
    term.send(b"up\r");
    term.wait_text("up\nup");
    assert!(!term.cooked());
    let server = home.server_pid().expect("a server");
    // SAFETY: kill(2) on the pid of the server this test started.
    unsafe { libc::kill(server, libc::SIGKILL) };
    assert_eq!(term.wait_exit(), 1, "the server went away");
    term.wait_raw("[itwillsync:");
    assert!(term.cooked(), "the terminal's mode is restored");
}

#[test]
fn a_terminated_client_stops_the_server_writing_before_it_restores_the_terminal() {
    let home = Home::new();
    let id = home.new_detached(&["--", "sh", "-c", "while :; do echo tick; sleep 0.01; done"]);
    let mut term = Term::spawn(&home, &["attach", &id], SIZE);
    served_directly(&home, &term);
    term.wait_text("tick");
    // SAFETY: kill(2) on the pid of the client this test started.
    unsafe { libc::kill(term.pid(), libc::SIGTERM) };
    assert_eq!(term.wait_exit(), 128 + libc::SIGTERM);
    assert!(term.cooked(), "the terminal's mode is restored");
    let server = home.server_pid().expect("a server");
    support::eventually("the server let the terminal go", || {
        fds_on(server, &term.tty_path()) == 0
    });
    // Nothing the server wrote came after the client's last words (the mode reset): all
    // of it, once every holder of the terminal has let go (the client exited before this
    // test's reader may have read its last words).
    term.wait_for("the end of the terminal's output", |s| s.closed);
    let raw = term.raw();
    let reset = b"\x1b[?25h";
    let at = raw
        .windows(reset.len())
        .rposition(|w| w == reset)
        .expect("the client reset the terminal's modes");
    let after = String::from_utf8_lossy(&raw[at..]).into_owned();
    assert!(!after.contains("tick"), "output after the reset: {after:?}");
}

#[test]
fn a_direct_terminal_that_stops_reading_holds_up_no_other_client() {
    let _heavy = support::heavy();
    let home = Home::new();
    let id = home.new_detached(&[
        "--",
        "sh",
        "-c",
        "read go; yes | head -c 30000000; read done",
    ]);
    let mut stalled = Unread::spawn(&home, &["attach", &id], SIZE);
    let server = home.server_pid().expect("a server");
    let tty = support::tty_path(&stalled.master);
    support::eventually("the server holds the stalled terminal", || {
        fds_on(server, &tty) >= 2
    });
    stalled.wait_output();

    let (mut reader, mut cursor) = home.attach_raw(&id, SIZE);
    reader.send(&ClientMsg::Input {
        data: b"\r".to_vec(),
    });
    let mut ys = 0u64;
    while ys < 15_000_000 {
        match reader.recv().expect("stream ended early") {
            ServerMsg::Output { seq, data } => {
                assert_eq!(seq, cursor + data.len() as u64, "output is contiguous");
                cursor = seq;
                ys += data.iter().filter(|b| **b == b'y').count() as u64;
            }
            ServerMsg::Size { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        ys, 15_000_000,
        "every byte arrived, in order, without a redraw"
    );

    // The stalled terminal, reading again, is brought up to date and sees the end.
    reader.send(&ClientMsg::Input {
        data: b"\r".to_vec(),
    });
    let seen = stalled.read_to_end();
    assert_eq!(stalled.wait_exit(), 0);
    let seen = String::from_utf8_lossy(&seen);
    assert!(
        seen.contains("exited with status 0"),
        "{}",
        &seen[seen.len().saturating_sub(300)..]
    );
}

#[test]
fn an_attach_whose_output_is_not_a_terminal_is_relayed() {
    let home = Home::new();
    let id = home.new_detached(&["--", "sh", "-c", "echo relayed-out; sleep 600"]);
    let mut client = home
        .cmd(&["attach", &id])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = client.stdout.take().unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("relayed-out") {
        let n = std::io::Read::read(&mut stdout, &mut buf).unwrap();
        assert!(
            n > 0,
            "the output ended early: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    home.ok(&["kill", &id]);
    let status = client.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(128 + libc::SIGHUP),
        "the program's status"
    );
}
