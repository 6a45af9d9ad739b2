//! `--mpls-labels L1,L2,..`: the router answers as an MPLS label switching router does. Its
//! ICMP errors (Time Exceeded, Destination Unreachable, Parameter Problem) get the label stack
//! of the expiring packet appended as RFC 4884 extension structure with one RFC 4950 object:
//! the quote zero-padded to at least 128 bytes (and to a 32-bit boundary; cut on one so the
//! message stays within 576 bytes), ICMP byte 5 set to its length in 32-bit words, the
//! extension checksum, the ICMP checksum, the outer total length and IP checksum fixed.
//!
//! Runs on the router's OUTPUT for the ICMP errors it generates, after any quote-cutting box
//! (see `reconmap_lab::boxes::LsrSpec`). Messages that already carry an extension
//! (length field set) pass unchanged.
use etherparse::IpNumber;
use reconmap_wire::icmp_ext::extended_payload;

use crate::packet::{fix_icmp_checksum, Ipv4Layout};

/// ICMP types that may carry RFC 4884 extensions.
const EXTENSIBLE_TYPES: [u8; 3] = [
    3,  // destination unreachable
    11, // time exceeded
    12, // parameter problem
];
/// ICMP header bytes before the quote.
const ICMP_HEADER: usize = 8;
/// Byte of the RFC 4884 length field in these messages' header.
const RFC4884_LENGTH: usize = 5;

/// Appends the extension `structure` (header and objects, checksum computed) to the ICMP error
/// in `datagram` and fixes lengths and checksums. Returns whether it changed anything.
pub fn append_extension(datagram: &mut Vec<u8>, structure: &[u8]) -> bool {
    let Some(mut ip) = Ipv4Layout::parse(datagram) else {
        return false;
    };
    if ip.protocol != IpNumber::ICMP || ip.fragment {
        return false;
    }
    let icmp_start = ip.header_len;
    let Some(icmp) = datagram.get(icmp_start..ip.total_len) else {
        return false;
    };
    let extensible = icmp.first().is_some_and(|t| EXTENSIBLE_TYPES.contains(t));
    let already = icmp.get(RFC4884_LENGTH).is_none_or(|&len| len != 0);
    let Some(quote) = icmp.get(ICMP_HEADER..) else {
        return false;
    };
    if !extensible || already {
        return false;
    }
    let (data, words) = extended_payload(quote, structure);
    let quote_start = icmp_start + ICMP_HEADER;
    datagram.truncate(quote_start);
    datagram.extend_from_slice(&data);
    let total = datagram.len();
    if ip.set_total_len(datagram, total).is_none() || ip.fix_checksum(datagram).is_none() {
        return false;
    }
    let Some(icmp) = datagram.get_mut(icmp_start..) else {
        return false;
    };
    if let Some(len) = icmp.get_mut(RFC4884_LENGTH) {
        *len = words;
    }
    fix_icmp_checksum(icmp).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{fixtures, get16, verifies};
    use etherparse::{Icmpv4Type, PacketBuilder};
    use reconmap_wire::icmp_ext::mpls_extension_structure;
    use reconmap_wire::{parse_captured, Captured, MplsLabel};

    fn time_exceeded(quote: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        PacketBuilder::ipv4([198, 51, 100, 6], [198, 51, 100, 1], 64)
            .icmpv4(Icmpv4Type::TimeExceeded(
                etherparse::icmpv4::TimeExceededCode::TtlExceededInTransit,
            ))
            .write(&mut out, quote)
            .expect("build");
        out
    }

    fn probe(payload_len: usize) -> Vec<u8> {
        fixtures::tcp(
            [198, 51, 100, 1],
            [192, 0, 2, 25],
            40000,
            25,
            9,
            &vec![b'S'; payload_len],
        )
    }

    fn ext() -> Vec<u8> {
        mpls_extension_structure(&MplsLabel::expired_stack(&[16004, 24001]))
    }

    #[test]
    fn pads_the_quote_sets_the_length_and_fixes_every_checksum() {
        let p = probe(10);
        let mut d = time_exceeded(&p);
        assert!(append_extension(&mut d, &ext()));
        assert_eq!(d.len(), 20 + 8 + 128 + ext().len());
        assert_eq!(get16(&d, 2), Some(u16::try_from(d.len()).expect("len")));
        assert_eq!(d[20 + 5], 32, "length field: 128 bytes");
        assert!(verifies(&d[..20], &[]), "IP checksum");
        assert!(verifies(&d[20..], &[]), "ICMP checksum");
        assert_eq!(&d[28..28 + p.len()], &p[..]);
        assert!(d[28 + p.len()..156].iter().all(|&b| b == 0), "zero padding");
        assert_eq!(&d[156..], &ext()[..]);
        let Ok(Captured::IcmpError(e)) = parse_captured(&d) else {
            panic!("parse")
        };
        let labels: Vec<u32> = e.extensions.mpls_labels().iter().map(|l| l.label).collect();
        assert_eq!(labels, [16004, 24001]);
    }

    #[test]
    fn long_quotes_are_cut_to_keep_576_bytes() {
        // Linux quotes 548 bytes of a big datagram (576-byte message).
        let p = probe(600);
        let mut d = time_exceeded(&p[..548]);
        assert_eq!(d.len(), 576);
        assert!(append_extension(&mut d, &ext()));
        assert!(d.len() <= 576, "{}", d.len());
        assert_eq!(usize::from(d[20 + 5]) * 4 + 28 + ext().len(), d.len());
        assert!(verifies(&d[20..], &[]), "ICMP checksum");
    }

    #[test]
    fn leaves_other_messages_and_extended_ones_alone() {
        let mut once = time_exceeded(&probe(10));
        assert!(append_extension(&mut once, &ext()));
        let before = once.clone();
        assert!(!append_extension(&mut once, &ext()), "already extended");
        assert_eq!(once, before);
        let mut echo = Vec::new();
        PacketBuilder::ipv4([198, 51, 100, 6], [198, 51, 100, 1], 64)
            .icmpv4_echo_reply(1, 1)
            .write(&mut echo, &[0u8; 100])
            .expect("build");
        let before = echo.clone();
        assert!(!append_extension(&mut echo, &ext()));
        assert_eq!(echo, before);
        let mut tcp = probe(10);
        assert!(!append_extension(&mut tcp, &ext()));
        for junk in [vec![0x45, 0, 0], Vec::new()] {
            let mut j = junk.clone();
            assert!(!append_extension(&mut j, &ext()));
            assert_eq!(j, junk);
        }
    }
}
