//! `Lab::up` builds the real-world boxes of the scenario schema (root, network namespaces):
//! which helper processes and iptables rules each hop gets, combinations of a router kind with
//! a box on one hop, refusals that leave nothing behind, and helpers stopped both by `Lab`'s
//! drop and by `Lab::down_persisted` (the first step of `Lab::down`) after `persist`. What the boxes do to traffic is checked against
//! the scenarios' truths in tests/tests/lab_quotes (workspace `tests` crate).
use std::time::{Duration, Instant};

use reconmap_lab::{netns, Lab, LabError, Scenario};

/// The tests of this file run one at a time: the refusal test counts the namespaces this
/// process makes.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn require_root() {
    assert!(
        reconmap_sys::privilege::is_root(),
        "the lab tests need root (network namespaces, iptables)"
    );
}

/// The lab helper processes in namespace `ns`: (pid, command line).
fn helpers_in(ns: &str) -> Vec<(i32, String)> {
    let out = std::process::Command::new("ip")
        .args(["netns", "pids", ns])
        .output()
        .expect("ip netns pids");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|p| p.parse::<i32>().ok())
        .filter_map(|pid| {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            let exe = cmd
                .split_whitespace()
                .next()?
                .rsplit('/')
                .next()?
                .to_owned();
            exe.starts_with("reconmap-")
                .then_some((pid, cmd.trim().to_owned()))
        })
        .collect()
}

/// Whether `pid` has ended (gone, or a zombie nobody reaped yet).
fn ended(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X')),
    }
}

