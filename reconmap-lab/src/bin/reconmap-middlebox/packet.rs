//! Just enough IPv4/TCP/ICMP layout to rewrite fields in place and fix the checksums after.
//!
//! Parsing is delegated to etherparse (it validates lengths); what this module adds is the
//! byte offsets of the fields the boxes write, and RFC 1071 checksums. Every accessor returns
//! `Option` so nothing panics on a short or odd datagram.
use etherparse::{IpNumber, Ipv4Slice, TcpSlice};

/// IPv4 header offsets.
pub mod ipv4 {
    /// Total length (2 bytes).
    pub const TOTAL_LEN: usize = 2;
    /// Identification (2 bytes).
    pub const ID: usize = 4;
    /// Header checksum (2 bytes).
    pub const CHECKSUM: usize = 10;
}

/// TCP header offsets (from the start of the TCP header).
pub mod tcp {
    /// Sequence number (4 bytes).
    pub const SEQ: usize = 4;
    /// Acknowledgement number (4 bytes).
    pub const ACK: usize = 8;
    /// Checksum (2 bytes).
    pub const CHECKSUM: usize = 16;
    /// First option byte.
    pub const OPTIONS: usize = 20;
    /// Flag bits in byte 13.
    pub const FLAGS: usize = 13;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const ACK_FLAG: u8 = 0x10;
}

/// Reads a big-endian u16 at `at`.
pub fn get16(d: &[u8], at: usize) -> Option<u16> {
    let b = d.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([*b.first()?, *b.get(1)?]))
}

/// Reads a big-endian u32 at `at`.
pub fn get32(d: &[u8], at: usize) -> Option<u32> {
    let b: [u8; 4] = d.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_be_bytes(b))
}

/// Writes a big-endian u16 at `at`; `None` when it does not fit.
pub fn put16(d: &mut [u8], at: usize, v: u16) -> Option<()> {
    d.get_mut(at..at.checked_add(2)?)?
        .copy_from_slice(&v.to_be_bytes());
    Some(())
}

/// Writes a big-endian u32 at `at`; `None` when it does not fit.
pub fn put32(d: &mut [u8], at: usize, v: u32) -> Option<()> {
    d.get_mut(at..at.checked_add(4)?)?
        .copy_from_slice(&v.to_be_bytes());
    Some(())
}

/// One's complement sum of 16-bit words (RFC 1071), added to `acc`.
fn sum(data: &[u8], acc: u64) -> u64 {
    data.chunks(2).fold(acc, |acc, c| {
        let word = match *c {
            [a, b] => u16::from_be_bytes([a, b]),
            [a] => u16::from_be_bytes([a, 0]),
            _ => 0,
        };
        acc + u64::from(word)
    })
}

/// Folds a sum to 16 bits and complements it.
fn finish(mut acc: u64) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    // The loop leaves at most 16 bits.
    !(acc as u16)
}

/// The checksum of `data` with its checksum field (at `field`) taken as zero, plus `acc`.
fn checksum_over(data: &[u8], field: usize, acc: u64) -> u16 {
    let before = data.get(..field).unwrap_or(data);
    let after = data.get(field.saturating_add(2)..).unwrap_or(&[]);
    finish(sum(after, sum(before, acc)))
}

/// A whole (unfragmented) IPv4 datagram: header length and total length, both validated
/// against the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Layout {
    /// IP header length in bytes.
    pub header_len: usize,
    /// Total length from the header (never more than the buffer).
    pub total_len: usize,
    /// Protocol number.
    pub protocol: IpNumber,
    /// Whether this is a fragment (checksums of the layer above cannot be fixed).
    pub fragment: bool,
}

impl Ipv4Layout {
    /// Validates `datagram` as IPv4.
    pub fn parse(datagram: &[u8]) -> Option<Self> {
        let ip = Ipv4Slice::from_slice(datagram).ok()?;
        let header = ip.header();
        Some(Self {
            header_len: header.slice().len(),
            total_len: usize::from(header.total_len()),
            protocol: header.protocol(),
            fragment: ip.is_payload_fragmented(),
        })
    }

    /// Recomputes the header checksum.
    pub fn fix_checksum(&self, datagram: &mut [u8]) -> Option<()> {
        let header = datagram.get(..self.header_len)?;
        let c = checksum_over(header, ipv4::CHECKSUM, 0);
        put16(datagram, ipv4::CHECKSUM, c)
    }

    /// Sets the total length (and nothing else).
    pub fn set_total_len(&mut self, datagram: &mut [u8], len: usize) -> Option<()> {
        put16(datagram, ipv4::TOTAL_LEN, u16::try_from(len).ok()?)?;
        self.total_len = len;
        Some(())
    }
}

/// A whole TCP segment in an unfragmented IPv4 datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpLayout {
    /// The IP layer.
    pub ip: Ipv4Layout,
    /// TCP header length in bytes (with options).
    pub header_len: usize,
}

impl TcpLayout {
    /// Validates `datagram` as one whole TCP segment over IPv4.
    pub fn parse(datagram: &[u8]) -> Option<Self> {
        let ip = Ipv4Layout::parse(datagram)?;
        if ip.protocol != IpNumber::TCP || ip.fragment {
            return None;
        }
        let segment = datagram.get(ip.header_len..ip.total_len)?;
        let tcp = TcpSlice::from_slice(segment).ok()?;
        Some(Self {
            ip,
            header_len: tcp.header_len(),
        })
    }

