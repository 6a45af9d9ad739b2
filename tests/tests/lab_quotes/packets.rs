//! Our own TCP segments and the ICMP errors quoting them, read field by field from the bytes
//! (etherparse for the IP headers), and the TCP checksum computed by RFC 1071. Nothing here
//! comes from ReconMap.
use std::net::Ipv4Addr;

use etherparse::Ipv4HeaderSlice;

/// IP protocol number of TCP.
const TCP: u8 = 6;
/// Offset of the checksum in the TCP header.
const TCP_CHECKSUM: usize = 16;

/// The header fields of an IPv4 TCP datagram, as far as the bytes go (an ICMP quote may end
/// after 8 or 20 TCP bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Headers {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub ip_id: u16,
    /// The total length the (quoted) IP header states.
    pub total_len: u16,
    pub dont_fragment: bool,
    pub protocol: u8,
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    /// Bytes 8..20 of the TCP header, when present.
    pub fixed: Option<FixedTcp>,
    /// TCP options, when the whole header is present.
    pub options: Option<Vec<u8>>,
    /// Payload bytes present after a whole TCP header.
    pub payload: Option<Vec<u8>>,
    /// Bytes of the datagram (or quote) available.
    pub len: usize,
}

/// TCP header bytes 8..20.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedTcp {
    pub ack: u32,
    /// Data offset, reserved bits and flags (bytes 12-13).
    pub offset_flags: u16,
    pub window: u16,
    pub checksum: u16,
    pub urgent: u16,
}

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

impl Headers {
    /// Parses a TCP datagram or a quote of one (at least the IP header and 8 TCP bytes).
    pub fn parse(bytes: &[u8]) -> Option<Headers> {
        let ip = Ipv4HeaderSlice::from_slice(bytes).ok()?;
        let tcp = bytes.get(ip.slice().len()..)?;
        let fixed = (tcp.len() >= 20).then(|| FixedTcp {
            ack: be32(tcp, 8).unwrap_or_default(),
            offset_flags: be16(tcp, 12).unwrap_or_default(),
            window: be16(tcp, 14).unwrap_or_default(),
            checksum: be16(tcp, 16).unwrap_or_default(),
            urgent: be16(tcp, 18).unwrap_or_default(),
        });
        let header_len = fixed.map(|f| usize::from(f.offset_flags >> 12) * 4);
        let whole = header_len.filter(|&h| h >= 20 && tcp.len() >= h);
        Some(Headers {
            src: ip.source_addr(),
            dst: ip.destination_addr(),
            ip_id: ip.identification(),
            total_len: ip.total_len(),
            dont_fragment: ip.dont_fragment(),
            protocol: ip.protocol().0,
            sport: be16(tcp, 0)?,
            dport: be16(tcp, 2)?,
            seq: be32(tcp, 4)?,
            fixed,
            options: whole.and_then(|h| tcp.get(20..h)).map(<[u8]>::to_vec),
            payload: whole.and_then(|h| tcp.get(h..)).map(<[u8]>::to_vec),
            len: bytes.len(),
        })
    }

    /// The TCP flags byte, when present.
    pub fn flags(&self) -> Option<u8> {
        self.fixed.map(|f| (f.offset_flags & 0xff) as u8)
    }

    /// The TCP timestamp option (kind 8, length 10), when the options are present.
    pub fn timestamp(&self) -> Option<Vec<u8>> {
        let opts = self.options.as_ref()?;
        let mut at = 0;
        while let Some(&kind) = opts.get(at) {
            match kind {
                0 => return None,
                1 => at += 1,
                _ => {
                    let len = usize::from(*opts.get(at + 1)?);
                    if kind == 8 {
                        return opts.get(at..at + len).map(<[u8]>::to_vec);
                    }
                    at += len.max(2);
                }
            }
        }
        None
    }
}

/// The header fields that differ between what was sent and what a quote shows, among those
/// the quote holds (the IP ID, TTL, checksums and payload are compared elsewhere).
pub fn header_diff(sent: &Headers, quoted: &Headers) -> Vec<&'static str> {
    let mut diff = Vec::new();
    let mut field = |name, same: bool| {
        if !same {
            diff.push(name);
        }
    };
    field("ip.src", sent.src == quoted.src);
    field("ip.dst", sent.dst == quoted.dst);
    field("ip.total_len", sent.total_len == quoted.total_len);
    field("ip.df", sent.dont_fragment == quoted.dont_fragment);
    field("ip.protocol", sent.protocol == quoted.protocol);
    field("tcp.sport", sent.sport == quoted.sport);
    field("tcp.dport", sent.dport == quoted.dport);
    field("tcp.seq", sent.seq == quoted.seq);
    if let (Some(s), Some(q)) = (sent.fixed, quoted.fixed) {
        field("tcp.ack", s.ack == q.ack);
        field("tcp.offset_flags", s.offset_flags == q.offset_flags);
        field("tcp.window", s.window == q.window);
        field("tcp.urgent", s.urgent == q.urgent);
    }
    if let (Some(s), Some(q)) = (&sent.options, &quoted.options) {
        field("tcp.options", s == q);
    }
    diff
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

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// The TCP checksum of the whole datagram `datagram` (IPv4, TCP), computed from scratch over
/// the pseudo header and the segment with its checksum field taken as zero.
pub fn tcp_checksum(datagram: &[u8]) -> u16 {
    let ip = Ipv4HeaderSlice::from_slice(datagram).expect("IPv4 header");
    assert_eq!(ip.protocol().0, TCP, "not TCP");
    let seg_start = ip.slice().len();
    let seg_end = usize::from(ip.total_len());
    let mut segment = datagram[seg_start..seg_end].to_vec();
    segment[TCP_CHECKSUM] = 0;
    segment[TCP_CHECKSUM + 1] = 0;
    let seg_len = u16::try_from(segment.len()).expect("segment length");
    let mut acc = ones_complement_sum(0, &ip.source());
    acc = ones_complement_sum(acc, &ip.destination());
    acc = ones_complement_sum(acc, &[0, TCP]);
    acc = ones_complement_sum(acc, &seg_len.to_be_bytes());
    acc = ones_complement_sum(acc, &segment);
    !fold(acc)
}

