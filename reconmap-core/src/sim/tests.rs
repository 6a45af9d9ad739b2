//! Every scenario file, in the simulator, must give its stated truth (the lab's end-to-end tests
//! check the same files against real routers and Postfix).
use super::*;
use crate::engine::{
    Engine, PortAllocator, PortRange, ProbeConfig, RunPlan, RunStats, SinkError, Target,
};
use crate::evidence::Evidence;
use crate::report::{HopPayload, Report};
use crate::scenario::truth::Observed;
use crate::verdict::Verdict;
use std::collections::HashSet;
use std::net::SocketAddrV4;
use std::sync::Arc;

/// Runs `targets` of `scenario` through a fresh engine on a fresh simulated network.
pub(crate) fn simulate(
    scenario: &Scenario,
    targets: &[SocketAddrV4],
    cfg: ProbeConfig,
    plan: RunPlan,
) -> (Vec<Evidence>, RunStats, SimNet) {
    let mut net = SimNet::new(scenario, 1 << 16, 11);
    let mut engine = Engine::new(
        Arc::new(cfg),
        plan,
        scenario.prober_addr(),
        PortAllocator::new(PortRange::default(), HashSet::new()),
        5,
        net.now(),
    );
    let mut out = Vec::new();
    let mut sink = |e: Evidence, _: &RunStats| -> Result<(), SinkError> {
        out.push(e);
        Ok(())
    };
    let stats = run(
        &mut engine,
        &mut net,
        targets.iter().map(|&addr| Target::addr(addr)),
        &[],
        &mut sink,
    )
    .expect("run");
    (out, stats, net)
}

fn one(name: &str, cfg: ProbeConfig) -> (Report, SimNet) {
    let s = Scenario::builtin(name).expect("scenario");
    let (mut ev, _, net) = simulate(&s, &[s.target()], cfg, RunPlan::default());
    assert_eq!(ev.len(), 1);
    (Report::build(ev.remove(0)), net)
}

fn segment(r: &Report) -> (Option<u8>, Option<u8>) {
    (
        r.segment.as_ref().map(|s| s.after.ttl.0),
        r.segment
            .as_ref()
            .and_then(|s| s.at.as_ref().map(|a| a.ttl.0)),
    )
}

/// The difference between a report and the truth, with the report, if any.
fn truth_error(s: &Scenario, r: &Report) -> Result<(), String> {
    let seen = Observed::from_report(r)?;
    s.check(&seen).map_err(|e| format!("{e}\n{r:#?}"))
}

#[test]
fn every_scenario_gives_its_truth_in_the_simulator() {
    let all = Scenario::all().expect("scenarios");
    assert!(all.len() >= 14, "{} scenarios", all.len());
    let mut wrong = Vec::new();
    for s in &all {
        // Scenarios with many targets: a spread of them, both halves of `many`.
        let targets: Vec<SocketAddrV4> = {
            let t = s.targets();
            let step = (t.len() / 40).max(1);
            t.iter().step_by(step).map(|(a, _)| *a).collect()
        };
        let plan = RunPlan {
            concurrency: 16,
            rate: None,
        };
        let (ev, stats, net) = simulate(s, &targets, ProbeConfig::default(), plan);
        assert_eq!(ev.len(), targets.len(), "{}: one record per target", s.name);
        assert_eq!(stats.incomplete(), 0, "{}: {stats:?}", s.name);
        let annotator = s.as_annotator();
        for e in ev {
            let mut r = Report::build(e);
            annotator.annotate(&mut r);
            if let Err(e) = truth_error(s, &r) {
                wrong.push(e);
            }
        }
        if net.open_connections() != 0 {
            wrong.push(format!(
                "{}: {} sessions left their connection open at the server",
                s.name,
                net.open_connections()
            ));
        }
    }
    let names: Vec<&str> = wrong.iter().filter_map(|w| w.lines().next()).collect();
    assert!(
        wrong.is_empty(),
        "{}\n\n{}",
        names.join("\n"),
        wrong.join("\n\n")
    );
}

#[test]
fn clean_path_is_clean_within_five_rtts() {
    let (r, net) = one("wide-area", ProbeConfig::default());
    assert_eq!(r.verdict, Verdict::Stripped);
    let (r, _) = one("clean", ProbeConfig::default());
    assert_eq!(r.verdict, Verdict::Clean);
    assert!(r.hops.iter().all(|h| h.payload == HopPayload::Intact));
    // Handshake, banner, EHLO, one sweep round: about four path RTTs.
    let wide = Scenario::builtin("wide-area").expect("scenario");
    let (ev, _, net2) = simulate(
        &wide,
        &[wide.target()],
        ProbeConfig::default(),
        RunPlan::default(),
    );
    let verdict_at = ev[0].timeline.verdict.expect("verdict time");
    assert!(
        verdict_at <= net2.rtt() * 5,
        "{verdict_at:?} vs rtt {:?}",
        net2.rtt()
    );
    drop(net);
}

