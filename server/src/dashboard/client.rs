//! One dashboard page over WebSocket: the session list kept live, previews, and the
//! page's requests (DESIGN.md "Dashboard", seed 004).
//!
//! One task per page owns the socket. It wakes on registry changes (add, remove, rename),
//! on every [`TICK`] (status changes such as active to idle, new alerts, client counts,
//! sizes, previews) and on the page's messages. It keeps only what it last sent each
//! session, so memory per page is bounded by the session count; a page that stops reading
//! blocks only its own sends and is dropped after [`SEND_TIMEOUT`], and one that stops
//! answering pings is dropped after at most two [`PING_EVERY`] periods.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::{interval, Instant, MissedTickBehavior};

use itwillsync_protocol::{ClientMsg, MachineState, ServerMsg};

use super::message::{listed, DashboardIn, DashboardOut, Machine, Metadata};
use super::{files, Shared};
use crate::events::LOCAL;
use crate::session::Session;
use crate::web::sealed::{self, Connection, Received};

/// How often status and previews are looked at: previews go out at most twice a second.
const TICK: Duration = Duration::from_millis(500);
/// Lines in a preview, and their width.
const PREVIEW_LINES: usize = 5;
const PREVIEW_WIDTH: usize = 80;
/// How often other machines' previews are asked for (one request per online machine,
/// through its link, only while a page is open).
const REMOTE_PREVIEW_EVERY: Duration = Duration::from_secs(2);
/// How long such a request may take before that machine's previews are skipped this time.
const REMOTE_PREVIEW_TIMEOUT: Duration = Duration::from_secs(5);
/// A page that takes this long to accept one message is not reading; it reconnects.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the page is pinged (browsers answer by themselves). A page that has sent
/// nothing since the previous ping is gone (the phone slept or lost its network), so its
/// connection is closed rather than held.
const PING_EVERY: Duration = Duration::from_secs(30);

/// What one page was last told about a session.
struct Seen {
    /// Name, status, clients and size as last sent.
    key: String,
    /// The alert count last seen: a change is a new alert, re-announced even while the
    /// status already is `attention`.
    alerts: u64,
    preview: Vec<String>,
    preview_at: Option<Instant>,
}

/// Serves one dashboard page, once it has proved the master key, until it closes or
/// fails.
pub async fn run(connection: Connection, shared: Arc<Shared>) {
    let mut page = Page {
        connection,
        shared,
        seen: HashMap::new(),
        remote_seen: HashMap::new(),
        no_previews: Vec::new(),
    };
    if let Err(e) = page.serve().await {
        tracing::debug!("dashboard connection ended: {e:#}");
    }
}

struct Page {
    connection: Connection,
    shared: Arc<Shared>,
    seen: HashMap<String, Seen>,
    /// Other machines' previews as last sent, by machine and session id. An offline
    /// machine's are not asked for: the page keeps showing the last ones.
    remote_seen: HashMap<(String, String), Vec<String>>,
    /// Machines that answered `Previews` with an error (an older build of the same
    /// protocol version, which also drops the link's connection): not asked again.
    no_previews: Vec<String>,
}

