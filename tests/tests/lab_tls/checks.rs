//! The checks: real observations (openssl, the ClientHello sweep) against the lab's
//! configuration (`TlsPath`) and the stated truth (`Expected`). Every observation is printed,
//! so a run documents itself.
use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use reconmap_core::verdict::Verdict;
use reconmap_lab::scenario::TlsProfile;
use reconmap_lab::{Expected, Lab};

use crate::model::{Fate, Handshake, TlsPath, PROTOCOL_VERSION};
use crate::records::{alert_name, client_hello_suites, messages, Message};
use crate::sclient::{self, Client, Run};
use crate::sweep::{probe, Payload, Probe};
use crate::wire::Segment;

/// A fatal alert's level.
const FATAL: u8 = 2;

/// One scenario's lab, one target and how long to wait.
pub struct Bench<'a> {
    pub lab: &'a Lab,
    pub name: String,
    pub target: SocketAddrV4,
    /// How long to wait for ICMP errors and replies after a probe's payload.
    pub window: Duration,
    /// How long s_client may take before it counts as hanging.
    pub deadline: Duration,
}

impl Bench<'_> {
    fn s_client(&self, client: Client) -> Run {
        let run = sclient::run(
            self.lab.prober(),
            self.target,
            client,
            self.deadline,
            self.window,
        );
        eprintln!("{}", run.describe(&self.name));
        run
    }

    fn hop_addr(&self, ttl: u8) -> Ipv4Addr {
        self.lab.hop_addr(ttl).expect("hop address")
    }

    fn probes(&self, ttls: &[u8], payload: Payload, hello: &[u8]) -> Vec<Probe> {
        let (target, window, ttls, hello) =
            (self.target, self.window, ttls.to_vec(), hello.to_vec());
        self.lab
            .prober()
            .enter(move || {
                ttls.iter()
                    .map(|&t| probe(target, t, payload, &hello, window))
                    .collect()
            })
            .expect("enter the prober")
    }
}

fn server_hellos(run: &Run) -> Vec<(u16, u16)> {
    run.server_messages()
        .into_iter()
        .filter_map(|m| match m {
            Message::ServerHello(h) => Some((h.version, h.suite)),
            _ => None,
        })
        .collect()
}

/// The handshake of a client like ReconMap's (TLS 1.2-1.3, ECDHE AEAD suites), against the
/// configuration and the truth. Returns the run (its ClientHello feeds the sweep).
pub fn check_modern_handshake(b: &Bench, m: &TlsPath, truth: &Expected) -> Run {
    let name = &b.name;
    let run = b.s_client(sclient::MODERN);
    let hellos = server_hellos(&run);
    let alerts = run.server_alerts();
    let hello = run
        .client_hello
        .clone()
        .expect("openssl sent a ClientHello");
    assert_eq!(
        hello.get(..3),
        Some(&[0x16, 0x03, 0x01][..]),
        "{name}: a ClientHello record"
    );
    let (_, suites) = client_hello_suites(&hello).expect("ClientHello suites");
    eprintln!(
        "[{name}] ClientHello: {} bytes, {} suites, first {:#06x}",
        hello.len(),
        suites.len(),
        suites.first().copied().unwrap_or_default()
    );
    // The configuration.
    match m.modern_handshake() {
        Handshake::Completes => {
            assert!(
                run.completed(),
                "{name}: the handshake completes: {}",
                run.output
            );
            assert!(
                matches!(run.protocol().as_deref(), Some("TLSv1.2" | "TLSv1.3")),
                "{name}: {:?}",
                run.protocol()
            );
        }
        Handshake::Hangs => {
            assert!(
                run.status.is_none(),
                "{name}: s_client hangs: {}",
                run.output
            );
            assert!(run.from_server.is_empty(), "{name}: nothing came back");
            assert!(run.rst_ttls.is_empty(), "{name}: no RST");
            assert!(
                run.hello_transmissions >= 2,
                "{name}: the ClientHello is retransmitted (never acknowledged)"
            );
        }
        Handshake::Reset { rst_ttl } => {
            assert!(
                run.status.is_some_and(|s| !s.success()),
                "{name}: s_client fails at once: {}",
                run.output
            );
            assert!(run.from_server.is_empty(), "{name}: no TLS from the server");
            assert_eq!(
                run.rst_ttls,
                [rst_ttl],
                "{name}: one RST, sent by the box's router"
            );
        }
        Handshake::FailsAfterServerHello => {
            assert!(
                run.status.is_some_and(|s| !s.success()) && !run.completed(),
                "{name}: the handshake fails: {}",
                run.output
            );
            assert_eq!(
                hellos.len(),
                1,
                "{name}: the server answered the ClientHello"
            );
        }
        Handshake::ServerAlert(d) => {
            assert!(
                run.status.is_some_and(|s| !s.success()),
                "{name}: {}",
                run.output
            );
            assert!(hellos.is_empty(), "{name}: no ServerHello: {hellos:?}");
            assert_eq!(
                alerts,
                [(FATAL, d)],
                "{name}: the server sends a fatal {}",
                alert_name(d)
            );
        }
    }
    // The truth.
    match truth.verdict {
        Verdict::Clean => assert!(run.completed(), "{name}: clean needs a completed handshake"),
        Verdict::TlsBlocked => {
            assert!(!run.completed(), "{name}: blocked");
            assert!(
                run.from_server.is_empty(),
                "{name}: tls_blocked: the server's TLS never answers"
            );
            assert!(
                run.status.is_none() || !run.rst_ttls.is_empty(),
                "{name}: tls_blocked: the client hangs or is reset"
            );
        }
        Verdict::TlsTampered => {
            assert!(!run.completed(), "{name}: tampered");
            assert!(
                !hellos.is_empty(),
                "{name}: tls_tampered: the server answered a ClientHello"
            );
        }
        Verdict::TlsFailed => {
            assert!(!run.completed(), "{name}: failed");
            let refused =
                alerts.iter().any(|&(l, _)| l == FATAL) || hellos.iter().any(|&(v, _)| v < 0x0303);
            assert!(
                refused,
                "{name}: tls_failed: the server refuses a modern client (fatal alert or an old \
                 version): {:?}",
                run.server_messages()
            );
        }
        other => panic!("{name}: {other:?} is no TLS truth"),
    }
    run
}