#[test]
fn rewritten_ip_ids_cost_one_rtt_per_hop_probed_again_not_a_timeout() {
    // Virtual time: path RTTs as the simulator counts them, not a wall-clock figure.
    let s = Scenario::builtin("wide-area-ipid").expect("scenario");
    let (ev, _, net) = simulate(
        &s,
        &[s.target()],
        ProbeConfig::default(),
        RunPlan::default(),
    );
    let r = Report::build(ev[0].clone());
    let reprobed = r
        .hops
        .iter()
        .filter(|h| h.matched_by == Some(crate::evidence::ProbeMatch::Sequential))
        .count();
    assert_eq!(reprobed, 3, "{}", crate::report::render_table(&r, false));
    let verdict_at = ev[0].timeline.verdict.expect("verdict time");
    let rtts = verdict_at.as_secs_f64() / net.rtt().as_secs_f64();
    assert!(rtts <= 6.0 + reprobed as f64, "{rtts:.2} path RTTs");
    eprintln!("wide-area-ipid: verdict after {rtts:.2} path RTTs, {reprobed} hops probed again");
}

#[test]
fn a_silent_hop_gets_its_retries_and_widens_the_segment() {
    let (r, _) = one("silent-after", ProbeConfig::default());
    assert_eq!(segment(&r), (Some(2), Some(4)));
    assert_eq!(r.hops[2].payload, HopPayload::None);
    assert_eq!(r.hops[2].attempts, 3, "a silent hop gets its retries");
}

#[test]
fn a_header_only_quote_locates_the_rewrite_by_its_checksum() {
    let (r, _) = one("short-quote-after", ProbeConfig::default());
    assert_eq!(r.hops[2].payload, HopPayload::ChecksumChanged);
    assert_eq!(r.hops[2].quote_len, Some(40));
    let sums = r.hops[2].checksum.as_ref().expect("checksums");
    assert_ne!(sums.sent, sums.quoted);
    assert_eq!(sums.sent, sums.expected);
    // Postfix does not echo an unknown command: inferred, not confirmed.
    assert_eq!(sums.confirmed_by, None);
    assert!(
        r.reason.contains("not confirmed by an echo"),
        "{}",
        r.reason
    );
    // A server that echoes it (as Exim and Sendmail do) confirms it.
    let (r, _) = one("short-quote-echo", ProbeConfig::default());
    assert_eq!(r.verdict, Verdict::Stripped);
    let sums = r.hops[2].checksum.as_ref().expect("checksums");
    assert_eq!(sums.confirmed_by.as_deref(), Some("XXXXXXXX"));
    assert!(
        r.reason.contains("confirmed: the server's echo"),
        "{}",
        r.reason
    );
}

#[test]
fn an_rfc792_quote_hop_is_short_and_widens_the_segment() {
    let (r, _) = one("rfc792-quote-after", ProbeConfig::default());
    assert_eq!(r.hops[2].payload, HopPayload::Short);
    assert_eq!(r.hops[2].quote_len, Some(28));
}

#[test]
fn a_dropping_box_blocks_with_the_segment_unacknowledged() {
    let cfg = ProbeConfig {
        starttls_timeout: std::time::Duration::from_secs(2),
        ..ProbeConfig::default()
    };
    let (r, _) = one("drop", cfg);
    assert_eq!(r.verdict, Verdict::Blocked);
    assert!(r.tcp.starttls_unacked);
    assert_eq!(r.rule, "starttls_dropped");
    // Hop 3 never saw STARTTLS but answered the control segment.
    let control = r.hops[2]
        .control
        .as_ref()
        .expect("a control was sent to hop 3");
    assert!(control.addr.is_some());
    assert_eq!(r.hops[2].payload, HopPayload::None);
    assert!(r.hops[3].control.as_ref().and_then(|c| c.addr).is_some());
}

#[test]
fn an_injected_reset_is_told_from_the_server_by_its_ttl() {
    let (r, _) = one("reset", ProbeConfig::default());
    assert_eq!(r.verdict, Verdict::Blocked);
    assert_eq!(r.rule, "starttls_reset");
    let rst = r.tcp.rsts.first().expect("a RST");
    assert_ne!(Some(rst.ttl), r.tcp.server_ttl);
    assert!(r.evidence.iter().any(|e| e.contains("likely injected")));
}

#[test]
#[ignore = "prints tables for a look; run with --ignored --nocapture"]
fn print_tables() {
    for name in std::env::var("SCENARIOS").unwrap_or_default().split(',') {
        if name.is_empty() {
            continue;
        }
        let (r, _) = one(name, ProbeConfig::default());
        println!("== {name}\n{}", crate::report::render_table(&r, false));
        println!("{}", crate::report::to_json(&r).unwrap_or_default());
    }
}

