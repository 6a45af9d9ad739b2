//! TLS in the simulator: the TLS boxes on the path (alone and through the engine, at both
//! placements) and the server's profiles as the engine meets them.
use super::path::{rewrite_first_suite, starts_tls_handshake, TLS_REWRITE_SUITE};
use super::tests::simulate;
use crate::engine::{ProbeConfig, RunPlan};
use crate::report::Report;
use crate::scenario::truth::Observed;
use crate::scenario::Scenario;
use crate::verdict::Verdict;
use bytes::Bytes;
use reconmap_tls::{TlsLimits, TlsProbe, TlsProbeConfig};
use reconmap_wire::{build_ipv4_tcp, FlowAddrs, IpId, IpParams, TcpSegment, TimeToLive};
use std::time::{Instant, SystemTime};

/// A client segment toward `port` carrying `payload`.
fn segment(port: u16, payload: &[u8]) -> Vec<u8> {
    let flow = FlowAddrs {
        local: "198.51.100.1:40000".parse().expect("addr"),
        remote: format!("192.0.2.25:{port}").parse().expect("addr"),
    };
    let seg = TcpSegment {
        payload: Bytes::copy_from_slice(payload),
        ..TcpSegment::default()
    };
    build_ipv4_tcp(&flow, &IpParams::new(TimeToLive(64), IpId(1)), &seg).expect("datagram")
}

/// The ClientHello the engine's TLS probe sends.
fn client_hello() -> Vec<u8> {
    let cfg = TlsProbeConfig::new(TlsLimits::default()).expect("config");
    TlsProbe::new(&cfg, None, Instant::now(), SystemTime::now())
        .expect("probe")
        .outgoing()
}

fn checksum_ok(pkt: &[u8]) -> bool {
    let stored = u16::from_be_bytes([pkt[36], pkt[37]]);
    reconmap_wire::tcp_checksum(pkt) == Some(stored)
}

#[test]
fn tls_boxes_see_client_hellos_toward_port_25_only() {
    let hello = client_hello();
    assert!(starts_tls_handshake(&segment(25, &hello)));
    assert!(!starts_tls_handshake(&segment(587, &hello)));
    assert!(!starts_tls_handshake(&segment(25, b"STARTTLS\r\n")));
    // The sweep's control segments: zeros.
    assert!(!starts_tls_handshake(&segment(25, &vec![0; hello.len()])));
    // Application data, and a record header with an impossible minor version.
    assert!(!starts_tls_handshake(&segment(25, &[0x17, 3, 3, 0, 1, 0])));
    assert!(!starts_tls_handshake(&segment(25, &[0x16, 3, 5, 0, 1, 0])));
    assert!(starts_tls_handshake(&segment(25, &[0x16, 3, 1])));
}

#[test]
fn tls_rewrite_replaces_the_first_suite_only_and_fixes_the_checksum() {
    let hello = client_hello();
    let mut pkt = segment(25, &hello);
    assert!(rewrite_first_suite(&mut pkt, TLS_REWRITE_SUITE));
    assert!(checksum_ok(&pkt));
    let payload = &pkt[40..];
    let sid = usize::from(hello[43]);
    let at = 5 + 4 + 34 + 1 + sid + 2;
    let changed: Vec<usize> = (0..hello.len())
        .filter(|&i| payload[i] != hello[i])
        .collect();
    assert_eq!(changed, vec![at, at + 1], "only the first suite's bytes");
    assert_eq!(payload[at..at + 2], [0x00, 0x2f]);
    assert_eq!(
        payload[at + 2..at + 4],
        hello[at + 2..at + 4],
        "the second suite stays"
    );
    assert!(
        !rewrite_first_suite(&mut pkt, TLS_REWRITE_SUITE),
        "already rewritten"
    );
}

#[test]
fn tls_rewrite_leaves_a_hello_cut_before_its_suites_alone() {
    let hello = client_hello();
    let sid = usize::from(hello[43]);
    for cut in 0..5 + 4 + 34 + 1 + sid + 4 {
        let mut pkt = segment(25, &hello[..cut]);
        let before = pkt.clone();
        assert!(
            !rewrite_first_suite(&mut pkt, TLS_REWRITE_SUITE),
            "cut {cut}"
        );
        assert_eq!(pkt, before);
    }
}

