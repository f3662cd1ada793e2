//! Attachments through the laptop across cuts: the laptop's own link cut (and one that
//! outlasts the remote ring, repainting a waiting terminal), a machine that
//! speaks another version, and a cable pulled between two network namespaces (terminal and
//! phone alike get every line once). Part of `tests/machines.rs`.

use std::process::{Command, Stdio};
use std::sync::mpsc;

use itwillsync_protocol::{ClientMsg, ServerMsg, Size};

use super::support::machines::{
    every_line_once, open_remote, phone_until_exit, ssh_children, Events, Netns, Pair,
};
use super::support::{self, eventually, sshd::Sshd, Home, DEADLINE};

/// Attaches `raw` through the laptop to `devbox:steady` (a program printing `lines`
/// numbered lines, `L0`, `L1`…, once told to start), starts it and reads to its exit,
/// checking that each chunk continues exactly where the last ended; `cut` runs once, when
/// `L50` has arrived. The program exits 0, every line arrives exactly once in order, and
/// the only redraw is the attach's own (the resume after the cut needs none).
fn steady_across_a_cut(raw: &mut support::Raw, lines: usize, mut cut: impl FnMut()) {
    let size = Size { cols: 80, rows: 24 };
    assert!(matches!(
        raw.request(&ClientMsg::Attach {
            target: Some("devbox:steady".into()),
            read_only: false,
            size,
        }),
        ServerMsg::Attached { .. }
    ));
    raw.send(&ClientMsg::Input {
        data: b"go\n".to_vec(),
    });
    let mut text = Vec::new();
    let mut seq = None;
    let mut redraws = 0;
    let mut was_cut = false;
    let status = loop {
        match raw.recv().expect("the attachment ended before the exit") {
            ServerMsg::Output { seq: end, data } => {
                // Contiguous: each chunk starts where the last one ended.
                if let Some(prev) = seq {
                    assert_eq!(end - data.len() as u64, prev, "a gap or an overlap");
                }
                seq = Some(end);
                text.extend_from_slice(&data);
            }
            ServerMsg::Redraw { seq: at, .. } => {
                redraws += 1;
                seq = Some(at);
            }
            ServerMsg::Exit { status } => break status,
            ServerMsg::Size { .. } => {}
            other => panic!("{other:?}"),
        }
        if !was_cut && String::from_utf8_lossy(&text).contains("L50\r\n") {
            was_cut = true;
            cut();
        }
    };
    assert!(was_cut);
    assert_eq!(status.code, 0);
    assert_eq!(
        redraws, 1,
        "only the attach's own redraw: the resume needs none"
    );
    every_line_once(&String::from_utf8_lossy(&text), lines);
}

