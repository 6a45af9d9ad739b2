//! The interception check alone: a proxy shown and located, a clean path, an asymmetric one.
use super::*;
use reconmap_wire::{parse_captured, Quote};

const PROBER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const TARGET: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 25);
const WAIT: Duration = Duration::from_millis(50);

fn plan(distance: u8) -> InterceptPlan {
    InterceptPlan {
        alt: FlowAddrs {
            local: std::net::SocketAddrV4::new(PROBER, 61001),
            remote: std::net::SocketAddrV4::new(TARGET, 26),
        },
        ctl: FlowAddrs {
            local: std::net::SocketAddrV4::new(PROBER, 61002),
            remote: std::net::SocketAddrV4::new(TARGET, 25),
        },
        distance: TimeToLive(distance),
        max_ttl: TimeToLive(30),
        wait: WAIT,
        first_ip_id: IpId(500),
        isn: 1000,
    }
}

fn router(ttl: u8) -> Ipv4Addr {
    Ipv4Addr::new(198, 51, 100, 4 * ttl - 2)
}

/// A model path: routers 1..`target`-1, the target at `target`, a proxy for port 25 at
/// `proxy` (if any). Answers every packet the check sends, in order.
struct Path {
    target: u8,
    proxy: Option<u8>,
}

impl Path {
    fn answer(&self, p: &CheckPacket) -> Option<Captured> {
        let Ok(Captured::Tcp(seg)) = parse_captured(&p.datagram) else {
            return None;
        };
        if seg.segment.flags.rst {
            return None;
        }
        let ttl = p.datagram[8];
        let port25 = seg.dst.port() == 25;
        let reached = match (port25, self.proxy) {
            (true, Some(px)) => ttl >= px,
            _ => ttl >= self.target,
        };
        if reached {
            // SYN/ACK from port 25 (the proxy or the server), RST from the closed alt port.
            let reply = TcpSegment {
                seq: SeqNumber(77),
                ack: seg.segment.seq + 1,
                flags: TcpFlags {
                    syn: port25,
                    rst: !port25,
                    ack: true,
                    ..TcpFlags::default()
                },
                ..TcpSegment::default()
            };
            let hops = if port25 {
                self.proxy.unwrap_or(self.target)
            } else {
                self.target
            };
            let back = FlowAddrs {
                local: seg.dst,
                remote: seg.src,
            };
            let d = build_ipv4_tcp(
                &back,
                &IpParams::new(TimeToLive(65 - hops), IpId(1)),
                &reply,
            )
            .expect("reply");
            return parse_captured(&d).ok();
        }
        let mut quote = p.datagram.clone();
        quote[8] = 1;
        Some(Captured::IcmpError(IcmpError {
            from: router(ttl),
            to: PROBER,
            outer_ttl: TimeToLive(64),
            kind: reconmap_wire::IcmpKind::TimeExceeded { code: 0 },
            quote: Quote::new(&quote),
            extensions: Default::default(),
        }))
    }

    /// Runs the check to its end; returns it and the packets it sent.
    fn run(&self, distance: u8) -> (InterceptCheckState, Vec<CheckPacket>) {
        let mut now = Instant::now();
        let mut c = InterceptCheckState::start(plan(distance), now);
        let mut sent = Vec::new();
        for _ in 0..20 {
            let mut round = Vec::new();
            while let Some(p) = c.poll_transmit() {
                round.push(p);
            }
            if round.is_empty() {
                now += WAIT;
                c.on_timer(now);
                continue;
            }
            for p in &round {
                if let Some(a) = self.answer(p) {
                    c.on_captured(now, &a);
                }
            }
            sent.extend(round);
            if c.is_done() {
                while let Some(p) = c.poll_transmit() {
                    sent.push(p);
                }
                break;
            }
        }
        (c, sent)
    }
}

fn syns(sent: &[CheckPacket]) -> usize {
    sent.iter()
        .filter(
            |p| matches!(parse_captured(&p.datagram), Ok(Captured::Tcp(s)) if s.segment.flags.syn),
        )
        .count()
}

#[test]
fn a_proxy_on_hop_2_is_shown_and_located() {
    // The proxy's SYN/ACK comes from 2 hops: the implied distance is 2.
    let path = Path {
        target: 5,
        proxy: Some(2),
    };
    let (c, _) = path.run(2);
    let Some(InterceptionCheck::Intercepted(i)) = c.result() else {
        panic!("{:?}", c.result());
    };
    assert_eq!(i.answered_at, TimeToLive(2));
    assert_eq!(
        i.at,
        HopRef {
            ttl: TimeToLive(2),
            addr: Some(router(2))
        }
    );
    assert_eq!(
        i.after,
        HopRef {
            ttl: TimeToLive(1),
            addr: Some(router(1))
        }
    );
    assert_eq!(i.target_reached_at, Some(TimeToLive(5)));
    let beyond: Vec<u8> = i.routers_beyond.iter().map(|(t, _)| t.0).collect();
    assert_eq!(beyond, [2, 3, 4]);
}

#[test]
fn without_a_proxy_three_syns_settle_it() {
    let path = Path {
        target: 4,
        proxy: None,
    };
    let (c, sent) = path.run(4);
    assert!(
        matches!(c.result(), Some(InterceptionCheck::NotIntercepted(_))),
        "{:?}",
        c.result()
    );
    assert_eq!(syns(&sent), 2);
    // The SYN/ACK of port 25 was reset.
    assert!(sent.iter().any(
        |p| matches!(parse_captured(&p.datagram), Ok(Captured::Tcp(s)) if s.segment.flags.rst)
    ));
}

#[test]
fn a_shorter_return_path_is_followed_a_few_ttls_on() {
    // The SYN/ACK implies 3 hops, the server is at 5: port 25 is reached at TTL 5, where the
    // alt SYN is not stopped by a router either: no proxy.
    let path = Path {
        target: 5,
        proxy: None,
    };
    let (c, _) = path.run(3);
    assert!(
        matches!(c.result(), Some(InterceptionCheck::NotIntercepted(_))),
        "{:?}",
        c.result()
    );
    // A proxy at hop 4 whose SYN/ACK implies 3: found one TTL on.
    let path = Path {
        target: 6,
        proxy: Some(4),
    };
    let (c, _) = path.run(3);
    let Some(InterceptionCheck::Intercepted(i)) = c.result() else {
        panic!("{:?}", c.result());
    };
    assert_eq!(i.at.ttl, TimeToLive(4));
}

#[test]
fn silence_is_undetermined_not_a_verdict() {
    let mut c = InterceptCheckState::start(plan(3), Instant::now());
    while c.poll_transmit().is_some() {}
    c.on_timer(Instant::now() + WAIT * 2);
    assert!(matches!(
        c.result(),
        Some(InterceptionCheck::Undetermined(_))
    ));
}
