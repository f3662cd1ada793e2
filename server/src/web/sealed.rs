//! A WebSocket on a web port after the sealed handshake (`docs/PROTOCOL.md`, "Sealed
//! protocol"): [`accept`] proves a key and splits the socket into a [`Sender`] that seals
//! and a [`Receiver`] that opens. The phone loop and the dashboard loop speak JSON through
//! them and never see a key or a ciphertext.
//!
//! Handshake failures are counted against the address (`auth`); a blocked address still
//! gets its upgrade and is then closed with 4029, so a page can say for how long.

use std::net::IpAddr;
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use hyper_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use hyper_tungstenite::tungstenite::protocol::CloseFrame;
use hyper_tungstenite::tungstenite::{Error as WsError, Message};
use hyper_tungstenite::HyperWebsocketStream;
use itwillsync_protocol::seal::{Key, Opener, Sealer, ServerHandshake, NONCE_LEN};
use rand::RngExt;

use super::admission::{Guest, Member};
use super::auth::Auth;
use super::keys::{Keys, Revocation, Role};

/// How long a client has to prove a key after the upgrade.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a close may take to go out; a client that does not read cannot hold us.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Close codes of the sealed protocol (PROTOCOL.md, "Close codes").
pub(crate) mod close {
    /// The proof matched no key.
    pub const UNAUTHORIZED: u16 = 4001;
    /// The key this connection proved was rotated.
    pub const REVOKED: u16 = 4002;
    /// The session is no longer served on this port: another machine's, and that
    /// machine was removed from this server.
    pub const GONE: u16 = 4004;
    /// No proof within the time limit.
    pub const HANDSHAKE_TIMEOUT: u16 = 4008;
    /// Too many failed proofs from this address.
    pub const BLOCKED: u16 = 4029;
    /// The key was proved, but the port has no place left for another connection
    /// (`admission::MEMBERS`); the standard "try again later".
    pub const FULL: u16 = 1013;
}

/// An established connection: what it may do, its revocation watch, and its two halves.
pub(crate) struct Connection {
    /// The role of the key it proved.
    pub role: Role,
    /// Resolves when that key is rotated.
    pub revocation: Revocation,
    /// The sealing half.
    pub sender: Sender,
    /// The opening half.
    pub receiver: Receiver,
}

/// Runs the handshake on a freshly upgraded socket from `ip`, which holds `guest`'s place
/// until then, against `keys`. `None` when the client failed (its socket is closed with
/// the reason, and the failure counted) or went away. Once a key is proved the connection
/// becomes a member (the guest place is given back) or, with none left, is closed (1013).
pub(crate) async fn accept(
    ws: HyperWebsocketStream,
    ip: IpAddr,
    guest: Guest,
    auth: &Auth,
    keys: &Keys,
) -> Option<Connection> {
    let (mut sink, mut stream) = ws.split();
    if let Some(left) = auth.blocked_for(ip) {
        let reason = format!("blocked for {} s", left.as_secs().max(1));
        close(&mut sink, close::BLOCKED, reason).await;
        return None;
    }
    let mut ns = [0u8; NONCE_LEN];
    rand::rng().fill(&mut ns);
    let handshake = ServerHandshake::new(ns);
    let hello = Message::binary(handshake.hello().to_vec());
    if sink.send(hello).await.is_err() {
        return None;
    }
    let answer = match tokio::time::timeout(HANDSHAKE_TIMEOUT, first_binary(&mut stream)).await {
        Ok(Some(answer)) => answer,
        Ok(None) => return None, // gone before answering: not an attempt
        Err(_) => {
            auth.failed(ip);
            tracing::debug!(%ip, "no key proved within 10 s");
            close(
                &mut sink,
                close::HANDSHAKE_TIMEOUT,
                "handshake timeout".into(),
            )
            .await;
            return None;
        }
    };
    let (accepted, generations) = keys.accepted();
    let candidates: Vec<&Key> = accepted.iter().map(|(_, key)| key).collect();
    let (index, proof, channel) = match handshake.accept(&candidates, &answer) {
        Ok(accepted) => accepted,
        Err(e) => {
            auth.failed(ip);
            tracing::info!(%ip, "refused a connection: {e}");
            close(&mut sink, close::UNAUTHORIZED, "unauthorized".into()).await;
            return None;
        }
    };
    auth.succeeded(ip);
    let Some(member) = guest.admit() else {
        tracing::warn!(%ip, "no place for another authenticated connection");
        close(&mut sink, close::FULL, "too many connections".into()).await;
        return None;
    };
    if sink.send(Message::binary(proof.to_vec())).await.is_err() {
        return None;
    }
    let role = accepted[index].0;
    Some(Connection {
        role,
        revocation: keys.revocation(role, generations),
        sender: Sender {
            sink,
            sealer: channel.sealer,
            _place: member,
        },
        receiver: Receiver {
            stream,
            opener: channel.opener,
        },
    })
}

