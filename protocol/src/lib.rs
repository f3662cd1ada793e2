//! The local protocol between `itwillsync` terminals and the server, over a Unix socket.
//!
//! Every stream starts with a fixed [`preamble`] from each side (magic + version, a layout
//! that never changes), then carries length-prefixed frames whose bodies are bincode
//! encodings of [`ClientMsg`] (client to server) and [`ServerMsg`] (server to client).
//! Only [`codec`] touches bincode, so changing the encoding is a one-file change.
//!
//! [`json`] is a session as web pages and scripts see it (camelCase JSON, not bincode).
//! [`seal`] is the web ports' sealed protocol (keys, handshake, sealing; `docs/PROTOCOL.md`).
//! [`text`] holds what both sides need to keep others' text off the user's terminal:
//! escaping for display and the rule for session names.
//!
//! The message enums are append-only: a variant or field change bumps [`VERSION`] and the
//! golden-byte tests in `codec` in the same commit.

pub mod codec;
pub mod json;
mod msg;
pub mod preamble;
pub mod seal;
pub mod text;

pub use codec::{decode, encode_frame, FrameError, MAX_FRAME_LEN};
pub use msg::{
    ClientCounts, ClientMsg, DirEntry, DirListing, Event, EventKind, ExitStatus, HubInfo,
    MachineInfo, MachineState, NewSession, Preview, ServerMsg, SessionInfo, Size, Status,
    MAX_PREVIEW_LINES, MAX_PREVIEW_WIDTH,
};

/// The machine name of this machine's own sessions and events (`MACHINE:NAME`, `ls`).
pub const LOCAL_MACHINE: &str = "local";

/// Protocol version carried in the preamble. Bump on any change to the message enums.
pub const VERSION: u32 = 3;
