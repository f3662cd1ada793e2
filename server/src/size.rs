//! Whose size the PTY takes when several clients watch one session (DESIGN.md "Sizes").
//!
//! Every attached client is registered here with its kind, whether it is read-only, its
//! last reported size and when it last claimed the size (typed or resized). The policy
//! picks the applying client's size; read-only clients never count.
//!
//! The default policy, `active`, gives the size to the device in use: the client that
//! most recently typed, resized its own window or pressed Fit. A phone that opens (or
//! reconnects) takes the size at once when every local terminal has been idle for
//! `phoneTakeoverSecs`; otherwise it shows the current size until its user types or
//! presses Fit. When the client whose size applies leaves, the most recent remaining
//! eligible client's size applies.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use itwillsync_protocol::{ClientCounts, Size};

use crate::config::ResizePolicy;

/// Where a client is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A terminal attached over the Unix socket.
    Local,
    /// A browser attached over WebSocket.
    Phone,
}

/// What a client just did that may give it the size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// It typed.
    Typed,
    /// It reported a new size.
    Resized(Size),
    /// A phone's user asked to take over the size.
    Forced(Size),
}

#[derive(Debug)]
struct Client {
    kind: Kind,
    read_only: bool,
    size: Option<Size>,
    /// When it last claimed the size (a logical clock: larger is more recent; 0 never).
    stamp: u64,
    /// For phones: when its user last forced the size; lets it win over local terminals.
    forced: Option<u64>,
    /// When it attached, typed or resized last (wall clock): a local terminal idle for
    /// `takeover` lets an opening phone take the size.
    busy_at: Instant,
}

/// The clients of one session and the resize policy.
#[derive(Debug)]
pub struct Clients {
    policy: ResizePolicy,
    max: Size,
    /// `phoneTakeoverSecs`: how long every local terminal must have been idle for a phone
    /// that opens to take the size at once (`active` only).
    takeover: Duration,
    clock: u64,
    next_id: u64,
    clients: HashMap<u64, Client>,
}

/// [`Clients::with_takeover`]'s default, `phoneTakeoverSecs`'s: long enough that a glance
/// at the phone while working at the desk does not resize the desk's terminal.
pub const DEFAULT_TAKEOVER: Duration = Duration::from_secs(30);

impl Clients {
    /// No clients yet; sizes are clamped to `max`.
    pub fn new(policy: ResizePolicy, max: Size) -> Self {
        Self {
            policy,
            max,
            takeover: DEFAULT_TAKEOVER,
            clock: 0,
            next_id: 1,
            clients: HashMap::new(),
        }
    }

    /// Sets `phoneTakeoverSecs` (see [`DEFAULT_TAKEOVER`]).
    pub fn with_takeover(mut self, takeover: Duration) -> Self {
        self.takeover = takeover;
        self
    }

    /// Clamps a requested size to 1..=max in each dimension.
    pub fn clamp(&self, size: Size) -> Size {
        clamp(size, self.max)
    }

    /// Registers a client; a newly attached terminal is the most recent one. Returns its id.
    pub fn join(&mut self, kind: Kind, read_only: bool, size: Option<Size>) -> u64 {
        self.join_at(kind, read_only, size, Instant::now())
    }

