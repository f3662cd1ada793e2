//! Phone-side test support: a session's HTTP endpoint and a real WebSocket client.

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use itwillsync_protocol::seal::{Channel, ClientHandshake, Key};

use super::{Home, DEADLINE};

impl Home {
    /// Starts a detached session running `command`; its phone endpoint.
    pub fn session(&self, command: &[&str]) -> Endpoint {
        let mut args = vec!["new", "-d", "--no-qr", "--"];
        args.extend_from_slice(command);
        let id = self.ok(&args).trim().to_string();
        let list: Value = serde_json::from_str(&self.ok(&["ls", "--json"])).unwrap();
        let entry = list
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id.as_str())
            .expect("the new session is listed");
        let port = entry["port"].as_u64().expect("a port") as u16;
        let url = entry["url"].as_str().expect("a url").to_string();
        Endpoint::from_link(&url, port)
    }

    /// The link `itwillsync url ARGS...` prints (its last line).
    pub fn link(&self, args: &[&str]) -> String {
        let mut all = vec!["url"];
        all.extend_from_slice(args);
        let out = self.ok(&all);
        out.lines().last().expect("a link").trim().to_string()
    }
}

/// A session's (or the dashboard's) port and key.
pub struct Endpoint {
    pub port: u16,
    /// The key as in a link's fragment (base64url).
    pub key: String,
}

/// Why a WebSocket did not become a phone: the HTTP status of a refused upgrade, or the
/// close code the server sent during the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    Http(u16),
    Closed(u16),
}

/// A raw HTTP/1.1 response: status and head.
pub struct Reply {
    pub status: u16,
    pub head: String,
    pub body: String,
}

/// A TCP connection to `127.0.0.1:port` from the address `source`.
pub async fn connect_from(source: std::net::IpAddr, port: u16) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind((source, 0).into()).unwrap();
    socket
        .connect(([127, 0, 0, 1], port).into())
        .await
        .expect("connected")
}

/// A fresh random nonce for a test client.
fn nonce() -> [u8; 32] {
    rand::random()
}

