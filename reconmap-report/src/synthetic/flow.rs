//! One synthetic probe: the path from a vantage point to a target, what the boxes on it do, and
//! the record the tool would write about it.
use super::rng::{mix, Rng};
use super::world::{ClientBox, Router, ServerBox, TransitBox, World};
use serde_json::{json, Value};

pub struct Flow<'a> {
    pub world: &'a World,
    pub vantage: usize,
    pub server: usize,
    pub v6: bool,
    pub target: &'a str,
    pub target_id: u64,
    /// Position of the record in the output (for timestamps).
    pub index: u64,
}

/// What happened to the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Clean,
    NotOffered,
    Unreachable,
    InconclusiveEarly,
    InconclusiveTempFail,
    TlsFailed,
    /// STARTTLS rewritten by a box at path index `at`; `visible`: quotes from there on show it.
    Stripped {
        at: usize,
        visible: bool,
    },
    AdvertisementMasked,
    Blocked,
    Intercepted {
        at: usize,
    },
    TlsBlocked {
        at: usize,
    },
    TlsTampered {
        at: usize,
    },
}

/// A hop as the sweep saw it.
struct SeenHop<'r> {
    router: &'r Router,
    silent: bool,
    payload: &'static str,
}

impl Flow<'_> {
    pub fn record(&self, rng: &mut Rng) -> Value {
        let Some(v) = self.world.vantages.get(self.vantage) else {
            return Value::Null;
        };
        let nets = if self.v6 {
            &self.world.servers_v6
        } else {
            &self.world.servers_v4
        };
        let Some(net) = nets.get(self.server) else {
            return Value::Null;
        };
        let transits = if self.v6 {
            &self.world.transits_v6
        } else {
            &self.world.transits
        };
        let pick = mix(&[u64::from(net.asn), self.vantage as u64]);
        let transit =
            transits.get(usize::try_from(pick % transits.len().max(1) as u64).unwrap_or(0));

        // The path, router by router.
        let ecmp_taken = v.ecmp.is_some() && mix(&[self.target_id, 17]).is_multiple_of(4);
        let mut path: Vec<&Router> = v.routers.iter().collect();
        if let (true, Some((i, alt))) = (ecmp_taken, &v.ecmp) {
            if let Some(slot) = path.get_mut(*i) {
                *slot = alt;
            }
        }
        let client_len = path.len();
        if let Some(t) = transit {
            path.extend(t.routers.iter());
        }
        let server_start = path.len();
        path.extend(net.routers.iter());

        let outcome = self.outcome(rng, client_len, server_start, path.len(), ecmp_taken);
        let hops = self.sweep(rng, &path, outcome, server_start, net.border_silent);
        let legacy = rng.chance(0.05);
        build_record(self, rng, v, net, &hops, outcome, legacy)
    }

    fn outcome(
        &self,
        rng: &mut Rng,
        client_len: usize,
        server_start: usize,
        path_len: usize,
        ecmp_taken: bool,
    ) -> Outcome {
        let v = self.world.vantages.get(self.vantage);
        let nets = if self.v6 {
            &self.world.servers_v6
        } else {
            &self.world.servers_v4
        };
        let net = nets.get(self.server);
        if rng.chance(0.04) {
            return Outcome::Unreachable;
        }
        match v.and_then(|v| v.client_box) {
            Some(ClientBox::StripOnEcmpBranch) if ecmp_taken => {
                let at = v.and_then(|v| v.ecmp.as_ref()).map_or(1, |(i, _)| *i);
                return Outcome::Stripped { at, visible: true };
            }
            Some(ClientBox::TlsInspection) if mix(&[self.target_id, 23]) % 100 < 6 => {
                return Outcome::Intercepted { at: 1 };
            }
            _ => {}
        }
        let transits = if self.v6 {
            &self.world.transits_v6
        } else {
            &self.world.transits
        };
        let asn = net.map_or(0, |n| u64::from(n.asn));
        let pick = mix(&[asn, self.vantage as u64]);
        let transit =
            transits.get(usize::try_from(pick % transits.len().max(1) as u64).unwrap_or(0));
        match transit.map(|t| t.tamper) {
            // Forward hook at router 2: the next router's quote is the first to show it.
            Some(TransitBox::StripSomePrefixes) if asn % 7 == 3 => {
                return Outcome::Stripped {
                    at: client_len + 2,
                    visible: true,
                };
            }
            Some(TransitBox::TlsMeddling) if rng.chance(0.04) => {
                return if rng.chance(0.5) {
                    Outcome::TlsBlocked { at: client_len + 2 }
                } else {
                    Outcome::TlsTampered { at: client_len + 2 }
                };
            }
            _ => {}
        }
        match net.map(|n| n.tamper) {
            Some(ServerBox::StripVisible) => {
                return Outcome::Stripped {
                    at: server_start + 1,
                    visible: true,
                }
            }
            Some(ServerBox::StripTransparent) => {
                return Outcome::Stripped {
                    at: path_len,
                    visible: false,
                }
            }
            Some(ServerBox::MaskAdvertisement) => return Outcome::AdvertisementMasked,
            Some(ServerBox::BlockStarttls) => return Outcome::Blocked,
            _ => {}
        }
        match rng.below(100) {
            0..=7 => Outcome::NotOffered,
            8..=9 => Outcome::InconclusiveEarly,
            10 => Outcome::InconclusiveTempFail,
            11..=12 => Outcome::TlsFailed,
            _ => Outcome::Clean,
        }
    }

    fn sweep<'r>(
        &self,
        rng: &mut Rng,
        path: &[&'r Router],
        outcome: Outcome,
        server_start: usize,
        border_silent: bool,
    ) -> Vec<SeenHop<'r>> {
        if matches!(outcome, Outcome::Unreachable | Outcome::InconclusiveEarly) {
            // No STARTTLS was sent, so there was no sweep.
            return Vec::new();
        }
        let nat_at = self.world.vantages.get(self.vantage).and_then(|v| v.nat_at);
        path.iter()
            .enumerate()
            .map(|(i, &router)| {
                let silent = (border_silent && i == server_start) || rng.chance(0.025);
                let payload = if silent {
                    "none"
                } else if router.short_quote {
                    "short"
                } else if matches!(outcome, Outcome::Stripped { at, visible: true } if i >= at) {
                    "modified"
                } else if nat_at == Some(i) {
                    "checksum_changed"
                } else {
                    "intact"
                };
                SeenHop {
                    router,
                    silent,
                    payload,
                }
            })
            .collect()
    }
}