/// What the server's TLS profile gives other clients: the profile works for the clients it
/// was made for, so the modern client's failure is the server's set-up, not the path.
pub fn check_server_profile(b: &Bench, m: &TlsPath) {
    let name = &b.name;
    match m.profile {
        Some(TlsProfile::Tls10Only) => {
            let ok = b.s_client(sclient::TLS10);
            assert!(ok.completed(), "{name}: TLS 1.0 works: {}", ok.output);
            assert_eq!(ok.protocol().as_deref(), Some("TLSv1"), "{name}");
            // Without supported_versions (TLS 1.2 at most) the server answers TLS 1.0.
            let tls12 = b.s_client(sclient::TLS12);
            assert!(!tls12.completed(), "{name}: {}", tls12.output);
            let versions: Vec<u16> = server_hellos(&tls12).iter().map(|h| h.0).collect();
            assert_eq!(versions, [0x0301], "{name}: a TLS 1.0 ServerHello");
            let tls13 = b.s_client(sclient::TLS13);
            assert_eq!(tls13.server_alerts(), [(FATAL, PROTOCOL_VERSION)], "{name}");
            b.s_client(sclient::OPENSSL_DEFAULT);
        }
        Some(TlsProfile::CbcOnly) => {
            let ok = b.s_client(sclient::CBC);
            assert!(ok.completed(), "{name}: AES128-SHA works: {}", ok.output);
            assert_eq!(
                (ok.protocol().as_deref(), ok.cipher().as_deref()),
                (Some("TLSv1.2"), Some("AES128-SHA")),
                "{name}"
            );
            let tls13 = b.s_client(sclient::TLS13);
            assert_eq!(tls13.server_alerts(), [(FATAL, PROTOCOL_VERSION)], "{name}");
            // openssl's defaults still offer CBC suites with RSA key exchange.
            let dflt = b.s_client(sclient::OPENSSL_DEFAULT);
            assert!(dflt.completed(), "{name}: {}", dflt.output);
            assert!(
                matches!(dflt.cipher().as_deref(), Some("AES128-SHA" | "AES256-SHA")),
                "{name}: {:?}",
                dflt.cipher()
            );
        }
        Some(TlsProfile::Modern) | None => {}
    }
}