    fn join_at(&mut self, kind: Kind, read_only: bool, size: Option<Size>, now: Instant) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.clock += 1;
        let size = size.map(|s| self.clamp(s));
        let stamp = if kind == Kind::Local { self.clock } else { 0 };
        self.clients.insert(
            id,
            Client {
                kind,
                read_only,
                size,
                stamp,
                forced: None,
                busy_at: now,
            },
        );
        id
    }

    /// Forgets a client; what kind it was (see [`Clients::describe`]).
    pub fn leave(&mut self, id: u64) -> Option<&'static str> {
        let client = self.clients.remove(&id)?;
        Some(Self::describe(client.kind, client.read_only))
    }

    /// What kind of client this is, in events: `terminal`, `phone` or `read-only`.
    pub fn describe(kind: Kind, read_only: bool) -> &'static str {
        match (read_only, kind) {
            (true, _) => "read-only",
            (false, Kind::Local) => "terminal",
            (false, Kind::Phone) => "phone",
        }
    }

    /// Records what a client did.
    pub fn claim(&mut self, id: u64, claim: Claim) {
        self.claim_at(id, claim, Instant::now());
    }

    fn claim_at(&mut self, id: u64, claim: Claim, now: Instant) {
        self.clock += 1;
        let clock = self.clock;
        let max = self.max;
        // Decided before the client is borrowed: what `active` makes of a phone's report.
        let phone_claims = match (self.clients.get(&id), claim) {
            (Some(c), Claim::Resized(_)) if c.kind == Kind::Phone => {
                self.phone_report_claims(id, c.size.is_none(), now)
            }
            _ => true,
        };
        let Some(client) = self.clients.get_mut(&id) else {
            return;
        };
        match claim {
            Claim::Typed => {}
            Claim::Resized(size) => client.size = Some(clamp(size, max)),
            Claim::Forced(size) => {
                client.size = Some(clamp(size, max));
                client.forced = Some(clock);
            }
        }
        if client.kind == Kind::Local {
            client.busy_at = now;
        }
        if self.policy != ResizePolicy::Active || phone_claims {
            client.stamp = clock;
        }
    }

    /// Under `active`, whether a phone's size report (not a Fit) claims the size: its first
    /// one (it just opened) when every local terminal has been idle for `takeover`; a later
    /// one (its window changed) when its size already applies.
    fn phone_report_claims(&self, id: u64, first: bool, now: Instant) -> bool {
        if first {
            self.clients.values().all(|c| {
                c.kind != Kind::Local
                    || c.read_only
                    || now.saturating_duration_since(c.busy_at) >= self.takeover
            })
        } else {
            self.holder() == Some(id)
        }
    }

    /// The client whose size applies under `active` and `latest`: the most recent
    /// eligible one (ties go to the newest client).
    fn holder(&self) -> Option<u64> {
        self.clients
            .iter()
            .filter(|(_, c)| !c.read_only && c.size.is_some())
            .max_by_key(|(id, c)| (c.stamp, **id))
            .map(|(id, _)| *id)
    }

    /// Attached clients by kind.
    pub fn counts(&self) -> ClientCounts {
        let mut counts = ClientCounts::default();
        for c in self.clients.values() {
            match (c.read_only, c.kind) {
                (true, _) => counts.read_only += 1,
                (false, Kind::Local) => counts.terminals += 1,
                (false, Kind::Phone) => counts.phones += 1,
            }
        }
        counts
    }

    /// Whether any local terminal is attached (read-only ones included).
    pub fn has_local(&self) -> bool {
        self.clients.values().any(|c| c.kind == Kind::Local)
    }

    /// The size the policy picks, or `None` when no client may set it.
    pub fn effective(&self) -> Option<Size> {
        let writers = || {
            self.clients
                .values()
                .filter(|c| !c.read_only && c.size.is_some())
        };
        let newest = |it: &mut dyn Iterator<Item = (u64, Size)>| {
            it.max_by_key(|(stamp, _)| *stamp).map(|(_, s)| s)
        };
        match self.policy {
            ResizePolicy::Active | ResizePolicy::Latest => {
                self.holder().and_then(|id| self.clients[&id].size)
            }
            ResizePolicy::Smallest => writers().filter_map(|c| c.size).reduce(|a, b| Size {
                cols: a.cols.min(b.cols),
                rows: a.rows.min(b.rows),
            }),
            ResizePolicy::Viewport => {
                let locals = writers().any(|c| c.kind == Kind::Local);
                newest(&mut writers().filter_map(|c| {
                    let size = c.size?;
                    match (c.kind, locals) {
                        (Kind::Local, _) => Some((c.stamp, size)),
                        (Kind::Phone, true) => c.forced.map(|f| (f, size)),
                        (Kind::Phone, false) => Some((c.stamp, size)),
                    }
                }))
            }
        }
    }
}

