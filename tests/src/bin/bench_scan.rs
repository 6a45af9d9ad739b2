//! Benchmark: `reconmap scan` of 1,000 and 10,000 targets of the lab's `many` scenario.
//! Prints traces/s, packets/s, CPU time, peak RSS, bytes per in-flight session, ring-buffer
//! drops, the share of correct verdicts, and beside it a kernel-TCP SMTP client's sessions/s
//! against the same targets at the same concurrency. Then a 1,000,000-target scan (most on a
//! closed port, 1 in 100 on the SMTP port) checked for exactly one record per target, with its
//! time and peak RSS. Figures only, no timed assertions.
use anyhow::{bail, Context as _, Result};
use reconmap_lab::{Lab, Scenario};
use reconmap_tests::reconmap_in_netns;
use std::collections::HashMap;
use std::io::Write as _;
use std::net::SocketAddrV4;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CONCURRENCY: usize = 200;
const RATE: u32 = 20_000;

struct ScanRun {
    wall: Duration,
    cpu: Duration,
    peak_rss_kib: i64,
    records: usize,
    /// Distinct targets among the records.
    unique: usize,
    correct: usize,
    packets: u64,
    ring_full: u64,
}

fn main() -> Result<()> {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect::<Vec<_>>();
    let only_million = std::env::args().any(|a| a == "million");
    let sizes = if only_million {
        Vec::new()
    } else if sizes.is_empty() {
        vec![1_000, 10_000]
    } else {
        sizes
    };
    let scenario = Scenario::builtin("many")?;
    let lab = Lab::up(&scenario).context("many lab")?;
    let all = lab.targets();
    if all.is_empty() {
        bail!("the many scenario lists no targets");
    }
    let tmp = reconmap_tests::TempDir::create("bench-scan").expect("temp dir");
    let dir = tmp.path("");

    // Baseline RSS at a tiny concurrency, to estimate bytes per in-flight session.
    let small: Vec<(SocketAddrV4, String)> = sample(&all, 200);
    let base = scan(&lab, &dir, "base", &small, 10, &[])?;

    println!(
        "{:>7} {:>4} {:>9} {:>9} {:>9} {:>9} {:>10} {:>9} {:>11} {:>10} {:>10} {:>7}",
        "targets",
        "tls",
        "wall s",
        "traces/s",
        "pkts/s",
        "cpu s",
        "peak MiB",
        "B/sess",
        "right",
        "kernel/s",
        "ratio",
        "drops"
    );
    let largest = sizes.iter().copied().max().unwrap_or(0);
    let runs: Vec<(usize, bool)> = sizes
        .iter()
        .map(|&n| (n, true))
        .chain((largest > 0).then_some((largest, false)))
        .collect();
    for (n, tls) in runs {
        let targets = sample(&all, n);
        let extra: &[&str] = if tls { &[] } else { &["--no-tls"] };
        let tag = format!("n{n}{}", if tls { "" } else { "-notls" });
        let r = scan(&lab, &dir, &tag, &targets, CONCURRENCY, extra)?;
        let kernel = kernel_client(&lab, &targets, CONCURRENCY)?;
        let traces = r.records as f64 / r.wall.as_secs_f64();
        let bytes_per_session =
            (r.peak_rss_kib - base.peak_rss_kib).max(0) as f64 * 1024.0 / (CONCURRENCY - 10) as f64;
        // A run with a wrong or missing record has no throughput figure.
        let all_right = r.correct == n && r.records == n;
        let figure = |v: f64, decimals: usize| {
            if all_right {
                format!("{v:.decimals$}")
            } else {
                "-".to_string()
            }
        };
        println!(
            "{:>7} {:>4} {:>9.2} {:>9} {:>9.0} {:>9.2} {:>10.1} {:>9.0} {:>11} {:>10.1} {:>10} {:>7}",
            n,
            if tls { "on" } else { "off" },
            r.wall.as_secs_f64(),
            figure(traces, 1),
            r.packets as f64 / r.wall.as_secs_f64(),
            r.cpu.as_secs_f64(),
            r.peak_rss_kib as f64 / 1024.0,
            bytes_per_session,
            format!("{}/{n}", r.correct),
            kernel,
            figure(traces / kernel, 2),
            r.ring_full
        );
    }
    println!(
        "targets: correct 100%, ratio >= 0.5, <= 4096 B/session, 10k scan < 200 MiB peak RSS \
         (kernel/s: a kernel-TCP client's connect, banner, EHLO, STARTTLS, QUIT; no TLS)"
    );
    million(&lab, &dir)?;
    Ok(())
}

/// 1,000,000 targets: every lab address on ports 1-16, one in a hundred on port 25 instead.
fn million(lab: &Lab, dir: &std::path::Path) -> Result<()> {
    const N: usize = 1_000_000;
    let hosts: Vec<SocketAddrV4> = lab.targets().iter().map(|(a, _)| *a).collect();
    let mut targets: Vec<(SocketAddrV4, String)> = Vec::with_capacity(N);
    'fill: for port in 1u16..=32 {
        for (i, h) in hosts.iter().enumerate() {
            if targets.len() == N {
                break 'fill;
            }
            let smtp = (i + usize::from(port)) % 100 == 0;
            let (port, verdict) = if smtp {
                let truth = lab
                    .expected_for(*h.ip())
                    .map(|e| e.verdict.to_string())
                    .unwrap_or_default();
                (25, truth)
            } else {
                (port, "unreachable".to_string())
            };
            targets.push((SocketAddrV4::new(*h.ip(), port), verdict));
        }
    }
    targets.sort_unstable();
    targets.dedup_by(|a, b| a.0 == b.0);
    let n = targets.len();
    let r = scan(lab, dir, "million", &targets, 2_000, &[])?;
    println!(
        "1M scan: {n} targets, {} records, {} correct ({:.2}%), wall {:.1} s, {:.0} traces/s, \
         {:.0} pkts/s, cpu {:.1} s, peak RSS {:.1} MiB, ring drops {}, every target exactly once: {}",
        r.records,
        r.correct,
        100.0 * r.correct as f64 / n.max(1) as f64,
        r.wall.as_secs_f64(),
        r.records as f64 / r.wall.as_secs_f64(),
        r.packets as f64 / r.wall.as_secs_f64(),
        r.cpu.as_secs_f64(),
        r.peak_rss_kib as f64 / 1024.0,
        r.ring_full,
        if r.records == n && r.unique == n { "yes" } else { "NO" },
    );
    Ok(())
}

