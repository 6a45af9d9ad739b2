//! The whole probe session (`reconmap_core::engine::Engine`: TCP, SMTP, the TTL sweep, quote
//! matching, the verdict and the record) against a network the input scripts: server segments
//! (in or out of sequence, any flags, SMTP replies or raw bytes), RSTs, ICMP errors quoting
//! what the prober sent (cut, mutated, of any type), raw packets, and the passing of time.
//!
//! Input: events until the input ends (at most 64), each an opcode byte then its fields:
//! - `0` reply: flags byte (bit 0 FIN, bit 1 no ACK), i8 seq and ack offsets, TTL, index into
//!   the SMTP reply dictionary;
//! - `1` data: as `0` but a length byte and that many raw payload bytes instead of the index;
//! - `2` SYN/ACK: TTL, i8 ack offset, options byte (MSS, window scale, SACK, timestamps);
//! - `3` RST: i8 seq offset, TTL;
//! - `4` ICMP error: which sent datagram (0 = the last), ICMP type, code, RFC 4884 length
//!   byte, quote length (u16), offset (u16) and XOR mask of one change, router (last octet);
//! - `5` raw packet: a length byte and that many bytes;
//! - anything else: time passes, a u16 of milliseconds (timers run in order).
//!
//! Then time runs on until the engine is done.
//!
//! Properties: no panic anywhere (libFuzzer aborts on a panic even inside the engine's panic
//! boundary); the run ends, with exactly one record for the target, complete; the record
//! builds in every output format.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reconmap_core::engine::{
    Arrival, Engine, PortAllocator, PortRange, ProbeConfig, RunPlan, RunStats, SinkError, Target,
    Transport, TransportError,
};
use reconmap_core::evidence::Evidence;
use reconmap_core::report::{render_table, to_csv_row, to_json, Report};
use reconmap_fuzz::Input;
use reconmap_wire::{
    build_ipv4_tcp, parse_captured, Captured, FlowAddrs, IpId, IpParams, SeqNumber, TcpFlags,
    TcpOptions, TcpSegment, TimeToLive,
};
use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PROBER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const SERVER: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 25), 25);
const MAX_EVENTS: usize = 64;
/// Sent datagrams kept for quoting.
const KEEP_SENT: usize = 64;

/// What servers and boxes say (Postfix, PIX, hostile servers).
const REPLIES: [&[u8]; 14] = [
    b"220 mx.lab.example ESMTP ReconMap lab\r\n",
    b"250-mx.lab.example\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250 CHUNKING\r\n",
    b"220 2.0.0 Ready to start TLS\r\n",
    b"500 5.5.2 Error: command not recognized\r\n",
    b"500 5.5.1 Command unrecognized: \"XXXXXXXX\"\r\n",
    b"221 2.0.0 Bye\r\n",
    b"421 4.7.0 Try again later\r\n",
    b"220 ** ****2***0*** ***** ****\r\n",
    b"250-mx.lab.example\r\n250-PIPELINING\r\n250-XXXXXXXA\r\n250 8BITMIME\r\n",
    b"502 5.5.1 Error: command not implemented\r\n",
    b"250 mx.lab.example\r\n",
    b"220 hostile.lab ESMTP\r\nabc\r\n",
    b"220-***** ***2**0*\r\n220 hostile.lab ESMTP\r\n",
    b"454 4.7.0 TLS not available due to local problem\r\n",
];

/// A network that delivers what the input says and keeps what the prober sent.
struct ScriptedNet {
    now: Instant,
    registered: HashSet<FlowAddrs>,
    sent: Vec<Vec<u8>>,
    inbox: Vec<Arrival>,
}

impl Transport for ScriptedNet {
    fn register(&mut self, flow: FlowAddrs) -> Result<(), TransportError> {
        self.registered.insert(flow);
        Ok(())
    }

    fn unregister(&mut self, flow: FlowAddrs) {
        self.registered.remove(&flow);
    }

    fn send(&mut self, datagram: &[u8], _dst: Ipv4Addr) -> Result<(), TransportError> {
        if self.sent.len() == KEEP_SENT {
            self.sent.remove(0);
        }
        self.sent.push(datagram.to_vec());
        Ok(())
    }

    fn recv(&mut self, out: &mut Vec<Arrival>, max: usize) -> usize {
        let n = self.inbox.len().min(max);
        out.extend(self.inbox.drain(..n));
        n
    }

