//! The scenarios' truth, checked without ReconMap (run as root). For every scenario whose
//! truth rests on ICMP quotes, kernel TCP connections from the prober send STARTTLS (and
//! control lines) with IP TTL 1, 2, ...; an AF_PACKET capture on the prober's interface sees
//! our own segments as sent and the ICMP errors, TCP replies and RSTs that come back; other
//! tools (`traceroute -T`, `openssl s_client`) give their view where the truth needs it.
//! Each check compares real observations with the lab's configuration and the stated truth.
mod capture;
mod checks;
mod packets;
mod path;
mod probe;
mod tools;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use reconmap_lab::{Lab, Scenario};

use checks::{check_control_segments, check_one_connection_seq, check_sweep, Bench};
use path::{Ending, PathModel};

/// Wait after each probe line on an unshaped lab (routers answer within a millisecond).
const WINDOW: Duration = Duration::from_millis(300);
/// An address of `many`'s AnyIP prefix outside its mailguard's `daddr`.
const MANY_OUTSIDE: Ipv4Addr = Ipv4Addr::new(198, 18, 200, 3);

fn up(name: &str) -> Lab {
    let scenario = Scenario::builtin(name).expect("builtin scenario");
    let start = Instant::now();
    let lab = Lab::up(&scenario).unwrap_or_else(|e| panic!("{name}: {e}"));
    eprintln!("[{name}] lab up in {:?}", start.elapsed());
    lab
}

/// Checks one scenario: the STARTTLS sweep toward its target (and, for `many`, toward a
/// target outside the box's prefix), then what its boxes need beyond the sweep.
fn check(name: &str) {
    reconmap_tests::require_root();
    let started = Instant::now();
    let lab = up(name);
    let scenario = lab.scenario().clone();
    let delay = Duration::from_millis(u64::from(scenario.link.delay_ms));
    let links = u32::from(scenario.server_ttl());
    let bench = Bench {
        lab: &lab,
        name: name.to_owned(),
        window: WINDOW + delay * 2 * links,
    };
    let target = lab.target();
    let model = PathModel::new(&scenario, *target.ip());
    check_sweep(&bench, &model, target, &scenario.expect);
    if let Some(outside) = &scenario.expect_outside {
        let other = SocketAddrV4::new(MANY_OUTSIDE, 25);
        assert_eq!(lab.expected_for(MANY_OUTSIDE).as_ref(), Some(outside));
        let model = PathModel::new(&scenario, MANY_OUTSIDE);
        check_sweep(&bench, &model, other, outside);
    }
    match model.ending {
        Ending::Drop(..) | Ending::Reset(..) => check_control_segments(&bench, &model, target),
        Ending::Proxy { hop, pass } => check_proxy(&lab, &model, hop, pass),
        Ending::Server => {}
    }
    if !model.seq_boxes.is_empty() {
        check_one_connection_seq(&bench, &model, target);
    }
    eprintln!("[{name}] checked in {:?}", started.elapsed());
}

/// A proxy on hop `hop`: TCP to port 25 ends there, TCP to a closed port of the server gets
/// Time Exceeded from every router and the server's RST at n+1; with `pass`, TLS through it
/// completes with Postfix's certificate.
fn check_proxy(lab: &Lab, m: &PathModel, hop: u8, pass: bool) {
    let name = &lab.scenario().name;
    let target = *lab.target().ip();
    let (to_25, text) = tools::tcp_traceroute(lab.prober(), target, 25);
    eprintln!("[{name}] traceroute -T -p 25:\n{text}");
    let mut want: Vec<Option<Ipv4Addr>> = (1..hop).map(|t| lab.hop_addr(t)).collect();
    want.push(Some(target));
    assert_eq!(to_25, want, "{name}: TCP to port 25 answered at hop {hop}");
    let (to_26, text) = tools::tcp_traceroute(lab.prober(), target, 26);
    eprintln!("[{name}] traceroute -T -p 26:\n{text}");
    let mut want: Vec<Option<Ipv4Addr>> = (1..=m.n).map(|t| lab.hop_addr(t)).collect();
    want.push(Some(target));
    assert_eq!(
        to_26, want,
        "{name}: TCP to a closed port: every router, then the server's RST"
    );
    let tls = tools::s_client(lab.prober(), target, Duration::from_secs(10));
    eprintln!(
        "[{name}] openssl s_client -starttls smtp: exit ok {}, {} certificate(s)",
        tls.success,
        tls.certificates().len()
    );
    if pass {
        assert!(tls.success, "{name}: TLS through the proxy: {}", tls.output);
        let pf_dir = lab.state().postfix_dir.expect("postfix dir");
        let pem = std::fs::read_to_string(pf_dir.join("cert.pem")).expect("postfix cert");
        let postfix_cert = tools::pem_blocks(&pem);
        assert_eq!(postfix_cert.len(), 1);
        assert_eq!(
            tls.certificates().first(),
            postfix_cert.first(),
            "{name}: the handshake shows Postfix's certificate"
        );
        assert!(
            tls.output.contains("Cipher is TLS_"),
            "{name}: {}",
            tls.output
        );
    } else {
        assert!(
            tls.certificates().is_empty(),
            "{name}: no TLS through a refusing proxy: {}",
            tls.output
        );
    }
}