/// What one router's quotes of the ClientHello show.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    /// No quote.
    Nothing,
    /// Every quote equals the datagram sent, byte for byte (TTL and IP checksum aside).
    Intact,
    /// A quote differs: TCP header byte offsets, ClientHello byte offsets, with the quote's
    /// TCP checksum valid (`None`: the quote is cut).
    Changed {
        header: Vec<usize>,
        payload: Vec<usize>,
        checksum_ok: Option<bool>,
        /// The quoted record's first suite.
        first_suite: Option<u16>,
    },
}

/// Compares one quote with the transmission it quotes (same IP ID).
fn compare(quote: &Segment, sent: &Segment) -> Seen {
    assert_eq!(
        (quote.src, quote.dst, quote.total_len),
        (sent.src, sent.dst, sent.total_len),
        "quoted IP header"
    );
    let header_len = sent.payload_at.expect("our segment's header");
    let diffs: Vec<usize> = quote
        .tcp
        .iter()
        .zip(&sent.tcp)
        .enumerate()
        .filter(|(_, (q, s))| q != s)
        .map(|(i, _)| i)
        .collect();
    if diffs.is_empty() {
        return Seen::Intact;
    }
    let (header, payload): (Vec<usize>, Vec<usize>) =
        diffs.into_iter().partition(|&i| i < header_len);
    Seen::Changed {
        header,
        payload: payload.into_iter().map(|i| i - header_len).collect(),
        checksum_ok: quote.checksum_ok(),
        first_suite: client_hello_suites(quote.payload()).and_then(|(_, s)| s.first().copied()),
    }
}

/// What router `ttl` showed of the payload of probe `p` (all quotes must come from it).
fn seen(b: &Bench, p: &Probe) -> Seen {
    let name = &b.name;
    assert!(
        !p.sent.is_empty(),
        "{name}: ttl {}: the payload went out in one segment",
        p.ttl
    );
    let all: Vec<Seen> = p
        .quotes
        .iter()
        .map(|q| {
            assert_eq!(
                q.from,
                b.hop_addr(p.ttl),
                "{name}: ttl {}: quote source",
                p.ttl
            );
            let sent = p
                .sent
                .iter()
                .find(|s| s.ip_id == q.quote.ip_id)
                .unwrap_or_else(|| panic!("{name}: ttl {}: a quote of no transmission", p.ttl));
            compare(&q.quote, sent)
        })
        .collect();
    // A changed quote wins over intact ones (one change is enough to show it).
    all.iter()
        .find(|s| matches!(s, Seen::Changed { .. }))
        .or_else(|| all.first())
        .cloned()
        .unwrap_or(Seen::Nothing)
}

fn describe_probe(p: &Probe, seen: &Seen) -> String {
    let mut s = format!(
        "ttl {} {:?} port {}: {} transmission(s), {} quote(s)",
        p.ttl,
        p.payload,
        p.port,
        p.sent.len(),
        p.quotes.len()
    );
    if let Some(q) = p.quotes.first() {
        let _ = write!(
            s,
            " from {} ({} of {} bytes quoted)",
            q.from,
            q.quote.bytes.len(),
            q.quote.total_len
        );
    }
    let _ = write!(s, " -> {seen:?}");
    if !p.server_records.is_empty() {
        let msgs: Vec<String> = messages(&p.server_records)
            .iter()
            .map(|m| m.to_string())
            .collect();
        let _ = write!(s, " | server sent [{}]", msgs.join(", "));
    }
    if !p.rst_ttls.is_empty() {
        let _ = write!(s, " | RST ttl {:?}", p.rst_ttls);
    }
    s
}

