//! The TLS truths of the scenarios, checked without ReconMap (run as root). For every scenario
//! whose truth is about TLS (a tls-* box on the path, a server TLS profile other than
//! `modern`, a `tls_*` verdict, or `clean`, which needs a completed handshake), the lab is
//! brought up and:
//! - `openssl s_client -starttls smtp` from the prober, set up like ReconMap's client (TLS 1.2
//!   and 1.3, ECDHE AEAD suites only), with the prober's interface captured: does the
//!   handshake complete, hang, get reset, or fail, and with which records and alerts on the
//!   wire;
//! - for server profiles, the clients the profile was made for (TLS 1.0; TLS 1.2 with
//!   AES128-SHA) complete, so the modern client's failure is the server's set-up;
//! - for TLS boxes and profiles, the ClientHello openssl sent is replayed on kernel TCP
//!   connections after STARTTLS with IP TTL 1..n+1: which routers quote it intact, which
//!   changed (which bytes), where it stops, a control of the same length where it draws no
//!   quote, the reset box's RSTs and their IP TTL.
//!
//! Every observation is compared with the lab's configuration (`model`) and with the truth.
#[path = "../lab_quotes/capture.rs"]
mod capture;
mod checks;
mod model;
mod records;
mod sclient;
mod sweep;
mod wire;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use reconmap_core::verdict::Verdict;
use reconmap_lab::scenario::{Behaviour, TlsProfile};
use reconmap_lab::{Expected, Lab, Scenario};

use checks::{check_modern_handshake, check_server_profile, check_sweep, Bench};
use model::TlsPath;

/// Wait after each probe payload on an unshaped lab (routers answer within a millisecond).
const WINDOW: Duration = Duration::from_millis(300);
/// How long s_client may take on an unshaped lab before it counts as hanging.
const DEADLINE: Duration = Duration::from_secs(4);
/// An address of `many`'s AnyIP prefix outside its mailguard's `daddr`.
const MANY_OUTSIDE: Ipv4Addr = Ipv4Addr::new(198, 18, 200, 3);

fn has_tls_box(s: &Scenario) -> bool {
    s.hops.iter().any(|h| {
        h.middlebox.as_ref().is_some_and(|mb| {
            matches!(
                mb.behaviour,
                Behaviour::TlsDrop | Behaviour::TlsReset | Behaviour::TlsRewrite
            )
        })
    })
}

fn is_tls_truth(e: &Expected) -> bool {
    matches!(
        e.verdict,
        Verdict::Clean | Verdict::TlsBlocked | Verdict::TlsTampered | Verdict::TlsFailed
    )
}

/// Whether the ClientHello sweep applies: something on the path or at the server is about TLS
/// beyond STARTTLS.
fn needs_sweep(s: &Scenario, truth: &Expected) -> bool {
    has_tls_box(s)
        || s.server.tls_profile != TlsProfile::Modern
        || matches!(
            truth.verdict,
            Verdict::TlsBlocked | Verdict::TlsTampered | Verdict::TlsFailed
        )
}

/// The targets of `s` whose truth is about TLS: the representative one and, for a box limited
/// to a prefix, one outside it.
fn tls_targets(lab: &Lab) -> Vec<(SocketAddrV4, Expected)> {
    let s = lab.scenario();
    let mut targets = vec![(lab.target(), s.expect.clone())];
    if let Some(outside) = &s.expect_outside {
        assert_eq!(lab.expected_for(MANY_OUTSIDE).as_ref(), Some(outside));
        targets.push((SocketAddrV4::new(MANY_OUTSIDE, 25), outside.clone()));
    }
    targets.retain(|(_, e)| is_tls_truth(e));
    targets
}

fn check(name: &str) {
    reconmap_tests::require_root();
    let started = Instant::now();
    let scenario = Scenario::builtin(name).expect("builtin scenario");
    let lab = Lab::up(&scenario).unwrap_or_else(|e| panic!("{name}: {e}"));
    eprintln!("[{name}] lab up in {:?}", started.elapsed());
    let delay = Duration::from_millis(u64::from(scenario.link.delay_ms));
    let round_trip = delay * 2 * u32::from(scenario.server_ttl());
    let targets = tls_targets(&lab);
    assert!(!targets.is_empty(), "{name}: no TLS truth to check");
    for (target, truth) in targets {
        eprintln!("[{name}] {target}: truth {truth}");
        let bench = Bench {
            lab: &lab,
            name: format!("{name} {}", target.ip()),
            target,
            window: WINDOW + round_trip,
            deadline: DEADLINE + round_trip * 10,
        };
        let model = TlsPath::new(&scenario, *target.ip());
        let run = check_modern_handshake(&bench, &model, &truth);
        check_server_profile(&bench, &model);
        if needs_sweep(&scenario, &truth) {
            let hello = run.client_hello.expect("ClientHello");
            check_sweep(&bench, &model, &truth, &hello);
        }
    }
    eprintln!("[{name}] checked in {:?}", started.elapsed());
}

macro_rules! scenario_checks {
    ($($test:ident => $name:literal),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                check($name);
            }
        )*

        /// Every scenario whose truth is about TLS (a tls-* box, a server profile, a `tls_*`
        /// verdict, or `clean` for a Postfix with STARTTLS) has a check here. Hostile servers
        /// never speak TLS (`reconmap-hostile-smtp`): their truths are checked elsewhere.
        #[test]
        fn every_tls_scenario_is_checked() {
            let checked = [$($name),*];
            for s in Scenario::all().expect("scenarios") {
                let postfix_tls = s.server.tls && s.server.hostile.is_none();
                let about_tls = has_tls_box(&s)
                    || s.server.tls_profile != TlsProfile::Modern
                    || std::iter::once(&s.expect).chain(&s.expect_outside).any(is_tls_truth);
                if postfix_tls && about_tls {
                    assert!(checked.contains(&s.name.as_str()), "{} is not checked here", s.name);
                }
            }
        }
    };
}

scenario_checks! {
    tls_drop => "tls-drop",
    tls_reset => "tls-reset",
    tls_rewrite => "tls-rewrite",
    tls10_only => "tls10-only",
    tls_cbc_only => "tls-cbc-only",
    wide_area_tls => "wide-area-tls",
    clean => "clean",
    direct => "direct",
    many => "many",
    forge_wrong_id => "forge-wrong-id",
    forge_bad_rfc4884 => "forge-bad-rfc4884",
    forge_truncated_inner => "forge-truncated-inner",
    forge_wrong_proto => "forge-wrong-proto",
    forge_flood => "forge-flood",
}