    /// Offset of the TCP header in the datagram.
    pub fn start(&self) -> usize {
        self.ip.header_len
    }

    /// Offset of the TCP payload in the datagram.
    pub fn payload_start(&self) -> usize {
        self.ip.header_len + self.header_len
    }

    /// The TCP payload.
    pub fn payload<'a>(&self, datagram: &'a [u8]) -> &'a [u8] {
        datagram
            .get(self.payload_start()..self.ip.total_len)
            .unwrap_or_default()
    }

    /// Source and destination address.
    pub fn addrs(&self, datagram: &[u8]) -> Option<([u8; 4], [u8; 4])> {
        let src = datagram.get(12..16)?.try_into().ok()?;
        let dst = datagram.get(16..20)?.try_into().ok()?;
        Some((src, dst))
    }

    /// Source and destination port.
    pub fn ports(&self, datagram: &[u8]) -> Option<(u16, u16)> {
        Some((
            get16(datagram, self.start())?,
            get16(datagram, self.start() + 2)?,
        ))
    }

    /// The flag byte.
    pub fn flags(&self, datagram: &[u8]) -> u8 {
        datagram
            .get(self.start() + tcp::FLAGS)
            .copied()
            .unwrap_or(0)
    }

    /// Recomputes the TCP checksum over the pseudo-header and the whole segment.
    pub fn fix_checksum(&self, datagram: &mut [u8]) -> Option<()> {
        let (src, dst) = self.addrs(datagram)?;
        let segment = datagram.get(self.start()..self.ip.total_len)?;
        let len = u16::try_from(segment.len()).ok()?;
        let mut pseudo = [0u8; 12];
        pseudo[..4].copy_from_slice(&src);
        pseudo[4..8].copy_from_slice(&dst);
        pseudo[9] = 6;
        pseudo[10..12].copy_from_slice(&len.to_be_bytes());
        let c = checksum_over(segment, tcp::CHECKSUM, sum(&pseudo, 0));
        put16(datagram, self.start() + tcp::CHECKSUM, c)
    }
}

/// Recomputes an ICMP checksum over `message` (ICMP header and data); checksum at offset 2.
pub fn fix_icmp_checksum(message: &mut [u8]) -> Option<()> {
    let c = checksum_over(message, 2, 0);
    put16(message, 2, c)
}

/// Whether `data` (with its checksum field in place) sums to zero, i.e. its checksum is valid.
#[cfg(test)]
pub fn verifies(data: &[u8], pseudo: &[u8]) -> bool {
    finish(sum(data, sum(pseudo, 0))) == 0
}

#[cfg(test)]
pub mod fixtures {
    //! Datagrams built with etherparse (which computes correct checksums).
    use etherparse::PacketBuilder;

    /// A client->server TCP segment with `payload`, ACK set.
    pub fn tcp(
        src: [u8; 4],
        dst: [u8; 4],
        sport: u16,
        dport: u16,
        seq: u32,
        payload: &[u8],
    ) -> Vec<u8> {
        let mut out = Vec::new();
        PacketBuilder::ipv4(src, dst, 64)
            .tcp(sport, dport, seq, 64240)
            .ack(1000)
            .write(&mut out, payload)
            .expect("build");
        out
    }

    /// Whether the IPv4 header and TCP checksums of `d` are valid.
    pub fn tcp_checksums_ok(d: &[u8]) -> bool {
        let ihl = usize::from(d[0] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([d[2], d[3]]));
        let seg = &d[ihl..total];
        let mut pseudo = Vec::new();
        pseudo.extend_from_slice(&d[12..20]);
        pseudo.extend_from_slice(&[0, 6]);
        pseudo.extend_from_slice(&(seg.len() as u16).to_be_bytes());
        super::verifies(&d[..ihl], &[]) && super::verifies(seg, &pseudo)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_checksums_match_etherparse() {
        let good = fixtures::tcp([192, 0, 2, 1], [192, 0, 2, 25], 40000, 25, 7, b"EHLO x\r\n");
        let mut bad = good.clone();
        put16(&mut bad, 10, 0xdead).expect("ip csum");
        put16(&mut bad, 20 + 16, 0xbeef).expect("tcp csum");
        let l = TcpLayout::parse(&bad).expect("parse");
        l.ip.fix_checksum(&mut bad).expect("ip");
        l.fix_checksum(&mut bad).expect("tcp");
        assert_eq!(bad, good);
        assert!(fixtures::tcp_checksums_ok(&good));
    }

    #[test]
    fn odd_length_payload_and_short_buffers() {
        let good = fixtures::tcp([192, 0, 2, 1], [192, 0, 2, 25], 1, 25, 7, b"abc");
        assert!(fixtures::tcp_checksums_ok(&good));
        let l = TcpLayout::parse(&good).expect("parse");
        assert_eq!(l.payload(&good), b"abc");
        for cut in 0..good.len() {
            // A truncated datagram never parses as a whole segment, and never panics.
            assert!(TcpLayout::parse(&good[..cut]).is_none(), "cut {cut}");
        }
        assert_eq!(get32(&good, good.len() - 2), None);
        assert_eq!(put16(&mut [0u8; 1], 0, 1), None);
    }
}
