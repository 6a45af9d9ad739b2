//! The datagram an ICMP error quotes, as far as the router quoted it: a full copy (Linux quotes
//! up to 548 bytes), the IP header and TCP header only (40 bytes), or the RFC 792 minimum of IP
//! header + 8 bytes (ports and sequence number). Nothing here assumes more than is there.
use crate::{FlowAddrs, IpId, SeqNumber};
use etherparse::Ipv4HeaderSlice;
use reconmap_common::layout::tcp;
use std::net::{Ipv4Addr, SocketAddrV4};

/// A quoted IPv4 datagram (RFC 4884 extensions already cut off).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quote {
    bytes: Vec<u8>,
}

impl Quote {
    pub fn new(bytes: &[u8]) -> Self {
        Self {
            bytes: bytes.to_vec(),
        }
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The quoted IPv4 header, if it is all there.
    pub fn ip_header(&self) -> Option<Ipv4HeaderSlice<'_>> {
        Ipv4HeaderSlice::from_slice(&self.bytes).ok()
    }

    /// Offset of the transport header.
    fn transport_offset(&self) -> Option<usize> {
        self.ip_header().map(|h| usize::from(h.ihl()) * 4)
    }

    /// The quoted transport bytes (possibly only 8 of them).
    pub fn transport(&self) -> &[u8] {
        self.transport_offset()
            .and_then(|o| self.bytes.get(o..))
            .unwrap_or_default()
    }

    pub fn ip_id(&self) -> Option<IpId> {
        self.ip_header().map(|h| IpId(h.identification()))
    }

    /// Quoted source/destination as our flow (the quote is of a packet we sent: source = us).
    /// Needs the IP header and the first four TCP bytes; `None` for anything that is not TCP.
    pub fn flow(&self) -> Option<FlowAddrs> {
        let h = self.ip_header()?;
        if h.protocol() != etherparse::IpNumber::TCP {
            return None;
        }
        let t = self.transport();
        let port = |r: std::ops::Range<usize>| -> Option<u16> {
            Some(u16::from_be_bytes(t.get(r)?.try_into().ok()?))
        };
        let (sport, dport) = (port(tcp::SPORT)?, port(tcp::DPORT)?);
        Some(FlowAddrs {
            local: SocketAddrV4::new(Ipv4Addr::from(h.source()), sport),
            remote: SocketAddrV4::new(Ipv4Addr::from(h.destination()), dport),
        })
    }

    /// The quoted TCP sequence number (present in an 8-byte quote).
    pub fn tcp_seq(&self) -> Option<SeqNumber> {
        let t = self.transport();
        let b: [u8; 4] = t.get(tcp::SEQ)?.try_into().ok()?;
        Some(SeqNumber(u32::from_be_bytes(b)))
    }

    /// The quoted TCP header length, when its data-offset byte is present and sane.
    pub fn tcp_header_len(&self) -> Option<usize> {
        let off = usize::from(self.transport().get(tcp::DATA_OFFSET)? >> 4) * 4;
        (off >= tcp::MIN_HLEN).then_some(off)
    }

    /// The quoted TCP checksum, when the quote reaches it (not in a 28-byte quote).
    pub fn tcp_checksum(&self) -> Option<u16> {
        let b: [u8; 2] = self.transport().get(tcp::CHECKSUM)?.try_into().ok()?;
        Some(u16::from_be_bytes(b))
    }

    /// The TSval of the quoted TCP timestamp option, when the quote reaches it (48 bytes for
    /// Linux's NOP NOP TS layout). Options are walked as far as quoted; a malformed option list
    /// gives `None`.
    pub fn tcp_tsval(&self) -> Option<u32> {
        let t = self.transport();
        let end = self.tcp_header_len()?.min(t.len());
        let options = t.get(tcp::MIN_HLEN..end)?;
        let mut i = 0;
        while let Some(&kind) = options.get(i) {
            match kind {
                0 => return None,
                1 => i += 1,
                _ => {
                    let len = usize::from(*options.get(i + 1)?);
                    if len < 2 {
                        return None;
                    }
                    if kind == 8 && len == 10 {
                        let val = options.get(i + 2..i + 6)?;
                        return Some(u32::from_be_bytes(val.try_into().ok()?));
                    }
                    i += len;
                }
            }
        }
        None
    }

