//! The eBPF programs under BPF_PROG_TEST_RUN on hand-made frames: no traffic, no interface.
use aya::maps::{HashMap, MapData, PerCpuArray, RingBuf};
use aya::Ebpf;
use etherparse::{icmpv4::TimeExceededCode, Icmpv4Type, PacketBuilder};
use reconmap_common::{capture_kind, counter, names, CaptureHeader, FlowKey, FlowState};
use reconmap_datapath::stats::{test_run, test_run_ctx, Prog};
use reconmap_datapath::{Datapath, LinkKind};

const TC_ACT_SHOT: u32 = 2;
const TC_ACT_PIPE: u32 = 3;
const XDP_PASS: u32 = 2;

const LOCAL: [u8; 4] = [198, 51, 100, 2];
const REMOTE: [u8; 4] = [192, 0, 2, 25];
const LPORT: u16 = 40000;

struct Programs {
    ebpf: Ebpf,
    _flows: HashMap<MapData, FlowKey, FlowState>,
    ring: RingBuf<MapData>,
    counters: PerCpuArray<MapData, u64>,
}

fn key(lport: u16) -> FlowKey {
    FlowKey::v4(LOCAL, REMOTE, lport.to_be_bytes(), 25u16.to_be_bytes())
}

fn programs() -> Programs {
    programs_for(LinkKind::Ethernet)
}

fn programs_for(link: LinkKind) -> Programs {
    let mut ebpf =
        Datapath::load(link).expect("load the eBPF object (run as root via cargo xtask test)");
    let mut flows: HashMap<MapData, FlowKey, FlowState> =
        HashMap::try_from(ebpf.take_map(names::FLOWS_MAP).expect("FLOWS")).expect("hash map");
    flows
        .insert(key(LPORT), FlowState::default(), 0)
        .expect("register");
    let ring = RingBuf::try_from(ebpf.take_map(names::EVENTS_MAP).expect("EVENTS")).expect("ring");
    let counters = PerCpuArray::try_from(ebpf.take_map(names::COUNTERS_MAP).expect("COUNTERS"))
        .expect("counters");
    Programs {
        ebpf,
        _flows: flows,
        ring,
        counters,
    }
}

impl Programs {
    fn tc(&self, frame: &[u8]) -> u32 {
        self.try_tc(frame).expect("test run")
    }

    fn try_tc(&self, frame: &[u8]) -> Result<u32, reconmap_datapath::DatapathError> {
        test_run(&self.ebpf, Prog::RstGuard, frame, 1).map(|r| r.retval)
    }

    /// The classifier on `frame` with the skb mark set to `mark`.
    fn tc_marked(&self, frame: &[u8], mark: u32) -> u32 {
        // struct __sk_buff: len, pkt_type, mark, ...; the kernel takes `mark` from ctx_in and
        // wants the fields it does not take zeroed.
        let mut ctx = [0u8; 192];
        ctx[8..12].copy_from_slice(&mark.to_ne_bytes());
        test_run_ctx(&self.ebpf, Prog::RstGuard, frame, Some(&ctx), 1)
            .expect("test run")
            .retval
    }

    fn xdp(&self, frame: &[u8]) -> u32 {
        test_run(&self.ebpf, Prog::Capture, frame, 1)
            .expect("test run")
            .retval
    }

    /// Drains the ring: (kind, captured bytes).
    fn events(&mut self) -> Vec<(u32, Vec<u8>)> {
        let mut out = Vec::new();
        while let Some(item) = self.ring.next() {
            let h = std::mem::size_of::<CaptureHeader>();
            // SAFETY: every ring item is a CaptureEvent, which starts with a CaptureHeader.
            let header: CaptureHeader = unsafe { std::ptr::read_unaligned(item.as_ptr().cast()) };
            let len = header.cap_len as usize;
            out.push((header.kind, item[h..h + len].to_vec()));
        }
        out
    }

    fn counter(&self, index: u32) -> u64 {
        self.counters.get(&index, 0).expect("counter").iter().sum()
    }
}

/// A TCP segment in an Ethernet frame.
fn tcp_frame(
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    rst: bool,
    payload: &[u8],
) -> Vec<u8> {
    let mut b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(src, dst, 64)
        .tcp(sport, dport, 1000, 512);
    if rst {
        b = b.rst();
    }
    let mut out = Vec::new();
    b.write(&mut out, payload).expect("frame");
    out
}

/// The IPv4 datagram of one of our probes (what an ICMP error quotes).
fn probe_datagram(lport: u16) -> Vec<u8> {
    let b = PacketBuilder::ipv4(LOCAL, REMOTE, 1)
        .tcp(lport, 25, 7, 512)
        .psh()
        .ack(9);
    let mut out = Vec::new();
    // A long payload, so that a 548-byte TCP quote is possible.
    let mut payload = b"STARTTLS\r\n".to_vec();
    payload.resize(600, b'.');
    b.write(&mut out, &payload).expect("probe");
    out
}

