//! The CLI refuses bad input with a clear message and a failing exit status, never a panic.
//! The binary runs in a fresh namespace with no route anywhere (a bad argument must fail before
//! any packet, but even a mistake here cannot reach out).
use reconmap_sys::netns::Netns;
use reconmap_tests::{reconmap_in_netns, require_root};

fn run(args: &[&str]) -> (i32, String) {
    require_root();
    let ns = Netns::create("cli").expect("namespace");
    let out = reconmap_in_netns(ns.name())
        .args(args)
        .output()
        .expect("run reconmap");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    (out.status.code().unwrap_or(-1), stderr)
}

#[test]
fn bad_targets_get_a_clear_error() {
    for (arg, needle) in [
        ("192.0.2.300", "not an IPv4 address"),
        ("2001:db8::25", "IPv6"),
        ("192.0.2.1:0", "bad port"),
        ("mail.example.invalid", "not an IPv4 address"),
    ] {
        let (code, stderr) = run(&["probe", arg]);
        assert_eq!(code, 1, "{arg}: {stderr}");
        assert!(stderr.contains(needle), "{arg}: {stderr}");
    }
}

#[test]
fn bad_options_are_refused_by_the_parser() {
    let (code, stderr) = run(&["probe", "--max-ttl", "0", "192.0.2.1"]);
    assert_eq!(code, 2, "{stderr}");
    let (code, stderr) = run(&["probe", "--json", "--csv", "192.0.2.1"]);
    assert_eq!(code, 2, "{stderr}");
    let (code, stderr) = run(&["probe", "--ehlo-name", "a b", "192.0.2.1"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("--ehlo-name"), "{stderr}");
}

#[test]
fn absurd_numbers_are_refused_not_panicked_on() {
    // Issue: `--rate 1e-300` panicked in Duration::from_secs_f64; `--timeout` near u64::MAX
    // overflowed an Instant; `--port 0` sent SYNs to port 0.
    let (code, stderr) = run(&["scan", "--rate", "1e-300", "-i", "/dev/null"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("--rate"), "{stderr}");
    for args in [
        &["probe", "--timeout", "9223372036854775807", "192.0.2.1"][..],
        &["probe", "--starttls-timeout", "0", "192.0.2.1"],
        &["probe", "--port", "0", "192.0.2.1"],
        &["scan", "--port", "0", "-i", "/dev/null"],
        &["probe", "--source-ports", "80-90", "192.0.2.1"],
        &["probe", "--source-ports", "9-8", "192.0.2.1"],
    ] {
        let (code, stderr) = run(args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
    }
}
