//! The engine's run logic on the simulated network: admission under back-pressure, drain and
//! abort, the retire grace, the stop set, pacing and the panic boundary, without root.
use super::*;
use crate::engine::{PortRange, SinkError};
use crate::scenario::Scenario;
use crate::sim::{run, SimNet, Stop};
use crate::verdict::{decide, Verdict};
use std::collections::HashSet;

struct Run {
    evidence: Vec<Evidence>,
    stats: RunStats,
    net: SimNet,
    /// Virtual time the run took.
    took: Duration,
}

fn targets_of(s: &Scenario, n: usize) -> Vec<Target> {
    let all = s.targets();
    let step = (all.len() / n).max(1);
    all.iter()
        .step_by(step)
        .take(n)
        .map(|(addr, _)| Target::addr(*addr))
        .collect()
}

fn run_with(
    scenario: &str,
    targets: Option<Vec<Target>>,
    plan: RunPlan,
    capacity: usize,
    ports: PortRange,
    cfg: ProbeConfig,
    stops: &[Stop],
) -> Run {
    let s = Scenario::builtin(scenario).expect("scenario");
    let targets = targets.unwrap_or_else(|| vec![Target::addr(s.target())]);
    let mut net = SimNet::new(&s, capacity, 3);
    let mut engine = Engine::new(
        Arc::new(cfg),
        plan,
        s.prober_addr(),
        PortAllocator::new(ports, HashSet::new()),
        9,
        net.now(),
    );
    let mut evidence = Vec::new();
    let mut sink = |e: Evidence, _: &RunStats| -> Result<(), SinkError> {
        evidence.push(e);
        Ok(())
    };
    let start = net.now();
    let stats = run(&mut engine, &mut net, targets, stops, &mut sink).expect("run");
    Run {
        evidence,
        stats,
        took: net.now().duration_since(start),
        net,
    }
}

fn plan(concurrency: usize, rate: Option<f64>) -> RunPlan {
    RunPlan { concurrency, rate }
}

fn truth_holds(s: &Scenario, e: &Evidence) {
    let d = decide(e);
    let want = s.expected_for(*e.target.ip()).expect("served");
    assert_eq!(d.verdict, want.verdict, "{}: {d:?}", e.target);
}

#[test]
fn a_full_flow_table_makes_admission_wait_never_skip() {
    let s = Scenario::builtin("many").expect("many");
    let targets = targets_of(&s, 200);
    let r = run_with(
        "many",
        Some(targets.clone()),
        plan(8, None),
        8,
        PortRange::default(),
        ProbeConfig::default(),
        &[],
    );
    assert_eq!(r.evidence.len(), 200, "one record per target");
    let seen: HashSet<_> = r.evidence.iter().map(|e| e.target).collect();
    assert_eq!(seen.len(), 200, "no target twice");
    assert_eq!(
        r.stats.not_probed + r.stats.incomplete(),
        0,
        "{:?}",
        r.stats
    );
    assert!(r.stats.capacity_waits > 0, "the table was full at times");
    assert!(r.net.stats().max_registered <= 8);
    for e in &r.evidence {
        truth_holds(&s, e);
    }
}

#[test]
fn every_port_taken_toward_a_target_makes_it_wait_its_turn() {
    // One source port only, the same target three times: each waits for the port to come back
    // (after the previous flow's grace).
    let s = Scenario::builtin("clean").expect("clean");
    let t = Target::addr(s.target());
    let r = run_with(
        "clean",
        Some(vec![t.clone(), t.clone(), t]),
        plan(4, None),
        1024,
        "61000-61000".parse().expect("range"),
        ProbeConfig::default(),
        &[],
    );
    assert_eq!(r.evidence.len(), 3);
    assert!(r
        .evidence
        .iter()
        .all(|e| decide(e).verdict == Verdict::Clean));
    assert!(r.stats.capacity_waits >= 2, "{:?}", r.stats);
    // The flows never overlapped: one registered at a time.
    assert_eq!(r.net.stats().max_registered, 1);
}

