//! `cargo xtask demo`: bring up each interesting lab scenario, trace its target with the real
//! `reconmap` binary from the scenario's prober namespace, and compare with the stated truth.
use anyhow::{bail, Context as _, Result};
use reconmap_core::scenario::truth::Observed;
use reconmap_lab::Lab;
use reconmap_sys::netns;
use std::path::Path;

use crate::util::require_root;

/// The scenarios shown by default: one of each kind of tampering, a clean path, and the real
/// paths' difficulties (header-only quotes, rewritten IP IDs, an interception proxy, a box
/// that only masks the replies behind a sequence-randomising one), and TLS after STARTTLS (a box
/// that changes the ClientHello, a server that only speaks TLS 1.0), and whose network the box
/// is in (the prober's, a transit network's, the server's).
pub const DEFAULT_SCENARIOS: &[&str] = &[
    "clean",
    "mailguard-forward",
    "mailguard-prerouting",
    "mailguard-edge",
    "ehlo-mask",
    "drop",
    "reset",
    "nat",
    "short-quote-after",
    "ipid-rewrite-short-quotes",
    "proxy",
    "ehlo-mask-seq-randomise",
    "tls-rewrite",
    "tls10-only",
    "as-client-network",
    "as-boundary",
    "as-transit",
    "as-server-network",
];

struct Outcome {
    scenario: String,
    expected: String,
    got: String,
    mismatch: Option<String>,
}

pub fn run_demo(bin: &Path, scenarios: &[String], screenshot: Option<&Path>) -> Result<()> {
    require_root("the demo (network namespaces, eBPF)")?;
    let names: Vec<String> = if scenarios.is_empty() {
        DEFAULT_SCENARIOS.iter().map(|s| s.to_string()).collect()
    } else {
        scenarios.to_vec()
    };
    let out_dir = crate::util::target_dir().join("demo");
    std::fs::create_dir_all(&out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    let results_path = out_dir.join("results.jsonl");
    let mut results = String::new();
    let mut outcomes = Vec::new();
    for name in &names {
        let scenario = crate::lab::load_scenario(name)?;
        println!("\n=== scenario {name}: {}", scenario.description);
        let lab = Lab::up(&scenario).with_context(|| format!("lab {name} did not come up"))?;
        let target = lab.target();
        let expected = lab
            .expected_for(*target.ip())
            .map(|e| e.to_string())
            .unwrap_or_else(|| "(no stated truth)".to_string());
        let ns = lab.prober().name().to_string();
        // The scenario's ASes, as the lab wrote them, and this demo as the vantage point.
        let mut as_args = vec!["--vantage".to_string(), "demo".to_string()];
        if let Some(db) = lab.asn_db() {
            as_args.extend(["--asn-db".to_string(), db.display().to_string()]);
        }
        // The table, as a user sees it...
        let status = netns::exec(&ns, bin)
            .args(["probe", "--color", "always"])
            .args(&as_args)
            .arg(target.to_string())
            .status()
            .with_context(|| format!("cannot run {}", bin.display()))?;
        if !status.success() {
            bail!("reconmap probe failed in scenario {name} ({status})");
        }
        // ...and the JSON, checked against the truth as the end-to-end tests check it.
        let out = netns::exec(&ns, bin)
            .args(["probe", "--json"])
            .args(&as_args)
            .arg(target.to_string())
            .output()?;
        let json: serde_json::Value = serde_json::from_slice(&out.stdout)
            .with_context(|| format!("reconmap printed no JSON in scenario {name}"))?;
        let seen = Observed::from_json(&json).map_err(anyhow::Error::msg)?;
        results.push_str(&serde_json::to_string(&json)?);
        results.push('\n');
        let mismatch = scenario.check(&seen).err();
        let mut got = reconmap_core::scenario::Expected {
            verdict: seen.verdict,
            segment_after: seen.segment_after,
            segment_at: seen.segment_at,
            ip_id_rewritten_from: None,
            candidate_hops: None,
            attribution: None,
            attribution_asns: None,
        }
        .to_string();
        // The attribution, where the scenario states one (without ASes every record says
        // `unknown`, which is not news).
        if scenario.expect.attribution.is_some() {
            if let Some((class, _)) = &seen.attribution {
                got.push_str(&format!(", {class}"));
            }
        }
        println!("expected: {expected}");
        outcomes.push(Outcome {
            scenario: name.clone(),
            expected,
            got,
            mismatch,
        });
        drop(lab);
    }
    println!(
        "\n{:<25} {:<54} {:<54} ok",
        "scenario", "expected", "reconmap"
    );
    let mut failures = 0;
    for o in &outcomes {
        let ok = o.mismatch.is_none();
        failures += usize::from(!ok);
        println!(
            "{:<25} {:<54} {:<54} {}",
            o.scenario,
            o.expected,
            o.got,
            if ok { "yes" } else { "NO" }
        );
    }
    for m in outcomes.iter().filter_map(|o| o.mismatch.as_ref()) {
        eprintln!("demo: {m}");
    }
    // The report of every trace above: the map, whose networks, the per-target drill-down.
    std::fs::write(&results_path, &results)
        .with_context(|| format!("cannot write {}", results_path.display()))?;
    let report = out_dir.join("report.html");
    let mut cmd = std::process::Command::new(bin);
    cmd.arg("report")
        .arg(&results_path)
        .arg("-o")
        .arg(&report)
        .args(["--title", "ReconMap demo: the lab scenarios"]);
    if let Some(png) = screenshot {
        cmd.arg("--screenshot").arg(png);
    }
    let status = cmd
        .status()
        .with_context(|| format!("cannot run {} report", bin.display()))?;
    if !status.success() {
        bail!("reconmap report failed ({status})");
    }
    println!("\nreport of these traces: {}", report.display());
    println!("results (JSON Lines):   {}", results_path.display());
    if failures > 0 {
        bail!("{failures} scenario(s) did not match their stated truth");
    }
    Ok(())
}