/// An ICMP time exceeded from a router, quoting `quote`, in an Ethernet frame.
fn icmp_frame(quote: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4([203, 0, 113, 1], LOCAL, 64)
        .icmpv4(Icmpv4Type::TimeExceeded(
            TimeExceededCode::TtlExceededInTransit,
        ));
    let mut out = Vec::new();
    b.write(&mut out, quote).expect("icmp");
    out
}

#[test]
fn rst_guard_drops_only_rsts_of_registered_flows() {
    let p = programs();
    let before = p.counter(counter::RST_DROPPED);
    assert_eq!(
        p.tc(&tcp_frame(LOCAL, REMOTE, LPORT, 25, true, b"")),
        TC_ACT_SHOT
    );
    assert_eq!(p.counter(counter::RST_DROPPED), before + 1);
    // Another flow's RST, the same flow's data, the reverse direction: all pass untouched.
    assert_eq!(
        p.tc(&tcp_frame(LOCAL, REMOTE, LPORT + 1, 25, true, b"")),
        TC_ACT_PIPE
    );
    assert_eq!(
        p.tc(&tcp_frame(LOCAL, REMOTE, LPORT, 25, false, b"EHLO x\r\n")),
        TC_ACT_PIPE
    );
    assert_eq!(
        p.tc(&tcp_frame(REMOTE, LOCAL, 25, LPORT, true, b"")),
        TC_ACT_PIPE
    );
    assert_eq!(p.counter(counter::RST_DROPPED), before + 1);
}

#[test]
fn rst_guard_passes_malformed_and_foreign_frames() {
    let p = programs();
    let good = tcp_frame(LOCAL, REMOTE, LPORT, 25, true, b"");
    for frame in malformed_variants(&good) {
        match p.try_tc(&frame) {
            Ok(action) => assert_eq!(action, TC_ACT_PIPE, "{frame:02x?}"),
            // The kernel's skb test runner refuses an IPv4 frame without a whole IP header
            // (such a frame can never reach a classifier either); nothing else may fail.
            Err(e) => assert!(frame.len() < 14 + 20, "{frame:02x?}: {e}"),
        }
    }
}

#[test]
fn capture_copies_segments_of_registered_flows_and_always_passes() {
    let mut p = programs();
    let synack = tcp_frame(REMOTE, LOCAL, 25, LPORT, false, b"220 hi\r\n");
    assert_eq!(p.xdp(&synack), XDP_PASS);
    let ev = p.events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].0, capture_kind::TCP_SEGMENT);
    assert_eq!(
        ev[0].1,
        synack[14..].to_vec(),
        "the whole datagram from the IP header on"
    );
    // Other flows, and our own outbound direction, are not captured.
    assert_eq!(
        p.xdp(&tcp_frame(REMOTE, LOCAL, 25, LPORT + 1, false, b"x")),
        XDP_PASS
    );
    assert_eq!(
        p.xdp(&tcp_frame(LOCAL, REMOTE, LPORT, 25, false, b"x")),
        XDP_PASS
    );
    assert!(p.events().is_empty());
    assert!(p.counter(counter::TCP_CAPTURED) >= 1);
}

#[test]
fn capture_takes_icmp_quotes_of_8_20_and_548_tcp_bytes() {
    let mut p = programs();
    let probe = probe_datagram(LPORT);
    for tcp_bytes in [8usize, 20, 548] {
        let quote = &probe[..20 + tcp_bytes];
        let frame = icmp_frame(quote);
        assert_eq!(p.xdp(&frame), XDP_PASS);
        let ev = p.events();
        assert_eq!(ev.len(), 1, "quote of {tcp_bytes} TCP bytes");
        assert_eq!(ev[0].0, capture_kind::ICMP_ERROR);
        assert_eq!(
            ev[0].1,
            frame[14..].to_vec(),
            "the whole ICMP message with its quote"
        );
    }
    // A quote of another flow is not captured.
    let other = probe_datagram(LPORT + 7);
    assert_eq!(p.xdp(&icmp_frame(&other[..48])), XDP_PASS);
    assert!(p.events().is_empty());
    // A quote too short to hold the ports is not captured either.
    assert_eq!(p.xdp(&icmp_frame(&probe[..22])), XDP_PASS);
    assert!(p.events().is_empty());
}

#[test]
fn capture_passes_malformed_frames_uncaptured() {
    let mut p = programs();
    let good = tcp_frame(REMOTE, LOCAL, 25, LPORT, false, b"data");
    for frame in malformed_variants(&good) {
        assert_eq!(p.xdp(&frame), XDP_PASS, "{frame:02x?}");
    }
    assert!(p.events().is_empty(), "nothing malformed is captured");
    // Garbage inside an ICMP quote is not captured (and counted as malformed).
    let before = p.counter(counter::MALFORMED);
    let mut bad_quote = probe_datagram(LPORT)[..48].to_vec();
    bad_quote[0] = 0x41; // IHL 1
    assert_eq!(p.xdp(&icmp_frame(&bad_quote)), XDP_PASS);
    assert!(p.events().is_empty());
    assert_eq!(p.counter(counter::MALFORMED), before + 1);
}