impl Page {
    async fn serve(&mut self) -> anyhow::Result<()> {
        let mut changes = self.shared.registry.changes();
        let sessions = self.shared.registry.list();
        let list = sessions.iter().map(|s| listed(s)).collect();
        let home = self.shared.home.as_ref().map(files::Home::display);
        let first = DashboardOut::Sessions {
            sessions: list,
            home,
        };
        self.send(&first).await?;
        let mut machines = self.shared.machines.changes();
        if !self.shared.machines.infos().is_empty() {
            self.send_machines().await?;
        }
        machines.borrow_and_update();
        for s in &sessions {
            self.seen.insert(s.id.clone(), seen(s));
        }
        let mut tick = interval(TICK);
        tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let mut ping = interval(PING_EVERY);
        ping.tick().await; // the first tick is immediate
        let mut remote_tick = interval(REMOTE_PREVIEW_EVERY);
        remote_tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let mut heard = true;
        loop {
            tokio::select! {
                received = self.connection.receiver.next() => {
                    heard = true;
                    match received {
                        Received::Message(text) => self.handle(&text).await?,
                        Received::Heard => {}
                        Received::Closed => return Ok(()),
                        Received::TooBig => {
                            self.connection.sender.close(1009, "message too big").await;
                            return Ok(());
                        }
                        Received::Forged => {
                            self.connection.sender.close(1008, "bad message").await;
                            return Ok(());
                        }
                    }
                }
                _ = self.connection.revocation.revoked() => {
                    self.connection.sender.close(sealed::close::REVOKED, "link revoked").await;
                    return Ok(());
                }
                _ = ping.tick() => {
                    if !heard {
                        anyhow::bail!("the page stopped answering pings");
                    }
                    heard = false;
                    timeout(self.connection.sender.ping()).await?;
                }
                r = changes.changed() => {
                    if r.is_err() {
                        return Ok(());
                    }
                    self.sync().await?;
                }
                _ = tick.tick() => self.sync().await?,
                _ = remote_tick.tick() => self.remote_previews().await?,
                r = machines.changed() => {
                    if r.is_err() {
                        return Ok(());
                    }
                    machines.borrow_and_update();
                    self.send_machines().await?;
                }
            }
        }
    }

    /// Sends every machine's state and sessions.
    async fn send_machines(&mut self) -> anyhow::Result<()> {
        let machines = self
            .shared
            .machines
            .infos()
            .iter()
            .map(Machine::of)
            .collect();
        self.send(&DashboardOut::Machines { machines }).await
    }

    /// Sends the other machines' previews that changed, asked of each online machine
    /// through its link.
    async fn remote_previews(&mut self) -> anyhow::Result<()> {
        let infos = self.shared.machines.infos();
        self.remote_seen.retain(|(machine, id), _| {
            infos
                .iter()
                .any(|m| &m.name == machine && m.sessions.iter().any(|s| &s.id == id))
        });
        for info in infos {
            if info.state != MachineState::Online || self.no_previews.contains(&info.name) {
                continue;
            }
            let Ok(link) = self.shared.machines.get(&info.name) else {
                continue;
            };
            let request = ClientMsg::Previews {
                lines: PREVIEW_LINES as u16,
                width: PREVIEW_WIDTH as u16,
            };
            let asked = tokio::time::timeout(REMOTE_PREVIEW_TIMEOUT, link.request(request));
            let previews = match asked.await {
                Ok(Ok(ServerMsg::Previews { previews })) => previews,
                Ok(Ok(ServerMsg::Error { message })) => {
                    tracing::info!(machine = %info.name, "no previews from this machine: {message}");
                    self.no_previews.push(info.name);
                    continue;
                }
                _ => continue,
            };
            for preview in previews {
                let key = (info.name.clone(), preview.id);
                if self.remote_seen.get(&key) == Some(&preview.lines) {
                    continue;
                }
                let msg = DashboardOut::Preview {
                    session_id: &key.1,
                    machine: Some(&info.name),
                    lines: &preview.lines,
                };
                self.send(&msg).await?;
                self.remote_seen.insert(key, preview.lines);
            }
        }
        Ok(())
    }

    async fn send(&mut self, msg: &DashboardOut<'_>) -> anyhow::Result<()> {
        timeout(self.connection.sender.send(msg.to_json())).await
    }

    /// Tells the page what changed since it was last told.
    async fn sync(&mut self) -> anyhow::Result<()> {
        let sessions = self.shared.registry.list();
        let gone: Vec<String> = self
            .seen
            .keys()
            .filter(|id| !sessions.iter().any(|s| &s.id == *id))
            .cloned()
            .collect();
        for id in gone {
            self.seen.remove(&id);
            self.send(&DashboardOut::SessionRemoved { session_id: &id })
                .await?;
        }
        for s in &sessions {
            let (key, alerts) = (key(s), s.alerts());
            match self.seen.get(&s.id) {
                None => {
                    self.seen.insert(s.id.clone(), seen(s));
                    let session = listed(s);
                    self.send(&DashboardOut::SessionAdded { session }).await?;
                }
                Some(old) if old.key != key || old.alerts != alerts => {
                    if let Some(old) = self.seen.get_mut(&s.id) {
                        old.key = key;
                        old.alerts = alerts;
                    }
                    let session = listed(s);
                    self.send(&DashboardOut::SessionUpdated { session }).await?;
                }
                Some(_) => {}
            }
            self.preview(s).await?;
        }
        Ok(())
    }

