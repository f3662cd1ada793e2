//! The server-wide shutdown signal: triggered once (by `hub stop`, a signal or the idle
//! timer), observed by every task that must say goodbye or stop accepting.

use tokio::sync::watch;

/// A cloneable one-way latch.
#[derive(Clone)]
pub struct Shutdown {
    tx: watch::Sender<Option<String>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self {
            tx: watch::channel(None).0,
        }
    }
}

impl Shutdown {
    /// Starts the shutdown with a reason clients are told; later calls keep the first reason.
    pub fn trigger(&self, reason: &str) {
        self.tx.send_if_modified(|r| {
            if r.is_some() {
                return false;
            }
            *r = Some(reason.to_string());
            true
        });
    }

    /// Whether shutdown has started.
    pub fn is_triggered(&self) -> bool {
        self.tx.borrow().is_some()
    }

    /// Waits until shutdown starts and returns its reason.
    pub async fn wait(&self) -> String {
        let mut rx = self.tx.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let reason = rx
            .wait_for(|r| r.is_some())
            .await
            .ok()
            .and_then(|r| r.clone());
        reason.unwrap_or_default()
    }
}
