//! End-to-end tests of HTTPS (DESIGN.md "Security model"): a configured certificate and
//! Tailscale's, served by the real binary on every web listener, checked with a real TLS
//! client that trusts only the test's own certificate authority.

mod support;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::StatusCode;

use support::{Home, DEADLINE};

/// A certificate authority made for one test, and the certificates it signs.
struct Authority {
    issuer: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

impl Authority {
    fn new() -> Self {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key = rcgen::KeyPair::generate().unwrap();
        Self {
            issuer: rcgen::CertifiedIssuer::self_signed(params, key).unwrap(),
        }
    }

    /// A certificate for `names` valid until 2099-02-01, and its key, as PEM files in
    /// `dir` (`cert.pem`, `key.pem`).
    fn issue(&self, dir: &Path, names: &[&str]) -> (PathBuf, PathBuf) {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = rcgen::CertificateParams::new(names).unwrap();
        params.not_after = rcgen::date_time_ymd(2099, 2, 1);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        std::fs::create_dir_all(dir).unwrap();
        let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        (cert_path, key_path)
    }

    /// Opens a TLS connection to 127.0.0.1:`port`, asking for `name` and trusting only
    /// this authority.
    async fn connect(&self, port: u16, name: &str) -> TlsStream<TcpStream> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from(self.issuer.der().to_vec()))
            .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let name = ServerName::try_from(name.to_string()).unwrap();
        tokio::time::timeout(DEADLINE, connector.connect(name, tcp))
            .await
            .expect("the handshake finishes in time")
            .expect("the server's certificate is trusted")
    }

    /// `GET path` over TLS with `Host: name:port`; the status and the body.
    async fn get(&self, port: u16, name: &str, path: &str) -> (u16, String) {
        let mut tls = self.connect(port, name).await;
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: {name}:{port}\r\nConnection: close\r\n\r\n");
        tls.write_all(request.as_bytes()).await.unwrap();
        let mut reply = Vec::new();
        // The server may close without close_notify after `Connection: close`.
        let _ = tokio::time::timeout(DEADLINE, tls.read_to_end(&mut reply)).await;
        let text = String::from_utf8_lossy(&reply).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head.split(' ').nth(1).and_then(|s| s.parse().ok());
        (status.unwrap_or(0), body.to_string())
    }

    /// Opens a session's WebSocket over TLS with a same-origin `Origin`, proves `key`
    /// (the sealed handshake) and returns the upgrade's status and the first sealed
    /// message the server sends.
    async fn upgrade(&self, port: u16, name: &str, key: &str) -> (StatusCode, Value) {
        use futures_util::{SinkExt, StreamExt};
        use itwillsync_protocol::seal::{ClientHandshake, Key};
        use tokio_tungstenite::tungstenite::Message;
        let tls = self.connect(port, name).await;
        let url = format!("wss://{name}:{port}/ws");
        let mut request = url.into_client_request().unwrap();
        let origin = format!("https://{name}:{port}");
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
        let (mut ws, reply) = tokio_tungstenite::client_async(request, tls)
            .await
            .expect("the upgrade");
        let hello = match ws.next().await {
            Some(Ok(Message::Binary(bytes))) => bytes.to_vec(),
            other => panic!("expected the hello, got {other:?}"),
        };
        let key = Key::from_link_text(key).unwrap();
        let client = ClientHandshake::new(key, &hello, rand::random()).unwrap();
        ws.send(Message::binary(client.answer().to_vec()))
            .await
            .unwrap();
        let proof = match ws.next().await {
            Some(Ok(Message::Binary(bytes))) => bytes.to_vec(),
            other => panic!("expected the server's proof, got {other:?}"),
        };
        let mut channel = client.finish(&proof).expect("the server proves the key");
        let mut first = match ws.next().await {
            Some(Ok(Message::Binary(bytes))) => bytes.to_vec(),
            other => panic!("expected a sealed message, got {other:?}"),
        };
        channel.opener.open(&mut first).unwrap();
        (reply.status(), serde_json::from_slice(&first).unwrap())
    }
}

