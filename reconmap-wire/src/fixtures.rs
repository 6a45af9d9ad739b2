//! Test fixtures shared by the packet tests: one flow and the STARTTLS probe datagram on it.
use crate::{build_ipv4_tcp, FlowAddrs, IpParams, SeqNumber, TcpFlags, TcpSegment};
use bytes::Bytes;

/// 198.51.100.2:40000 -> 192.0.2.25:25
pub fn flow() -> FlowAddrs {
    FlowAddrs {
        local: "198.51.100.2:40000".parse().expect("addr"),
        remote: "192.0.2.25:25".parse().expect("addr"),
    }
}

/// The STARTTLS segment (seq 5, ack 9, PSH|ACK) on [`flow`] as an IPv4 datagram.
pub fn starttls_probe(ttl: u8, id: u16) -> Vec<u8> {
    let seg = TcpSegment {
        seq: SeqNumber(5),
        ack: SeqNumber(9),
        flags: TcpFlags {
            ack: true,
            psh: true,
            ..TcpFlags::default()
        },
        window: 100,
        payload: Bytes::from_static(b"STARTTLS\r\n"),
        ..TcpSegment::default()
    };
    build_ipv4_tcp(
        &flow(),
        &IpParams {
            ttl: crate::TimeToLive(ttl),
            id: crate::IpId(id),
            ..IpParams::default()
        },
        &seg,
    )
    .expect("build")
}
