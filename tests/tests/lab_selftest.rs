//! Lab self-tests without ReconMap (run as root): a kernel-socket SMTP client through clean and
//! tampering paths, traceroute's view of hop addresses, and teardown that leaves nothing.
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use reconmap_lab::{netns, smtp_session, Lab, Scenario, SmtpTranscript};

const TIMEOUT: Duration = Duration::from_secs(5);

fn up(name: &str) -> Lab {
    let scenario = Scenario::builtin(name).expect("builtin scenario");
    let start = Instant::now();
    let lab = Lab::up(&scenario).unwrap_or_else(|e| panic!("{name}: {e}"));
    eprintln!("lab {name} up in {:?}", start.elapsed());
    lab
}

fn session(lab: &Lab, target: SocketAddrV4, starttls: bool) -> Result<SmtpTranscript, String> {
    lab.prober()
        .enter(move || smtp_session(target, "prober.lab.example", starttls, TIMEOUT))
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
}

#[test]
fn clean_path_offers_and_accepts_starttls() {
    reconmap_tests::require_root();
    let lab = up("clean");
    let t = session(&lab, lab.target(), true).expect("session");
    assert!(
        t.has_line("220 mx.lab.example ESMTP ReconMap lab"),
        "{}",
        t.raw
    );
    assert!(t.has_line("250-STARTTLS"), "{}", t.raw);
    assert!(t.offers_starttls(), "{:?}", t.ehlo);
    assert_eq!(t.starttls_code(), Some(220), "{:?}", t.starttls);
}

fn assert_mailguarded(t: &SmtpTranscript) {
    assert!(
        t.has_line("220 ************** ***** ******** ***"),
        "{}",
        t.raw
    );
    assert!(!t.offers_starttls(), "{:?}", t.ehlo);
    assert!(t.has_line("250-XXXXXXXX"), "{}", t.raw);
    let code = t.starttls_code().expect("a reply to the rewritten command");
    assert!((500..600).contains(&code), "{:?}", t.starttls);
}

#[test]
fn mailguard_masks_banner_ehlo_and_command() {
    reconmap_tests::require_root();
    for name in [
        "mailguard-forward",
        "mailguard-prerouting",
        "mailguard-edge",
        "nat",
    ] {
        let lab = up(name);
        let t = session(&lab, lab.target(), true).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_mailguarded(&t);
    }
}

#[test]
fn ehlo_mask_drop_reset_no_tls() {
    reconmap_tests::require_root();
    let lab = up("ehlo-mask");
    let t = session(&lab, lab.target(), true).expect("session");
    assert!(t.raw.starts_with("220 mx.lab.example"), "{}", t.raw);
    assert!(!t.offers_starttls(), "{:?}", t.ehlo);
    assert_eq!(t.starttls_code(), Some(220), "the command passes");
    drop(lab);

    let lab = up("drop");
    let err = session(&lab, lab.target(), true).expect_err("dropped STARTTLS times out");
    assert!(err.contains("STARTTLS reply"), "{err}");
    drop(lab);

    let lab = up("reset");
    let err = session(&lab, lab.target(), true).expect_err("reset");
    assert!(err.contains("STARTTLS"), "{err}");
    drop(lab);

    let lab = up("no-tls");
    let t = session(&lab, lab.target(), true).expect("session");
    assert!(!t.offers_starttls());
    let code = t.starttls_code().expect("reply");
    assert!((500..600).contains(&code), "{:?}", t.starttls);
}

#[test]
fn many_answers_both_halves_with_their_truth() {
    reconmap_tests::require_root();
    let lab = up("many");
    let targets = lab.targets();
    assert!(targets.len() > 60_000);
    let inside = SocketAddrV4::new(Ipv4Addr::new(198, 18, 7, 9), 25);
    let outside = SocketAddrV4::new(Ipv4Addr::new(198, 18, 200, 3), 25);
    assert_eq!(
        lab.expected_for(*inside.ip()).expect("truth").verdict,
        reconmap_core::verdict::Verdict::Stripped
    );
    assert_eq!(
        lab.expected_for(*outside.ip()).expect("truth").verdict,
        reconmap_core::verdict::Verdict::Clean
    );
    assert_mailguarded(&session(&lab, inside, true).expect("inside"));
    let t = session(&lab, outside, true).expect("outside");
    assert!(t.offers_starttls());
    assert_eq!(t.starttls_code(), Some(220));
}

