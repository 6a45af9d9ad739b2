//! Scenario files: parsing, validation, and the truth rules every file must follow.
use super::*;
use crate::verdict::Verdict;

#[test]
fn every_builtin_parses_and_names_match() {
    for name in Scenario::builtin_names() {
        let s = Scenario::builtin(&name).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(s.name, name);
        assert!(!s.description.is_empty());
    }
}

#[test]
fn unknown_builtin_is_an_error() {
    assert!(matches!(
        Scenario::builtin("nope"),
        Err(ScenarioError::Unknown(..))
    ));
}

#[test]
fn truth_follows_the_segment_rules() {
    // Forward placement at router k: after=k, at=k+1 (or None when last router).
    for name in Scenario::builtin_names() {
        let s = Scenario::builtin(&name).expect("builtin");
        // Hostile servers and forging routers state their own truth (see their files).
        if s.server.hostile.is_some() || s.hops.iter().any(|h| h.forge.is_some()) {
            continue;
        }
        let boxes: Vec<(u8, &MiddleboxSpec)> = s
            .hops
            .iter()
            .enumerate()
            .filter_map(|(i, h)| {
                h.middlebox
                    .as_ref()
                    .map(|m| (u8::try_from(i + 1).unwrap_or(0), m))
            })
            .collect();
        let Some(&(k, mb)) = boxes.first() else {
            // Without a box: clean, or what the server itself does (no STARTTLS, a TLS setup
            // a modern client cannot use), never tampering.
            let want = match (s.server.tls, s.server.tls_profile) {
                (false, _) => Verdict::NotOffered,
                (true, TlsProfile::Modern) => Verdict::Clean,
                (true, TlsProfile::Tls10Only | TlsProfile::CbcOnly) => Verdict::TlsFailed,
            };
            assert_eq!(s.expect.verdict, want, "{name}");
            assert!(!s.expect.verdict.is_tampering(), "{name}");
            continue;
        };
        let last = k == s.server_ttl() - 1;
        // What each router's quotes can show: nothing (silent), no payload and no checksum
        // (RFC 792, 28 bytes), or the payload or its checksum (40 bytes and more).
        let router = |ttl: u8| {
            s.hops
                .get(usize::from(ttl).wrapping_sub(1))
                .map_or(RouterKind::Normal, |h| h.router)
        };
        let blind = |ttl: u8| matches!(router(ttl), RouterKind::Silent | RouterKind::Rfc792Quote);
        let answers = |ttl: u8| router(ttl) != RouterKind::Silent;
        // The first router from `ttl` on (below the server) satisfying `ok`.
        let first_from = |ttl: u8, ok: &dyn Fn(u8) -> bool| (ttl..s.server_ttl()).find(|&t| ok(t));
        let (after, at) = match (mb.behaviour, mb.placement) {
            (Behaviour::Mailguard, Placement::Forward) => (
                k,
                if last {
                    None
                } else {
                    first_from(k + 1, &|t| !blind(t))
                },
            ),
            (Behaviour::Mailguard, Placement::Prerouting) => (k - 1, first_from(k, &|t| !blind(t))),
            // A drop is located by the first router beyond it that answers a control segment.
            (Behaviour::Drop | Behaviour::Reset, Placement::Forward) => {
                (k, first_from(k + 1, &answers))
            }
            (Behaviour::Drop | Behaviour::Reset, Placement::Prerouting) => {
                (k - 1, first_from(k, &answers))
            }
            // Header-rewriting boxes and proxies: their files state their own truth.
            (
                Behaviour::RewriteIpId
                | Behaviour::SeqRandomise
                | Behaviour::Proxy
                | Behaviour::ProxyPass
                | Behaviour::TlsDrop
                | Behaviour::TlsReset
                | Behaviour::TlsRewrite,
                _,
            ) => continue,
            (Behaviour::EhloMask, _) => {
                assert_eq!(s.expect.verdict, Verdict::AdvertisementMasked, "{name}");
                continue;
            }
        };
        let mut after = after;
        while after > 0 && blind(after) {
            after -= 1;
        }
        assert_eq!(s.expect.segment_after, Some(after), "{name}");
        assert_eq!(s.expect.segment_at, at, "{name}");
    }
}

#[test]
fn bad_input_is_a_clear_error() {
    assert!(Scenario::from_toml("name = 3").is_err());
    let outside = r#"
        name = "x"
        description = "d"
        server = { anyip = "10.0.0.0/8" }
        expect = { verdict = "clean" }
    "#;
    assert!(matches!(
        Scenario::from_toml(outside),
        Err(ScenarioError::Invalid(_))
    ));
    let beyond = r#"
        name = "x"
        description = "d"
        expect = { verdict = "stripped", segment_after = 1, segment_at = 5 }
    "#;
    assert!(Scenario::from_toml(beyond).is_err());
}

#[test]
fn mpls_labels_must_fit_20_bits_and_the_stack_bound() {
    let with = |labels: &str| {
        Scenario::from_toml(&format!(
            "name = \"x\"\ndescription = \"d\"\nhops = [{{ mpls_labels = {labels} }}]\n\
             expect = {{ verdict = \"clean\" }}"
        ))
    };
    assert!(with("[16004, 1048575]").is_ok());
    let e = with("[1048576]").expect_err("21-bit label");
    assert!(e.to_string().contains("x"), "{e}");
    assert!(matches!(e, ScenarioError::Invalid(m) if m.contains("exceeds 20 bits")));
    let deep = format!("[{}]", vec!["1"; 33].join(", "));
    assert!(matches!(with(&deep), Err(ScenarioError::Invalid(m)) if m.contains("MPLS labels")));
}
