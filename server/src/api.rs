//! The local HTTP API on `127.0.0.1:apiPort` (DESIGN.md "Files and ports"): `GET
//! /api/health` and `GET /api/sessions`, for scripts and for checking that a server runs.
//!
//! It binds the loopback address only and answers only requests whose `Host` is
//! `127.0.0.1:PORT` or `localhost:PORT`, so a web page cannot reach it by DNS rebinding.
//! Every local account can reach it, so it holds no secret: no token, key or link (those
//! are handed out only over the Unix socket, whose peer uid is checked): its sessions are
//! `protocol::json`'s public object, the dashboard's without the key.

use std::convert::Infallible;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use itwillsync_protocol::json;
use serde::Serialize;
use tokio::sync::Semaphore;

use crate::registry::Registry;
use crate::session::now_ms;
use crate::shutdown::Shutdown;
use crate::web::{plain, secure, Reply};

/// Concurrent API connections; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 16;
/// How long a client may take to send a request's headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// `GET /api/health`.
#[derive(Serialize)]
struct Health {
    /// Always `ok`: a server that answers is healthy.
    status: &'static str,
    /// The server's pid.
    pid: u32,
    /// Live sessions.
    sessions: usize,
    /// Seconds since the server started.
    uptime: u64,
}

struct Shared {
    registry: Arc<Registry>,
    port: u16,
    started_at_ms: u64,
}

/// Binds `127.0.0.1:port` (or serves on `adopted`, the listener a previous server handed
/// over) and serves the API until `shutdown`; a duplicate of the listening socket, for a
/// hand-over.
pub fn spawn(
    port: u16,
    registry: Arc<Registry>,
    started_at_ms: u64,
    shutdown: Shutdown,
    adopted: Option<std::net::TcpListener>,
) -> anyhow::Result<std::os::fd::OwnedFd> {
    let listener = match adopted {
        Some(listener) => listener,
        None => std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port))
            .with_context(|| format!("cannot listen on API port {port} (apiPort)"))?,
    };
    let duplicate = std::os::fd::AsFd::as_fd(&listener).try_clone_to_owned()?;
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let shared = Arc::new(Shared {
        registry,
        port,
        started_at_ms,
    });
    tokio::spawn(async move {
        let mut paused = crate::handover::web_paused();
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        loop {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                return;
            };
            // During a hand-over nothing is accepted: requests wait for the new process.
            if *paused.borrow_and_update() {
                tokio::select! {
                    _ = paused.changed() => continue,
                    _ = shutdown.wait() => return,
                }
            }
            let stream = tokio::select! {
                biased; // the pause first (see `server::run`)
                _ = paused.changed() => continue,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        tracing::warn!("API accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                _ = shutdown.wait() => return,
            };
            let shared = shared.clone();
            tokio::spawn(async move {
                let _permit = permit;
                let service = hyper::service::service_fn(|req| {
                    let reply = route(&req, &shared);
                    async move { Ok::<_, Infallible>(reply) }
                });
                let served = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_TIMEOUT)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
                if let Err(e) = served {
                    tracing::debug!("API connection ended: {e}");
                }
            });
        }
    });
    Ok(duplicate)
}

fn route(req: &Request<Incoming>, shared: &Shared) -> Reply {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let allowed = [
        format!("127.0.0.1:{}", shared.port),
        format!("localhost:{}", shared.port),
    ];
    if !allowed.iter().any(|a| a.eq_ignore_ascii_case(host)) {
        return plain(
            StatusCode::FORBIDDEN,
            "the Host header must name this machine",
        );
    }
    if req.method() != Method::GET {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "GET only");
    }
    let sessions = shared.registry.running();
    let body = match req.uri().path() {
        "/api/health" => serde_json::to_vec(&Health {
            status: "ok",
            pid: std::process::id(),
            sessions: sessions.len(),
            uptime: now_ms().saturating_sub(shared.started_at_ms) / 1000,
        }),
        "/api/sessions" => {
            let list: Vec<json::Session> = sessions
                .iter()
                .map(|s| json::Session::public(&s.info()))
                .collect();
            serde_json::to_vec(&list)
        }
        _ => return plain(StatusCode::NOT_FOUND, "not found"),
    };
    let Ok(body) = body else {
        // Numbers and strings only: serializing cannot fail.
        return plain(StatusCode::INTERNAL_SERVER_ERROR, "cannot serialize");
    };
    let mut reply = Response::new(Full::new(Bytes::from(body)));
    let headers = reply.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    secure(reply)
}
