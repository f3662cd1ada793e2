//! The dashboard listener (DESIGN.md "Dashboard"): on `dashboardPort`, bound by
//! networking mode like the session listeners, it serves the dashboard page, its static
//! files and its WebSocket (on `/ws` and `/`), authenticated with the master token by the
//! same `web::auth` rules as a session's (cookie exchange, per-IP failure limit, Origin),
//! over the server's transport (HTTPS when a certificate is in force, `web::tls`).
//!
//! `lib.rs` calls [`spawn`] once at start; the accept loop (`web::listener`, shared with
//! the session listeners) ends at shutdown. The page loop lives in `client`, the session
//! JSON in `json`, the home-directory boundary in `files`.

mod client;
mod files;
pub(crate) mod json;

use std::net::IpAddr;
use std::sync::Arc;

use anyhow::{bail, Context};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response};
use itwillsync_protocol::{NewSession, Size};

use crate::config::Config;
use crate::registry::Registry;
use crate::session::Session;
use crate::shutdown::Shutdown;
use crate::web::auth::Auth;
use crate::web::{self, secure, Reply};

/// Largest message a page may send; the page's own are a few hundred bytes.
const MAX_MESSAGE: usize = 64 << 10;
/// The size a session started from the dashboard begins with, until a client attaches.
const NEW_SIZE: Size = Size { cols: 80, rows: 24 };

/// What every dashboard connection shares.
pub(crate) struct Shared {
    registry: Arc<Registry>,
    auth: Auth,
    /// The boundary for the folder browser and new sessions' directories.
    home: Option<files::Home>,
    /// The page's Content-Security-Policy, for this listener's scheme.
    csp: &'static str,
}

impl Shared {
    /// Starts `tool` (a bare name resolved on the server's `PATH`) in `cwd` (inside home),
    /// directly, without a shell.
    fn create(&self, tool: &str, cwd: &str) -> anyhow::Result<Arc<Session>> {
        if !files::valid_tool(tool) {
            bail!("{tool:?} is not a program name (letters, digits and ._+- only)");
        }
        let home = self
            .home
            .as_ref()
            .context("the server has no home directory")?;
        let cwd = home.resolve(cwd)?;
        self.registry.create(NewSession {
            name: None,
            command: vec![tool.to_string()],
            cwd: cwd.to_string_lossy().into_owned(),
            env: std::env::vars().collect(),
            size: NEW_SIZE,
            port: None,
            networking: None,
        })
    }
}

/// Binds the dashboard and serves it over `transport` until `shutdown`. Returns its URL
/// with the token.
pub fn spawn(
    config: &Config,
    transport: &web::Transport,
    registry: Arc<Registry>,
    token: String,
    shutdown: Shutdown,
) -> anyhow::Result<String> {
    let (ip, host, _warning) = web::addresses(config.networking_mode); // logged
    let listener = std::net::TcpListener::bind((ip, config.dashboard_port)).with_context(|| {
        let port = config.dashboard_port;
        format!("cannot listen on dashboard port {port} (dashboardPort)")
    })?;
    let port = listener.local_addr()?.port();
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let origin = transport.origin(config.networking_mode, &host, port);
    let url = format!("{origin}/?token={token}");
    let tls = transport.acceptor();
    let csp = if tls.is_some() { CSP_HTTPS } else { CSP_HTTP };
    let shared = Arc::new(Shared {
        registry,
        auth: Auth::new(token, port),
        home: files::Home::from_env(),
        csp,
    });
    let until = async move {
        shutdown.wait().await;
    };
    let route = move |req, ip, permit| route(req, ip, shared.clone(), permit);
    tokio::spawn(web::listener::serve(
        listener,
        tls,
        "dashboard".into(),
        until,
        route,
    ));
    Ok(url)
}

fn route(
    mut req: Request<Incoming>,
    ip: IpAddr,
    shared: Arc<Shared>,
    permit: web::listener::Permit,
) -> Reply {
    match web::gate(&req, ip, &shared.auth) {
        Err(reply) => *reply,
        Ok(web::Admitted::Upgrade) => upgrade(&mut req, shared, permit),
        Ok(web::Admitted::Page) => page(shared.csp),
    }
}

fn upgrade(
    req: &mut Request<Incoming>,
    shared: Arc<Shared>,
    permit: web::listener::Permit,
) -> Reply {
    web::accept_websocket(req, permit, MAX_MESSAGE, move |ws| client::run(ws, shared))
}

/// The dashboard page's CSP. Its WebSocket is same-origin, so `'self'` plus the explicit
/// `ws:` (`wss:` over HTTPS) scheme source covers it for older Safari too.
const CSP_HTTP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self' ws:; manifest-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";
/// [`CSP_HTTP`] for a dashboard served over HTTPS.
const CSP_HTTPS: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self' wss:; manifest-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// The dashboard page, with `csp`.
fn page(csp: &'static str) -> Reply {
    let body = Bytes::from_static(web::assets::DASHBOARD_PAGE.as_bytes());
    let mut reply = Response::new(Full::new(body));
    let headers = reply.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    secure(reply)
}
