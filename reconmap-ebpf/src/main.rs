//! ReconMap's kernel side: one object with two programs sharing one flow map.
//!
//! - `rst_guard` (TC egress): drops the kernel's RST segments for registered probe flows only
//!   (the kernel knows no socket for them and would reset every SYN/ACK we provoke).
//! - `capture` (XDP ingress): copies into a ring buffer the TCP segments of registered flows and
//!   the ICMP errors (time exceeded, destination unreachable) that quote one of them. It never
//!   steals: every packet is passed on.
#![no_std]
#![no_main]

mod capture;
mod counters;
mod maps;
mod parse;
mod rst_guard;

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