#[test]
fn finished_flows_stay_registered_for_the_grace() {
    let s = Scenario::builtin("many").expect("many");
    let r = run_with(
        "many",
        Some(targets_of(&s, 2)),
        plan(1, None),
        1024,
        PortRange::default(),
        ProbeConfig::default(),
        &[],
    );
    assert_eq!(r.evidence.len(), 2);
    // The second session started while the first one's flows (its own and the two of its
    // interception check) were still in their grace.
    assert_eq!(r.net.stats().max_registered, 2 * 3);
    assert!(r.evidence.iter().all(|e| matches!(
        e.interception,
        crate::evidence::InterceptionCheck::NotIntercepted(_)
    )));
}

#[test]
fn drain_stops_admissions_and_lets_sessions_in_flight_finish() {
    // A path with delay, so sessions are still in flight when the drain comes.
    let s = Scenario::builtin("wide-area").expect("wide-area");
    let r = run_with(
        "wide-area",
        Some(vec![Target::addr(s.target()); 100]),
        plan(10, None),
        1024,
        PortRange::default(),
        ProbeConfig::default(),
        &[Stop {
            after: Duration::from_millis(1),
            level: StopLevel::Drain,
        }],
    );
    // Only the first wave started; every one of them finished with a real verdict.
    assert_eq!(r.evidence.len(), 10, "{:?}", r.stats);
    assert_eq!(r.stats.incomplete(), 0);
    for e in &r.evidence {
        truth_holds(&s, e);
    }
}

#[test]
fn abort_interrupts_sessions_and_resets_them_at_the_server() {
    let r = run_with(
        "wide-area",
        None,
        plan(1, None),
        1024,
        PortRange::default(),
        ProbeConfig::default(),
        // After the handshake (one RTT is 200 ms), before the verdict.
        &[Stop {
            after: Duration::from_millis(450),
            level: StopLevel::Abort,
        }],
    );
    assert_eq!(r.evidence.len(), 1);
    let e = &r.evidence[0];
    assert!(
        matches!(e.incomplete, Some(Incomplete::Interrupted(_))),
        "{e:?}"
    );
    assert_eq!(r.stats.interrupted, 1);
    assert_eq!(decide(e).rule, "interrupted");
    assert_eq!(r.net.open_connections(), 0, "our RST reached the server");
    assert!(r.net.stats().rsts_at_server >= 1);
}

#[test]
fn near_hops_are_learnt_once_and_reused() {
    let s = Scenario::builtin("many").expect("many");
    let r = run_with(
        "many",
        Some(targets_of(&s, 60)),
        plan(4, None),
        1024,
        PortRange::default(),
        ProbeConfig::default(),
        &[],
    );
    let shared = r
        .evidence
        .iter()
        .filter(|e| e.hops.iter().any(|h| h.shared))
        .count();
    assert!(shared > 20, "{shared} of 60 reused the stop set");
    for e in &r.evidence {
        truth_holds(&s, e);
    }
}

#[test]
fn pacing_holds_the_packet_rate() {
    let s = Scenario::builtin("many").expect("many");
    let r = run_with(
        "many",
        Some(targets_of(&s, 30)),
        plan(30, Some(200.0)),
        1024,
        PortRange::default(),
        ProbeConfig::default(),
        &[],
    );
    let pps = r.stats.packets as f64 / r.took.as_secs_f64();
    assert!(pps <= 200.0 * 1.05, "{pps:.0} pps over {:?}", r.took);
    // ...and the pace is not needlessly slow either.
    assert!(pps >= 200.0 * 0.5, "{pps:.0} pps over {:?}", r.took);
    assert!(r.stats.packets > 200, "{:?}", r.stats);
}

