//! A session's output as `data` messages, encoded once for all its phones: the JSON of a
//! chunk of output (`{"type":"data","data":S,"seq":N}`, escaped) is the same for every
//! phone that is sent those bytes; only the sealing differs (each phone has its own keys).
//! Ten phones of one session would otherwise escape every byte ten times.
//!
//! Phones cut their reads so that they meet the same chunks: a read never crosses a
//! multiple of [`ALIGN`] in the output (phones that are behind read the same whole chunks),
//! and a phone whose cursor is where a kept chunk starts reads exactly that chunk (phones
//! near the head, which read what happens to be there, fall in step behind the first).
//! Which phone encodes a chunk, and whether another finds it, changes nothing but CPU:
//! a phone that finds none encodes its own.
//!
//! Memory: chunks are kept only while two or more phones are connected, at most
//! [`KEPT`] bytes of JSON, oldest dropped first; the last phone to leave drops them all.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use itwillsync_protocol::seal::TAG_LEN;

use super::message::PhoneOut;

/// Reads stop at multiples of this in the output (the most output in one message), so
/// that phones reading a backlog read the same chunks.
pub(crate) const ALIGN: u64 = 64 << 10;
/// Most bytes of encoded chunks kept: a few chunks more than a phone may have sent and
/// not acknowledged (`clientBufferLimit`, 256 KiB by default), so a phone a window behind
/// another still finds them.
const KEPT: usize = 1 << 20;

/// The chunks of one session's output encoded for its phones (one per listener).
#[derive(Default)]
pub(crate) struct Chunks {
    /// The phones connected, and the chunks kept while there are two or more. A lock
    /// held only to look up, add or drop an entry: encoding and copying happen outside.
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    phones: usize,
    /// Newest last.
    kept: VecDeque<Chunk>,
    /// Bytes of JSON in `kept`.
    bytes: usize,
}

/// One encoded chunk: the output bytes `start..end` as an unsealed `data` message.
struct Chunk {
    start: u64,
    end: u64,
    json: Arc<Vec<u8>>,
}

/// A phone counted in [`Chunks`]; the last one to drop its `Member` drops the kept chunks.
pub(crate) struct Member(Arc<Chunks>);

impl Drop for Member {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.phones -= 1;
        if state.phones < 2 {
            state.kept.clear();
            state.bytes = 0;
        }
    }
}

