//! The dashboard listener (DESIGN.md "Dashboard"): on `dashboardPort`, bound by
//! networking mode like the session listeners, it serves the dashboard page, its static
//! files and its WebSocket (on `/ws` and `/`), sealed with the master key exactly like a
//! session's (`web::sealed`: the key is proved inside the WebSocket; per-address failure
//! limit; Origin check), over the server's transport (HTTPS when a certificate is in
//! force, `web::tls`). The master key survives restarts (`master.token`, 0600) until
//! `itwillsync hub rotate` replaces it through [`Handle::rotate`].
//!
//! `lib.rs` calls [`spawn`] once at start; the accept loop (`web::listener`, shared with
//! the session listeners) ends at shutdown. The page loop lives in `client`, its messages
//! in `message`, the home-directory boundary in `files`.

mod client;
pub(crate) mod files;
pub(crate) mod message;

use std::net::IpAddr;
use std::sync::Arc;

use anyhow::{bail, Context};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::Request;
use itwillsync_protocol::{NewSession, Size};

use crate::config::Config;
use crate::home::Home;
use crate::machines::Machines;
use crate::registry::Registry;
use crate::session::Session;
use crate::shutdown::Shutdown;
use crate::web::admission::Pass;
use crate::web::auth::Auth;
use crate::web::keys::{Keys, Role};
use crate::web::{self, Reply};
use itwillsync_protocol::seal::Key;

/// Largest message a page may send; the page's own are a few hundred bytes.
const MAX_MESSAGE: usize = 64 << 10;
/// The size a session started from the dashboard begins with, until a client attaches.
const NEW_SIZE: Size = Size { cols: 80, rows: 24 };

/// What every dashboard connection shares.
pub(crate) struct Shared {
    registry: Arc<Registry>,
    /// The other machines: their sessions are listed by machine, and "+" can start one
    /// there.
    machines: Arc<Machines>,
    /// The mirrors of their sessions: a remote card opens its mirror's phone page here.
    mirrors: Arc<crate::mirrors::Mirrors>,
    /// The master key (shared with the [`Handle`], which rotates it).
    keys: Arc<Keys>,
    /// Failed proofs per address.
    auth: Auth,
    /// The boundary for the folder browser and new sessions' directories.
    home: Option<files::Home>,
    /// The page's Content-Security-Policy, for this listener's scheme.
    csp: &'static str,
}

impl Shared {
    /// Starts `tool` (a bare name resolved on the server's `PATH`) in `cwd` (inside home),
    /// directly, without a shell.
    async fn create(&self, tool: &str, cwd: &str) -> anyhow::Result<Arc<Session>> {
        if !files::valid_tool(tool) {
            bail!("{tool:?} is not a program name (letters, digits and ._+- only)");
        }
        let home = self
            .home
            .as_ref()
            .context("the server has no home directory")?;
        let cwd = home.resolve_blocking(cwd).await?;
        self.registry
            .create(NewSession {
                name: None,
                command: vec![tool.to_string()],
                cwd: cwd.to_string_lossy().into_owned(),
                env: std::env::vars().collect(),
                size: NEW_SIZE,
                port: None,
                networking: None,
            })
            .await
    }

    /// Starts `tool` on machine `machine` through its link, in `cwd` there (empty: its
    /// home), found on that machine's `PATH`: the session as that machine reports it.
    async fn create_on(
        &self,
        machine: &str,
        tool: &str,
        cwd: &str,
    ) -> anyhow::Result<itwillsync_protocol::SessionInfo> {
        if !files::valid_tool(tool) {
            bail!("{tool:?} is not a program name (letters, digits and ._+- only)");
        }
        let link = self.machines.get(machine)?;
        let spec = NewSession {
            name: None,
            command: vec![tool.to_string()],
            cwd: cwd.to_string(),
            env: Vec::new(),
            size: NEW_SIZE,
            port: None,
            networking: None,
        };
        let request = itwillsync_protocol::ClientMsg::New {
            spec,
            attach: false,
        };
        match link.ask(request).await? {
            itwillsync_protocol::ServerMsg::Created { session } => Ok(session),
            other => bail!("{machine}: unexpected answer {other:?}"),
        }
    }

