//! Property test of the whole probe session: random but valid scenarios (0-6 routers of any
//! kind, at most one middlebox of any behaviour and placement, a hostile server of any
//! behaviour or Postfix with or without TLS, forging routers, link delay and loss) run several
//! targets through the real [`Engine`] on the simulator, and every run must keep the engine's
//! invariants:
//!
//! - no panic: the engine's panic boundary turns one into an `internal_error` record, which
//!   counts as a failure here, as does any incomplete record;
//! - exactly one record per target;
//! - `clean` only when the server answered STARTTLS with 220, no hop quotes a changed payload
//!   and neither the banner nor an EHLO keyword was masked;
//! - `stripped` only with evidence of it: a changed quote, a rewritten command echoed back,
//!   masking, or a refused STARTTLS that the server had advertised;
//! - no false alarm and no miss where the truth is certain: a lossless path to Postfix without
//!   forged ICMP is `clean` (`not_offered` without TLS) with no box, and the box's verdict with
//!   one.
//!
//! 512 cases by default (about a second in a debug build); `PROPTEST_CASES` asks for more.
use crate::engine::Transport as _;
use crate::engine::{
    Engine, PortAllocator, PortRange, ProbeConfig, RunPlan, RunStats, SinkError, Target,
};
use crate::evidence::{Evidence, Incomplete, PayloadStatus};
use crate::report::{render_table, to_csv_row, to_json, HopPayload, Report};
use crate::scan::Cidr;
use crate::scenario::{
    Behaviour, Expected, ForgeMode, ForgeSpec, HopSpec, HostileBehaviour, HostileSpec, LinkSpec,
    MiddleboxSpec, Placement, RouterKind, Scenario, ServerSpec, TlsProfile,
};
use crate::sim::{run, SimNet};
use crate::verdict::Verdict;
use proptest::prelude::*;
use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;

/// Every router kind, behaviour, mode and placement. The `match`es below stop compiling when
/// a variant is added, so that it is added here too.
const ROUTERS: [RouterKind; 5] = [
    RouterKind::Normal,
    RouterKind::Silent,
    RouterKind::ShortQuote,
    RouterKind::Rfc792Quote,
    RouterKind::Nat,
];
const BOXES: [Behaviour; 11] = [
    Behaviour::Mailguard,
    Behaviour::EhloMask,
    Behaviour::Drop,
    Behaviour::Reset,
    Behaviour::RewriteIpId,
    Behaviour::SeqRandomise,
    Behaviour::Proxy,
    Behaviour::ProxyPass,
    Behaviour::TlsDrop,
    Behaviour::TlsReset,
    Behaviour::TlsRewrite,
];
const PROFILES: [TlsProfile; 3] = [
    TlsProfile::Modern,
    TlsProfile::Tls10Only,
    TlsProfile::CbcOnly,
];
const PLACEMENTS: [Placement; 2] = [Placement::Forward, Placement::Prerouting];
const FORGES: [ForgeMode; 6] = [
    ForgeMode::WrongId,
    ForgeMode::BadRfc4884,
    ForgeMode::TruncatedInner,
    ForgeMode::WrongProto,
    ForgeMode::ModifiedPayload,
    ForgeMode::Flood,
];
const HOSTILE: [HostileBehaviour; 17] = [
    HostileBehaviour::Normal,
    HostileBehaviour::Drip,
    HostileBehaviour::Flood,
    HostileBehaviour::Mute,
    HostileBehaviour::MuteAfterStarttls,
    HostileBehaviour::SlowStarttls,
    HostileBehaviour::FinWithReply220,
    HostileBehaviour::FinWithReply500,
    HostileBehaviour::FinWithQuit,
    HostileBehaviour::Split,
    HostileBehaviour::GarbageAfterReply,
    HostileBehaviour::Reply421ToEhlo,
    HostileBehaviour::RstBeforeStarttls,
    HostileBehaviour::MaskedMultilineBanner,
    HostileBehaviour::UnicodeTricks,
    HostileBehaviour::NoStarttls,
    HostileBehaviour::SmallBacklog,
];

