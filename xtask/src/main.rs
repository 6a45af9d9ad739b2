//! Developer tasks: `cargo xtask <command>` (see `cargo xtask --help`).
//!
//! Everything that needs privileges, namespaces or the eBPF toolchain is driven from here, so a
//! fresh machine needs exactly one command: `run`, `test`, `demo` and `bench` call `setup` first.
use anyhow::Result;
use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod bench;
mod build;
mod demo;
mod fuzz;
mod fuzz_seeds;
mod lab;
mod setup;
mod test;
mod util;

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "ReconMap developer tasks")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Install what is missing (nightly rust-src, bpf-linker, cargo-fuzz, Debian packages);
    /// idempotent.
    Setup,
    /// Build the `reconmap` binary (eBPF object embedded) in release mode.
    Build,
    /// Set up, build, and run `reconmap` with the given arguments (as root).
    Run {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Everything: format and lint checks, unit tests, eBPF tests (BPF_PROG_TEST_RUN), the
    /// privileged end-to-end tests in lab namespaces, then every fuzz target for a few seconds.
    /// Needs root.
    Test {
        /// Skip `cargo fmt --check` and clippy.
        #[arg(long)]
        no_lint: bool,
        /// Skip the fuzz stage.
        #[arg(long)]
        no_fuzz: bool,
        /// Extra arguments for `cargo test` (e.g. a test name filter).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Set up, build, bring up the lab and trace each interesting scenario, then tear down.
    Demo {
        /// Only these scenarios (default: a representative set).
        scenarios: Vec<String>,
        /// Also save a PNG of the report's map (headless Chromium), e.g. the README's
        /// docs/images/report-map.png.
        #[arg(long, value_name = "PNG")]
        screenshot: Option<std::path::PathBuf>,
    },
    /// Build the cargo-fuzz targets in fuzz/ (nightly, AddressSanitizer) and run each for a
    /// while, two at a time; a crash or a failed property fails the command.
    Fuzz {
        /// Only this target (default: every target).
        target: Option<String>,
        /// Seconds per target.
        #[arg(long, default_value_t = fuzz::DEFAULT_SECONDS)]
        seconds: u64,
        /// Targets run at once (default: the number of CPUs).
        #[arg(long)]
        jobs: Option<usize>,
        /// Rewrite the seed corpora in fuzz/corpus/ from real bytes instead of fuzzing.
        #[arg(long)]
        write_seeds: bool,
    },
    /// Lab management: network namespaces with routers, middleboxes and a real Postfix.
    Lab {
        #[command(subcommand)]
        command: lab::LabCmd,
    },
    /// Benchmarks: eBPF per-packet cost (bpf_stats), time to verdict in RTTs, scan rate.
    Bench {
        /// Only this benchmark: datapath, verdict, scan or report.
        only: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(cmd: Cmd) -> Result<()> {
    match cmd {
        Cmd::Setup => setup::run_setup(),
        Cmd::Build => {
            setup::run_setup()?;
            build::build_release().map(|_| ())
        }
        Cmd::Run { args } => {
            setup::run_setup()?;
            let bin = build::build_release()?;
            build::exec_reconmap(&bin, &args)
        }
        Cmd::Test {
            no_lint,
            no_fuzz,
            args,
        } => {
            setup::run_setup()?;
            test::run_tests(!no_lint, !no_fuzz, &args)
        }
        Cmd::Fuzz {
            write_seeds: true, ..
        } => {
            let n = fuzz_seeds::write_seeds()?;
            eprintln!("fuzz: wrote {n} seed files under fuzz/corpus/");
            Ok(())
        }
        Cmd::Fuzz {
            target,
            seconds,
            jobs,
            write_seeds: false,
        } => {
            setup::run_setup()?;
            let targets = fuzz::select(target.as_deref())?;
            fuzz::run_fuzz(&targets, seconds, jobs.unwrap_or_else(fuzz::default_jobs))
        }
        Cmd::Demo {
            scenarios,
            screenshot,
        } => {
            setup::run_setup()?;
            let bin = build::build_release()?;
            demo::run_demo(&bin, &scenarios, screenshot.as_deref())
        }
        Cmd::Lab { command } => lab::run(command),
        Cmd::Bench { only } => {
            setup::run_setup()?;
            bench::run_bench(only.as_deref())
        }
    }
}
