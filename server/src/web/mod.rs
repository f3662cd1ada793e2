//! A session's phone listener: its own TCP port serving the terminal page, its static
//! files and the WebSocket (DESIGN.md "Phone protocol").
//!
//! The registry calls [`bind`] before it starts the program (so a taken `--port` is an
//! error that leaves no trace) and [`spawn`] once the session exists. When the session
//! ends, the listener answers for [`ENDED_LINGER`] more with a page saying so (a saved
//! link then explains itself instead of "can't be reached"), then its accept loop ends;
//! connections already open finish on their own (phones get the rest of the output and
//! the exit status). The accept loop is `listener`'s, shared with
//! the dashboard. Routing lives here; the keys in `keys`; the failure limit and Origin
//! check in `auth`; the handshake and sealed messages in `sealed`; the JSON inside the
//! seal in `message`, its `data` messages encoded once for all phones in `chunks`; the
//! phone's loop in `phone`; the embedded files in `assets`; HTTPS
//! in `tls`. Every page and file is public: nothing is given before a key is proved
//! inside the WebSocket.

pub(crate) mod admission;
pub(crate) mod assets;
pub(crate) mod auth;
mod chunks;
pub(crate) mod keys;
pub(crate) mod listener;
pub(crate) mod message;
mod net;
pub(crate) mod phone;
pub(crate) mod sealed;
pub mod tls;

use std::net::IpAddr;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::config::Config;
use crate::session::Session;
use admission::{Guest, Pass};
use auth::Auth;
use keys::Keys;

pub use net::{addresses, bind, Bound};
pub use tls::Transport;

/// Largest message a phone may send; larger ones close the socket with 1009.
const MAX_MESSAGE: usize = 1 << 20;
/// How long an ended session's listener still answers, with a page saying it ended: long
/// enough for a phone that was away to be told, short enough to free the port soon.
pub(crate) const ENDED_LINGER: std::time::Duration = std::time::Duration::from_secs(600);

/// What every connection of one session's listener shares.
struct Shared {
    session: Arc<Session>,
    /// The session's keys (shared with the session, which hands out and rotates links).
    keys: Arc<Keys>,
    /// Failed proofs per address.
    auth: Auth,
    /// `clientBufferLimit`.
    buffer_limit: usize,
    /// `dashboardPort`, for the terminal page's link back to the dashboard.
    dashboard_port: u16,
    /// Whether this listener serves HTTPS: the page's links and CSP then name `https`/`wss`.
    https: bool,
    /// The session's output as `data` messages, encoded once for all its phones.
    chunks: Arc<chunks::Chunks>,
}

/// Serves the session's phones on `bound` until the session ends.
pub fn spawn(bound: Bound, session: Arc<Session>, config: &Config) {
    let shared = Arc::new(Shared {
        session,
        keys: bound.keys,
        auth: Auth::new(),
        buffer_limit: config.client_buffer_limit,
        dashboard_port: config.dashboard_port,
        https: bound.tls.is_some(),
        chunks: Arc::default(),
    });
    let session = shared.session.clone();
    let name = format!("phone listener of session {}", session.id);
    let until = async move {
        tokio::select! {
            _ = async {
                session.exited().await;
                tokio::time::sleep(ENDED_LINGER).await;
            } => {}
            _ = session.gone() => {}
        }
    };
    let route = move |req, ip, pass: &Pass| route(req, ip, shared.clone(), pass);
    tokio::spawn(listener::serve(
        bound.listener,
        bound.tls,
        name,
        until,
        route,
    ));
}

/// An HTTP response with a complete body.
pub(crate) type Reply = Response<Full<Bytes>>;

/// An admitted request: what the listener serves it.
pub(crate) enum Admitted {
    /// A same-origin WebSocket upgrade on `/` or `/ws`; the key is proved inside.
    Upgrade,
    /// The page on `/`.
    Page,
}

