//! The local protocol between `itwillsync` terminals and the server, over a Unix socket.
//!
//! Every stream starts with a fixed [`preamble`] from each side (magic + version, a layout
//! that never changes), then carries length-prefixed frames whose bodies are bincode
//! encodings of [`ClientMsg`] (client to server) and [`ServerMsg`] (server to client).
//! Only [`codec`] touches bincode, so changing the encoding is a one-file change.
//!
//! The message enums are append-only: a variant or field change bumps [`VERSION`] and the
//! golden-byte tests in `codec` in the same commit.

pub mod codec;
mod msg;
pub mod preamble;

pub use codec::{decode, encode_frame, FrameError, MAX_FRAME_LEN};
pub use msg::{ClientMsg, ExitStatus, HubInfo, NewSession, ServerMsg, SessionInfo, Size, Status};

/// Protocol version carried in the preamble. Bump on any change to the message enums.
pub const VERSION: u32 = 2;
