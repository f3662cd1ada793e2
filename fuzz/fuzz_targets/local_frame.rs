//! The local socket's frames (`protocol::codec`): the one-shot decode of a body, the
//! blocking `read_frame`, and the `Codec` both sides frame with fed the bytes in arbitrary
//! chunks, for either direction's messages. Never a panic, never a buffer beyond what was
//! sent (run with `-malloc_limit_mb` at the frame cap: no allocation beyond it), and a
//! decoded message re-encodes to a frame that decodes to the same message, itself a fixed
//! point of decoding and encoding again.
//!
//! The first byte seeds the chunk sizes; the rest is the byte stream.
#![no_main]

use std::fmt::Debug;

use bytes::BytesMut;
use itwillsync_protocol::codec::{self, Codec, FrameError, HEADER_LEN, MAX_FRAME_LEN};
use itwillsync_protocol::{ClientMsg, ServerMsg};
use libfuzzer_sys::fuzz_target;
use serde::{de::DeserializeOwned, Serialize};
use tokio_util::codec::{Decoder, Encoder};

fuzz_target!(|data: &[u8]| {
    let Some((&seed, stream)) = data.split_first() else {
        return;
    };
    check::<ClientMsg, ServerMsg>(seed, stream);
    check::<ServerMsg, ClientMsg>(seed, stream);
});

fn check<In, Out>(seed: u8, stream: &[u8])
where
    In: DeserializeOwned + Serialize + PartialEq + Debug,
{
    // The stream as one frame body.
    if let Ok(msg) = codec::decode::<In>(stream) {
        round_trip(&msg, stream.len());
    }
    // As frames read one at a time from a blocking stream.
    let mut reader = stream;
    while let Ok(Some(msg)) = codec::read_frame::<In>(&mut reader) {
        round_trip(&msg, usize::MAX);
    }
    // As frames through the codec, arriving in chunks of 1 to 64 bytes.
    let mut codec = Codec::<In, Out>::new();
    let mut buf = BytesMut::new();
    let mut rng = u32::from(seed) | 0x100;
    let (mut at, mut fed) = (0, 0);
    'stream: while at < stream.len() {
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        let len = (1 + rng as usize % 64).min(stream.len() - at);
        buf.extend_from_slice(&stream[at..at + len]);
        at += len;
        fed += len;
        assert!(
            buf.capacity() <= 2 * fed + 64,
            "{} bytes reserved for {fed} sent",
            buf.capacity()
        );
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(msg)) => round_trip(&msg, usize::MAX),
                Ok(None) => break,
                // The connection closes: nothing more is read.
                Err(e) => {
                    expected(&e);
                    break 'stream;
                }
            }
        }
    }
    if at == stream.len() {
        match codec.decode_eof(&mut buf) {
            Ok(Some(msg)) => round_trip(&msg, usize::MAX),
            Ok(None) => assert!(buf.is_empty()),
            Err(e) => expected(&e),
        }
    }
}

fn expected(e: &FrameError) {
    match e {
        FrameError::TooLarge { len } => assert!(*len > MAX_FRAME_LEN),
        FrameError::Malformed(_) | FrameError::Truncated => {}
        FrameError::Io(e) => panic!("an I/O error from bytes in memory: {e}"),
    }
}

/// `msg` (decoded from a body of `body_len` bytes) encodes to a frame no longer than that
/// body, which decodes to `msg` and encodes again to the same bytes.
fn round_trip<In>(msg: &In, body_len: usize)
where
    In: DeserializeOwned + Serialize + PartialEq + Debug,
{
    let frame = codec::encode_frame(msg).expect("a decoded message encodes");
    let body = &frame[HEADER_LEN..];
    assert!(body.len() <= body_len, "re-encoded longer than its body");
    assert_eq!(
        u32::from_be_bytes(frame[..HEADER_LEN].try_into().unwrap()) as usize,
        body.len()
    );
    let again: In = codec::decode(body).expect("a re-encoded message decodes");
    assert_eq!(&again, msg);
    let mut through_codec = BytesMut::new();
    Codec::<(), In>::new()
        .encode(&again, &mut through_codec)
        .expect("the codec encodes it too");
    assert_eq!(&through_codec[..], &frame[..], "re-encoding is stable");
}
