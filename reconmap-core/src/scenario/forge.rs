//! Forged ICMP Time Exceeded messages quoting a client segment, one recipe per
//! [`ForgeMode`]: what the lab's `reconmap-icmp-forge` sends and the simulator repeats.
//!
//! Everything here works on bytes: the malformed quotes cannot be expressed by a parser's
//! validated types. The segment is checked before any field is read.
use std::net::Ipv4Addr;

use super::ForgeMode as Mode;
use crate::seeded::SeededRng;
use etherparse::{IpNumber, Ipv4Slice, TcpSlice};

/// ICMP type Time Exceeded, code "TTL exceeded in transit".
const TIME_EXCEEDED: u8 = 11;
/// Longest quote: a Linux router's ICMP error is at most 576 bytes (IP 20 + ICMP 8 + 548).
pub const MAX_QUOTE: usize = 548;
/// TOS of the ICMP errors Linux sends (precedence "internetwork control").
const ICMP_TOS: u8 = 0xc0;
/// TTL of the forged datagrams.
const OUTER_TTL: u8 = 64;

/// The client segment to answer: the datagram and where its parts are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe<'a> {
    datagram: &'a [u8],
    header_len: usize,
    source: Ipv4Addr,
    destination: Ipv4Addr,
    /// Offset of the TCP payload in the datagram.
    payload_start: usize,
}