    /// Sends a session's preview when it changed and the last one is at least a tick old.
    async fn preview(&mut self, s: &Session) -> anyhow::Result<()> {
        let Some(old) = self.seen.get_mut(&s.id) else {
            return Ok(());
        };
        let now = Instant::now();
        if old.preview_at.is_some_and(|at| now < at + TICK) {
            return Ok(());
        }
        let lines = s.preview(PREVIEW_LINES, PREVIEW_WIDTH);
        if old.preview_at.is_some() && lines == old.preview {
            return Ok(());
        }
        old.preview_at = Some(now);
        old.preview.clone_from(&lines);
        let msg = DashboardOut::Preview {
            session_id: &s.id,
            machine: None,
            lines: &lines,
        };
        self.send(&msg).await
    }

    /// Acts on one message from the page; unknown types and bad JSON are ignored. A
    /// request that fails is answered with `operation-error`.
    async fn handle(&mut self, text: &[u8]) -> anyhow::Result<()> {
        let Ok(msg) = serde_json::from_slice::<DashboardIn>(text) else {
            return Ok(());
        };
        match &msg {
            DashboardIn::Unknown => Ok(()),
            DashboardIn::CreateSession { tool, cwd, machine }
                if !machine.is_empty() && machine != crate::events::LOCAL =>
            {
                self.create_on(machine, tool, cwd).await
            }
            DashboardIn::CreateSession { tool, cwd, .. } => self.create(tool, cwd).await,
            DashboardIn::OpenRemote {
                machine,
                session_id,
            } => {
                let reply = match self.shared.open_remote(machine, session_id).await {
                    Ok((port, key)) => DashboardOut::RemoteOpened {
                        machine,
                        session_id,
                        port,
                        key,
                    },
                    Err(e) => DashboardOut::OperationError {
                        operation: msg.operation(),
                        session_id,
                        error: format!("{e:#}"),
                    },
                };
                self.send(&reply).await
            }
            _ => match answer(&self.shared, &msg).await {
                Ok(Some(reply)) => self.send(&reply).await,
                // Stop, rename, clear-attention: the page sees the effect now, not at
                // the next tick.
                Ok(None) => self.sync().await,
                Err(e) => {
                    let error = DashboardOut::OperationError {
                        operation: msg.operation(),
                        session_id: msg.session_id(),
                        error: format!("{e:#}"),
                    };
                    self.send(&error).await
                }
            },
        }
    }

    /// Starts `tool` on another machine, in `cwd` there (empty: its home). The page sees
    /// the session in that machine's group once the link refreshes its list.
    async fn create_on(&mut self, machine: &str, tool: &str, cwd: &str) -> anyhow::Result<()> {
        self.send(&DashboardOut::SessionCreating { tool, cwd })
            .await?;
        match self.shared.create_on(machine, tool, cwd).await {
            Ok(session) => {
                let session = itwillsync_protocol::json::Session {
                    machine: Some(machine.to_string()),
                    ..itwillsync_protocol::json::Session::public(&session)
                };
                self.send(&DashboardOut::SessionCreated { session }).await
            }
            Err(e) => {
                let error = format!("{e:#}");
                self.send(&DashboardOut::SessionCreateError { error }).await
            }
        }
    }

