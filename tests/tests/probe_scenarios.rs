//! End to end, one test per lab scenario: `reconmap probe --json` run in the scenario's prober
//! namespace against a real Postfix must give the verdict and segment the scenario states.
use reconmap_lab::{Lab, Scenario};
use reconmap_tests::probe_json;
use serde_json::Value;

fn hop_ttl(v: &Value) -> Option<u64> {
    v.get("ttl").and_then(Value::as_u64)
}

/// Brings the scenario up, probes its target and compares with the stated truth.
fn check(name: &str) {
    let scenario = Scenario::builtin(name).unwrap_or_else(|e| panic!("scenario {name}: {e}"));
    let lab = Lab::up(&scenario).unwrap_or_else(|e| panic!("lab {name} did not come up: {e}"));
    let target = lab.target();
    let report = probe_json(
        lab.prober().name(),
        &target.to_string(),
        &["--retries", "1"],
    );
    let expected = lab
        .expected_for(*target.ip())
        .unwrap_or_else(|| panic!("scenario {name} states no truth for {target}"));
    let context = format!("scenario {name}, report: {report:#}");

    assert_eq!(report["schema"], 1, "{context}");
    assert_eq!(report["target"], target.to_string(), "{context}");
    assert_eq!(
        report["verdict"].as_str(),
        Some(expected.verdict.as_str()),
        "{context}"
    );
    let segment = &report["segment"];
    match (expected.segment_after, expected.segment_at) {
        (None, None) => assert!(segment.is_null(), "{context}: expected no segment"),
        (after, at) => {
            assert!(segment.is_object(), "{context}: expected a segment");
            assert_eq!(
                hop_ttl(&segment["after"]),
                after.map(u64::from),
                "{context}: segment.after"
            );
            assert_eq!(
                hop_ttl(&segment["at"]),
                at.map(u64::from),
                "{context}: segment.at"
            );
            // The hop named by the segment is the lab's router at that TTL.
            if let Some(at) = at {
                let addr = segment["at"]["addr"].as_str().map(str::to_string);
                assert_eq!(
                    addr,
                    lab.hop_addr(at).map(|a| a.to_string()),
                    "{context}: segment.at.addr"
                );
            }
        }
    }
    // Every hop that answered is the router the lab put at that TTL (or the NAT's view of it).
    for hop in report["hops"].as_array().into_iter().flatten() {
        let (Some(ttl), Some(addr)) = (hop_ttl(hop), hop["addr"].as_str()) else {
            continue;
        };
        let ttl = u8::try_from(ttl).unwrap_or(u8::MAX);
        assert_eq!(
            Some(addr.to_string()),
            lab.hop_addr(ttl).map(|a| a.to_string()),
            "{context}: hop {ttl}"
        );
    }
}

macro_rules! scenario_tests {
    ($($test:ident => $name:literal),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                check($name);
            }
        )*

        /// Every builtin scenario except `many` (the scan tests use it) has a test here.
        #[test]
        fn every_scenario_has_a_test() {
            let tested = [$($name),*];
            for name in Scenario::builtin_names() {
                if name == "many" {
                    continue;
                }
                assert!(tested.contains(&name), "scenario {name} has no end-to-end test");
            }
        }
    };
}

scenario_tests! {
    clean => "clean",
    mailguard_forward => "mailguard-forward",
    mailguard_prerouting => "mailguard-prerouting",
    mailguard_edge => "mailguard-edge",
    ehlo_mask => "ehlo-mask",
    drop => "drop",
    reset => "reset",
    silent_before => "silent-before",
    silent_after => "silent-after",
    short_quote_after => "short-quote-after",
    nat => "nat",
    no_tls => "no-tls",
    wide_area => "wide-area",
}
