//! The keys one web port accepts (DESIGN.md "Security model"): a session's full and
//! read-only keys, or the dashboard's master key, and their links.
//!
//! A port's [`Keys`] is shared by its listener (which proves connections against it), the
//! session or dashboard it serves, and the Unix-socket requests that hand out and rotate
//! links. Rotating a key bumps that role's generation; every connection that proved the
//! old key watches the generations and closes itself (close code 4002), so a revoked link
//! loses its clients at once. Keys never reach a log.

use std::sync::{Mutex, MutexGuard};

use itwillsync_protocol::seal::{Key, KEY_LEN};
use rand::RngExt;
use tokio::sync::watch;

/// What a proved key lets a connection do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Type, resize and watch (a session's full key, the dashboard's master key).
    Full,
    /// Watch only.
    ReadOnly,
}

impl Role {
    /// The fragment parameter of this role's links.
    fn fragment(self) -> &'static str {
        match self {
            Role::Full => "k",
            Role::ReadOnly => "r",
        }
    }
}

/// The current keys of a port.
struct Current {
    full: Key,
    /// `None` on the dashboard port, which has no read-only links.
    read_only: Option<Key>,
}

/// The keys a port accepts, its base URL, and the generations connections watch.
pub struct Keys {
    /// `http://HOST:PORT/` (or `https://`): links are this plus `#k=KEY`.
    base_url: String,
    /// Held only to copy a key out or swap one in.
    current: Mutex<Current>,
    /// Bumped per role when that role's key is replaced: (full, read-only).
    generations: watch::Sender<(u64, u64)>,
}

/// A fresh key from the operating system's CSPRNG (through `rand`'s thread RNG, which
/// reseeds from it).
pub fn new_key() -> Key {
    let mut bytes = [0u8; KEY_LEN];
    rand::rng().fill(&mut bytes);
    Key::from_bytes(bytes)
}

fn lock(m: &Mutex<Current>) -> MutexGuard<'_, Current> {
    // Each critical section swaps or copies whole keys: poisoning cannot leave half a key.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Keys {
    /// A session port's keys: a fresh full and read-only key.
    pub fn for_session(base_url: String) -> Self {
        Self::new(base_url, new_key(), Some(new_key()))
    }

    /// The dashboard's keys: the master key only.
    pub fn for_dashboard(base_url: String, master: Key) -> Self {
        Self::new(base_url, master, None)
    }

    /// Keys handed over from a previous server (`handover`): the same links, the same
    /// generations.
    pub fn restored(
        base_url: String,
        full: Key,
        read_only: Option<Key>,
        generations: (u64, u64),
    ) -> Self {
        let keys = Self::new(base_url, full, read_only);
        keys.generations.send_replace(generations);
        keys
    }

    /// The keys a hand-over state recorded for a phone listener; an error names a key
    /// that is not one.
    pub fn adopted(web: &crate::handover::state::WebState) -> anyhow::Result<Self> {
        use anyhow::Context;
        let key = |hex: &str| Key::from_hex(hex).context("a key is not a key");
        let read_only = web.read_only.as_deref().map(key).transpose()?;
        Ok(Self::restored(
            web.base_url.clone(),
            key(&web.full)?,
            read_only,
            web.generations,
        ))
    }

    /// What [`Keys::restored`] takes: the base URL, both keys and the generations.
    pub fn export(&self) -> (String, Key, Option<Key>, (u64, u64)) {
        let current = lock(&self.current);
        let generations = *self.generations.borrow();
        (
            self.base_url.clone(),
            current.full.clone(),
            current.read_only.clone(),
            generations,
        )
    }

    fn new(base_url: String, full: Key, read_only: Option<Key>) -> Self {
        Self {
            base_url,
            current: Mutex::new(Current { full, read_only }),
            generations: watch::channel((0, 0)).0,
        }
    }

    /// The key of `role`, if the port has one.
    pub fn key(&self, role: Role) -> Option<Key> {
        let current = lock(&self.current);
        match role {
            Role::Full => Some(current.full.clone()),
            Role::ReadOnly => current.read_only.clone(),
        }
    }

    /// The link for `role`: the base URL and the key in the fragment.
    pub fn link(&self, role: Role) -> Option<String> {
        let key = self.key(role)?;
        Some(format!(
            "{}#{}={}",
            self.base_url,
            role.fragment(),
            key.to_link_text()
        ))
    }

    /// The keys a connection may prove, with their roles, and the generations they
    /// belong to, read together (so a rotation in between cannot be missed).
    pub fn accepted(&self) -> (Vec<(Role, Key)>, (u64, u64)) {
        let current = lock(&self.current);
        let mut keys = vec![(Role::Full, current.full.clone())];
        if let Some(read_only) = &current.read_only {
            keys.push((Role::ReadOnly, read_only.clone()));
        }
        (keys, *self.generations.borrow())
    }

    /// Replaces the key of `role` with a fresh one and disconnects every client that
    /// proved the old one; returns the new key (`None`: the port has no such role).
    pub fn rotate(&self, role: Role) -> Option<Key> {
        let key = new_key();
        let mut current = lock(&self.current);
        match role {
            Role::Full => current.full = key.clone(),
            Role::ReadOnly => match &mut current.read_only {
                Some(read_only) => *read_only = key.clone(),
                None => return None,
            },
        }
        // Bumped under the same lock as the swap: see `accepted`.
        self.generations
            .send_modify(|(full, read_only)| match role {
                Role::Full => *full += 1,
                Role::ReadOnly => *read_only += 1,
            });
        Some(key)
    }

    /// A connection's watch on its key: resolves once the key it proved (`role`, of the
    /// `generations` [`Keys::accepted`] returned with it) has been rotated.
    pub fn revocation(&self, role: Role, generations: (u64, u64)) -> Revocation {
        let at = pick(generations, role);
        let generations = self.generations.subscribe();
        Revocation {
            generations,
            role,
            at,
        }
    }
}

