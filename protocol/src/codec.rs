//! Framing and encoding: the only module that knows about bincode.
//!
//! A frame is a big-endian `u32` body length followed by the body, the bincode (2.0.x,
//! standard config) encoding of one message. The length is checked against
//! [`MAX_FRAME_LEN`] before anything is allocated, and decoding is limited to the same
//! size, so a hostile peer cannot make either side allocate more than one capped frame.

use serde::{de::DeserializeOwned, Serialize};

/// Largest frame body either side accepts. A redraw of the largest allowed terminal
/// (500x200 cells, each with its own colours) is about 2 MiB; output chunks are 64 KiB.
pub const MAX_FRAME_LEN: usize = 8 << 20;

/// Bytes in a frame's length prefix.
pub const HEADER_LEN: usize = 4;

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The stream failed.
    #[error("connection error: {0}")]
    Io(#[from] std::io::Error),
    /// The announced body is larger than [`MAX_FRAME_LEN`].
    #[error("frame of {len} bytes exceeds the {MAX_FRAME_LEN}-byte limit")]
    TooLarge {
        /// The announced length.
        len: usize,
    },
    /// The body is not a valid message.
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// The stream ended in the middle of a frame.
    #[error("connection closed in the middle of a frame")]
    Truncated,
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_FRAME_LEN>()
}

/// Encodes `msg` as one complete frame (length prefix and body).
pub fn encode_frame<T: Serialize>(msg: &T) -> Result<Vec<u8>, FrameError> {
    let mut out = vec![0u8; HEADER_LEN];
    bincode::serde::encode_into_std_write(msg, &mut out, config())
        .map_err(|e| FrameError::Malformed(e.to_string()))?;
    let len = out.len() - HEADER_LEN;
    if len > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge { len });
    }
    out[..HEADER_LEN].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(out)
}

/// Reads a frame header and returns the body length, refusing oversized frames.
pub fn body_len(header: [u8; HEADER_LEN]) -> Result<usize, FrameError> {
    let len = u32::from_be_bytes(header) as usize;
    if len > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge { len });
    }
    Ok(len)
}

/// Decodes one frame body; trailing bytes make the frame malformed.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, FrameError> {
    let (msg, used) = bincode::serde::decode_from_slice(body, config())
        .map_err(|e| FrameError::Malformed(e.to_string()))?;
    if used != body.len() {
        return Err(FrameError::Malformed(format!(
            "{} trailing bytes",
            body.len() - used
        )));
    }
    Ok(msg)
}

/// Reads one frame from a blocking stream; `Ok(None)` at a clean end of stream.
pub fn read_frame<T: DeserializeOwned>(
    r: &mut impl std::io::Read,
) -> Result<Option<T>, FrameError> {
    let mut header = [0u8; HEADER_LEN];
    match read_full(r, &mut header)? {
        0 => return Ok(None),
        HEADER_LEN => {}
        _ => return Err(FrameError::Truncated),
    }
    let mut body = vec![0u8; body_len(header)?];
    if read_full(r, &mut body)? != body.len() {
        return Err(FrameError::Truncated);
    }
    decode(&body).map(Some)
}

fn read_full(r: &mut impl std::io::Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

#[cfg(feature = "tokio")]
mod tokio_io {
    use super::*;
    use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

    /// Reads one frame; `Ok(None)` at a clean end of stream. Not cancel-safe: run it in
    /// its own task or to completion.
    pub async fn read_frame_async<T: DeserializeOwned>(
        r: &mut (impl AsyncRead + Unpin),
    ) -> Result<Option<T>, FrameError> {
        let mut header = [0u8; HEADER_LEN];
        let mut got = 0;
        while got < HEADER_LEN {
            match r.read(&mut header[got..]).await? {
                0 if got == 0 => return Ok(None),
                0 => return Err(FrameError::Truncated),
                n => got += n,
            }
        }
        let mut body = vec![0u8; body_len(header)?];
        r.read_exact(&mut body).await.map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => FrameError::Truncated,
            _ => FrameError::Io(e),
        })?;
        decode(&body).map(Some)
    }

    /// Encodes and writes one frame.
    pub async fn write_frame_async<T: Serialize>(
        w: &mut (impl AsyncWrite + Unpin),
        msg: &T,
    ) -> Result<(), FrameError> {
        w.write_all(&encode_frame(msg)?).await?;
        Ok(())
    }
}

