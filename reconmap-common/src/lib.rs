//! Types shared by the eBPF programs (`reconmap-ebpf`) and user space (`reconmap-user`).
//!
//! Everything here is `#[repr(C)]`, `Copy`, and free of implicit padding, so the kernel and user
//! space agree byte for byte. With the `user` feature the types implement [`aya::Pod`].
#![no_std]

/// One probe flow, as seen from the prober: the local and remote address and TCP port.
///
/// One key for both address families: IPv6 addresses as they are, IPv4 addresses in their
/// IPv4-mapped form (`::ffff:a.b.c.d`, RFC 4291), so one flow map serves both. All fields hold
/// bytes in wire order, so the kernel side fills them straight from packet memory and user
/// space from `octets()` and `u16::to_be_bytes`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct FlowKey {
    pub local_addr: [u8; 16],
    pub remote_addr: [u8; 16],
    pub local_port: [u8; 2],
    pub remote_port: [u8; 2],
}

impl FlowKey {
    /// The key of an IPv4 flow.
    #[inline(always)]
    pub const fn v4(
        local: [u8; 4],
        remote: [u8; 4],
        local_port: [u8; 2],
        remote_port: [u8; 2],
    ) -> Self {
        Self {
            local_addr: v4_mapped(local),
            remote_addr: v4_mapped(remote),
            local_port,
            remote_port,
        }
    }
}

/// `::ffff:a.b.c.d`
#[inline(always)]
pub const fn v4_mapped(a: [u8; 4]) -> [u8; 16] {
    [
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a[0], a[1], a[2], a[3],
    ]
}

/// The skb mark ReconMap's own packets carry (`SO_MARK` on its raw socket): the RST guard
/// never drops a packet with this mark, so ReconMap's own RSTs (aborts) reach the server while
/// the kernel's RSTs for the same flows are dropped. ("RMP" and a version nibble.)
pub const OWN_PACKET_MARK: u32 = 0x524d_5001;

/// How the interface frames packets: the value of the programs' `LINK_KIND` global, set at
/// load time from the interface type.
pub mod link_kind {
    /// Ethernet (with or without 802.1Q/802.1ad tags).
    pub const ETHERNET: u32 = 0;
    /// No link-layer header: packets start at the IP header (tun, WireGuard, PPP, IP tunnels).
    pub const RAW_IP: u32 = 1;
}

/// Name of the programs' link-kind global (see [`link_kind`]).
pub const LINK_KIND_GLOBAL: &str = "LINK_KIND";

/// What user space stores per registered flow. `flags` is reserved for later use (0 today).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FlowState {
    pub flags: u32,
}

/// Kind of a captured packet ([`CaptureHeader::kind`]).
pub mod capture_kind {
    /// An ICMP Time Exceeded or Destination Unreachable whose quote belongs to a probe flow.
    pub const ICMP_ERROR: u32 = 1;
    /// A TCP segment of a probe flow sent by the peer (or by something pretending to be it).
    pub const TCP_SEGMENT: u32 = 2;
}

/// Bytes copied per captured packet, counted from the start of the IP header. Covers a Linux
/// router's 576-byte ICMP message (20-byte outer IP header + 8-byte ICMP header + 548-byte quote)
/// and a full-size data segment's headers plus the first ~580 payload bytes.
pub const CAPTURE_LEN: usize = 640;

/// Metadata in front of every captured packet in the ring buffer.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct CaptureHeader {
    /// `bpf_ktime_get_ns()` at arrival (CLOCK_MONOTONIC, nanoseconds).
    pub ts_ns: u64,
    /// Interface the packet arrived on.
    pub ifindex: u32,
    /// Length of the packet from its IP header on (more than `cap_len` when cut).
    pub orig_len: u32,
    /// Bytes of `data` that are valid (`<= CAPTURE_LEN`), starting at the IP header.
    pub cap_len: u32,
    /// One of [`capture_kind`].
    pub kind: u32,
}

/// One ring-buffer record: a header and up to [`CAPTURE_LEN`] bytes of the IPv4 packet.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct CaptureEvent {
    pub header: CaptureHeader,
    pub data: [u8; CAPTURE_LEN],
}

/// Indexes into the per-CPU `COUNTERS` array.
pub mod counter {
    /// Outbound RSTs of registered flows dropped by the TC egress classifier.
    pub const RST_DROPPED: u32 = 0;
    /// ICMP errors quoting a registered flow copied to the ring buffer.
    pub const ICMP_CAPTURED: u32 = 1;
    /// TCP segments of registered flows copied to the ring buffer.
    pub const TCP_CAPTURED: u32 = 2;
    /// Records lost because the ring buffer had no room (reserve failed).
    pub const RINGBUF_FULL: u32 = 3;
    /// IPv4 packets the programs could not parse (truncated, bad IHL, length past the frame).
    pub const MALFORMED: u32 = 4;
    /// Number of counters.
    pub const COUNT: u32 = 5;
    /// Names in index order, for printing.
    pub const NAMES: [&str; COUNT as usize] = [
        "rst_dropped",
        "icmp_captured",
        "tcp_captured",
        "ringbuf_full",
        "malformed",
    ];
}