/// What a hop after a rewriting box shows, by how much it quotes, with and without TCP
/// timestamps (the data behind keeping them: docs/output.md, "Real paths").
#[test]
fn what_each_quote_length_shows_with_and_without_timestamps() {
    use HopPayload::{ChecksumChanged as Sum, Modified as Seen, Short};
    let expect: [(u16, HopPayload, HopPayload); 8] = [
        (28, Short, Short),
        (38, Sum, Sum),
        (40, Sum, Sum),
        (44, Sum, Seen),
        (48, Sum, Seen),
        (52, Sum, Seen),
        (56, Seen, Seen),
        (64, Seen, Seen),
    ];
    for (len, with_ts, without_ts) in expect {
        let s = Scenario::from_toml(&format!(
            r#"
            name = "q{len}"
            description = "quote length {len}"
            hops = [{{}}, {{ middlebox = {{ behaviour = "mailguard" }} }}, {{ quote_bytes = {len} }}, {{}}]
            expect = {{ verdict = "stripped", segment_after = 2 }}
            "#
        ))
        .expect("scenario");
        for (ts, want) in [(true, with_ts), (false, without_ts)] {
            let cfg = ProbeConfig {
                tcp_timestamps: ts,
                ..ProbeConfig::default()
            };
            let (mut ev, _, _) = simulate(&s, &[s.target()], cfg, RunPlan::default());
            let r = Report::build(ev.remove(0));
            // The probe is 62 bytes with timestamps, 50 without.
            let whole = if ts { 62 } else { 50 };
            assert_eq!(r.hops[2].quote_len, Some(usize::from(len).min(whole)));
            assert_eq!(r.hops[2].payload, want, "{len} bytes, timestamps {ts}");
            assert_eq!(r.verdict, Verdict::Stripped);
            let located = want != Short;
            assert_eq!(segment(&r), (Some(2), Some(if located { 3 } else { 4 })));
        }
    }
}

#[test]
fn mpls_lsr_hops_carry_their_label_stacks_and_the_truth_holds() {
    let s = Scenario::builtin("mpls-core").expect("scenario");
    let (r, _) = one("mpls-core", ProbeConfig::default());
    truth_error(&s, &r).unwrap_or_else(|e| panic!("{e}"));
    let stacks: Vec<Vec<(u32, bool, u8)>> = r
        .hops
        .iter()
        .map(|h| h.mpls.iter().map(|l| (l.label, l.bottom, l.ttl)).collect())
        .collect();
    assert_eq!(
        stacks,
        vec![
            vec![],
            vec![(16004, true, 1)],
            vec![(24001, false, 1), (16005, true, 1)],
            vec![],
            vec![],
        ]
    );
    // The LSRs pad their quote to 128 bytes (RFC 4884): the padding is not quote, and the
    // payload reads intact.
    assert_eq!(r.hops[1].quote_len, r.hops[0].quote_len);
    assert_eq!(r.hops[1].payload, HopPayload::Intact);
    assert!(r.hops.iter().all(|h| h.icmp_extension_error.is_none()));
    let table = crate::report::render_table(&r, false);
    assert!(table.contains("MPLS L=24001,16005"), "{table}");
}

#[test]
fn an_lsr_that_quotes_short_and_pads_to_128_bytes_shows_no_change() {
    // RFC 4884 pads a 28- or 40-byte quote with zeros to 128 bytes: zeros where the TCP
    // header or STARTTLS would be must not read as a change at the LSR.
    for (kind, quoted) in [("rfc792-quote", 28), ("short-quote", 40)] {
        let s = Scenario::from_toml(&format!(
            "name = \"x\"\ndescription = \"d\"\n\
             hops = [{{}}, {{ router = \"{kind}\", mpls_labels = [16004] }}, \
             {{ middlebox = {{ behaviour = \"mailguard\" }} }}, {{}}]\n\
             expect = {{ verdict = \"stripped\", segment_after = 3, segment_at = 4 }}"
        ))
        .expect("scenario");
        let (mut ev, _, _) = simulate(
            &s,
            &[s.target()],
            ProbeConfig::default(),
            RunPlan::default(),
        );
        let r = Report::build(ev.remove(0));
        let lsr = &r.hops[1];
        assert_eq!(lsr.mpls.len(), 1, "{kind}");
        // What the router quoted, but for trailing zero bytes (the 40-byte quote ends with the
        // urgent pointer, 0, which goes with the padding).
        assert!(
            lsr.quote_len.is_some_and(|n| n <= quoted && n + 4 > quoted),
            "{kind}: {:?}",
            lsr.quote_len
        );
        // 28 bytes show no checksum; 40 (less the padding's zeros) show it unchanged.
        let want = if quoted == 28 {
            HopPayload::Short
        } else {
            HopPayload::ChecksumUnchanged
        };
        assert_eq!(lsr.payload, want, "{kind}");
        assert!(lsr.changes.is_empty(), "{kind}: {:?}", lsr.changes);
        truth_error(&s, &r).unwrap_or_else(|e| panic!("{e}"));
    }
}