    /// The quoted TCP payload: `None` when the quote ends before it starts (a short quote).
    pub fn tcp_payload(&self) -> Option<&[u8]> {
        let t = self.transport();
        let off = self.tcp_header_len()?;
        if t.len() <= off {
            return None;
        }
        // Do not read beyond the quoted datagram's own length (padding after it is not payload).
        let total = self.ip_header().map(|h| usize::from(h.total_len()))?;
        let ip_off = self.transport_offset()?;
        let end = total.saturating_sub(ip_off).min(t.len());
        t.get(off..end.max(off))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn datagram() -> Vec<u8> {
        crate::fixtures::starttls_probe(1, 77)
    }

    #[test]
    fn full_quote() {
        let q = Quote::new(&datagram());
        assert_eq!(q.ip_id(), Some(IpId(77)));
        assert_eq!(q.flow().map(|f| f.remote.port()), Some(25));
        assert_eq!(q.tcp_seq(), Some(SeqNumber(5)));
        assert_eq!(q.tcp_payload(), Some(&b"STARTTLS\r\n"[..]));
    }

    #[test]
    fn rfc792_quote_of_28_bytes_still_names_the_flow() {
        let d = datagram();
        let q = Quote::new(&d[..28]);
        assert_eq!(q.flow().map(|f| f.local.port()), Some(40000));
        assert_eq!(q.tcp_seq(), Some(SeqNumber(5)));
        assert_eq!(q.tcp_header_len(), None);
        assert_eq!(q.tcp_payload(), None);
    }

    #[test]
    fn header_only_and_cut_quotes() {
        let d = datagram();
        let q40 = Quote::new(&d[..40]);
        assert_eq!(q40.tcp_header_len(), Some(20));
        assert_eq!(q40.tcp_payload(), None);
        let cut = Quote::new(&d[..44]);
        assert_eq!(cut.tcp_payload(), Some(&b"STAR"[..]));
        // Padding beyond the quoted datagram's total length is not payload.
        let mut padded = d.clone();
        padded.extend_from_slice(&[0; 6]);
        assert_eq!(
            Quote::new(&padded).tcp_payload(),
            Some(&b"STARTTLS\r\n"[..])
        );
    }

    #[test]
    fn checksum_and_timestamp_as_far_as_quoted() {
        use crate::{build_ipv4_tcp, IpParams, SeqNumber, TcpFlags, TcpOptions, TcpSegment};
        let seg = TcpSegment {
            seq: SeqNumber(5),
            flags: TcpFlags {
                ack: true,
                ..TcpFlags::default()
            },
            options: TcpOptions {
                timestamps: Some((0x0102_0304, 9)),
                ..TcpOptions::default()
            },
            payload: bytes::Bytes::from_static(b"STARTTLS\r\n"),
            ..TcpSegment::default()
        };
        let d = build_ipv4_tcp(
            &crate::fixtures::flow(),
            &IpParams::new(crate::TimeToLive(2), IpId(1)),
            &seg,
        )
        .expect("build");
        let full = Quote::new(&d);
        assert_eq!(full.tcp_tsval(), Some(0x0102_0304));
        assert_eq!(
            full.tcp_checksum(),
            Some(u16::from_be_bytes([d[36], d[37]]))
        );
        // NOP NOP TS: TSval ends at byte 48 of the datagram.
        assert_eq!(Quote::new(&d[..48]).tcp_tsval(), Some(0x0102_0304));
        assert_eq!(Quote::new(&d[..47]).tcp_tsval(), None);
        assert_eq!(Quote::new(&d[..40]).tcp_tsval(), None);
        assert_eq!(Quote::new(&d[..28]).tcp_checksum(), None);
        assert_eq!(Quote::new(&d[..38]).tcp_checksum(), full.tcp_checksum());
        let no_ts = Quote::new(&datagram());
        assert_eq!(no_ts.tcp_tsval(), None);
    }

    #[test]
    fn garbage_yields_nothing_and_never_panics() {
        for len in 0..datagram().len() {
            let q = Quote::new(&datagram()[..len]);
            let _ = (q.flow(), q.tcp_seq(), q.tcp_payload(), q.ip_id());
            let _ = (q.tcp_checksum(), q.tcp_tsval());
        }
        let junk = Quote::new(&[0xff; 60]);
        assert_eq!(junk.flow(), None);
        let mut not_tcp = datagram();
        not_tcp[9] = 17;
        assert_eq!(Quote::new(&not_tcp).flow(), None);
    }
}
