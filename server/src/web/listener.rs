//! The accept loop both HTTP listeners run (a session's phone port and the dashboard):
//! TCP_NODELAY, at most [`MAX_CONNECTIONS`] open connections, one task per connection
//! serving HTTP/1.1 with upgrades, until a stop condition resolves. Connections already
//! open finish on their own.

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::Request;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::Reply;

/// Open connections per listener (pages, files, WebSockets); more are refused at accept.
pub(crate) const MAX_CONNECTIONS: usize = 64;
/// How long a client may take to send a request's headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Held by a connection (and by a WebSocket upgraded from it) for its whole life.
pub(crate) type Permit = Arc<OwnedSemaphorePermit>;

/// Accepts on `listener` until `until` resolves, answering each request with `route`.
/// `name` labels the log lines (for example `phone listener of session 1a2b...`).
pub(crate) async fn serve<R>(
    listener: TcpListener,
    name: String,
    until: impl Future<Output = ()>,
    route: R,
) where
    R: Fn(Request<Incoming>, IpAddr, Permit) -> Reply + Clone + Send + Sync + 'static,
{
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    tokio::pin!(until);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    // Terminal output and keystrokes are many small writes; Nagle's
                    // algorithm would hold each one back for the previous one's ACK.
                    if let Err(e) = stream.set_nodelay(true) {
                        tracing::debug!("cannot set TCP_NODELAY: {e}");
                    }
                    let Ok(permit) = slots.clone().try_acquire_owned() else {
                        tracing::warn!(%peer, "{name}: too many connections; refused one");
                        continue;
                    };
                    tokio::spawn(connection(stream, peer, Arc::new(permit), route.clone()));
                }
                Err(e) => {
                    // Usually out of file descriptors: wait a moment rather than spin.
                    tracing::warn!("{name}: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = &mut until => break,
        }
    }
    tracing::debug!("{name} closed");
}

async fn connection<R>(stream: TcpStream, peer: SocketAddr, permit: Permit, route: R)
where
    R: Fn(Request<Incoming>, IpAddr, Permit) -> Reply + Send + Sync + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        let response = route(req, peer.ip(), permit.clone());
        async move { Ok::<_, Infallible>(response) }
    });
    let served = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades()
        .await;
    if let Err(e) = served {
        tracing::debug!(%peer, "HTTP connection ended: {e}");
    }
}
