//! In-process tests of the whole server: [`crate::run`] on a temporary socket inside the
//! test's runtime (as mini-redis's `tests/server.rs` does), so races can be staged with
//! `test_hooks` and timeouts tested without waiting for them in real time.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use itwillsync_protocol::codec::{read_frame_async, write_frame_async};
use itwillsync_protocol::{preamble, ClientMsg, EventKind, NewSession, ServerMsg, Size};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

use crate::config::NetworkingMode;
use crate::{test_hooks, Config, Home, Shutdown, Transport};

/// How long any single wait may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(20);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A server running in this process, stopped on drop.
struct Server {
    dir: tempfile::TempDir,
    shutdown: Shutdown,
    config: Config,
    /// `run`'s task.
    run: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Server {
    async fn start() -> Self {
        Self::start_with(0).await
    }

    /// A server that exits `idle_shutdown_secs` after its last session (0: never).
    async fn start_with(idle_shutdown_secs: u64) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let home = Home::at(dir.path().to_path_buf());
        home.create().unwrap();
        let config = Config {
            networking_mode: NetworkingMode::Localhost,
            dashboard_port: free_port(),
            api_port: free_port(),
            session_port_base: free_port(),
            idle_shutdown_secs,
            ..Config::default()
        };
        let listener = UnixListener::bind(home.socket()).unwrap();
        let shutdown = Shutdown::default();
        let run = crate::run(
            config.clone(),
            home,
            Transport::default(),
            listener,
            shutdown.clone(),
        );
        let run = tokio::spawn(run);
        Self {
            dir,
            shutdown,
            config,
            run,
        }
    }

    async fn connect(&self) -> Client {
        let mut stream = UnixStream::connect(self.dir.path().join("server.sock"))
            .await
            .unwrap();
        stream.write_all(&preamble::encode()).await.unwrap();
        let mut theirs = [0u8; preamble::LEN];
        stream.read_exact(&mut theirs).await.unwrap();
        preamble::check(&theirs).unwrap();
        Client { stream }
    }

    /// A connection subscribed to the server's events (`Client::next_event`).
    async fn subscribe(&self) -> Client {
        let mut events = self.connect().await;
        let ServerMsg::Subscribed = events.request(&ClientMsg::Subscribe).await else {
            panic!("not subscribed")
        };
        events
    }

    /// Starts `sh -c SCRIPT` detached; its session id.
    async fn new_session(&self, script: &str) -> String {
        self.new_session_info(script).await.id
    }

    /// Starts `sh -c SCRIPT` detached; the session.
    async fn new_session_info(&self, script: &str) -> itwillsync_protocol::SessionInfo {
        let mut client = self.connect().await;
        let spec = NewSession {
            name: None,
            command: vec!["sh".into(), "-c".into(), script.into()],
            cwd: self.dir.path().to_string_lossy().into_owned(),
            env: std::env::vars().collect(),
            size: Size { cols: 80, rows: 24 },
            port: None,
            networking: None,
        };
        match client
            .request(&ClientMsg::New {
                spec,
                attach: false,
            })
            .await
        {
            ServerMsg::Created { session } => session,
            other => panic!("not created: {other:?}"),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.trigger("the test ended");
    }
}

/// A raw protocol client.
struct Client {
    stream: UnixStream,
}

impl Client {
    async fn send(&mut self, msg: &ClientMsg) {
        write_frame_async(&mut self.stream, msg).await.unwrap();
    }

    async fn recv(&mut self) -> Option<ServerMsg> {
        tokio::time::timeout(DEADLINE, read_frame_async(&mut self.stream))
            .await
            .expect("a message in time")
            .unwrap()
    }

    async fn request(&mut self, msg: &ClientMsg) -> ServerMsg {
        self.send(msg).await;
        loop {
            match self.recv().await.expect("a reply") {
                ServerMsg::Warning { .. } => {}
                reply => return reply,
            }
        }
    }

    /// Types `keys` into the attached session.
    async fn type_in(&mut self, keys: &[u8]) {
        self.send(&ClientMsg::Input {
            data: keys.to_vec(),
        })
        .await;
    }

    async fn attach(&mut self, id: &str, read_only: bool) {
        let attach = ClientMsg::Attach {
            target: Some(id.into()),
            read_only,
            size: Size { cols: 80, rows: 24 },
        };
        let ServerMsg::Attached { .. } = self.request(&attach).await else {
            panic!("not attached")
        };
    }