#[test]
fn a_panicking_session_is_recorded_and_the_run_goes_on() {
    let s = Scenario::builtin("many").expect("many");
    let targets = targets_of(&s, 10);
    let victim = targets[3].addr;
    let cfg = ProbeConfig {
        fault_panic_target: Some(victim),
        ..ProbeConfig::default()
    };
    let r = run_with(
        "many",
        Some(targets),
        plan(4, None),
        1024,
        PortRange::default(),
        cfg,
        &[],
    );
    assert_eq!(r.evidence.len(), 10);
    assert_eq!(r.stats.internal_errors, 1);
    for e in &r.evidence {
        if e.target == victim {
            assert!(matches!(e.incomplete, Some(Incomplete::InternalError(_))));
            assert_eq!(decide(e).rule, "internal_error");
        } else {
            truth_holds(&s, e);
        }
    }
}

#[test]
fn absurd_timeouts_do_not_panic_a_run() {
    // Issue: `--timeout 9223372036854775807` overflowed an Instant.
    let cfg = ProbeConfig {
        session_timeout: Duration::MAX,
        starttls_timeout: Duration::MAX,
        close_timeout: Duration::MAX,
        ..ProbeConfig::default()
    };
    let r = run_with(
        "clean",
        None,
        plan(1, None),
        1024,
        PortRange::default(),
        cfg,
        &[],
    );
    assert_eq!(r.evidence.len(), 1);
    assert_eq!(decide(&r.evidence[0]).verdict, Verdict::Clean);
}

/// A network whose arrivals the test writes; keeps what the engine sent.
struct ScriptedNet {
    now: Instant,
    sent: Vec<Vec<u8>>,
    inbox: Vec<crate::engine::Arrival>,
}

impl Transport for ScriptedNet {
    fn register(&mut self, _flow: FlowAddrs) -> Result<(), crate::engine::TransportError> {
        Ok(())
    }
    fn unregister(&mut self, _flow: FlowAddrs) {}
    fn send(&mut self, d: &[u8], _dst: Ipv4Addr) -> Result<(), crate::engine::TransportError> {
        self.sent.push(d.to_vec());
        Ok(())
    }
    fn recv(&mut self, out: &mut Vec<crate::engine::Arrival>, max: usize) -> usize {
        let n = self.inbox.len().min(max);
        out.extend(self.inbox.drain(..n));
        n
    }
    fn capacity(&self) -> usize {
        4
    }
    fn now(&self) -> Instant {
        self.now
    }
}

