//! Sessions against bad clients and bad luck: garbage and half-sent frames, bad command
//! lines, floods, pastes into programs that do not read, background children holding the
//! PTY, running out of file descriptors. Part of `tests/session.rs`.

use itwillsync_protocol::{ClientMsg, ServerMsg};

use super::support::{self, alive, eventually, Home, Term};
use super::SIZE;

#[test]
fn garbage_and_oversized_frames_end_only_that_connection() {
    use std::io::{Read, Write};
    let home = Home::new();
    let id = home.new_detached(&["--", "sleep", "100"]);
    let frames: [&[u8]; 3] = [
        &[0, 0, 0, 4, 0xff, 0xfe, 0xfd, 0xfc],
        &[0xff, 0xff, 0xff, 0xff],
        &[0, 0, 0, 2, 0, 5],
    ];
    for frame in frames {
        let mut raw = home.connect();
        raw.stream.write_all(frame).unwrap();
        match raw.recv() {
            Some(ServerMsg::Error { message }) => assert!(!message.is_empty()),
            other => panic!("expected an error frame, got {other:?}"),
        }
        assert!(
            raw.recv().is_none(),
            "the connection is closed after a bad frame"
        );
    }
    // Not our protocol at all.
    let mut stream = std::os::unix::net::UnixStream::connect(home.socket()).unwrap();
    stream.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    // The server and the session carry on.
    assert_eq!(home.sessions()[0]["id"], id.as_str());
}

#[test]
fn a_frame_left_half_sent_closes_only_that_connection() {
    use std::io::Write;
    let home = Home::new();
    let id = home.new_detached(&["--", "sleep", "100"]);
    let mut stalled = home.connect();
    // A length of 100 and half the body, then nothing.
    stalled.stream.write_all(&[0, 0, 0, 100]).unwrap();
    stalled.stream.write_all(&[7; 50]).unwrap();
    let started = std::time::Instant::now();
    // Another client is served meanwhile.
    let mut other = home.connect();
    match other.request(&ClientMsg::List) {
        ServerMsg::Sessions { sessions } => assert_eq!(sessions[0].id, id),
        reply => panic!("unexpected reply {reply:?}"),
    }
    match stalled.recv() {
        Some(ServerMsg::Error { message }) => assert!(message.contains("not completed")),
        other => panic!("expected an error frame, got {other:?}"),
    }
    assert!(stalled.recv().is_none(), "the connection is closed");
    let waited = started.elapsed();
    assert!(waited >= std::time::Duration::from_secs(9), "{waited:?}");
    assert!(matches!(
        other.request(&ClientMsg::List),
        ServerMsg::Sessions { .. }
    ));
}