/// The routing the session and dashboard listeners share: GET only, the public static
/// files, nothing but `/` and `/ws`, the `Origin` check for upgrades (403), `/ws` only for
/// upgrades, and a `410 Gone` page for links of older versions (`?token=`). `Err` is the
/// reply to send instead.
pub(crate) fn gate<B>(req: &Request<B>) -> Result<Admitted, Box<Reply>> {
    if req.method() != Method::GET {
        return Err(Box::new(plain(StatusCode::METHOD_NOT_ALLOWED, "GET only")));
    }
    if req.uri().query().is_some_and(|q| q.contains("token=")) {
        return Err(Box::new(old_link()));
    }
    let path = req.uri().path();
    if let Some(asset) = assets::file(path) {
        return Err(Box::new(serve_file(req.headers(), asset)));
    }
    if path != "/" && path != "/ws" {
        return Err(Box::new(plain(StatusCode::NOT_FOUND, "not found")));
    }
    if hyper_tungstenite::is_upgrade_request(req) {
        if !auth::same_origin(req.headers()) {
            return Err(Box::new(plain(StatusCode::FORBIDDEN, "foreign origin")));
        }
        return Ok(Admitted::Upgrade);
    }
    if path == "/ws" {
        return Err(Box::new(plain(
            StatusCode::UPGRADE_REQUIRED,
            "WebSocket only",
        )));
    }
    Ok(Admitted::Page)
}

/// A link of an older version, with its secret in the query: it no longer works.
fn old_link() -> Reply {
    let mut reply = match assets::file("/expired.html") {
        Some(page) => {
            let mut reply = Response::new(Full::new(Bytes::from_static(page.body)));
            reply.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(page.content_type),
            );
            secure(reply)
        }
        None => plain(
            StatusCode::GONE,
            "This link is from an older itwillsync and no longer works: \
             run `itwillsync url NAME --qr` and scan the new code.",
        ),
    };
    *reply.status_mut() = StatusCode::GONE;
    reply
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    reply
}

fn route(mut req: Request<Incoming>, ip: IpAddr, shared: Arc<Shared>, pass: &Pass) -> Reply {
    match gate(&req) {
        Err(reply) => return *reply,
        Ok(Admitted::Upgrade) => return upgrade(&mut req, ip, shared, pass),
        Ok(Admitted::Page) => {}
    }
    let ended = *shared.session.watch().exit.borrow();
    match ended {
        Some(status) => ended_page(req.headers(), &shared, status),
        None => page(req.headers(), shared.https),
    }
}

/// The page of an ended session: its exit status and a link to the dashboard on the
/// host the page was reached by (410 Gone; never cached).
fn ended_page(
    request: &HeaderMap,
    shared: &Shared,
    status: itwillsync_protocol::ExitStatus,
) -> Reply {
    let scheme = if shared.https { "https" } else { "http" };
    let host = request
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .unwrap_or("127.0.0.1");
    // The host without its port (an IPv6 literal keeps its brackets).
    let hostname = match host.rfind(':') {
        Some(i) if !host[i..].contains(']') => &host[..i],
        _ => host,
    };
    let dashboard = format!("{scheme}://{hostname}:{}/", shared.dashboard_port);
    let exit = match status.signal {
        Some(signal) => format!("killed by signal {signal}"),
        None => format!("exit code {}", status.code),
    };
    let body = assets::ENDED_PAGE
        .replace("{{DASHBOARD}}", &dashboard)
        .replace("{{STATUS}}", &exit);
    let mut reply = Response::new(Full::new(Bytes::from(body)));
    *reply.status_mut() = StatusCode::GONE;
    let headers = reply.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; \
             form-action 'none'; frame-ancestors 'none'",
        ),
    );
    secure(reply)
}

/// Accepts a same-origin WebSocket upgrade; the phone's loop runs once it proves a key.
fn upgrade(req: &mut Request<Incoming>, ip: IpAddr, shared: Arc<Shared>, pass: &Pass) -> Reply {
    accept_websocket(req, pass, MAX_MESSAGE, move |ws, guest| async move {
        let Some(connection) = sealed::accept(ws, ip, guest, &shared.auth, &shared.keys).await
        else {
            return;
        };
        let context = phone::Context {
            session: shared.session.clone(),
            limit: shared.buffer_limit,
            dashboard_port: shared.dashboard_port,
            keys: shared.keys.clone(),
            chunks: shared.chunks.clone(),
        };
        phone::run(connection, context).await
    })
}

