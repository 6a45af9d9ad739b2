//! `cargo xtask setup`: installs what building, testing and the lab need, and skips what is there.
//!
//! Every step first checks, then acts, and says which it did, so running it twice is cheap and
//! a failure names the step. Steps:
//! 1. the nightly toolchain with `rust-src` (the eBPF crate is built with `-Z build-std=core`);
//! 2. `bpf-linker` built against the LLVM that ships inside rustc (no system LLVM needed);
//! 3. `cargo-fuzz` (the fuzz targets in `fuzz/` run on nightly with libFuzzer);
//! 4. the Debian packages the lab and the tests use (Postfix, nftables, iptables, ...).
use anyhow::{bail, Context as _, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{is_root, run, status_ok};

/// Debian packages the lab, the tests and the benchmarks use.
pub const APT_PACKAGES: &[&str] = &[
    "postfix",    // the real mail server in the lab
    "openssl",    // its self-signed certificate; reconmap-tls tests against s_server/s_client
    "nftables",   // middlebox rewriting, silent routers
    "iptables",   // NFQUEUE target (this kernel has no nft queue)
    "iproute2",   // ip netns / link / route, tc netem
    "ethtool",    // checksum offloads off on lab links
    "traceroute", // lab self-test: traceroute -T
    "tcpdump",    // debugging captures in the lab
    "bpftool",    // inspecting attached programs in tests
    "chromium",   // the HTML report's browser tests (headless)
];

const NIGHTLY: &str = "nightly";

pub fn run_setup() -> Result<()> {
    step("nightly toolchain + rust-src", ensure_rust_src)?;
    step("bpf-linker (against rustc's LLVM)", ensure_bpf_linker)?;
    step("cargo-fuzz", ensure_cargo_fuzz)?;
    step("Debian packages", ensure_apt_packages)?;
    eprintln!("setup: done");
    Ok(())
}

fn step(name: &str, f: impl FnOnce() -> Result<()>) -> Result<()> {
    eprintln!("setup: {name}");
    f().with_context(|| format!("setup step failed: {name}"))
}

fn ensure_rust_src() -> Result<()> {
    let toolchains = run(Command::new("rustup").args(["toolchain", "list"]))
        .context("rustup is required (https://rustup.rs)")?;
    if !toolchains.lines().any(|l| l.starts_with(NIGHTLY)) {
        eprintln!("setup:   installing the nightly toolchain (minimal profile)");
        run(Command::new("rustup").args([
            "toolchain",
            "install",
            NIGHTLY,
            "--profile",
            "minimal",
        ]))?;
    }
    let installed = run(Command::new("rustup").args([
        "component",
        "list",
        "--installed",
        "--toolchain",
        NIGHTLY,
    ]))?;
    if installed.lines().any(|l| l.trim() == "rust-src") {
        eprintln!("setup:   rust-src already installed");
        return Ok(());
    }
    eprintln!("setup:   rustup component add rust-src --toolchain {NIGHTLY}");
    run(Command::new("rustup").args(["component", "add", "rust-src", "--toolchain", NIGHTLY]))?;
    Ok(())
}

fn cargo_home() -> PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from("/root/.cargo"))
}

fn bpf_linker_works() -> bool {
    let path = cargo_home().join("bin/bpf-linker");
    let exe = if path.exists() {
        path
    } else {
        PathBuf::from("bpf-linker")
    };
    status_ok(Command::new(exe).arg("--version"))
}

fn ensure_bpf_linker() -> Result<()> {
    if bpf_linker_works() {
        eprintln!("setup:   bpf-linker already installed and runs");
        return Ok(());
    }
    let sysroot = run(Command::new("rustc").args([&format!("+{NIGHTLY}"), "--print", "sysroot"]))?;
    let libdir = Path::new(sysroot.trim()).join("lib");
    let lib = std::fs::read_dir(&libdir)
        .with_context(|| format!("cannot read {}", libdir.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libLLVM.so."))
        })
        .with_context(|| {
            format!(
                "no libLLVM.so.* in {} (nightly toolchain incomplete?)",
                libdir.display()
            )
        })?;
    let major = llvm_major(&lib)?;
    let home = std::env::var_os("HOME").context("HOME is not set")?;
    let prefix = Path::new(&home).join(".cache/reconmap/rust-llvm");
    let prefix_lib = prefix.join("lib");
    std::fs::create_dir_all(&prefix_lib)
        .with_context(|| format!("cannot create {}", prefix_lib.display()))?;
    let file_name = lib
        .file_name()
        .context("library path without a file name")?;
    for link in [prefix_lib.join("libLLVM.so"), prefix_lib.join(file_name)] {
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&lib, &link)
            .with_context(|| format!("cannot link {} -> {}", link.display(), lib.display()))?;
    }
    eprintln!(
        "setup:   building bpf-linker with feature llvm-{major} against {} (about a minute)",
        lib.display()
    );
    let mut cmd = Command::new("cargo");
    cmd.args([
        "install",
        "--locked",
        "--force",
        "bpf-linker",
        "--no-default-features",
        "--features",
        &format!("llvm-{major}"),
    ])
    .env("LLVM_PREFIX", &prefix);
    crate::util::run_inherit(&mut cmd)?;
    if !bpf_linker_works() {
        bail!("bpf-linker was built but `bpf-linker --version` does not run");
    }
    Ok(())
}

