//! Which helper processes a scenario hop needs (NFQUEUE boxes, the interception proxy, the
//! ICMP forger), with their arguments, iptables rules and queue numbers; and which hop
//! specifications the lab cannot build (refused with the scenario and hop named, never
//! silently half-built).
//!
//! Queue numbers are fixed per role, so two NFQUEUE users on one router never share one:
//! [`DELAY_QUEUE`] (every node, mangle POSTROUTING), [`MIDDLEBOX_QUEUE`] (the hop's one
//! NFQUEUE middlebox: reset, rewrite-ip-id or seq-randomise), [`FORGE_QUEUE`] (the forger,
//! filter FORWARD) and [`TRUNCATE_QUEUE`] (rfc792-quote routers, filter OUTPUT).
use crate::boxes::{BoxHook, BoxMode, BoxScope, IpIdStyle, ProxySpec, StarttlsPolicy};
use crate::LabError;
use reconmap_core::scenario::{Behaviour, HopSpec, Placement, RouterKind};

/// `reconmap-delay` on every node of a shaped lab.
pub const DELAY_QUEUE: u16 = 0;
/// The hop's NFQUEUE middlebox (`reconmap-middlebox --reset | --rewrite-ip-id | --seq-randomise`).
pub const MIDDLEBOX_QUEUE: u16 = 1;
/// `reconmap-icmp-forge`.
pub const FORGE_QUEUE: u16 = 2;
/// `reconmap-middlebox --truncate-quotes 28` of an rfc792-quote router.
pub const TRUNCATE_QUEUE: u16 = 3;
/// The port `reconmap-proxy` listens on (behind the REDIRECT rule).
pub const PROXY_PORT: u16 = 10025;
/// Bytes an rfc792-quote router quotes: the IP header and 8 bytes (RFC 792).
pub const RFC792_QUOTE_BYTES: u16 = 28;

/// One helper process of a hop: the program (a binary of this crate), its arguments (without
/// `--ready`) and the iptables rules added once it is ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelperPlan {
    /// `reconmap-middlebox`, `reconmap-proxy` or `reconmap-icmp-forge`.
    pub program: &'static str,
    /// Its arguments.
    pub args: Vec<String>,
    /// iptables rules (arguments after `iptables`, each with `-A`).
    pub rules: Vec<Vec<String>>,
}

/// The helpers hop `k` (1-based) of scenario `scenario` needs, in start order: quote
/// truncation first (it only touches the router's own ICMP), then the middlebox, then the
/// forger. nft-only behaviours (mailguard, ehlo-mask, drop, silent, nat) and the short-quote
/// policy route need no helper and are built by `Lab`.
pub fn hop_helpers(scenario: &str, k: usize, hop: &HopSpec) -> Result<Vec<HelperPlan>, LabError> {
    let refuse = |why: &str| {
        Err(LabError::Build(format!(
            "scenario {scenario}, hop {k}: {why}"
        )))
    };
    let mut plans = Vec::new();
    let cut = match (hop.router, hop.quote_bytes) {
        (RouterKind::Rfc792Quote, None) => Some(RFC792_QUOTE_BYTES),
        (RouterKind::Normal | RouterKind::Nat, q) => q,
        (_, Some(_)) => {
            return refuse(
                "quote_bytes needs a normal or nat router (this one already limits its quotes)",
            )
        }
        (_, None) => None,
    };
    if let Some(n) = cut {
        plans.push(middlebox(
            &BoxMode::TruncateQuotes(n),
            TRUNCATE_QUEUE,
            &BoxScope::default(),
        ));
    }
    // Whether a helper of this hop takes the FORWARD hook's NFQUEUE: an accepted verdict ends
    // the chain, so a second NFQUEUE rule in the same chain would never see the packet.
    let mut forward_queue_taken = false;
    let mut intercepts = false;
    if let Some(mb) = &hop.middlebox {
        let hook = match mb.placement {
            Placement::Forward => BoxHook::Forward,
            Placement::Prerouting => BoxHook::Prerouting,
        };
        let scope = BoxScope {
            hook,
            server: mb.daddr,
        };
        let mode = match mb.behaviour {
            Behaviour::Reset => Some(BoxMode::Reset),
            // A normaliser (`pf scrub random-id`): a new ID that is never the original.
            Behaviour::RewriteIpId => Some(BoxMode::RewriteIpId(IpIdStyle::Random)),
            Behaviour::SeqRandomise => Some(BoxMode::SeqRandomise),
            Behaviour::TlsDrop => Some(BoxMode::TlsDrop),
            Behaviour::TlsReset => Some(BoxMode::TlsReset),
            // TLS_RSA_WITH_AES_128_CBC_SHA in place of the client's first suite.
            Behaviour::TlsRewrite => Some(BoxMode::TlsRewrite(0x002f)),
            Behaviour::Mailguard | Behaviour::EhloMask | Behaviour::Drop => None,
            Behaviour::Proxy | Behaviour::ProxyPass => {
                if mb.placement != Placement::Forward {
                    return refuse(
                        "a proxy always intercepts in nat PREROUTING (TCP ends at this hop \
                         whatever the placement); leave `placement` at its default",
                    );
                }
                let starttls = if mb.behaviour == Behaviour::Proxy {
                    StarttlsPolicy::Refuse
                } else {
                    StarttlsPolicy::Pass
                };
                let spec = ProxySpec {
                    port: PROXY_PORT,
                    starttls,
                    server: mb.daddr,
                };
                plans.push(HelperPlan {
                    program: "reconmap-proxy",
                    args: spec.helper_args(),
                    rules: spec.iptables_rules(),
                });
                intercepts = true;
                None
            }
        };
        if let Some(mode) = mode {
            forward_queue_taken = hook == BoxHook::Forward;
            plans.push(middlebox(&mode, MIDDLEBOX_QUEUE, &scope));
        }
    }
    if let Some(f) = &hop.forge {
        if forward_queue_taken {
            return refuse(
                "a forger and a forward-placed NFQUEUE middlebox would share the FORWARD hook, \
                 where only the first NFQUEUE rule sees a packet; place the box in `prerouting` \
                 or on another hop",
            );
        }
        if intercepts {
            return refuse(
                "a forger never sees the segments a proxy on the same hop intercepts; put it \
                 on another hop",
            );
        }
        let queue = FORGE_QUEUE.to_string();
        let args = [
            "--queue",
            &queue,
            "--mode",
            f.mode.name(),
            "--from",
            &f.from.to_string(),
            "--count",
            &f.count.to_string(),
        ];
        let rule = [
            "-A",
            "FORWARD",
            "-p",
            "tcp",
            "--dport",
            "25",
            "-j",
            "NFQUEUE",
            "--queue-num",
            &queue,
        ];
        plans.push(HelperPlan {
            program: "reconmap-icmp-forge",
            args: args.map(String::from).to_vec(),
            rules: vec![rule.map(String::from).to_vec()],
        });
    }
    Ok(plans)
}

