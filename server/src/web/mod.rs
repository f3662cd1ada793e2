//! A session's phone listener: its own TCP port serving the terminal page, its static
//! files and the WebSocket (DESIGN.md "Phone protocol").
//!
//! The registry calls [`bind`] before it starts the program (so a taken `--port` is an
//! error that leaves no trace) and [`spawn`] once the session exists. The accept loop ends
//! when the session ends; connections already open finish on their own (phones get the
//! rest of the output and the exit status). The accept loop is `listener`'s, shared with
//! the dashboard. Routing lives here, authentication in `auth`, the WebSocket client loop
//! in `phone`, the embedded files in `assets`, HTTPS in `tls`.

pub(crate) mod assets;
pub(crate) mod auth;
pub(crate) mod listener;
mod net;
mod phone;
pub mod tls;

use std::net::IpAddr;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::config::Config;
use crate::session::Session;
use auth::{Auth, Source, Verdict};
use listener::Permit;

pub use net::{addresses, bind, Bound};
pub use tls::Transport;

/// Largest message a phone may send; larger ones close the socket with 1009.
const MAX_MESSAGE: usize = 1 << 20;

/// What every connection of one session's listener shares.
struct Shared {
    session: Arc<Session>,
    auth: Auth,
    /// `clientBufferLimit`.
    buffer_limit: usize,
    /// `dashboardPort`, for the terminal page's link back to the dashboard.
    dashboard_port: u16,
    /// Whether this listener serves HTTPS: the page's links and CSP then name `https`/`wss`.
    https: bool,
}

/// Serves the session's phones on `bound` until the session ends.
pub fn spawn(bound: Bound, session: Arc<Session>, config: &Config) {
    let shared = Arc::new(Shared {
        session,
        auth: Auth::new(bound.token, bound.port),
        buffer_limit: config.client_buffer_limit,
        dashboard_port: config.dashboard_port,
        https: bound.tls.is_some(),
    });
    let session = shared.session.clone();
    let name = format!("phone listener of session {}", session.id);
    let until = async move {
        session.exited().await;
    };
    let route = move |req, ip, permit| route(req, ip, shared.clone(), permit);
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
    /// A WebSocket upgrade on `/` or `/ws`.
    Upgrade,
    /// The page on `/`, with the token already in the cookie.
    Page,
}

/// The routing the session and dashboard listeners share: GET only, the public static
/// files, nothing but `/` and `/ws`, the token check (401, 429, 403), `/ws` only for
/// upgrades, and a token in the query exchanged for the cookie by a redirect. `Err` is
/// the reply to send instead.
pub(crate) fn gate(
    req: &Request<Incoming>,
    ip: IpAddr,
    auth: &Auth,
) -> Result<Admitted, Box<Reply>> {
    if req.method() != Method::GET {
        return Err(Box::new(plain(StatusCode::METHOD_NOT_ALLOWED, "GET only")));
    }
    let path = req.uri().path();
    if let Some(asset) = assets::file(path) {
        let mut reply = Response::new(Full::new(Bytes::from_static(asset.body)));
        let headers = reply.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        return Err(Box::new(secure(reply)));
    }
    if path != "/" && path != "/ws" {
        return Err(Box::new(plain(StatusCode::NOT_FOUND, "not found")));
    }
    let (verdict, source) = auth.check(ip, req.uri(), req.headers());
    let refusal = match verdict {
        Verdict::Allowed if hyper_tungstenite::is_upgrade_request(req) => {
            return Ok(Admitted::Upgrade)
        }
        Verdict::Allowed if path == "/ws" => plain(StatusCode::UPGRADE_REQUIRED, "WebSocket only"),
        Verdict::Allowed if source == Some(Source::Query) => redirect(req.uri().query(), auth),
        Verdict::Allowed => return Ok(Admitted::Page),
        Verdict::Unauthorized => plain(StatusCode::UNAUTHORIZED, "unauthorized"),
        Verdict::Blocked => plain(StatusCode::TOO_MANY_REQUESTS, "too many failures"),
        Verdict::ForeignOrigin => plain(StatusCode::FORBIDDEN, "foreign origin"),
    };
    Err(Box::new(refusal))
}

