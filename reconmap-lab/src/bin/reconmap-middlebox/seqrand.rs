//! `--seq-randomise`: TCP initial sequence number randomisation as Cisco ASA/PIX do it.
//!
//! For each connection the box saw start (a client SYN to the server port), it draws a random
//! offset, adds it to every client->server sequence number and subtracts it from every
//! server->client acknowledgement number and SACK block edge. Connections it did not see
//! start pass untouched (as on an ASA, which only randomises connections it built).
use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::packet::{get32, put32, tcp, TcpLayout};

/// TCP option kinds.
const OPT_END: u8 = 0;
const OPT_NOP: u8 = 1;
const OPT_SACK: u8 = 5;
/// Flows idle this long are forgotten when the table is full.
const IDLE: Duration = Duration::from_secs(120);
/// Table size at which idle flows are swept.
const SWEEP_AT: usize = 4096;

/// (client address, client port, server address, server port).
type FlowKey = ([u8; 4], u16, [u8; 4], u16);

#[derive(Debug, Clone, Copy)]
struct Flow {
    /// The client's initial sequence number (tells a retransmitted SYN from a new one).
    isn: Option<u32>,
    offset: u32,
    last_seen: Instant,
}

/// Per-flow offsets; `server_port` tells the directions apart.
pub struct SeqRandomiser {
    server_port: u16,
    flows: HashMap<FlowKey, Flow>,
    draw: Box<dyn FnMut() -> u32 + Send>,
}

impl SeqRandomiser {
    /// A randomiser with offsets from the thread RNG (never zero).
    pub fn new(server_port: u16) -> Self {
        Self::with_draw(server_port, Box::new(|| rand::random::<u32>().max(1)))
    }

    /// A randomiser whose offsets come from `draw` (tests).
    pub fn with_draw(server_port: u16, draw: Box<dyn FnMut() -> u32 + Send>) -> Self {
        Self {
            server_port,
            flows: HashMap::new(),
            draw,
        }
    }

    /// Rewrites one segment of either direction; returns whether it changed it.
    pub fn rewrite(&mut self, datagram: &mut [u8]) -> bool {
        let Some(l) = TcpLayout::parse(datagram) else {
            return false;
        };
        let (Some((src, dst)), Some((sport, dport))) = (l.addrs(datagram), l.ports(datagram))
        else {
            return false;
        };
        let flags = l.flags(datagram);
        let now = Instant::now();
        let changed = if dport == self.server_port {
            let key = (src, sport, dst, dport);
            let opening = flags & tcp::SYN != 0 && flags & tcp::ACK_FLAG == 0;
            if opening {
                self.open(key, get32(datagram, l.start() + tcp::SEQ), now);
            }
            match self.flows.get_mut(&key) {
                Some(flow) => {
                    flow.last_seen = now;
                    add_at(datagram, l.start() + tcp::SEQ, flow.offset).is_some()
                }
                None => false,
            }
        } else if sport == self.server_port {
            let key = (dst, dport, src, sport);
            match self.flows.get_mut(&key) {
                Some(flow) if flags & tcp::ACK_FLAG != 0 => {
                    flow.last_seen = now;
                    let back = flow.offset.wrapping_neg();
                    add_at(datagram, l.start() + tcp::ACK, back).is_some()
                        && shift_sack(datagram, &l, back).is_some()
                }
                _ => false,
            }
        } else {
            false
        };
        if flags & tcp::RST != 0 {
            let key = if dport == self.server_port {
                (src, sport, dst, dport)
            } else {
                (dst, dport, src, sport)
            };
            self.flows.remove(&key);
        }
        changed && l.fix_checksum(datagram).is_some()
    }

    /// Records a client SYN: a new connection (also one reusing a 4-tuple) draws a new
    /// offset, a retransmitted SYN keeps the one it got.
    fn open(&mut self, key: FlowKey, isn: Option<u32>, now: Instant) {
        self.sweep(now);
        if self.flows.get(&key).is_some_and(|f| f.isn == isn) {
            return;
        }
        let offset = (self.draw)();
        self.flows.insert(
            key,
            Flow {
                isn,
                offset,
                last_seen: now,
            },
        );
    }

    /// Forgets idle flows once the table is large.
    fn sweep(&mut self, now: Instant) {
        if self.flows.len() >= SWEEP_AT {
            self.flows
                .retain(|_, f| now.saturating_duration_since(f.last_seen) < IDLE);
        }
    }
}

/// Adds `delta` (mod 2^32) to the u32 at `at`.
fn add_at(d: &mut [u8], at: usize, delta: u32) -> Option<()> {
    let v = get32(d, at)?;
    put32(d, at, v.wrapping_add(delta))
}

