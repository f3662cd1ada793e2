//! Who gets a place on a web port (a session's phone port or the dashboard).
//!
//! A connection that has not proved a key is a [`Guest`]: from accept until its plain
//! HTTP request is answered or its WebSocket proves a key, it counts against its address
//! on its listener (at most [`GUESTS_PER_ADDRESS`]) and against the whole server (at most
//! [`GUESTS`]). Over either cap a new connection is closed at once. Guests are short-lived
//! anyway: the TLS handshake, the request headers and the sealed handshake each have 10 s.
//!
//! A connection that proved a key becomes a [`Member`], counted only against its
//! listener's [`MEMBERS`]: no number of guests, from one address or many, can take an
//! authenticated phone's place. An answered keep-alive connection is counted nowhere
//! (hyper closes it after 10 s without a request; a WebSocket upgrade on it enters as a
//! guest again).
//!
//! Locks: a `std::sync::Mutex` around one listener's per-address counts, held for one
//! update; the server-wide count is an atomic, taken while that lock is held so the two
//! counts agree.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Unauthenticated connections from one address to one port: a browser opens up to six
/// to load a page, so eight leave it room while one address cannot fill a port.
pub(crate) const GUESTS_PER_ADDRESS: usize = 8;
/// Unauthenticated connections across every port of the server: a few dozen phones loading
/// pages at once, far below the file-descriptor limit.
pub(crate) const GUESTS: usize = 256;
/// Authenticated connections per listener: far more phones than anyone attaches to one
/// session (or dashboards to one server).
pub(crate) const MEMBERS: usize = 128;

/// A count with a cap, shared by every listener of the process (one server per process).
pub(crate) struct Census {
    now: AtomicUsize,
    cap: usize,
}

impl Census {
    /// An empty census admitting up to `cap`.
    pub(crate) const fn new(cap: usize) -> Self {
        Self {
            now: AtomicUsize::new(0),
            cap,
        }
    }

    fn enter(&self) -> bool {
        self.now
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < self.cap).then_some(n + 1)
            })
            .is_ok()
    }

    fn leave(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The server's unauthenticated connections, on every port.
static SERVER_GUESTS: Census = Census::new(GUESTS);

/// Why a connection was closed at accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Its address already has [`GUESTS_PER_ADDRESS`] unauthenticated connections here.
    Address,
    /// The server already has [`GUESTS`] unauthenticated connections.
    Server,
}

/// One listener's places.
pub(crate) struct Admission {
    /// Unauthenticated connections per address; only addresses with at least one, so it
    /// holds at most [`GUESTS`] entries.
    guests: Mutex<HashMap<IpAddr, usize>>,
    /// The server-wide count this listener's guests also count against.
    server: &'static Census,
    /// Authenticated connections' places.
    members: Arc<Semaphore>,
}

impl Admission {
    /// A listener's admission, counting its guests against the server's.
    pub(crate) fn new() -> Arc<Self> {
        Self::counting(&SERVER_GUESTS)
    }

    fn counting(server: &'static Census) -> Arc<Self> {
        Arc::new(Self {
            guests: Mutex::new(HashMap::new()),
            server,
            members: Arc::new(Semaphore::new(MEMBERS)),
        })
    }

    /// A place for a new unauthenticated connection from `ip`, unless a cap is reached.
    pub(crate) fn enter(self: &Arc<Self>, ip: IpAddr) -> Result<Guest, Refusal> {
        let mut guests = self.guests.lock().unwrap_or_else(|e| e.into_inner());
        if guests.get(&ip).copied().unwrap_or(0) >= GUESTS_PER_ADDRESS {
            return Err(Refusal::Address);
        }
        if !self.server.enter() {
            return Err(Refusal::Server);
        }
        *guests.entry(ip).or_insert(0) += 1;
        Ok(Guest {
            admission: self.clone(),
            ip,
        })
    }
}

