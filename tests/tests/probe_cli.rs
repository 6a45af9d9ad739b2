//! The CLI refuses bad input with a clear message and exit status 1, never a panic.
use reconmap_tests::reconmap_bin;
use std::process::Command;

fn run(args: &[&str]) -> (i32, String) {
    let out = Command::new(reconmap_bin())
        .args(args)
        .output()
        .expect("run reconmap");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
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
        assert!(!stderr.contains("panicked"), "{arg}: {stderr}");
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