/// Adds `delta` to both edges of every SACK block (RFC 2018) in the TCP options.
fn shift_sack(d: &mut [u8], l: &TcpLayout, delta: u32) -> Option<()> {
    let end = l.start() + l.header_len;
    let mut at = l.start() + tcp::OPTIONS;
    while at < end {
        let kind = *d.get(at)?;
        match kind {
            OPT_END => break,
            OPT_NOP => at += 1,
            _ => {
                let len = usize::from(*d.get(at + 1)?);
                if len < 2 || at + len > end {
                    // Malformed options: leave the rest alone.
                    break;
                }
                if kind == OPT_SACK {
                    let mut edge = at + 2;
                    while edge + 4 <= at + len {
                        add_at(d, edge, delta)?;
                        edge += 4;
                    }
                }
                at += len;
            }
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::fixtures;
    use etherparse::{PacketBuilder, TcpOptionElement};

    const C: [u8; 4] = [198, 51, 100, 1];
    const S: [u8; 4] = [192, 0, 2, 25];

    fn fixed(offset: u32) -> SeqRandomiser {
        SeqRandomiser::with_draw(25, Box::new(move || offset))
    }

    fn syn(seq: u32) -> Vec<u8> {
        let mut out = Vec::new();
        PacketBuilder::ipv4(C, S, 64)
            .tcp(40000, 25, seq, 64240)
            .syn()
            .write(&mut out, &[])
            .expect("build");
        out
    }

    fn from_server(ack: u32, sack: Option<(u32, u32)>) -> Vec<u8> {
        let mut out = Vec::new();
        let b = PacketBuilder::ipv4(S, C, 64)
            .tcp(25, 40000, 500, 64240)
            .ack(ack);
        let b = match sack {
            Some(block) => b
                .options(&[
                    TcpOptionElement::Noop,
                    TcpOptionElement::Noop,
                    TcpOptionElement::SelectiveAcknowledgement(block, [None, None, None]),
                ])
                .expect("options"),
            None => b,
        };
        b.write(&mut out, b"250 ok\r\n").expect("build");
        out
    }

    fn seq_of(d: &[u8]) -> u32 {
        get32(d, 20 + tcp::SEQ).expect("seq")
    }

    fn ack_of(d: &[u8]) -> u32 {
        get32(d, 20 + tcp::ACK).expect("ack")
    }

    #[test]
    fn client_seq_up_server_ack_and_sack_down() {
        let mut r = fixed(0x1000_0000);
        let mut s = syn(0xffff_fff0);
        assert!(r.rewrite(&mut s));
        assert_eq!(seq_of(&s), 0x0fff_fff0, "wraps");
        assert!(fixtures::tcp_checksums_ok(&s));

        let mut data = fixtures::tcp(C, S, 40000, 25, 0xffff_fff1, b"EHLO x\r\n");
        assert!(r.rewrite(&mut data));
        assert_eq!(seq_of(&data), 0x0fff_fff1);
        assert!(fixtures::tcp_checksums_ok(&data));

        let mut reply = from_server(0x0fff_fff9, Some((0x1000_0010, 0x1000_0020)));
        assert!(r.rewrite(&mut reply));
        assert_eq!(ack_of(&reply), 0xffff_fff9);
        assert!(fixtures::tcp_checksums_ok(&reply));
        let sack = &reply[20 + 20 + 4..20 + 20 + 12];
        assert_eq!(sack, [0, 0, 0, 0x10, 0, 0, 0, 0x20], "both edges shifted");
    }

    #[test]
    fn unknown_flows_and_other_ports_pass() {
        let mut r = fixed(77);
        let mut data = fixtures::tcp(C, S, 40000, 25, 5, b"x");
        let before = data.clone();
        assert!(!r.rewrite(&mut data), "no SYN seen");
        assert_eq!(data, before);
        let mut other = fixtures::tcp(C, S, 40000, 80, 5, b"x");
        assert!(!r.rewrite(&mut other));
        assert!(!r.rewrite(&mut [0u8; 10]));
    }

    #[test]
    fn each_connection_gets_its_own_offset_and_rst_forgets() {
        let mut next = 0u32;
        let mut r = SeqRandomiser::with_draw(
            25,
            Box::new(move || {
                next += 100;
                next
            }),
        );
        let mut a = syn(1000);
        r.rewrite(&mut a);
        let mut again = syn(1000);
        r.rewrite(&mut again);
        assert_eq!(seq_of(&a), 1100);
        assert_eq!(seq_of(&again), 1100, "a retransmitted SYN keeps its offset");
        let mut rst = Vec::new();
        PacketBuilder::ipv4(C, S, 64)
            .tcp(40000, 25, 1001, 0)
            .rst()
            .write(&mut rst, &[])
            .expect("build");
        assert!(r.rewrite(&mut rst));
        assert_eq!(seq_of(&rst), 1101);
        let mut b = syn(1000);
        r.rewrite(&mut b);
        assert_eq!(seq_of(&b), 1200, "a new connection draws anew");
    }
}
