//! What a router's quote length lets ReconMap see, with and without TCP timestamps, on real
//! Linux routers (a truncating box on router 3, mailguard on router 2): the lab side of the
//! simulator's table (`what_each_quote_length_shows_with_and_without_timestamps`). Prints one
//! line per case, the figures behind keeping timestamps on (docs/output.md, "Real paths").
use reconmap_lab::{Lab, Scenario};
use reconmap_tests::probe_json;

/// (quote bytes, payload status with timestamps, without).
const CASES: [(u16, &str, &str); 4] = [
    (40, "checksum_changed", "checksum_changed"),
    (48, "checksum_changed", "modified"),
    (56, "modified", "modified"),
    (28, "short", "short"),
];

#[test]
fn quote_lengths_with_and_without_timestamps() {
    let mut wrong = Vec::new();
    for (len, with_ts, without_ts) in CASES {
        let s = Scenario::from_toml(&format!(
            r#"
            name = "quote-{len}"
            description = "router 3 quotes {len} bytes"
            hops = [{{}}, {{ middlebox = {{ behaviour = "mailguard" }} }}, {{ quote_bytes = {len} }}, {{}}]
            expect = {{ verdict = "stripped", segment_after = 2 }}
            "#
        ))
        .expect("scenario");
        let lab = Lab::up(&s).expect("lab");
        let target = lab.target().to_string();
        for (ts, want) in [(true, with_ts), (false, without_ts)] {
            let mut args = vec!["--retries", "1", "--no-intercept-check"];
            if !ts {
                args.push("--no-tcp-timestamps");
            }
            let r = probe_json(lab.prober().name(), &target, &args);
            let hop = &r["hops"][2];
            let at = r["segment"]["at"]["ttl"].as_u64();
            println!(
                "quote {len:>2} bytes, timestamps {:<3}: quote_len {}, payload {}, verdict {}, segment at {:?}",
                if ts { "on" } else { "off" },
                hop["quote_len"],
                hop["payload"],
                r["verdict"],
                at
            );
            let located = want != "short";
            if hop["payload"] != want
                || r["verdict"] != "stripped"
                || at != Some(if located { 3 } else { 4 })
            {
                wrong.push(format!("{len} bytes, timestamps {ts}: {r:#}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}