/// A plain-HTTP `GET path` to 127.0.0.1:`port`: everything the server sends back.
fn plain_get(port: u16, path: &str) -> Vec<u8> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut reply = Vec::new();
    // A reset after the handshake fails is as good as an orderly close here.
    let _ = stream.read_to_end(&mut reply);
    reply
}

/// The session `id`'s entry in `ls --json`.
fn listed(hub: &Home, id: &str) -> Value {
    hub.sessions()
        .into_iter()
        .find(|s| s["id"] == id)
        .expect("the session is listed")
}

fn config_port(hub: &Home, key: &str) -> u16 {
    let text = std::fs::read_to_string(hub.path().join("config.json")).unwrap();
    let config: Value = serde_json::from_str(&text).unwrap();
    config[key].as_u64().unwrap() as u16
}

#[tokio::test]
async fn a_configured_certificate_serves_https_on_every_web_listener() {
    let ca = Authority::new();
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = ca.issue(certs.path(), &["localhost", "127.0.0.1"]);
    let hub = Home::with_config(json!({
        "tlsCert": cert.to_str().unwrap(),
        "tlsKey": key.to_str().unwrap(),
    }));
    let id = hub.new_detached(&["--no-qr", "--", "sleep", "60"]);
    let session = listed(&hub, &id);
    let port = session["port"].as_u64().unwrap() as u16;
    let url = session["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("https://127.0.0.1:{port}/")),
        "{url}"
    );

    let (status, body) = ca.get(port, "127.0.0.1", "/terminal.js").await;
    assert_eq!(status, 200);
    assert!(body.contains("WebSocket") || body.len() > 1000, "{body}");
    let dashboard = config_port(&hub, "dashboardPort");
    let (status, _) = ca.get(dashboard, "localhost", "/connection.js").await;
    assert_eq!(status, 200);

    // The sealed protocol works end to end inside TLS.
    let (_, key) = url.split_once("#k=").unwrap();
    let (status, first) = ca.upgrade(port, "127.0.0.1", key).await;
    assert_eq!(status, StatusCode::SWITCHING_PROTOCOLS);
    assert_eq!(first["type"], "resize", "{first}");

    // Plain HTTP on an HTTPS port gets no page, on either listener.
    for port in [port, dashboard] {
        let reply = plain_get(port, "/terminal.js");
        assert!(!reply.starts_with(b"HTTP/"), "{reply:?}");
        assert!(reply.len() < 64, "{reply:?}");
    }

    let info = hub.ok(&["hub", "info"]);
    let want = format!(
        "web: HTTPS (certificate {}, valid until 2099-02-01)",
        cert.display()
    );
    assert!(info.contains(&want), "{info}");
    assert!(
        info.contains(&format!("dashboard: https://127.0.0.1:{dashboard}/")),
        "{info}"
    );

    // The local API stays plain HTTP on 127.0.0.1.
    let health = plain_get(config_port(&hub, "apiPort"), "/api/health");
    assert!(health.starts_with(b"HTTP/1.1 200"), "{health:?}");
}

/// A stand-in for the Tailscale CLI (not part of itwillsync) in `dir`: `ip -4` prints
/// 127.0.0.1, `status --json` names the machine `box.tail1234.ts.net`, and `cert` copies
/// `dir/issued.crt` and `dir/issued.key` to the files it is given, or fails as on a
/// tailnet without HTTPS certificates when they do not exist. Returns a `PATH` with it.
fn tailscale_stub(dir: &Path) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let stub = dir.join("tailscale");
    let script = format!(
        r#"#!/bin/sh
d='{}'
case "$1" in
ip) echo 127.0.0.1 ;;
status) echo '{{"BackendState": "Running", "Self": {{"DNSName": "box.tail1234.ts.net."}}}}' ;;
cert)
  [ "$2 $4 $6" = "--cert-file --key-file box.tail1234.ts.net" ] || exit 2
  [ -f "$d/issued.crt" ] || {{ echo '500 Internal Server Error: your Tailscale account does not support getting TLS certs' >&2; exit 1; }}
  cp "$d/issued.crt" "$3" && cp "$d/issued.key" "$5" ;;
