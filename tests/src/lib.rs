//! Helpers shared by the privileged end-to-end tests: locating the `reconmap` binary and
//! running it inside a lab's prober namespace.
use std::path::PathBuf;
use std::process::Output;

/// Path of the `reconmap` binary under test: `$RECONMAP_BIN` (set by `cargo xtask test`), else
/// the one cargo built next to this test executable (`target/<profile>/reconmap`).
pub fn reconmap_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("RECONMAP_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap_or_default();
    // target/<profile>/deps/<test> -> target/<profile>/reconmap
    let profile_dir = exe
        .parent()
        .and_then(|d| d.parent())
        .map(PathBuf::from)
        .unwrap_or_default();
    for candidate in [
        profile_dir.join("reconmap"),
        profile_dir.join("../release/reconmap"),
    ] {
        if candidate.exists() {
            return candidate;
        }
    }
    panic!(
        "the reconmap binary was not found (looked next to {}); run the tests with `cargo xtask test`, \
         which builds it and sets RECONMAP_BIN",
        exe.display()
    );
}

/// Runs `reconmap ARGS` inside namespace `ns` and returns its output.
pub fn run_in_netns(ns: &str, args: &[&str]) -> Output {
    let bin = reconmap_bin();
    std::process::Command::new("ip")
        .args(["netns", "exec", ns])
        .arg(&bin)
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
