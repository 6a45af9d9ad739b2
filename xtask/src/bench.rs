//! `cargo xtask bench`: benchmarks that print figures (never timed assertions).
//!
//! - `datapath`: per-packet run time of the eBPF programs from the kernel's bpf_stats, on a
//!   realistic packet mix in a namespace pair (targets: XDP <= 100 ns, TC <= 60 ns).
//! - `verdict`: time from start to verdict in the wide-area lab scenario, in path RTTs (target <= 6).
//! - `scan`: sessions per second against the `many` scenario.
//!
//! Each benchmark is a binary of the `reconmap-tests` package, built in release mode.
use anyhow::{bail, Result};

use crate::util::{cargo, require_root, run_inherit};

const BENCHES: &[(&str, &str)] = &[
    ("datapath", "bench-datapath"),
    ("verdict", "bench-verdict"),
    ("scan", "bench-scan"),
];

pub fn run_bench(only: Option<&str>) -> Result<()> {
    require_root("the benchmarks (eBPF, namespaces)")?;
    if let Some(o) = only {
        if !BENCHES.iter().any(|(n, _)| *n == o) {
            bail!("unknown benchmark `{o}` (datapath, verdict, scan)");
        }
    }
    let bin = crate::build::build_release()?;
    for (name, binary) in BENCHES {
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
            "reconmap-tests",
            "--bin",
            binary,
        ])
        .env("RECONMAP_BIN", &bin);
        run_inherit(&mut cmd)?;
    }
    Ok(())
}