fn pick((full, read_only): (u64, u64), role: Role) -> u64 {
    match role {
        Role::Full => full,
        Role::ReadOnly => read_only,
    }
}

/// See [`Keys::revocation`].
pub struct Revocation {
    generations: watch::Receiver<(u64, u64)>,
    role: Role,
    at: u64,
}

impl Revocation {
    /// Resolves when this connection's key has been replaced (never, if the port's keys
    /// are dropped first).
    pub async fn revoked(&mut self) {
        let (role, at) = (self.role, self.at);
        if self
            .generations
            .wait_for(|g| pick(*g, role) != at)
            .await
            .is_err()
        {
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn links_carry_keys_in_the_fragment_and_rotation_revokes_one_role() {
        let keys = Keys::for_session("http://h:9/".into());
        let full = keys.link(Role::Full).unwrap();
        let read = keys.link(Role::ReadOnly).unwrap();
        assert!(full.starts_with("http://h:9/#k=") && full.len() == "http://h:9/#k=".len() + 43);
        assert!(read.starts_with("http://h:9/#r="));
        let (accepted, generations) = keys.accepted();
        assert_eq!(accepted.len(), 2);
        let mut full_watch = keys.revocation(Role::Full, generations);
        let mut read_watch = keys.revocation(Role::ReadOnly, generations);
        keys.rotate(Role::ReadOnly).unwrap();
        assert_ne!(keys.link(Role::ReadOnly).unwrap(), read);
        assert_eq!(keys.link(Role::Full).unwrap(), full);
        read_watch.revoked().await;
        let quick =
            tokio::time::timeout(std::time::Duration::from_millis(20), full_watch.revoked());
        assert!(quick.await.is_err(), "the full key was not rotated");
        let dashboard = Keys::for_dashboard("http://h:1/".into(), new_key());
        assert!(dashboard.rotate(Role::ReadOnly).is_none());
        assert_eq!(dashboard.accepted().0.len(), 1);
    }
}