    fn capacity(&self) -> usize {
        16
    }

    fn now(&self) -> Instant {
        self.now
    }
}

/// The server's side of the connection, as far as the script needs it.
#[derive(Default)]
struct Server {
    /// The prober's flow, once it sent its SYN.
    flow: Option<FlowAddrs>,
    /// The server's next sequence number (after its SYN/ACK).
    snd_nxt: u32,
    /// What the prober sent last, as far as in sequence (its next sequence number).
    rcv_nxt: u32,
}

impl Server {
    /// Learns the flow and the prober's sequence numbers from what it sent.
    fn learn(&mut self, sent: &[Vec<u8>]) {
        for d in sent {
            if let Ok(Captured::Tcp(s)) = parse_captured(d) {
                self.flow = Some(FlowAddrs {
                    local: s.src,
                    remote: s.dst,
                });
                let end = s
                    .segment
                    .seq
                    .0
                    .wrapping_add(u32::try_from(s.segment.seq_len()).unwrap_or(0));
                if s.segment.flags.syn || end.wrapping_sub(self.rcv_nxt) as i32 > 0 {
                    self.rcv_nxt = end;
                }
            }
        }
    }

    fn segment(&self, seg: &TcpSegment, ttl: u8) -> Option<Vec<u8>> {
        let flow = self.flow?;
        let back = FlowAddrs {
            local: flow.remote,
            remote: flow.local,
        };
        build_ipv4_tcp(&back, &IpParams::new(TimeToLive(ttl), IpId(0)), seg).ok()
    }
}

fn offset(base: u32, delta: u8) -> u32 {
    base.wrapping_add_signed(i32::from(delta as i8))
}

/// One round of the engine, as `reconmap_core::sim::run` does it.
fn step(
    engine: &mut Engine,
    net: &mut ScriptedNet,
    targets: &mut dyn Iterator<Item = Target>,
    sink: &mut Vec<Evidence>,
) {
    let now = net.now;
    let mut sink_fn = |e: Evidence, _: &RunStats| -> Result<(), SinkError> {
        sink.push(e);
        Ok(())
    };
    engine.retire(now, net);
    engine
        .admit(now, targets, net, &mut sink_fn)
        .expect("admit");
    engine.flush(now, net);
    let mut arrivals = Vec::new();
    net.recv(&mut arrivals, usize::MAX);
    engine
        .on_arrivals(&mut arrivals, &mut sink_fn)
        .expect("arrivals");
    engine.on_timers(now, &mut sink_fn).expect("timers");
    engine.flush(now, net);
}