macro_rules! scenario_checks {
    ($($test:ident => $name:literal),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                check($name);
            }
        )*

        /// Every scenario whose truth rests on quotes (a segment bound, an IP ID or candidate
        /// truth, or any box, forger or non-plain router on the path) has a check here.
        #[test]
        fn every_quote_scenario_is_checked() {
            let checked = [$($name),*];
            for s in Scenario::all().expect("scenarios") {
                let e = &s.expect;
                let by_quotes = e.segment_after.is_some()
                    || e.segment_at.is_some()
                    || e.ip_id_rewritten_from.is_some()
                    || e.candidate_hops.is_some()
                    || s.hops.iter().any(|h| {
                        h.middlebox.is_some()
                            || h.forge.is_some()
                            || h.router != reconmap_lab::scenario::RouterKind::Normal
                    });
                // A TLS box lets STARTTLS through; its truth is about the ClientHello, checked
                // by `lab_tls`.
                let tls_box = s.hops.iter().any(|h| {
                    h.middlebox.as_ref().is_some_and(|mb| {
                        matches!(
                            mb.behaviour,
                            reconmap_lab::scenario::Behaviour::TlsDrop
                                | reconmap_lab::scenario::Behaviour::TlsReset
                                | reconmap_lab::scenario::Behaviour::TlsRewrite
                        )
                    })
                });
                if by_quotes && s.server.hostile.is_none() && !tls_box {
                    assert!(checked.contains(&s.name.as_str()), "{} is not checked here", s.name);
                }
            }
        }
    };
}

scenario_checks! {
    as_client_network => "as-client-network",
    as_boundary => "as-boundary",
    as_transit => "as-transit",
    as_server_network => "as-server-network",
    clean => "clean",
    mailguard_forward => "mailguard-forward",
    mailguard_prerouting => "mailguard-prerouting",
    mailguard_edge => "mailguard-edge",
    ehlo_mask => "ehlo-mask",
    silent_before => "silent-before",
    silent_after => "silent-after",
    short_quote_after => "short-quote-after",
    header_only_quotes => "header-only-quotes",
    rfc792_quote_after => "rfc792-quote-after",
    nat => "nat",
    wide_area => "wide-area",
    many => "many",
    drop => "drop",
    reset => "reset",
    ipid_rewrite => "ipid-rewrite",
    ipid_rewrite_short_quotes => "ipid-rewrite-short-quotes",
    proxy => "proxy",
    proxy_pass => "proxy-pass",
    ehlo_mask_seq_randomise => "ehlo-mask-seq-randomise",
    forge_wrong_id => "forge-wrong-id",
    forge_bad_rfc4884 => "forge-bad-rfc4884",
    forge_truncated_inner => "forge-truncated-inner",
    forge_wrong_proto => "forge-wrong-proto",
    forge_flood => "forge-flood",
    forge_modified_payload => "forge-modified-payload",
    wide_area_ipid => "wide-area-ipid",
    mpls_core => "mpls-core",
}
