//! The path: routers that expire TTLs and quote, boxes that rewrite, drop or reset, links
//! that delay and lose.
use super::{Event, SimNet};
use crate::scenario::{forge, Behaviour, ForgeSpec, HopSpec, MiddleboxSpec, Placement, RouterKind};
use etherparse::{icmpv4::TimeExceededCode, Icmpv4Type, PacketBuilder};
use rand::Rng as _;
use reconmap_wire::icmp_ext::{extended_payload, mpls_extension_structure};
use reconmap_wire::{
    build_ipv4_tcp, parse_captured, Captured, FlowAddrs, IpId, IpParams, MplsLabel, SeqNumber,
    TcpFlags, TcpSegment, TimeToLive,
};
use std::net::Ipv4Addr;

/// Most bytes of the offending datagram a Linux router quotes (576-byte ICMP message).
const FULL_QUOTE: usize = 548;
/// What a `mtu lock 68` router quotes: the IP header and 20 bytes of TCP.
const SHORT_QUOTE: usize = 40;
/// The RFC 792 minimum: the IP header and 8 bytes.
const RFC792_QUOTE: usize = 28;
/// The IP TTL our RST-forging and ICMP-sending routers start with.
const ROUTER_TTL: u8 = 64;
/// The suite a `tls-rewrite` box writes over the ClientHello's first one (the lab maps the
/// behaviour to `reconmap-middlebox --tls-rewrite --tls-suite 002f`):
/// TLS_RSA_WITH_AES_128_CBC_SHA.
pub(super) const TLS_REWRITE_SUITE: u16 = 0x002f;

impl SimNet {
    /// A datagram the prober sent walks the routers toward the server.
    pub(super) fn carry_from_prober(&mut self, mut pkt: Vec<u8>) {
        let ttl = usize::from(pkt.get(8).copied().unwrap_or(0));
        let Some(dst) = ipv4_dst(&pkt) else { return };
        let start = self.now;
        let hops = self.scenario.hops.clone();
        for (i, hop) in hops.iter().enumerate() {
            let k = i + 1;
            let arrive = start + self.link * u32::try_from(k).unwrap_or(u32::MAX);
            if self.lost() {
                return;
            }
            let boxed = hop.middlebox.as_ref().filter(|m| m.applies_to(dst));
            // An interception proxy takes port-25 connections before routing (REDIRECT in
            // PREROUTING): whatever TTL is left, the segment is delivered to it.
            if let Some(mb) = boxed.filter(|m| m.behaviour.is_proxy()) {
                if tcp_dport(&pkt) == Some(25) {
                    self.schedule(
                        arrive,
                        Event::ToServer {
                            proxy_hop: Some(k),
                            data: pkt,
                        },
                    );
                    let _ = mb;
                    return;
                }
            }
            if let Some(mb) = boxed.filter(|m| m.placement == Placement::Prerouting) {
                if !self.client_box(mb, &mut pkt, k, arrive) {
                    return;
                }
            }
            if ttl <= k {
                self.time_exceeded(k, hop, &pkt, arrive);
                return;
            }
            if let Some(f) = &hop.forge {
                self.forge_for(f, &pkt, k, arrive);
            }
            if let Some(mb) = boxed.filter(|m| m.placement == Placement::Forward) {
                if !self.client_box(mb, &mut pkt, k, arrive) {
                    return;
                }
            }
            if let Some(t) = pkt.get_mut(8) {
                *t = t.saturating_sub(1);
            }
        }
        if self.lost() || !self.serves(dst) {
            return;
        }
        let n = u32::try_from(hops.len() + 1).unwrap_or(u32::MAX);
        self.schedule(
            start + self.link * n,
            Event::ToServer {
                proxy_hop: None,
                data: pkt,
            },
        );
    }

