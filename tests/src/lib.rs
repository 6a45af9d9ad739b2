//! Helpers shared by the privileged end-to-end tests: locating the `reconmap` binary and
//! running it inside a lab's prober namespace.
use std::path::PathBuf;
use std::process::Output;

/// Path of the `reconmap` binary under test: `$RECONMAP_BIN` (set by `cargo xtask test`), else
/// the one cargo built (see `reconmap_sys::bins::find`).
pub fn reconmap_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("RECONMAP_BIN") {
        return PathBuf::from(p);
    }
    reconmap_sys::bins::find("reconmap").unwrap_or_else(|| {
        panic!(
            "the reconmap binary was not found; run the tests with `cargo xtask test`, which \
             builds it and sets RECONMAP_BIN"
        )
    })
}

/// A `reconmap` command that runs inside namespace `ns` (`ip netns exec` execs it, so the
/// child's PID is reconmap's own).
pub fn reconmap_in_netns(ns: &str) -> std::process::Command {
    reconmap_sys::netns::exec(ns, reconmap_bin())
}

/// Runs `reconmap ARGS` inside namespace `ns` and returns its output.
pub fn run_in_netns(ns: &str, args: &[&str]) -> Output {
    let bin = reconmap_bin();
    reconmap_in_netns(ns)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} in {ns}: {e}", bin.display()))
}

/// Runs `reconmap probe --json TARGET ARGS` in `ns` and parses the single JSON report.
pub fn probe_json(ns: &str, target: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["probe", "--json", target];
    args.extend_from_slice(extra);
    let out = run_in_netns(ns, &args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "reconmap probe {target} failed ({}):\nstdout: {stdout}\nstderr: {stderr}",
        out.status
    );
    let line = stdout
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| {
        panic!("reconmap printed no valid JSON ({e}):\nstdout: {stdout}\nstderr: {stderr}")
    })
}

/// Fails the test unless it runs as root (privileged tests never skip: run them with
/// `cargo xtask test`, as CI does).
pub fn require_root() {
    assert!(
        reconmap_sys::privilege::is_root(),
        "this test needs root (namespaces, eBPF, raw sockets): run `cargo xtask test` as root"
    );
}

/// Loads an nftables ruleset into namespace `ns`.
pub fn nft_load(ns: &str, rules: &str) {
    if let Err(e) = reconmap_sys::process::run_with_input(
        reconmap_sys::netns::exec(ns, "nft").args(["-f", "-"]),
        rules,
    ) {
        panic!("nft refused: {e}\n{rules}");
    }
}

/// The packet counts of the `counter` statements of one chain, in rule order.
pub fn nft_counters(ns: &str, family: &str, table: &str, chain: &str) -> Vec<u64> {
    let out = reconmap_sys::netns::exec(ns, "nft")
        .args(["-j", "list", "chain", family, table, chain])
        .output()
        .expect("nft list");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    v["nftables"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| o["rule"]["expr"].as_array())
        .flatten()
        .filter_map(|e| e["counter"]["packets"].as_u64())
        .collect()
}

/// A temporary directory removed on drop (also when the test fails).
pub use reconmap_sys::tempdir::TempDir;