#[test]
fn an_attachment_through_the_laptop_gets_every_byte_once_across_a_cut() {
    let pair = Pair::new(serde_json::json!({}));
    pair.add_devbox();
    let events = Events::start(&pair);
    // 400 numbered lines, one every 10 ms, once told to start: far less than the ring.
    let script = "read x; i=0; while [ $i -lt 400 ]; do echo L$i; i=$((i+1)); sleep 0.01; done";
    pair.ok(&[
        "new", "-d", "--no-qr", "--on", "devbox", "--name", "steady", "--", "sh", "-c", script,
    ]);
    let mut raw = pair.local.connect();
    steady_across_a_cut(&mut raw, 400, || {
        // Cut every link: ssh dies, as when the network drops it.
        let server = pair.local.server_pid().unwrap();
        let children = ssh_children(server);
        assert!(
            children.len() >= 2,
            "a link and an attachment: {children:?}"
        );
        for pid in children {
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    });
    events.wait("offline at once", |e| {
        e["event"] == "machine-offline" && e["machine"] == "devbox"
    });
    events.wait("online again", |e| {
        e["event"] == "machine-online" && e["machine"] == "devbox"
    });
}

#[test]
fn a_machine_speaking_another_version_needs_an_upgrade() {
    let remote = Home::new();
    let sshd = Sshd::start(&remote);
    let local = Home::with_config(serde_json::json!({"machineBackoffMaxSecs": 60}));
    // A "remote itwillsync" that answers with protocol version 1.
    let fake = tempfile::tempdir().unwrap();
    let script = fake.path().join("old-bridge");
    std::fs::write(
        &script,
        "#!/bin/sh\nprintf 'ITWSYNC\\000\\000\\000\\000\\001'; cat >/dev/null\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    // The ssh command runs the fake (which ignores its arguments) instead of ssh.
    let ssh = script.display().to_string();
    let cmd = |args: &[&str]| {
        local
            .cmd(args)
            .env("ITWILLSYNC_SSH_COMMAND", &ssh)
            .output()
            .unwrap()
    };
    assert!(cmd(&["machine", "add", "old", &sshd.dest()])
        .status
        .success());
    eventually("needs upgrade", || {
        let ls = cmd(&["machine", "ls"]);
        String::from_utf8_lossy(&ls.stdout).contains("needs upgrade (it speaks protocol 1")
    });
    let kill = cmd(&["kill", "old:x"]);
    assert!(!kill.status.success());
    assert!(String::from_utf8_lossy(&kill.stderr).contains("needs upgrade"));
}

#[test]
fn a_cable_pulled_between_two_network_namespaces_loses_and_doubles_nothing() {
    if rustix::process::geteuid().as_raw() != 0 {
        eprintln!("skipped: network namespaces need root (run the tests as root to include it)");
        return;
    }
    let netns = Netns::new();
    let remote = Home::new();
    let sshd = Sshd::start_in(&remote, Some(&netns.names[1]), &netns.far);
    let local = Home::with_config(serde_json::json!({
        "machinePingSecs": 1,
        "machineOfflineSecs": 3,
        "machineBackoffMaxSecs": 2,
    }));
    // The local server runs in the first namespace: the binary is started there (the
    // socket is a file, reachable from anywhere).
    let run = |args: &[&str]| {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &netns.names[0], support::bin()])
            .args(args)
            .env("ITWILLSYNC_HOME", local.path())
            .env("ITWILLSYNC_SSH_COMMAND", sshd.ssh_command())
            .stdin(Stdio::null());
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    run(&["machine", "add", "devbox", &sshd.dest()]);
    eventually("devbox online", || {
        run(&["machine", "ls"]).contains(" online ")
    });
    let events = Events::of(local.cmd(&["events", "--machine", "devbox"]));
    // 600 numbered lines, one every 10 ms: the cut lasts a few seconds, a few KiB.
    let script = "read x; i=0; while [ $i -lt 600 ]; do echo L$i; i=$((i+1)); sleep 0.01; done";
    run(&[
        "new", "-d", "--no-qr", "--on", "devbox", "--name", "steady", "--", "sh", "-c", script,
    ]);
    // A phone attached through the laptop too: it opens the session from the laptop's
    // dashboard and connects to the mirror's port there, both in the first namespace (so
    // its thread enters it).
    let (dash, near) = (local.dashboard(), netns.names[0].clone());
    let (attached, phone_ready) = mpsc::channel();
    let phone = std::thread::spawn(move || {
        Netns::enter(&near);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mirror = open_remote(&dash, "devbox", "steady").await;
            let mut phone = mirror.phone().await;
            phone
                .send(serde_json::json!({"type": "resume", "lastSeq": -1}))
                .await;
            let (_, seq, _) = phone.repaint().await;
            attached.send(()).unwrap();
            phone_until_exit(&mut phone, seq).await
        })
    });
    phone_ready
        .recv_timeout(DEADLINE)
        .expect("the phone attached");
    let mut raw = local.connect();
    steady_across_a_cut(&mut raw, 600, || {
        netns.link(false);
        // Offline within the configured silence (3 s), detected by the pings.
        events.wait("machine-offline", |e| e["event"] == "machine-offline");
        // Its sessions stay listed, marked offline, as last known.
        let listed: Vec<serde_json::Value> = serde_json::from_str(&run(&["ls", "--json"])).unwrap();
        let steady = listed
            .iter()
            .find(|s| s["name"] == "steady")
            .expect("listed");
        assert_eq!(steady["machine"], "devbox");
        assert_eq!(steady["offline"], true);
        assert!(run(&["ls"])
            .lines()
            .any(|l| l.contains("steady") && l.contains("offline")));
        netns.link(true);
    });
    events.wait("machine-online again", |e| e["event"] == "machine-online");
    // The phone got every line once, in order, and no repaint: the gap was within the
    // remote ring, and the mirror resumed it exactly.
    let received = phone.join().expect("the phone's thread");
    assert_eq!(received.code, 0);
    assert_eq!(received.repaints, 0, "no repaint, gap or overlap");
    every_line_once(&received.text, 600);
    drop(events);
    drop(raw);
    drop(local);
    drop(remote);
    drop(sshd);
}

/// A terminal attached directly through the laptop waits armed at its cursor, woken by
/// nothing but output: when the mirror comes back from a cut longer than the remote ring
/// (a repaint instead of the bytes), the repaint must still reach it.
#[test]
fn a_waiting_terminal_is_repainted_when_a_cut_outlasts_the_remote_ring() {
    let pair = Pair::new(serde_json::json!({}));
    // devbox keeps the smallest ring, which the program's 400 KB outrun.
    pair.remote
        .configure(serde_json::json!({ "scrollbackBufferSize": 64 << 10 }));
    pair.add_devbox();
    let trigger = pair.remote.path().join("trigger");
    let script = format!(
        "echo before-the-gap; while [ ! -e '{}' ]; do sleep 0.05; done; \
         head -c 400000 /dev/zero | tr '\\0' x; echo; echo after-the-gap; exec sleep 300",
        trigger.display()
    );
    pair.ok(&[
        "new", "-d", "--no-qr", "--on", "devbox", "--name", "gap", "--", "sh", "-c", &script,
    ]);
    let size = Size { cols: 80, rows: 24 };
    let term = support::Term::spawn(&pair.local, &["attach", "devbox:gap"], size);
    term.wait_text("before-the-gap");
    // Every ssh of the laptop's server dies (the link and the mirror's); the mirror waits
    // a second before it reconnects, and meanwhile the program prints past devbox's ring.
    let server = pair.local.server_pid().unwrap();
    for pid in ssh_children(server) {
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    std::fs::File::create(&trigger).unwrap();
    term.wait_text("after-the-gap");
    // It came as a repaint: the remote ring had moved on when the mirror was back.
    let log = std::fs::read_to_string(pair.local.path().join("server.log")).unwrap();
    assert!(log.contains("mirror repainted"), "{log}");
}