impl<'a> Probe<'a> {
    /// The datagram as a probe: IPv4, unfragmented TCP to `port`, a non-empty payload that
    /// contains `needle` (ASCII, any case; an empty needle matches any payload).
    pub fn parse(datagram: &'a [u8], port: u16, needle: &[u8]) -> Option<Probe<'a>> {
        let ip = Ipv4Slice::from_slice(datagram).ok()?;
        if ip.header().protocol() != IpNumber::TCP || ip.is_payload_fragmented() {
            return None;
        }
        let tcp = TcpSlice::from_slice(ip.payload().payload).ok()?;
        if tcp.destination_port() != port || tcp.payload().is_empty() {
            return None;
        }
        if !needle.is_empty() && find_ignore_case(tcp.payload(), needle).is_none() {
            return None;
        }
        let header_len = ip.header().slice().len();
        let payload_start = header_len + tcp.header_slice().len();
        Some(Probe {
            datagram: datagram.get(..header_len + ip.payload().payload.len())?,
            header_len,
            source: ip.header().source_addr(),
            destination: ip.header().destination_addr(),
            payload_start,
        })
    }

    /// The prober: where the forged messages go.
    pub fn source(&self) -> Ipv4Addr {
        self.source
    }

    /// The IP ID the probe carries.
    pub fn ip_id(&self) -> u16 {
        u16::from_be_bytes([self.byte(4), self.byte(5)])
    }

    fn byte(&self, i: usize) -> u8 {
        self.datagram.get(i).copied().unwrap_or_default()
    }

    /// What a router where the probe's TTL ran out quotes: the datagram (at most
    /// [`MAX_QUOTE`] bytes) with TTL 1 and the header checksum fixed.
    fn honest_quote(&self) -> Vec<u8> {
        let mut quote = self
            .datagram
            .get(..self.datagram.len().min(MAX_QUOTE))
            .unwrap_or_default()
            .to_vec();
        if let Some(ttl) = quote.get_mut(8) {
            *ttl = 1;
        }
        fix_ip_checksum(&mut quote, self.header_len);
        quote
    }

    /// The honest quote with another IP ID (never the probe's own).
    fn quote_with_random_id(&self, rng: &mut SeededRng) -> Vec<u8> {
        let mut id = rng.next_u16();
        while id == self.ip_id() {
            id = rng.next_u16();
        }
        let mut quote = self.honest_quote();
        set_bytes(&mut quote, 4, &id.to_be_bytes());
        fix_ip_checksum(&mut quote, self.header_len);
        quote
    }
}

/// The ICMP messages (type 11 code 0, without an IP header) that `mode` forges for `probe`.
pub fn forge(mode: Mode, probe: &Probe<'_>, rng: &mut SeededRng, count: usize) -> Vec<Vec<u8>> {
    match mode {
        Mode::WrongId => vec![time_exceeded(0, &probe.quote_with_random_id(rng))],
        Mode::BadRfc4884 => {
            let quote = probe.honest_quote();
            vec![time_exceeded(255, &quote), time_exceeded(3, &quote)]
        }
        Mode::TruncatedInner => truncated_inner(probe),
        Mode::WrongProto => {
            let mut quote = probe.honest_quote();
            set_bytes(&mut quote, 9, &[u8::from(IpNumber::UDP)]);
            fix_ip_checksum(&mut quote, probe.header_len);
            vec![time_exceeded(0, &quote)]
        }
        Mode::ModifiedPayload => vec![time_exceeded(0, &modified_payload(probe))],
        Mode::Flood => (0..count)
            .map(|_| time_exceeded(0, &probe.quote_with_random_id(rng)))
            .collect(),
    }
}

/// The three broken-inner-header quotes of [`Mode::TruncatedInner`].
fn truncated_inner(probe: &Probe<'_>) -> Vec<Vec<u8>> {
    let honest = probe.honest_quote();
    // The IP header cut after 12 bytes (no addresses): nothing to fix.
    let cut = honest.get(..12).unwrap_or_default().to_vec();
    // IHL 15 (a 60-byte header) but only the 20-byte header and 8 bytes quoted; the checksum
    // covers the 20 bytes that exist.
    let mut long_ihl = honest.get(..28).unwrap_or_default().to_vec();
    set_bytes(&mut long_ihl, 0, &[0x4f]);
    fix_ip_checksum(&mut long_ihl, 20);
    // Total length 0xffff over a quote of a few dozen bytes.
    let mut huge = honest;
    set_bytes(&mut huge, 2, &[0xff, 0xff]);
    fix_ip_checksum(&mut huge, probe.header_len);
    vec![
        time_exceeded(0, &cut),
        time_exceeded(0, &long_ihl),
        time_exceeded(0, &huge),
    ]
}

/// The honest quote with `STARTTLS` (or the first 8 payload bytes) turned into `XXXXXXXX`
/// and, when the whole segment is quoted, a TCP checksum that fits the new payload.
fn modified_payload(probe: &Probe<'_>) -> Vec<u8> {
    let mut quote = probe.honest_quote();
    let start = probe.payload_start;
    let payload = quote.get(start..).unwrap_or_default();
    let at = find_ignore_case(payload, b"STARTTLS").unwrap_or(0);
    let len = payload.len().saturating_sub(at).min(8);
    set_bytes(&mut quote, start + at, &b"XXXXXXXX"[..len]);
    if quote.len() == probe.datagram.len() {
        let segment_start = probe.header_len;
        set_bytes(&mut quote, segment_start + 16, &[0, 0]);
        let segment = quote.get(segment_start..).unwrap_or_default();
        let sum = tcp_checksum(probe.source, probe.destination, segment);
        set_bytes(&mut quote, segment_start + 16, &sum.to_be_bytes());
    }
    quote
}

/// An ICMP Time Exceeded message quoting `quote`, with RFC 4884 length byte `length_words`.
pub fn time_exceeded(length_words: u8, quote: &[u8]) -> Vec<u8> {
    let mut msg = vec![TIME_EXCEEDED, 0, 0, 0, 0, length_words, 0, 0];
    msg.extend_from_slice(quote);
    let sum = checksum(&msg);
    set_bytes(&mut msg, 2, &sum.to_be_bytes());
    msg
}

/// The IPv4 datagram carrying `icmp` from `from` to `to` (TOS 0xc0 and TTL 64, as Linux
/// sends its ICMP errors).
pub fn ip_datagram(from: Ipv4Addr, to: Ipv4Addr, id: u16, icmp: &[u8]) -> Option<Vec<u8>> {
    let total = u16::try_from(20 + icmp.len()).ok()?;
    let mut d = vec![0x45, ICMP_TOS];
    d.extend_from_slice(&total.to_be_bytes());
    d.extend_from_slice(&id.to_be_bytes());
    d.extend_from_slice(&[0, 0, OUTER_TTL, u8::from(IpNumber::ICMP), 0, 0]);
    d.extend_from_slice(&from.octets());
    d.extend_from_slice(&to.octets());
    fix_ip_checksum(&mut d, 20);
    d.extend_from_slice(icmp);
    Some(d)
}

/// Overwrites `bytes` at `at` as far as `buf` reaches.
fn set_bytes(buf: &mut [u8], at: usize, bytes: &[u8]) {
    for (i, b) in bytes.iter().enumerate() {
        if let Some(slot) = buf.get_mut(at + i) {
            *slot = *b;
        }
    }
}

/// Recomputes the IPv4 header checksum over the first `header_len` bytes (or what exists).
fn fix_ip_checksum(datagram: &mut [u8], header_len: usize) {
    if datagram.len() < 12 {
        return;
    }
    set_bytes(datagram, 10, &[0, 0]);
    let end = header_len.min(datagram.len());
    let sum = checksum(datagram.get(..end).unwrap_or_default());
    set_bytes(datagram, 10, &sum.to_be_bytes());
}

/// The TCP checksum of `segment` (checksum field zeroed) between `src` and `dst`.
fn tcp_checksum(src: Ipv4Addr, dst: Ipv4Addr, segment: &[u8]) -> u16 {
    let mut pseudo = Vec::with_capacity(12 + segment.len());
    pseudo.extend_from_slice(&src.octets());
    pseudo.extend_from_slice(&dst.octets());
    pseudo.push(0);
    pseudo.push(u8::from(IpNumber::TCP));
    pseudo.extend_from_slice(
        &u16::try_from(segment.len())
            .unwrap_or(u16::MAX)
            .to_be_bytes(),
    );
    pseudo.extend_from_slice(segment);
    checksum(&pseudo)
}

/// The Internet checksum (RFC 1071) of `bytes`.
fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|pair| match pair {
            [hi, lo] => u32::from(u16::from_be_bytes([*hi, *lo])),
            [hi] => u32::from(*hi) << 8,
            _ => 0,
        })
        .fold(0u32, u32::wrapping_add);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Where `needle` first occurs in `haystack`, ASCII case ignored.
