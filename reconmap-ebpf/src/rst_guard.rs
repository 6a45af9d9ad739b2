//! TC egress: drop the kernel's RSTs for registered probe flows, pass everything else.
use crate::counters::bump;
use crate::maps::FLOWS;
use crate::parse::{ipv4_at, read, ETH_HLEN, ETH_P_IP, IPPROTO_TCP};
use aya_ebpf::{
    bindings::{TC_ACT_PIPE, TC_ACT_SHOT},
    macros::classifier,
    programs::TcContext,
};
use reconmap_common::{counter, FlowKey};

const TCP_RST: u8 = 0x04;

#[classifier]
pub fn rst_guard(ctx: TcContext) -> i32 {
    if is_guarded_rst(&ctx) {
        bump(counter::RST_DROPPED);
        TC_ACT_SHOT
    } else {
        TC_ACT_PIPE
    }
}

/// A RST of a registered flow, read from the linear part of the skb (the kernel builds its RSTs
/// linear; anything not readable there is passed).
#[inline(always)]
fn is_guarded_rst(ctx: &TcContext) -> bool {
    let (start, end) = (ctx.data(), ctx.data_end());
    let Some(ether_type) = read::<[u8; 2]>(start, end, 12) else {
        return false;
    };
    if u16::from_be_bytes(ether_type) != ETH_P_IP {
        return false;
    }
    let Some(ip) = ipv4_at(start, end, ETH_HLEN) else {
        return false;
    };
    if ip.protocol != IPPROTO_TCP || ip.later_fragment {
        return false;
    }
    // Ports and flags with one bounds check (bytes 0-13 of the TCP header).
    let Some(t) = read::<[u8; 14]>(start, end, ETH_HLEN + ip.ihl) else {
        return false;
    };
    if t[13] & TCP_RST == 0 {
        return false;
    }
    let (sport, dport) = ([t[0], t[1]], [t[2], t[3]]);
    // Outbound: source is our end of the flow.
    let key = FlowKey {
        local_addr: ip.src,
        remote_addr: ip.dst,
        local_port: sport,
        remote_port: dport,
    };
    // SAFETY: map lookups are safe in eBPF; the value is not kept.
    unsafe { FLOWS.get(&key) }.is_some()
}