impl Endpoint {
    /// A GET with extra header lines (each ending in `\r\n`).
    pub fn get(&self, path: &str, headers: &str) -> Reply {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n{headers}\r\n",
            self.port
        );
        stream.write_all(request.as_bytes()).unwrap();
        let mut bytes = Vec::new();
        stream.read_to_end(&mut bytes).unwrap();
        // A gzip'ed body is not text: it is kept lossily, for its length.
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap();
        Reply {
            status,
            head: head.to_string(),
            body: body.to_string(),
        }
    }

    /// The endpoint of a link `http://127.0.0.1:PORT/#k=KEY` (or `#r=`).
    pub fn from_link(link: &str, port: u16) -> Self {
        let (base, fragment) = link.split_once('#').expect("a fragment");
        assert_eq!(base, format!("http://127.0.0.1:{port}/"));
        let key = fragment
            .strip_prefix("k=")
            .or_else(|| fragment.strip_prefix("r="))
            .expect("a key in the fragment");
        assert_eq!(key.len(), 43, "a 256-bit key in base64url");
        Endpoint {
            port,
            key: key.to_string(),
        }
    }

    /// Opens the WebSocket on `/ws` (optionally with an `Origin`) and proves `key`.
    pub async fn try_phone(&self, key: &str, origin: Option<&str>) -> Result<Phone, Refused> {
        self.try_phone_at("/ws", key, origin).await
    }

    /// Like [`Endpoint::try_phone`] on another path.
    pub async fn try_phone_at(
        &self,
        path: &str,
        key: &str,
        origin: Option<&str>,
    ) -> Result<Phone, Refused> {
        self.try_phone_from(None, path, key, origin).await
    }

    /// A phone with the right key connecting from `source` (a loopback address such as
    /// 127.0.0.2: the server counts connections per address).
    pub async fn phone_from(&self, source: std::net::IpAddr) -> Phone {
        let key = self.key.clone();
        self.try_phone_from(Some(source), "/ws", &key, None)
            .await
            .expect("the key is accepted")
    }

    async fn try_phone_from(
        &self,
        source: Option<std::net::IpAddr>,
        path: &str,
        key: &str,
        origin: Option<&str>,
    ) -> Result<Phone, Refused> {
        let url = format!("ws://127.0.0.1:{}{path}", self.port);
        let mut request = url.into_client_request().unwrap();
        if let Some(origin) = origin {
            request
                .headers_mut()
                .insert("origin", origin.parse().unwrap());
        }
        let connect = async {
            match source {
                None => tokio_tungstenite::connect_async(request).await,
                Some(source) => {
                    let tcp = connect_from(source, self.port).await;
                    tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(tcp)).await
                }
            }
        };
        // A port whose listener nobody serves takes the connection into its backlog and
        // never answers: a failure, not a hang.
        let connected = tokio::time::timeout(DEADLINE, connect)
            .await
            .expect("the WebSocket handshake within the deadline");
        let mut ws = match connected {
            Ok((ws, _)) => ws,
            Err(tokio_tungstenite::tungstenite::Error::Http(reply)) => {
                return Err(Refused::Http(reply.status().as_u16()))
            }
            Err(e) => panic!("WebSocket connect failed: {e}"),
        };
        // A wrong key still makes a well-formed proof: of the wrong key.
        let key = Key::from_link_text(key).unwrap_or(Key::from_bytes([0; 32]));
        let hello = match binary(&mut ws).await {
            Ok(hello) => hello,
            Err(code) => return Err(Refused::Closed(code)),
        };
        let client = ClientHandshake::new(key, &hello, nonce()).expect("a hello");
        ws.send(Message::binary(client.answer().to_vec()))
            .await
            .unwrap();
        let proof = match binary(&mut ws).await {
            Ok(proof) => proof,
            Err(code) => return Err(Refused::Closed(code)),
        };
        let channel = client.finish(&proof).expect("the server proves the key");
        Ok(Phone { ws, channel })
    }

    /// A phone with the right key.
    pub async fn phone(&self) -> Phone {
        let key = self.key.clone();
        self.try_phone(&key, None)
            .await
            .expect("the key is accepted")
    }
}

/// The next binary message during the handshake, or the close code.
async fn binary(ws: &mut WebSocketStream<MaybeTlsStream<TcpStream>>) -> Result<Vec<u8>, u16> {
    loop {
        match tokio::time::timeout(DEADLINE, ws.next())
            .await
            .expect("a handshake message")
        {
            Some(Ok(Message::Binary(bytes))) => return Ok(bytes.to_vec()),
            Some(Ok(Message::Close(frame))) => {
                return Err(frame.map_or(1005, |f| u16::from(f.code)))
            }
            Some(Ok(_)) => continue,
            other => panic!("the handshake failed: {other:?}"),
        }
    }
}

/// A `data` message.
#[derive(Debug, Clone)]
pub struct Data {
    pub data: String,
    pub seq: u64,
}

/// A WebSocket client speaking the sealed phone protocol.
pub struct Phone {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    channel: Channel,
}

impl Phone {
    /// Sends a JSON message, sealed.
    pub async fn send(&mut self, value: Value) {
        let sealed = self.seal(value);
        self.ws.send(Message::binary(sealed)).await.unwrap();
    }

    /// Sends any text, sealed (for malformed messages).
    pub async fn send_text(&mut self, text: &str) {
        let mut bytes = text.as_bytes().to_vec();
        self.channel.sealer.seal(&mut bytes).unwrap();
        self.ws.send(Message::binary(bytes)).await.unwrap();
    }

    /// Seals a JSON message without sending it (for replaying or altering it).
    pub fn seal(&mut self, value: Value) -> Vec<u8> {
        let mut bytes = value.to_string().into_bytes();
        self.channel.sealer.seal(&mut bytes).unwrap();
        bytes
    }

