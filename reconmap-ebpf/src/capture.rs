//! XDP ingress: copy TCP segments of registered flows and ICMP errors quoting one into the ring
//! buffer. Always `XDP_PASS`: the kernel sees every packet as if we were not there.
use crate::counters::bump;
use crate::maps::{EVENTS, FLOWS};
use crate::parse::{ipv4_at, read, ETH_HLEN, ETH_P_IP, IPPROTO_ICMP, IPPROTO_TCP};
use aya_ebpf::{
    bindings::xdp_action,
    helpers::{bpf_ktime_get_ns, generated::bpf_xdp_load_bytes},
    macros::xdp,
    programs::XdpContext,
};
use reconmap_common::{capture_kind, counter, CaptureEvent, CaptureHeader, FlowKey, CAPTURE_LEN};

const ICMP_UNREACHABLE: u8 = 3;
const ICMP_TIME_EXCEEDED: u8 = 11;
const ICMP_HLEN: usize = 8;

#[xdp]
pub fn capture(ctx: XdpContext) -> u32 {
    if let Some(kind) = classify(&ctx) {
        submit(&ctx, kind);
    }
    xdp_action::XDP_PASS
}

/// Which kind of capture this packet is, if any.
#[inline(always)]
fn classify(ctx: &XdpContext) -> Option<u32> {
    let (start, end) = (ctx.data(), ctx.data_end());
    let ether_type: [u8; 2] = read(start, end, 12)?;
    if u16::from_be_bytes(ether_type) != ETH_P_IP {
        return None;
    }
    let ip = ipv4_at(start, end, ETH_HLEN)?;
    if ip.later_fragment {
        return None;
    }
    let l4 = ETH_HLEN + ip.ihl;
    match ip.protocol {
        IPPROTO_TCP => {
            let ports: [u8; 4] = read(start, end, l4)?;
            let (sport, dport) = ([ports[0], ports[1]], [ports[2], ports[3]]);
            // Inbound: the destination is our end of the flow.
            let key = FlowKey {
                local_addr: ip.dst,
                remote_addr: ip.src,
                local_port: dport,
                remote_port: sport,
            };
            registered(&key).then_some(capture_kind::TCP_SEGMENT)
        }
        IPPROTO_ICMP => {
            // Whole ICMP header at once: a lone byte read becomes `p >= end`, which the verifier
            // does not accept as proof that the byte exists.
            let icmp: [u8; ICMP_HLEN] = read(start, end, l4)?;
            let icmp_type = icmp[0];
            if icmp_type != ICMP_TIME_EXCEEDED && icmp_type != ICMP_UNREACHABLE {
                return None;
            }
            let inner_off = l4 + ICMP_HLEN;
            let inner = match ipv4_at(start, end, inner_off) {
                Some(i) => i,
                None => {
                    bump(counter::MALFORMED);
                    return None;
                }
            };
            if inner.protocol != IPPROTO_TCP {
                return None;
            }
            let t = inner_off + inner.ihl;
            // RFC 792 guarantees 8 bytes of the quoted transport header: ports are there.
            let ports: [u8; 4] = read(start, end, t)?;
            let (sport, dport) = ([ports[0], ports[1]], [ports[2], ports[3]]);
            // The quote is of a packet we sent: its source is our end.
            let key = FlowKey {
                local_addr: inner.src,
                remote_addr: inner.dst,
                local_port: sport,
                remote_port: dport,
            };
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

/// Copies the packet from its IPv4 header on (up to CAPTURE_LEN bytes) into the ring buffer.
#[inline(always)]
fn submit(ctx: &XdpContext, kind: u32) {
    let frame = ctx.data_end().saturating_sub(ctx.data());
    let l3 = frame.saturating_sub(ETH_HLEN);
    let Some(mut entry) = EVENTS.reserve::<CaptureEvent>(0) else {
        bump(counter::RINGBUF_FULL);
        return;
    };
    let len = (l3 as u32).min(CAPTURE_LEN as u32);
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
            orig_len: l3 as u32,
            cap_len: len,
            kind,
        };
        bpf_xdp_load_bytes(
            ctx.ctx,
            ETH_HLEN as u32,
            (*ev).data.as_mut_ptr().cast(),
            len,
        )
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
