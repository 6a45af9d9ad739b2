//! `cargo xtask fuzz`: builds the cargo-fuzz project in `fuzz/` (nightly, libFuzzer,
//! AddressSanitizer) and runs its targets for a fixed time each, two at a time on this 2-core
//! machine. `cargo xtask test` runs every target for a short budget the same way.
//!
//! Each target starts from its checked-in seeds (`fuzz/corpus/<target>/`, read only) and a
//! working corpus of its own under `fuzz/target/corpus/<target>/` (kept between runs, never
//! committed). A crash, a failed property assertion, a leak or a hang (over 10 s for one input)
//! fails the run; libFuzzer writes the input to `fuzz/artifacts/<target>/` and the tail of the
//! target's log is shown with the command that replays it.
use anyhow::{bail, Context as _, Result};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{run_inherit, workspace_root};

/// Every fuzz target (the `[[bin]]`s of `fuzz/Cargo.toml`; a test keeps them equal).
pub const TARGETS: &[&str] = &[
    "reply_parser",
    "captured",
    "quote_diff",
    "target_list",
    "blocklist",
    "tls_records",
    "asn_lines",
    "engine_session",
];

/// Seconds per target for `cargo xtask fuzz`.
pub const DEFAULT_SECONDS: u64 = 60;
/// Seconds per target in `cargo xtask test` (CI): all eight, two at a time, in well under a
/// minute.
pub const TEST_SECONDS: u64 = 8;
/// Longest time one input may take before libFuzzer calls it a hang.
const INPUT_TIMEOUT_S: u64 = 10;
/// Codegen units of the fuzz build: 16 instead of cargo-fuzz's 1 halves the cold ASan build
/// on two cores, for a slightly slower fuzzer.
const CODEGEN_UNITS: &str = "16";
/// The triple cargo-fuzz builds for (its default on this machine).
const TRIPLE: &str = "x86_64-unknown-linux-gnu";
/// Lines of a failed target's log that are shown: from the first report of the failure on,
/// and the end.
const LOG_HEAD: usize = 25;
const LOG_TAIL: usize = 12;

/// One run per CPU: each libFuzzer process is single-threaded.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}

fn fuzz_dir() -> PathBuf {
    workspace_root().join("fuzz")
}

/// The `cargo +nightly` command cargo-fuzz needs, run in the workspace root. The variables a
/// surrounding stable `cargo` may have set would pin the stable compiler: removed.
fn nightly_cargo() -> Command {
    let mut cmd = Command::new("cargo");
    cmd.arg("+nightly")
        .current_dir(workspace_root())
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("RUSTC")
        .env_remove("RUSTDOC")
        .env_remove("CARGO");
    cmd
}

/// Which targets to run: all of them, or the one named (checked against [`TARGETS`]).
pub fn select(target: Option<&str>) -> Result<Vec<&'static str>> {
    match target {
        None => Ok(TARGETS.to_vec()),
        Some(name) => match TARGETS.iter().find(|t| **t == name) {
            Some(t) => Ok(vec![*t]),
            None => bail!("no fuzz target `{name}`; targets: {}", TARGETS.join(", ")),
        },
    }
}

