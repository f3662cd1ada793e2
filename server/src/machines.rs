//! The other machines (DESIGN.md "Machines"): one link per machine in `machines.json`,
//! over OpenSSH, never over a protocol or port of ours.
//!
//! A link runs `sh -c 'exec $ITWILLSYNC_SSH_COMMAND -T -o BatchMode=yes "$@"' DEST
//! itwillsync bridge` (the variable, read from the server's environment at start and
//! defaulting to `ssh`, is a shell command line as git's `GIT_SSH_COMMAND` is; the
//! destination and the remote command are arguments, never spliced into it). The bridge
//! joins the child's stdio to that machine's server socket, starting the server there, so
//! this server speaks the local protocol as a client: preamble (a version mismatch is the
//! state "needs upgrade", retried only every `machineBackoffMaxSecs`), `Subscribe`, then
//! a `List` as ping every `machinePingSecs` on the same connection. Its `Sessions` answer
//! is the pong and the machine's session list, kept (marked offline) while the link is
//! down. The machine is offline after `machineOfflineSecs` without any frame from it, or
//! at once when ssh exits; the link then reconnects after 1 s, doubling up to
//! `machineBackoffMaxSecs`. Every timer is tokio's, so tests run them in paused time.
//!
//! Remote events (only those of the remote's own sessions, so two machines linked to each
//! other cannot echo events forever) are re-emitted here with the machine's name, and
//! `machine-online` / `machine-offline` are emitted on each transition. Requests for
//! `MACHINE:TARGET` (`conn.rs`) go through [`Link::request`] on the same connection;
//! attachments open their own ssh connection ([`Link::open`], `remote.rs`).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{bail, Context};
use futures_util::{SinkExt, StreamExt};
use itwillsync_protocol::{
    ClientMsg, EventKind, MachineInfo, MachineState, ServerMsg, SessionInfo,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::config::Config;
use crate::events::{Events, LOCAL};
use crate::home::Home;
use crate::session::now_ms;
use crate::shutdown::Shutdown;

mod ssh;

use ssh::seconds;
pub use ssh::{Lost, Remote};

/// The first wait before reconnecting (a link's, a mirror's); it doubles up to
/// `machineBackoffMaxSecs` ([`Timing::after`]).
pub(crate) const BACKOFF_MIN: Duration = Duration::from_secs(1);
/// Requests queued for one link while it is busy.
const QUEUE: usize = 64;

/// One entry of `machines.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Machine {
    /// What `MACHINE:NAME` starts with (`machine add` checks it).
    pub name: String,
    /// Any ssh destination; `~/.ssh/config` applies.
    pub dest: String,
}

/// `machines.json` in `home`.
pub fn file(home: &Home) -> PathBuf {
    home.dir().join("machines.json")
}

