//! In-order delivery of received data: segments that arrive early are held (within a bounded
//! budget) until the gap before them is filled; duplicates and overlaps are trimmed.
use bytes::{Bytes, BytesMut};
use reconmap_wire::SeqNumber;
use std::collections::BTreeMap;

/// Receive-side reassembly state.
#[derive(Debug)]
pub struct Reassembly {
    /// Next sequence number expected.
    next: SeqNumber,
    ready: BytesMut,
    /// Out-of-order segments by their offset from `next` at insertion time (re-keyed on use).
    pending: BTreeMap<u32, Bytes>,
    base: SeqNumber,
    pending_bytes: usize,
    capacity: usize,
}

impl Reassembly {
    pub fn new(next: SeqNumber, capacity: usize) -> Self {
        Self {
            next,
            ready: BytesMut::new(),
            pending: BTreeMap::new(),
            base: next,
            pending_bytes: 0,
            capacity,
        }
    }

    pub fn next(&self) -> SeqNumber {
        self.next
    }

    /// Free space, announced as the receive window.
    pub fn window(&self) -> usize {
        self.capacity
            .saturating_sub(self.ready.len() + self.pending_bytes)
    }

    /// Accepts `data` starting at `seq`; returns whether it was new (false for duplicates).
    pub fn insert(&mut self, seq: SeqNumber, data: &[u8]) -> bool {
        let offset = seq - self.next;
        let (seq, data) = if offset < 0 {
            // Starts before what we expect: keep only the new tail.
            let skip = offset.unsigned_abs() as usize;
            match data.get(skip..) {
                Some(rest) if !rest.is_empty() => (self.next, rest),
                _ => return false,
            }
        } else {
            (seq, data)
        };
        // Never hold more than the window allows.
        let limit = self
            .window()
            .saturating_sub(usize::try_from((seq - self.next).max(0)).unwrap_or(usize::MAX));
        let data = data.get(..data.len().min(limit)).unwrap_or_default();
        if data.is_empty() {
            return false;
        }
        if seq == self.next {
            self.ready.extend_from_slice(data);
            self.next = self.next + data.len();
            self.drain_pending();
            true
        } else {
            let key = (seq - self.base) as u32;
            if self.pending.contains_key(&key) {
                return false;
            }
            self.pending_bytes += data.len();
            self.pending.insert(key, Bytes::copy_from_slice(data));
            true
        }
    }

    fn drain_pending(&mut self) {
        while let Some((key, seg)) = self.pending.pop_first() {
            self.pending_bytes -= seg.len();
            let seq = self.base + key as usize;
            let offset = seq - self.next;
            if offset > 0 {
                // Still a gap: put it back and stop.
                self.pending_bytes += seg.len();
                self.pending.insert(key, seg);
                break;
            }
            let skip = offset.unsigned_abs() as usize;
            if let Some(rest) = seg.get(skip..) {
                if !rest.is_empty() {
                    self.ready.extend_from_slice(rest);
                    self.next = self.next + rest.len();
                }
            }
        }
    }

    /// Moves the next expected number past a FIN (no data).
    pub fn advance_fin(&mut self) {
        self.next = self.next + 1;
    }

    /// Takes the in-order data received so far.
    pub fn take(&mut self) -> Bytes {
        self.ready.split().freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_duplicate_and_overlap() {
        let mut r = Reassembly::new(SeqNumber(100), 1024);
        assert!(r.insert(SeqNumber(100), b"hello "));
        assert!(!r.insert(SeqNumber(100), b"hello "));
        assert!(r.insert(SeqNumber(103), b"lo world"));
        assert_eq!(&r.take()[..], b"hello world");
        assert_eq!(r.next(), SeqNumber(111));
    }

    #[test]
    fn out_of_order_waits_for_the_gap() {
        let mut r = Reassembly::new(SeqNumber(u32::MAX - 2), 1024);
        assert!(r.insert(SeqNumber(0), b"def"));
        assert!(r.take().is_empty());
        assert!(r.insert(SeqNumber(u32::MAX - 2), b"abc"));
        assert!(r.insert(SeqNumber(3), b"gh"));
        assert_eq!(&r.take()[..], b"abcdefgh");
    }

    #[test]
    fn nothing_beyond_the_window_is_kept() {
        let mut r = Reassembly::new(SeqNumber(0), 8);
        assert!(r.insert(SeqNumber(0), b"0123456789"));
        assert_eq!(&r.take()[..], b"01234567");
        assert_eq!(r.window(), 8);
        assert!(!r.insert(SeqNumber(20), b"x"));
    }
}
