//! Links and the seal (DESIGN.md "Security model", docs/PROTOCOL.md): forged, replayed
//! and foreign messages end only their own connection; read-only links never type or
//! resize; rotating a link disconnects its clients and the old link stops working.

mod support;

use std::time::Duration;

use futures_util::SinkExt;
use serde_json::{json, Value};
use support::{Endpoint, Home, Phone, Refused};
use tokio_tungstenite::tungstenite::Message;

/// How long "nothing arrives" is watched for.
const QUIET: Duration = Duration::from_millis(500);

/// A phone that has resumed from the start and seen `marker`.
async fn resumed(ep: &Endpoint, marker: &str) -> Phone {
    let mut phone = ep.phone().await;
    phone.send(json!({"type": "resume", "lastSeq": 0})).await;
    phone.until(marker).await;
    phone
}

/// Reads until the connection ends; the close code.
async fn closed(phone: &mut Phone) -> Value {
    loop {
        let msg = phone.next().await;
        if matches!(msg["type"].as_str(), Some("close" | "end" | "error")) {
            return msg;
        }
    }
}

#[tokio::test]
async fn forged_replayed_and_foreign_messages_end_only_their_connection() {
    let hub = Home::new();
    let ep = hub.session(&["sh", "-c", "echo ready; exec cat"]);
    let mut witness = resumed(&ep, "ready").await;

    // A replayed message: the same sealed input twice.
    let mut phone = resumed(&ep, "ready").await;
    let sealed = phone.seal(json!({"type": "input", "data": "once\r"}));
    phone
        .ws
        .send(Message::binary(sealed.clone()))
        .await
        .unwrap();
    phone.ws.send(Message::binary(sealed)).await.unwrap();
    assert_eq!(closed(&mut phone).await["code"], 1008);

    // A flipped bit.
    let mut phone = resumed(&ep, "ready").await;
    let mut sealed = phone.seal(json!({"type": "input", "data": "flipped\r"}));
    sealed[2] ^= 0x10;
    phone.ws.send(Message::binary(sealed)).await.unwrap();
    assert_eq!(closed(&mut phone).await["code"], 1008);

    // A message sealed for another connection (same key, other nonces).
    let mut other = resumed(&ep, "ready").await;
    let mut phone = resumed(&ep, "ready").await;
    let foreign = other.seal(json!({"type": "input", "data": "foreign\r"}));
    phone.ws.send(Message::binary(foreign)).await.unwrap();
    assert_eq!(closed(&mut phone).await["code"], 1008);

    // Unsealed text, as the old protocol sent it.
    let mut phone = resumed(&ep, "ready").await;
    let text = json!({"type": "input", "data": "plain\r"}).to_string();
    phone.ws.send(Message::text(text)).await.unwrap();
    assert_eq!(closed(&mut phone).await["code"], 1008);

    // A wrong key never gets as far as a message.
    let wrong = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    assert_eq!(
        ep.try_phone(wrong, None).await.err(),
        Some(Refused::Closed(4001))
    );

    // The session and the other clients carry on; only the replay's first copy was typed.
    witness
        .send(json!({"type": "input", "data": "after\r"}))
        .await;
    // The terminal's echo and `cat`'s copy, in whatever interleaving: once both copies of
    // `after` are in, everything typed before it is too.
    let mut text = String::new();
    while text.matches("after").count() < 2 {
        text.push_str(&witness.data().await.data);
    }
    assert_eq!(
        text.matches("once").count(),
        2,
        "typed once, echoed once: {text:?}"
    );
    for never in ["flipped", "foreign", "plain"] {
        assert!(
            !text.contains(never),
            "{never} reached the program: {text:?}"
        );
    }
    drop(other); // its sealer moved past the stolen message: it is out of step now
}

