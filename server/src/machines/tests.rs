//! The link's rules in process: paused time for the 30 s / 90 s timers, a fake `ssh`.

use super::*;
use itwillsync_protocol::preamble;
use std::os::unix::fs::PermissionsExt;

/// A fake `ssh`: a script that answers as a server would (preamble, `Subscribed`, an
/// empty `Sessions`) and then never says anything again.
fn silent_machine(dir: &std::path::Path) -> String {
    let mut bytes = preamble::encode().to_vec();
    bytes.extend(itwillsync_protocol::encode_frame(&ServerMsg::Subscribed).unwrap());
    let sessions = ServerMsg::Sessions { sessions: vec![] };
    bytes.extend(itwillsync_protocol::encode_frame(&sessions).unwrap());
    std::fs::write(dir.join("answers"), bytes).unwrap();
    let script = dir.join("fake-ssh");
    let text = format!(
        "#!/bin/sh\ncat '{}'\nexec sleep 3600\n",
        dir.join("answers").display()
    );
    std::fs::write(&script, text).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script.display().to_string()
}

async fn state_becomes(link: &Link, want: MachineState) {
    let mut watch = link.state();
    let reached = watch.wait_for(|s| *s == want);
    tokio::time::timeout(Duration::from_secs(3600), reached)
        .await
        .expect("the state in time")
        .unwrap();
}

/// The 30 s / 90 s rules in paused time: a machine that stops answering is offline
/// 90 s after it was last heard (a ping went out at 30 s and 60 s), with the event;
/// then the link reconnects and it is online again.
#[tokio::test]
async fn a_silent_machine_goes_offline_after_the_timeout_and_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let home = Home::at(dir.path().join("home"));
    save(
        &home,
        &[Machine {
            name: "devbox".into(),
            dest: "me@devbox".into(),
        }],
    )
    .unwrap();
    let events = Arc::new(Events::default());
    let mut rx = events.subscribe();
    let timing = Timing {
        ping: Duration::from_secs(30),
        offline: Duration::from_secs(90),
        backoff_max: Duration::from_secs(30),
    };
    let shutdown = Shutdown::default();
    let ssh = silent_machine(dir.path());
    let machines = Machines::start(home, timing, ssh, events.clone(), shutdown.clone());
    let link = machines.get("devbox").unwrap();
    // Real time while the fake answers (a child's pipe is no tokio timer).
    state_becomes(&link, MachineState::Online).await;
    let online = rx.recv().await.unwrap();
    assert_eq!(
        (online.kind, online.machine.as_str()),
        (EventKind::MachineOnline, "devbox")
    );
    assert_eq!(machines.infos()[0].state, MachineState::Online);
    assert!(machines.infos()[0].last_seen_ms.is_some());
    tokio::time::pause();
    let silent_since = Instant::now();
    state_becomes(&link, MachineState::Offline).await;
    let waited = silent_since.elapsed();
    assert!(
        waited >= Duration::from_secs(89) && waited <= Duration::from_secs(91),
        "{waited:?}"
    );
    let offline = rx.recv().await.unwrap();
    assert_eq!(offline.kind, EventKind::MachineOffline);
    assert_eq!(offline.message.as_deref(), Some("no answer in 90 s"));
    let info = &machines.infos()[0];
    assert_eq!(info.detail.as_deref(), Some("no answer in 90 s"));
    // A request while offline is refused at once, not queued.
    let refused = link.request(ClientMsg::List).await.unwrap_err();
    assert!(refused.to_string().contains("offline"), "{refused}");
    tokio::time::resume();
    state_becomes(&link, MachineState::Online).await;
    assert_eq!(rx.recv().await.unwrap().kind, EventKind::MachineOnline);
    machines.stop_all();
    shutdown.trigger("the test ended");
}

#[tokio::test]
async fn targets_name_a_machine_only_with_a_colon() {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::at(dir.path().to_path_buf());
    let events = Arc::new(Events::default());
    let timing = Timing {
        ping: Duration::from_secs(30),
        offline: Duration::from_secs(90),
        backoff_max: Duration::from_secs(30),
    };
    let machines = Machines::start(home, timing, "false".into(), events, Shutdown::default());
    assert!(machines.split("api").unwrap().is_none());
    assert!(machines.split("local:api").unwrap().is_none());
    let err = machines.split("devbox:api").err().unwrap().to_string();
    assert!(err.contains("no machine named devbox"), "{err}");
    assert!(machines.infos().is_empty());
}
