//! Whose size the PTY takes when several clients watch one session (DESIGN.md "Sizes").
//!
//! Every attached client is registered here with its kind, whether it is read-only, its
//! last reported size and when it last claimed the size (typed or resized). The policy
//! picks the applying client's size; read-only clients never count.

use std::collections::HashMap;

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
    /// When it last typed or resized.
    stamp: u64,
    /// For phones: when its user last forced the size; lets it win over local terminals.
    forced: Option<u64>,
}

/// The clients of one session and the resize policy.
#[derive(Debug)]
pub struct Clients {
    policy: ResizePolicy,
    max: Size,
    clock: u64,
    next_id: u64,
    clients: HashMap<u64, Client>,
}

impl Clients {
    /// No clients yet; sizes are clamped to `max`.
    pub fn new(policy: ResizePolicy, max: Size) -> Self {
        Self {
            policy,
            max,
            clock: 0,
            next_id: 1,
            clients: HashMap::new(),
        }
    }

    /// Clamps a requested size to 1..=max in each dimension.
    pub fn clamp(&self, size: Size) -> Size {
        clamp(size, self.max)
    }

    /// Registers a client; a newly attached terminal is the most recent one. Returns its id.
    pub fn join(&mut self, kind: Kind, read_only: bool, size: Option<Size>) -> u64 {
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
        self.clock += 1;
        let clock = self.clock;
        let max = self.max;
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
        client.stamp = clock;
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
            ResizePolicy::Latest => {
                newest(&mut writers().map(|c| (c.stamp, c.size.unwrap_or(self.max))))
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
