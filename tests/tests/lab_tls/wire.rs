//! Datagrams as the prober's interface carries them: TCP segments (ours and the server's),
//! ICMP Time Exceeded messages and the datagram they quote, read from the bytes (etherparse
//! for the IP header); the TCP checksum by RFC 1071; one direction of a TCP connection put back
//! together from its segments. Nothing here comes from ReconMap.
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use etherparse::Ipv4HeaderSlice;

/// IP protocol numbers.
const ICMP: u8 = 1;
const TCP: u8 = 6;
/// ICMP Time Exceeded, TTL exceeded in transit.
const TIME_EXCEEDED: (u8, u8) = (11, 0);
/// Offset of the checksum in the TCP header.
const TCP_CHECKSUM: usize = 16;
/// TCP flag RST.
pub const RST: u8 = 0x04;

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
        *b.get(at + 2)?,
        *b.get(at + 3)?,
    ]))
}

/// A TCP segment (or as much of one as a quote holds: at least the IP header and the ports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub ttl: u8,
    pub ip_id: u16,
    /// The total length the IP header states.
    pub total_len: u16,
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    /// Flags, when the fixed TCP header is present.
    pub flags: Option<u8>,
    /// The TCP checksum field, when present.
    pub checksum: Option<u16>,
    /// The TCP header and what follows, as present (at most up to the stated total length).
    pub tcp: Vec<u8>,
    /// Offset of the payload in `tcp` (the data offset), when the whole header is present.
    pub payload_at: Option<usize>,
    /// The whole datagram (or quote) as present.
    pub bytes: Vec<u8>,
}

impl Segment {
    /// Parses an IPv4 TCP datagram or a quote of one.
    pub fn parse(bytes: &[u8]) -> Option<Segment> {
        let ip = Ipv4HeaderSlice::from_slice(bytes).ok()?;
        if ip.protocol().0 != TCP {
            return None;
        }
        let end = usize::from(ip.total_len()).min(bytes.len());
        let tcp = bytes.get(ip.slice().len()..end)?;
        let data_offset = tcp.get(12).map(|b| usize::from(b >> 4) * 4);
        Some(Segment {
            src: ip.source_addr(),
            dst: ip.destination_addr(),
            ttl: ip.ttl(),
            ip_id: ip.identification(),
            total_len: ip.total_len(),
            sport: be16(tcp, 0)?,
            dport: be16(tcp, 2)?,
            seq: be32(tcp, 4)?,
            flags: tcp.get(13).copied(),
            checksum: be16(tcp, TCP_CHECKSUM),
            payload_at: data_offset.filter(|&h| h >= 20 && tcp.len() >= h),
            tcp: tcp.to_vec(),
            bytes: bytes.get(..end)?.to_vec(),
        })
    }

    /// The payload bytes present (empty when the header is incomplete).
    pub fn payload(&self) -> &[u8] {
        self.payload_at
            .and_then(|h| self.tcp.get(h..))
            .unwrap_or_default()
    }

    /// The payload length the IP header states.
    pub fn stated_payload_len(&self) -> Option<usize> {
        let ihl = self.bytes.len() - self.tcp.len().min(self.bytes.len());
        usize::from(self.total_len)
            .checked_sub(ihl)?
            .checked_sub(self.payload_at?)
    }

    /// Whether the whole datagram is present (a quote may be cut).
    pub fn is_whole(&self) -> bool {
        self.bytes.len() == usize::from(self.total_len)
    }

    pub fn has_flag(&self, flag: u8) -> bool {
        self.flags.is_some_and(|f| f & flag != 0)
    }

    /// Whether the TCP checksum field matches the checksum computed over the segment (only
    /// for a whole datagram).
    pub fn checksum_ok(&self) -> Option<bool> {
        if !self.is_whole() {
            return None;
        }
        Some(tcp_checksum(self.src, self.dst, &self.tcp)? == self.checksum?)
    }
}