/// A 4-router path with `behaviour` at router 2, placed as given.
fn boxed(behaviour: &str, placement: &str, verdict: &str, after: u8) -> Scenario {
    Scenario::from_toml(&format!(
        r#"
        name = "{behaviour}-{placement}"
        description = "d"
        hops = [{{}}, {{ middlebox = {{ behaviour = "{behaviour}", placement = "{placement}" }} }}, {{}}, {{}}]
        expect = {{ verdict = "{verdict}", segment_after = {after}, segment_at = {at} }}
        "#,
        at = after + 1
    ))
    .expect("scenario")
}

fn run(s: &Scenario) -> (Report, super::SimNet) {
    let (mut ev, stats, net) =
        simulate(s, &[s.target()], ProbeConfig::default(), RunPlan::default());
    assert_eq!(stats.incomplete(), 0, "{}", s.name);
    assert_eq!(ev.len(), 1);
    (Report::build(ev.remove(0)), net)
}

fn assert_truth(s: &Scenario, r: &Report) {
    let seen = Observed::from_report(r).unwrap_or_else(|e| panic!("{}: {e}", s.name));
    s.check(&seen)
        .unwrap_or_else(|e| panic!("{}: {e}\n{}", s.name, crate::report::render_table(r, false)));
}

#[test]
fn tls_boxes_are_located_where_they_sit_in_either_hook() {
    // In `forward` router 2's own quote still shows the ClientHello as sent; in `prerouting`
    // it already shows the box's work (or nothing: dropped before the TTL check).
    for (behaviour, verdict, rule) in [
        ("tls-drop", "tls_blocked", "tls_dropped"),
        ("tls-reset", "tls_blocked", "tls_reset"),
        ("tls-rewrite", "tls_tampered", "tls_quote_modified"),
    ] {
        for (placement, after) in [("forward", 2), ("prerouting", 1)] {
            let s = boxed(behaviour, placement, verdict, after);
            let (r, net) = run(&s);
            assert_truth(&s, &r);
            assert_eq!(r.rule, rule, "{}", s.name);
            let st = net.stats();
            assert_eq!(st.tls_handshakes, 0, "{}: no handshake completes", s.name);
            match behaviour {
                "tls-rewrite" => {
                    assert!(st.tls_hellos_rewritten > 0, "{}", s.name);
                    assert_eq!(st.tls_hellos_dropped, 0);
                }
                _ => {
                    assert!(st.tls_hellos_dropped > 0, "{}", s.name);
                    assert_eq!(st.tls_hellos_rewritten, 0);
                }
            }
            if behaviour == "tls-reset" {
                assert!(st.rsts_at_server > 0, "the box resets the server's end too");
            }
            assert_eq!(net.open_connections(), 0, "{}", s.name);
        }
    }
}

#[test]
fn a_clean_path_completes_the_handshake_at_the_server() {
    let s = Scenario::from_toml(
        r#"
        name = "clean-tls"
        description = "d"
        hops = [{}, {}, {}]
        expect = { verdict = "clean" }
        "#,
    )
    .expect("scenario");
    let (r, net) = run(&s);
    assert_truth(&s, &r);
    assert_eq!(net.stats().tls_handshakes, 1);
    assert_eq!(net.open_connections(), 0);
    let tls = r.tls.as_ref().expect("tls record");
    assert_eq!(tls.observations.version.as_deref(), Some("TLSv1.3"));
}

#[test]
fn old_tls_profiles_fail_at_the_server_with_their_alert() {
    for (n, (profile, alert)) in [
        ("tls1.0-only", "protocol_version"),
        ("cbc-only", "handshake_failure"),
    ]
    .into_iter()
    .enumerate()
    {
        let s = Scenario::from_toml(&format!(
            r#"
            name = "profile-{n}"
            description = "d"
            hops = [{{}}, {{}}]
            server = {{ tls_profile = "{profile}" }}
            expect = {{ verdict = "tls_failed" }}
            "#
        ))
        .expect("scenario");
        let (r, net) = run(&s);
        assert_truth(&s, &r);
        assert_eq!(r.verdict, Verdict::TlsFailed);
        let failure = r
            .tls
            .as_ref()
            .and_then(|t| t.observations.failure.clone())
            .expect("failure");
        assert_eq!(failure.alert.as_deref(), Some(alert), "{profile}");
        assert_eq!(net.stats().tls_handshakes, 0);
        assert_eq!(net.open_connections(), 0, "{profile}");
    }
}
