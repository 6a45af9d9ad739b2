//! Parsing what the capture ring delivers: IPv4 datagrams (possibly cut at the capture length)
//! that are either TCP segments of a probe flow or ICMP errors quoting one.
use crate::{
    icmp_ext::{split_extensions, IcmpExtensions},
    segment::TcpOptions,
    IcmpKind, IpId, PacketError, Quote, SeqNumber, TcpFlags, TcpSegment, TimeToLive,
};
use bytes::Bytes;
use etherparse::{Icmpv4Slice, IpNumber, Ipv4Slice, LaxIpv4Slice, TcpOptionElement, TcpSlice};
use reconmap_common::layout::icmp as icmp_layout;
use std::net::{Ipv4Addr, SocketAddrV4};

/// A TCP segment that arrived, with what its IP header says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedSegment {
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
    /// TTL on arrival: tells the server's segments from injected ones.
    pub ip_ttl: TimeToLive,
    pub ip_id: IpId,
    pub segment: TcpSegment,
}

/// An ICMP error (time exceeded, destination unreachable, ...) and its quote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IcmpError {
    /// The router that sent it.
    pub from: Ipv4Addr,
    pub to: Ipv4Addr,
    /// The ICMP message's own IP TTL on arrival.
    pub outer_ttl: TimeToLive,
    pub kind: IcmpKind,
    pub quote: Quote,
    /// RFC 4884 extensions after the quote (MPLS label stack, interface information, ...).
    pub extensions: IcmpExtensions,
}

/// A parsed capture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Captured {
    Tcp(ReceivedSegment),
    IcmpError(IcmpError),
}

/// Parses a capture that starts at the IPv4 header.
pub fn parse_captured(bytes: &[u8]) -> Result<Captured, PacketError> {
    let (lax, _) =
        LaxIpv4Slice::from_slice(bytes).map_err(|e| PacketError::NotIpv4(e.to_string()))?;
    let header = lax.header();
    if header.is_fragmenting_payload() {
        return Err(PacketError::Malformed {
            layer: "ipv4",
            reason: "fragment".to_string(),
        });
    }
    match header.protocol() {
        IpNumber::TCP => parse_tcp(bytes).map(Captured::Tcp),
        IpNumber::ICMP => parse_icmp(&lax).map(Captured::IcmpError),
        other => Err(PacketError::Unexpected(other.0)),
    }
}

fn parse_tcp(bytes: &[u8]) -> Result<ReceivedSegment, PacketError> {
    // Strict: a TCP segment cut by the capture length must not pass as complete data.
    let ip = Ipv4Slice::from_slice(bytes).map_err(|e| PacketError::Truncated(e.to_string()))?;
    let h = ip.header();
    let tcp = TcpSlice::from_slice(ip.payload().payload).map_err(|e| PacketError::Malformed {
        layer: "tcp",
        reason: e.to_string(),
    })?;
    let mut options = TcpOptions::default();
    for opt in tcp.options_iterator() {
        // A malformed option ends option parsing; the segment itself is still usable.
        let Ok(opt) = opt else { break };
        match opt {
            TcpOptionElement::MaximumSegmentSize(m) => options.mss = Some(m),
            TcpOptionElement::WindowScale(w) => options.window_scale = Some(w),
            TcpOptionElement::SelectiveAcknowledgementPermitted => options.sack_permitted = true,
            TcpOptionElement::Timestamp(v, e) => options.timestamps = Some((v, e)),
            _ => {}
        }
    }
    Ok(ReceivedSegment {
        src: SocketAddrV4::new(h.source_addr(), tcp.source_port()),
        dst: SocketAddrV4::new(h.destination_addr(), tcp.destination_port()),
        ip_ttl: TimeToLive(h.ttl()),
        ip_id: IpId(h.identification()),
        segment: TcpSegment {
            seq: SeqNumber(tcp.sequence_number()),
            ack: SeqNumber(tcp.acknowledgment_number()),
            flags: TcpFlags {
                fin: tcp.fin(),
                syn: tcp.syn(),
                rst: tcp.rst(),
                psh: tcp.psh(),
                ack: tcp.ack(),
                urg: tcp.urg(),
            },
            window: tcp.window_size(),
            options,
            payload: Bytes::copy_from_slice(tcp.payload()),
        },
    })
}

