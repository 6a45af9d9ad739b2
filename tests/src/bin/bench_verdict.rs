//! Benchmark: time from start to verdict in the wide-area lab scenario (20 ms per link), in
//! path RTTs. Target: <= 6. Prints figures; asserts nothing about speed.
use anyhow::{Context as _, Result};
use reconmap_lab::{Lab, Scenario};
use reconmap_tests::probe_json;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

const RUNS: usize = 5;

fn main() -> Result<()> {
    let scenario = Scenario::builtin("wide-area")?;
    let lab = Lab::up(&scenario).context("wide-area lab")?;
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
        "wide-area: path RTT (min kernel TCP connect of {}) = {:.1} ms",
        connects.len(),
        ms(rtt)
    );
    println!(
        "{:>4} {:>12} {:>12} {:>12} {:>10} {:>10}",
        "run", "verdict", "verdict ms", "process ms", "verdict/RTT", "process/RTT"
    );
    let mut ratios = Vec::new();
    for run in 1..=RUNS {
        let t = Instant::now();
        let report = probe_json(lab.prober().name(), &target.to_string(), &[]);
        let wall = t.elapsed();
        let verdict_ms = report["timing"]["verdict_ms"]
            .as_f64()
            .context("report has no timing.verdict_ms")?;
        let ratio = verdict_ms / ms(rtt);
        ratios.push(ratio);
        println!(
            "{run:>4} {:>12} {verdict_ms:>12.1} {:>12.1} {ratio:>10.2} {:>10.2}",
            report["verdict"].as_str().unwrap_or("?"),
            ms(wall),
            ms(wall) / ms(rtt)
        );
    }
    ratios.sort_by(f64::total_cmp);
    let median = ratios.get(ratios.len() / 2).copied().unwrap_or(f64::NAN);
    println!("time to verdict: median {median:.2} path RTTs (target <= 6)");
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