/// `traceroute -T -p 25 -n` from the prober: hop addresses per line (`None` = `*`).
fn traceroute(lab: &Lab) -> Vec<Option<Ipv4Addr>> {
    let out = lab
        .prober()
        .run(&[
            "traceroute",
            "-T",
            "-p",
            "25",
            "-n",
            "-q",
            "1",
            "-w",
            "1",
            "-m",
            "8",
            &lab.target().ip().to_string(),
        ])
        .expect("traceroute");
    out.lines()
        .skip(1)
        .map(|l| l.split_whitespace().nth(1).and_then(|a| a.parse().ok()))
        .collect()
}

#[test]
fn traceroute_sees_hops_and_silence() {
    reconmap_tests::require_root();
    for name in ["clean", "silent-before", "silent-after"] {
        let lab = up(name);
        let hops = traceroute(&lab);
        let n = lab.scenario().hops.len();
        assert_eq!(hops.len(), n + 1, "{name}: {hops:?}");
        for (i, seen) in hops.iter().enumerate() {
            let ttl = u8::try_from(i + 1).expect("ttl");
            let silent = lab
                .scenario()
                .hops
                .get(i)
                .is_some_and(|h| h.router == reconmap_lab::scenario::RouterKind::Silent);
            let want = (!silent).then(|| lab.hop_addr(ttl)).flatten();
            assert_eq!(*seen, want, "{name} ttl {ttl}: {hops:?}");
        }
    }
}

/// Processes whose environment names a Postfix config dir of ours.
fn postfix_processes(dir: &Path) -> Vec<u32> {
    let needle = format!("MAIL_CONFIG={}", dir.display());
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .map(|env| env.split(|&b| b == 0).any(|v| v == needle.as_bytes()))
                .unwrap_or(false)
        })
        .collect()
}

fn assert_gone(namespaces: &[String], temp_dir: &Path, postfix_dir: &Path) {
    let left = netns::leftovers();
    for ns in namespaces {
        assert!(!left.contains(ns), "namespace {ns} left");
    }
    assert!(!temp_dir.exists(), "{} left", temp_dir.display());
    let procs = postfix_processes(postfix_dir);
    assert!(procs.is_empty(), "postfix processes left: {procs:?}");
    let links = Command::new("ip")
        .args(["-o", "link"])
        .output()
        .expect("ip link");
    let links = String::from_utf8_lossy(&links.stdout);
    assert!(
        !links.contains(" east@") && !links.contains(" west@"),
        "veth in root ns: {links}"
    );
}

fn parts(lab: &Lab) -> (Vec<String>, PathBuf, PathBuf) {
    let state = lab.state();
    let postfix_dir = state.postfix_dir.expect("postfix dir");
    assert!(!postfix_processes(&postfix_dir).is_empty(), "postfix runs");
    (
        state.namespaces,
        state.temp_dir.expect("temp dir"),
        postfix_dir,
    )
}

#[test]
fn drop_leaves_nothing_even_after_a_panic() {
    reconmap_tests::require_root();
    let lab = up("mailguard-forward");
    let (ns, tmp, pf) = parts(&lab);
    drop(lab);
    assert_gone(&ns, &tmp, &pf);

    let seen = std::sync::Mutex::new(None);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let lab = up("short-quote-after");
        *seen.lock().unwrap_or_else(|e| e.into_inner()) = Some(parts(&lab));
        panic!("deliberate panic with a lab alive");
    }));
    assert!(result.is_err());
    let (ns, tmp, pf) = seen
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .expect("lab came up");
    assert_gone(&ns, &tmp, &pf);
}

#[test]
fn persist_then_down_leaves_nothing() {
    reconmap_tests::require_root();
    let state_dir = std::env::temp_dir().join(format!("lab-test-state-{}", std::process::id()));
    let lab = up("clean");
    let (ns, tmp, pf) = parts(&lab);
    lab.persist(&state_dir).expect("persist");
    let states = Lab::status(&state_dir).expect("status");
    assert_eq!(states.len(), 1);
    assert!(
        netns::leftovers().contains(&states[0].prober),
        "still up after persist"
    );
    assert!(!postfix_processes(&pf).is_empty());
    let report = Lab::down(&state_dir).expect("down");
    assert_eq!(report.labs, vec!["clean".to_owned()]);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_gone(&ns, &tmp, &pf);
    let _ = std::fs::remove_dir_all(&state_dir);
}

