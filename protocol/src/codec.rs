//! Framing and encoding: the only module that knows about bincode.
//!
//! A frame is a big-endian `u32` body length followed by the body, the bincode (2.0.x,
//! standard config) encoding of one message. The length is checked against
//! [`MAX_FRAME_LEN`] before anything is allocated, and decoding is limited to the same
//! size, so a hostile peer cannot make either side allocate more than one capped frame.
//!
//! Long-lived connections read and write through [`Codec`] with tokio-util's `Framed`,
//! which owns the read buffer and so makes reads cancel-safe; [`encode_frame`] and
//! [`read_frame`] are the same encoding for one-shot and blocking users.

use std::marker::PhantomData;

use bytes::{Buf, BufMut, BytesMut};
use serde::{de::DeserializeOwned, Serialize};
use tokio_util::codec::{Decoder, Encoder};

/// Largest frame body either side accepts. Output chunks are 64 KiB and a redraw is sent
/// in pieces of at most [`REDRAW_PIECE`], so this only bounds what a peer may announce.
pub const MAX_FRAME_LEN: usize = 8 << 20;

/// Most bytes of terminal output in one `Redraw` frame: a larger repaint (a 500x200
/// truecolour screen is about 12 MB) is sent as consecutive `Redraw` frames with the same
/// `seq` (`docs/PROTOCOL.md`).
pub const REDRAW_PIECE: usize = 1 << 20;

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
    let mut out = BytesMut::new();
    encode_into(msg, &mut out)?;
    Ok(out.into())
}

