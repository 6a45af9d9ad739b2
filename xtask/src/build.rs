//! Building the `reconmap` binary (with the eBPF object embedded by reconmap-datapath's build.rs).
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{cargo, run_inherit, target_dir};

/// `cargo build --release` of the binaries; returns the path of `reconmap`.
pub fn build_release() -> Result<PathBuf> {
    eprintln!("build: cargo build --release (reconmap + lab helpers)");
    let mut cmd = cargo();
    cmd.args([
        "build",
        "--release",
        "-p",
        "reconmap",
        "-p",
        "reconmap-lab",
        "--bins",
    ])
    .env_remove("AYA_BUILD_SKIP");
    run_inherit(&mut cmd)?;
    let bin = target_dir().join("release/reconmap");
    if !bin.exists() {
        bail!("build finished but {} is missing", bin.display());
    }
    Ok(bin)
}

/// Runs the binary with inherited stdio and returns its failure as an error.
pub fn exec_reconmap(bin: &Path, args: &[String]) -> Result<()> {
    crate::util::require_root("reconmap")?;
    let status = Command::new(bin).args(args).status()?;
    if !status.success() {
        bail!("reconmap exited with {status}");
    }
    Ok(())
}