    /// A datagram the server (or the proxy on router `proxy_hop`) sends at `depart` walks the
    /// routers back to the prober.
    pub(super) fn carry_from_server(
        &mut self,
        mut pkt: Vec<u8>,
        depart: std::time::Instant,
        proxy_hop: Option<usize>,
    ) {
        let Some(src) = ipv4_src(&pkt) else { return };
        let hops = self.scenario.hops.clone();
        // From the proxy's router, the routers below it; from the server, all of them.
        let below = proxy_hop.map_or(hops.len(), |k| k.saturating_sub(1));
        let flow = flow_of_server_segment(&pkt);
        for (i, hop) in hops.iter().enumerate().take(below).rev() {
            if self.lost() {
                return;
            }
            if let Some(mb) = hop.middlebox.as_ref().filter(|m| m.applies_to(src)) {
                if mb.behaviour == Behaviour::SeqRandomise {
                    if let Some(off) = flow.and_then(|f| self.seq_offsets.get(&(i + 1, f))) {
                        shift_ack(&mut pkt, off.wrapping_neg());
                    }
                }
                server_box(mb, &mut pkt);
            }
            if let Some(t) = pkt.get_mut(8) {
                *t = t.saturating_sub(1);
            }
        }
        if self.lost() {
            return;
        }
        let n = u32::try_from(below + 1).unwrap_or(u32::MAX);
        self.schedule(depart + self.link * n, Event::ToProber(pkt));
    }

    /// What a box does to a client segment; `false` when the segment dies there.
    fn client_box(
        &mut self,
        mb: &MiddleboxSpec,
        pkt: &mut [u8],
        k: usize,
        at: std::time::Instant,
    ) -> bool {
        // Header boxes act on every client segment toward port 25.
        match mb.behaviour {
            Behaviour::RewriteIpId if tcp_dport(pkt) == Some(25) => {
                let id = self.rng.gen::<u16>();
                if let Some(b) = pkt.get_mut(4..6) {
                    b.copy_from_slice(&id.to_be_bytes());
                }
                fix_ip_checksum(pkt);
                return true;
            }
            Behaviour::SeqRandomise if tcp_dport(pkt) == Some(25) => {
                let Some(flow) = flow_of_client_segment(pkt) else {
                    return true;
                };
                let fresh = self.rng.gen::<u32>();
                let off = *self.seq_offsets.entry((k, flow)).or_insert(fresh);
                shift_seq(pkt, off);
                return true;
            }
            _ => {}
        }
        // TLS boxes act on client segments toward port 25 that start a TLS handshake record
        // (as `reconmap-middlebox --tls-*` does); STARTTLS passes them.
        let tls_box = matches!(
            mb.behaviour,
            Behaviour::TlsDrop | Behaviour::TlsReset | Behaviour::TlsRewrite
        );
        if tls_box && !starts_tls_handshake(pkt) {
            return true;
        }
        match mb.behaviour {
            Behaviour::TlsDrop => {
                self.stats.tls_hellos_dropped += 1;
                return false;
            }
            Behaviour::TlsReset => {
                self.stats.tls_hellos_dropped += 1;
                self.reset_both_ends(pkt, k, at);
                return false;
            }
            Behaviour::TlsRewrite => {
                if rewrite_first_suite(pkt, TLS_REWRITE_SUITE) {
                    self.stats.tls_hellos_rewritten += 1;
                }
                return true;
            }
            _ => {}
        }
        if !carries_starttls(pkt) {
            return true;
        }
        match mb.behaviour {
            Behaviour::Mailguard => {
                rewrite_starttls(pkt);
                true
            }
            Behaviour::EhloMask
            | Behaviour::RewriteIpId
            | Behaviour::SeqRandomise
            | Behaviour::Proxy
            | Behaviour::ProxyPass
            | Behaviour::TlsDrop
            | Behaviour::TlsReset
            | Behaviour::TlsRewrite => true,
            Behaviour::Drop => false,
            Behaviour::Reset => {
                self.reset_both_ends(pkt, k, at);
                false
            }
        }
    }

    /// The reset box: a RST to the client as if from the server, and one to the server as if
    /// from the client; both leave router `k` with TTL 64.
    fn reset_both_ends(&mut self, pkt: &[u8], k: usize, at: std::time::Instant) {
        let Ok(Captured::Tcp(seg)) = parse_captured(pkt) else {
            return;
        };
        let rst = |seq: SeqNumber| TcpSegment {
            seq,
            flags: TcpFlags {
                rst: true,
                ..TcpFlags::default()
            },
            ..TcpSegment::default()
        };
        let to_client = FlowAddrs {
            local: seg.dst,
            remote: seg.src,
        };
        let back_ttl = ROUTER_TTL.saturating_sub(u8::try_from(k - 1).unwrap_or(u8::MAX));
        if let Ok(d) = build_ipv4_tcp(
            &to_client,
            &IpParams::new(TimeToLive(back_ttl), IpId(0)),
            &rst(seg.segment.ack),
        ) {
            let when = at + self.link * u32::try_from(k).unwrap_or(u32::MAX);
            self.schedule(when, Event::ToProber(d));
        }
        let to_server = FlowAddrs {
            local: seg.src,
            remote: seg.dst,
        };
        if let Ok(d) = build_ipv4_tcp(
            &to_server,
            &IpParams::new(TimeToLive(ROUTER_TTL), IpId(0)),
            &rst(seg.segment.seq),
        ) {
            let rest = u32::try_from(self.scenario.hops.len() + 1 - k).unwrap_or(u32::MAX);
            self.schedule(
                at + self.link * rest,
                Event::ToServer {
                    proxy_hop: None,
                    data: d,
                },
            );
        }
    }