#[test]
fn the_generators_know_every_variant() {
    for r in ROUTERS {
        match r {
            RouterKind::Normal
            | RouterKind::Silent
            | RouterKind::ShortQuote
            | RouterKind::Rfc792Quote
            | RouterKind::Nat => {}
        }
    }
    for b in BOXES {
        match b {
            Behaviour::Mailguard
            | Behaviour::EhloMask
            | Behaviour::Drop
            | Behaviour::Reset
            | Behaviour::RewriteIpId
            | Behaviour::SeqRandomise
            | Behaviour::Proxy
            | Behaviour::ProxyPass
            | Behaviour::TlsDrop
            | Behaviour::TlsReset
            | Behaviour::TlsRewrite => {}
        }
    }
    for t in PROFILES {
        match t {
            TlsProfile::Modern | TlsProfile::Tls10Only | TlsProfile::CbcOnly => {}
        }
    }
    for p in PLACEMENTS {
        match p {
            Placement::Forward | Placement::Prerouting => {}
        }
    }
    for f in FORGES {
        match f {
            ForgeMode::WrongId
            | ForgeMode::BadRfc4884
            | ForgeMode::TruncatedInner
            | ForgeMode::WrongProto
            | ForgeMode::ModifiedPayload
            | ForgeMode::Flood => {}
        }
    }
    for h in HOSTILE {
        match h {
            HostileBehaviour::Normal
            | HostileBehaviour::Drip
            | HostileBehaviour::Flood
            | HostileBehaviour::Mute
            | HostileBehaviour::MuteAfterStarttls
            | HostileBehaviour::SlowStarttls
            | HostileBehaviour::FinWithReply220
            | HostileBehaviour::FinWithReply500
            | HostileBehaviour::FinWithQuit
            | HostileBehaviour::Split
            | HostileBehaviour::GarbageAfterReply
            | HostileBehaviour::Reply421ToEhlo
            | HostileBehaviour::RstBeforeStarttls
            | HostileBehaviour::MaskedMultilineBanner
            | HostileBehaviour::UnicodeTricks
            | HostileBehaviour::NoStarttls
            | HostileBehaviour::SmallBacklog => {}
        }
    }
    // No variant listed twice (so none is missing from the arrays' fixed lengths).
    let distinct = HOSTILE.iter().map(|h| h.name()).collect::<HashSet<_>>();
    assert_eq!(distinct.len(), HOSTILE.len());
    let distinct = FORGES.iter().map(|f| f.name()).collect::<HashSet<_>>();
    assert_eq!(distinct.len(), FORGES.len());
}

/// The server's AnyIP prefix: room for several targets on one scenario.
fn anyip() -> Cidr {
    Cidr::new(Ipv4Addr::new(198, 18, 0, 0), 28).expect("prefix")
}

fn hop() -> impl Strategy<Value = HopSpec> {
    let forge = (0..FORGES.len(), 1u32..=3, 0u8..200).prop_map(|(m, count, host)| ForgeSpec {
        mode: FORGES[m],
        from: Ipv4Addr::new(203, 0, 113, host),
        count,
    });
    let quote =
        proptest::option::weighted(0.15, prop_oneof![Just(28u16), Just(40), Just(48), Just(64)]);
    let lsr = proptest::option::weighted(0.1, Just(vec![16004u32, 24001]));
    (
        0..ROUTERS.len(),
        proptest::option::weighted(0.2, forge),
        quote,
        lsr,
    )
        .prop_map(|(r, forge, quote, lsr)| {
            let router = ROUTERS[r];
            let plain = matches!(router, RouterKind::Normal | RouterKind::Nat);
            HopSpec {
                router,
                middlebox: None,
                icmp_ratelimit: false,
                forge,
                quote_bytes: quote.filter(|_| plain),
                mpls_labels: lsr.unwrap_or_default(),
                asn: None,
            }
        })
}

fn server() -> impl Strategy<Value = ServerSpec> {
    let hostile = (
        0..HOSTILE.len(),
        proptest::option::of(prop_oneof![Just(5u32), Just(50), Just(400)]),
    )
        .prop_map(|(b, delay_ms)| HostileSpec {
            behaviour: HOSTILE[b],
            delay_ms,
        });
    prop_oneof![
        (any::<bool>(), 0..PROFILES.len()).prop_map(|(tls, p)| ServerSpec {
            tls,
            tls_profile: PROFILES[p],
            anyip: Some(anyip()),
            hostile: None,
            asn: None,
        }),
        hostile.prop_map(|h| ServerSpec {
            tls: true,
            tls_profile: TlsProfile::Modern,
            anyip: Some(anyip()),
            hostile: Some(h),
            asn: None,
        }),
    ]
}

