//! Machines over OpenSSH (DESIGN.md "Machines"), as far as they are built: `bridge` joins
//! stdio to the server (starting it), and `machine add/ls/rm` reaches another
//! `ITWILLSYNC_HOME` through a real sshd and `ssh -T DEST itwillsync bridge`.

mod support;

use std::io::{Read, Write};
use std::process::Stdio;

use itwillsync_protocol::{codec, preamble, ClientMsg, ServerMsg};
use support::{sshd::Sshd, Home};

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
fn machines_are_added_listed_over_ssh_and_removed() {
    let local = Home::new();
    let remote = Home::new();
    remote.ok(&["new", "-d", "--no-qr", "--", "sleep", "60"]);
    let sshd = Sshd::start(&remote);
    let ssh = sshd.ssh_command();
    let machine = |args: &[&str]| {
        let mut all = vec!["machine"];
        all.extend_from_slice(args);
        local
            .cmd(&all)
            .env("ITWILLSYNC_SSH_COMMAND", &ssh)
            .output()
            .unwrap()
    };
    assert!(machine(&["add", "devbox", &sshd.dest()]).status.success());
    assert!(machine(&["add", "gone", "nobody@127.0.0.2"])
        .status
        .success());
    let dup = machine(&["add", "devbox", "x"]);
    assert!(!dup.status.success());
    for bad in ["local", "a:b", "", "-x"] {
        assert!(!machine(&["add", bad, "h"]).status.success(), "{bad}");
    }
    let ls = machine(&["ls"]);
    let text = String::from_utf8_lossy(&ls.stdout);
    assert!(
        ls.status.success(),
        "{}",
        String::from_utf8_lossy(&ls.stderr)
    );
    let devbox = text
        .lines()
        .find(|l| l.starts_with("devbox"))
        .expect("listed");
    assert!(
        devbox.contains("online") && devbox.trim_end().ends_with('1'),
        "{text}"
    );
    let gone = text
        .lines()
        .find(|l| l.starts_with("gone"))
        .expect("listed");
    assert!(gone.contains("offline"), "{text}");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(local.path().join("machines.json"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    assert!(machine(&["rm", "gone"]).status.success());
    assert!(!machine(&["rm", "gone"]).status.success());
    let ls = machine(&["ls"]);
    assert!(!String::from_utf8_lossy(&ls.stdout).contains("gone"));
    drop(sshd);
}