    /// A forging router: for a STARTTLS probe it forwards, forged ICMP errors to the prober
    /// (the same recipes as the lab's `reconmap-icmp-forge`).
    fn forge_for(&mut self, f: &ForgeSpec, pkt: &[u8], k: usize, at: std::time::Instant) {
        let Some(probe) = forge::Probe::parse(pkt, 25, b"STARTTLS") else {
            return;
        };
        let to = probe.source();
        let count = usize::try_from(f.count).unwrap_or(1);
        let when = at + self.link * u32::try_from(k).unwrap_or(u32::MAX);
        for icmp in forge::forge(f.mode, &probe, &mut self.forge_rng, count) {
            let id = self.forge_rng.next_u16().max(1);
            if let Some(d) = forge::ip_datagram(f.from, to, id, &icmp) {
                self.stats.forged += 1;
                self.schedule(when, Event::ToProber(d));
            }
        }
    }

    /// Router `k` drops an expiring datagram and (unless silent) says so to its source.
    fn time_exceeded(&mut self, k: usize, hop: &HopSpec, pkt: &[u8], at: std::time::Instant) {
        let quote_len = match hop.router {
            RouterKind::Silent => return,
            RouterKind::ShortQuote => SHORT_QUOTE,
            RouterKind::Rfc792Quote => RFC792_QUOTE,
            RouterKind::Normal | RouterKind::Nat => FULL_QUOTE,
        };
        let quote_len = hop.quote_bytes.map_or(quote_len, usize::from);
        let Some(from) = self.scenario.hop_addr(u8::try_from(k).unwrap_or(u8::MAX)) else {
            return;
        };
        let Some(to) = ipv4_src(pkt) else { return };
        let mut quoted = pkt
            .get(..quote_len.min(pkt.len()))
            .unwrap_or_default()
            .to_vec();
        if let Some(t) = quoted.get_mut(8) {
            *t = 1;
        }
        // An MPLS LSR appends its label stack as an RFC 4884 extension (quote padded to 128
        // bytes, length field set, extension checksum computed).
        let icmp_type = if hop.mpls_labels.is_empty() {
            Icmpv4Type::TimeExceeded(TimeExceededCode::TtlExceededInTransit)
        } else {
            let structure = mpls_extension_structure(&MplsLabel::expired_stack(&hop.mpls_labels));
            let (data, words) = extended_payload(&quoted, &structure);
            quoted = data;
            Icmpv4Type::Unknown {
                type_u8: 11,
                code_u8: 0,
                bytes5to8: [0, words, 0, 0],
            }
        };
        let back_ttl = ROUTER_TTL.saturating_sub(u8::try_from(k - 1).unwrap_or(u8::MAX));
        let b = PacketBuilder::ipv4(from.octets(), to.octets(), back_ttl).icmpv4(icmp_type);
        let mut icmp = Vec::new();
        if b.write(&mut icmp, &quoted).is_err() {
            return;
        }
        self.stats.icmp += 1;
        let when = at + self.link * u32::try_from(k).unwrap_or(u32::MAX);
        self.schedule(when, Event::ToProber(icmp));
    }

    /// Whether the eBPF capture would hand this packet to the prober: a TCP segment of a
    /// registered flow, or an ICMP error quoting one.
    pub(super) fn is_captured(&self, data: &[u8]) -> bool {
        let flow = match parse_captured(data) {
            Ok(Captured::Tcp(s)) => FlowAddrs {
                local: s.dst,
                remote: s.src,
            },
            Ok(Captured::IcmpError(e)) => match e.quote.flow() {
                Some(f) => f,
                None => return false,
            },
            Err(_) => return false,
        };
        self.registered.contains(&flow)
    }
}