/// Where the fields of the headers ReconMap reads lie, in bytes from the start of each header:
/// the one table the eBPF parser, the user-space quote parser and the quote diff all use.
pub mod layout {
    use core::ops::Range;

    /// Ethernet II.
    pub mod eth {
        use super::Range;
        pub const HLEN: usize = 14;
        pub const ETHERTYPE: Range<usize> = 12..14;
        pub const ETHERTYPE_IPV4: u16 = 0x0800;
        pub const ETHERTYPE_IPV6: u16 = 0x86dd;
        pub const ETHERTYPE_VLAN: u16 = 0x8100;
        pub const ETHERTYPE_QINQ: u16 = 0x88a8;
        /// Bytes one 802.1Q/802.1ad tag adds.
        pub const VLAN_TAG_LEN: usize = 4;
    }

    /// IPv4 (RFC 791).
    pub mod ipv4 {
        use super::Range;
        pub const MIN_HLEN: usize = 20;
        pub const VERSION_IHL: usize = 0;
        pub const TOS: usize = 1;
        pub const TOTAL_LEN: Range<usize> = 2..4;
        pub const ID: Range<usize> = 4..6;
        pub const FLAGS_FRAGMENT: Range<usize> = 6..8;
        pub const TTL: usize = 8;
        pub const PROTOCOL: usize = 9;
        pub const CHECKSUM: Range<usize> = 10..12;
        pub const SRC: Range<usize> = 12..16;
        pub const DST: Range<usize> = 16..20;
        pub const PROTO_ICMP: u8 = 1;
        pub const PROTO_TCP: u8 = 6;
    }

    /// TCP (RFC 9293).
    pub mod tcp {
        use super::Range;
        pub const MIN_HLEN: usize = 20;
        pub const SPORT: Range<usize> = 0..2;
        pub const DPORT: Range<usize> = 2..4;
        pub const SEQ: Range<usize> = 4..8;
        pub const ACK: Range<usize> = 8..12;
        /// Data offset (high nibble) and reserved bits.
        pub const DATA_OFFSET: usize = 12;
        pub const FLAGS: usize = 13;
        pub const WINDOW: Range<usize> = 14..16;
        pub const CHECKSUM: Range<usize> = 16..18;
        pub const URGENT: Range<usize> = 18..20;
        pub const FLAG_RST: u8 = 0x04;
    }

    /// ICMPv4 error messages (RFC 792, RFC 4884).
    pub mod icmp {
        use super::Range;
        /// Type, code, checksum and the 4 bytes before the quoted datagram.
        pub const HLEN: usize = 8;
        pub const TYPE: usize = 0;
        pub const CODE: usize = 1;
        pub const CHECKSUM: Range<usize> = 2..4;
        /// RFC 4884: length of the quoted datagram in 32-bit words (0: no extensions).
        pub const RFC4884_LENGTH: usize = 5;
        pub const DEST_UNREACHABLE: u8 = 3;
        pub const SOURCE_QUENCH: u8 = 4;
        pub const REDIRECT: u8 = 5;
        pub const TIME_EXCEEDED: u8 = 11;
        pub const PARAMETER_PROBLEM: u8 = 12;
    }
}

/// Names of the maps and programs in the eBPF object, so both sides spell them once.
pub mod names {
    pub const FLOWS_MAP: &str = "FLOWS";
    pub const EVENTS_MAP: &str = "EVENTS";
    pub const COUNTERS_MAP: &str = "COUNTERS";
    pub const RST_GUARD_PROG: &str = "rst_guard";
    pub const CAPTURE_PROG: &str = "capture";
}

/// Default capacities; user space may override them at load time.
pub const DEFAULT_MAX_FLOWS: u32 = 65_536;
pub const DEFAULT_RING_BYTES: u32 = 1 << 22;

#[cfg(feature = "user")]
mod pod {
    // SAFETY: all three are `repr(C)`, `Copy`, and made of integers and byte arrays with no
    // padding, so every bit pattern is valid.
    unsafe impl aya::Pod for super::FlowKey {}
    unsafe impl aya::Pod for super::FlowState {}
    unsafe impl aya::Pod for super::CaptureHeader {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::size_of;

    #[test]
    fn layouts_have_no_padding() {
        assert_eq!(size_of::<FlowKey>(), 36);
        let k = FlowKey::v4([192, 0, 2, 1], [198, 51, 100, 2], [0, 25], [1, 2]);
        assert_eq!(&k.local_addr[10..], &[0xff, 0xff, 192, 0, 2, 1]);
        assert_eq!(size_of::<FlowState>(), 4);
        assert_eq!(size_of::<CaptureHeader>(), 8 + 4 * 4);
        assert_eq!(
            size_of::<CaptureEvent>(),
            size_of::<CaptureHeader>() + CAPTURE_LEN
        );
    }
}