#[test]
fn wide_area_delays_every_link() {
    reconmap_tests::require_root();
    let lab = up("wide-area");
    let links = lab.scenario().hops.len() + 1;
    let delay = Duration::from_millis(u64::from(lab.scenario().link.delay_ms));
    let target = lab.target();
    let rtt = lab
        .prober()
        .enter(move || {
            let start = Instant::now();
            std::net::TcpStream::connect_timeout(&target.into(), TIMEOUT).map(|_| start.elapsed())
        })
        .expect("enter")
        .expect("connect");
    let one_way = delay * u32::try_from(links).expect("links");
    assert!(
        rtt >= one_way * 2,
        "handshake {rtt:?} below {:?}",
        one_way * 2
    );
    assert!(rtt < one_way * 2 + Duration::from_millis(500), "{rtt:?}");
    assert_mailguarded(&session(&lab, target, true).expect("session"));
}

#[test]
fn reset_box_resets_both_ends() {
    reconmap_tests::require_root();
    let lab = up("reset");
    let server_ns = lab
        .state()
        .namespaces
        .last()
        .expect("server namespace")
        .clone();
    reconmap_tests::nft_load(
        &server_ns,
        "table inet rmrst {\n chain in { type filter hook input priority 0; tcp flags rst counter; }\n}\n",
    );
    let before: u64 = reconmap_tests::nft_counters(&server_ns, "inet", "rmrst", "in")
        .iter()
        .sum();
    assert_eq!(before, 0);
    let result = session(&lab, lab.target(), true);
    assert!(
        result.is_err(),
        "the client's STARTTLS must end in a reset: {result:?}"
    );
    std::thread::sleep(Duration::from_millis(200));
    let after: u64 = reconmap_tests::nft_counters(&server_ns, "inet", "rmrst", "in")
        .iter()
        .sum();
    assert!(after >= 1, "the server side must be reset too");
}

/// The AS of `addr` in a prefix2as text, read here without ReconMap's table code: the longest
/// `prefix<TAB>len<TAB>asn` line containing it.
fn as_of(table: &str, addr: Ipv4Addr) -> Option<u32> {
    table
        .lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            let net: Ipv4Addr = f.next()?.parse().ok()?;
            let len: u32 = f.next()?.parse().ok()?;
            let asn: u32 = f.next()?.parse().ok()?;
            let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
            (u32::from(addr) & mask == u32::from(net) & mask).then_some((len, asn))
        })
        .max()
        .map(|(_, asn)| asn)
}

/// The AS scenarios' truth, seen without ReconMap: traceroute's hop addresses looked up in the
/// table the lab wrote give the ASes the scenario states, and the kernel's SMTP client sees
/// the mailguard's rewriting (so the box is on the path where the table says it is).
#[test]
fn as_scenarios_put_traceroute_hops_in_their_stated_ases() {
    reconmap_tests::require_root();
    for name in [
        "as-client-network",
        "as-transit",
        "as-server-network",
        "as-boundary",
    ] {
        let lab = up(name);
        let s = lab.scenario().clone();
        let table =
            std::fs::read_to_string(lab.asn_db().expect("the lab wrote a table")).expect("table");
        assert_eq!(as_of(&table, lab.prober_addr()), s.prober_asn, "{name}");
        assert_eq!(as_of(&table, *lab.target().ip()), s.server.asn, "{name}");
        let hops = traceroute(&lab);
        assert_eq!(hops.len(), s.hops.len() + 1, "{name}: {hops:?}");
        for (i, seen) in hops.iter().take(s.hops.len()).enumerate() {
            let addr = seen.unwrap_or_else(|| panic!("{name}: hop {} silent", i + 1));
            assert_eq!(as_of(&table, addr), s.hops[i].asn, "{name} hop {}", i + 1);
        }
        let t = session(&lab, lab.target(), true).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_mailguarded(&t);
    }
}