impl Chunks {
    /// Counts a phone in while the returned `Member` lives.
    pub fn join(self: &Arc<Self>) -> Member {
        self.lock().phones += 1;
        Member(self.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock leaves a consistent state (every change is
        // one push or pop with its byte count), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many output bytes a phone whose cursor is at `cursor` should read, when its
    /// window allows `max` now and `whole` once everything sent is acknowledged: the
    /// length of a kept chunk that starts there (0, to wait for acknowledgements, when
    /// only a part of it fits now but all of it will), else up to `max` and the next
    /// multiple of [`ALIGN`].
    pub fn read_size(&self, cursor: u64, max: usize, whole: usize) -> usize {
        let kept = self
            .lock()
            .kept
            .iter()
            .rev()
            .find(|c| c.start == cursor)
            .map(|c| (c.end - c.start) as usize);
        match kept {
            Some(len) if len <= max => len,
            Some(len) if len <= whole => 0,
            Some(_) => max,
            None => max.min((ALIGN - cursor % ALIGN) as usize),
        }
    }

    /// The `data` message for output bytes `data` ending at position `seq`, with spare
    /// capacity for the seal's tag: a copy of the one another phone encoded, or encoded
    /// now (and kept for the others when there are any).
    pub fn message(&self, data: &[u8], seq: u64) -> Vec<u8> {
        let start = seq - data.len() as u64;
        let found = {
            let state = self.lock();
            let found = state.kept.iter().rev().find(|c| c.start == start);
            found.filter(|c| c.end == seq).map(|c| c.json.clone())
        };
        if let Some(json) = found {
            let mut message = Vec::with_capacity(json.len() + TAG_LEN);
            message.extend_from_slice(&json);
            return message;
        }
        let message = encode(data, seq_number(seq));
        let mut state = self.lock();
        if state.phones >= 2 && !state.kept.iter().any(|c| c.start == start) {
            state.bytes += message.len();
            state.kept.push_back(Chunk {
                start,
                end: seq,
                json: Arc::new(message.clone()),
            });
            while state.bytes > KEPT {
                let Some(old) = state.kept.pop_front() else {
                    break;
                };
                state.bytes -= old.json.len();
            }
        }
        message
    }
}

/// `{"type":"data","data":S,"seq":N}` for output bytes, with room for the escapes and
/// the seal's tag. Invalid UTF-8 becomes U+FFFD, as the page's decoder would show it.
pub(crate) fn encode(bytes: &[u8], seq: i64) -> Vec<u8> {
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    };
    let room = bytes.len() + bytes.len() / 8 + TAG_LEN;
    PhoneOut::Data { data: &text, seq }.to_json(room)
}

/// An output position as the page's numbers carry it (positions reach 2^63 after
/// centuries of output at any real rate).
pub(crate) fn seq_number(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_share_chunks_only_while_two_are_connected() {
        let chunks = Arc::new(Chunks::default());
        let text = b"some output\r\n";
        let first = chunks.join();
        // One phone: nothing kept, reads cut at the alignment.
        assert_eq!(chunks.message(text, 13), encode(text, 13));
        assert_eq!(chunks.read_size(0, 1 << 20, 1 << 20), ALIGN as usize);
        assert_eq!(chunks.read_size(ALIGN - 5, 1 << 20, 1 << 20), 5);
        assert_eq!(chunks.read_size(3, 100, 1 << 20), 100);
        let second = chunks.join();
        let message = chunks.message(text, 13);
        assert_eq!(message, encode(text, 13));
        assert!(message.capacity() >= message.len() + TAG_LEN);
        // The other phone at 0 reads that chunk, and gets the same message for it; when
        // its window is too small for now, it waits, unless it never will be big enough.
        assert_eq!(chunks.read_size(0, 1 << 20, 1 << 20), 13);
        assert_eq!(chunks.read_size(0, 4, 1 << 20), 0);
        assert_eq!(chunks.read_size(0, 4, 8), 4);
        assert_eq!(chunks.message(text, 13), message);
        // A different range from the same start is encoded on its own.
        assert_eq!(chunks.message(&text[..4], 4), encode(&text[..4], 4));
        // Kept bytes are bounded.
        let big = vec![b'x'; 200 << 10];
        for i in 1..20u64 {
            chunks.message(&big, i * ALIGN * 4);
        }
        assert!(chunks.lock().bytes <= KEPT);
        drop(second);
        assert!(
            chunks.lock().kept.is_empty(),
            "dropped with the second phone"
        );
        drop(first);
        assert_eq!(chunks.lock().phones, 0);
    }

    #[test]
    fn data_messages_carry_output_as_json_text_with_invalid_utf8_replaced() {
        let mut samples: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"plain text, longer than one word".to_vec(),
            (0u8..=0x7f).collect(),
            "quote\" back\\slash \u{1b}[1m é漢😀\r\n"
                .as_bytes()
                .to_vec(),
            b"bad \xff\xfe utf-8 \xe6\xbc".to_vec(),
        ];
        // Every byte that needs escaping (and some that do not) at every offset.
        for special in [b'"', b'\\', b'\n', 0x00, 0x1f, 0x7f, 0xc3] {
            for at in 0..20 {
                let mut v = vec![b'x'; 20];
                v[at] = special;
                if special == 0xc3 {
                    v.insert(at + 1, 0xa9); // é
                }
                samples.push(v);
            }
        }
        for bytes in samples {
            let json = encode(&bytes, 12345);
            let expected = serde_json::json!({
                "type": "data",
                "data": String::from_utf8_lossy(&bytes),
                "seq": 12345,
            });
            let parsed: serde_json::Value = serde_json::from_slice(&json).expect("valid JSON");
            assert_eq!(parsed, expected, "{bytes:?}");
        }
    }
}
