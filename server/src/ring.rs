//! A bounded byte ring indexed by output sequence number.
//!
//! `seq` counts every byte a session's PTY ever produced. The ring keeps the last
//! `capacity` of them; a reader holds a cursor (a seq) and copies out what lies between its
//! cursor and the head. A cursor older than the ring's start has fallen behind and must be
//! resynchronised from the terminal state instead. Storage grows on demand up to the
//! capacity, so an idle session costs almost nothing, and [`Ring::release_before`] gives
//! it back when a session has gone quiet (the session decides what it still needs).

use std::collections::VecDeque;

/// A cursor older than the oldest byte still held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Behind;

/// The byte ring.
pub struct Ring {
    /// The bytes held, oldest first: `start()..head`. Its allocation grows (doubling) up to
    /// `capacity` and shrinks only in [`Ring::release_before`].
    buf: VecDeque<u8>,
    capacity: usize,
    /// Total bytes ever pushed: the seq after the newest byte.
    head: u64,
}

impl Ring {
    /// An empty ring holding at most `capacity` bytes.
    pub fn new(capacity: usize) -> Self {
        assert!(capacity > 0, "ring capacity must be positive");
        Self {
            buf: VecDeque::new(),
            capacity,
            head: 0,
        }
    }

    /// An empty ring whose next byte is seq `head`: a ring handed over from a previous
    /// server (`handover`) continues its numbering.
    pub fn resumed(capacity: usize, head: u64) -> Self {
        let mut ring = Self::new(capacity);
        ring.head = head;
        ring
    }

    /// The seq after the newest byte.
    pub fn head(&self) -> u64 {
        self.head
    }

    /// The seq of the oldest byte still held.
    pub fn start(&self) -> u64 {
        self.head - self.buf.len() as u64
    }

    /// Maximum bytes held.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Bytes of storage allocated.
    #[cfg(test)]
    pub fn allocated(&self) -> usize {
        self.buf.capacity()
    }

    /// Appends bytes, dropping the oldest ones beyond the capacity.
    pub fn push(&mut self, mut data: &[u8]) {
        if data.len() > self.capacity {
            let skip = data.len() - self.capacity;
            self.head += skip as u64;
            data = &data[skip..];
        }
        let over = (self.buf.len() + data.len()).saturating_sub(self.capacity);
        self.buf.drain(..over);
        let len = self.buf.len();
        if self.buf.capacity() < len + data.len() {
            let want = (len + data.len()).max(len * 2).min(self.capacity);
            self.buf.reserve_exact(want - len);
        }
        self.buf.extend(data);
        self.head += data.len() as u64;
    }

    /// Drops the bytes before `seq` (at most up to the head) and gives back the storage
    /// they took; a reader whose cursor is older is then behind.
    pub fn release_before(&mut self, seq: u64) {
        let drop = seq.clamp(self.start(), self.head) - self.start();
        self.buf.drain(..drop as usize);
        self.buf.shrink_to_fit();
    }

    /// Appends to `out` up to `max` bytes starting at seq `from` (clamped to the head).
    pub fn read_into(&self, from: u64, max: usize, out: &mut Vec<u8>) -> Result<usize, Behind> {
        if from < self.start() {
            return Err(Behind);
        }
        let from = (from.min(self.head) - self.start()) as usize;
        let total = (self.buf.len() - from).min(max);
        let (a, b) = self.buf.as_slices();
        let end = from + total;
        if from < a.len() {
            out.extend_from_slice(&a[from..end.min(a.len())]);
        }
        if end > a.len() {
            out.extend_from_slice(&b[from.saturating_sub(a.len())..end - a.len()]);
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(ring: &Ring, from: u64) -> Result<Vec<u8>, Behind> {
        let mut out = Vec::new();
        ring.read_into(from, usize::MAX, &mut out).map(|_| out)
    }

    #[test]
    fn keeps_the_last_capacity_bytes_across_wraps() {
        let mut ring = Ring::new(8);
        ring.push(b"abcde");
        assert_eq!(read(&ring, 0).unwrap(), b"abcde");
        ring.push(b"fghij");
        assert_eq!((ring.start(), ring.head()), (2, 10));
        assert_eq!(read(&ring, 2).unwrap(), b"cdefghij");
        assert_eq!(read(&ring, 7).unwrap(), b"hij");
        assert_eq!(read(&ring, 1), Err(Behind));
        assert_eq!(read(&ring, 10).unwrap(), b"");
        ring.push(b"0123456789xyz");
        assert_eq!((ring.start(), ring.head()), (15, 23));
        assert_eq!(read(&ring, 15).unwrap(), b"56789xyz");
    }

    #[test]
    fn releasing_gives_back_storage_and_keeps_the_newest_bytes() {
        let mut ring = Ring::new(1 << 20);
        for i in 0..100u8 {
            ring.push(&[i; 1000]);
        }
        assert!(ring.allocated() >= 100_000);
        ring.release_before(99_000);
        assert_eq!((ring.start(), ring.head()), (99_000, 100_000));
        assert!(ring.allocated() < 2000, "{} bytes kept", ring.allocated());
        assert_eq!(read(&ring, 99_500).unwrap(), [99; 500]);
        assert_eq!(read(&ring, 98_999), Err(Behind));
        // Never past the head; never back before the start.
        ring.release_before(10);
        assert_eq!(ring.start(), 99_000);
        ring.release_before(u64::MAX);
        assert_eq!((ring.start(), ring.head()), (100_000, 100_000));
        ring.push(b"more");
        assert_eq!(read(&ring, 100_000).unwrap(), b"more");
    }

    #[test]
    fn a_resumed_ring_continues_the_numbering() {
        for head in [0, 5, 8, 13, 1 << 40] {
            let mut ring = Ring::resumed(8, head);
            assert_eq!((ring.start(), ring.head()), (head, head));
            assert_eq!(read(&ring, head).unwrap(), b"");
            ring.push(b"abc");
            assert_eq!(read(&ring, head).unwrap(), b"abc");
            assert!(head == 0 || read(&ring, head - 1).is_err());
            ring.push(b"defghij");
            assert_eq!((ring.start(), ring.head()), (head + 2, head + 10));
            assert_eq!(read(&ring, head + 2).unwrap(), b"cdefghij");
        }
    }

    #[test]
    fn matches_a_model_for_random_pushes() {
        let mut ring = Ring::new(37);
        let mut all = Vec::new();
        let mut floor = 0;
        let mut x: u32 = 12345;
        for round in 0..2000 {
            x = x.wrapping_mul(1103515245).wrapping_add(12345);
            let len = (x >> 16) as usize % 50;
            let chunk: Vec<u8> = (0..len).map(|i| (round + i) as u8).collect();
            ring.push(&chunk);
            all.extend_from_slice(&chunk);
            if round % 97 == 0 {
                // Released, then filled again: the same bytes from the new start on.
                let keep = ring.start() + (x as u64 % (ring.head() - ring.start() + 1));
                ring.release_before(keep);
                floor = keep as usize;
                assert_eq!(ring.start(), keep);
                assert_eq!(read(&ring, keep).unwrap(), &all[keep as usize..]);
                continue;
            }
            let start = ring.start() as usize;
            assert_eq!(start, all.len().saturating_sub(37).max(floor));
            let from = start + (x as usize % (all.len() - start + 1));
            assert_eq!(read(&ring, from as u64).unwrap(), &all[from..]);
        }
    }
}
