//! `cargo xtask bench`: benchmarks that print figures (never timed assertions).
//!
//! - `datapath`: per-packet run time of the eBPF programs from the kernel's bpf_stats, on a
//!   realistic packet mix in a namespace pair (targets: XDP <= 100 ns, TC <= 60 ns).
//! - `verdict`: time from start to verdict in the wide-area lab scenario, in path RTTs (target <= 6).
//! - `scan`: sessions per second against the `many` scenario.
//! - `report`: `reconmap report` on 1,000 and 100,000 synthetic records: build time, file size
//!   and load time in headless Chromium.
//!
//! Each benchmark is a binary (of `reconmap-tests`, or `reconmap-report`'s `report-bench`),
//! built in release mode.
use anyhow::{bail, Result};

use crate::util::{cargo, require_root, run_inherit};

/// (name, package, binary)
const BENCHES: &[(&str, &str, &str)] = &[
    ("datapath", "reconmap-tests", "bench-datapath"),
    ("verdict", "reconmap-tests", "bench-verdict"),
    ("scan", "reconmap-tests", "bench-scan"),
    ("report", "reconmap-report", "report-bench"),
];

pub fn run_bench(only: Option<&str>) -> Result<()> {
    require_root("the benchmarks (eBPF, namespaces)")?;
    if let Some(o) = only {
        if !BENCHES.iter().any(|(n, _, _)| *n == o) {
            bail!("unknown benchmark `{o}` (datapath, verdict, scan, report)");
        }
    }
    let bin = crate::build::build_release()?;
    for (name, package, binary) in BENCHES {
        if only.is_some_and(|o| o != *name) {
            continue;
        }
        eprintln!("bench: == {name}");
        let mut cmd = cargo();
        cmd.args([
            "run",
            "--quiet",
            "--release",
            "-p",
            package,
            "--bin",
            binary,
        ])
        .env("RECONMAP_BIN", &bin);
        run_inherit(&mut cmd)?;
    }
    Ok(())
}
