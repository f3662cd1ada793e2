//! The preamble each side sends first on a connection: 8 magic bytes and a big-endian
//! `u32` protocol version. This layout never changes, so any two versions of itwillsync
//! can tell each other apart and report a mismatch instead of misreading frames.

use crate::VERSION;

/// Identifies an itwillsync stream; anything else on the socket is not our server or client.
pub const MAGIC: [u8; 8] = *b"ITWSYNC\0";

/// Length of the preamble on the wire.
pub const LEN: usize = 12;

/// Why a peer's preamble was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PreambleError {
    /// The peer is not speaking the itwillsync protocol at all.
    #[error("the peer is not an itwillsync server or client")]
    BadMagic,
    /// The peer speaks another version; the user should restart the server.
    #[error(
        "the running server speaks protocol version {theirs}, this binary speaks {ours}; \
         run `itwillsync hub stop` and try again"
    )]
    VersionMismatch {
        /// Our version.
        ours: u32,
        /// The peer's version.
        theirs: u32,
    },
}

/// Our preamble, ready to write.
pub fn encode() -> [u8; LEN] {
    let mut out = [0u8; LEN];
    out[..8].copy_from_slice(&MAGIC);
    out[8..].copy_from_slice(&VERSION.to_be_bytes());
    out
}

/// Checks a peer's preamble.
pub fn check(bytes: &[u8; LEN]) -> Result<(), PreambleError> {
    if bytes[..8] != MAGIC {
        return Err(PreambleError::BadMagic);
    }
    let theirs = u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    if theirs != VERSION {
        return Err(PreambleError::VersionMismatch {
            ours: VERSION,
            theirs,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_fixed() {
        assert_eq!(&encode(), b"ITWSYNC\0\0\0\0\x03");
    }

    #[test]
    fn refuses_foreign_and_other_versions() {
        assert_eq!(check(&encode()), Ok(()));
        assert_eq!(check(b"GET / HTTP/1"), Err(PreambleError::BadMagic));
        let mut other = encode();
        other[11] = 9;
        assert_eq!(
            check(&other),
            Err(PreambleError::VersionMismatch {
                ours: VERSION,
                theirs: 9
            })
        );
    }
}