/// Lets time pass until `until`, waking the engine at each of its timers on the way.
fn advance(
    engine: &mut Engine,
    net: &mut ScriptedNet,
    targets: &mut dyn Iterator<Item = Target>,
    sink: &mut Vec<Evidence>,
    until: Instant,
) {
    for _ in 0..10_000 {
        match engine.poll_at(net.now) {
            Some(t) if t <= until => {
                net.now = t.max(net.now);
                step(engine, net, targets, sink);
                if t <= net.now && engine.poll_at(net.now) == Some(t) {
                    // A timer that does not move would spin: let the clock move on.
                    net.now += Duration::from_millis(1);
                }
            }
            _ => break,
        }
    }
    net.now = net.now.max(until);
    step(engine, net, targets, sink);
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let start = Instant::now();
    let mut net = ScriptedNet {
        now: start,
        registered: HashSet::new(),
        sent: Vec::new(),
        inbox: Vec::new(),
    };
    let mut engine = Engine::new(
        Arc::new(ProbeConfig::default()),
        RunPlan::default(),
        PROBER,
        PortAllocator::new(PortRange::default(), HashSet::new()),
        7,
        start,
    );
    let mut targets = std::iter::once(Target::addr(SERVER));
    let mut records = Vec::new();
    step(&mut engine, &mut net, &mut targets, &mut records);
    let mut server = Server::default();

    for _ in 0..MAX_EVENTS {
        let Some(&op) = input.take(1).first() else {
            break;
        };
        server.learn(&net.sent);
        let packet = match op {
            0 | 1 => {
                let flags = input.u8();
                let (ds, da, ttl) = (input.u8(), input.u8(), input.u8());
                let payload = if op == 0 {
                    REPLIES[usize::from(input.u8()) % REPLIES.len()].to_vec()
                } else {
                    let n = usize::from(input.u8());
                    input.take(n).to_vec()
                };
                let fin = flags & 1 != 0;
                let seg = TcpSegment {
                    seq: SeqNumber(offset(server.snd_nxt, ds)),
                    ack: SeqNumber(offset(server.rcv_nxt, da)),
                    flags: TcpFlags {
                        fin,
                        ack: flags & 2 == 0,
                        psh: !payload.is_empty(),
                        ..TcpFlags::default()
                    },
                    window: 65535,
                    options: TcpOptions::default(),
                    payload: payload.into(),
                };
                if ds == 0 {
                    server.snd_nxt = server
                        .snd_nxt
                        .wrapping_add(u32::try_from(seg.seq_len()).unwrap_or(0));
                }
                server.segment(&seg, ttl)
            }
            2 => {
                let (ttl, da, o) = (input.u8(), input.u8(), input.u8());
                server.snd_nxt = 77_000_000;
                let seg = TcpSegment {
                    seq: SeqNumber(server.snd_nxt),
                    ack: SeqNumber(offset(server.rcv_nxt, da)),
                    flags: TcpFlags {
                        syn: true,
                        ack: true,
                        ..TcpFlags::default()
                    },
                    window: 65160,
                    options: TcpOptions {
                        mss: (o & 1 != 0).then_some(1460),
                        window_scale: (o & 2 != 0).then_some(7),
                        sack_permitted: o & 4 != 0,
                        timestamps: (o & 8 != 0).then_some((1, 0)),
                    },
                    payload: Vec::new().into(),
                };
                server.snd_nxt = server.snd_nxt.wrapping_add(1);
                server.segment(&seg, ttl)
            }
            3 => {
                let (ds, ttl) = (input.u8(), input.u8());
                let seg = TcpSegment {
                    seq: SeqNumber(offset(server.snd_nxt, ds)),
                    flags: TcpFlags {
                        rst: true,
                        ..TcpFlags::default()
                    },
                    ..TcpSegment::default()
                };
                server.segment(&seg, ttl)
            }
            4 => {
                let back = usize::from(input.u8());
                let (kind, code, words) = (input.u8(), input.u8(), input.u8());
                let (len, at, mask) = (
                    usize::from(input.u16()),
                    usize::from(input.u16()),
                    input.u8(),
                );
                let router = Ipv4Addr::new(203, 0, 113, input.u8());
                let index = net.sent.len().checked_sub(1 + back % KEEP_SENT);
                index.and_then(|i| net.sent.get(i)).map(|sent| {
                    let mut quote = sent.clone();
                    if let Some(t) = quote.get_mut(8) {
                        *t = 1;
                    }
                    if let Some(b) = quote.get_mut(at) {
                        *b ^= mask;
                    }
                    quote.truncate(len);
                    let mut icmp = vec![kind, code, 0, 0, 0, words, 0, 0];
                    icmp.extend_from_slice(&quote);
                    reconmap_core::scenario::forge::ip_datagram(router, PROBER, 1, &icmp)
                        .unwrap_or_default()
                })
            }
            5 => {
                let n = usize::from(input.u8());
                Some(input.take(n).to_vec())
            }
            _ => {
                let until = net.now + Duration::from_millis(u64::from(input.u16()));
                advance(&mut engine, &mut net, &mut targets, &mut records, until);
                None
            }
        };
        if let Some(data) = packet {
            net.inbox.push(Arrival { at: net.now, data });
            step(&mut engine, &mut net, &mut targets, &mut records);
        }
    }

    // Nothing more arrives: the session must end by its own timers.
    for _ in 0..1_000 {
        if engine.is_finished(false) {
            break;
        }
        let Some(t) = engine.poll_at(net.now) else {
            break;
        };
        advance(&mut engine, &mut net, &mut targets, &mut records, t);
    }
    assert!(
        engine.is_finished(false),
        "the engine neither finished nor has a timer left: {:?}",
        engine.stats()
    );
    engine.shutdown(&mut net);

    assert_eq!(records.len(), 1, "records: {records:#?}");
    let e = records.remove(0);
    assert_eq!(e.target, SERVER);
    assert!(e.incomplete.is_none(), "incomplete: {:?}", e.incomplete);
    let r = Report::build(e);
    let _ = (
        to_json(&r).expect("json"),
        render_table(&r, false),
        to_csv_row(&r),
    );
    if std::env::var_os("RECONMAP_FUZZ_SHOW").is_some() {
        eprintln!("{}", render_table(&r, false));
    }
});
