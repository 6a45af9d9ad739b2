//! ReconMap's wire formats: building probe datagrams (etherparse `PacketBuilder`), parsing what
//! the capture ring delivers (TCP segments of our flows, ICMP errors quoting them), and the
//! tracebox-style diff of an ICMP quote against the datagram that caused it.
//!
//! Everything here is pure: bytes in, values out, and no input makes it panic.
#![forbid(unsafe_code)]
mod build;
mod captured;
mod checksum;
mod diff;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
mod flow;
pub mod icmp_ext;
mod quote;
mod quote_diff;
mod segment;
mod types;

pub use build::{build_ipv4_tcp, IpParams};
pub use captured::{parse_captured, Captured, IcmpError, ReceivedSegment};
pub use checksum::{expected_checksum_with_rewrite, expected_quoted_checksum, tcp_checksum};
pub use diff::diff_quote;
pub use flow::FlowAddrs;
pub use icmp_ext::{
    ExtensionError, IcmpExtension, IcmpExtensions, InterfaceInfo, InterfaceRole, MplsLabel,
};
pub use quote::Quote;
pub use quote_diff::{FieldChange, PayloadStatus, QuoteDiff};
/// Header offsets (the table the eBPF programs use too).
pub use reconmap_common::layout;
pub use segment::{SeqNumber, TcpFlags, TcpOptions, TcpSegment};
pub use types::{IcmpKind, IpId, Port, TimeToLive};

/// Why bytes could not be built or parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    #[error("cannot build the packet: {0}")]
    Build(String),
    #[error("not an IPv4 packet: {0}")]
    NotIpv4(String),
    #[error("truncated: {0}")]
    Truncated(String),
    #[error("malformed {layer}: {reason}")]
    Malformed { layer: &'static str, reason: String },
    #[error("neither TCP nor an ICMP error (IP protocol {0})")]
    Unexpected(u8),
}
