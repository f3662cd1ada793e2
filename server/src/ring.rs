//! A fixed-capacity byte ring indexed by output sequence number.
//!
//! `seq` counts every byte a session's PTY ever produced. The ring keeps the last
//! `capacity` of them; a reader holds a cursor (a seq) and copies out what lies between its
//! cursor and the head. A cursor older than the ring's start has fallen behind and must be
//! resynchronised from the terminal state instead. Storage grows on demand up to the
//! capacity, so an idle session costs almost nothing.

/// A cursor older than the oldest byte still held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Behind;

/// The byte ring.
pub struct Ring {
    /// Physical storage; byte `seq` lives at `seq % capacity`. Its length grows to
    /// `capacity` and then stays there.
    buf: Vec<u8>,
    capacity: usize,
    /// Total bytes ever pushed: the seq after the newest byte.
    head: u64,
    /// No byte before this seq is held (0, or where a resumed ring began).
    floor: u64,
}

impl Ring {
    /// An empty ring holding at most `capacity` bytes.
    pub fn new(capacity: usize) -> Self {
        assert!(capacity > 0, "ring capacity must be positive");
        Self {
            buf: Vec::new(),
            capacity,
            head: 0,
            floor: 0,
        }
    }

    /// An empty ring whose next byte is seq `head`: a ring handed over from a previous
    /// server (`handover`) continues its numbering.
    pub fn resumed(capacity: usize, head: u64) -> Self {
        let mut ring = Self::new(capacity);
        ring.head = head;
        ring.floor = head;
        // Byte `seq` lives at `seq % capacity`: storage up to the head's slot is filler
        // that `floor` keeps anyone from reading.
        ring.buf.resize((head % capacity as u64) as usize, 0);
        ring
    }

    /// The seq after the newest byte.
    pub fn head(&self) -> u64 {
        self.head
    }

    /// The seq of the oldest byte still held.
    pub fn start(&self) -> u64 {
        (self.head - self.buf.len() as u64).max(self.floor)
    }

    /// Maximum bytes held.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Appends bytes, dropping the oldest ones beyond the capacity.
    pub fn push(&mut self, mut data: &[u8]) {
        if data.len() > self.capacity {
            let skip = data.len() - self.capacity;
            self.head += skip as u64;
            data = &data[skip..];
            if self.buf.len() < self.capacity {
                // Sizes only matter for `start()`; the content is about to be overwritten.
                self.buf.resize(self.capacity, 0);
            }
        }
        while !data.is_empty() {
            let pos = (self.head % self.capacity as u64) as usize;
            let n = data.len().min(self.capacity - pos);
            if pos == self.buf.len() {
                let want = (self.buf.len() + n)
                    .max(self.buf.len() * 2)
                    .min(self.capacity);
                self.buf.reserve_exact(want - self.buf.len());
                self.buf.extend_from_slice(&data[..n]);
            } else {
                self.buf[pos..pos + n].copy_from_slice(&data[..n]);
            }
            self.head += n as u64;
            data = &data[n..];
        }
    }

    /// Appends to `out` up to `max` bytes starting at seq `from` (clamped to the head).
    pub fn read_into(&self, from: u64, max: usize, out: &mut Vec<u8>) -> Result<usize, Behind> {
        if from < self.start() {
            return Err(Behind);
        }
        let from = from.min(self.head);
        let total = ((self.head - from) as usize).min(max);
        let mut left = total;
        let mut seq = from;
        while left > 0 {
            let pos = (seq % self.capacity as u64) as usize;
            let n = left.min(self.capacity - pos);
            out.extend_from_slice(&self.buf[pos..pos + n]);
            seq += n as u64;
            left -= n;
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
        let mut x: u32 = 12345;
        for round in 0..2000 {
            x = x.wrapping_mul(1103515245).wrapping_add(12345);
            let len = (x >> 16) as usize % 50;
            let chunk: Vec<u8> = (0..len).map(|i| (round + i) as u8).collect();
            ring.push(&chunk);
            all.extend_from_slice(&chunk);
            let start = ring.start() as usize;
            assert_eq!(start, all.len().saturating_sub(37));
            let from = start + (x as usize % (all.len() - start + 1));
            assert_eq!(read(&ring, from as u64).unwrap(), &all[from..]);
        }
    }
}