*) exit 2 ;;
esac
"#,
        dir.display()
    );
    std::fs::write(&stub, script).unwrap();
    std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();
    format!("{}:{}", dir.display(), std::env::var("PATH").unwrap())
}

/// Starts the server of `hub` with the first `new` (it inherits `path`): the new
/// session's URL, and `new`'s stderr.
fn start(hub: &Home, path: &str) -> (Value, String) {
    let out = hub
        .cmd(&["new", "-d", "--no-qr", "--", "sleep", "60"])
        .env("PATH", path)
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{stderr}");
    let id = String::from_utf8(out.stdout).unwrap();
    (listed(hub, id.trim()), stderr)
}

#[tokio::test]
async fn tailscale_mode_serves_the_tailnet_certificate_or_warns_and_stays_plain() {
    let ca = Authority::new();
    let name = "box.tail1234.ts.net";
    let hub = Home::with_config(json!({"networkingMode": "tailscale"}));
    let bin = hub.path().join("bin");
    let path = tailscale_stub(&bin);
    let (cert, key) = ca.issue(&bin, &[name]);
    std::fs::rename(cert, bin.join("issued.crt")).unwrap();
    std::fs::rename(key, bin.join("issued.key")).unwrap();

    let (session, stderr) = start(&hub, &path);
    assert!(!stderr.contains("warning"), "{stderr}");
    let port = session["port"].as_u64().unwrap() as u16;
    let url = session["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("https://{name}:{port}/")), "{url}");
    let (status, _) = ca.get(port, name, "/terminal.js").await;
    assert_eq!(status, 200);
    let dashboard = config_port(&hub, "dashboardPort");
    let (status, _) = ca.get(dashboard, name, "/connection.js").await;
    assert_eq!(status, 200);
    let kept = hub.path().join("tls").join(format!("{name}.key"));
    let mode = std::fs::metadata(&kept).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let info = hub.ok(&["hub", "info"]);
    let crt = hub.path().join("tls").join(format!("{name}.crt"));
    let want = format!(
        "web: HTTPS (certificate {}, valid until 2099-02-01)",
        crt.display()
    );
    assert!(info.contains(&want), "{info}");
    assert!(
        info.contains(&format!("dashboard: https://{name}:{dashboard}/")),
        "{info}"
    );

    // Without HTTPS certificates in the tailnet: plain HTTP and a one-line warning.
    let plain = Home::with_config(json!({"networkingMode": "tailscale"}));
    let path = tailscale_stub(&plain.path().join("bin"));
    let (session, stderr) = start(&plain, &path);
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("warning")).collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(
        stderr.contains("warning: no Tailscale certificate")
            && stderr.contains("does not support getting TLS certs")
            && stderr.contains("plain HTTP"),
        "{stderr}"
    );
    let url = session["url"].as_str().unwrap();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let info = plain.ok(&["hub", "info"]);
    assert!(info.contains("web: plain HTTP ("), "{info}");
}

#[test]
fn an_unreadable_certificate_is_one_line_naming_the_key_and_the_file() {
    let hub = Home::with_config(json!({
        "tlsCert": "/nonexistent/cert.pem",
        "tlsKey": "/nonexistent/key.pem",
    }));
    for args in [
        &["new", "-d", "--no-qr", "--", "sleep", "60"][..],
        &["server"],
    ] {
        let out = hub.run(args);
        assert!(!out.status.success(), "{args:?} succeeded");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains("config.json")
                && stderr.contains("key `tlsCert`")
                && stderr.contains("cannot read /nonexistent/cert.pem"),
            "{stderr}"
        );
    }
    assert!(!hub.socket().exists(), "no server is left behind");

    // A relative path is in the state directory, wherever the server is started from.
    let hub = Home::with_config(json!({"tlsCert": "c.pem", "tlsKey": "k.pem"}));
    let out = hub.cmd(&["server"]).current_dir("/").output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let want = format!("cannot read {}", hub.path().join("c.pem").display());
    assert!(!out.status.success() && stderr.contains(&want), "{stderr}");
}