/// Builds the targets (ASan) and runs each for `seconds`, `jobs` at a time.
pub fn run_fuzz(targets: &[&'static str], seconds: u64, jobs: usize) -> Result<()> {
    let started = Instant::now();
    build()?;
    let built = started.elapsed();
    let results = run_all(targets, seconds, jobs.max(1))?;
    let failed: Vec<&RunResult> = results.iter().filter(|r| !r.passed).collect();
    eprintln!(
        "fuzz: build {:.0?}, runs {:.0?}, total {:.0?}",
        built,
        started.elapsed().saturating_sub(built),
        started.elapsed()
    );
    if failed.is_empty() {
        return Ok(());
    }
    for r in &failed {
        eprintln!("fuzz: ---- {} failed; from {}:", r.target, r.log.display());
        let text = std::fs::read_to_string(&r.log).unwrap_or_default();
        eprintln!("{}", excerpt(&text, LOG_HEAD, LOG_TAIL));
        eprintln!(
            "fuzz: replay with: cargo +nightly fuzz run {} fuzz/artifacts/{}/<file>",
            r.target, r.target
        );
    }
    let names: Vec<&str> = failed.iter().map(|r| r.target).collect();
    bail!("fuzz targets failed: {}", names.join(", "))
}

fn build() -> Result<()> {
    eprintln!("fuzz: cargo +nightly fuzz build (AddressSanitizer, {CODEGEN_UNITS} codegen units)");
    let mut cmd = nightly_cargo();
    cmd.args(["fuzz", "build", "--codegen-units", CODEGEN_UNITS]);
    run_inherit(&mut cmd).context("building the fuzz targets (does `cargo xtask setup` pass?)")
}

/// What one target's run came to.
#[derive(Debug)]
struct RunResult {
    target: &'static str,
    passed: bool,
    took: Duration,
    log: PathBuf,
    /// libFuzzer's final statistics, when it printed them.
    runs: Option<u64>,
    coverage: Option<u64>,
}

impl RunResult {
    fn summary(&self) -> String {
        let num = |n: Option<u64>| n.map_or("?".to_string(), |n| n.to_string());
        format!(
            "{:<13} {} in {:.1?}: {} inputs, coverage {}",
            self.target,
            if self.passed { "ok" } else { "FAILED" },
            self.took,
            num(self.runs),
            num(self.coverage)
        )
    }
}

/// Starts one target's run with its output in a log file.
fn spawn(target: &str, seconds: u64) -> Result<(Child, PathBuf)> {
    let dir = fuzz_dir();
    let bin = dir.join("target").join(TRIPLE).join("release").join(target);
    if !bin.exists() {
        bail!("{} was not built", bin.display());
    }
    let work = dir.join("target/corpus").join(target);
    let seeds = dir.join("corpus").join(target);
    let artifacts = dir.join("artifacts").join(target);
    let logs = dir.join("target/logs");
    for d in [&work, &artifacts, &logs] {
        std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
    }
    let log = logs.join(format!("{target}.log"));
    let out =
        std::fs::File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
    let err = out.try_clone()?;
    let mut artifact_prefix = artifacts.into_os_string();
    artifact_prefix.push("/");
    let mut cmd = Command::new(&bin);
    cmd.arg(format!("-max_total_time={seconds}"))
        .arg(format!("-timeout={INPUT_TIMEOUT_S}"))
        .arg("-print_final_stats=1")
        .arg({
            let mut a = std::ffi::OsString::from("-artifact_prefix=");
            a.push(&artifact_prefix);
            a
        })
        // New inputs go to the first directory; the seeds are only read.
        .arg(&work)
        .arg(&seeds)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    let child = cmd
        .spawn()
        .with_context(|| format!("cannot start {}", bin.display()))?;
    Ok((child, log))
}

/// Runs the targets, at most `jobs` at once, and collects their results.
fn run_all(targets: &[&'static str], seconds: u64, jobs: usize) -> Result<Vec<RunResult>> {
    eprintln!(
        "fuzz: {} target(s), {seconds} s each, {jobs} at a time",
        targets.len()
    );
    let mut queue = targets.iter().copied();
    let mut running: Vec<(&'static str, Child, PathBuf, Instant)> = Vec::new();
    let mut done = Vec::new();
    loop {
        while running.len() < jobs {
            let Some(target) = queue.next() else { break };
            let (child, log) = spawn(target, seconds)?;
            running.push((target, child, log, Instant::now()));
        }
        if running.is_empty() {
            break;
        }
        let mut still = Vec::new();
        for (target, mut child, log, start) in running {
            match child.try_wait()? {
                Some(status) => {
                    let text = std::fs::read_to_string(&log).unwrap_or_default();
                    let r = RunResult {
                        target,
                        passed: status.success(),
                        took: start.elapsed(),
                        runs: final_stat(&text, "stat::number_of_executed_units:"),
                        coverage: last_cov(&text),
                        log,
                    };
                    eprintln!("fuzz:   {}", r.summary());
                    done.push(r);
                }
                None => still.push((target, child, log, start)),
            }
        }
        running = still;
        std::thread::sleep(Duration::from_millis(100));
    }
    done.sort_by_key(|r| targets.iter().position(|t| *t == r.target));
    Ok(done)
}

/// A number from libFuzzer's `-print_final_stats` lines (`stat::name: N`).
fn final_stat(log: &str, key: &str) -> Option<u64> {
    log.lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix(key))
        .and_then(|v| v.trim().parse().ok())
}

/// The coverage of the last status line (`#N ... cov: C ft: ...`).
fn last_cov(log: &str) -> Option<u64> {
    log.lines()
        .rev()
        .filter(|l| l.starts_with('#'))
        .find_map(|l| {
            let mut words = l.split_whitespace();
            words.find(|w| *w == "cov:")?;
            words.next()?.parse().ok()
        })
}

/// What tells why a run failed: `head` lines from the first panic message or sanitizer
/// report on, then the last `tail` lines (libFuzzer's summary and the artifact's name).
fn excerpt(log: &str, head: usize, tail: usize) -> String {
    let lines: Vec<&str> = log.lines().collect();
    let end_start = lines.len().saturating_sub(tail);
    let first = lines
        .iter()
        .position(|l| l.contains("panicked at") || l.contains("ERROR: "))
        .unwrap_or(end_start);
    let head_end = (first + head).min(end_start);
    let mut out: Vec<&str> = lines[first.min(head_end)..head_end].to_vec();
    if head_end < end_start {
        out.push("...");
    }
    out.extend(&lines[end_start..]);
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_list_is_the_fuzz_crates_binaries() {
        let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).expect("manifest");
        let doc: toml::Table = manifest.parse().expect("toml");
        let mut bins: Vec<String> = doc["bin"]
            .as_array()
            .expect("[[bin]]")
            .iter()
            .map(|b| b["name"].as_str().expect("name").to_string())
            .collect();
        bins.sort();
        let mut ours: Vec<String> = TARGETS.iter().map(|t| t.to_string()).collect();
        ours.sort();
        assert_eq!(bins, ours);
        for t in TARGETS {
            let seeds = fuzz_dir().join("corpus").join(t);
            let n = std::fs::read_dir(&seeds).map(|d| d.count()).unwrap_or(0);
            assert!(n > 0, "no seeds in {}", seeds.display());
        }
    }

    #[test]
    fn libfuzzer_statistics_are_read() {
        let log = "#2\tINITED cov: 10 ft: 11 corp: 1/1b\n\
                   #4096\tpulse  cov: 339 ft: 1118 corp: 234/10065b\n\
                   Done 148572 runs in 5 second(s)\n\
                   stat::number_of_executed_units: 148572\n\
                   stat::peak_rss_mb:              390\n";
        assert_eq!(
            final_stat(log, "stat::number_of_executed_units:"),
            Some(148572)
        );
        assert_eq!(last_cov(log), Some(339));
        assert_eq!(final_stat("crash", "stat::x:"), None);
        let crash =
            "INFO: seed\n#1 INITED\nthread '<unnamed>' panicked at fuzz_targets/x.rs:9:5:\n\
                     the split changed the result\nstack 1\nstack 2\nstack 3\n\
                     SUMMARY: libFuzzer: deadly signal\nTest unit written to crash-1";
        assert_eq!(
            excerpt(crash, 2, 2),
            "thread '<unnamed>' panicked at fuzz_targets/x.rs:9:5:\n\
             the split changed the result\n...\n\
             SUMMARY: libFuzzer: deadly signal\nTest unit written to crash-1"
        );
        assert_eq!(excerpt("a\nb\nc", 5, 2), "b\nc");
        assert_eq!(select(Some("captured")).expect("known"), ["captured"]);
        assert!(select(Some("nope")).is_err());
        assert_eq!(select(None).expect("all").len(), TARGETS.len());
    }
}
