//! TCP segments as the user-space TCP client sees them: sequence numbers, flags, options,
//! payload. Independent of IP and of the wire format.
use bytes::Bytes;
use std::cmp::Ordering;
use std::fmt;
use std::ops::{Add, Sub};

/// A TCP sequence number: wraps at 2^32 and compares wrap-aware (RFC 1982 serial arithmetic),
/// so `SeqNumber(u32::MAX) < SeqNumber(0)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, serde::Serialize)]
#[serde(transparent)]
pub struct SeqNumber(pub u32);

impl SeqNumber {
    /// `self - other` as a signed distance (positive when `self` is after `other`).
    pub fn distance(self, other: SeqNumber) -> i32 {
        // Two's complement reinterpretation is the definition of serial-number distance.
        self.0.wrapping_sub(other.0) as i32
    }
}

impl Add<usize> for SeqNumber {
    type Output = SeqNumber;
    fn add(self, rhs: usize) -> SeqNumber {
        // Lengths beyond 2^31 are not meaningful for TCP; truncation keeps wrapping semantics.
        SeqNumber(self.0.wrapping_add(rhs as u32))
    }
}

impl Sub<SeqNumber> for SeqNumber {
    type Output = i32;
    fn sub(self, rhs: SeqNumber) -> i32 {
        self.distance(rhs)
    }
}

impl PartialOrd for SeqNumber {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.distance(*other).cmp(&0))
    }
}

impl fmt::Display for SeqNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// TCP control flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub struct TcpFlags {
    pub fin: bool,
    pub syn: bool,
    pub rst: bool,
    pub psh: bool,
    pub ack: bool,
    pub urg: bool,
}

impl fmt::Display for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (self.syn, "S"),
            (self.fin, "F"),
            (self.rst, "R"),
            (self.psh, "P"),
            (self.ack, "."),
            (self.urg, "U"),
        ];
        for (set, n) in names {
            if set {
                f.write_str(n)?;
            }
        }
        Ok(())
    }
}

/// The TCP options ReconMap sends and understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub struct TcpOptions {
    pub mss: Option<u16>,
    pub window_scale: Option<u8>,
    pub sack_permitted: bool,
    /// (TSval, TSecr)
    pub timestamps: Option<(u32, u32)>,
}

/// One TCP segment (without the IP layer).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TcpSegment {
    pub seq: SeqNumber,
    /// Meaningful only with `flags.ack`.
    pub ack: SeqNumber,
    pub flags: TcpFlags,
    pub window: u16,
    pub options: TcpOptions,
    pub payload: Bytes,
}

impl TcpSegment {
    /// Sequence space the segment occupies (payload plus SYN and FIN).
    pub fn seq_len(&self) -> usize {
        self.payload.len() + usize::from(self.flags.syn) + usize::from(self.flags.fin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_compare_across_the_wrap() {
        let before = SeqNumber(u32::MAX - 10);
        let after = before + 20;
        assert_eq!(after, SeqNumber(9));
        assert!(before < after);
        assert!(after > before);
        assert_eq!(after - before, 20);
        assert_eq!(before - after, -20);
    }

    #[test]
    fn seq_len_counts_syn_and_fin() {
        let mut s = TcpSegment {
            payload: Bytes::from_static(b"EHLO x\r\n"),
            ..TcpSegment::default()
        };
        assert_eq!(s.seq_len(), 8);
        s.flags.syn = true;
        s.flags.fin = true;
        assert_eq!(s.seq_len(), 10);
        assert_eq!(s.flags.to_string(), "SF");
    }
}