fn cargo_fuzz_works() -> bool {
    // As `cargo xtask fuzz` calls it: through rustup's cargo, on nightly.
    status_ok(
        Command::new("cargo")
            .args([&format!("+{NIGHTLY}"), "fuzz", "--version"])
            .env_remove("RUSTUP_TOOLCHAIN")
            .env_remove("RUSTC")
            .env_remove("CARGO"),
    )
}

fn ensure_cargo_fuzz() -> Result<()> {
    if cargo_fuzz_works() {
        eprintln!("setup:   cargo-fuzz already installed and runs");
        return Ok(());
    }
    eprintln!("setup:   cargo install cargo-fuzz --locked (a few minutes)");
    crate::util::run_inherit(Command::new("cargo").args(["install", "--locked", "cargo-fuzz"]))?;
    if !cargo_fuzz_works() {
        bail!("cargo-fuzz was installed but `cargo +{NIGHTLY} fuzz --version` does not run");
    }
    Ok(())
}

/// `libLLVM.so.22.1-rust-1.97.0-nightly` -> 22.
fn llvm_major(lib: &Path) -> Result<u32> {
    let name = lib.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    name.strip_prefix("libLLVM.so.")
        .and_then(|rest| rest.split(['.', '-']).next())
        .and_then(|m| m.parse().ok())
        .with_context(|| format!("cannot tell the LLVM version from {name}"))
}

fn apt_installed(pkg: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", pkg])
        .output()
        .map(|o| {
            o.status.success()
                && String::from_utf8_lossy(&o.stdout).contains("install ok installed")
        })
        .unwrap_or(false)
}

fn ensure_apt_packages() -> Result<()> {
    let missing: Vec<&str> = APT_PACKAGES
        .iter()
        .copied()
        .filter(|p| !apt_installed(p))
        .collect();
    if missing.is_empty() {
        eprintln!("setup:   all Debian packages present");
        return Ok(());
    }
    if !is_root() {
        bail!("missing Debian packages {missing:?}; run as root (or install them) and retry");
    }
    eprintln!("setup:   installing {}", missing.join(" "));
    if missing.contains(&"postfix") {
        // Only the binaries are wanted: no system-wide mail configuration, no daemon started.
        let mut cmd = Command::new("debconf-set-selections");
        cmd.stdin(std::process::Stdio::piped());
        let mut child = cmd.spawn().context("cannot run debconf-set-selections")?;
        if let Some(mut stdin) = child.stdin.take() {
            use std::io::Write as _;
            stdin.write_all(b"postfix postfix/main_mailer_type select No configuration\n")?;
        }
        let status = child.wait()?;
        if !status.success() {
            bail!("debconf-set-selections failed ({status})");
        }
    }
    let apt = |args: &[&str]| {
        let mut cmd = Command::new("apt-get");
        cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        crate::util::run_inherit(&mut cmd)
    };
    apt(&["update", "-q"])?;
    let mut args = vec!["install", "-y", "-q", "--no-install-recommends"];
    args.extend(&missing);
    apt(&args)?;
    let still: Vec<&str> = missing
        .iter()
        .copied()
        .filter(|p| !apt_installed(p))
        .collect();
    if !still.is_empty() {
        bail!("apt-get finished but {still:?} are still not installed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llvm_major_from_rustup_library_name() {
        let p = Path::new("/x/lib/libLLVM.so.22.1-rust-1.97.0-nightly");
        assert_eq!(llvm_major(p).ok(), Some(22));
        assert!(llvm_major(Path::new("/x/libLLVM.so")).is_err());
    }
}
