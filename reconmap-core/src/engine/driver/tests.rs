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
