//! The accept loop both HTTP listeners run (a session's phone port and the dashboard):
//! TCP_NODELAY, a place for each connection (`admission`: unauthenticated ones are capped
//! per address and server-wide, and closed at once over a cap), one task per connection
//! serving HTTP/1.1 with upgrades, until a stop condition resolves. Connections already
//! open finish on their own.
//!
//! With a TLS acceptor (`tls::Transport`) the port speaks HTTPS only: the handshake runs in
//! the connection's task, bounded by [`HANDSHAKE_TIMEOUT`] and counted as a guest, so a
//! slow or hostile client never holds up the accept loop. A connection whose
//! handshake fails (plain HTTP on an HTTPS port, say) is closed without an answer.

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::Request;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use super::admission::{Admission, Pass, Refusal};
use super::Reply;

/// How long a client may take to send a request's headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to complete the TLS handshake: the same patience as for
/// headers, which on a TLS port come only after it. (Shorter in unit tests, which wait
/// for it in real time.)
const HANDSHAKE_TIMEOUT: Duration = if cfg!(test) {
    Duration::from_millis(300)
} else {
    Duration::from_secs(10)
};

static TOO_MANY_FROM: crate::throttle::Throttle = crate::throttle::Throttle::new();
static TOO_MANY: crate::throttle::Throttle = crate::throttle::Throttle::new();
static ACCEPT_FAILED: crate::throttle::Throttle = crate::throttle::Throttle::new();

/// Accepts on `listener` until `until` resolves, answering each request with `route`,
/// over TLS when `tls` is given. `name` labels the log lines (for example `phone listener
/// of session 1a2b...`).
pub(crate) async fn serve<R>(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    name: String,
    until: impl Future<Output = ()>,
    route: R,
) where
    R: Fn(Request<Incoming>, IpAddr, &Pass) -> Reply + Clone + Send + Sync + 'static,
{
    let admission = Admission::new();
    tokio::pin!(until);
    // During a hand-over nothing is accepted: connections (phones told to reconnect)
    // wait in the backlog for the new process.
    let mut paused = crate::handover::web_paused();
    loop {
        let accepting = !*paused.borrow_and_update();
        tokio::select! {
            // The pause first: a phone closed for a hand-over reconnects at once (see
            // `server::run`).
            biased;
            _ = paused.changed() => {}
            accepted = listener.accept(), if accepting => match accepted {
                Ok((stream, peer)) => {
                    // Terminal output and keystrokes are many small writes; Nagle's
                    // algorithm would hold each one back for the previous one's ACK.
                    if let Err(e) = stream.set_nodelay(true) {
                        tracing::debug!("cannot set TCP_NODELAY: {e}");
                    }
                    let pass = match admission.enter(peer.ip()) {
                        Ok(guest) => Pass::new(admission.clone(), peer.ip(), guest),
                        Err(Refusal::Address) => {
                            TOO_MANY_FROM.hit(|more| tracing::warn!(%peer, "{name}: too many unauthenticated connections from one address; closed one ({more} more)"));
                            continue;
                        }
                        Err(Refusal::Server) => {
                            TOO_MANY.hit(|more| tracing::warn!(%peer, "{name}: too many unauthenticated connections on the server; closed one ({more} more)"));
                            continue;
                        }
                    };
                    tokio::spawn(connection(stream, tls.clone(), peer, pass, route.clone()));
                }
                Err(e) => {
                    // Usually out of file descriptors: wait a moment rather than spin.
                    ACCEPT_FAILED.hit(|more| tracing::warn!("{name}: accept failed: {e} ({more} more)"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = &mut until => break,
        }
    }
    tracing::debug!("{name} closed");
}

/// One accepted connection: the TLS handshake when `tls` is given, then HTTP.
async fn connection<R>(
    stream: TcpStream,
    tls: Option<TlsAcceptor>,
    peer: SocketAddr,
    pass: Arc<Pass>,
    route: R,
) where
    R: Fn(Request<Incoming>, IpAddr, &Pass) -> Reply + Send + Sync + 'static,
{
    let Some(acceptor) = tls else {
        return http(stream, peer, pass, route).await;
    };
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => http(stream, peer, pass, route).await,
        Ok(Err(e)) => tracing::debug!(%peer, "TLS handshake failed: {e}"),
        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
    }
}

/// Serves HTTP/1.1 (with upgrades) on `io` until the client or the server closes it. Once
/// a plain request is answered the connection stops counting as a guest (an upgrade took
/// its place with it).
async fn http<I, R>(io: I, peer: SocketAddr, pass: Arc<Pass>, route: R)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    R: Fn(Request<Incoming>, IpAddr, &Pass) -> Reply + Send + Sync + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        let response = route(req, peer.ip(), &pass);
        pass.answered();
        async move { Ok::<_, Infallible>(response) }
    });
    let served = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades()
        .await;
    if let Err(e) = served {
        tracing::debug!(%peer, "HTTP connection ended: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::StatusCode;
    use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer, ServerName};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A TLS acceptor for a fresh self-signed `localhost` certificate, and that certificate.
    fn acceptor() -> (TlsAcceptor, CertificateDer<'static>) {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        let cert = params.self_signed(&key).unwrap().der().clone();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.clone()],
                PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
            )
            .unwrap();
        (TlsAcceptor::from(Arc::new(config)), cert)
    }

    async fn https_get(port: u16, cert: CertificateDer<'static>) -> String {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let mut tls = connector.connect(name, tcp).await.unwrap();
        let request = "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
        tls.write_all(request.as_bytes()).await.unwrap();
        let mut reply = Vec::new();
        let _ = tls.read_to_end(&mut reply).await; // may end without close_notify
        String::from_utf8_lossy(&reply).into_owned()
    }

    #[tokio::test]
    async fn a_stalled_handshake_holds_up_nobody_and_plain_http_gets_no_page() {
        let (tls, cert) = acceptor();
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let until = async move {
            let _ = stopped.await;
        };
        let route = |_, _, _: &Pass| super::super::plain(StatusCode::OK, "served");
        tokio::spawn(serve(listener, Some(tls), "test".into(), until, route));

        // A client that connects and never speaks does not delay the next one...
        let mut silent = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let reply = tokio::time::timeout(Duration::from_secs(5), https_get(port, cert))
            .await
            .expect("served while another handshake stalls");
        assert!(
            reply.starts_with("HTTP/1.1 200") && reply.ends_with("served"),
            "{reply}"
        );
        // ...and is closed once the handshake timeout passes.
        let mut buf = [0u8; 16];
        let read = tokio::time::timeout(Duration::from_secs(5), silent.read(&mut buf)).await;
        assert_eq!(read.expect("closed in time").unwrap_or(0), 0);

        // Plain HTTP on the TLS port: the handshake fails and no page is served.
        let mut plain = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        plain
            .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .unwrap();
        let mut reply = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), plain.read_to_end(&mut reply)).await;
        assert!(
            !reply.starts_with(b"HTTP/") && reply.len() < 64,
            "{reply:?}"
        );
        let _ = stop.send(());
    }
}