/// An unauthenticated connection's place; given back when dropped.
pub(crate) struct Guest {
    admission: Arc<Admission>,
    ip: IpAddr,
}

impl Guest {
    /// The connection proved a key: its guest place becomes a member's, if one is free.
    pub(crate) fn admit(self) -> Option<Member> {
        let members = self.admission.members.clone();
        members
            .try_acquire_owned()
            .ok()
            .map(|place| Member { _place: place })
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        let mut guests = self
            .admission
            .guests
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(count) = guests.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                guests.remove(&self.ip);
            }
        }
        self.admission.server.leave();
    }
}

/// An authenticated connection's place; given back when dropped.
pub(crate) struct Member {
    _place: OwnedSemaphorePermit,
}

/// A connection's guest place while its HTTP requests are served: taken by a WebSocket
/// upgrade, given back when a plain request is answered.
pub(crate) struct Pass {
    admission: Arc<Admission>,
    ip: IpAddr,
    /// Held only to take or drop the guest, never across `.await`.
    guest: Mutex<Option<Guest>>,
}

impl Pass {
    /// The pass of a connection from `ip` admitted as `guest`.
    pub(crate) fn new(admission: Arc<Admission>, ip: IpAddr, guest: Guest) -> Arc<Self> {
        Arc::new(Self {
            admission,
            ip,
            guest: Mutex::new(Some(guest)),
        })
    }

    /// The connection's guest place for a WebSocket upgrade; on a keep-alive connection
    /// whose earlier request was answered, a new one (`Err` over a cap).
    pub(crate) fn take(&self) -> Result<Guest, Refusal> {
        let guest = self.guest.lock().unwrap_or_else(|e| e.into_inner()).take();
        match guest {
            Some(guest) => Ok(guest),
            None => self.admission.enter(self.ip),
        }
    }

    /// A plain request was answered: the connection is no longer a guest.
    pub(crate) fn answered(&self) {
        let guest = self.guest.lock().unwrap_or_else(|e| e.into_inner()).take();
        drop(guest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn census(cap: usize) -> &'static Census {
        Box::leak(Box::new(Census::new(cap)))
    }

    #[test]
    fn eight_guests_per_address_and_the_server_cap_across_listeners() {
        let server = census(20);
        let port = Admission::counting(server);
        let other_port = Admission::counting(server);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let mut held: Vec<Guest> = (0..GUESTS_PER_ADDRESS)
            .map(|_| port.enter(a).unwrap())
            .collect();
        assert_eq!(port.enter(a).err(), Some(Refusal::Address));
        // Another address, or the same one on another port, is counted apart.
        held.push(port.enter(b).unwrap());
        held.push(other_port.enter(a).unwrap());
        // Leaving gives the place back.
        held.swap_remove(0);
        held.push(port.enter(a).unwrap());
        // The server-wide cap spans every port.
        while held.len() < 20 {
            let ip = IpAddr::from([10, 1, 0, held.len() as u8]);
            held.push(other_port.enter(ip).unwrap());
        }
        let fresh: IpAddr = "10.9.9.9".parse().unwrap();
        assert_eq!(port.enter(fresh).err(), Some(Refusal::Server));
        held.clear();
        assert!(port.guests.lock().unwrap().is_empty());
        assert!(port.enter(fresh).is_ok());
    }

    #[test]
    fn a_member_no_longer_counts_as_a_guest() {
        let server = census(1);
        let port = Admission::counting(server);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let member = port.enter(ip).unwrap().admit().expect("a member's place");
        let pass = Pass::new(port.clone(), ip, port.enter(ip).unwrap());
        assert_eq!(port.enter(ip).err(), Some(Refusal::Server));
        pass.answered();
        let upgrade = pass
            .take()
            .expect("an upgrade on an answered connection enters again");
        drop((upgrade, member));
        assert_eq!(port.members.available_permits(), MEMBERS);
    }
}