#[test]
fn a_handshake_answered_by_an_unreachable_ends_even_if_a_syn_ack_follows() {
    // Found by the engine_session fuzz target: an ICMP unreachable quoting the SYN closed the
    // session while TCP kept its SYN going; the SYN/ACK that followed revived SMTP, STARTTLS
    // moved the closing session back to sweeping with its close deadline past, and
    // `on_timers` rescheduled that deadline forever: the whole engine hung.
    use reconmap_wire::{
        build_ipv4_tcp, parse_captured, Captured, IpId, IpParams, SeqNumber, TcpFlags, TcpSegment,
        TimeToLive,
    };
    let target = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 25), 25);
    let start = Instant::now();
    let mut net = ScriptedNet {
        now: start,
        sent: Vec::new(),
        inbox: Vec::new(),
    };
    let mut engine = Engine::new(
        Arc::new(ProbeConfig::default()),
        RunPlan::default(),
        Ipv4Addr::new(198, 51, 100, 1),
        PortAllocator::new(PortRange::default(), HashSet::new()),
        1,
        start,
    );
    let mut records = Vec::new();
    let mut sink = |e: Evidence, _: &RunStats| -> Result<(), SinkError> {
        records.push(e);
        Ok(())
    };
    let mut targets = std::iter::once(Target::addr(target));
    engine
        .admit(start, &mut targets, &mut net, &mut sink)
        .expect("admit");
    engine.flush(start, &mut net);
    let syn = net.sent.first().cloned().expect("a SYN");
    let Ok(Captured::Tcp(s)) = parse_captured(&syn) else {
        panic!("the SYN parses")
    };
    let flow = FlowAddrs {
        local: s.src,
        remote: s.dst,
    };
    let server = FlowAddrs {
        local: flow.remote,
        remote: flow.local,
    };
    // 1. Port unreachable quoting the SYN, from a router.
    let icmp = crate::scenario::forge::ip_datagram(
        Ipv4Addr::new(203, 0, 113, 1),
        *flow.local.ip(),
        1,
        &[[3u8, 3, 0, 0, 0, 0, 0, 0].as_slice(), &syn].concat(),
    )
    .expect("icmp");
    // 2. Then the server's SYN/ACK and its banner, EHLO reply all the same.
    let isn = 5000u32;
    let seg = |seq: u32, syn: bool, payload: &'static [u8]| TcpSegment {
        seq: SeqNumber(seq),
        ack: s.segment.seq + 1,
        flags: TcpFlags {
            syn,
            ack: true,
            psh: !payload.is_empty(),
            ..TcpFlags::default()
        },
        window: 65535,
        payload: payload.into(),
        ..TcpSegment::default()
    };
    let banner: &[u8] = b"220 mx ESMTP\r\n";
    let ehlo: &[u8] = b"250-mx\r\n250 STARTTLS\r\n";
    let params = IpParams::new(TimeToLive(61), IpId(0));
    let packets = [
        icmp,
        build_ipv4_tcp(&server, &params, &seg(isn, true, b"")).expect("syn/ack"),
        build_ipv4_tcp(&server, &params, &seg(isn + 1, false, banner)).expect("banner"),
        build_ipv4_tcp(&server, &params, &seg(isn + 15, false, ehlo)).expect("ehlo"),
    ];
    for (i, data) in packets.into_iter().enumerate() {
        net.now = start + Duration::from_millis(10 * (i as u64 + 1));
        net.inbox.push(crate::engine::Arrival { at: net.now, data });
        let mut arrivals = Vec::new();
        net.recv(&mut arrivals, usize::MAX);
        engine
            .on_arrivals(&mut arrivals, &mut sink)
            .expect("arrivals");
        engine.on_timers(net.now, &mut sink).expect("timers");
        engine.flush(net.now, &mut net);
    }
    // Nothing else comes: the engine must finish by its timers, each of which moves time on.
    let mut rounds = 0;
    while !engine.is_finished(false) {
        let t = engine.poll_at(net.now).expect("a timer while not finished");
        assert!(t >= net.now || rounds == 0, "a timer in the past: {t:?}");
        net.now = net.now.max(t);
        engine.on_timers(net.now, &mut sink).expect("timers");
        engine.flush(net.now, &mut net);
        rounds += 1;
        assert!(rounds < 1000, "the engine does not finish");
    }
    assert_eq!(records.len(), 1);
    let d = decide(&records[0]);
    assert_eq!(d.verdict, Verdict::Unreachable, "{d:?}");
    assert!(
        !records[0].smtp.starttls_sent,
        "no STARTTLS after giving up"
    );
}

#[test]
fn a_session_whose_timer_never_advances_is_ended_and_the_run_goes_on() {
    // The guard behind the fix above: a session that keeps asking to be woken in the past is
    // an internal error of that session, not a hang of the engine.
    let s = Scenario::builtin("many").expect("many");
    let targets = targets_of(&s, 6);
    let victim = targets[2].addr;
    let cfg = ProbeConfig {
        fault_stuck_timer_target: Some(victim),
        ..ProbeConfig::default()
    };
    let r = run_with(
        "many",
        Some(targets),
        plan(3, None),
        1024,
        PortRange::default(),
        cfg,
        &[],
    );
    assert_eq!(r.evidence.len(), 6);
    assert_eq!(r.stats.internal_errors, 1, "{:?}", r.stats);
    for e in &r.evidence {
        if e.target == victim {
            let d = decide(e);
            assert_eq!(d.rule, "internal_error");
            assert!(d.reason.contains("does not advance"), "{}", d.reason);
        } else {
            truth_holds(&s, e);
        }
    }
}