/// What a box does to a server segment on its way to the client (mailguard masks a one-line
/// banner and the STARTTLS keyword of the EHLO reply; an EHLO masker only the latter).
fn server_box(mb: &MiddleboxSpec, pkt: &mut [u8]) {
    let Some(off) = tcp_payload_offset(pkt) else {
        return;
    };
    let Some(payload) = pkt.get_mut(off..) else {
        return;
    };
    match mb.behaviour {
        Behaviour::Mailguard => {
            let one_line = payload.iter().filter(|&&b| b == b'\n').count() == 1;
            if payload.starts_with(b"220 ") && payload.ends_with(b"\r\n") && one_line {
                mask_banner(payload);
            }
            mask_ehlo_keyword(payload);
        }
        Behaviour::EhloMask => mask_ehlo_keyword(payload),
        Behaviour::Drop
        | Behaviour::Reset
        | Behaviour::RewriteIpId
        | Behaviour::SeqRandomise
        | Behaviour::Proxy
        | Behaviour::ProxyPass
        | Behaviour::TlsDrop
        | Behaviour::TlsReset
        | Behaviour::TlsRewrite => {}
    }
}

/// PIX style: every byte of the banner line but '2', '0', ' ' and the CRLF becomes '*'.
fn mask_banner(line: &mut [u8]) {
    let body_end = line.len().saturating_sub(2);
    for (i, b) in line.iter_mut().enumerate() {
        if i < body_end && !matches!(*b, b'2' | b'0' | b' ') {
            *b = b'*';
        }
    }
}

/// `250-STARTTLS` in an EHLO reply becomes `250-XXXXXXXX`.
fn mask_ehlo_keyword(payload: &mut [u8]) {
    if !payload.starts_with(b"250-") {
        return;
    }
    if let Some(pos) = find(payload, b"-STARTTLS\r\n") {
        if let Some(w) = payload.get_mut(pos + 1..pos + 9) {
            w.copy_from_slice(b"XXXXXXXX");
        }
    }
}

/// Whether a client segment toward port 25 starts with a TLS handshake record header
/// (`16 03 0x`, x at most 4).
pub(super) fn starts_tls_handshake(pkt: &[u8]) -> bool {
    let Some(off) = tcp_payload_offset(pkt) else {
        return false;
    };
    tcp_dport(pkt) == Some(25)
        && matches!(pkt.get(off..), Some([0x16, 0x03, minor, ..]) if *minor <= 0x04)
}

/// Replaces the first cipher suite of a ClientHello that starts the segment's payload by
/// `suite`, TCP checksum fixed (as `reconmap-middlebox --tls-rewrite`). Whether it changed the
/// segment: not when the suite list lies beyond it, or already starts with `suite`.
pub(super) fn rewrite_first_suite(pkt: &mut [u8], suite: u16) -> bool {
    let Some(off) = tcp_payload_offset(pkt) else {
        return false;
    };
    let Some(at) = pkt.get(off..).and_then(first_suite_offset).map(|o| off + o) else {
        return false;
    };
    let Some(field) = pkt.get_mut(at..at + 2) else {
        return false;
    };
    if field == suite.to_be_bytes() {
        return false;
    }
    field.copy_from_slice(&suite.to_be_bytes());
    fix_tcp_checksum(pkt);
    true
}

/// Offset in `payload` of the first cipher suite of a ClientHello record at its start, when
/// the payload holds it: record header (5), handshake header (4), version and random (34),
/// session id (1 + n), suites length (2).
fn first_suite_offset(payload: &[u8]) -> Option<usize> {
    const CLIENT_HELLO: u8 = 1;
    if *payload.get(5)? != CLIENT_HELLO {
        return None;
    }
    let sid_len_at = 5 + 4 + 34;
    let sid_len = usize::from(*payload.get(sid_len_at)?);
    let suites_len_at = sid_len_at + 1 + sid_len;
    let suites_len = u16::from_be_bytes([
        *payload.get(suites_len_at)?,
        *payload.get(suites_len_at + 1)?,
    ]);
    let first = suites_len_at + 2;
    (suites_len >= 2 && payload.get(first..first + 2).is_some()).then_some(first)
}

fn carries_starttls(pkt: &[u8]) -> bool {
    let Some(off) = tcp_payload_offset(pkt) else {
        return false;
    };
    let payload = pkt.get(off..).unwrap_or_default();
    tcp_dport(pkt) == Some(25)
        && payload.len() >= 8
        && payload[..8].eq_ignore_ascii_case(b"STARTTLS")
}

