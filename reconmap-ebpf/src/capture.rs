//! XDP ingress: copy TCP segments of registered flows and ICMP errors quoting one into the ring
//! buffer. Always `XDP_PASS`: the kernel sees every packet as if we were not there.
use crate::counters::bump;
use crate::maps::{EVENTS, FLOWS};
use crate::parse::{ipv4_at, ipv4_start, read};
use aya_ebpf::{
    bindings::xdp_action,
    helpers::{bpf_ktime_get_ns, generated::bpf_xdp_load_bytes},
    macros::xdp,
    programs::XdpContext,
};
use reconmap_common::layout::{icmp, ipv4, tcp};
use reconmap_common::{capture_kind, counter, CaptureEvent, CaptureHeader, FlowKey, CAPTURE_LEN};

#[xdp]
pub fn capture(ctx: XdpContext) -> u32 {
    let (start, end) = (ctx.data(), ctx.data_end());
    if let Some(l3) = ipv4_start(start, end) {
        if let Some(kind) = classify(start, end, l3) {
            submit(&ctx, l3, kind);
        }
    }
    xdp_action::XDP_PASS
}

/// Which kind of capture the IPv4 packet at `l3` is, if any.
#[inline(always)]
fn classify(start: usize, end: usize, l3: usize) -> Option<u32> {
    let ip = ipv4_at(start, end, l3)?;
    if ip.later_fragment {
        return None;
    }
    let l4 = l3 + ip.ihl;
    match ip.protocol {
        ipv4::PROTO_TCP => {
            let ports: [u8; 4] = read(start, end, l4)?;
            let (sport, dport) = ([ports[0], ports[1]], [ports[2], ports[3]]);
            // Inbound: the destination is our end of the flow.
            let key = FlowKey::v4(ip.dst, ip.src, dport, sport);
            registered(&key).then_some(capture_kind::TCP_SEGMENT)
        }
        ipv4::PROTO_ICMP => {
            // Whole ICMP header at once: a lone byte read becomes `p >= end`, which the verifier
            // does not accept as proof that the byte exists.
            let header: [u8; icmp::HLEN] = read(start, end, l4)?;
            let icmp_type = header[icmp::TYPE];
            if icmp_type != icmp::TIME_EXCEEDED && icmp_type != icmp::DEST_UNREACHABLE {
                return None;
            }
            let inner_off = l4 + icmp::HLEN;
            let inner = match ipv4_at(start, end, inner_off) {
                Some(i) => i,
                None => {
                    bump(counter::MALFORMED);
                    return None;
                }
            };
            if inner.protocol != ipv4::PROTO_TCP {
                return None;
            }
            let t = inner_off + inner.ihl;
            // RFC 792 guarantees 8 bytes of the quoted transport header: ports are there.
            let ports: [u8; 4] = read(start, end, t + tcp::SPORT.start)?;
            let (sport, dport) = ([ports[0], ports[1]], [ports[2], ports[3]]);
            // The quote is of a packet we sent: its source is our end.
            let key = FlowKey::v4(inner.src, inner.dst, sport, dport);
            registered(&key).then_some(capture_kind::ICMP_ERROR)
        }
        _ => None,
    }
}

#[inline(always)]
fn registered(key: &FlowKey) -> bool {
    // SAFETY: map lookups are safe in eBPF; the value is not kept.
    unsafe { FLOWS.get(key) }.is_some()
}

/// Copies the packet from its IP header (at `l3`) on, up to CAPTURE_LEN bytes, into the ring
/// buffer.
#[inline(always)]
fn submit(ctx: &XdpContext, l3: usize, kind: u32) {
    let frame = ctx.data_end().saturating_sub(ctx.data());
    let ip_len = frame.saturating_sub(l3);
    let Some(mut entry) = EVENTS.reserve::<CaptureEvent>(0) else {
        bump(counter::RINGBUF_FULL);
        return;
    };
    let len = (ip_len as u32).min(CAPTURE_LEN as u32);
    // The verifier wants the helper's length register itself proven to lie in [1, CAPTURE_LEN].
    // A volatile read makes the value opaque to LLVM, so the check below stays on that very
    // register instead of being folded into arithmetic on `l3`.
    // SAFETY: reading a local through a valid reference.
    let len = unsafe { core::ptr::read_volatile(&len) };
    if len == 0 || len > CAPTURE_LEN as u32 {
        entry.discard(0);
        return;
    }
    let ev = entry.as_mut_ptr();
    // SAFETY: `ev` points at a reserved, writable CaptureEvent; `len` is within [0, CAPTURE_LEN],
    // the size of `data`, and bpf_xdp_load_bytes checks the packet bounds itself.
    let copied = unsafe {
        (*ev).header = CaptureHeader {
            ts_ns: bpf_ktime_get_ns(),
            ifindex: ctx.ingress_ifindex() as u32,
            orig_len: ip_len as u32,
            cap_len: len,
            kind,
        };
        bpf_xdp_load_bytes(ctx.ctx, l3 as u32, (*ev).data.as_mut_ptr().cast(), len)
    };
    if copied != 0 {
        bump(counter::MALFORMED);
        entry.discard(0);
        return;
    }
    bump(if kind == capture_kind::TCP_SEGMENT {
        counter::TCP_CAPTURED
    } else {
        counter::ICMP_CAPTURED
    });
    entry.submit(0);
}