fn find_ignore_case(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{Icmpv4Slice, PacketBuilder, TcpHeaderSlice};

    const CLIENT: [u8; 4] = [198, 51, 100, 1];
    const SERVER: [u8; 4] = [198, 51, 100, 6];

    fn segment(payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        PacketBuilder::ipv4(CLIENT, SERVER, 5)
            .tcp(40000, 25, 1000, 64000)
            .ack(77)
            .psh()
            .write(&mut out, payload)
            .expect("build");
        out
    }

    fn icmp_ok(msg: &[u8]) -> Icmpv4Slice<'_> {
        assert_eq!(checksum(msg), 0, "ICMP checksum");
        let icmp = Icmpv4Slice::from_slice(msg).expect("icmp");
        assert_eq!(icmp.type_u8(), 11);
        assert_eq!(icmp.code_u8(), 0);
        icmp
    }

    #[test]
    fn probes_are_payload_segments_to_the_port_with_the_needle() {
        let s = segment(b"STARTTLS\r\n");
        let p = Probe::parse(&s, 25, b"starttls").expect("probe");
        assert_eq!(p.source(), Ipv4Addr::from(CLIENT));
        assert!(Probe::parse(&s, 26, b"").is_none());
        assert!(Probe::parse(&segment(b"EHLO x\r\n"), 25, b"STARTTLS").is_none());
        assert!(Probe::parse(&segment(b"EHLO x\r\n"), 25, b"").is_some());
        assert!(Probe::parse(&segment(b""), 25, b"").is_none());
        assert!(Probe::parse(&s[..30], 25, b"").is_none());
        assert!(Probe::parse(b"", 25, b"").is_none());
    }

    #[test]
    fn wrong_id_is_an_honest_quote_but_the_id() {
        let s = segment(b"STARTTLS\r\n");
        let p = Probe::parse(&s, 25, b"").expect("probe");
        let msgs = forge(Mode::WrongId, &p, &mut SeededRng::new(1), 0);
        assert_eq!(msgs.len(), 1);
        let icmp = icmp_ok(&msgs[0]);
        let quote = icmp.payload();
        let ip = Ipv4Slice::from_slice(quote).expect("inner");
        assert_ne!(ip.header().identification(), p.ip_id());
        assert_eq!(ip.header().ttl(), 1);
        assert_eq!(checksum(&quote[..20]), 0, "inner header checksum");
        assert_eq!(&quote[12..], &s[12..]);
    }

    #[test]
    fn bad_lengths_and_broken_inner_headers() {
        let s = segment(b"STARTTLS\r\n");
        let p = Probe::parse(&s, 25, b"").expect("probe");
        let msgs = forge(Mode::BadRfc4884, &p, &mut SeededRng::new(1), 0);
        assert_eq!(msgs.iter().map(|m| m[5]).collect::<Vec<_>>(), vec![255, 3]);
        msgs.iter().for_each(|m| {
            icmp_ok(m);
        });
        let msgs = forge(Mode::TruncatedInner, &p, &mut SeededRng::new(1), 0);
        assert_eq!(msgs.len(), 3);
        assert_eq!(icmp_ok(&msgs[0]).payload().len(), 12);
        let long = icmp_ok(&msgs[1]).payload();
        assert_eq!((long[0], long.len()), (0x4f, 28));
        assert_eq!(checksum(&long[..20]), 0);
        let huge = icmp_ok(&msgs[2]).payload();
        assert_eq!((&huge[2..4], huge.len()), (&[0xff, 0xff][..], s.len()));
        assert_eq!(checksum(&huge[..20]), 0);
    }

    #[test]
    fn wrong_proto_and_modified_payload() {
        let s = segment(b"EHLO a\r\nstarttls\r\n");
        let p = Probe::parse(&s, 25, b"").expect("probe");
        let m = forge(Mode::WrongProto, &p, &mut SeededRng::new(1), 0);
        let q = icmp_ok(&m[0]).payload();
        assert_eq!(q[9], 17);
        assert_eq!(checksum(&q[..20]), 0);
        assert_eq!(&q[12..20], &s[12..20]);

        let m = forge(Mode::ModifiedPayload, &p, &mut SeededRng::new(1), 0);
        let q = icmp_ok(&m[0]).payload();
        let tcp = TcpHeaderSlice::from_slice(&q[20..]).expect("tcp");
        let payload = &q[20 + tcp.slice().len()..];
        assert_eq!(payload, b"EHLO a\r\nXXXXXXXX\r\n");
        assert_eq!(
            tcp.calc_checksum_ipv4_raw(CLIENT, SERVER, payload)
                .expect("sum"),
            tcp.checksum()
        );
    }

    #[test]
    fn flood_ids_are_random_seeded_and_never_the_probes() {
        let s = segment(b"STARTTLS\r\n");
        let p = Probe::parse(&s, 25, b"").expect("probe");
        let ids = |seed| {
            forge(Mode::Flood, &p, &mut SeededRng::new(seed), 50)
                .iter()
                .map(|m| u16::from_be_bytes([m[8 + 4], m[8 + 5]]))
                .collect::<Vec<_>>()
        };
        let a = ids(4);
        assert_eq!(a.len(), 50);
        assert_eq!(a, ids(4));
        assert_ne!(a, ids(5));
        assert!(!a.contains(&p.ip_id()));
    }

    #[test]
    fn outer_datagram_is_valid() {
        let icmp = time_exceeded(0, &segment(b"STARTTLS\r\n"));
        let d = ip_datagram(
            Ipv4Addr::new(192, 0, 2, 66),
            Ipv4Addr::from(CLIENT),
            9,
            &icmp,
        )
        .expect("datagram");
        let ip = Ipv4Slice::from_slice(&d).expect("ip");
        assert_eq!(ip.header().protocol(), IpNumber::ICMP);
        assert_eq!(checksum(&d[..20]), 0);
        assert_eq!(ip.payload().payload, &icmp[..]);
    }
}
