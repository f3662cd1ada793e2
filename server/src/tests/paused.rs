//! Timeouts through the whole server with tokio's paused time: the runtime jumps to
//! the next timer whenever every task waits, so a 60 s ping timeout takes
//! milliseconds. The sockets are real (loopback delivers a write at once, so the
//! runtime never sees an idle moment in the middle of an exchange).

use super::*;
use futures_util::{SinkExt, StreamExt};
use itwillsync_protocol::seal::{ClientHandshake, Key};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

type Ws = WebSocketStream<TcpStream>;

/// A WebSocket upgraded on `127.0.0.1:port/ws`.
async fn upgrade(port: u16) -> Ws {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let url = format!("ws://127.0.0.1:{port}/ws");
    let (ws, _) = tokio_tungstenite::client_async(url, tcp).await.unwrap();
    ws
}

/// The next binary message, or the close code (0 for a close without one, or the end).
async fn binary(ws: &mut Ws) -> Result<Vec<u8>, u16> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Binary(bytes))) => return Ok(bytes.to_vec()),
            Some(Ok(Message::Close(frame))) => {
                return Err(frame.map(|f| u16::from(f.code)).unwrap_or(0))
            }
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return Err(0),
        }
    }
}

/// A phone that proved `key`, asked for the output from the start (a redraw would wait
/// for the terminal-state thread in wall time) and read the first two messages its
/// loop sends (the size and the session), so that loop and its ping clock run.
async fn phone(port: u16, key: Key) -> Ws {
    let mut ws = upgrade(port).await;
    let hello = binary(&mut ws).await.expect("a hello");
    let client = ClientHandshake::new(key, &hello, [7; 32]).expect("a well-formed hello");
    let answer = Message::binary(client.answer().to_vec());
    ws.send(answer).await.unwrap();
    let proof = binary(&mut ws).await.expect("the server's proof");
    let mut channel = client.finish(&proof).expect("the server proves the key");
    let mut resume = br#"{"type":"resume","lastSeq":0}"#.to_vec();
    channel.sealer.seal(&mut resume).unwrap();
    ws.send(Message::binary(resume)).await.unwrap();
    for _ in 0..2 {
        binary(&mut ws).await.expect("the loop's first messages");
    }
    ws
}

/// An upgraded socket that never proves a key is closed with 4008 after 10 s, and that
/// counts as a failed attempt: the fifth blocks the address (4029 at once).
#[tokio::test(start_paused = true)]
async fn a_socket_that_proves_no_key_is_closed_after_10_s_and_counted() {
    let server = Server::start().await;
    server.connect().await; // `run` is past binding the dashboard
    let port = server.config.dashboard_port;
    for _ in 0..5 {
        let asked = Instant::now();
        let mut ws = upgrade(port).await;
        binary(&mut ws).await.expect("a hello");
        assert_eq!(binary(&mut ws).await, Err(4008));
        let waited = asked.elapsed();
        assert!(
            waited >= Duration::from_secs(10) && waited < Duration::from_secs(11),
            "closed after {waited:?}"
        );
    }
    let mut ws = upgrade(port).await;
    let asked = Instant::now();
    assert_eq!(binary(&mut ws).await, Err(4029), "five timeouts block");
    assert!(asked.elapsed() < Duration::from_secs(1));
}