fn scenario() -> impl Strategy<Value = Scenario> {
    let middlebox = (0usize..6, 0..BOXES.len(), 0..PLACEMENTS.len());
    (
        proptest::collection::vec(hop(), 0..=6),
        proptest::option::weighted(0.5, middlebox),
        server(),
        0u32..=30,
        prop_oneof![Just(0.0f32), 0.0f32..=5.0],
    )
        .prop_map(|(mut hops, middlebox, server, delay_ms, loss_percent)| {
            if let Some((at, b, p)) = middlebox {
                let at = at % hops.len().max(1);
                if let Some(h) = hops.get_mut(at) {
                    h.middlebox = Some(MiddleboxSpec {
                        behaviour: BOXES[b],
                        placement: PLACEMENTS[p],
                        daddr: None,
                    });
                }
            }
            Scenario {
                name: "property".to_string(),
                description: "generated by the property test".to_string(),
                hops,
                server,
                link: LinkSpec {
                    delay_ms,
                    loss_percent,
                },
                // Not used: the properties below are the truth.
                expect: Expected {
                    verdict: Verdict::Clean,
                    segment_after: None,
                    segment_at: None,
                    ip_id_rewritten_from: None,
                    candidate_hops: None,
                    attribution: None,
                    attribution_asns: None,
                },
                expect_outside: None,
                prober_asn: None,
            }
        })
}

/// Runs `targets` of `scenario` on a fresh engine and network.
fn simulate(scenario: &Scenario, targets: &[SocketAddrV4], seed: u64) -> (Vec<Evidence>, RunStats) {
    let mut net = SimNet::new(scenario, 1 << 16, seed);
    let mut engine = Engine::new(
        Arc::new(ProbeConfig::default()),
        RunPlan {
            concurrency: 4,
            rate: None,
        },
        scenario.prober_addr(),
        PortAllocator::new(PortRange::default(), HashSet::new()),
        seed ^ 0x5eed,
        net.now(),
    );
    let mut out = Vec::new();
    let mut sink = |e: Evidence, _: &RunStats| -> Result<(), SinkError> {
        out.push(e);
        Ok(())
    };
    let stats = run(
        &mut engine,
        &mut net,
        targets.iter().map(|&addr| Target::addr(addr)),
        &[],
        &mut sink,
    )
    .expect("run");
    (out, stats)
}

/// The verdict a lossless path without forged ICMP to the lab's Postfix must give.
fn certain_truth(s: &Scenario) -> Option<Verdict> {
    let forged = s.hops.iter().any(|h| h.forge.is_some());
    if forged || s.link.loss_percent > 0.0 || s.server.hostile.is_some() {
        return None;
    }
    let at = s.hops.iter().position(|h| h.middlebox.is_some());
    let the_box = at
        .and_then(|i| s.hops.get(i))
        .and_then(|h| h.middlebox.as_ref());
    // What the server says with nothing in the way.
    let server = match (s.server.tls, s.server.tls_profile) {
        (false, _) => Verdict::NotOffered,
        (true, TlsProfile::Modern) => Verdict::Clean,
        (true, _) => Verdict::TlsFailed,
    };
    let Some(b) = the_box else {
        return Some(server);
    };
    let modern = s.server.tls && s.server.tls_profile == TlsProfile::Modern;
    match b.behaviour {
        // Header boxes change nothing the verdict reads.
        Behaviour::RewriteIpId | Behaviour::SeqRandomise => Some(server),
        // Shown only where the router the proxy runs on answers Time Exceeded for the alt
        // port's SYN (a silent one hides it).
        Behaviour::Proxy | Behaviour::ProxyPass => {
            let router = at.and_then(|i| s.hops.get(i)).map(|h| h.router);
            (router != Some(RouterKind::Silent)).then_some(Verdict::Intercepted)
        }
        // STARTTLS is sent even when not advertised: dropping or resetting it shows.
        Behaviour::Drop | Behaviour::Reset => Some(Verdict::Blocked),
        // Without STARTTLS offered there is nothing else to tamper with (the rewritten command
        // is only seen where a quote after the box shows it).
        _ if !s.server.tls => match b.behaviour {
            Behaviour::Mailguard => None,
            _ => Some(Verdict::NotOffered),
        },
        Behaviour::Mailguard => Some(Verdict::Stripped),
        Behaviour::EhloMask => Some(Verdict::AdvertisementMasked),
        Behaviour::TlsDrop | Behaviour::TlsReset => Some(Verdict::TlsBlocked),
        // A server that refuses our versions or ciphers may do so before anything shows the
        // change (when no hop after the box quotes the ClientHello).
        Behaviour::TlsRewrite => modern.then_some(Verdict::TlsTampered),
    }
}