#[test]
fn bad_input_is_one_line_and_a_non_zero_exit() {
    let home = Home::new();
    home.new_detached(&["--name", "one", "--", "sleep", "100"]);
    home.new_detached(&["--name", "two", "--", "sleep", "100"]);
    let ids: Vec<String> = home
        .sessions()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    let common = ids[0]
        .chars()
        .zip(ids[1].chars())
        .take_while(|(a, b)| a == b)
        .count();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["attach", "nope"], "no session matches"),
        (vec!["kill", "nope"], "no session matches"),
        (
            vec!["new", "-d", "--name", "one", "--", "sleep", "1"],
            "already exists",
        ),
        (vec!["rename", "one", "two"], "already exists"),
        (vec!["rename", "one", " "], "cannot be empty"),
        (vec!["new", "--no-such-flag", "x"], "unexpected argument"),
        (
            vec!["new", "-d", "--", "no-such-program-xyz"],
            "command not found",
        ),
        (
            vec!["new", "-d", "--cwd", "/no/such/dir", "--", "true"],
            "no such directory",
        ),
        (vec!["kill", "--signal", "BOGUS", "one"], "unknown signal"),
    ];
    let prefix = &ids[0][..common];
    let ambiguous = vec!["kill", prefix];
    for (args, want) in cases
        .iter()
        .map(|(a, w)| (a.clone(), *w))
        .chain((!prefix.is_empty()).then(|| (ambiguous.clone(), "ambiguous")))
    {
        let out = home.run(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
    }
    assert_eq!(home.sessions().len(), 2, "nothing was created or lost");
    home.ok(&["rename", "one", "three"]);
    assert!(home.sessions().iter().any(|s| s["name"] == "three"));

    let bad = Home::with_config(serde_json::json!({ "maxSessions": "2" }));
    let out = bad.run(&["new", "-d", "--", "true"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("config.json") && stderr.contains("maxSessions"),
        "{stderr}"
    );
    assert_eq!(stderr.trim_end().lines().count(), 1);
}

#[test]
fn a_flood_that_outruns_the_terminal_state_leaves_the_session_responsive_and_exact() {
    // A 64 KiB ring: 20 MB of output is far more than the parser can hold back.
    let _heavy = support::heavy();
    let home = Home::with_config(serde_json::json!({ "scrollbackBufferSize": 65536 }));
    // The program marks the flood's end in a file: the session log may leave out part of a
    // flood (its writer never holds the PTY back), so it cannot tell.
    let done = home.path().join("flood-done");
    let script = "yes 0123456789abcdef | head -c 20000000; printf '\\033[32mFINAL\\033[0m-MARKER\\n'; : > \"$0\"; read x; echo after-$x";
    let id = home.new_detached(&["--", "sh", "-c", script, done.to_str().unwrap()]);
    eventually("the flood to finish", || done.exists());
    let mut term = Term::spawn(&home, &["attach", &id], SIZE);
    term.wait_text("FINAL-MARKER");
    let screen = term.screen();
    // `head -c` cuts a line short, so the marker follows partial text on its row.
    let (row, col) = screen
        .contents()
        .lines()
        .enumerate()
        .find_map(|(r, l)| l.find("FINAL-MARKER").map(|c| (r as u16, c as u16)))
        .unwrap();
    assert_eq!(
        screen.cell(row, col).unwrap().fgcolor(),
        vt100::Color::Idx(2)
    );
    assert_eq!(
        screen.cell(row, col + 5).unwrap().fgcolor(),
        vt100::Color::Default
    );
    assert!(screen.contents().contains("0123456789abcdef"));
    term.send(b"ok\r");
    term.wait_text("after-ok");
}

/// Attaches a raw client to `target` and writes `bytes` of input in 1 KiB frames (as a
/// paste arrives) on a thread, then `Detach`; returns the connection for reading.
fn paste_into(home: &Home, target: &str, bytes: usize) -> support::Raw {
    let mut raw = home.connect();
    let ServerMsg::Attached { .. } = raw.request(&ClientMsg::Attach {
        target: Some(target.into()),
        read_only: false,
        size: SIZE,
    }) else {
        panic!("not attached")
    };
    let mut writer = raw.stream.try_clone().unwrap();
    std::thread::spawn(move || {
        use std::io::Write;
        let frame = itwillsync_protocol::codec::encode_frame(&ClientMsg::Input {
            data: vec![b'x'; 1024],
        })
        .unwrap();
        for _ in 0..bytes / 1024 {
            if writer.write_all(&frame).is_err() {
                return;
            }
        }
        let detach = itwillsync_protocol::codec::encode_frame(&ClientMsg::Detach).unwrap();
        let _ = writer.write_all(&detach);
    });
    raw
}

#[test]
fn a_paste_into_a_program_that_is_not_reading_never_blocks_detach_kill_or_hub_stop() {
    use std::time::{Duration, Instant};
    let home = Home::new();
    // Ignores SIGHUP, so only the SIGKILL after the grace period ends it.
    // Raw mode: the terminal stops taking input once its buffer is full (in canonical mode
    // the kernel would discard the overflow instead).
    let stubborn = ["--", "sh", "-c", "trap '' HUP; stty raw -echo; sleep 600"];
    let mut args = vec!["--name", "jam"];
    args.extend_from_slice(&stubborn);
    home.new_detached(&args);

    // Detach is answered while 2 MB of input waits for a program that never reads it.
    let mut raw = paste_into(&home, "jam", 2 << 20);
    loop {
        match raw.recv().expect("the server answers detach") {
            ServerMsg::Detached => break,
            ServerMsg::Error { message } => panic!("{message}"),
            _ => {}
        }
    }

    // Kill returns at once, and the session is gone within the grace period plus a second.
    let started = Instant::now();
    let out = home
        .run_within(&["kill", "jam"], Duration::from_secs(2))
        .expect("kill returns promptly");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eventually("the session to end", || home.sessions().is_empty());
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );

    // Hub stop, with a paste stuck in a fresh session and its client still attached.
    home.new_detached(&args);
    let _raw = paste_into(&home, "jam", 2 << 20);
    let started = Instant::now();
    let out = home
        .run_within(&["hub", "stop"], Duration::from_secs(6))
        .expect("hub stop returns");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The kill grace period (2 s) plus a second, plus the CLI's own start on a busy machine.
    assert!(
        started.elapsed() < Duration::from_millis(3500),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_background_child_holding_the_pty_does_not_keep_an_ended_session_alive() {
    use std::time::Duration;
    let home = Home::new();
    let pidfile = home.path().join("bg.pid");
    // The leader leaves a child in a session of its own that keeps writing to the PTY
    // (until the PTY is hung up), then exits 3.
    let script = format!(
        "setsid sh -c 'echo $$ > {}; while echo bg; do sleep 0.05; done' & while [ ! -s {} ]; do :; done; exit 3",
        pidfile.display(),
        pidfile.display()
    );
    let out = home
        .run_within(
            &["new", "--name", "leaver", "--", "sh", "-c", &script],
            Duration::from_secs(10),
        )
        .expect("the session ends within its grace period");
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eventually("ls to stop showing it", || home.sessions().is_empty());
    let out = home.run(&["kill", "leaver"]);
    assert!(
        !out.status.success(),
        "kill of an ended session is an error"
    );
    // The child was hung up with the session.
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    eventually("the background child to end", || !alive(pid));
}

#[test]
fn running_out_of_file_descriptors_neither_spins_nor_floods_the_log() {
    use std::os::unix::process::CommandExt;
    // One session at most: the server refuses to start with a hard limit too low for
    // `maxSessions` (tests/scale.rs).
    let home = Home::with_config(serde_json::json!({ "maxSessions": 1 }));
    // The server inherits the starting command's limits: a hard limit of 96 open files.
    let mut new = home.cmd(&["new", "-d", "--", "sleep", "60"]);
    // SAFETY: setrlimit is async-signal-safe.
    unsafe {
        new.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 96,
                rlim_max: 96,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    assert!(new.status().unwrap().success());
    // Idle connections until accept fails, and then some.
    let idle: Vec<_> = (0..150)
        .map(|_| std::os::unix::net::UnixStream::connect(home.socket()).unwrap())
        .collect();
    let log = home.path().join("server.log");
    // Observed over a second: a loop retrying at once would write megabytes in that time.
    std::thread::sleep(std::time::Duration::from_secs(1));
    let size = std::fs::metadata(&log).unwrap().len();
    assert!(size < 16 << 10, "server.log grew to {size} bytes");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("accept failed"), "{text}");
    drop(idle);
    eventually("the server to serve again", || home.sessions().len() == 1);
}
