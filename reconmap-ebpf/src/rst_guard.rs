//! TC egress: drop the kernel's RSTs for registered probe flows, pass everything else
//! (ReconMap's own packets, RSTs included, carry `OWN_PACKET_MARK` and always pass).
use crate::counters::bump;
use crate::maps::FLOWS;
use crate::parse::{ipv4_at, ipv4_start, read};
use aya_ebpf::{
    bindings::{TC_ACT_PIPE, TC_ACT_SHOT},
    macros::classifier,
    programs::TcContext,
};
use reconmap_common::layout::{ipv4, tcp};
use reconmap_common::{counter, FlowKey, OWN_PACKET_MARK};

#[classifier]
pub fn rst_guard(ctx: TcContext) -> i32 {
    if is_guarded_rst(&ctx) {
        bump(counter::RST_DROPPED);
        TC_ACT_SHOT
    } else {
        TC_ACT_PIPE
    }
}

/// A RST of a registered flow that ReconMap did not send itself, read from the linear part of
/// the skb (the kernel builds its RSTs linear; anything not readable there is passed).
#[inline(always)]
fn is_guarded_rst(ctx: &TcContext) -> bool {
    // SAFETY: the context's skb pointer is valid for the program's run.
    if unsafe { (*ctx.skb.skb).mark } == OWN_PACKET_MARK {
        return false;
    }
    let (start, end) = (ctx.data(), ctx.data_end());
    let Some(l3) = ipv4_start(start, end) else {
        return false;
    };
    let Some(ip) = ipv4_at(start, end, l3) else {
        return false;
    };
    if ip.protocol != ipv4::PROTO_TCP || ip.later_fragment {
        return false;
    }
    // Ports and flags with one bounds check (bytes 0-13 of the TCP header).
    let Some(t) = read::<[u8; tcp::FLAGS + 1]>(start, end, l3 + ip.ihl) else {
        return false;
    };
    if t[tcp::FLAGS] & tcp::FLAG_RST == 0 {
        return false;
    }
    let (sp, dp) = (tcp::SPORT.start, tcp::DPORT.start);
    // Outbound: source is our end of the flow.
    let key = FlowKey::v4(ip.src, ip.dst, [t[sp], t[sp + 1]], [t[dp], t[dp + 1]]);
    // SAFETY: map lookups are safe in eBPF; the value is not kept.
    unsafe { FLOWS.get(&key) }.is_some()
}