/// The next binary message, skipping control frames; `None` if the socket ends or the
/// client sends anything else (which then fails its proof).
async fn first_binary(stream: &mut SplitStream<HyperWebsocketStream>) -> Option<Vec<u8>> {
    loop {
        match stream.next().await? {
            Ok(Message::Binary(bytes)) => return Some(bytes.to_vec()),
            Ok(Message::Text(_)) => return Some(Vec::new()), // a malformed answer
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

async fn close(sink: &mut SplitSink<HyperWebsocketStream, Message>, code: u16, reason: String) {
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: reason.into(),
    };
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, sink.send(Message::Close(Some(frame)))).await;
}

/// Seals and sends JSON messages. It lives as long as the connection, so it holds the
/// connection's member place.
pub(crate) struct Sender {
    sink: SplitSink<HyperWebsocketStream, Message>,
    sealer: Sealer,
    _place: Member,
}

impl Sender {
    /// Seals `json` (one JSON text, UTF-8) in place and sends it as one binary message.
    pub async fn send(&mut self, mut json: Vec<u8>) -> anyhow::Result<()> {
        self.sealer.seal(&mut json)?;
        self.sink.send(Message::binary(json)).await?;
        Ok(())
    }

    /// Sends an (unsealed, empty) ping.
    pub async fn ping(&mut self) -> anyhow::Result<()> {
        self.sink.send(Message::Ping(Default::default())).await?;
        Ok(())
    }

    /// Starts the closing handshake with `code`; bounded in time.
    pub async fn close(&mut self, code: u16, reason: &str) {
        close(&mut self.sink, code, reason.to_string()).await;
    }
}

/// What arrived on a sealed connection.
pub(crate) enum Received {
    /// One opened JSON text.
    Message(Vec<u8>),
    /// A ping or pong: the client is alive.
    Heard,
    /// A message over the size limit: close with 1009.
    TooBig,
    /// A message that did not open, or an unsealed text message: close with 1008.
    Forged,
    /// The client closed, or the socket failed.
    Closed,
}

/// Receives and opens messages.
pub(crate) struct Receiver {
    stream: SplitStream<HyperWebsocketStream>,
    opener: Opener,
}

impl Receiver {
    /// The next message.
    pub async fn next(&mut self) -> Received {
        match self.stream.next().await {
            Some(Ok(Message::Binary(bytes))) => {
                let mut bytes = bytes.to_vec();
                match self.opener.open(&mut bytes) {
                    Ok(()) => Received::Message(bytes),
                    Err(_) => Received::Forged,
                }
            }
            Some(Ok(Message::Text(_))) => Received::Forged,
            Some(Ok(Message::Close(_))) | None => Received::Closed,
            Some(Ok(_)) => Received::Heard,
            Some(Err(WsError::Capacity(_))) => Received::TooBig,
            Some(Err(e)) => {
                tracing::debug!("WebSocket read failed: {e}");
                Received::Closed
            }
        }
    }
}