/// Truncated IP header, IHL < 5, IP options that run past the frame, a later fragment, IP
/// length larger than the frame (still parsed up to the frame: ports matter, not length), a
/// non-IPv4 ethertype, an IPv6 version nibble, and a frame cut inside the TCP ports.
fn malformed_variants(good: &[u8]) -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    v.push(good[..14 + 10].to_vec());
    let mut ihl4 = good.to_vec();
    ihl4[14] = 0x44;
    v.push(ihl4);
    let mut long_options = good[..14 + 24].to_vec();
    long_options[14] = 0x4f; // 60-byte header in a 24-byte packet
    v.push(long_options);
    let mut frag = good.to_vec();
    frag[14 + 6] = 0x00;
    frag[14 + 7] = 0x10; // fragment offset 16
    v.push(frag);
    let mut arp = good.to_vec();
    arp[12] = 0x08;
    arp[13] = 0x06;
    v.push(arp);
    let mut v6 = good.to_vec();
    v6[14] = 0x65;
    v.push(v6);
    v.push(good[..14 + 20 + 2].to_vec());
    v
}

#[test]
fn ip_options_are_skipped_correctly() {
    let mut p = programs();
    // An IPv4 header with 4 bytes of options (NOP NOP NOP EOL) before the TCP header.
    let plain = tcp_frame(REMOTE, LOCAL, 25, LPORT, false, b"x");
    let mut with_opts = plain[..14].to_vec();
    let mut ip = plain[14..34].to_vec();
    ip[0] = 0x46;
    let total = u16::from_be_bytes([ip[2], ip[3]]) + 4;
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    with_opts.extend_from_slice(&ip);
    with_opts.extend_from_slice(&[1, 1, 1, 0]);
    with_opts.extend_from_slice(&plain[34..]);
    assert_eq!(p.xdp(&with_opts), XDP_PASS);
    assert_eq!(p.events().len(), 1);
}

/// `frame` with 802.1Q tags (VLAN 7, and an outer 802.1ad tag with `qinq`) after the MACs.
fn tagged(frame: &[u8], qinq: bool) -> Vec<u8> {
    let mut out = frame[..12].to_vec();
    if qinq {
        out.extend_from_slice(&[0x88, 0xa8, 0x00, 0x64]);
    }
    out.extend_from_slice(&[0x81, 0x00, 0x00, 0x07]);
    out.extend_from_slice(&frame[12..]);
    out
}

#[test]
fn vlan_tagged_frames_are_seen_through_one_or_two_tags() {
    // Issue: VLAN-tagged frames were neither captured nor guarded.
    let mut p = programs();
    for qinq in [false, true] {
        let rst = tagged(&tcp_frame(LOCAL, REMOTE, LPORT, 25, true, b""), qinq);
        assert_eq!(p.tc(&rst), TC_ACT_SHOT, "qinq {qinq}");
        let synack = tagged(
            &tcp_frame(REMOTE, LOCAL, 25, LPORT, false, b"220 hi\r\n"),
            qinq,
        );
        assert_eq!(p.xdp(&synack), XDP_PASS);
        let ev = p.events();
        assert_eq!(ev.len(), 1, "qinq {qinq}");
        let l3 = if qinq { 22 } else { 18 };
        assert_eq!(ev[0].1, synack[l3..].to_vec(), "from the IP header on");
    }
}

#[test]
fn on_ip_only_links_the_ip_header_comes_first() {
    // Issue: on tun/WireGuard/PPP uplinks nothing was captured (the programs assumed Ethernet).
    let mut p = programs_for(LinkKind::RawIp);
    let synack = tcp_frame(REMOTE, LOCAL, 25, LPORT, false, b"220 hi\r\n");
    let raw_ip = &synack[14..];
    assert_eq!(p.xdp(raw_ip), XDP_PASS);
    let ev = p.events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].0, capture_kind::TCP_SEGMENT);
    assert_eq!(ev[0].1, raw_ip.to_vec());
    let probe = probe_datagram(LPORT);
    let icmp = icmp_frame(&probe[..48]);
    assert_eq!(p.xdp(&icmp[14..]), XDP_PASS);
    assert_eq!(p.events().len(), 1, "an ICMP quote on an IP-only link");
    // An Ethernet frame given to the raw-IP program is not IPv4 at offset 0: nothing captured.
    assert_eq!(p.xdp(&synack), XDP_PASS);
    assert!(p.events().is_empty());
}

#[test]
fn our_own_marked_rsts_pass_the_guard() {
    // Issue: the guard dropped ReconMap's own RSTs too, leaving servers half-open.
    let p = programs();
    let rst = tcp_frame(LOCAL, REMOTE, LPORT, 25, true, b"");
    assert_eq!(
        p.tc_marked(&rst, 0),
        TC_ACT_SHOT,
        "the kernel's RST (no mark)"
    );
    assert_eq!(
        p.tc_marked(&rst, reconmap_common::OWN_PACKET_MARK),
        TC_ACT_PIPE,
        "ours"
    );
    assert_eq!(
        p.tc_marked(&rst, 1),
        TC_ACT_SHOT,
        "another mark is not ours"
    );
}