fn wait_ended(pids: &[i32]) -> Vec<i32> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let alive: Vec<i32> = pids.iter().copied().filter(|&p| !ended(p)).collect();
        if alive.is_empty() || Instant::now() > deadline {
            return alive;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `iptables -S` of a table in `ns`.
fn rules(ns: &str, table: &str) -> String {
    netns::exec(ns, "iptables")
        .args(["-t", table, "-S"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .expect("iptables -S")
}

fn scenario(text: &str) -> Scenario {
    Scenario::from_toml(text).expect("scenario")
}

#[test]
fn each_hop_gets_its_helpers_and_rules_and_drop_stops_them() {
    require_root();
    let _serial = serial();
    let s = scenario(
        r#"
name = "combined"
description = "every helper-built hop kind, with router kinds on the same hops"
hops = [
  { router = "short-quote", middlebox = { behaviour = "rewrite-ip-id" } },
  { router = "rfc792-quote", middlebox = { behaviour = "reset", daddr = "192.0.2.0/24" } },
  { router = "rfc792-quote", middlebox = { behaviour = "seq-randomise", placement = "prerouting" } },
  { middlebox = { behaviour = "proxy-pass", daddr = "192.0.2.25/32" } },
]
expect = { verdict = "intercepted" }
"#,
    );
    let lab = Lab::up(&s).expect("up");
    let ns = lab.state().namespaces;
    let per_hop: Vec<Vec<String>> = (1..=4)
        .map(|k| helpers_in(&ns[k]).into_iter().map(|(_, c)| c).collect())
        .collect();
    eprintln!("{per_hop:#?}");
    let has = |k: usize, want: &str| per_hop[k - 1].iter().any(|c| c.contains(want));
    assert_eq!(per_hop[0].len(), 1);
    assert!(has(1, "--queue 1 --rewrite-ip-id --ip-id-style random"));
    assert_eq!(per_hop[1].len(), 2);
    assert!(has(2, "--queue 3 --truncate-quotes 28"));
    assert!(has(2, "--queue 1 --reset"));
    assert_eq!(per_hop[2].len(), 2);
    assert!(has(3, "--queue 3 --truncate-quotes 28"));
    assert!(has(3, "--queue 1 --seq-randomise"));
    assert_eq!(per_hop[3].len(), 1);
    assert!(has(4, "reconmap-proxy --port 10025 --starttls pass"));

    let r1 = rules(&ns[1], "filter");
    assert!(
        r1.contains("-A FORWARD -p tcp -m tcp --dport 25 -j NFQUEUE --queue-num 1"),
        "{r1}"
    );
    let r2 = rules(&ns[2], "filter");
    assert!(
        r2.contains("-A FORWARD -d 192.0.2.0/24 -p tcp -m tcp --dport 25 -m string --string \"STARTTLS\" --algo bm --icase -j NFQUEUE --queue-num 1"),
        "{r2}"
    );
    assert!(
        r2.contains("-A OUTPUT -p icmp -m icmp --icmp-type 11 -j NFQUEUE --queue-num 3"),
        "{r2}"
    );
    let r3 = rules(&ns[3], "mangle");
    assert!(
        r3.contains("-A PREROUTING -p tcp -m tcp --dport 25 -j NFQUEUE --queue-num 1"),
        "{r3}"
    );
    assert!(
        r3.contains("-A PREROUTING -p tcp -m tcp --sport 25 -j NFQUEUE --queue-num 1"),
        "{r3}"
    );
    let r4 = rules(&ns[4], "nat");
    assert!(
        r4.contains(
            "-A PREROUTING -d 192.0.2.25/32 -p tcp -m tcp --dport 25 -j REDIRECT --to-ports 10025"
        ),
        "{r4}"
    );
    // The short-quote route of hop 1 sits beside its box.
    let route = netns::exec(&ns[1], "ip")
        .args(["route", "show", "table", "100"])
        .output()
        .expect("ip route");
    assert!(String::from_utf8_lossy(&route.stdout).contains("mtu lock 68"));

    let pids: Vec<i32> = ns
        .iter()
        .flat_map(|n| helpers_in(n))
        .map(|(p, _)| p)
        .collect();
    assert_eq!(pids.len(), 6);
    drop(lab);
    assert_eq!(
        wait_ended(&pids),
        Vec::<i32>::new(),
        "helpers left after drop"
    );
    let left = netns::leftovers();
    assert!(ns.iter().all(|n| !left.contains(n)), "namespaces left");
}

#[test]
fn combinations_the_lab_cannot_build_are_refused_and_leave_nothing() {
    require_root();
    let _serial = serial();
    for (hop, why) in [
        (
            r#"{ middlebox = { behaviour = "rewrite-ip-id" }, forge = { mode = "wrong-id", from = "192.0.2.66" } }"#,
            "FORWARD",
        ),
        (
            r#"{ middlebox = { behaviour = "proxy" }, forge = { mode = "wrong-id", from = "192.0.2.66" } }"#,
            "proxy",
        ),
        (
            r#"{ middlebox = { behaviour = "proxy", placement = "prerouting" } }"#,
            "placement",
        ),
    ] {
        let s = scenario(&format!(
            "name = \"odd\"\ndescription = \"x\"\nhops = [{{}}, {hop}]\nexpect = {{ verdict = \"clean\" }}\n"
        ));
        let before = netns::leftovers();
        let err = Lab::up(&s).expect_err("refused");
        assert!(matches!(err, LabError::Build(_)), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("scenario odd, hop 2") && text.contains(why),
            "{text}"
        );
        let after = netns::leftovers();
        let mine = format!("rmlab-{}-", std::process::id());
        let new: Vec<&String> = after
            .iter()
            .filter(|n| n.starts_with(&mine) && !before.contains(n))
            .collect();
        assert!(new.is_empty(), "left after a refusal: {new:?}");
    }
}

#[test]
fn down_stops_the_helpers_of_a_persisted_lab() {
    require_root();
    let _serial = serial();
    let state_dir = std::env::temp_dir().join(format!("lab-helpers-state-{}", std::process::id()));
    let lab = Lab::up(&Scenario::builtin("proxy").expect("proxy")).expect("up");
    let ns = lab.state().namespaces;
    let mut pids: Vec<i32> = ns
        .iter()
        .flat_map(|n| helpers_in(n))
        .map(|(p, _)| p)
        .collect();
    let lab2 = Lab::up(&Scenario::builtin("rfc792-quote-after").expect("rfc792")).expect("up");
    let ns2 = lab2.state().namespaces;
    pids.extend(ns2.iter().flat_map(|n| helpers_in(n)).map(|(p, _)| p));
    assert_eq!(pids.len(), 2, "a proxy and a quote truncator");
    lab.persist(&state_dir).expect("persist");
    lab2.persist(&state_dir).expect("persist");
    assert!(
        pids.iter().all(|&p| !ended(p)),
        "persisted helpers keep running"
    );
    // Only our persisted labs: the leftover sweep of `Lab::down` could meet other runs'.
    let report = Lab::down_persisted(&state_dir).expect("down");
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(
        wait_ended(&pids),
        Vec::<i32>::new(),
        "helpers left after down"
    );
    let left = netns::leftovers();
    assert!(
        ns.iter().chain(&ns2).all(|n| !left.contains(n)),
        "namespaces left"
    );
    let _ = std::fs::remove_dir_all(&state_dir);
}
