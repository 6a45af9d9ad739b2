//! `cargo xtask test`: the one command that runs every test, as CI does.
use anyhow::{Context as _, Result};
use std::time::Instant;

use crate::util::{cargo, require_root, run_inherit};

pub fn run_tests(lint: bool, fuzz: bool, extra: &[String]) -> Result<()> {
    require_root("the test suite (eBPF, namespaces, raw sockets)")?;
    let started = Instant::now();
    if lint {
        stage("cargo fmt --check", || {
            run_inherit(cargo().args(["fmt", "--all", "--", "--check"]))
        })?;
        stage("cargo fmt --check (fuzz targets)", || {
            run_inherit(cargo().args([
                "fmt",
                "--manifest-path",
                "fuzz/Cargo.toml",
                "--",
                "--check",
            ]))
        })?;
        stage("cargo clippy -D warnings", || {
            run_inherit(cargo().args([
                "clippy",
                "--workspace",
                "--exclude",
                "reconmap-ebpf",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ]))
        })?;
        // The fuzz crate is outside the workspace: lint it here so a change to a core type
        // that breaks a fuzz target fails in the first minute, not after the end-to-end tests.
        stage("cargo clippy -D warnings (fuzz targets)", || {
            run_inherit(cargo().args([
                "clippy",
                "--manifest-path",
                "fuzz/Cargo.toml",
                "--bins",
                "--",
                "-D",
                "warnings",
            ]))
        })?;
    }
    // The release binary is what the end-to-end tests run inside the lab namespaces.
    let bin = stage("build the reconmap binary", crate::build::build_release)?;
    stage(
        "cargo test (unit, eBPF BPF_PROG_TEST_RUN, privileged end-to-end)",
        || {
            let mut cmd = cargo();
            cmd.args(["test", "--workspace", "--exclude", "reconmap-ebpf"])
                .env("RECONMAP_BIN", &bin)
                .env("RUST_BACKTRACE", "1");
            if !extra.is_empty() {
                cmd.arg("--").args(extra);
            }
            run_inherit(&mut cmd)
        },
    )?;
    if fuzz {
        let seconds = crate::fuzz::TEST_SECONDS;
        stage(
            &format!("fuzz targets (ASan build, {seconds} s each)"),
            || crate::fuzz::run_fuzz(crate::fuzz::TARGETS, seconds, crate::fuzz::default_jobs()),
        )?;
    }
    eprintln!("test: all passed in {:.0?}", started.elapsed());
    Ok(())
}

fn stage<T>(name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    eprintln!("test: == {name}");
    let t = Instant::now();
    let r = f().with_context(|| format!("test stage failed: {name}"));
    eprintln!("test:    {name}: {:.1?}", t.elapsed());
    r
}