#[tokio::test]
async fn a_read_only_link_watches_but_never_types_or_resizes() {
    let hub = Home::new();
    let ep = hub.session(&["sh", "-c", "echo ready; exec cat"]);
    let link = hub.link(&["sh", "--read-only"]);
    assert!(link.contains("/#r="), "{link}");
    let watcher_ep = Endpoint::from_link(&link, ep.port);
    assert_ne!(watcher_ep.key, ep.key);

    let mut full = resumed(&ep, "ready").await;
    let mut watcher = watcher_ep.phone().await;
    let size = watcher.next().await;
    assert_eq!(size["type"], "resize");
    let about = watcher.next().await;
    assert_eq!(about["readOnly"], true);
    assert!(about.get("readKey").is_none(), "{about}");
    watcher.send(json!({"type": "resume", "lastSeq": 0})).await;
    watcher.until("ready").await;

    watcher
        .send(json!({"type": "input", "data": "sneaky\r"}))
        .await;
    watcher
        .send(json!({"type": "resize", "cols": 33, "rows": 11, "force": true}))
        .await;
    full.send(json!({"type": "input", "data": "owner\r"})).await;
    // The watcher sees the owner's typing, and nothing of its own.
    let (text, _) = watcher.until("owner\r\nowner").await;
    assert!(!text.contains("sneaky"), "{text:?}");
    let (text, _) = full.until("owner\r\nowner").await;
    assert!(!text.contains("sneaky"), "{text:?}");
    while let Some(msg) = full.next_within(QUIET).await {
        assert!(
            msg["type"] != "resize" || msg["cols"] != 33,
            "resized: {msg}"
        );
    }
    let listed = &hub.sessions()[0];
    assert_eq!(
        listed["clientKinds"],
        json!({"terminal": 0, "phone": 1, "readOnly": 1})
    );
}

#[tokio::test]
async fn rotating_a_link_disconnects_its_clients_and_the_old_link_fails() {
    let hub = Home::new();
    let ep = hub.session(&["sh", "-c", "echo ready; exec cat"]);
    let read_link = hub.link(&["sh", "--read-only"]);
    let watcher_ep = Endpoint::from_link(&read_link, ep.port);
    let mut old = resumed(&ep, "ready").await;
    let mut watcher = resumed(&watcher_ep, "ready").await;

    let new_link = hub.link(&["sh", "--rotate"]);
    assert!(!new_link.contains(&ep.key));
    assert_eq!(closed(&mut old).await["code"], 4002);
    assert_eq!(ep.phone_refused().await, Refused::Closed(4001));
    // The read-only link is another key: rotating the full one leaves it alone.
    watcher.send(json!({"type": "ack", "seq": 0})).await;
    assert_eq!(watcher.next_within(QUIET).await, None);
    let fresh = Endpoint::from_link(&new_link, ep.port);
    let mut phone = resumed(&fresh, "ready").await;
    phone
        .send(json!({"type": "input", "data": "new key\r"}))
        .await;
    phone.until("new key\r\nnew key").await;

    // The read-only link rotates on its own.
    let new_read = hub.link(&["sh", "--read-only", "--rotate"]);
    assert_ne!(new_read, read_link);
    assert_eq!(closed(&mut watcher).await["code"], 4002);
    assert!(
        phone.next_within(QUIET).await.is_none(),
        "the full key is untouched"
    );

    // The dashboard's master key too.
    let master = std::fs::read_to_string(hub.path().join("master.token")).unwrap();
    let rotated = hub.ok(&["hub", "rotate"]);
    let after = std::fs::read_to_string(hub.path().join("master.token")).unwrap();
    assert_ne!(master, after);
    let key = itwillsync_protocol::seal::Key::from_hex(after.trim()).unwrap();
    assert!(
        rotated.contains(&format!("#k={}", key.to_link_text())),
        "{rotated}"
    );
    let hub_json: Value =
        serde_json::from_str(&std::fs::read_to_string(hub.path().join("hub.json")).unwrap())
            .unwrap();
    assert_eq!(hub_json["masterToken"], after.trim());
}

impl Endpoint {
    /// How the server refuses this endpoint's key.
    async fn phone_refused(&self) -> Refused {
        let key = self.key.clone();
        self.try_phone(&key, None).await.err().expect("refused")
    }
}
