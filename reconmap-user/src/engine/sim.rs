//! A simulated network for the sans-IO engine (trippy style: the engine never touches sockets,
//! so it can be run against a model). The model: a chain of routers that expire TTLs and quote
//! the packet as it arrived (optionally silent, short-quoting, or a STARTTLS-rewriting or
//! -dropping box), and a small SMTP server with its own TCP. Time is simulated: every test is
//! deterministic and instant.
use super::config::ProbeConfig;
use super::session::ProbeSession;
use crate::packet::{
    build_ipv4_tcp, parse_captured, Captured, FlowAddrs, IpParams, ReceivedSegment, SeqNumber,
    TcpFlags, TcpOptions, TcpSegment,
};
use crate::report::Report;
use bytes::Bytes;
use etherparse::{icmpv4::TimeExceededCode, Icmpv4Type, PacketBuilder};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a router does to the STARTTLS command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Middlebox {
    None,
    /// Rewrites after its own TTL check (its own quote still shows STARTTLS).
    RewriteForward,
    /// Rewrites before the TTL check (its own quote shows the rewrite).
    RewritePrerouting,
    /// Drops segments carrying STARTTLS.
    Drop,
}

#[derive(Clone, Copy, Debug)]
pub struct Router {
    pub silent: bool,
    pub short_quote: bool,
    pub middlebox: Middlebox,
}

impl Router {
    pub const PLAIN: Router = Router {
        silent: false,
        short_quote: false,
        middlebox: Middlebox::None,
    };
}

const PROBER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 25);

fn router_addr(k: usize) -> Ipv4Addr {
    Ipv4Addr::new(203, 0, 113, u8::try_from(k).unwrap_or(255))
}

/// The server side of the connection (just enough TCP and SMTP).
#[derive(Default)]
struct Server {
    isn: u32,
    rcv_nxt: Option<u32>,
    snd_nxt: u32,
    banner_sent: bool,
    line: Vec<u8>,
    closed: bool,
    starttls_ok: bool,
}

pub struct Sim {
    routers: Vec<Router>,
    /// One-way delay per link.
    link: Duration,
    now: Instant,
    /// Packets on their way to the prober, by arrival time (then order of sending).
    to_prober: BTreeMap<(Instant, u64), Vec<u8>>,
    /// Packets on their way to the server.
    to_server: BTreeMap<(Instant, u64), Vec<u8>>,
    seq: u64,
    server: Server,
    flow: FlowAddrs,
}

impl Sim {
    pub fn new(routers: Vec<Router>, link: Duration) -> Self {
        Self {
            routers,
            link,
            now: Instant::now(),
            to_prober: BTreeMap::new(),
            to_server: BTreeMap::new(),
            seq: 0,
            server: Server {
                isn: 900_000,
                starttls_ok: true,
                ..Server::default()
            },
            flow: FlowAddrs {
                local: SocketAddrV4::new(PROBER, 40_000),
                remote: SocketAddrV4::new(SERVER, 25),
            },
        }
    }