    /// The next message as JSON, or `None` when nothing arrives within `wait`.
    pub async fn next_within(&mut self, wait: Duration) -> Option<Value> {
        loop {
            let msg = tokio::time::timeout(wait, self.ws.next()).await.ok()?;
            match msg {
                Some(Ok(Message::Binary(bytes))) => {
                    let mut bytes = bytes.to_vec();
                    if self.channel.opener.open(&mut bytes).is_err() {
                        return Some(json!({"type": "error", "error": "a message did not open"}));
                    }
                    return Some(serde_json::from_slice(&bytes).unwrap());
                }
                Some(Ok(Message::Text(text))) => {
                    return Some(
                        json!({"type": "error", "error": format!("unsealed text: {text}")}),
                    )
                }
                Some(Ok(Message::Close(frame))) => {
                    return Some(json!({"type": "close", "code": frame.map(|f| u16::from(f.code))}))
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Some(json!({"type": "error", "error": e.to_string()})),
                None => return Some(json!({"type": "end"})),
            }
        }
    }

    /// The next text message; fails the test after [`DEADLINE`].
    pub async fn next(&mut self) -> Value {
        self.next_within(DEADLINE)
            .await
            .expect("a message before the deadline")
    }

    /// A repaint: `data` messages up to the first whose `seq` is not -1 (the pieces of one
    /// repaint); their text, that seq, and the JSON length of each message.
    pub async fn repaint(&mut self) -> (String, u64, Vec<usize>) {
        let (mut text, mut sizes) = (String::new(), Vec::new());
        loop {
            let msg = self.next().await;
            match msg["type"].as_str() {
                Some("data") => {
                    sizes.push(msg.to_string().len());
                    text.push_str(msg["data"].as_str().unwrap());
                    if let Some(seq) = msg["seq"].as_u64() {
                        return (text, seq, sizes);
                    }
                    assert_eq!(msg["seq"], -1, "a piece before the last");
                }
                Some("resize" | "session") => continue,
                _ => panic!("expected data, got {msg}"),
            }
        }
    }

    /// The next `data` message, skipping size updates.
    pub async fn data(&mut self) -> Data {
        loop {
            let msg = self.next().await;
            match msg["type"].as_str() {
                Some("data") => {
                    return Data {
                        data: msg["data"].as_str().unwrap().to_string(),
                        seq: msg["seq"].as_u64().unwrap(),
                    }
                }
                Some("resize" | "session") => continue,
                _ => panic!("expected data, got {msg}"),
            }
        }
    }

    /// Reads `data` until one ends with `marker`, asserting that every byte arrives, in
    /// order (no repaint); returns the last seq.
    pub async fn every_byte_until(&mut self, marker: &str) -> u64 {
        let mut seq = 0u64;
        loop {
            let d = self.data().await;
            assert_eq!(d.seq, seq + d.data.len() as u64, "every byte, in order");
            seq = d.seq;
            if d.data.ends_with(marker) {
                return seq;
            }
        }
    }

    /// Reads `data` until `marker` arrives (at the end of output or inside a repaint);
    /// whether the stream jumped forward on the way (a repaint replaced missed output).
    pub async fn repainted_before(&mut self, marker: &str) -> bool {
        let (mut seq, mut repainted) = (0u64, false);
        loop {
            let d = self.data().await;
            repainted |= d.seq != seq + d.data.len() as u64;
            seq = d.seq;
            if d.data.ends_with(marker) || d.data.contains(&format!("{marker}\x1b")) {
                return repainted;
            }
        }
    }

    /// Reads `data` until the accumulated text contains `needle`; returns it all and
    /// the last seq.
    pub async fn until(&mut self, needle: &str) -> (String, u64) {
        let mut text = String::new();
        let mut seq = 0;
        while !text.contains(needle) {
            let d = self.data().await;
            text.push_str(&d.data);
            seq = d.seq;
        }
        (text, seq)
    }
}
