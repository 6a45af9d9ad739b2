//! `--rewrite-ip-id`: a box that gives forwarded datagrams its own IP identification, as
//! NATs with one global counter or scrubbers (`pf scrub random-id`) do.
use crate::packet::{ipv4, put16, Ipv4Layout};

/// How the new IP ID is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum IpIdStyle {
    /// One counter for every datagram the box forwards (NAT/CGN style).
    Counter,
    /// A random ID, never equal to the original (pf `scrub random-id` style).
    Random,
}

/// The rewriter's state.
#[derive(Debug)]
pub struct IpIdRewriter {
    style: IpIdStyle,
    next: u16,
}

impl IpIdRewriter {
    /// A rewriter whose counter (if any) starts at `start`.
    pub fn new(style: IpIdStyle, start: u16) -> Self {
        Self { style, next: start }
    }

    /// Replaces the IP ID of `datagram` (any IPv4 datagram) and fixes the header checksum.
    /// Returns whether it wrote.
    pub fn rewrite(&mut self, datagram: &mut [u8]) -> bool {
        let Some(ip) = Ipv4Layout::parse(datagram) else {
            return false;
        };
        let original = crate::packet::get16(datagram, ipv4::ID);
        let id = match self.style {
            IpIdStyle::Counter => {
                let id = self.next;
                self.next = self.next.wrapping_add(1);
                id
            }
            IpIdStyle::Random => {
                let id: u16 = rand::random();
                if Some(id) == original {
                    id.wrapping_add(1)
                } else {
                    id
                }
            }
        };
        put16(datagram, ipv4::ID, id).is_some() && ip.fix_checksum(datagram).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{fixtures, get16};

    #[test]
    fn counter_counts_and_checksums_stay_valid() {
        let mut r = IpIdRewriter::new(IpIdStyle::Counter, 0xfffe);
        let mut ids = Vec::new();
        for _ in 0..3 {
            let mut d = fixtures::tcp([192, 0, 2, 1], [192, 0, 2, 25], 1, 25, 1, b"x");
            assert!(r.rewrite(&mut d));
            assert!(fixtures::tcp_checksums_ok(&d));
            ids.push(get16(&d, ipv4::ID).expect("id"));
        }
        assert_eq!(ids, [0xfffe, 0xffff, 0]);
    }

    #[test]
    fn random_always_changes_the_id() {
        let mut r = IpIdRewriter::new(IpIdStyle::Random, 0);
        for _ in 0..200 {
            let mut d = fixtures::tcp([192, 0, 2, 1], [192, 0, 2, 25], 1, 25, 1, b"");
            let before = get16(&d, ipv4::ID);
            assert!(r.rewrite(&mut d));
            assert_ne!(get16(&d, ipv4::ID), before);
            assert!(fixtures::tcp_checksums_ok(&d));
        }
        assert!(!r.rewrite(&mut [0x45, 0, 0, 20]));
    }
}