    /// The path RTT to the server.
    pub fn rtt(&self) -> Duration {
        self.link * 2 * u32::try_from(self.routers.len() + 1).unwrap_or(u32::MAX)
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Runs one session to its end; returns the report and the simulated time to verdict.
    pub fn run(&mut self, cfg: ProbeConfig) -> (Report, Duration) {
        let start = self.now;
        let mut s = ProbeSession::new(Arc::new(cfg), self.flow, 1_000, 7, start);
        for _ in 0..100_000 {
            while let Some(out) = s.poll_transmit() {
                if let Some(id) = out.probe {
                    s.probe_sent(id, self.now);
                }
                self.carry_from_prober(&out.datagram);
            }
            if s.is_done() {
                break;
            }
            let next_net = [self.to_prober.keys().next(), self.to_server.keys().next()]
                .into_iter()
                .flatten()
                .map(|(t, _)| *t)
                .min();
            let next = [next_net, s.poll_at()].into_iter().flatten().min();
            let Some(next) = next else { break };
            self.now = self.now.max(next);
            while let Some(entry) = self.to_server.first_entry() {
                if entry.key().0 > self.now {
                    break;
                }
                let pkt = entry.remove();
                self.at_server(&pkt);
            }
            while let Some(entry) = self.to_prober.first_entry() {
                if entry.key().0 > self.now {
                    break;
                }
                let pkt = entry.remove();
                if let Ok(c) = parse_captured(&pkt) {
                    s.on_captured(self.now, &c);
                }
            }
            s.on_timer(self.now);
        }
        let verdict_at = s.timeline().verdict.unwrap_or_default();
        (s.report(PROBER), verdict_at)
    }

    /// A datagram from the prober walks the routers.
    fn carry_from_prober(&mut self, datagram: &[u8]) {
        let mut pkt = datagram.to_vec();
        let ttl = pkt.get(8).copied().unwrap_or(0);
        let has_starttls = contains(&pkt, b"STARTTLS");
        for (i, r) in self.routers.clone().iter().enumerate() {
            let k = i + 1;
            if r.middlebox == Middlebox::RewritePrerouting {
                rewrite(&mut pkt);
            }
            if usize::from(ttl) == k {
                if !r.silent {
                    let quote_len = if r.short_quote {
                        28
                    } else {
                        pkt.len().min(548)
                    };
                    let mut quoted = pkt.get(..quote_len).unwrap_or_default().to_vec();
                    if let Some(t) = quoted.get_mut(8) {
                        *t = 1;
                    }
                    let icmp = time_exceeded(router_addr(k), &quoted);
                    let at = self.now + self.link * 2 * u32::try_from(k).unwrap_or(1);
                    let n = self.next_seq();
                    self.to_prober.insert((at, n), icmp);
                }
                return;
            }
            if r.middlebox == Middlebox::Drop && has_starttls {
                return;
            }
            if r.middlebox == Middlebox::RewriteForward {
                rewrite(&mut pkt);
            }
        }
        let at = self.now + self.link * u32::try_from(self.routers.len() + 1).unwrap_or(1);
        let n = self.next_seq();
        self.to_server.insert((at, n), pkt);
    }

    fn reply(&mut self, flags: &str, payload: &[u8]) {
        let sv = &mut self.server;
        let seg = TcpSegment {
            seq: SeqNumber(sv.snd_nxt),
            ack: SeqNumber(sv.rcv_nxt.unwrap_or(0)),
            flags: TcpFlags {
                syn: flags.contains('S'),
                fin: flags.contains('F'),
                ack: true,
                psh: !payload.is_empty(),
                ..TcpFlags::default()
            },
            window: 65535,
            options: TcpOptions {
                mss: flags.contains('S').then_some(1460),
                ..TcpOptions::default()
            },
            payload: Bytes::copy_from_slice(payload),
        };
        sv.snd_nxt = sv
            .snd_nxt
            .wrapping_add(u32::try_from(seg.seq_len()).unwrap_or(0));
        let back = FlowAddrs {
            local: self.flow.remote,
            remote: self.flow.local,
        };
        let ip = IpParams {
            ttl: 64 - u8::try_from(self.routers.len()).unwrap_or(0),
            ..IpParams::default()
        };
        if let Ok(d) = build_ipv4_tcp(&back, &ip, &seg) {
            let at = self.now + self.link * u32::try_from(self.routers.len() + 1).unwrap_or(1);
            let n = self.next_seq();
            self.to_prober.insert((at, n), d);
        }
    }

    fn at_server(&mut self, pkt: &[u8]) {
        let Ok(Captured::Tcp(ReceivedSegment { segment: seg, .. })) = parse_captured(pkt) else {
            return;
        };
        if seg.flags.rst {
            self.server.closed = true;
            return;
        }
        if seg.flags.syn {
            self.server.rcv_nxt = Some(seg.seq.0.wrapping_add(1));
            self.server.snd_nxt = self.server.isn;
            self.reply("S", b"");
            return;
        }
        let Some(rcv) = self.server.rcv_nxt else {
            return;
        };
        if !self.server.banner_sent && seg.flags.ack && seg.ack.0 == self.server.isn.wrapping_add(1)
        {
            self.server.banner_sent = true;
            self.reply("", b"220 mail.sim ESMTP\r\n");
        }
        if !seg.payload.is_empty() {
            if seg.seq.0 != rcv {
                // A duplicate (another sweep copy): acknowledge again.
                self.reply("", b"");
                return;
            }
            self.server.rcv_nxt =
                Some(rcv.wrapping_add(u32::try_from(seg.payload.len()).unwrap_or(0)));
            self.server.line.extend_from_slice(&seg.payload);
            while let Some(pos) = self.server.line.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.server.line.drain(..=pos).collect();
                let cmd = String::from_utf8_lossy(&line).trim().to_ascii_uppercase();
                let answer: &[u8] = if cmd.starts_with("EHLO") {
                    b"250-mail.sim\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 8BITMIME\r\n"
                } else if cmd == "STARTTLS" && self.server.starttls_ok {
                    b"220 2.0.0 Ready to start TLS\r\n"
                } else if cmd == "QUIT" {
                    b"221 2.0.0 Bye\r\n"
                } else {
                    b"500 5.5.2 Error: command not recognized\r\n"
                };
                self.reply("", answer);
                if cmd == "QUIT" {
                    self.reply("F", b"");
                }
            }
        }
        if seg.flags.fin {
            self.server.rcv_nxt = Some(self.server.rcv_nxt.unwrap_or(rcv).wrapping_add(1));
            if self.server.closed {
                self.reply("", b"");
            } else {
                self.server.closed = true;
                self.reply("F", b"");
            }
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// STARTTLS -> XXXXXXXX in place (checksums are not checked by the model).
fn rewrite(pkt: &mut [u8]) {
    if let Some(pos) = pkt
        .windows(8)
        .position(|w| w.eq_ignore_ascii_case(b"STARTTLS"))
    {
        if let Some(w) = pkt.get_mut(pos..pos + 8) {
            w.copy_from_slice(b"XXXXXXXX");
        }
    }
}

fn time_exceeded(from: Ipv4Addr, quote: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ipv4(from.octets(), PROBER.octets(), 64).icmpv4(
        Icmpv4Type::TimeExceeded(TimeExceededCode::TtlExceededInTransit),
    );
    let mut out = Vec::new();
    let _ = b.write(&mut out, quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::Verdict;

    fn path(n: usize, at: Option<(usize, Router)>) -> Vec<Router> {
        (1..=n)
            .map(|k| match at {
                Some((b, r)) if b == k => r,
                _ => Router::PLAIN,
            })
            .collect()
    }

    fn boxed(b: Middlebox) -> Router {
        Router {
            middlebox: b,
            ..Router::PLAIN
        }
    }

    fn segment(r: &Report) -> (Option<u8>, Option<u8>) {
        (
            r.segment.map(|s| s.after.ttl.0),
            r.segment.and_then(|s| s.at.map(|a| a.ttl.0)),
        )
    }

    #[test]
    fn clean_path_is_clean_within_five_rtts() {
        let mut sim = Sim::new(path(4, None), Duration::from_millis(10));
        let (r, verdict_at) = sim.run(ProbeConfig::default());
        assert_eq!(r.verdict, Verdict::Clean, "{r:#?}");
        assert_eq!(r.hops.len(), 4);
        assert!(r.hops.iter().all(|h| h.payload == "intact"));
        assert_eq!(r.hops[2].addr, Some(router_addr(3)));
        // Handshake, banner, EHLO, one sweep round: about four path RTTs.
        assert!(
            verdict_at <= sim.rtt() * 5,
            "{verdict_at:?} vs rtt {:?}",
            sim.rtt()
        );
    }

    #[test]
    fn forward_rewrite_is_located_after_the_box() {
        let mut sim = Sim::new(
            path(4, Some((2, boxed(Middlebox::RewriteForward)))),
            Duration::from_millis(5),
        );
        let (r, _) = sim.run(ProbeConfig::default());
        assert_eq!(r.verdict, Verdict::Stripped);
        assert_eq!(segment(&r), (Some(2), Some(3)));
        assert_eq!(r.hops[2].quoted_payload.as_deref(), Some("XXXXXXXX\\r\\n"));
    }

    #[test]
    fn prerouting_rewrite_is_located_at_the_box() {
        let mut sim = Sim::new(
            path(4, Some((2, boxed(Middlebox::RewritePrerouting)))),
            Duration::from_millis(5),
        );
        let (r, _) = sim.run(ProbeConfig::default());
        assert_eq!(r.verdict, Verdict::Stripped);
        assert_eq!(segment(&r), (Some(1), Some(2)));
    }

    #[test]
    fn silent_and_short_quote_hops_widen_but_keep_the_segment() {
        let mut routers = path(5, Some((2, boxed(Middlebox::RewriteForward))));
        routers[2].silent = true; // hop 3
        routers[3].short_quote = true; // hop 4
        let mut sim = Sim::new(routers, Duration::from_millis(5));
        let (r, _) = sim.run(ProbeConfig::default());
        assert_eq!(r.verdict, Verdict::Stripped);
        assert_eq!(segment(&r), (Some(2), Some(5)));
        assert_eq!(r.hops[2].payload, "none");
        assert_eq!(r.hops[2].attempts, 3, "a silent hop gets its retries");
        assert_eq!(r.hops[3].payload, "short");
    }

    #[test]
    fn a_dropping_box_blocks() {
        let mut sim = Sim::new(
            path(4, Some((2, boxed(Middlebox::Drop)))),
            Duration::from_millis(5),
        );
        let cfg = ProbeConfig {
            starttls_timeout: Duration::from_secs(2),
            ..ProbeConfig::default()
        };
        let (r, _) = sim.run(cfg);
        assert_eq!(r.verdict, Verdict::Blocked);
        assert_eq!(segment(&r), (Some(2), None));
        assert!(r.tcp.starttls_unacked);
    }

    #[test]
    fn a_server_without_starttls_is_not_offered_but_one_advertising_it_is_stripped() {
        let mut sim = Sim::new(path(3, None), Duration::from_millis(5));
        sim.server.starttls_ok = false;
        let (r, _) = sim.run(ProbeConfig::default());
        // The sim's EHLO advertises STARTTLS, so refusing it means something rewrote it.
        assert_eq!(r.verdict, Verdict::Stripped);
        assert_eq!(segment(&r), (Some(3), None));
    }
}