fn clamp(size: Size, max: Size) -> Size {
    Size {
        cols: size.cols.clamp(1, max.cols),
        rows: size.rows.clamp(1, max.rows),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: Size = Size {
        cols: 500,
        rows: 200,
    };

    fn s(cols: u16, rows: u16) -> Size {
        Size { cols, rows }
    }

    #[test]
    fn viewport_phones_follow_terminals_unless_forced() {
        let mut c = Clients::new(ResizePolicy::Viewport, MAX);
        let phone = c.join(Kind::Phone, false, Some(s(40, 20)));
        assert_eq!(c.effective(), Some(s(40, 20)), "a lone phone sets the size");
        let a = c.join(Kind::Local, false, Some(s(100, 30)));
        let b = c.join(Kind::Local, false, Some(s(120, 40)));
        assert_eq!(c.effective(), Some(s(120, 40)), "newest terminal");
        c.claim(a, Claim::Typed);
        assert_eq!(c.effective(), Some(s(100, 30)), "terminal that typed last");
        c.claim(phone, Claim::Resized(s(30, 10)));
        c.claim(phone, Claim::Typed);
        assert_eq!(c.effective(), Some(s(100, 30)), "a phone is a viewport");
        c.claim(phone, Claim::Forced(s(50, 25)));
        assert_eq!(c.effective(), Some(s(50, 25)), "unless its user forces");
        c.claim(b, Claim::Typed);
        assert_eq!(c.effective(), Some(s(120, 40)));
        c.leave(b);
        assert_eq!(c.effective(), Some(s(50, 25)), "next most recent eligible");
        c.leave(a);
        c.leave(phone);
        assert_eq!(c.effective(), None);
    }

    const TAKEOVER: Duration = Duration::from_secs(30);

    fn active() -> (Clients, Instant) {
        let c = Clients::new(ResizePolicy::Active, MAX).with_takeover(TAKEOVER);
        (c, Instant::now())
    }

    #[test]
    fn active_a_phone_opening_takes_the_size_only_after_the_desk_idled() {
        let (mut c, t0) = active();
        let desk = c.join_at(Kind::Local, false, Some(s(160, 48)), t0);
        // Opened while the desk is busy: it shows the desk's size.
        let phone = c.join_at(Kind::Phone, false, None, t0);
        c.claim_at(phone, Claim::Resized(s(40, 30)), t0 + TAKEOVER / 2);
        assert_eq!(c.effective(), Some(s(160, 48)));
        // A later report of its window (rotated) while the desk's size applies: remembered.
        c.claim_at(phone, Claim::Resized(s(80, 20)), t0 + TAKEOVER * 2);
        assert_eq!(c.effective(), Some(s(160, 48)));
        // Its user types: the phone's size applies.
        c.claim_at(phone, Claim::Typed, t0 + TAKEOVER * 2);
        assert_eq!(c.effective(), Some(s(80, 20)));
        // Rotated back while its size applies: the new size applies.
        c.claim_at(phone, Claim::Resized(s(40, 30)), t0 + TAKEOVER * 2);
        assert_eq!(c.effective(), Some(s(40, 30)));
        // Back at the desk, the first key gives the desk its size again.
        c.claim_at(desk, Claim::Typed, t0 + TAKEOVER * 3);
        assert_eq!(c.effective(), Some(s(160, 48)));
        // The phone reconnects after the desk idled: it takes the size at once.
        c.leave(phone);
        let phone = c.join_at(Kind::Phone, false, None, t0 + TAKEOVER * 5);
        c.claim_at(phone, Claim::Resized(s(40, 30)), t0 + TAKEOVER * 5);
        assert_eq!(c.effective(), Some(s(40, 30)));
        // The desk resizes its window: its size applies.
        c.claim_at(desk, Claim::Resized(s(150, 40)), t0 + TAKEOVER * 6);
        assert_eq!(c.effective(), Some(s(150, 40)));
        // Fit on the phone wins at once.
        c.claim_at(phone, Claim::Forced(s(41, 30)), t0 + TAKEOVER * 6);
        assert_eq!(c.effective(), Some(s(41, 30)));
    }

    #[test]
    fn active_without_a_terminal_the_opening_phone_takes_it_and_leaving_gives_it_back() {
        let (mut c, t0) = active();
        let a = c.join_at(Kind::Phone, false, None, t0);
        c.claim_at(a, Claim::Resized(s(40, 30)), t0);
        assert_eq!(
            c.effective(),
            Some(s(40, 30)),
            "no terminal: nothing to wait for"
        );
        let b = c.join_at(Kind::Phone, false, None, t0);
        c.claim_at(b, Claim::Resized(s(50, 25)), t0);
        assert_eq!(c.effective(), Some(s(50, 25)), "the phone that opened last");
        // A read-only phone never takes it, nor does a read-only terminal keep a phone out.
        let ro = c.join_at(Kind::Phone, true, None, t0);
        c.claim_at(ro, Claim::Resized(s(20, 10)), t0);
        c.claim_at(ro, Claim::Typed, t0);
        c.join_at(Kind::Local, true, Some(s(200, 60)), t0);
        assert_eq!(c.effective(), Some(s(50, 25)));
        let late = c.join_at(Kind::Phone, false, None, t0);
        c.claim_at(late, Claim::Resized(s(30, 20)), t0);
        assert_eq!(c.effective(), Some(s(30, 20)));
        // Whoever applies leaves: the most recent remaining eligible client.
        c.leave(late);
        assert_eq!(c.effective(), Some(s(50, 25)));
        c.claim_at(a, Claim::Typed, t0);
        c.leave(a);
        assert_eq!(c.effective(), Some(s(50, 25)));
        c.leave(b);
        assert_eq!(c.effective(), None, "read-only clients never set it");
    }

    #[test]
    fn active_a_terminal_that_attaches_takes_the_size() {
        let (mut c, t0) = active();
        let phone = c.join_at(Kind::Phone, false, None, t0);
        c.claim_at(phone, Claim::Resized(s(40, 30)), t0);
        let desk = c.join_at(Kind::Local, false, Some(s(120, 40)), t0 + TAKEOVER);
        assert_eq!(c.effective(), Some(s(120, 40)));
        c.leave(desk);
        assert_eq!(c.effective(), Some(s(40, 30)), "the phone's again");
    }

    #[test]
    fn read_only_never_counts_and_sizes_are_clamped() {
        let mut c = Clients::new(ResizePolicy::Latest, MAX);
        c.join(Kind::Local, true, Some(s(10, 10)));
        assert_eq!(c.effective(), None);
        let w = c.join(Kind::Phone, false, Some(s(9000, 0)));
        assert_eq!(c.effective(), Some(s(500, 1)));
        c.claim(w, Claim::Resized(s(80, 24)));
        assert_eq!(c.effective(), Some(s(80, 24)));
    }

    #[test]
    fn smallest_takes_the_minimum_of_each_dimension() {
        let mut c = Clients::new(ResizePolicy::Smallest, MAX);
        c.join(Kind::Local, false, Some(s(100, 20)));
        c.join(Kind::Phone, false, Some(s(50, 40)));
        assert_eq!(c.effective(), Some(s(50, 20)));
    }
}