    /// Output (and redraws) until the exit status; both.
    async fn until_exit(&mut self) -> (Vec<u8>, i32) {
        let mut output = Vec::new();
        loop {
            match self.recv().await.expect("the exit status") {
                ServerMsg::Output { data, .. } | ServerMsg::Redraw { data, .. } => {
                    output.extend_from_slice(&data)
                }
                ServerMsg::Exit { status } => return (output, status.code),
                _ => {}
            }
        }
    }
}

/// Output pushed while a client is between "caught up" and "has it exited?" still
/// reaches it before the exit status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exit_status_follows_the_last_byte() {
    let server = Server::start().await;
    let id = server
        .new_session("read x; printf LAST-BYTES; exit 3")
        .await;
    let gate = test_hooks::arm("client-caught-up", &id);
    let mut watcher = server.connect().await;
    watcher.attach(&id, true).await;
    tokio::time::timeout(DEADLINE, gate.reached())
        .await
        .expect("the watcher caught up");
    // While the watcher stands there, the program prints its last bytes and exits.
    let mut typist = server.connect().await;
    typist.attach(&id, false).await;
    typist.type_in(b"go\r").await;
    let (output, code) = typist.until_exit().await;
    assert!(String::from_utf8_lossy(&output).contains("LAST-BYTES"));
    assert_eq!(code, 3);
    gate.release();
    let (output, code) = watcher.until_exit().await;
    assert_eq!(code, 3);
    assert!(
        String::from_utf8_lossy(&output).contains("LAST-BYTES"),
        "the exit overtook the last bytes: {:?}",
        String::from_utf8_lossy(&output)
    );
}

/// An attachment cut while its program printed its last bytes and exited (a machine link
/// that dropped) resumes with `Follow` by id after the session has left the list: it
/// gets the bytes it missed and then the exit status, not "no session".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn following_a_session_that_ended_meanwhile_gives_the_tail_and_the_exit() {
    let server = Server::start().await;
    let mut events = server.subscribe().await;
    let id = server
        .new_session("read x; printf MISSED-WHILE-CUT; exit 3")
        .await;
    let mut typist = server.connect().await;
    typist.attach(&id, false).await;
    typist.type_in(b"go\r").await;
    assert_eq!(typist.until_exit().await.1, 3);
    // The registry announces the exit once it has let go of the session.
    let exited = events.next_event(EventKind::SessionExited).await;
    assert_eq!(exited.session.as_deref(), Some(id.as_str()));
    let mut resumed = server.connect().await;
    let follow = |target: &str| ClientMsg::Follow {
        target: target.into(),
        read_only: false,
        size: Size { cols: 80, rows: 24 },
        from_seq: 0,
    };
    let ServerMsg::Attached { .. } = resumed.request(&follow(&id)).await else {
        panic!("the ended session was not found by its id")
    };
    let (output, code) = resumed.until_exit().await;
    assert_eq!(code, 3);
    assert!(
        String::from_utf8_lossy(&output).contains("MISSED-WHILE-CUT"),
        "{:?}",
        String::from_utf8_lossy(&output)
    );
    // Only `Follow` by exact id finds it: it is not listed, attached or found by prefix.
    let mut other = server.connect().await;
    let ServerMsg::Error { .. } = other.request(&follow(&id[..6])).await else {
        panic!("an ended session was found by a prefix")
    };
    let attach = ClientMsg::Attach {
        target: Some(id.clone()),
        read_only: false,
        size: Size { cols: 80, rows: 24 },
    };
    let ServerMsg::Error { .. } = other.request(&attach).await else {
        panic!("an ended session was attached")
    };
}

/// A session whose client was told its exit is not listed any more, even before the
/// registry has let go of it (`ls` right after an attachment ended).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ended_session_is_not_listed_once_its_client_saw_the_exit() {
    let server = Server::start().await;
    let id = server.new_session("read x; exit 5").await;
    let gate = test_hooks::arm("session-removal", &id);
    let mut client = server.connect().await;
    client.attach(&id, false).await;
    client.type_in(b"go\r").await;
    assert_eq!(client.until_exit().await.1, 5);
    tokio::time::timeout(DEADLINE, gate.reached())
        .await
        .expect("the removal reached");
    let mut asker = server.connect().await;
    let ServerMsg::Sessions { sessions } = asker.request(&ClientMsg::List).await else {
        panic!("no list")
    };
    assert!(sessions.is_empty(), "still listed: {sessions:?}");
    let info = ClientMsg::Info { target: None };
    let ServerMsg::Hub { hub } = asker.request(&info).await else {
        panic!("no hub info")
    };
    assert!(
        hub.sessions.is_empty(),
        "still in the hub's info: {:?}",
        hub.sessions
    );
    gate.release();
}

