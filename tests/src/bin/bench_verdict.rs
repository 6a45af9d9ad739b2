//! Benchmark: time from start to verdict in path RTTs on the wide-area lab scenarios (20 ms
//! per link): `wide-area` (target <= 6) and `wide-area-ipid`, where an IP-ID rewriting hop in
//! front of header-only quoting routers makes the sweep probe some hops again one at a time
//! (target <= 6 + the number of hops probed again), and `wide-area-tls`, a clean path where the
//! TLS handshake follows the 220 (target <= 8). Prints figures; asserts nothing about speed.
use anyhow::{Context as _, Result};
use reconmap_lab::{Lab, Scenario};
use reconmap_tests::probe_json;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

const RUNS: usize = 5;

fn main() -> Result<()> {
    for name in ["wide-area", "wide-area-ipid", "wide-area-tls"] {
        bench(name)?;
    }
    Ok(())
}

fn bench(name: &str) -> Result<()> {
    let scenario = Scenario::builtin(name)?;
    let lab = Lab::up(&scenario).with_context(|| format!("{name} lab"))?;
    let target = lab.target();
    // The path RTT as the kernel's own TCP sees it: the fastest of a few connects.
    let addr = SocketAddr::V4(target);
    let connects = lab.prober().enter(move || {
        (0..5)
            .filter_map(|_| {
                let t = Instant::now();
                TcpStream::connect_timeout(&addr, Duration::from_secs(5))
                    .ok()
                    .map(|_| t.elapsed())
            })
            .collect::<Vec<_>>()
    })?;
    let rtt = connects
        .iter()
        .min()
        .copied()
        .context("no kernel TCP connect succeeded")?;
    println!(
        "{name}: path RTT (min kernel TCP connect of {}) = {:.1} ms",
        connects.len(),
        ms(rtt)
    );
    println!(
        "{:>4} {:>12} {:>12} {:>12} {:>10} {:>10} {:>9}",
        "run", "verdict", "verdict ms", "process ms", "verdict/RTT", "process/RTT", "re-probed"
    );
    let mut ratios = Vec::new();
    let mut reprobed_max = 0;
    let expected = scenario.expect.verdict.to_string();
    for run in 1..=RUNS {
        let t = Instant::now();
        let report = probe_json(lab.prober().name(), &target.to_string(), &[]);
        let wall = t.elapsed();
        let verdict_ms = report["timing"]["verdict_ms"]
            .as_f64()
            .context("report has no timing.verdict_ms")?;
        let verdict = report["verdict"].as_str().unwrap_or("?");
        let reprobed = report["hops"].as_array().map_or(0, |h| {
            h.iter().filter(|h| h["matched_by"] == "sequential").count()
        });
        reprobed_max = reprobed_max.max(reprobed);
        println!(
            "{run:>4} {verdict:>12} {verdict_ms:>12.1} {:>12.1} {:>10.2} {:>10.2} {reprobed:>9}",
            ms(wall),
            verdict_ms / ms(rtt),
            ms(wall) / ms(rtt)
        );
        if verdict != expected {
            // A wrong verdict has no time-to-verdict figure.
            println!("{name}: WRONG verdict {verdict} (expected {expected}): no figure");
            return Ok(());
        }
        ratios.push(verdict_ms / ms(rtt));
    }
    ratios.sort_by(f64::total_cmp);
    let median = ratios.get(ratios.len() / 2).copied().unwrap_or(f64::NAN);
    let target = if name == "wide-area-tls" {
        8
    } else {
        6 + reprobed_max
    };
    println!(
        "{name}: time to verdict: median {median:.2} path RTTs (target <= {target}), {reprobed_max} hops probed again",
    );
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
