//! In-process tests of the whole server: [`crate::run`] on a temporary socket inside the
//! test's runtime (as mini-redis's `tests/server.rs` does), so races can be staged with
//! `test_hooks` and timeouts tested without waiting for them in real time.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use itwillsync_protocol::codec::{read_frame_async, write_frame_async};
use itwillsync_protocol::{preamble, ClientMsg, NewSession, ServerMsg, Size};
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
}

impl Server {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let home = Home::at(dir.path().to_path_buf());
        home.create().unwrap();
        let config = Config {
            networking_mode: NetworkingMode::Localhost,
            dashboard_port: free_port(),
            api_port: free_port(),
            session_port_base: free_port(),
            idle_shutdown_secs: 0,
            ..Config::default()
        };
        let listener = UnixListener::bind(home.socket()).unwrap();
        let shutdown = Shutdown::default();
        let run = crate::run(
            config,
            home,
            Transport::default(),
            listener,
            shutdown.clone(),
        );
        tokio::spawn(run);
        Self { dir, shutdown }
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

    /// Starts `sh -c SCRIPT` detached; its session id.
    async fn new_session(&self, script: &str) -> String {
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
            ServerMsg::Created { session } => session.id,
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
    typist
        .send(&ClientMsg::Input {
            data: b"go\r".to_vec(),
        })
        .await;
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

/// A panic in one session's actor, in one session's terminal state, or in one connection
/// ends only that session or connection; the server and every other session carry on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_ends_only_its_session_or_connection() {
    let server = Server::start().await;
    let doomed = server.new_session("read x; echo never; sleep 60").await;
    let healthy = server.new_session("read x; echo still-$x; exit 4").await;
    test_hooks::arm_panic("actor-read", &doomed);
    let mut client = server.connect().await;
    client.attach(&doomed, false).await;
    client
        .send(&ClientMsg::Input {
            data: b"go\r".to_vec(),
        })
        .await;
    let (_, code) = client.until_exit().await;
    assert_ne!(code, 0, "the failed session reports a failure");

    // The same in the terminal-state follower: the session is hung up.
    let doomed = server.new_session("read x; echo never; sleep 60").await;
    test_hooks::arm_panic("follower-parse", &doomed);
    let mut client = server.connect().await;
    client.attach(&doomed, false).await;
    client
        .send(&ClientMsg::Input {
            data: b"go\r".to_vec(),
        })
        .await;
    let (_, code) = client.until_exit().await;
    assert_ne!(code, 0, "the failed session reports a failure");

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
    client
        .send(&ClientMsg::Input {
            data: b"ok\r".to_vec(),
        })
        .await;
    let (output, code) = client.until_exit().await;
    assert!(String::from_utf8_lossy(&output).contains("still-ok"));
    assert_eq!(code, 4);
}
