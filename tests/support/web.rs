//! Phone-side test support: a session's HTTP endpoint and a real WebSocket client.

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

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
        let token = url.split("token=").nth(1).expect("a token").to_string();
        assert_eq!(url, format!("http://127.0.0.1:{port}/?token={token}"));
        Endpoint { port, token }
    }
}

/// A session's phone port and token.
pub struct Endpoint {
    pub port: u16,
    pub token: String,
}

/// A raw HTTP/1.1 response: status and head.
pub struct Reply {
    pub status: u16,
    pub head: String,
    pub body: String,
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
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap();
        Reply {
            status,
            head: head.to_string(),
            body: body.to_string(),
        }
    }

    /// Opens the WebSocket with `?token=` and optional extra headers; the HTTP status
    /// when the upgrade is refused.
    pub async fn try_phone(&self, token: &str, origin: Option<&str>) -> Result<Phone, u16> {
        self.try_phone_at("/ws", token, origin).await
    }

    /// Like [`Endpoint::try_phone`] on another path.
    pub async fn try_phone_at(
        &self,
        path: &str,
        token: &str,
        origin: Option<&str>,
    ) -> Result<Phone, u16> {
        let url = format!("ws://127.0.0.1:{}{path}?token={token}", self.port);
        let mut request = url.into_client_request().unwrap();
        if let Some(origin) = origin {
            request
                .headers_mut()
                .insert("origin", origin.parse().unwrap());
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((ws, _)) => Ok(Phone { ws }),
            Err(tokio_tungstenite::tungstenite::Error::Http(reply)) => Err(reply.status().as_u16()),
            Err(e) => panic!("WebSocket connect failed: {e}"),
        }
    }

    /// A phone with the right token.
    pub async fn phone(&self) -> Phone {
        let token = self.token.clone();
        self.try_phone(&token, None)
            .await
            .expect("upgrade accepted")
    }
}

/// A `data` message.
#[derive(Debug, Clone)]
pub struct Data {
    pub data: String,
    pub seq: u64,
}

/// A WebSocket client speaking the phone protocol.
pub struct Phone {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Phone {
    /// Sends a JSON message.
    pub async fn send(&mut self, value: Value) {
        self.ws
            .send(Message::text(value.to_string()))
            .await
            .unwrap();
    }

    /// The next text message as JSON, or `None` when nothing arrives within `wait`.
    pub async fn next_within(&mut self, wait: Duration) -> Option<Value> {
        loop {
            let msg = tokio::time::timeout(wait, self.ws.next()).await.ok()?;
            match msg {
                Some(Ok(Message::Text(text))) => return Some(serde_json::from_str(&text).unwrap()),
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
                Some("resize") => continue,
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