    /// Starts `tool` in `cwd` (a bare name on `PATH`, a directory inside home).
    async fn create(&mut self, tool: &str, cwd: &str) -> anyhow::Result<()> {
        self.send(&DashboardOut::SessionCreating { tool, cwd })
            .await?;
        match self.shared.create(tool, cwd).await {
            Ok(session) => {
                // The page learns of it here rather than as `session-added`.
                self.seen.insert(session.id.clone(), seen(&session));
                let session = listed(&session);
                self.send(&DashboardOut::SessionCreated { session }).await
            }
            Err(e) => {
                let error = format!("{e:#}");
                self.send(&DashboardOut::SessionCreateError { error }).await
            }
        }
    }
}

/// Carries out a request on a session or the folder browser: its reply, if it has one;
/// `Err` when it failed (the page is told why).
async fn answer<'m>(
    shared: &Shared,
    msg: &'m DashboardIn,
) -> anyhow::Result<Option<DashboardOut<'m>>> {
    let find = |id: &str| {
        shared
            .registry
            .list()
            .into_iter()
            .find(|s| s.id == id)
            .ok_or_else(|| anyhow::anyhow!("no session with id {id:?}"))
    };
    match msg {
        DashboardIn::ListDir { path, machine } if machine.is_empty() || machine == LOCAL => {
            let home = shared.home.as_ref();
            let home = home.ok_or_else(|| anyhow::anyhow!("the server has no home directory"))?;
            Ok(Some(DashboardOut::DirListing {
                listing: home.listing_blocking(path).await?,
                machine: None,
            }))
        }
        DashboardIn::ListDir { path, machine } => {
            let path = path.clone();
            match shared
                .machines
                .get(machine)?
                .ask(ClientMsg::ListDir { path })
                .await?
            {
                ServerMsg::Dir { listing } => Ok(Some(DashboardOut::DirListing {
                    listing,
                    machine: Some(machine),
                })),
                other => anyhow::bail!("{machine} answered list-dir with {other:?}"),
            }
        }
        DashboardIn::GetMetadata { session_id } => {
            let session = find(session_id)?;
            let metadata = Metadata::of(&session);
            Ok(Some(DashboardOut::Metadata {
                session_id,
                metadata,
            }))
        }
        DashboardIn::StopSession {
            session_id,
            machine,
        } if machine.is_empty() || machine == LOCAL => {
            find(session_id)?.terminate()?;
            Ok(None)
        }
        DashboardIn::StopSession {
            session_id,
            machine,
        } => {
            let target = session_id.clone();
            let kill = ClientMsg::Kill {
                target,
                signal: None,
            };
            shared.machines.get(machine)?.ask(kill).await?;
            Ok(None)
        }
        DashboardIn::RenameSession {
            session_id,
            name,
            machine,
        } if machine.is_empty() || machine == LOCAL => {
            shared.registry.rename(&find(session_id)?.id, name)?;
            Ok(None)
        }
        DashboardIn::RenameSession {
            session_id,
            name,
            machine,
        } => {
            let (target, name) = (session_id.clone(), name.clone());
            let rename = ClientMsg::Rename { target, name };
            shared.machines.get(machine)?.ask(rename).await?;
            Ok(None)
        }
        DashboardIn::ClearAttention { session_id } => {
            find(session_id)?.clear_attention();
            Ok(None)
        }
        DashboardIn::CreateSession { .. }
        | DashboardIn::OpenRemote { .. }
        | DashboardIn::Unknown => Ok(None),
    }
}

/// A send to the page, bounded by [`SEND_TIMEOUT`].
async fn timeout(
    send: impl std::future::Future<Output = anyhow::Result<()>>,
) -> anyhow::Result<()> {
    tokio::time::timeout(SEND_TIMEOUT, send)
        .await
        .map_err(|_| anyhow::anyhow!("the page stopped reading"))?
}

/// What decides whether a `session-updated` is due.
fn key(s: &Session) -> String {
    let info = s.info();
    format!(
        "{}\n{}\n{:?}\n{}x{}",
        info.name,
        info.status.as_str(),
        info.client_counts,
        info.size.cols,
        info.size.rows
    )
}

fn seen(s: &Session) -> Seen {
    Seen {
        key: key(s),
        alerts: s.alerts(),
        preview: Vec::new(),
        preview_at: None,
    }
}