/// Appends `msg` as one frame to `dst`; on an error `dst` is left as it was.
pub fn encode_into<T: Serialize>(msg: &T, dst: &mut BytesMut) -> Result<(), FrameError> {
    let at = dst.len();
    dst.put_bytes(0, HEADER_LEN);
    let written = bincode::serde::encode_into_std_write(msg, &mut (&mut *dst).writer(), config());
    let len = dst.len() - at - HEADER_LEN;
    let checked = match written {
        Err(e) => Err(FrameError::Malformed(e.to_string())),
        Ok(_) if len > MAX_FRAME_LEN => Err(FrameError::TooLarge { len }),
        Ok(_) => Ok(()),
    };
    match checked {
        Ok(()) => {
            dst[at..at + HEADER_LEN].copy_from_slice(&(len as u32).to_be_bytes());
            Ok(())
        }
        Err(e) => {
            dst.truncate(at);
            Err(e)
        }
    }
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

/// The frame codec for `tokio_util::codec::Framed` (and `FramedRead`/`FramedWrite`):
/// decodes frames into `In`, encodes `Out` into frames. The framed stream owns its read
/// buffer, so reading the next frame is cancel-safe: a read can sit in a `select!`
/// beside anything else without losing bytes.
///
/// The length is checked against [`MAX_FRAME_LEN`] as soon as the header is in, and
/// nothing is reserved for the body: the buffer grows only with bytes the peer actually
/// sent, so a peer announcing a large frame and stalling costs what it sent, not what
/// it announced (the server also closes a frame that stalls, `conn.rs`).
pub struct Codec<In, Out> {
    kinds: PhantomData<fn(&Out) -> In>,
}

impl<In, Out> Codec<In, Out> {
    /// A codec; it keeps no state between frames.
    pub fn new() -> Self {
        Self { kinds: PhantomData }
    }
}

impl<In, Out> Default for Codec<In, Out> {
    fn default() -> Self {
        Self::new()
    }
}

impl<In: DeserializeOwned, Out> Decoder for Codec<In, Out> {
    type Item = In;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<In>, FrameError> {
        let Some(header) = src.first_chunk::<HEADER_LEN>() else {
            return Ok(None);
        };
        let len = body_len(*header)?;
        if src.len() < HEADER_LEN + len {
            return Ok(None);
        }
        let msg = decode(&src[HEADER_LEN..HEADER_LEN + len]);
        src.advance(HEADER_LEN + len);
        msg.map(Some)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<In>, FrameError> {
        match self.decode(src)? {
            Some(msg) => Ok(Some(msg)),
            None if src.is_empty() => Ok(None),
            None => Err(FrameError::Truncated),
        }
    }
}

impl<In, Out: Serialize> Encoder<&Out> for Codec<In, Out> {
    type Error = FrameError;

    fn encode(&mut self, msg: &Out, dst: &mut BytesMut) -> Result<(), FrameError> {
        encode_into(msg, dst)
    }
}

#[cfg(feature = "tokio")]
mod tokio_io {
    use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

    use super::*;

    /// Reads one frame; `Ok(None)` at a clean end of stream. Not cancel-safe: for one-shot
    /// request/reply exchanges (the bridge's probe, tests) that run it to completion.
    /// Long-lived connections use [`Codec`].
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
                encode_frame(&ClientMsg::Previews {
                    lines: 5,
                    width: 80,
                })
                .unwrap(),
                "00000003130550",
            ),
            (
                encode_frame(&ServerMsg::Previews {
                    previews: vec![crate::Preview {
                        id: "a".into(),
                        lines: vec!["x".into()],
                    }],
                })
                .unwrap(),
                "0000000714010161010178",
            ),
            (
                encode_frame(&ClientMsg::Machines { reload: true }).unwrap(),
                "000000020d01",
            ),
            (
                encode_frame(&ClientMsg::Follow {
                    target: "ab".into(),
                    read_only: false,
                    size: Size { cols: 80, rows: 24 },
                    from_seq: 300,
                })
                .unwrap(),
                "0000000a0f026162005018fb2c01",
            ),
            (
                encode_frame(&ServerMsg::Machines { machines: vec![] }).unwrap(),
                "000000021100",
            ),
            (
                encode_frame(&ClientMsg::Terminal { detach_key: 0x1c }).unwrap(),
                "00000002141c",
            ),
            (encode_frame(&ClientMsg::Start).unwrap(), "0000000115"),
            (encode_frame(&ServerMsg::Direct).unwrap(), "0000000116"),
            (
                encode_frame(&ServerMsg::Written { seq: 300 }).unwrap(),
                "0000000417fb2c01",
            ),
            (
                encode_frame(&ClientMsg::Logs {
                    machine: "ab".into(),
                    follow: true,
                })
                .unwrap(),
                "000000051002616201",
            ),
            (
                encode_frame(&ClientMsg::ListDir { path: "ab".into() }).unwrap(),
                "0000000412026162",
            ),
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

    fn frames() -> (Vec<ClientMsg>, Vec<u8>) {
        let msgs = vec![
            ClientMsg::List,
            ClientMsg::Input {
                data: (0..=255).collect(),
            },
            ClientMsg::Resize {
                size: Size { cols: 80, rows: 24 },
            },
            ClientMsg::Detach,
        ];
        let mut wire = BytesMut::new();
        let mut codec = Codec::<ServerMsg, ClientMsg>::new();
        for msg in &msgs {
            codec.encode(msg, &mut wire).unwrap();
        }
        (msgs, wire.to_vec())
    }

    #[test]
    fn codec_writes_the_same_bytes_as_encode_frame() {
        let (msgs, wire) = frames();
        let one_by_one: Vec<u8> = msgs.iter().flat_map(|m| encode_frame(m).unwrap()).collect();
        assert_eq!(wire, one_by_one);
    }

    #[test]
    fn codec_reassembles_frames_split_at_every_byte() {
        let (msgs, wire) = frames();
        for cut in 0..=wire.len() {
            let mut codec = Codec::<ClientMsg, ServerMsg>::new();
            let mut buf = BytesMut::new();
            let mut got = Vec::new();
            for part in [&wire[..cut], &wire[cut..]] {
                buf.extend_from_slice(part);
                while let Some(msg) = codec.decode(&mut buf).unwrap() {
                    got.push(msg);
                }
            }
            assert!(codec.decode_eof(&mut buf).unwrap().is_none(), "cut {cut}");
            assert_eq!(got, msgs, "cut {cut}");
        }
        // One byte at a time, too.
        let mut codec = Codec::<ClientMsg, ServerMsg>::new();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for b in &wire {
            buf.put_u8(*b);
            if let Some(msg) = codec.decode(&mut buf).unwrap() {
                got.push(msg);
            }
        }
        assert_eq!(got, msgs);
    }

    #[test]
    fn codec_refuses_an_oversized_length_before_allocating() {
        let mut codec = Codec::<ClientMsg, ServerMsg>::new();
        let mut buf = BytesMut::from(&u32::MAX.to_be_bytes()[..]);
        let capacity = buf.capacity();
        let err = codec.decode(&mut buf).unwrap_err();
        assert!(matches!(err, FrameError::TooLarge { len } if len == u32::MAX as usize));
        assert_eq!(buf.capacity(), capacity, "nothing reserved for the body");
        // Just over the cap, too; the cap itself is a valid length to wait for.
        let mut buf = BytesMut::from(&((MAX_FRAME_LEN + 1) as u32).to_be_bytes()[..]);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(FrameError::TooLarge { .. })
        ));
        let mut buf = BytesMut::from(&(MAX_FRAME_LEN as u32).to_be_bytes()[..]);
        assert!(codec.decode(&mut buf).unwrap().is_none());
        assert!(buf.capacity() < 1024, "a waiting frame reserves nothing");
    }

    #[test]
    fn codec_rejects_garbage_and_truncation() {
        let mut codec = Codec::<ClientMsg, ServerMsg>::new();
        for garbage in [
            &[0, 0, 0, 3, 0xff, 0xff, 0xff][..],
            &[0, 0, 0, 0][..],
            &[0, 0, 0, 2, 1, 1][..], // `List` and a trailing byte
            &[0, 0, 0, 6, 3, 0xfc, 0xff, 0xff, 0xff, 0x7f][..],
        ] {
            let mut buf = BytesMut::from(garbage);
            assert!(
                matches!(codec.decode(&mut buf), Err(FrameError::Malformed(_))),
                "{garbage:?}"
            );
        }
        let mut cut = BytesMut::from(&[0, 0, 0, 9, 1][..]);
        assert!(codec.decode(&mut cut).unwrap().is_none());
        assert!(matches!(
            codec.decode_eof(&mut cut),
            Err(FrameError::Truncated)
        ));
        let mut pseudo_random = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..10_000 {
            let mut bytes = vec![0, 0, 0, 12];
            for _ in 0..12 {
                pseudo_random ^= pseudo_random << 13;
                pseudo_random ^= pseudo_random >> 7;
                pseudo_random ^= pseudo_random << 17;
                bytes.push(pseudo_random as u8);
            }
            // Decodes or fails; never panics, never leaves a partly consumed frame.
            let mut buf = BytesMut::from(&bytes[..]);
            if codec.decode(&mut buf).is_ok() {
                assert!(buf.is_empty());
            }
        }
    }

    #[test]
    fn codec_refuses_to_encode_an_oversized_frame() {
        let mut buf = BytesMut::from(&b"kept"[..]);
        let huge = ServerMsg::Output {
            seq: 0,
            data: vec![0; MAX_FRAME_LEN],
        };
        let err = Codec::<ClientMsg, ServerMsg>::new()
            .encode(&huge, &mut buf)
            .unwrap_err();
        assert!(matches!(err, FrameError::TooLarge { .. }));
        assert_eq!(&buf[..], b"kept");
    }
}