/// RFC 1071 one's complement sum of 16-bit words (odd length padded with a zero byte).
fn ones_complement_sum(mut acc: u32, bytes: &[u8]) -> u32 {
    let mut words = bytes.chunks_exact(2);
    for w in &mut words {
        acc += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = words.remainder() {
        acc += u32::from(*last) << 8;
    }
    acc
}

/// The TCP checksum of `segment` (header and payload) between `src` and `dst`, computed from
/// scratch with the checksum field taken as zero.
pub fn tcp_checksum(src: Ipv4Addr, dst: Ipv4Addr, segment: &[u8]) -> Option<u16> {
    let mut seg = segment.to_vec();
    *seg.get_mut(TCP_CHECKSUM)? = 0;
    *seg.get_mut(TCP_CHECKSUM + 1)? = 0;
    let len = u16::try_from(seg.len()).ok()?;
    let mut acc = ones_complement_sum(0, &src.octets());
    acc = ones_complement_sum(acc, &dst.octets());
    acc = ones_complement_sum(acc, &[0, TCP]);
    acc = ones_complement_sum(acc, &len.to_be_bytes());
    acc = ones_complement_sum(acc, &seg);
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    Some(!u16::try_from(acc).ok()?)
}

/// An ICMP Time Exceeded (in transit) message and the datagram it quotes.
#[derive(Debug, Clone)]
pub struct TimeExceeded {
    pub from: Ipv4Addr,
    /// The quoted datagram (as much as the router sent).
    pub quote: Segment,
}

impl TimeExceeded {
    /// Parses a received datagram as a Time Exceeded message quoting a TCP segment.
    pub fn parse(datagram: &[u8]) -> Option<TimeExceeded> {
        let ip = Ipv4HeaderSlice::from_slice(datagram).ok()?;
        if ip.protocol().0 != ICMP {
            return None;
        }
        let end = usize::from(ip.total_len()).min(datagram.len());
        let icmp = datagram.get(ip.slice().len()..end)?;
        if (*icmp.first()?, *icmp.get(1)?) != TIME_EXCEEDED {
            return None;
        }
        Some(TimeExceeded {
            from: ip.source_addr(),
            quote: Segment::parse(icmp.get(8..)?)?,
        })
    }
}

/// The bytes of one direction of a TCP connection, in sequence order, from the segments
/// captured (retransmissions and overlaps counted once), starting at the lowest sequence number
/// seen and ending at the first gap.
pub fn stream(segments: &[&Segment]) -> Vec<u8> {
    let mut by_seq: BTreeMap<u32, &[u8]> = BTreeMap::new();
    for s in segments {
        let p = s.payload();
        if !p.is_empty() {
            let e = by_seq.entry(s.seq).or_insert(p);
            if p.len() > e.len() {
                *e = p;
            }
        }
    }
    let mut out = Vec::new();
    let Some((&first, _)) = by_seq.iter().next() else {
        return out;
    };
    for (&seq, p) in &by_seq {
        let have = u32::try_from(out.len()).unwrap_or(u32::MAX);
        let at = seq.wrapping_sub(first);
        if at > have {
            break;
        }
        let skip = usize::try_from(have - at).unwrap_or(usize::MAX);
        out.extend_from_slice(p.get(skip..).unwrap_or_default());
    }
    out
}

/// The bytes after the first occurrence of `marker` in `bytes`.
pub fn after<'a>(bytes: &'a [u8], marker: &[u8]) -> Option<&'a [u8]> {
    let at = bytes.windows(marker.len()).position(|w| w == marker)?;
    bytes.get(at + marker.len()..)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A datagram built and checksummed by etherparse (not by our code).
    fn built(seq: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        etherparse::PacketBuilder::ipv4([198, 51, 100, 1], [192, 0, 2, 25], 64)
            .tcp(40000, 25, seq, 502)
            .ack(77)
            .psh()
            .write(&mut out, payload)
            .expect("build");
        out
    }

    #[test]
    fn checksum_agrees_with_etherparse_and_sees_a_change() {
        let d = built(7, &[0x16, 0x03, 0x01, 0x00, 0x02, 0x13, 0x02]);
        let s = Segment::parse(&d).expect("parse");
        assert_eq!(s.checksum_ok(), Some(true));
        assert_eq!(s.payload(), [0x16, 0x03, 0x01, 0x00, 0x02, 0x13, 0x02]);
        assert_eq!(s.stated_payload_len(), Some(7));
        let mut changed = d.clone();
        changed[45] = 0x00;
        assert_eq!(
            Segment::parse(&changed).expect("parse").checksum_ok(),
            Some(false)
        );
        let cut = Segment::parse(&d[..44]).expect("cut");
        assert_eq!(cut.checksum_ok(), None);
        assert_eq!(cut.payload(), [0x16, 0x03, 0x01, 0x00]);
        assert_eq!(cut.stated_payload_len(), Some(7));
    }

    #[test]
    fn stream_counts_retransmissions_once_and_stops_at_a_gap() {
        let a = Segment::parse(&built(100, b"abc")).expect("a");
        let b = Segment::parse(&built(103, b"def")).expect("b");
        let b2 = b.clone();
        let d = Segment::parse(&built(110, b"zzz")).expect("d");
        assert_eq!(stream(&[&b, &a, &b2, &d]), b"abcdef");
        assert_eq!(after(b"abcdef", b"cd"), Some(&b"ef"[..]));
    }
}
