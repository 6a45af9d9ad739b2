//! End to end, one test per lab scenario: `reconmap probe --json` run in the scenario's prober
//! namespace against a real Postfix must give the verdict and segment the scenario states, and
//! every hop the label stack its router states (MPLS LSRs, none elsewhere).
use reconmap_core::scenario::truth::Observed;
use reconmap_lab::{Lab, Scenario};
use reconmap_tests::probe_json;

/// Brings the scenario up, probes its target and compares with the stated truth (the same
/// check the simulator tests and the demo use).
fn check(name: &str) {
    let scenario = Scenario::builtin(name).unwrap_or_else(|e| panic!("scenario {name}: {e}"));
    let lab = Lab::up(&scenario).unwrap_or_else(|e| panic!("lab {name} did not come up: {e}"));
    let target = lab.target();
    let mut args = vec!["--retries", "1", "--reply-timeout", "5"];
    // With ASes in the scenario, the prober gets the table the lab wrote (from the same plan
    // the truth is stated in) and the truth's attribution is checked.
    let asn_db = lab.asn_db().map(|p| p.display().to_string());
    if let Some(path) = &asn_db {
        args.extend(["--asn-db", path]);
    }
    let report = probe_json(lab.prober().name(), &target.to_string(), &args);
    assert_eq!(report["schema"], 2, "{report:#}");
    assert_eq!(report["target"], target.to_string(), "{report:#}");
    let seen = Observed::from_json(&report).unwrap_or_else(|e| panic!("{e}: {report:#}"));
    if let Err(e) = scenario.check(&seen) {
        panic!("{e}\nreport: {report:#}");
    }
    if let Err(e) = check_labels(&scenario, &report) {
        panic!("{e}\nreport: {report:#}");
    }
}

/// Every hop that answered from its own address carries exactly the label stack its router
/// states (`mpls_labels`, top first, bottom-of-stack on the last), or no `mpls` at all.
fn check_labels(scenario: &Scenario, report: &serde_json::Value) -> Result<(), String> {
    let mut wrong = Vec::new();
    for hop in report["hops"].as_array().into_iter().flatten() {
        let Some(ttl) = hop["ttl"].as_u64().and_then(|t| u8::try_from(t).ok()) else {
            return Err(format!("hop without ttl: {hop}"));
        };
        let addr = hop["addr"].as_str().and_then(|a| a.parse().ok());
        if addr.is_none() || addr != scenario.hop_addr(ttl) {
            continue;
        }
        let stated = scenario
            .hops
            .get(usize::from(ttl) - 1)
            .map(|h| h.mpls_labels.clone())
            .unwrap_or_default();
        let want: Vec<(u64, bool)> = stated
            .iter()
            .enumerate()
            .map(|(i, &l)| (u64::from(l), i + 1 == stated.len()))
            .collect();
        let got: Vec<(u64, bool)> = hop["mpls"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| (e["label"].as_u64().unwrap_or(u64::MAX), e["s"] == true))
            .collect();
        if got != want {
            wrong.push(format!(
                "hop {ttl}: labels (label, s) {got:?}, expected {want:?}"
            ));
        }
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(format!("scenario {}: {}", scenario.name, wrong.join("; ")))
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
                assert!(tested.contains(&name.as_str()), "scenario {name} has no end-to-end test");
            }
        }
    };
}

scenario_tests! {
    as_client_network => "as-client-network",
    as_transit => "as-transit",
    as_server_network => "as-server-network",
    as_boundary => "as-boundary",
    clean => "clean",
    direct => "direct",
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
    hostile_drip => "hostile-drip",
    hostile_flood => "hostile-flood",
    hostile_mute => "hostile-mute",
    hostile_mute_after_starttls => "hostile-mute-after-starttls",
    hostile_slow_starttls => "hostile-slow-starttls",
    hostile_fin_220 => "hostile-fin-220",
    hostile_fin_500 => "hostile-fin-500",
    hostile_split => "hostile-split",
    hostile_garbage => "hostile-garbage",
    hostile_421_ehlo => "hostile-421-ehlo",
    hostile_rst_before_starttls => "hostile-rst-before-starttls",
    hostile_masked_banner => "hostile-masked-banner",
    hostile_unicode => "hostile-unicode",
    hostile_no_starttls => "hostile-no-starttls",
    hostile_small_backlog => "hostile-small-backlog",
    forge_wrong_id => "forge-wrong-id",
    forge_bad_rfc4884 => "forge-bad-rfc4884",
    forge_truncated_inner => "forge-truncated-inner",
    forge_wrong_proto => "forge-wrong-proto",
    forge_flood => "forge-flood",
    forge_modified_payload => "forge-modified-payload",
    rfc792_quote_after => "rfc792-quote-after",
    header_only_quotes => "header-only-quotes",
    ipid_rewrite => "ipid-rewrite",
    ipid_rewrite_short_quotes => "ipid-rewrite-short-quotes",
    proxy => "proxy",
    proxy_pass => "proxy-pass",
    ehlo_mask_seq_randomise => "ehlo-mask-seq-randomise",
    short_quote_echo => "short-quote-echo",
    wide_area_ipid => "wide-area-ipid",
    mpls_core => "mpls-core",
    tls_drop => "tls-drop",
    tls_reset => "tls-reset",
    tls_rewrite => "tls-rewrite",
    tls10_only => "tls10-only",
    tls_cbc_only => "tls-cbc-only",
    wide_area_tls => "wide-area-tls",
}