fn route(mut req: Request<Incoming>, ip: IpAddr, shared: Arc<Shared>, permit: Permit) -> Reply {
    match gate(&req, ip, &shared.auth) {
        Err(reply) => return *reply,
        Ok(Admitted::Upgrade) => return upgrade(&mut req, shared, permit),
        Ok(Admitted::Page) => {}
    }
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok());
    page(
        &shared.session.name(),
        host,
        shared.dashboard_port,
        shared.https,
    )
}

/// Accepts an authenticated WebSocket upgrade and starts the phone's loop on it.
fn upgrade(req: &mut Request<Incoming>, shared: Arc<Shared>, permit: Permit) -> Reply {
    accept_websocket(req, permit, MAX_MESSAGE, move |ws| async move {
        phone::run(ws, shared.session.clone(), shared.buffer_limit).await
    })
}

/// Accepts a WebSocket upgrade (messages and frames capped at `max_message` bytes) and runs
/// `serve` on the socket, holding the listener's connection permit until it returns.
pub(crate) fn accept_websocket<F, Fut>(
    req: &mut Request<Incoming>,
    permit: Permit,
    max_message: usize,
    serve: F,
) -> Reply
where
    F: FnOnce(hyper_tungstenite::HyperWebsocketStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let config = WebSocketConfig::default()
        .max_message_size(Some(max_message))
        .max_frame_size(Some(max_message));
    match hyper_tungstenite::upgrade(req, Some(config)) {
        Ok((reply, websocket)) => {
            tokio::spawn(async move {
                let _permit = permit;
                match websocket.await {
                    Ok(ws) => serve(ws).await,
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

/// Moves the token from the URL (and the browser's history) into an HttpOnly cookie:
/// 303 to the same page without `token`, other parameters kept.
fn redirect(query: Option<&str>, auth: &Auth) -> Reply {
    let rest = auth::query_without_token(query);
    let location = if rest.is_empty() {
        "/".to_string()
    } else {
        format!("/?{rest}")
    };
    let mut reply = plain(StatusCode::SEE_OTHER, "");
    let headers = reply.headers_mut();
    if let (Ok(location), Ok(cookie)) = (
        HeaderValue::from_str(&location),
        HeaderValue::from_str(&auth.set_cookie()),
    ) {
        headers.insert(header::LOCATION, location);
        headers.insert(header::SET_COOKIE, cookie);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    reply
}

/// The terminal page, with a CSP that allows only this origin. Styles may be inline
/// because xterm.js injects a `<style>` element for its theme. The WebSocket's origin is
/// named explicitly too: older Safari does not count `ws:` as `'self'`. The page links
/// back to the dashboard on the host the phone used (its cookie holds the master token),
/// with this page's scheme (every web listener of a server speaks the same).
fn page(title: &str, host: Option<&str>, dashboard_port: u16, https: bool) -> Reply {
    let (scheme, websocket_scheme) = if https {
        ("https", "wss")
    } else {
        ("http", "ws")
    };
    let host = host.filter(|h| {
        h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
    });
    let dashboard = host
        .map(|h| format!("{scheme}://{}:{dashboard_port}/", hostname(h)))
        .unwrap_or_default();
    let body = assets::terminal_page(title, &dashboard);
    let mut reply = Response::new(Full::new(Bytes::from(body)));
    let headers = reply.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
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

/// A `Host` header without its port (an IPv6 literal keeps its brackets).
fn hostname(host: &str) -> &str {
    match host.rfind(':') {
        Some(i) if !host[i..].contains(']') => &host[..i],
        _ => host,
    }
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