fn middlebox(mode: &BoxMode, queue: u16, scope: &BoxScope) -> HelperPlan {
    let mut args = vec!["--queue".to_owned(), queue.to_string()];
    args.extend(mode.helper_args());
    HelperPlan {
        program: "reconmap-middlebox",
        args,
        rules: mode.scoped_rules(queue, scope),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reconmap_core::scenario::{ForgeMode, ForgeSpec, MiddleboxSpec, Scenario};

    fn hop(router: RouterKind, behaviour: Option<Behaviour>, placement: Placement) -> HopSpec {
        HopSpec {
            router,
            middlebox: behaviour.map(|behaviour| MiddleboxSpec {
                behaviour,
                placement,
                daddr: None,
            }),
            ..HopSpec::default()
        }
    }

    fn rules(plans: &[HelperPlan]) -> Vec<String> {
        plans
            .iter()
            .flat_map(|p| p.rules.iter().map(|r| r.join(" ")))
            .collect()
    }

    /// The queue number of every NFQUEUE rule of a plan.
    fn queues(plans: &[HelperPlan]) -> Vec<String> {
        rules(plans)
            .iter()
            .filter_map(|r| r.split("--queue-num ").nth(1).map(str::to_owned))
            .collect()
    }

    #[test]
    fn every_builtin_scenario_hop_has_a_plan_with_distinct_queues() {
        for s in Scenario::all().expect("scenarios") {
            for (i, h) in s.hops.iter().enumerate() {
                let plans = hop_helpers(&s.name, i + 1, h)
                    .unwrap_or_else(|e| panic!("{}: hop {}: {e}", s.name, i + 1));
                let mut q: Vec<String> = plans
                    .iter()
                    .flat_map(|p| {
                        let mut mine = queues(std::slice::from_ref(p));
                        mine.dedup();
                        mine
                    })
                    .collect();
                let before = q.len();
                q.sort();
                q.dedup();
                assert_eq!(q.len(), before, "{}: {plans:?}", s.name);
                assert!(!q.contains(&DELAY_QUEUE.to_string()), "{}", s.name);
            }
        }
    }

    #[test]
    fn rfc792_router_with_a_box_uses_two_queues() {
        let plans = hop_helpers(
            "t",
            3,
            &hop(
                RouterKind::Rfc792Quote,
                Some(Behaviour::RewriteIpId),
                Placement::Forward,
            ),
        )
        .expect("plan");
        assert_eq!(plans.len(), 2);
        assert_eq!(
            plans[0].args,
            ["--queue", "3", "--truncate-quotes", "28"].map(String::from)
        );
        assert_eq!(
            plans[1].args,
            ["--queue", "1", "--rewrite-ip-id", "--ip-id-style", "random"].map(String::from)
        );
        assert_eq!(queues(&plans), ["3", "3", "3", "1"]);
    }

    #[test]
    fn placement_and_daddr_reach_the_rules() {
        let mut h = hop(
            RouterKind::ShortQuote,
            Some(Behaviour::SeqRandomise),
            Placement::Prerouting,
        );
        if let Some(mb) = h.middlebox.as_mut() {
            mb.daddr = "198.18.0.0/17".parse().ok();
        }
        let r = rules(&hop_helpers("t", 2, &h).expect("plan"));
        assert_eq!(
            r,
            [
                "-t mangle -A PREROUTING -p tcp --dport 25 -d 198.18.0.0/17 -j NFQUEUE --queue-num 1",
                "-t mangle -A PREROUTING -p tcp --sport 25 -s 198.18.0.0/17 -j NFQUEUE --queue-num 1",
            ]
        );
        let mut h = hop(
            RouterKind::Normal,
            Some(Behaviour::Proxy),
            Placement::Forward,
        );
        if let Some(mb) = h.middlebox.as_mut() {
            mb.daddr = "198.18.0.0/17".parse().ok();
        }
        let plans = hop_helpers("t", 2, &h).expect("plan");
        assert_eq!(plans[0].program, "reconmap-proxy");
        assert!(plans[0].args.contains(&"refuse".to_owned()));
        assert_eq!(
            rules(&plans),
            ["-t nat -A PREROUTING -p tcp --dport 25 -d 198.18.0.0/17 -j REDIRECT --to-ports 10025"]
        );
        let h = hop(
            RouterKind::Normal,
            Some(Behaviour::ProxyPass),
            Placement::Forward,
        );
        let plans = hop_helpers("t", 2, &h).expect("plan");
        assert!(plans[0].args.contains(&"pass".to_owned()));
    }

    #[test]
    fn tls_boxes_queue_client_handshake_records_to_their_modes() {
        let cases = [
            (Behaviour::TlsDrop, vec!["--tls-drop"]),
            (Behaviour::TlsReset, vec!["--tls-reset"]),
            // TLS_RSA_WITH_AES_128_CBC_SHA: a real suite, so the ClientHello still parses.
            (
                Behaviour::TlsRewrite,
                vec!["--tls-rewrite", "--tls-suite", "002f"],
            ),
        ];
        for (b, mode_args) in cases {
            for (placement, chain) in [
                (Placement::Forward, "-A FORWARD"),
                (Placement::Prerouting, "-t mangle -A PREROUTING"),
            ] {
                let plans = hop_helpers("t", 2, &hop(RouterKind::Normal, Some(b), placement))
                    .expect("plan");
                assert_eq!(plans.len(), 1, "{b:?}");
                assert_eq!(plans[0].program, "reconmap-middlebox");
                let mut want = vec!["--queue", "1"];
                want.extend(&mode_args);
                assert_eq!(plans[0].args, want, "{b:?}");
                assert_eq!(
                    rules(&plans),
                    [format!(
                        "{chain} -p tcp --dport 25 -m string --algo bm --hex-string |1603| \
                         -j NFQUEUE --queue-num 1"
                    )],
                    "{b:?} {placement:?}"
                );
            }
        }
    }

    #[test]
    fn nft_only_hops_need_no_helper() {
        for b in [Behaviour::Mailguard, Behaviour::EhloMask, Behaviour::Drop] {
            for r in [
                RouterKind::Normal,
                RouterKind::ShortQuote,
                RouterKind::Silent,
            ] {
                let plans = hop_helpers("t", 1, &hop(r, Some(b), Placement::Forward));
                assert_eq!(plans.expect("plan"), Vec::new(), "{r:?} {b:?}");
            }
        }
    }

    #[test]
    fn unbuildable_combinations_are_refused_with_scenario_and_hop() {
        let forge = Some(ForgeSpec {
            mode: ForgeMode::WrongId,
            from: std::net::Ipv4Addr::new(192, 0, 2, 66),
            count: 1,
        });
        let mut h = hop(
            RouterKind::Normal,
            Some(Behaviour::Reset),
            Placement::Forward,
        );
        h.forge = forge.clone();
        let e = hop_helpers("odd", 2, &h)
            .expect_err("forge + forward box")
            .to_string();
        assert!(
            e.contains("scenario odd, hop 2") && e.contains("FORWARD"),
            "{e}"
        );
        // Placed before routing, the box has its own hook: both work.
        let mut h = hop(
            RouterKind::Normal,
            Some(Behaviour::RewriteIpId),
            Placement::Prerouting,
        );
        h.forge = forge.clone();
        let plans = hop_helpers("odd", 2, &h).expect("forge + prerouting box");
        assert_eq!(queues(&plans), ["1", "2"]);
        let mut h = hop(
            RouterKind::Normal,
            Some(Behaviour::Proxy),
            Placement::Forward,
        );
        h.forge = forge;
        let e = hop_helpers("odd", 3, &h)
            .expect_err("forge + proxy")
            .to_string();
        assert!(
            e.contains("scenario odd, hop 3") && e.contains("proxy"),
            "{e}"
        );
        let h = hop(
            RouterKind::Normal,
            Some(Behaviour::ProxyPass),
            Placement::Prerouting,
        );
        let e = hop_helpers("odd", 1, &h)
            .expect_err("proxy placement")
            .to_string();
        assert!(
            e.contains("scenario odd, hop 1") && e.contains("placement"),
            "{e}"
        );
    }
}