/// `datagram` with its TCP sequence number set to `seq` and the first occurrence of `from` in
/// its payload replaced by `to` (same length), checksum field untouched.
pub fn variant(datagram: &[u8], seq: u32, from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let mut d = datagram.to_vec();
    let ihl = usize::from(d[0] & 0x0f) * 4;
    d[ihl + 4..ihl + 8].copy_from_slice(&seq.to_be_bytes());
    let data_off = usize::from(d[ihl + 12] >> 4) * 4;
    let payload_start = ihl + data_off;
    if !from.is_empty() {
        if let Some(pos) = d[payload_start..]
            .windows(from.len())
            .position(|w| w == from)
        {
            let at = payload_start + pos;
            d[at..at + to.len()].copy_from_slice(to);
        }
    }
    d
}

/// An ICMP error (Destination Unreachable, Time Exceeded, Parameter Problem) and its quote.
#[derive(Debug, Clone)]
pub struct IcmpError {
    pub from: Ipv4Addr,
    /// The outer IP TTL on arrival.
    pub ttl: u8,
    pub icmp_type: u8,
    pub code: u8,
    /// The quoted datagram (as much as the router sent).
    pub quote: Vec<u8>,
}

impl IcmpError {
    /// Parses a received datagram as an ICMP error.
    pub fn parse(datagram: &[u8]) -> Option<IcmpError> {
        let ip = Ipv4HeaderSlice::from_slice(datagram).ok()?;
        if ip.protocol().0 != 1 {
            return None;
        }
        let end = usize::from(ip.total_len()).min(datagram.len());
        let icmp = datagram.get(ip.slice().len()..end)?;
        let icmp_type = *icmp.first()?;
        if !matches!(icmp_type, 3 | 11 | 12) {
            return None;
        }
        let mut quote = icmp.get(8..)?.to_vec();
        // RFC 4884: a non-zero length (byte 5, in 32-bit words) delimits the original datagram
        // field, zero-padded to at least 128 bytes, before an extension structure (an MPLS
        // LSR's label stack): the quote is that field, without padding past the datagram's own
        // total length.
        let words = usize::from(*icmp.get(5)?);
        if words > 0 {
            quote.truncate(words * 4);
            if let Ok(inner) = Ipv4HeaderSlice::from_slice(&quote) {
                quote.truncate(usize::from(inner.total_len()));
            }
        }
        Some(IcmpError {
            from: ip.source_addr(),
            ttl: ip.ttl(),
            icmp_type,
            code: *icmp.get(1)?,
            quote,
        })
    }

    /// The quote's header fields.
    pub fn quoted(&self) -> Option<Headers> {
        Headers::parse(&self.quote)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A datagram built and checksummed by etherparse (not by our code).
    fn built(payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        etherparse::PacketBuilder::ipv4([198, 51, 100, 1], [192, 0, 2, 25], 64)
            .tcp(40000, 25, 0x0102_0304, 502)
            .ack(77)
            .psh()
            .write(&mut out, payload)
            .expect("build");
        out
    }

    #[test]
    fn checksum_agrees_with_etherparse() {
        for payload in [&b"STARTTLS\r\n"[..], b"odd", b""] {
            let d = built(payload);
            let h = Headers::parse(&d).expect("parse");
            assert_eq!(tcp_checksum(&d), h.fixed.expect("fixed").checksum);
        }
        let d = built(b"STARTTLS\r\n");
        let x = variant(&d, 0x0102_0304, b"STARTTLS", b"XXXXXXXX");
        let rebuilt = built(b"XXXXXXXX\r\n");
        assert_eq!(x[..36], rebuilt[..36], "same header up to the checksum");
        assert_eq!(x[38..], rebuilt[38..], "payload replaced");
        assert_ne!(x[36..38], rebuilt[36..38], "checksum field left as it was");
        let hx = Headers::parse(&rebuilt).expect("parse");
        assert_eq!(tcp_checksum(&x), hx.fixed.expect("fixed").checksum);
        let moved = variant(&d, 0x0102_0305, b"", b"");
        assert_ne!(tcp_checksum(&moved), tcp_checksum(&d), "seq is covered");
    }

    #[test]
    fn short_quotes_parse_as_far_as_they_go() {
        let d = built(b"STARTTLS\r\n");
        let q28 = Headers::parse(&d[..28]).expect("28");
        assert!(q28.fixed.is_none() && q28.options.is_none());
        assert_eq!((q28.sport, q28.dport, q28.seq), (40000, 25, 0x0102_0304));
        let q40 = Headers::parse(&d[..40]).expect("40");
        assert!(q40.fixed.is_some(), "the fixed TCP header");
        assert_eq!(
            q40.payload.as_deref(),
            Some(&b""[..]),
            "no options: whole header, no payload"
        );
        let q39 = Headers::parse(&d[..39]).expect("39");
        assert!(q39.fixed.is_none() && q39.payload.is_none());
        let full = Headers::parse(&d).expect("full");
        assert_eq!(full.payload.as_deref(), Some(&b"STARTTLS\r\n"[..]));
        assert!(header_diff(&full, &q40).is_empty());
        let mut other = d.clone();
        other[24] ^= 1;
        let o = Headers::parse(&other).expect("other");
        assert_eq!(header_diff(&full, &o), ["tcp.seq"]);
    }
}