/// A local client that starts a frame and never finishes it is told so and closed
/// after 10 s, dropping the buffer it held; another client is served meanwhile.
#[tokio::test(start_paused = true)]
async fn a_half_sent_frame_is_closed_after_10_s() {
    let server = Server::start().await;
    let mut stuck = server.connect().await;
    let whole = itwillsync_protocol::codec::encode_frame(&ClientMsg::List).unwrap();
    // The length prefix promises more than is sent: a 1 MiB frame, 3 bytes of it.
    let mut half = (1u32 << 20).to_be_bytes().to_vec();
    half.extend_from_slice(&[1, 2, 3]);
    assert_ne!(half[..4], whole[..4]);
    stuck.stream.write_all(&half).await.unwrap();
    let sent = tokio::time::Instant::now();

    let mut other = server.connect().await;
    let ServerMsg::Sessions { .. } = other.request(&ClientMsg::List).await else {
        panic!("another client is served while a frame is pending")
    };

    let reply: Result<Option<ServerMsg>, _> = read_frame_async(&mut stuck.stream).await;
    let waited = sent.elapsed();
    let Ok(Some(ServerMsg::Error { message })) = reply else {
        panic!("an error frame, not {reply:?}")
    };
    assert!(message.contains("not completed within 10 s"), "{message}");
    assert!(
        waited >= Duration::from_secs(10) && waited < Duration::from_secs(11),
        "closed after {waited:?}"
    );
    let mut rest = Vec::new();
    stuck.stream.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty(), "the connection ends after the error");
}

/// The server exits `idleShutdownSecs` after its last session ends, not before, and
/// never while a session runs.
#[tokio::test(start_paused = true)]
async fn the_server_exits_when_idle_for_idle_shutdown_secs() {
    let mut server = Server::start_with(30).await;
    // A session is a real program: starting and ending one takes wall time, during
    // which paused time would race ahead of it.
    tokio::time::resume();
    let id = server.new_session("read x; exit 0").await;
    tokio::time::pause();
    let lived = tokio::time::timeout(Duration::from_secs(300), &mut server.run).await;
    assert!(lived.is_err(), "a session keeps the server running");

    tokio::time::resume();
    let mut client = server.connect().await;
    client.attach(&id, false).await;
    client.type_in(b"\r").await;
    client.until_exit().await;
    tokio::time::pause();
    // The idle timer starts when the session is removed, about now. (Watched on the
    // latch: stopping then waits for real processes, such as an inhibitor.)
    let idle = tokio::time::timeout(Duration::from_secs(29), server.shutdown.wait()).await;
    assert!(idle.is_err(), "still running within idleShutdownSecs");
    let reason = tokio::time::timeout(Duration::from_secs(2), server.shutdown.wait()).await;
    let reason = reason.expect("stopping once idle");
    assert!(reason.contains("idleShutdownSecs"), "{reason}");
}

/// A phone whose socket stays open but that no longer answers pings (a phone that
/// slept) is dropped at the second ping without an answer; one that answers stays.
#[tokio::test(start_paused = true)]
async fn a_phone_that_stops_answering_pings_is_dropped() {
    let server = Server::start().await;
    let info = server.new_session_info("sleep 600").await;
    let port = info.port.expect("a phone port");
    let mut client = server.connect().await;
    let link = ClientMsg::Link {
        target: info.id.clone(),
        read_only: false,
        rotate: false,
    };
    let ServerMsg::Link { url } = client.request(&link).await else {
        panic!("no link")
    };
    let key = url.split_once("#k=").expect("a key").1;
    let key = Key::from_link_text(key).expect("a key");

    // This phone reads, so its WebSocket answers every ping.
    let mut awake = phone(port, key.clone()).await;
    let (ended_tx, mut awake_ended) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        while let Some(Ok(_)) = awake.next().await {}
        let _ = ended_tx.send(());
    });

    let mut asleep = phone(port, key).await;
    // Reads nothing for longer than two ping periods, then finds the socket closed.
    tokio::time::sleep(Duration::from_secs(61)).await;
    // The close itself is awaited in wall time: under load loopback may deliver it a
    // moment late, and paused time would run ahead meanwhile. Were the phone not
    // dropped yet, the next ping would be 30 s of server time away.
    tokio::time::resume();
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(_)) = asleep.next().await {}
    })
    .await;
    assert!(closed.is_ok(), "the sleeping phone was not dropped by 61 s");
    tokio::time::pause();

    tokio::time::sleep(Duration::from_secs(300)).await;
    assert!(
        awake_ended.try_recv().is_err(),
        "a phone that answers pings stays"
    );
}