fn hop_ref(h: &SeenHop<'_>, ttl: usize, legacy: bool) -> Value {
    if h.silent {
        json!({"ttl": ttl, "addr": null})
    } else if legacy {
        json!({"ttl": ttl, "addr": h.router.addr})
    } else {
        json!({"ttl": ttl, "addr": h.router.addr, "asn": h.router.asn, "as_name": h.router.as_name})
    }
}

/// `after` (last hop quoting the original bytes before `pos`) and `at` (first hop from `pos` on
/// quoting the change, when `visible`).
fn segment(
    hops: &[SeenHop<'_>],
    pos: usize,
    visible: bool,
    prober: (&str, u32),
    legacy: bool,
) -> (Value, Value, Option<u32>, Option<u32>) {
    let intact = |h: &SeenHop<'_>| matches!(h.payload, "intact" | "checksum_changed");
    let after = hops.iter().enumerate().take(pos).rfind(|(_, h)| intact(h));
    let (after_v, after_asn) = match after {
        Some((i, h)) => (hop_ref(h, i + 1, legacy), Some(h.router.asn)),
        None if legacy => (json!({"ttl": 0, "addr": prober.0}), Some(prober.1)),
        None => (
            json!({"ttl": 0, "addr": prober.0, "asn": prober.1}),
            Some(prober.1),
        ),
    };
    let at = if visible {
        hops.iter()
            .enumerate()
            .skip(pos)
            .find(|(_, h)| h.payload == "modified")
    } else {
        None
    };
    let (at_v, at_asn) = match at {
        Some((i, h)) => (hop_ref(h, i + 1, legacy), Some(h.router.asn)),
        None => (Value::Null, None),
    };
    (after_v, at_v, after_asn, at_asn)
}

/// The tool's attribution for a segment: the AS of the box's side, or both at a boundary.
fn attribution(
    after_asn: Option<u32>,
    at_asn: Option<u32>,
    client: u32,
    server: u32,
    where_: &str,
) -> Value {
    let class_of = |asn: u32| {
        if asn == client {
            "client_network"
        } else if asn == server {
            "server_network"
        } else {
            "transit"
        }
    };
    let (class, asns) = match (after_asn, at_asn) {
        (Some(a), Some(b)) if a != b => ("ambiguous", vec![a, b]),
        (_, Some(b)) => (class_of(b), vec![b]),
        (Some(a), None) if a == server => ("server_network", vec![a]),
        (Some(a), None) => ("ambiguous", vec![a, server]),
        (None, None) => ("unknown", vec![]),
    };
    let explanation = match class {
        "ambiguous" => format!(
            "{where_} lies on the boundary of AS{} and AS{}",
            asns.first().unwrap_or(&0),
            asns.get(1).unwrap_or(&0)
        ),
        "unknown" => format!("{where_} has no AS data"),
        c => format!(
            "{where_} is inside AS{} ({})",
            asns.first().unwrap_or(&0),
            c.replace('_', " ")
        ),
    };
    json!({"class": class, "asns": asns, "explanation": explanation})
}

fn reply(code: u32, lines: &[&str]) -> Value {
    json!({"code": code, "lines": lines})
}

/// PIX-style masking: every character but '2', '0' and spaces becomes '*'.
fn pix_mask(s: &str) -> String {
    s.chars()
        .map(|c| if matches!(c, '2' | '0' | ' ') { c } else { '*' })
        .collect()
}

fn timestamp(ms: u64) -> String {
    let s = ms / 1000;
    format!(
        "2026-11-23T{:02}:{:02}:{:02}.{:03}Z",
        8 + (s / 3600) % 16,
        (s / 60) % 60,
        s % 60,
        ms % 1000
    )
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn tls_facts(rng: &mut Rng, host: &str, outcome: Outcome) -> Value {
    let modern = rng.chance(0.75);
    let (version, cipher) = if modern {
        ("TLSv1.3", "TLS_AES_256_GCM_SHA384")
    } else {
        ("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256")
    };
    // One certificate per host, whichever vantage point sees it.
    let sha = {
        let mut h = Rng::new(host.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |a, b| {
            (a ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        }));
        h.hex(64)
    };
    let leaf = |issuer: &str, _rng: &mut Rng| {
        json!({
            "subject": format!("CN={host}"),
            "issuer": issuer,
            "san_dns": [host],
            "not_before": "2026-09-01T00:00:00Z",
            "not_after": "2026-11-30T00:00:00Z",
            "key_type": if modern { "ECDSA" } else { "RSA" },
            "key_bits": if modern { 256 } else { 2048 },
            "sha256": sha,
        })
    };
    let hello = json!({"version": version, "cipher": cipher});
    let mut tls = match outcome {
        Outcome::Intercepted { .. } => json!({
            "version": "TLSv1.2", "cipher": "ECDHE-RSA-AES256-GCM-SHA384",
            "handshake_ms": round3(rng.range(3.0, 9.0)), "sni": host,
            "chain": [leaf("CN=Example Campus Inspection CA", rng)],
            "chain_valid": false, "chain_error": "UnknownIssuer", "name_matches": true, "failure": null,
            "server_hello": {"version": "TLSv1.2", "cipher": "ECDHE-RSA-AES256-GCM-SHA384"},
        }),
        Outcome::TlsBlocked { .. } => json!({
            "version": null, "cipher": null, "handshake_ms": null, "sni": host, "chain": [],
            "chain_valid": null, "name_matches": null,
            "failure": {"step": "client_hello_sent", "alert": null, "alert_sent_by": null, "error": "connection reset after ClientHello"},
            "server_hello": null,
        }),
        Outcome::TlsTampered { .. } => json!({
            "version": null, "cipher": null, "handshake_ms": null, "sni": host, "chain": [],
            "chain_valid": null, "name_matches": null,
            "failure": {"step": "finished", "alert": "decrypt_error", "alert_sent_by": "probe", "error": "Finished MAC mismatch"},
            "server_hello": {"version": "TLSv1.0", "cipher": "RC4-MD5"},
        }),
        Outcome::TlsFailed => json!({
            "version": null, "cipher": null, "handshake_ms": null, "sni": host,
            "chain": [leaf("CN=Example Mail CA R3", rng)], "chain_valid": null, "name_matches": null,
            "failure": {"step": "server_hello", "alert": "handshake_failure", "alert_sent_by": "server", "error": "no shared cipher"},
            "server_hello": hello,
        }),
        _ => {
            let valid = rng.chance(0.9);
            json!({
                "version": version, "cipher": cipher,
                "handshake_ms": round3(rng.range(4.0, 40.0)), "sni": host,
                "chain": [leaf(if valid { "CN=Example Mail CA R3" } else { "CN=mail.local" }, rng)],
                "chain_valid": valid, "name_matches": valid || rng.chance(0.5),
                "failure": null, "server_hello": hello,
            })
        }
    };
    if let Some(o) = tls.as_object_mut() {
        o.insert("probe".into(), json!("handshake"));
    }
    tls
}

fn build_record(
    f: &Flow<'_>,
    rng: &mut Rng,
    v: &super::world::VantagePoint,
    net: &super::world::ServerNet,
    hops: &[SeenHop<'_>],
    outcome: Outcome,
    legacy: bool,
) -> Value {
    let host = format!("mail{}.as{}.example", f.target_id % 100_000, net.asn);
    let banner_text = format!("{host} ESMTP Postfix");
    let masked_banner = matches!(outcome, Outcome::Stripped { visible: false, .. });
    let echo = matches!(outcome, Outcome::Stripped { visible: false, .. }) && rng.chance(0.5);
    let server_distance = hops.len().max(3) + 1;

    // Hops.
    let mut rtt = rng.range(0.2, 0.6);
    let hop_values: Vec<Value> = hops
        .iter()
        .enumerate()
        .map(|(i, h)| {
            rtt += rng.range(0.3, 2.5) + if i == 3 { 6.0 } else { 0.0 };
            let ttl = i + 1;
            let mut hop = if h.silent {
                json!({"ttl": ttl, "addr": null, "rtt_ms": null, "icmp": null, "attempts": 3,
                    "shared": false, "quote_len": null, "payload": "none", "quoted_payload": null,
                    "changes": []})
            } else {
                let changes = if h.payload == "checksum_changed" {
                    json!([{"field": "tcp.checksum", "sent": "0x51c3", "quoted": "0x9a07"},
                           {"field": "tcp.sport", "sent": "40211", "quoted": "61002"}])
                } else {
                    json!([])
                };
                json!({"ttl": ttl, "addr": h.router.addr, "rtt_ms": round3(rtt), "icmp": [11, 0],
                    "attempts": 1, "shared": ttl <= 2 && rng.chance(0.4),
                    "quote_len": if h.payload == "short" { 28 } else { 62 },
                    "payload": h.payload,
                    "quoted_payload": if h.payload == "modified" { Some("XXXXXXXX\\r\\n") } else { None },
                    "changes": changes})
            };
            if !legacy && !h.silent {
                if let Some(o) = hop.as_object_mut() {
                    o.insert("asn".into(), json!(h.router.asn));
                    o.insert("as_name".into(), json!(h.router.as_name));
                }
            }
            hop
        })
        .collect();

    let where_box = |pos: usize| -> String {
        hops.get(pos)
            .map(|h| format!("the box at hop {} ({})", pos + 1, h.router.addr))
            .unwrap_or_else(|| "the box in front of the server".into())
    };
    let prober = (v.prober.as_str(), v.asn);
    let mut seg = Value::Null;
    let mut attr = Value::Null;
    let mut locate = |pos: usize, visible: bool, rng_where: String| {
        let (after, at, after_asn, at_asn) = segment(hops, pos, visible, prober, legacy);
        seg = json!({"after": after, "at": at});
        attr = attribution(after_asn, at_asn, v.asn, net.asn, &rng_where);
    };

    let ehlo_lines = |starttls: Option<&str>| {
        let mut lines = vec![host.clone(), "PIPELINING".into(), "SIZE 10240000".into()];
        if let Some(k) = starttls {
            lines.push(k.into());
        }
        lines.extend([
            "ENHANCEDSTATUSCODES".into(),
            "8BITMIME".into(),
            "SMTPUTF8".into(),
        ]);
        lines
    };
    let ready = reply(220, &["2.0.0 Ready to start TLS"]);
    let unknown_cmd = if echo {
        reply(500, &["5.5.1 Command unrecognized: \"XXXXXXXX\""])
    } else {
        reply(500, &["5.5.2 Error: command not recognized"])
    };
    let bye = reply(221, &["2.0.0 Bye"]);
    let banner = if masked_banner {
        reply(220, &[pix_mask(&banner_text).as_str()])
    } else {
        reply(220, &[banner_text.as_str()])
    };

    let mut smtp = json!({
        "banner": banner, "banner_masked": masked_banner,
        "ehlo": {"code": 250, "lines": ehlo_lines(Some("STARTTLS"))}, "helo_fallback": false,
        "helo": null, "starttls_advertised": true, "masked_keywords": [],
        "starttls_sent": true, "starttls_reply": ready, "starttls_echo": null,
        "quit_reply": bye, "closed_by_server": null, "error": null,
    });
    let mut tcp = json!({"connect": "established", "server_ttl": 64 - server_distance,
        "server_distance": server_distance, "rsts": [], "starttls_unacked": false,
        "closed_by_peer": false});
    let mut tls = Value::Null;
    let mut errors: Vec<String> = Vec::new();
    if let Some(h) = hops.iter().position(|h| h.silent) {
        errors.push(format!("no ICMP answer at ttl {} after 3 attempts", h + 1));
    }

    let last_intact = hops
        .iter()
        .enumerate()
        .filter(|(_, h)| matches!(h.payload, "intact" | "checksum_changed"))
        .map(|(i, _)| i + 1)
        .next_back()
        .unwrap_or(0);

    let (verdict, rule, reason, evidence): (&str, &str, String, Vec<String>) = match outcome {
        Outcome::Clean => {
            tls = tls_facts(rng, &host, outcome);
            (
                "clean",
                "clean",
                "the server accepted STARTTLS and every quote shows it intact".into(),
                vec![
                    format!("STARTTLS intact up to hop {last_intact}"),
                    "220 2.0.0 Ready to start TLS".into(),
                ],
            )
        }
        Outcome::NotOffered => {
            smtp["ehlo"] = json!({"code": 250, "lines": ehlo_lines(None)});
            smtp["starttls_advertised"] = json!(false);
            smtp["starttls_reply"] = reply(502, &["5.5.1 Error: command not implemented"]);
            (
                "not_offered",
                "not_offered",
                "the server does not advertise STARTTLS and refuses it; no quote shows a change"
                    .into(),
                vec![format!("STARTTLS intact up to hop {last_intact}")],
            )
        }
        Outcome::Unreachable => {
            smtp = json!({"banner": null, "banner_masked": false, "ehlo": null, "helo_fallback": false,
                "helo": null, "starttls_advertised": false, "masked_keywords": [], "starttls_sent": false,
                "starttls_reply": null, "starttls_echo": null, "quit_reply": null,
                "closed_by_server": null, "error": null});
            let how = if rng.chance(0.6) {
                "timed_out"
            } else {
                "refused"
            };
            tcp = json!({"connect": how, "server_ttl": null, "server_distance": null, "rsts": [],
                "starttls_unacked": false, "closed_by_peer": false});
            (
                "unreachable",
                "no_connection",
                format!("no TCP connection: {}", how.replace('_', " ")),
                vec![],
            )
        }
        Outcome::InconclusiveEarly => {
            smtp["banner"] = reply(554, &["5.7.1 No SMTP service here"]);
            smtp["ehlo"] = Value::Null;
            smtp["starttls_advertised"] = json!(false);
            smtp["starttls_sent"] = json!(false);
            smtp["starttls_reply"] = Value::Null;
            smtp["error"] = json!("banner refused (554)");
            (
                "inconclusive",
                "starttls_not_sent",
                "the session ended before STARTTLS could be sent: banner refused (554)".into(),
                vec!["554 5.7.1 No SMTP service here".into()],
            )
        }
        Outcome::InconclusiveTempFail => {
            smtp["starttls_reply"] = reply(454, &["4.7.0 TLS not available due to local problem"]);
            (
                "inconclusive",
                "other_answer",
                "STARTTLS answered 454: a temporary failure decides nothing".into(),
                vec!["454 4.7.0 TLS not available due to local problem".into()],
            )
        }
        Outcome::TlsFailed => {
            tls = tls_facts(rng, &host, outcome);
            (
                "tls_failed",
                "tls_handshake_failed",
                "STARTTLS accepted, the TLS handshake failed at the server: no shared cipher"
                    .into(),
                vec!["handshake_failure alert in ServerHello".into()],
            )
        }
        Outcome::Stripped { at, visible } => {
            locate(at, visible, where_box(at));
            smtp["starttls_reply"] = unknown_cmd;
            if echo {
                smtp["starttls_echo"] = json!("XXXXXXXX");
            }
            if masked_banner {
                smtp["ehlo"] = json!({"code": 250, "lines": ehlo_lines(Some("XXXXXXXA"))});
                smtp["masked_keywords"] = json!(["XXXXXXXA"]);
            }
            let at_hop = seg["at"]["ttl"].as_u64();
            let after_hop = seg["after"]["ttl"].as_u64().unwrap_or(0);
            match at_hop {
                Some(a) => (
                    "stripped",
                    "quote_modified",
                    format!("STARTTLS arrives intact at hop {after_hop} and changed at hop {a}"),
                    vec![
                        format!("hop {a} ({}) quotes \"XXXXXXXX\\r\\n\"", seg["at"]["addr"].as_str().unwrap_or("?")),
                        "STARTTLS refused with 500".into(),
                    ],
                ),
                None if echo => (
                    "stripped",
                    "server_echoes_rewrite",
                    format!("the server's reply echoes a rewritten command; quotes show STARTTLS intact up to hop {after_hop}"),
                    vec!["reply quotes \"XXXXXXXX\"".into()],
                ),
                None => (
                    "stripped",
                    "refused_while_masked",
                    format!("banner and EHLO keywords masked, STARTTLS refused; quotes show it intact up to hop {after_hop}"),
                    vec!["banner masked".into(), "EHLO keywords masked: XXXXXXXA".into()],
                ),
            }
        }
        Outcome::AdvertisementMasked => {
            smtp["ehlo"] = json!({"code": 250, "lines": ehlo_lines(Some("XXXXXXXA"))});
            smtp["masked_keywords"] = json!(["XXXXXXXA"]);
            tls = tls_facts(rng, &host, Outcome::Clean);
            (
                "advertisement_masked",
                "advertisement_masked",
                "STARTTLS accepted but the EHLO reply was masked on the way back".into(),
                vec!["EHLO keywords masked: XXXXXXXA".into()],
            )
        }
        Outcome::Blocked => {
            locate(hops.len(), false, "the box in front of the server".into());
            smtp["starttls_reply"] = Value::Null;
            smtp["quit_reply"] = Value::Null;
            let unacked = rng.chance(0.5);
            tcp["starttls_unacked"] = json!(unacked);
            if !unacked {
                tcp["rsts"] = json!([{"ttl": 250, "server_ttl": 64 - server_distance,
                    "after_starttls": true, "at_ms": round3(rng.range(1.0, 30.0))}]);
            }
            (
                "blocked",
                if unacked {
                    "starttls_dropped"
                } else {
                    "starttls_reset"
                },
                if unacked {
                    "the STARTTLS segment was never acknowledged".to_string()
                } else {
                    "the connection was reset right after STARTTLS (RST TTL differs from the server's)".to_string()
                },
                vec![format!("STARTTLS intact up to hop {last_intact}")],
            )
        }
        Outcome::Intercepted { at } => {
            locate(at, false, where_box(at));
            seg["at"] = hops
                .get(at)
                .map(|h| hop_ref(h, at + 1, legacy))
                .unwrap_or(Value::Null);
            tls = tls_facts(rng, &host, outcome);
            (
                "intercepted",
                "tls_intercepted",
                "the certificate chain is signed by an inspection CA and the handshake ends before the server's distance".into(),
                vec!["issuer CN=Example Campus Inspection CA".into()],
            )
        }
        Outcome::TlsBlocked { at } | Outcome::TlsTampered { at } => {
            locate(at, false, where_box(at));
            seg["at"] = hops
                .get(at)
                .map(|h| hop_ref(h, at + 1, legacy))
                .unwrap_or(Value::Null);
            tls = tls_facts(rng, &host, outcome);
            if matches!(outcome, Outcome::TlsBlocked { .. }) {
                (
                    "tls_blocked",
                    "tls_cut_on_path",
                    "the connection was reset after the ClientHello by a box on the path".into(),
                    vec!["RST TTL differs from the server's".into()],
                )
            } else {
                (
                    "tls_tampered",
                    "tls_altered_on_path",
                    "the ServerHello offers a version the server never sent".into(),
                    vec!["ServerHello TLSv1.0 RC4-MD5".into()],
                )
            }
        }
    };
    // Intercepted and TLS boxes sit at a hop: attribute by that hop's AS.
    if let Outcome::Intercepted { at } | Outcome::TlsBlocked { at } | Outcome::TlsTampered { at } =
        outcome
    {
        let asn = hops.get(at).map(|h| h.router.asn);
        attr = attribution(asn, asn, v.asn, net.asn, &where_box(at));
    }

    let started = f.index * 7;
    let mut r = json!({
        "schema": 1,
        "tool": "reconmap",
        "version": "0.2.0",
        "target": f.target,
        "prober": v.prober,
        "started_at": timestamp(started),
        "verdict": verdict,
        "segment": seg,
        "reason": reason,
        "evidence": evidence,
        "hops": hop_values,
        "smtp": smtp,
        "tcp": tcp,
        "timing": {"established_ms": round3(rng.range(5.0, 60.0)), "sweep_started_ms": 80.0,
            "verdict_ms": 210.0, "done_ms": round3(rng.range(220.0, 400.0))},
        "unmatched_icmp": 0,
        "errors": errors,
    });
    if !legacy {
        if let Some(o) = r.as_object_mut() {
            o.insert("rule".into(), json!(rule));
            o.insert(
                "vantage".into(),
                json!({"name": v.name, "prober": v.prober, "asn": v.asn}),
            );
            o.insert("prober_asn".into(), json!(v.asn));
            o.insert("prober_as_name".into(), json!(v.as_name));
            o.insert("target_asn".into(), json!(net.asn));
            o.insert("target_as_name".into(), json!(net.as_name));
            o.insert("attribution".into(), attr);
            o.insert("tls".into(), tls);
        }
    }
    r
}
