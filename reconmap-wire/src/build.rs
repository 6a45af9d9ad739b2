//! Building IPv4/TCP datagrams with etherparse (checksums included).
use crate::{FlowAddrs, IpId, PacketError, TcpSegment, TimeToLive};
use etherparse::{
    IpHeaders, IpNumber, Ipv4Dscp, Ipv4Ecn, Ipv4Extensions, Ipv4Header, PacketBuilder,
    TcpOptionElement,
};

/// IP-level parameters of one datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpParams {
    pub ttl: TimeToLive,
    /// The IP ID: the TTL sweep tells its probes apart by it.
    pub id: IpId,
    pub dont_fragment: bool,
    pub tos: u8,
}

impl IpParams {
    /// TTL and ID as given, Don't Fragment set, TOS 0 (what every probe segment uses).
    pub fn new(ttl: TimeToLive, id: IpId) -> Self {
        Self {
            ttl,
            id,
            ..Self::default()
        }
    }
}

impl Default for IpParams {
    fn default() -> Self {
        Self {
            ttl: TimeToLive(64),
            id: IpId(0),
            dont_fragment: true,
            tos: 0,
        }
    }
}

/// A full IPv4 datagram (no link header) carrying `seg` on `flow`, from local to remote.
pub fn build_ipv4_tcp(
    flow: &FlowAddrs,
    ip: &IpParams,
    seg: &TcpSegment,
) -> Result<Vec<u8>, PacketError> {
    let err = |e: &dyn std::fmt::Display| PacketError::Build(e.to_string());
    let mut header = Ipv4Header::new(
        0,
        ip.ttl.0,
        IpNumber::TCP,
        flow.local.ip().octets(),
        flow.remote.ip().octets(),
    )
    .map_err(|e| err(&e))?;
    header.identification = ip.id.0;
    header.dont_fragment = ip.dont_fragment;
    header.dscp = Ipv4Dscp::try_new(ip.tos >> 2).map_err(|e| err(&e))?;
    header.ecn = Ipv4Ecn::try_new(ip.tos & 0b11).map_err(|e| err(&e))?;

    let mut b = PacketBuilder::ip(IpHeaders::Ipv4(header, Ipv4Extensions::default())).tcp(
        flow.local.port(),
        flow.remote.port(),
        seg.seq.0,
        seg.window,
    );
    if seg.flags.syn {
        b = b.syn();
    }
    if seg.flags.fin {
        b = b.fin();
    }
    if seg.flags.rst {
        b = b.rst();
    }
    if seg.flags.psh {
        b = b.psh();
    }
    if seg.flags.ack {
        b = b.ack(seg.ack.0);
    }
    let options = option_elements(seg);
    if !options.is_empty() {
        b = b.options(&options).map_err(|e| err(&e))?;
    }
    let mut out = Vec::with_capacity(b.size(seg.payload.len()));
    b.write(&mut out, &seg.payload).map_err(|e| err(&e))?;
    Ok(out)
}

/// Options in the order Linux sends them on a SYN: MSS, SACK-permitted, timestamps, NOP,
/// window scale (with NOPs keeping 4-byte alignment).
fn option_elements(seg: &TcpSegment) -> Vec<TcpOptionElement> {
    use TcpOptionElement::*;
    let o = &seg.options;
    let mut v = Vec::new();
    if let Some(mss) = o.mss {
        v.push(MaximumSegmentSize(mss));
    }
    match (o.sack_permitted, o.timestamps) {
        (true, Some((val, ecr))) => {
            v.push(SelectiveAcknowledgementPermitted);
            v.push(Timestamp(val, ecr));
        }
        (true, None) => {
            v.push(Noop);
            v.push(Noop);
            v.push(SelectiveAcknowledgementPermitted);
        }
        (false, Some((val, ecr))) => {
            v.push(Noop);
            v.push(Noop);
            v.push(Timestamp(val, ecr));
        }
        (false, None) => {}
    }
    if let Some(ws) = o.window_scale {
        v.push(Noop);
        v.push(WindowScale(ws));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SeqNumber, TcpFlags, TcpOptions};
    use bytes::Bytes;
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};

    fn flow() -> FlowAddrs {
        FlowAddrs {
            local: "198.51.100.2:40000".parse().expect("addr"),
            remote: "192.0.2.25:25".parse().expect("addr"),
        }
    }

    #[test]
    fn builds_a_linux_like_syn_with_valid_checksums() {
        let seg = TcpSegment {
            seq: SeqNumber(1000),
            flags: TcpFlags {
                syn: true,
                ..TcpFlags::default()
            },
            window: 64240,
            options: TcpOptions {
                mss: Some(536),
                window_scale: Some(7),
                sack_permitted: true,
                timestamps: Some((1, 0)),
            },
            ..TcpSegment::default()
        };
        let ip = IpParams {
            ttl: TimeToLive(3),
            id: IpId(0xbeef),
            ..IpParams::default()
        };
        let bytes = build_ipv4_tcp(&flow(), &ip, &seg).expect("build");
        assert_eq!(bytes.len(), 20 + 40);
        let p = SlicedPacket::from_ip(&bytes).expect("parse");
        let Some(NetSlice::Ipv4(ipv4)) = p.net else {
            panic!("ipv4")
        };
        let h = ipv4.header();
        assert_eq!(
            (h.ttl(), h.identification(), h.dont_fragment()),
            (3, 0xbeef, true)
        );
        assert_eq!(h.header_checksum(), h.to_header().calc_header_checksum());
        let Some(TransportSlice::Tcp(tcp)) = p.transport else {
            panic!("tcp")
        };
        assert!(tcp.syn() && !tcp.ack());
        assert_eq!(tcp.sequence_number(), 1000);
        let expect = tcp
            .to_header()
            .calc_checksum_ipv4_raw(h.source(), h.destination(), tcp.payload())
            .expect("checksum");
        assert_eq!(tcp.checksum(), expect);
        // MSS first, like Linux.
        assert_eq!(&tcp.options()[..4], &[2, 4, 0x02, 0x18]);
    }

    #[test]
    fn builds_data_with_ack_and_payload() {
        let seg = TcpSegment {
            seq: SeqNumber(7),
            ack: SeqNumber(99),
            flags: TcpFlags {
                psh: true,
                ack: true,
                ..TcpFlags::default()
            },
            window: 502,
            payload: Bytes::from_static(b"STARTTLS\r\n"),
            ..TcpSegment::default()
        };
        let bytes = build_ipv4_tcp(&flow(), &IpParams::default(), &seg).expect("build");
        assert!(bytes.ends_with(b"STARTTLS\r\n"));
        assert_eq!(bytes.len(), 20 + 20 + 10);
    }
}