    /// The phone port and full key of the mirror of session `id` on `machine` (made if
    /// there is none yet): a remote card opens there, on this server.
    async fn open_remote(&self, machine: &str, id: &str) -> anyhow::Result<(u16, String)> {
        let link = self.machines.get(machine)?;
        let mirror = self.mirrors.open_for_phone(link, id).await?;
        let port = mirror.info().port.context("the mirror has no phone port")?;
        let key = mirror.key(Role::Full).context("the mirror has no key")?;
        Ok((port, key.to_link_text()))
    }
}

/// The running dashboard, for the Unix socket's requests: its link and key rotation.
pub struct Handle {
    keys: Arc<Keys>,
    /// Where the master key is kept.
    home: Home,
    /// A duplicate of the listening socket, for a hand-over (`handover`).
    listener_fd: Option<std::os::fd::OwnedFd>,
}

impl Handle {
    /// The dashboard link with the master key in its fragment.
    pub fn link(&self) -> Option<String> {
        self.keys.link(Role::Full)
    }

    /// The master key in force.
    pub fn key(&self) -> Option<Key> {
        self.keys.key(Role::Full)
    }

    /// The listening socket's duplicate, for a hand-over.
    pub fn take_listener_fd(&mut self) -> Option<std::os::fd::OwnedFd> {
        self.listener_fd.take()
    }

    /// Replaces the master key (stored first, so a crash cannot lose it), disconnecting
    /// every page that used the old one; the new link.
    pub fn rotate(&self) -> anyhow::Result<String> {
        let key = self
            .keys
            .rotate(Role::Full)
            .context("the dashboard has no key")?;
        crate::daemon::store_master_key(&self.home, &key)?;
        self.link().context("the dashboard has no key")
    }
}

/// Binds the dashboard (or serves on `adopted`, the listener a previous server handed
/// over) and serves it over `transport` with the master key kept in `home` until
/// `shutdown`.
pub fn spawn(
    config: &Config,
    transport: &web::Transport,
    registry: Arc<Registry>,
    mirrors: Arc<crate::mirrors::Mirrors>,
    home: Home,
    shutdown: Shutdown,
    adopted: Option<std::net::TcpListener>,
) -> anyhow::Result<Handle> {
    let key = crate::daemon::master_key(&home)?;
    let (ip, host, _warning) = web::addresses(config.networking_mode); // logged
    let listener = match adopted {
        Some(listener) => listener,
        None => std::net::TcpListener::bind((ip, config.dashboard_port)).with_context(|| {
            let port = config.dashboard_port;
            format!("cannot listen on dashboard port {port} (dashboardPort)")
        })?,
    };
    let listener_fd = std::os::fd::AsFd::as_fd(&listener)
        .try_clone_to_owned()
        .ok();
    let port = listener.local_addr()?.port();
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let origin = transport.origin(config.networking_mode, &host, port);
    let keys = Arc::new(Keys::for_dashboard(format!("{origin}/"), key));
    let tls = transport.acceptor();
    let csp = if tls.is_some() { CSP_HTTPS } else { CSP_HTTP };
    let shared = Arc::new(Shared {
        registry,
        machines: mirrors.machines().clone(),
        mirrors,
        keys: keys.clone(),
        auth: Auth::new(),
        home: files::Home::from_env(),
        csp,
    });
    let until = async move {
        shutdown.wait().await;
    };
    let route = move |req, ip, pass: &Pass| route(req, ip, shared.clone(), pass);
    tokio::spawn(web::listener::serve(
        listener,
        tls,
        "dashboard".into(),
        until,
        route,
    ));
    Ok(Handle {
        keys,
        home,
        listener_fd,
    })
}

fn route(mut req: Request<Incoming>, ip: IpAddr, shared: Arc<Shared>, pass: &Pass) -> Reply {
    match web::gate(&req) {
        Err(reply) => *reply,
        Ok(web::Admitted::Upgrade) => upgrade(&mut req, ip, shared, pass),
        Ok(web::Admitted::Page) => page(req.headers(), shared.csp),
    }
}

fn upgrade(req: &mut Request<Incoming>, ip: IpAddr, shared: Arc<Shared>, pass: &Pass) -> Reply {
    web::accept_websocket(req, pass, MAX_MESSAGE, move |ws, guest| async move {
        let sealed = web::sealed::accept(ws, ip, guest, &shared.auth, &shared.keys).await;
        if let Some(connection) = sealed {
            client::run(connection, shared).await;
        }
    })
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
fn page(request: &hyper::HeaderMap, csp: &'static str) -> Reply {
    let mut reply = web::serve_file(request, &web::assets::DASHBOARD_PAGE);
    reply.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    reply
}
