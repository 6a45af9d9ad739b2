//! `cargo xtask demo`: bring up each interesting lab scenario, trace its target with the real
//! `reconmap` binary from the scenario's prober namespace, and compare with the stated truth.
use anyhow::{bail, Context as _, Result};
use reconmap_lab::Lab;
use std::path::Path;
use std::process::Command;

use crate::util::require_root;

/// The scenarios shown by default: one of each kind of tampering, and a clean path.
pub const DEFAULT_SCENARIOS: &[&str] = &[
    "clean",
    "mailguard-forward",
    "mailguard-prerouting",
    "mailguard-edge",
    "ehlo-mask",
    "drop",
    "reset",
    "nat",
];

struct Outcome {
    scenario: String,
    expected: String,
    got: String,
}

pub fn run_demo(bin: &Path, scenarios: &[String]) -> Result<()> {
    require_root("the demo (network namespaces, eBPF)")?;
    let names: Vec<String> = if scenarios.is_empty() {
        DEFAULT_SCENARIOS.iter().map(|s| s.to_string()).collect()
    } else {
        scenarios.to_vec()
    };
    let mut outcomes = Vec::new();
    for name in &names {
        let scenario = crate::lab::load_scenario(name)?;
        println!("\n=== scenario {name}: {}", scenario.description);
        let lab = Lab::up(&scenario).with_context(|| format!("lab {name} did not come up"))?;
        let target = lab.target();
        let expected = lab
            .expected_for(*target.ip())
            .map(|e| describe(&e.verdict, e.segment_after, e.segment_at))
            .unwrap_or_else(|| "(no stated truth)".to_string());
        let ns = lab.prober().name().to_string();
        // The table, as a user sees it...
        let status = Command::new("ip")
            .args(["netns", "exec", &ns])
            .arg(bin)
            .args(["probe", "--color", "always", &target.to_string()])
            .status()
            .with_context(|| format!("cannot run {}", bin.display()))?;
        if !status.success() {
            bail!("reconmap probe failed in scenario {name} ({status})");
        }
        // ...and the JSON, to compare with the truth.
        let out = Command::new("ip")
            .args(["netns", "exec", &ns])
            .arg(bin)
            .args(["probe", "--json", &target.to_string()])
            .output()?;
        let json: serde_json::Value = serde_json::from_slice(&out.stdout)
            .with_context(|| format!("reconmap printed no JSON in scenario {name}"))?;
        let got = describe(
            json["verdict"].as_str().unwrap_or("?"),
            json["segment"]["after"]["ttl"]
                .as_u64()
                .and_then(|t| u8::try_from(t).ok()),
            json["segment"]["at"]["ttl"]
                .as_u64()
                .and_then(|t| u8::try_from(t).ok()),
        );
        println!("expected: {expected}");
        outcomes.push(Outcome {
            scenario: name.clone(),
            expected,
            got,
        });
        drop(lab);
    }
    println!(
        "\n{:<22} {:<38} {:<38} ok",
        "scenario", "expected", "reconmap"
    );
    let mut failures = 0;
    for o in &outcomes {
        let ok = o.expected == o.got;
        failures += usize::from(!ok);
        println!(
            "{:<22} {:<38} {:<38} {}",
            o.scenario,
            o.expected,
            o.got,
            if ok { "yes" } else { "NO" }
        );
    }
    if failures > 0 {
        bail!("{failures} scenario(s) did not match their stated truth");
    }
    Ok(())
}

fn describe(verdict: &str, after: Option<u8>, at: Option<u8>) -> String {
    match (after, at) {
        (None, _) => verdict.to_string(),
        (Some(a), Some(b)) => format!("{verdict} between hop {a} and hop {b}"),
        (Some(a), None) => format!("{verdict} after hop {a}, before the server"),
    }
}