/// The machines in `home` (none when the file does not exist).
pub fn load(home: &Home) -> anyhow::Result<Vec<Machine>> {
    let path = file(home);
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).with_context(|| format!("{}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Writes `machines` to `home` (0600).
pub fn save(home: &Home, machines: &[Machine]) -> anyhow::Result<()> {
    home.create()?;
    let text = serde_json::to_string_pretty(machines)?;
    crate::home::write_private(&file(home), text.as_bytes())
}

/// The link's timers (config keys `machinePingSecs`, `machineOfflineSecs`,
/// `machineBackoffMaxSecs`).
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Between pings.
    pub ping: Duration,
    /// Silence after which the machine is offline.
    pub offline: Duration,
    /// Longest wait between reconnection attempts.
    pub backoff_max: Duration,
}

impl Timing {
    /// From the config.
    pub fn from_config(config: &Config) -> Self {
        Self {
            ping: Duration::from_secs(config.machine_ping_secs),
            offline: Duration::from_secs(config.machine_offline_secs),
            backoff_max: Duration::from_secs(config.machine_backoff_max_secs),
        }
    }

    /// The wait before the next reconnection attempt after one of `backoff`: doubled, at
    /// most `backoff_max`.
    pub fn after(&self, backoff: Duration) -> Duration {
        (backoff * 2).min(self.backoff_max)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section is a plain assignment or clone.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Every machine's link.
pub struct Machines {
    home: Home,
    timing: Timing,
    /// `ITWILLSYNC_SSH_COMMAND` (or `ssh`), as the server found it at start.
    ssh: String,
    events: Arc<Events>,
    shutdown: Shutdown,
    links: Mutex<Vec<Arc<Link>>>,
    /// Bumped when a machine is added or removed, or a link's state or session list
    /// changes (the dashboard watches it).
    changes: Arc<watch::Sender<u64>>,
}

impl Machines {
    /// The links of `machines.json` in `home`, started. A file that cannot be read is
    /// logged and means no machines until the next reload.
    pub fn start(
        home: Home,
        timing: Timing,
        ssh: String,
        events: Arc<Events>,
        shutdown: Shutdown,
    ) -> Arc<Self> {
        let machines = Arc::new(Self {
            home,
            timing,
            ssh,
            events,
            shutdown,
            links: Mutex::new(Vec::new()),
            changes: Arc::new(watch::channel(0).0),
        });
        if let Err(e) = machines.reload() {
            tracing::warn!("machines: {e:#}");
        }
        machines
    }

    /// Re-reads `machines.json`: links of removed or changed machines stop, new ones
    /// start, unchanged ones carry on.
    pub fn reload(&self) -> anyhow::Result<()> {
        let wanted = load(&self.home)?;
        let mut links = lock(&self.links);
        let mut kept = Vec::new();
        for machine in wanted {
            let existing = links
                .iter()
                .find(|l| l.name == machine.name && l.dest == machine.dest)
                .cloned();
            kept.push(existing.unwrap_or_else(|| self.spawn(machine)));
        }
        for old in links.iter() {
            if !kept.iter().any(|k| Arc::ptr_eq(k, old)) {
                tracing::info!(machine = %old.name, "machine removed");
                old.removed.send_replace(true);
                old.stop();
            }
        }
        *links = kept;
        self.changes.send_modify(|n| *n += 1);
        Ok(())
    }

    fn spawn(&self, machine: Machine) -> Arc<Link> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let link = Arc::new(Link {
            name: machine.name,
            dest: machine.dest,
            ssh: self.ssh.clone(),
            timing: self.timing,
            known: Mutex::new(Known {
                last_seen_ms: None,
                sessions: Vec::new(),
                detail: None,
            }),
            state: watch::channel(MachineState::Connecting).0,
            requests: tx,
            task: Mutex::new(None),
            changes: self.changes.clone(),
            removed: watch::channel(false).0,
        });
        let task = tokio::spawn(run(
            link.clone(),
            rx,
            self.events.clone(),
            self.shutdown.clone(),
        ));
        *lock(&link.task) = Some(task);
        link
    }

    /// Bumped on every change of [`Machines::infos`].
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Every machine as its link sees it, in file order.
    pub fn infos(&self) -> Vec<MachineInfo> {
        lock(&self.links).iter().map(|l| l.info()).collect()
    }

    /// The link of machine `name`.
    pub fn get(&self, name: &str) -> anyhow::Result<Arc<Link>> {
        lock(&self.links)
            .iter()
            .find(|l| l.name == name)
            .cloned()
            .with_context(|| {
                let name = itwillsync_protocol::text::escape(name);
                format!("no machine named {name} (see `itwillsync machine ls`)")
            })
    }

    /// `MACHINE:REST` split into the machine's link and `REST`; `None` for a target on
    /// this machine (no colon, or `local:`). Session names cannot contain a colon, so a
    /// colon always names a machine.
    pub fn split<'a>(&self, target: &'a str) -> anyhow::Result<Option<(Arc<Link>, &'a str)>> {
        let Some((machine, rest)) = target.split_once(':') else {
            return Ok(None);
        };
        if machine == LOCAL {
            return Ok(None);
        }
        Ok(Some((self.get(machine)?, rest)))
    }

    /// The link of the machine whose last known sessions include session `id`, once every
    /// link has connected or given up (a server just started, after a hand-over, is asked
    /// to resume an attachment by the bare id it had sent the client).
    pub async fn holding(&self, id: &str) -> Option<Arc<Link>> {
        let links = lock(&self.links).clone();
        for link in links {
            let mut state = link.state();
            let connected = state.wait_for(|s| *s != MachineState::Connecting);
            let _ = tokio::time::timeout(link.timing.offline, connected).await;
            if lock(&link.known).sessions.iter().any(|s| s.id == id) {
                return Some(link);
            }
        }
        None
    }

    /// Stops every link (the server is stopping).
    pub fn stop_all(&self) {
        for link in lock(&self.links).drain(..) {
            link.stop();
        }
    }
}

/// What is known of a machine beyond its state.
struct Known {
    last_seen_ms: Option<u64>,
    sessions: Vec<SessionInfo>,
    detail: Option<String>,
}

/// A request for the remote server and where its reply goes.
struct Request {
    msg: ClientMsg,
    reply: oneshot::Sender<ServerMsg>,
}

/// One machine's link.
pub struct Link {
    /// The machine's name.
    pub name: String,
    /// Its ssh destination.
    pub dest: String,
    ssh: String,
    timing: Timing,
    known: Mutex<Known>,
    state: watch::Sender<MachineState>,
    requests: mpsc::Sender<Request>,
    task: Mutex<Option<JoinHandle<()>>>,
    /// [`Machines::changes`].
    changes: Arc<watch::Sender<u64>>,
    /// True once the machine is removed (`machine rm`): its mirrors close instead of
    /// reconnecting.
    removed: watch::Sender<bool>,
}

impl Link {
    /// The machine as listed.
    pub fn info(&self) -> MachineInfo {
        let known = lock(&self.known);
        MachineInfo {
            name: self.name.clone(),
            dest: self.dest.clone(),
            state: *self.state.borrow(),
            last_seen_ms: known.last_seen_ms,
            sessions: known.sessions.clone(),
            detail: known.detail.clone(),
        }
    }

    /// The link's state, watched (attachments reconnect when it goes offline).
    pub fn state(&self) -> watch::Receiver<MachineState> {
        self.state.subscribe()
    }

    /// The timers (attachments reconnect with the same backoff).
    pub fn timing(&self) -> Timing {
        self.timing
    }

    /// As [`Link::request`], with an `Error` reply as an error naming the machine.
    pub async fn ask(&self, msg: ClientMsg) -> anyhow::Result<ServerMsg> {
        match self.request(msg).await? {
            ServerMsg::Error { message } => bail!("{}: {message}", self.name),
            reply => Ok(reply),
        }
    }

    /// Sends `msg` to the remote server on the link and returns its reply; an `Error`
    /// reply is returned as it is. An error when the machine is not online.
    pub async fn request(&self, msg: ClientMsg) -> anyhow::Result<ServerMsg> {
        // A link that is still connecting (the server just started) is waited for.
        let mut watch = self.state();
        let connected = watch.wait_for(|s| *s != MachineState::Connecting);
        let _ = tokio::time::timeout(self.timing.offline, connected).await;
        let state = *self.state.borrow();
        if state != MachineState::Online {
            bail!("machine {} is {}", self.name, state.as_str());
        }
        let (reply, rx) = oneshot::channel();
        self.requests
            .send(Request { msg, reply })
            .await
            .map_err(|_| anyhow::anyhow!("machine {} is gone", self.name))?;
        rx.await
            .map_err(|_| anyhow::anyhow!("lost machine {} before it answered", self.name))
    }

    /// A new connection to the machine's server: ssh started, preambles exchanged.
    pub async fn open(&self) -> Result<Remote, Lost> {
        Remote::open(&self.ssh, &self.dest, self.timing.offline).await
    }

    fn set(&self, state: MachineState, detail: Option<String>) {
        lock(&self.known).detail = detail;
        self.state.send_replace(state);
        self.changes.send_modify(|n| *n += 1);
    }

    fn seen(&self) {
        lock(&self.known).last_seen_ms = Some(now_ms());
    }

    /// Resolves once the machine is removed from this server (never when the link only
    /// stops because the server does).
    pub async fn removed(&self) {
        let _ = self.removed.subscribe().wait_for(|removed| *removed).await;
    }

    fn stop(&self) {
        if let Some(task) = lock(&self.task).take() {
            // Dropping the task's future kills its ssh child (kill_on_drop).
            task.abort();
        }
        self.state.send_replace(MachineState::Offline);
    }
}

/// What a reply on the link answers.
enum Pending {
    /// Our `Subscribe`.
    Subscribe,
    /// A `List`: a ping or a refresh after an event.
    List,
    /// A request of a local client.
    Client(oneshot::Sender<ServerMsg>),
}

/// The link's life: connect, serve, lose, wait, again, until stopped.
async fn run(
    link: Arc<Link>,
    mut requests: mpsc::Receiver<Request>,
    events: Arc<Events>,
    shutdown: Shutdown,
) {
    let mut backoff = BACKOFF_MIN;
    loop {
        link.set(MachineState::Connecting, None);
        let lost = tokio::select! {
            lost = serve(&link, &mut requests, &events) => lost,
            _ = shutdown.wait() => return,
        };
        let was_online = *link.state.borrow() == MachineState::Online;
        let wait = match &lost {
            Lost::Mismatch(why) => {
                tracing::warn!(machine = %link.name, "needs upgrade: {why}");
                link.set(MachineState::NeedsUpgrade, Some(why.clone()));
                link.timing.backoff_max
            }
            Lost::Gone(why) => {
                tracing::info!(machine = %link.name, "offline: {why}");
                link.set(MachineState::Offline, Some(why.clone()));
                if was_online {
                    backoff = BACKOFF_MIN;
                }
                backoff
            }
        };
        if was_online {
            events.machine(
                EventKind::MachineOffline,
                &link.name,
                Some(lost.message().into()),
            );
        }
        backoff = link.timing.after(backoff);
        // Requests that arrive meanwhile are refused at once, not queued.
        let until = Instant::now() + wait;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(until) => break,
                request = requests.recv() => match request {
                    Some(request) => {
                        let message = format!("machine {} is {}", link.name, link.state.borrow().as_str());
                        let _ = request.reply.send(ServerMsg::Error { message });
                    }
                    None => return,
                },
                _ = shutdown.wait() => return,
            }
        }
    }
}