fn sample(all: &[(SocketAddrV4, reconmap_lab::Expected)], n: usize) -> Vec<(SocketAddrV4, String)> {
    let step = (all.len() / n.max(1)).max(1);
    all.iter()
        .step_by(step)
        .take(n)
        .map(|(a, e)| (*a, e.verdict.to_string()))
        .collect()
}

fn scan(
    lab: &Lab,
    dir: &std::path::Path,
    tag: &str,
    targets: &[(SocketAddrV4, String)],
    concurrency: usize,
    extra: &[&str],
) -> Result<ScanRun> {
    let list = dir.join(format!("{tag}.txt"));
    let out = dir.join(format!("{tag}.jsonl"));
    let meta = dir.join(format!("{tag}.meta.json"));
    let mut f = std::fs::File::create(&list)?;
    for (a, _) in targets {
        writeln!(f, "{a}")?;
    }
    drop(f);
    let t = Instant::now();
    let child = reconmap_in_netns(lab.prober().name())
        .args([
            "scan",
            "--quiet",
            "--allow-lab-ranges",
            "--retries",
            "1",
            "--seed",
            "1",
        ])
        .args([
            "--concurrency",
            &concurrency.to_string(),
            "--rate",
            &RATE.to_string(),
        ])
        .args(extra)
        .arg("-i")
        .arg(&list)
        .arg("-o")
        .arg(&out)
        .arg("--metadata")
        .arg(&meta)
        .spawn()?;
    // `ip netns exec` execs reconmap, so this child is the scanner itself: its own rusage.
    let (ok, cpu, peak_rss_kib) = wait_with_usage(child.id())?;
    let wall = t.elapsed();
    if !ok {
        bail!("reconmap scan failed");
    }
    let expected: HashMap<String, &str> = targets
        .iter()
        .map(|(a, v)| (a.to_string(), v.as_str()))
        .collect();
    let text = std::fs::read_to_string(&out)?;
    let mut records = 0;
    let mut correct = 0;
    let mut seen = std::collections::HashSet::with_capacity(targets.len());
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line)?;
        records += 1;
        let target = v["target"].as_str().unwrap_or_default();
        seen.insert(target.to_string());
        if expected.get(target).copied() == v["verdict"].as_str() {
            correct += 1;
        } else if records - correct <= 5 {
            eprintln!(
                "WRONG {target}: expected {:?}, got {} ({}): {}",
                expected.get(target),
                v["verdict"],
                v["rule"],
                v["reason"]
            );
        }
    }
    let _ = std::fs::remove_file(&out);
    let m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&meta)?)?;
    Ok(ScanRun {
        wall,
        cpu,
        peak_rss_kib,
        records,
        unique: seen.len(),
        correct,
        packets: m["stats"]["packets"].as_u64().unwrap_or(0),
        ring_full: m["datapath_counters"]["ringbuf_full"].as_u64().unwrap_or(0),
    })
}

/// The same targets through the kernel's TCP stack: connect, banner, EHLO, STARTTLS, QUIT.
fn kernel_client(lab: &Lab, targets: &[(SocketAddrV4, String)], concurrency: usize) -> Result<f64> {
    let targets: Arc<Vec<SocketAddrV4>> = Arc::new(targets.iter().map(|(a, _)| *a).collect());
    let secs = lab.prober().enter(move || {
        let next = Arc::new(AtomicUsize::new(0));
        let t = Instant::now();
        let workers: Vec<_> = (0..concurrency)
            .map(|_| {
                let (next, targets) = (next.clone(), targets.clone());
                std::thread::spawn(move || loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(a) = targets.get(i) else { break };
                    let _ = reconmap_lab::smtp_session(
                        *a,
                        "bench.invalid",
                        true,
                        Duration::from_secs(10),
                    );
                })
            })
            .collect();
        for w in workers {
            let _ = w.join();
        }
        (targets.len(), t.elapsed().as_secs_f64())
    })?;
    Ok(secs.0 as f64 / secs.1)
}

/// Waits for process `pid`; returns (exited 0, CPU time, peak RSS in KiB) from wait4(2).
fn wait_with_usage(pid: u32) -> Result<(bool, Duration, i64)> {
    let pid = i32::try_from(pid)?;
    let mut status = 0;
    // SAFETY: zeroed rusage is valid; wait4 fills it and `status` for our own child.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointers; `pid` is our child and is reaped exactly once here.
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    if rc != pid {
        bail!("wait4: {}", std::io::Error::last_os_error());
    }
    let tv = |t: libc::timeval| {
        Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
    };
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    Ok((ok, tv(ru.ru_utime) + tv(ru.ru_stime), ru.ru_maxrss))
}
