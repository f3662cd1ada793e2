//! A session's output as `data` messages, encoded once for all its phones: the JSON of a
//! chunk of output (`{"type":"data","data":S,"seq":N}`, escaped) is the same for every
//! phone that is sent those bytes; only the sealing differs (each phone has its own keys).
//! Ten phones of one session would otherwise escape every byte ten times.
//!
//! Phones cut their reads so that they meet the same chunks: a read never crosses a
//! multiple of [`ALIGN`] in the output (phones that are behind read the same whole chunks),
//! and a phone whose cursor is where a chunk starts reads exactly that chunk. The first
//! phone to read from a position claims the chunk there (up to the head as it is then),
//! before it encodes it, so phones woken together by new output read the same chunk
//! rather than whatever each found at the head; one that reaches a chunk while another
//! encodes it waits for that (no longer than encoding it would take). Which phone encodes
//! a chunk, and whether another finds it, changes nothing but CPU: a phone that finds
//! none encodes its own.
//!
//! Memory: chunks are kept only while two or more phones are connected, at most [`KEPT`]
//! bytes of output (their JSON about as much) and [`CHUNKS`] chunks, oldest dropped
//! first; the last phone but one to leave drops them all.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock};

use itwillsync_protocol::seal::TAG_LEN;

use super::message::PhoneOut;

/// Reads stop at multiples of this in the output (the most output in one message), so
/// that phones reading a backlog read the same chunks.
pub(crate) const ALIGN: u64 = 64 << 10;
/// Most output bytes in the chunks kept. Phones of one session drift apart by megabytes
/// in a flood (each reads at its own pace; the PTY waits only for one that falls 3/4 of
/// the ring behind), and a phone further behind than this encodes its own chunks: with
/// 2 MiB ten phones encoded every byte 5 to 7 times, with 4 MiB 1.1 times (measured by
/// `cargo bench -- ws`). Their JSON is about as big as the output (up to 6 times for
/// nothing but control characters, each escaped as `\u00XX`). Kept only while two or
/// more phones are connected.
const KEPT: u64 = 4 << 20;
/// Most chunks kept, encoded or only claimed (a phone at the head reads small ones).
const CHUNKS: usize = 1024;

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
    /// Output bytes in `kept`.
    bytes: u64,
}

/// One chunk: the output bytes `start..end` as an unsealed `data` message, once a phone
/// has encoded it. Phones that reach it while one encodes it wait for that one (as long
/// as encoding it themselves would take) rather than encode it again.
struct Chunk {
    start: u64,
    end: u64,
    json: Arc<OnceLock<Vec<u8>>>,
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

    /// How many output bytes a phone whose cursor is at `cursor` should read, when the
    /// output's head is at `head` and its window allows `max` now and `whole` once
    /// everything sent is acknowledged: the length of the chunk that starts there (0, to
    /// wait for acknowledgements, when only a part of it fits now but all of it will),
    /// else up to `max`, the head and the next multiple of [`ALIGN`] (claimed for the
    /// other phones while there are any).
    pub fn read_size(&self, cursor: u64, head: u64, max: usize, whole: usize) -> usize {
        let mut state = self.lock();
        let kept = state.kept.iter().rev().find(|c| c.start == cursor);
        match kept.map(|c| (c.end - c.start) as usize) {
            Some(len) if len <= max => len,
            Some(len) if len <= whole => 0,
            Some(_) => max,
            None => {
                let gap = ALIGN - cursor % ALIGN;
                let size = (max as u64).min(gap).min(head.saturating_sub(cursor));
                if size == 0 {
                    return max.min(gap as usize); // nothing there yet: nothing to claim
                }
                if state.phones >= 2 {
                    state.keep(Chunk {
                        start: cursor,
                        end: cursor + size,
                        json: Arc::default(),
                    });
                }
                size as usize
            }
        }
    }

    /// The `data` message for output bytes `data` ending at position `seq`, with spare
    /// capacity for the seal's tag: a copy of the one another phone encoded, or encoded
    /// now (and kept for the others when there are any).
    pub fn message(&self, data: &[u8], seq: u64) -> Vec<u8> {
        let start = seq - data.len() as u64;
        let encoded = {
            let mut state = self.lock();
            let kept = state.kept.iter().rev().find(|c| c.start == start);
            match kept {
                Some(chunk) if chunk.end == seq => Some(chunk.json.clone()),
                // Another phone's chunk from here is another range.
                Some(_) => None,
                None if state.phones >= 2 => {
                    let json = Arc::<OnceLock<Vec<u8>>>::default();
                    state.keep(Chunk {
                        start,
                        end: seq,
                        json: json.clone(),
                    });
                    Some(json)
                }
                None => None,
            }
        };
        let Some(encoded) = encoded else {
            return encode(data, seq_number(seq));
        };
        let json = encoded.get_or_init(|| encode(data, seq_number(seq)));
        let mut message = Vec::with_capacity(json.len() + TAG_LEN);
        message.extend_from_slice(json);
        message
    }
}

impl State {
    /// Keeps `chunk`, the newest; drops the oldest over the bounds.
    fn keep(&mut self, chunk: Chunk) {
        self.bytes += chunk.end - chunk.start;
        self.kept.push_back(chunk);
        while self.bytes > KEPT || self.kept.len() > CHUNKS {
            let Some(old) = self.kept.pop_front() else {
                break;
            };
            self.bytes -= old.end - old.start;
        }
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
        let all = 1 << 20;
        let first = chunks.join();
        // One phone: nothing kept; reads cut at the head, the window and the alignment.
        assert_eq!(chunks.message(text, 13), encode(text, 13));
        assert_eq!(chunks.read_size(0, 13, all, all), 13);
        assert_eq!(chunks.read_size(0, 0, all, all), ALIGN as usize);
        assert_eq!(chunks.read_size(ALIGN - 5, ALIGN * 3, all, all), 5);
        assert_eq!(chunks.read_size(3, 1000, 100, all), 100);
        assert!(chunks.lock().kept.is_empty());
        let second = chunks.join();
        // The first to read from 0 claims 0..13 and encodes it.
        assert_eq!(chunks.read_size(0, 13, all, all), 13);
        let message = chunks.message(text, 13);
        assert_eq!(message, encode(text, 13));
        assert!(message.capacity() >= message.len() + TAG_LEN);
        // The other phone at 0 reads that chunk even though the head has moved on, and
        // gets the same message for it; when its window is too small for now, it waits,
        // unless it never will be big enough.
        assert_eq!(chunks.read_size(0, 5000, all, all), 13);
        assert_eq!(chunks.message(text, 13), message);
        assert_eq!(chunks.read_size(0, 5000, 4, all), 0);
        assert_eq!(chunks.read_size(0, 5000, 4, 8), 4);
        // A different range from the same start is encoded on its own.
        assert_eq!(chunks.message(&text[..4], 4), encode(&text[..4], 4));
        // Kept bytes and chunks are bounded.
        let big = vec![b'x'; 200 << 10];
        for i in 1..20u64 {
            chunks.message(&big, i * ALIGN * 4);
        }
        assert!(chunks.lock().bytes <= KEPT);
        for i in 0..1000 {
            chunks.read_size(ALIGN * (100 + i), ALIGN * 2000, all, all);
        }
        assert!(chunks.lock().kept.len() <= CHUNKS);
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