/// One connection's life; why it ended.
async fn serve(link: &Link, requests: &mut mpsc::Receiver<Request>, events: &Events) -> Lost {
    let mut remote = match link.open().await {
        Ok(remote) => remote,
        Err(lost) => return lost,
    };
    let mut pending = VecDeque::new();
    let sent = async {
        remote.to.send(&ClientMsg::Subscribe).await?;
        remote.to.send(&ClientMsg::List).await
    };
    if sent.await.is_err() {
        return Lost::Gone(remote.why_gone("ssh exited").await);
    }
    pending.push_back(Pending::Subscribe);
    pending.push_back(Pending::List);
    let timing = link.timing;
    let mut heard = Instant::now();
    let mut ping = tokio::time::interval_at(Instant::now() + timing.ping, timing.ping);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // A refresh is asked for at most once at a time, however many events arrive.
    let mut refreshing = true;
    loop {
        let outgoing = tokio::select! {
            frame = remote.from.next() => {
                let msg = match frame {
                    Some(Ok(msg)) => msg,
                    Some(Err(e)) => return Lost::Gone(format!("bad frame from the machine: {e}")),
                    None => return Lost::Gone(remote.why_gone("ssh exited").await),
                };
                heard = Instant::now();
                link.seen();
                match received(link, msg, &mut pending, events, &mut refreshing) {
                    Ok(next) => next,
                    Err(lost) => return lost,
                }
            }
            request = requests.recv() => match request {
                Some(Request { msg, reply }) => {
                    pending.push_back(Pending::Client(reply));
                    Some(msg)
                }
                None => return Lost::Gone("the link was stopped".into()),
            },
            _ = ping.tick() => {
                pending.push_back(Pending::List);
                Some(ClientMsg::List)
            }
            _ = tokio::time::sleep_until(heard + timing.offline) => {
                return Lost::Gone(format!("no answer in {}", seconds(timing.offline)));
            }
            _ = remote.child.wait() => return Lost::Gone(remote.why_gone("ssh exited").await),
        };
        if let Some(msg) = outgoing {
            if remote.to.send(&msg).await.is_err() {
                return Lost::Gone(remote.why_gone("ssh exited").await);
            }
        }
    }
}

