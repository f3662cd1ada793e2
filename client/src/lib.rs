//! Talking to the itwillsync server from a terminal: connecting (and auto-starting the
//! server), one-shot requests, and attaching the terminal to a session.
//!
//! The client never depends on the server crate: it starts a server by re-running its own
//! executable as `itwillsync server --daemon`.

mod attach;
mod bridge;
mod connection;
mod raw;

pub use attach::{attach, terminal_size, wait_for_key, Outcome, Proceed};
pub use bridge::bridge;
pub use connection::{connect, connect_or_start, Connection};
