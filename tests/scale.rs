//! Many sessions on one server, through the real binary: `maxSessions` raised to 200, all
//! listed and attachable, and the server's threads do not grow with the sessions (the
//! terminal-state followers share a fixed pool). And a file limit too low for
//! `maxSessions` is one clear error.

mod support;

use std::os::unix::process::CommandExt;

use itwillsync_protocol::Size;
use support::{eventually, Home, Term};

const SESSIONS: usize = 200;

/// The server's threads, from /proc.
fn threads(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("the server's threads")
        .count()
}

#[test]
fn two_hundred_sessions_are_listed_attachable_and_share_a_fixed_number_of_threads() {
    let home = Home::with_config(serde_json::json!({ "maxSessions": SESSIONS }));
    let script = |i: usize| format!("echo output-of-{i}; exec sleep 600");
    let mut ids = vec![home.new_detached(&["--", "sh", "-c", &script(0)])];
    let pid = home.server_pid().expect("a running server");
    // With one session: the runtime's workers, the follower pool, maybe a blocking thread.
    let before = threads(pid);
    for i in 1..SESSIONS {
        ids.push(home.new_detached(&["--", "sh", "-c", &script(i)]));
    }
    // Threads that start a session or write a log come and go (a blocking thread lingers
    // 10 s after its last job); none stays per session.
    eventually("as many threads as with one session", || {
        threads(pid) <= before + 2
    });

    let listed = home.sessions();
    assert_eq!(listed.len(), SESSIONS);
    for id in &ids {
        assert!(listed.iter().any(|s| s["id"] == *id), "{id} is not listed");
    }
    let table = home.ok(&["ls"]);
    assert_eq!(
        table.lines().count(),
        SESSIONS + 1,
        "a header and a row each"
    );

    // The newest session shows its own output on attach.
    let last = ids.last().expect("200 ids");
    let size = Size { cols: 80, rows: 24 };
    let mut term = Term::spawn(&home, &["attach", last], size);
    term.wait_text(&format!("output-of-{}", SESSIONS - 1));
    term.send(b"\x1c");
    assert_eq!(term.wait_exit(), 0, "detaching exits 0");
    assert_eq!(home.sessions().len(), SESSIONS, "every session still runs");
}

#[test]
fn a_hard_file_limit_too_low_for_max_sessions_is_one_clear_error() {
    let home = Home::with_config(serde_json::json!({ "maxSessions": 1000 }));
    let mut new = home.cmd(&["new", "-d", "--", "sleep", "60"]);
    // The client, and the server it starts, get a hard limit of 512 open files.
    unsafe {
        new.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 512,
                rlim_max: 512,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = new.output().expect("the binary runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("open-file hard limit (512)") && err.contains("maxSessions 1000"),
        "{err}"
    );
    assert!(home.server_pid().is_none(), "no server runs");
}