/// A panic in one session's actor, in one session's terminal state, or in one connection
/// ends only that session or connection; the server and every other session carry on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_ends_only_its_session_or_connection() {
    let server = Server::start().await;
    let mut events = server.subscribe().await;
    let healthy = server.new_session("read x; echo still-$x; exit 4").await;
    // In the actor, and in the terminal-state follower: either way the session is hung up.
    for point in ["actor-read", "follower-parse"] {
        let doomed = server.new_session("read x; echo never; sleep 60").await;
        test_hooks::arm_panic(point, &doomed);
        let mut client = server.connect().await;
        client.attach(&doomed, false).await;
        client.type_in(b"go\r").await;
        let (_, code) = client.until_exit().await;
        assert_ne!(code, 0, "{point}: the failed session reports a failure");
        // Its client is told the exit before the registry lets go of it.
        let exited = events.next_event(EventKind::SessionExited).await;
        assert_eq!(exited.session.as_deref(), Some(doomed.as_str()));
    }

    // A connection that panics is closed; the next one is served.
    let mut client = server.connect().await;
    test_hooks::arm_panic("info-request", "boom");
    client
        .send(&ClientMsg::Info {
            target: Some("boom".into()),
        })
        .await;
    assert!(client.recv().await.is_none(), "the connection is closed");

    let mut client = server.connect().await;
    let ServerMsg::Sessions { sessions } = client.request(&ClientMsg::List).await else {
        panic!("no list")
    };
    let ids: Vec<_> = sessions.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, [healthy.as_str()], "only the failed session is gone");
    client.attach(&healthy, false).await;
    client.type_in(b"ok\r").await;
    let (output, code) = client.until_exit().await;
    assert!(String::from_utf8_lossy(&output).contains("still-ok"));
    assert_eq!(code, 4);
}

/// Floods in more sessions than the follower pool has threads do not stop the other
/// sessions' terminal states from advancing: every follower gets turns. Each flood rings
/// a bell first (raising attention once its follower has parsed it), then floods for ever,
/// its follower made slower than the flood (a stall in every slice it parses); a session
/// started then asks for the cursor position and exits once answered (answers come from
/// the parsed state). A follower that kept its thread while output waits would never let
/// that session's follower run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_does_not_stop_another_sessions_terminal_state() {
    let server = Server::start().await;
    let mut events = server.subscribe().await;
    // Coloured lines: never skipped as plain text.
    let flood = r#"printf '\007'; exec yes "$(printf '\033[1;31mflood\033[0m')""#;
    let mut floods = Vec::new();
    for _ in 0..crate::session::FOLLOWER_THREADS + 2 {
        let id = server.new_session(flood).await;
        test_hooks::arm_stall("follower-parse", &id, Duration::from_millis(20));
        floods.push(id);
    }
    let mut flooding = std::collections::HashSet::new();
    while flooding.len() < floods.len() {
        let event = events.next_event(EventKind::AttentionRaised).await;
        flooding.extend(event.session);
    }
    // Exits 7 once its query (ESC [ 6 n) is answered: 6 bytes, ESC [ 1 ; 1 R.
    let asks = "stty -icanon -echo; printf '\\033[6n'; dd bs=1 count=6 >/dev/null 2>&1; exit 7";
    let asking = server.new_session(asks).await;
    let exited = events.next_event(EventKind::SessionExited).await;
    assert_eq!(exited.session.as_deref(), Some(asking.as_str()));
    assert_eq!(exited.status.map(|s| s.code), Some(7));
}

impl Client {
    /// The next event of `kind` on a subscribed connection.
    async fn next_event(&mut self, kind: EventKind) -> itwillsync_protocol::Event {
        loop {
            let Some(ServerMsg::Event { event }) = self.recv().await else {
                panic!("the event stream ended")
            };
            if event.kind == kind {
                return event;
            }
        }
    }

    /// Output (and redraws) until `needle` appears in it.
    async fn until_output(&mut self, needle: &str) -> String {
        let mut output = Vec::new();
        while !String::from_utf8_lossy(&output).contains(needle) {
            match self.recv().await.expect("more output") {
                ServerMsg::Output { data, .. } | ServerMsg::Redraw { data, .. } => {
                    output.extend_from_slice(&data)
                }
                ServerMsg::Exit { .. } => panic!("exited before {needle:?}"),
                _ => {}
            }
        }
        String::from_utf8_lossy(&output).into_owned()
    }
}

/// A session log whose writer is stuck (a slow disk) does not hold up the program's
/// output: it reaches the client in full, and the log says what it left out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_log_writer_does_not_stall_output() {
    let server = Server::start().await;
    // The program prints nothing until told to, then one line; the flood starts only once
    // the log writer is held at the hook with that line: all 8 MB then meet a stuck
    // writer, so more than the 4 MiB bound is left out however the threads are scheduled.
    let id = server
        .new_session("read x; echo FIRST; read y; head -c 8000000 /dev/zero | tr '\\0' a; echo; echo END-$y; sleep 60")
        .await;
    let gate = test_hooks::arm("log-write", &id);
    let mut client = server.connect().await;
    client.attach(&id, false).await;
    client.type_in(b"x\r").await;
    tokio::time::timeout(DEADLINE, gate.reached())
        .await
        .expect("the writer reached the hook");
    client.type_in(b"go\r").await;
    client.until_output("END-go").await;

    gate.release();
    let log = server.dir.path().join("logs").join(format!("{id}.log"));
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let text = String::from_utf8_lossy(&std::fs::read(&log).unwrap_or_default()).into_owned();
        if text.contains("left out of this log") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no note in the log");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

mod paused;
