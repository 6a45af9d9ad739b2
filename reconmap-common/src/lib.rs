//! Types shared by the eBPF programs (`reconmap-ebpf`) and user space (`reconmap-user`).
//!
//! Everything here is `#[repr(C)]`, `Copy`, and free of implicit padding, so the kernel and user
//! space agree byte for byte. With the `user` feature the types implement [`aya::Pod`].
#![no_std]

/// One probe flow, as seen from the prober: the local and remote IPv4 address and TCP port.
///
/// All fields hold the bytes exactly as they appear on the wire (network byte order), so the
/// kernel side can fill them straight from packet memory and user space from `Ipv4Addr::octets`
/// and `u16::to_be_bytes`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct FlowKey {
    pub local_addr: [u8; 4],
    pub remote_addr: [u8; 4],
    pub local_port: [u8; 2],
    pub remote_port: [u8; 2],
}

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

/// Bytes copied per captured packet, counted from the start of the IPv4 header. Covers a Linux
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
    /// Length of the whole frame as it arrived (including the link-layer header).
    pub orig_len: u32,
    /// Bytes of `data` that are valid (`<= CAPTURE_LEN`), starting at the IPv4 header.
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
        assert_eq!(size_of::<FlowKey>(), 12);
        assert_eq!(size_of::<FlowState>(), 4);
        assert_eq!(size_of::<CaptureHeader>(), 8 + 4 * 4);
        assert_eq!(
            size_of::<CaptureEvent>(),
            size_of::<CaptureHeader>() + CAPTURE_LEN
        );
    }
}