/// Accepts a WebSocket upgrade (messages and frames capped at `max_message` bytes) and runs
/// `serve` on the socket with the connection's guest place (`admission`), which the
/// sealed handshake turns into a member's. Over a guest cap (a second upgrade on a
/// keep-alive connection) the answer is 503.
pub(crate) fn accept_websocket<F, Fut>(
    req: &mut Request<Incoming>,
    pass: &Pass,
    max_message: usize,
    serve: F,
) -> Reply
where
    F: FnOnce(hyper_tungstenite::HyperWebsocketStream, Guest) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let Ok(guest) = pass.take() else {
        return plain(StatusCode::SERVICE_UNAVAILABLE, "too many connections");
    };
    let config = WebSocketConfig::default()
        .max_message_size(Some(max_message))
        .max_frame_size(Some(max_message));
    match hyper_tungstenite::upgrade(req, Some(config)) {
        Ok((reply, websocket)) => {
            tokio::spawn(async move {
                match websocket.await {
                    Ok(ws) => serve(ws, guest).await,
                    Err(e) => tracing::debug!("WebSocket upgrade failed: {e}"),
                }
            });
            reply
        }
        Err(e) => plain(
            StatusCode::BAD_REQUEST,
            &format!("bad WebSocket request: {e}"),
        ),
    }
}

/// The terminal page, the same static file for everyone (the session's name arrives
/// inside the seal), with a CSP that allows only this origin. Styles may be inline
/// because xterm.js injects a `<style>` element for its theme. The WebSocket's origin is
/// named explicitly too (`wss:` over HTTPS): older Safari does not count it as `'self'`.
fn page(request: &HeaderMap, https: bool) -> Reply {
    let host = request.get(header::HOST).and_then(|h| h.to_str().ok());
    let websocket_scheme = if https { "wss" } else { "ws" };
    let host = host.filter(|h| {
        h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
    });
    let mut reply = serve_file(request, &assets::TERMINAL_PAGE);
    let headers = reply.headers_mut();
    let websocket = host
        .map(|h| format!(" {websocket_scheme}://{h}"))
        .unwrap_or_default();
    let csp = format!(
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data:; font-src 'self'; connect-src 'self'{websocket}; \
         manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    );
    if let Ok(csp) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    secure(reply)
}

/// An embedded file: gzip'ed when the request accepts it, `304 Not Modified` when the
/// request's `If-None-Match` names its `ETag`; revalidated on every use (`no-cache`), so
/// a new version is picked up at once and an unchanged one costs a few header bytes.
/// The compressed representation has its own tag (`-gz` suffix), as HTTP asks.
pub(crate) fn serve_file(request: &HeaderMap, asset: &'static assets::Asset) -> Reply {
    let gzip = accepts_gzip(request);
    let etag = if gzip {
        format!("{}-gz\"", asset.etag.trim_end_matches('"'))
    } else {
        asset.etag.to_string()
    };
    let unchanged = request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| {
            let tag = tag.trim();
            tag == "*" || tag.trim_start_matches("W/") == etag
        });
    let mut reply = if unchanged {
        let mut reply = Response::new(Full::new(Bytes::new()));
        *reply.status_mut() = StatusCode::NOT_MODIFIED;
        reply
    } else if gzip {
        let mut reply = Response::new(Full::new(Bytes::from_static(asset.gzip)));
        reply
            .headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        reply
    } else {
        Response::new(Full::new(Bytes::from_static(asset.body)))
    };
    let headers = reply.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, etag);
    }
    secure(reply)
}

/// Whether `Accept-Encoding` lists gzip with a non-zero quality.
fn accepts_gzip(request: &HeaderMap) -> bool {
    request
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or("");
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            name.eq_ignore_ascii_case("gzip") && !refused
        })
}

/// A plain-text response.
pub(crate) fn plain(status: StatusCode, text: &str) -> Reply {
    let mut reply = Response::new(Full::new(Bytes::from(text.to_string())));
    *reply.status_mut() = status;
    reply.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    secure(reply)
}

/// Headers every response carries.
pub(crate) fn secure(mut reply: Reply) -> Reply {
    let headers = reply.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    reply
}
