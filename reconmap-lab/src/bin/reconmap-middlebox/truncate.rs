//! `--truncate-quotes N`: ICMP errors that quote at most N bytes of the offending datagram.
//!
//! Linux quotes up to 576 bytes of ICMP message; many real routers quote only what RFC 792
//! asks for (IP header + 8 bytes = 28 with a 20-byte header) or the IP + TCP headers (40).
//! Runs on the router's OUTPUT chain for the ICMP errors it generates.
use etherparse::IpNumber;

use crate::packet::{fix_icmp_checksum, Ipv4Layout};

/// ICMP types that carry a quote of the offending datagram (RFC 792).
const QUOTING_TYPES: [u8; 3] = [
    3,  // destination unreachable
    11, // time exceeded
    12, // parameter problem
];
/// ICMP header bytes before the quote.
const ICMP_HEADER: usize = 8;
/// Byte of the RFC 4884 "length" field in these messages' header.
const RFC4884_LENGTH: usize = 5;

/// Cuts the quote of an ICMP error in `datagram` to `max_quote` bytes and fixes the outer
/// total length and both checksums. Returns whether it changed anything.
pub fn truncate_quote(datagram: &mut Vec<u8>, max_quote: usize) -> bool {
    let Some(mut ip) = Ipv4Layout::parse(datagram) else {
        return false;
    };
    if ip.protocol != IpNumber::ICMP || ip.fragment {
        return false;
    }
    let icmp_start = ip.header_len;
    let is_error = datagram
        .get(icmp_start)
        .is_some_and(|t| QUOTING_TYPES.contains(t));
    let new_total = icmp_start + ICMP_HEADER + max_quote;
    if !is_error || ip.total_len <= new_total {
        return false;
    }
    datagram.truncate(new_total);
    if ip.set_total_len(datagram, new_total).is_none() || ip.fix_checksum(datagram).is_none() {
        return false;
    }
    let Some(icmp) = datagram.get_mut(icmp_start..) else {
        return false;
    };
    // An RFC 4884 extension (if any) was after the quote and is gone now.
    if let Some(len) = icmp.get_mut(RFC4884_LENGTH) {
        *len = 0;
    }
    fix_icmp_checksum(icmp).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{fixtures, get16, verifies};
    use etherparse::{Icmpv4Type, PacketBuilder};

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

    #[test]
    fn cuts_to_n_and_fixes_lengths_and_checksums() {
        let probe = fixtures::tcp(
            [198, 51, 100, 1],
            [192, 0, 2, 25],
            40000,
            25,
            9,
            b"STARTTLS\r\n",
        );
        for n in [28, 40] {
            let mut d = time_exceeded(&probe);
            assert!(truncate_quote(&mut d, n));
            assert_eq!(d.len(), 20 + 8 + n);
            assert_eq!(get16(&d, 2), Some(u16::try_from(d.len()).expect("len")));
            assert!(verifies(&d[..20], &[]), "IP checksum");
            assert!(verifies(&d[20..], &[]), "ICMP checksum");
            assert_eq!(&d[28..], &probe[..n], "the quote is the datagram's head");
        }
    }

    #[test]
    fn leaves_short_quotes_and_other_icmp_alone() {
        let probe = fixtures::tcp([198, 51, 100, 1], [192, 0, 2, 25], 1, 25, 9, b"");
        let mut d = time_exceeded(&probe[..28]);
        let before = d.clone();
        assert!(!truncate_quote(&mut d, 40));
        assert_eq!(d, before);
        let mut echo = Vec::new();
        PacketBuilder::ipv4([198, 51, 100, 6], [198, 51, 100, 1], 64)
            .icmpv4_echo_reply(1, 1)
            .write(&mut echo, &[0u8; 100])
            .expect("build");
        let before = echo.clone();
        assert!(!truncate_quote(&mut echo, 28));
        assert_eq!(echo, before);
        let mut junk = vec![0x45, 0, 0];
        assert!(!truncate_quote(&mut junk, 0));
    }
}
