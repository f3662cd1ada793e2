//! How many connections the phone port lets in: unauthenticated ones capped per address
//! and server-wide, phones never refused for them. Part of `tests/phone.rs`.

use std::time::Duration;

use serde_json::json;

use super::support::{self, Home};

/// `count` idle TCP connections from `source` to `port`, which never send a byte.
async fn idle_connections(source: [u8; 4], port: u16, count: usize) -> Vec<tokio::net::TcpStream> {
    let mut streams = Vec::new();
    for _ in 0..count {
        streams.push(support::web::connect_from(source.into(), port).await);
    }
    streams
}

/// How many of `streams` the server closed at once (within two seconds, far less than the
/// 10 s any open connection has for its request); the open ones.
async fn closed_at_once(
    streams: Vec<tokio::net::TcpStream>,
) -> (usize, Vec<tokio::net::TcpStream>) {
    use tokio::io::AsyncReadExt;
    let checks = streams.into_iter().map(|mut stream| async move {
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut byte)).await;
        match read {
            Err(_) => Some(stream), // still open, waiting for a request
            Ok(Ok(0)) | Ok(Err(_)) => None,
            Ok(Ok(_)) => panic!("an idle connection was sent something"),
        }
    });
    let results = futures_util::future::join_all(checks).await;
    let total = results.len();
    let open: Vec<_> = results.into_iter().flatten().collect();
    (total - open.len(), open)
}

/// Idle connections that never prove a key cannot fill a phone port (issue 9, case 4):
/// one address keeps at most 8 unauthenticated connections, the rest are closed at once,
/// and a phone from another address still connects and gets output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_from_one_address_leave_room_for_a_phone() {
    let hub = Home::with_config(json!({}));
    let ep = hub.session(&["sh", "-c", "read x; echo got-$x; sleep 60"]);
    let flood = idle_connections([127, 0, 0, 1], ep.port, 70).await;
    let (closed, open) = closed_at_once(flood).await;
    assert_eq!(
        (closed, open.len()),
        (62, 8),
        "eight stay, the rest are closed"
    );

    let mut phone = ep.phone_from([127, 0, 0, 2].into()).await;
    phone.send(json!({"type": "resume", "lastSeq": 0})).await;
    phone.send(json!({"type": "input", "data": "in\r"})).await;
    phone.until("got-in").await;
    drop(open);
}

/// Unauthenticated connections from many addresses are capped server-wide at 256; over it
/// new ones are closed at once, while an authenticated phone keeps its place and output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_caps_unauthenticated_connections_but_not_phones() {
    let hub = Home::with_config(json!({}));
    let ep = hub.session(&["sh", "-c", "while read x; do echo got-$x; done"]);
    let mut phone = ep.phone().await;
    phone.send(json!({"type": "resume", "lastSeq": 0})).await;

    let mut flood = Vec::new();
    for host in 0..33u8 {
        flood.extend(idle_connections([127, 0, 1, host], ep.port, 8).await);
    }
    let (closed, open) = closed_at_once(flood).await;
    assert_eq!((closed, open.len()), (8, 256), "the server-wide cap");
    let newcomer = idle_connections([127, 0, 2, 1], ep.port, 1).await;
    assert_eq!(
        closed_at_once(newcomer).await.0,
        1,
        "a new address is closed too"
    );

    phone
        .send(json!({"type": "input", "data": "during\r"}))
        .await;
    phone.until("got-during").await;
    drop(open);
}