/// The invariants of one record.
fn check_record(s: &Scenario, e: &Evidence) -> Result<(), TestCaseError> {
    prop_assert!(
        e.incomplete.is_none(),
        "incomplete record: {:?}",
        e.incomplete
    );
    // Seen changed, or inferred changed from a header-only quote's TCP checksum (a box
    // rewriting STARTTLS before a router that quotes 40 bytes): both are evidence.
    let any_modified = e.hops.iter().any(|h| {
        matches!(
            h.payload(),
            PayloadStatus::Modified { .. } | PayloadStatus::ChecksumChanged { .. }
        )
    });
    let smtp = e.smtp.clone();
    let r = Report::build(e.clone());
    // Every output format of the record builds.
    let _ = (to_json(&r), render_table(&r, false), to_csv_row(&r));
    let masked = smtp.banner_masked || !smtp.masked_keywords.is_empty();
    let code = smtp.starttls_reply.as_ref().map(|r| r.code);
    match r.verdict {
        Verdict::Clean => {
            prop_assert_eq!(code, Some(220), "clean without 220: {:#?}", r);
            let tls_ok = r.tls.as_ref().is_some_and(|t| {
                t.observations.failure.is_none() && t.observations.version.is_some()
            });
            prop_assert!(tls_ok, "clean without a completed TLS handshake: {:#?}", r);
            prop_assert!(
                !r.hops.iter().any(|h| h.payload == HopPayload::Modified),
                "clean with a modified quote: {:#?}",
                r
            );
            prop_assert!(!masked, "clean with masking: {:#?}", r);
        }
        Verdict::Stripped => {
            let refused_advertised =
                smtp.starttls_advertised && code.is_some_and(|c| (500..600).contains(&c));
            prop_assert!(
                any_modified || smtp.starttls_echo.is_some() || masked || refused_advertised,
                "stripped without evidence: {:#?}",
                r
            );
        }
        _ => {}
    }
    if let Some(want) = certain_truth(s) {
        prop_assert_eq!(r.verdict, want, "{:#?}\n{:#?}", s, r);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512)
    ))]

    #[test]
    fn any_network_and_server_keep_the_engine_invariants(
        s in scenario(),
        targets in 1usize..=4,
        seed in any::<u64>(),
    ) {
        let addrs: Vec<SocketAddrV4> =
            s.targets().into_iter().take(targets).map(|(a, _)| a).collect();
        prop_assert_eq!(addrs.len(), targets);
        let (records, stats) = simulate(&s, &addrs, seed);
        prop_assert_eq!(stats.internal_errors, 0, "a session panicked: {:?}", stats);
        prop_assert_eq!(stats.incomplete(), 0, "{:?}", stats);
        let mut per_target: HashMap<SocketAddrV4, usize> = HashMap::new();
        for e in &records {
            *per_target.entry(e.target).or_default() += 1;
        }
        for a in &addrs {
            prop_assert_eq!(per_target.get(a).copied(), Some(1), "records of {}", a);
        }
        prop_assert_eq!(records.len(), addrs.len());
        for e in &records {
            if let Some(Incomplete::InternalError(why)) = &e.incomplete {
                return Err(TestCaseError::fail(format!("internal error: {why}")));
            }
            check_record(&s, e)?;
        }
    }
}