/// STARTTLS -> XXXXXXXX at the start of the payload, TCP checksum fixed (as the kernel does
/// for the lab's nft rewrite).
fn rewrite_starttls(pkt: &mut [u8]) {
    if let Some(off) = tcp_payload_offset(pkt) {
        if let Some(w) = pkt.get_mut(off..off + 8) {
            w.copy_from_slice(b"XXXXXXXX");
        }
    }
    fix_tcp_checksum(pkt);
}

/// Adds `off` to the TCP sequence number (a sequence-randomising box, client to server).
fn shift_seq(pkt: &mut [u8], off: u32) {
    shift_u32(pkt, 4, off);
}

/// Adds `off` to the TCP acknowledgement number (server to client: the offset taken off).
fn shift_ack(pkt: &mut [u8], off: u32) {
    if tcp_flags(pkt).is_some_and(|f| f & 0x10 != 0) {
        shift_u32(pkt, 8, off);
    }
}

fn shift_u32(pkt: &mut [u8], at: usize, off: u32) {
    let Some(ip) = ihl(pkt) else { return };
    let Some(b) = pkt.get_mut(ip + at..ip + at + 4) else {
        return;
    };
    let Ok(old) = <[u8; 4]>::try_from(&*b) else {
        return;
    };
    b.copy_from_slice(&u32::from_be_bytes(old).wrapping_add(off).to_be_bytes());
    fix_tcp_checksum(pkt);
}

/// Recomputes the TCP checksum of a whole datagram.
fn fix_tcp_checksum(pkt: &mut [u8]) {
    let (Some(ip), Some(sum)) = (ihl(pkt), reconmap_wire::tcp_checksum(pkt)) else {
        return;
    };
    if let Some(b) = pkt.get_mut(ip + 16..ip + 18) {
        b.copy_from_slice(&sum.to_be_bytes());
    }
}

/// Recomputes the IPv4 header checksum.
fn fix_ip_checksum(pkt: &mut [u8]) {
    let Ok(h) = etherparse::Ipv4HeaderSlice::from_slice(pkt) else {
        return;
    };
    let sum = h.to_header().calc_header_checksum();
    if let Some(b) = pkt.get_mut(10..12) {
        b.copy_from_slice(&sum.to_be_bytes());
    }
}

/// The flow of a client segment, as the prober names it.
fn flow_of_client_segment(pkt: &[u8]) -> Option<FlowAddrs> {
    match parse_captured(pkt) {
        Ok(Captured::Tcp(s)) => Some(FlowAddrs {
            local: s.src,
            remote: s.dst,
        }),
        _ => None,
    }
}

/// The flow of a server segment, as the prober names it.
fn flow_of_server_segment(pkt: &[u8]) -> Option<FlowAddrs> {
    match parse_captured(pkt) {
        Ok(Captured::Tcp(s)) => Some(FlowAddrs {
            local: s.dst,
            remote: s.src,
        }),
        _ => None,
    }
}

fn tcp_flags(pkt: &[u8]) -> Option<u8> {
    let ip = ihl(pkt)?;
    pkt.get(ip + 13).copied()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn ihl(pkt: &[u8]) -> Option<usize> {
    let v = *pkt.first()?;
    (v >> 4 == 4).then_some(usize::from(v & 0x0f) * 4)
}

fn tcp_payload_offset(pkt: &[u8]) -> Option<usize> {
    let ip = ihl(pkt)?;
    if *pkt.get(9)? != 6 {
        return None;
    }
    let doff = usize::from(*pkt.get(ip + 12)? >> 4) * 4;
    Some(ip + doff)
}

fn tcp_dport(pkt: &[u8]) -> Option<u16> {
    let ip = ihl(pkt)?;
    Some(u16::from_be_bytes([*pkt.get(ip + 2)?, *pkt.get(ip + 3)?]))
}

fn ipv4_src(pkt: &[u8]) -> Option<Ipv4Addr> {
    let b: [u8; 4] = pkt.get(12..16)?.try_into().ok()?;
    Some(Ipv4Addr::from(b))
}

fn ipv4_dst(pkt: &[u8]) -> Option<Ipv4Addr> {
    let b: [u8; 4] = pkt.get(16..20)?.try_into().ok()?;
    Some(Ipv4Addr::from(b))
}

/// The flow of a client segment as the server sees it.
pub(super) fn server_side(client: &FlowAddrs) -> FlowAddrs {
    FlowAddrs {
        local: client.remote,
        remote: client.local,
    }
}
