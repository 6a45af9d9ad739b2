//! Small helpers shared by the xtask commands (process and namespace helpers come from
//! `reconmap-sys`, shared with the lab and the tests).
use anyhow::{bail, Result};
use std::path::PathBuf;
use std::process::Command;

pub use reconmap_sys::privilege::is_root;

/// Runs `cmd`, returns its stdout; fails with the command line and its stderr.
pub fn run(cmd: &mut Command) -> Result<String> {
    Ok(reconmap_sys::process::run(cmd)?)
}

/// Runs `cmd` with inherited stdout/stderr (the user sees its progress).
pub fn run_inherit(cmd: &mut Command) -> Result<()> {
    Ok(reconmap_sys::process::run_inherit(cmd)?)
}

pub use reconmap_sys::process::status_ok;

pub fn require_root(what: &str) -> Result<()> {
    if !is_root() {
        bail!("{what} needs root (raw sockets, eBPF, network namespaces): run it as root");
    }
    Ok(())
}

/// The workspace root (the parent of this crate's manifest directory).
pub fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// The cargo target directory (honours CARGO_TARGET_DIR).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// A `cargo` command run from the workspace root.
pub fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(workspace_root());
    cmd
}