fn parse_icmp(ip: &LaxIpv4Slice<'_>) -> Result<IcmpError, PacketError> {
    let h = ip.header();
    let icmp =
        Icmpv4Slice::from_slice(ip.payload().payload).map_err(|e| PacketError::Malformed {
            layer: "icmp",
            reason: e.to_string(),
        })?;
    let Some(kind) = IcmpKind::from_type_code(icmp.type_u8(), icmp.code_u8()) else {
        return Err(PacketError::Malformed {
            layer: "icmp",
            reason: format!("type {} is not an error message", icmp.type_u8()),
        });
    };
    let payload = icmp.payload();
    // RFC 4884: byte 5 of time exceeded / unreachable / parameter problem gives the length of
    // the quoted datagram in 32-bit words when extensions follow it; 0 means no extensions (or
    // a pre-RFC 4884 router's structure after exactly 128 bytes). A length below the 128 bytes
    // the RFC requires, or beyond the message, is not compliant: the message is read as one
    // without extensions (RFC 4884 5.5) and the extensions say why.
    let (quoted, extensions) = if kind.may_have_extensions() {
        let words = icmp.bytes5to8()[icmp_layout::RFC4884_LENGTH - 4];
        let (len, extensions) = split_extensions(payload, words);
        (payload.get(..len).unwrap_or(payload), extensions)
    } else {
        (payload, IcmpExtensions::default())
    };
    Ok(IcmpError {
        from: h.source_addr(),
        to: h.destination_addr(),
        outer_ttl: TimeToLive(h.ttl()),
        kind,
        quote: Quote::new(quoted),
        extensions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{Icmpv4Type, PacketBuilder};

    use crate::fixtures::flow;

    fn probe() -> Vec<u8> {
        crate::fixtures::starttls_probe(1, 4242)
    }

    /// An ICMP time exceeded from `router` quoting `quote`, with an optional RFC 4884 length.
    fn time_exceeded(quote: &[u8], rfc4884_words: u8, extension: &[u8]) -> Vec<u8> {
        let b = PacketBuilder::ipv4([203, 0, 113, 1], [198, 51, 100, 2], 64).icmpv4(
            Icmpv4Type::TimeExceeded(etherparse::icmpv4::TimeExceededCode::TtlExceededInTransit),
        );
        let mut payload = quote.to_vec();
        payload.extend_from_slice(extension);
        let mut out = Vec::new();
        b.write(&mut out, &payload).expect("write");
        // bytes5to8 of the ICMP header sit at IP(20) + 4.
        out[20 + 5] = rfc4884_words;
        out
    }

    #[test]
    fn parses_a_full_time_exceeded_quote() {
        let c = parse_captured(&time_exceeded(&probe(), 0, &[])).expect("parse");
        let Captured::IcmpError(e) = c else {
            panic!("icmp")
        };
        assert_eq!(e.kind, IcmpKind::TimeExceeded { code: 0 });
        assert_eq!(e.from, Ipv4Addr::new(203, 0, 113, 1));
        assert_eq!(e.quote.flow(), Some(flow()));
        assert_eq!(e.quote.ip_id(), Some(IpId(4242)));
        assert_eq!(e.quote.tcp_payload(), Some(&b"STARTTLS\r\n"[..]));
    }

    #[test]
    fn cuts_rfc4884_extensions() {
        let p = probe(); // 50 bytes: pad to 128 as RFC 4884 requires, length 32 words
        let mut padded = p.clone();
        padded.resize(128, 0);
        let ext = [0x20, 0, 0, 0, 0, 8, 1, 1, 0, 0, 0, 0];
        let c = parse_captured(&time_exceeded(&padded, 32, &ext)).expect("parse");
        let Captured::IcmpError(e) = c else {
            panic!("icmp")
        };
        assert_eq!(e.quote.len(), probe().len(), "padding is not quote");
        assert_eq!(e.quote.tcp_payload(), Some(&b"STARTTLS\r\n"[..]));
        assert_eq!(e.extensions.error, None);
        assert_eq!(
            e.extensions.mpls_labels(),
            vec![crate::MplsLabel {
                label: 0,
                tc: 0,
                bottom: false,
                ttl: 0
            }]
        );
    }

    #[test]
    fn mpls_label_stack_compliant_and_compat() {
        // Label 16004, S, TTL 1; checksum by hand (see icmp_ext's tests).
        let ext = [
            0x20, 0x00, 0x9a, 0x0d, 0x00, 0x08, 0x01, 0x01, 0x03, 0xe8, 0x41, 0x01,
        ];
        let mut padded = probe();
        padded.resize(128, 0);
        for words in [32, 0] {
            let c = parse_captured(&time_exceeded(&padded, words, &ext)).expect("parse");
            let Captured::IcmpError(e) = c else {
                panic!("icmp")
            };
            assert_eq!(e.quote.len(), probe().len(), "length field {words}");
            assert_eq!(e.quote.tcp_payload(), Some(&b"STARTTLS\r\n"[..]));
            assert_eq!(e.extensions.compat, words == 0);
            let labels = e.extensions.mpls_labels();
            assert_eq!(
                labels
                    .iter()
                    .map(|l| (l.label, l.bottom, l.ttl))
                    .collect::<Vec<_>>(),
                vec![(16004, true, 1)]
            );
        }
    }

    #[test]
    fn bad_rfc4884_lengths_keep_the_quote_and_name_the_error() {
        let ext = [0x20, 0, 0, 0];
        for (words, want) in [(255u8, "exceeds"), (3, "below")] {
            let c = parse_captured(&time_exceeded(&probe(), words, &ext)).expect("parse");
            let Captured::IcmpError(e) = c else {
                panic!("icmp")
            };
            assert_eq!(e.quote.len(), probe().len() + ext.len());
            assert_eq!(e.quote.tcp_payload(), Some(&b"STARTTLS\r\n"[..]));
            let error = e.extensions.error.expect("an error").to_string();
            assert!(error.contains(want), "{error}");
        }
    }

    #[test]
    fn short_quotes_parse() {
        for n in [28, 40] {
            let c = parse_captured(&time_exceeded(&probe()[..n], 0, &[])).expect("parse");
            let Captured::IcmpError(e) = c else {
                panic!("icmp")
            };
            assert_eq!(e.quote.len(), n);
            assert_eq!(e.quote.flow(), Some(flow()));
        }
    }

    #[test]
    fn parses_tcp_segments_and_refuses_cut_ones() {
        let c = parse_captured(&probe()).expect("parse");
        let Captured::Tcp(s) = c else { panic!("tcp") };
        assert_eq!(s.src, flow().local);
        assert_eq!(s.ip_ttl, TimeToLive(1));
        assert_eq!(&s.segment.payload[..], b"STARTTLS\r\n");
        assert!(matches!(
            parse_captured(&probe()[..45]),
            Err(PacketError::Truncated(_))
        ));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(parse_captured(&[]).is_err());
        assert!(parse_captured(&[0x45; 19]).is_err());
        assert!(parse_captured(&[0x60; 60]).is_err());
        let mut udp = probe();
        udp[9] = 17;
        assert!(matches!(
            parse_captured(&udp),
            Err(PacketError::Unexpected(17))
        ));
        let full = time_exceeded(&probe(), 0, &[]);
        for n in 0..full.len() {
            let _ = parse_captured(&full[..n]);
        }
        let mut echo = full.clone();
        echo[20] = 0; // echo reply is not an error
        assert!(parse_captured(&echo).is_err());
    }
}