/// Handles one frame from the remote server; a request to send in return, if any.
fn received(
    link: &Link,
    msg: ServerMsg,
    pending: &mut VecDeque<Pending>,
    events: &Events,
    refreshing: &mut bool,
) -> Result<Option<ClientMsg>, Lost> {
    match msg {
        ServerMsg::Event { mut event } => {
            // Only the remote's own sessions: a machine's machines are its business.
            if event.machine != LOCAL {
                return Ok(None);
            }
            event.machine = link.name.clone();
            events.forward(event);
            if *refreshing {
                return Ok(None);
            }
            *refreshing = true;
            pending.push_back(Pending::List);
            Ok(Some(ClientMsg::List))
        }
        ServerMsg::Warning { message } => {
            tracing::debug!(machine = %link.name, "warning from the machine: {message}");
            Ok(None)
        }
        ServerMsg::Closing { reason } => Err(Lost::Gone(format!("its server stopped: {reason}"))),
        reply => match pending.pop_front() {
            Some(Pending::Subscribe) => match reply {
                ServerMsg::Subscribed => Ok(None),
                other => Err(Lost::Gone(format!(
                    "unexpected answer to subscribe: {other:?}"
                ))),
            },
            Some(Pending::List) => match reply {
                ServerMsg::Sessions { sessions } => {
                    *refreshing = false;
                    let changed = {
                        let mut known = lock(&link.known);
                        let changed = known.sessions != sessions;
                        known.sessions = sessions;
                        changed
                    };
                    if changed {
                        link.changes.send_modify(|n| *n += 1);
                    }
                    if *link.state.borrow() != MachineState::Online {
                        tracing::info!(machine = %link.name, "online");
                        link.set(MachineState::Online, None);
                        events.machine(EventKind::MachineOnline, &link.name, None);
                    }
                    Ok(None)
                }
                other => Err(Lost::Gone(format!(
                    "unexpected answer to a ping: {other:?}"
                ))),
            },
            Some(Pending::Client(reply_to)) => {
                let _ = reply_to.send(reply);
                Ok(None)
            }
            None => Err(Lost::Gone(format!("an answer nobody asked for: {reply:?}"))),
        },
    }
}

#[cfg(test)]
mod tests;