#[cfg(feature = "tokio")]
pub use tokio_io::{read_frame_async, write_frame_async};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClientMsg, Event, EventKind, ExitStatus, HubInfo, ServerMsg, Size};

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Golden bytes: these change only together with `VERSION`.
    #[test]
    fn golden_bytes() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (encode_frame(&ClientMsg::List).unwrap(), "0000000101"),
            (
                encode_frame(&ClientMsg::Input {
                    data: b"ls\r".to_vec(),
                })
                .unwrap(),
                "0000000503036c730d",
            ),
            (
                encode_frame(&ClientMsg::Resize {
                    size: Size { cols: 80, rows: 24 },
                })
                .unwrap(),
                "00000003045018",
            ),
            (
                encode_frame(&ServerMsg::Output {
                    seq: 300,
                    data: b"hi".to_vec(),
                })
                .unwrap(),
                "0000000705fb2c01026869",
            ),
            (
                encode_frame(&ServerMsg::Exit {
                    status: ExitStatus {
                        code: 7,
                        signal: None,
                    },
                })
                .unwrap(),
                "00000003080e00",
            ),
            (
                encode_frame(&ClientMsg::Link {
                    target: "ab".into(),
                    read_only: true,
                    rotate: false,
                })
                .unwrap(),
                "000000060a0261620100",
            ),
            (
                encode_frame(&ClientMsg::RotateMaster).unwrap(),
                "000000010b",
            ),
            (encode_frame(&ClientMsg::Subscribe).unwrap(), "000000010c"),
            (
                encode_frame(&ServerMsg::Event {
                    event: Event {
                        kind: EventKind::SessionExited,
                        at_ms: 1,
                        machine: "m".into(),
                        session: Some("s".into()),
                        name: None,
                        message: None,
                        status: Some(ExitStatus {
                            code: 3,
                            signal: None,
                        }),
                    },
                })
                .unwrap(),
                "0000000d100101016d0101730000010600",
            ),
            (
                encode_frame(&ServerMsg::Link { url: "u".into() }).unwrap(),
                "000000030e0175",
            ),
            (
                encode_frame(&ServerMsg::Hub {
                    hub: HubInfo {
                        pid: 7,
                        version: "v".into(),
                        started_at_ms: 1,
                        dashboard_url: None,
                        sessions: Vec::new(),
                        tls: Some("c".into()),
                    },
                })
                .unwrap(),
                "0000000a03070176010000010163",
            ),
        ];
        for (bytes, want) in cases {
            assert_eq!(hex(&bytes), want);
        }
    }

    #[test]
    fn round_trip() {
        let msg = ClientMsg::Attach {
            target: Some("ab12".into()),
            read_only: true,
            size: Size {
                cols: 120,
                rows: 40,
            },
        };
        let frame = encode_frame(&msg).unwrap();
        let back: ClientMsg = read_frame(&mut &frame[..]).unwrap().unwrap();
        assert_eq!(back, msg);
    }

    #[test]
    fn oversized_header_is_refused_before_allocating() {
        let frame = u32::MAX.to_be_bytes();
        let err = read_frame::<ClientMsg>(&mut &frame[..]).unwrap_err();
        assert!(matches!(err, FrameError::TooLarge { len } if len == u32::MAX as usize));
    }

    #[test]
    fn garbage_and_truncation_are_errors() {
        let garbage = [0, 0, 0, 3, 0xff, 0xff, 0xff];
        assert!(matches!(
            read_frame::<ClientMsg>(&mut &garbage[..]),
            Err(FrameError::Malformed(_))
        ));
        let cut = [0, 0, 0, 9, 1];
        assert!(matches!(
            read_frame::<ClientMsg>(&mut &cut[..]),
            Err(FrameError::Truncated)
        ));
        assert!(read_frame::<ClientMsg>(&mut &[][..]).unwrap().is_none());
        // A vector claiming more elements than the frame holds must not allocate them.
        let huge_vec = [0, 0, 0, 6, 3, 0xfc, 0xff, 0xff, 0xff, 0x7f];
        assert!(read_frame::<ClientMsg>(&mut &huge_vec[..]).is_err());
    }
}