/// The ClientHello with TTL 1..=n+1, one connection each, against the configuration and the
/// truth's segment bounds; a control of the same length where the ClientHello draws no quote.
pub fn check_sweep(b: &Bench, m: &TlsPath, truth: &Expected, hello: &[u8]) {
    let name = &b.name;
    let (first_suite_at, suites) = client_hello_suites(hello).expect("ClientHello");
    let ttls: Vec<u8> = (1..=m.n + 1).collect();
    let probes = b.probes(&ttls, Payload::Hello, hello);
    let mut seen_by_ttl = Vec::new();
    for p in &probes {
        let s = seen(b, p);
        eprintln!("[{name}] ClientHello {}", describe_probe(p, &s));
        // RSTs: only from a reset box the segment reached.
        let reached_box = m.first_affected_ttl().is_some_and(|f| p.ttl >= f);
        match m.box_rst_ttl().filter(|_| reached_box) {
            Some(ttl) => assert_eq!(p.rst_ttls, [ttl], "{name}: ttl {}: the box's RST", p.ttl),
            None if p.ttl <= m.n => {
                assert!(p.rst_ttls.is_empty(), "{name}: ttl {}: no RST", p.ttl)
            }
            None => {}
        }
        if p.ttl > m.n {
            assert!(
                p.quotes.is_empty(),
                "{name}: no router quotes ttl {}",
                p.ttl
            );
            // The server's first answer to the replayed ClientHello, as to openssl's own.
            let first = messages(&p.server_records).into_iter().next();
            match m.modern_handshake() {
                Handshake::Hangs | Handshake::Reset { .. } => {
                    assert_eq!(
                        first, None,
                        "{name}: the ClientHello never reached the server"
                    )
                }
                Handshake::Completes | Handshake::FailsAfterServerHello => assert!(
                    matches!(first, Some(Message::ServerHello(_))),
                    "{name}: a ServerHello: {first:?}"
                ),
                Handshake::ServerAlert(d) => assert_eq!(
                    first,
                    Some(Message::Alert(FATAL, d)),
                    "{name}: the server's alert"
                ),
            }
            continue;
        }
        let want = m.fate(p.ttl);
        match (&s, want) {
            (Seen::Intact, Fate::Intact) | (Seen::Nothing, Fate::Gone) => {}
            (
                Seen::Changed {
                    header,
                    payload,
                    checksum_ok,
                    first_suite,
                },
                Fate::Rewritten,
            ) => {
                assert_eq!(
                    header,
                    &[16, 17],
                    "{name}: ttl {}: only the TCP checksum changes in the header",
                    p.ttl
                );
                assert!(
                    !payload.is_empty()
                        && payload
                            .iter()
                            .all(|&i| i == first_suite_at || i == first_suite_at + 1),
                    "{name}: ttl {}: only the first suite (record bytes {first_suite_at}..{}) \
                     changes: {payload:?}",
                    p.ttl,
                    first_suite_at + 2
                );
                assert_ne!(
                    *checksum_ok,
                    Some(false),
                    "{name}: the box fixed the checksum"
                );
                eprintln!(
                    "[{name}] ttl {}: first suite {:#06x} -> {:#06x}, TCP checksum valid: \
                     {checksum_ok:?}",
                    p.ttl,
                    suites.first().copied().unwrap_or_default(),
                    first_suite.unwrap_or_default()
                );
            }
            _ => panic!(
                "{name}: ttl {}: saw {s:?}, the configuration says {want:?}",
                p.ttl
            ),
        }
        seen_by_ttl.push((p.ttl, s));
    }
    // Where the ClientHello gets no quote, a control of the same length (no TLS record) does:
    // what keeps it from that router is its content, not its TTL.
    let silent: Vec<u8> = seen_by_ttl
        .iter()
        .filter(|(_, s)| *s == Seen::Nothing)
        .map(|(t, _)| *t)
        .collect();
    let mut control_quoted = Vec::new();
    if !silent.is_empty() {
        for p in b.probes(&silent, Payload::Control, hello) {
            let s = seen(b, &p);
            eprintln!("[{name}] control {}", describe_probe(&p, &s));
            assert_eq!(
                s,
                Seen::Intact,
                "{name}: ttl {}: the control is quoted",
                p.ttl
            );
            control_quoted.push(p.ttl);
        }
    }
    // The truth's bounds, from the observations alone.
    let intact_upto = seen_by_ttl
        .iter()
        .take_while(|(_, s)| *s == Seen::Intact)
        .count();
    let after = u8::try_from(intact_upto).expect("ttl");
    let next = seen_by_ttl.get(intact_upto).map(|(t, s)| (*t, s));
    let at = match next {
        Some((t, Seen::Changed { .. })) => Some(t),
        Some((t, Seen::Nothing)) if control_quoted.contains(&t) => Some(t),
        _ => None,
    };
    let server_answered = probes.last().is_some_and(|p| !p.server_records.is_empty());
    let observed = if after == m.n && server_answered {
        (None, None)
    } else {
        (Some(after), at)
    };
    eprintln!(
        "[{name}] ClientHello intact up to ttl {after}, first change/loss at {at:?}, server \
         answered: {server_answered} -> segment (after, at) = {observed:?}"
    );
    assert_eq!(
        observed,
        (truth.segment_after, truth.segment_at),
        "{name}: the truth's segment bounds"
    );
}
