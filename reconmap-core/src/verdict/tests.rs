//! The verdict from recorded observations, one test per rule.
use super::*;
use crate::evidence::{ConnectOutcome, QuoteDiff, RstRecord, Timeline};
use crate::smtp::Reply;
use reconmap_wire::TimeToLive;
use std::net::Ipv4Addr;
use std::time::{Duration, SystemTime};

/// The decision for these observations (the rest of the evidence empty).
fn decide(
    prober: Ipv4Addr,
    hops: &[HopRecord],
    smtp: &SmtpObservations,
    tcp: &TcpObservations,
) -> Decision {
    super::decide(&Evidence {
        target: "192.0.2.25:25".parse().expect("addr"),
        prober,
        started_at: SystemTime::UNIX_EPOCH,
        timeline: Timeline::default(),
        hops: hops.to_vec(),
        smtp: smtp.clone(),
        tcp: tcp.clone(),
        errors: Vec::new(),
        unmatched_icmp: 0,
        incomplete: None,
        interception: crate::evidence::InterceptionCheck::NotChecked("test".into()),
        tls: None,
        tls_skipped: None,
    })
}

const PROBER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);

fn hop(ttl: u8, payload: Option<PayloadStatus>) -> HopRecord {
    HopRecord {
        ttl: TimeToLive(ttl),
        addr: payload.as_ref().map(|_| Ipv4Addr::new(203, 0, 113, ttl)),
        rtt: payload
            .as_ref()
            .map(|_| Duration::from_millis(u64::from(ttl))),
        icmp: payload
            .as_ref()
            .map(|_| crate::evidence::IcmpKind::TimeExceeded { code: 0 }),
        attempts: 1,
        diff: payload.map(|p| QuoteDiff {
            quote_len: 60,
            changes: Vec::new(),
            payload: p,
        }),
        matched_by: Some(crate::evidence::ProbeMatch::IpId),
        ..HopRecord::silent(TimeToLive(ttl))
    }
}

fn intact(ttl: u8) -> HopRecord {
    hop(ttl, Some(PayloadStatus::Intact))
}

fn modified(ttl: u8) -> HopRecord {
    hop(
        ttl,
        Some(PayloadStatus::Modified {
            quoted: b"XXXXXXXX\r\n".to_vec(),
        }),
    )
}

fn reply(code: u16, text: &str) -> Reply {
    Reply {
        code,
        lines: vec![text.to_string()],
    }
}

fn smtp(starttls: Option<Reply>) -> SmtpObservations {
    SmtpObservations {
        banner: Some(reply(220, "mail.lab ESMTP")),
        ehlo: Some(reply(250, "mail.lab")),
        starttls_advertised: true,
        starttls_sent: true,
        starttls_reply: starttls,
        ..SmtpObservations::default()
    }
}

fn tcp() -> TcpObservations {
    TcpObservations {
        connect: ConnectOutcome::Established,
        server_ttl: Some(TimeToLive(60)),
        server_distance: Some(TimeToLive(5)),
        rsts: Vec::new(),
        starttls_unacked: false,
        closed_by_peer: false,
        ack_retransmits: 0,
    }
}

fn ttls(s: &Option<Segment>) -> (Option<u8>, Option<u8>) {
    (
        s.map(|s| s.after.ttl.0),
        s.and_then(|s| s.at.map(|a| a.ttl.0)),
    )
}

#[test]
fn clean_path_is_clean() {
    let hops = [intact(1), intact(2), intact(3), intact(4)];
    let d = decide(PROBER, &hops, &smtp(Some(reply(220, "Ready"))), &tcp());
    assert_eq!(d.verdict, Verdict::Clean);
    assert_eq!(d.segment, None);
    assert!(!d.verdict.is_tampering());
}

#[test]
fn clean_with_short_and_silent_hops_is_still_clean() {
    let hops = [
        intact(1),
        hop(2, None),
        hop(3, Some(PayloadStatus::Short)),
        intact(4),
    ];
    let d = decide(PROBER, &hops, &smtp(Some(reply(220, "Ready"))), &tcp());
    assert_eq!(d.verdict, Verdict::Clean);
}

#[test]
fn modified_quote_locates_the_box() {
    let hops = [intact(1), intact(2), modified(3), modified(4)];
    let mut s = smtp(Some(reply(502, "5.5.2 Error: command not recognized")));
    s.masked_keywords = vec!["XXXXXXXA".to_string()];
    let d = decide(PROBER, &hops, &s, &tcp());
    assert_eq!(d.verdict, Verdict::Stripped);
    assert_eq!(ttls(&d.segment), (Some(2), Some(3)));
    assert_eq!(
        d.segment.and_then(|s| s.at).and_then(|a| a.addr),
        Some(Ipv4Addr::new(203, 0, 113, 3))
    );
    assert!(d.evidence.iter().any(|e| e.contains("XXXXXXXX")));
}

#[test]
fn silent_hops_between_widen_the_segment() {
    let hops = [intact(1), hop(2, None), modified(3)];
    let d = decide(
        PROBER,
        &hops,
        &smtp(Some(reply(500, "unrecognized"))),
        &tcp(),
    );
    assert_eq!(ttls(&d.segment), (Some(1), Some(3)));
    let first = [modified(1)];
    let d = decide(
        PROBER,
        &first,
        &smtp(Some(reply(500, "unrecognized"))),
        &tcp(),
    );
    assert_eq!(ttls(&d.segment), (Some(0), Some(1)));
    assert_eq!(d.segment.map(|s| s.after.addr), Some(Some(PROBER)));
}

#[test]
fn echoed_rewrite_without_a_modified_quote_points_past_the_last_hop() {
    let hops = [intact(1), intact(2), intact(3)];
    let mut s = smtp(Some(reply(500, "5.5.1 Command unrecognized: \"XXXXXXXX\"")));
    s.starttls_echo = Some("XXXXXXXX".to_string());
    let d = decide(PROBER, &hops, &s, &tcp());
    assert_eq!(d.verdict, Verdict::Stripped);
    assert_eq!(ttls(&d.segment), (Some(3), None));
}

#[test]
fn refused_but_advertised_or_masked_is_stripped_at_the_edge() {
    let hops = [intact(1), intact(2)];
    let d = decide(
        PROBER,
        &hops,
        &smtp(Some(reply(502, "not recognized"))),
        &tcp(),
    );
    assert_eq!(d.verdict, Verdict::Stripped);
    assert_eq!(ttls(&d.segment), (Some(2), None));
    let mut s = smtp(Some(reply(502, "not recognized")));
    s.starttls_advertised = false;
    s.banner_masked = true;
    assert_eq!(decide(PROBER, &hops, &s, &tcp()).verdict, Verdict::Stripped);
}

#[test]
fn refused_and_never_offered_is_not_offered() {
    let hops = [intact(1), intact(2)];
    let mut s = smtp(Some(reply(502, "5.5.1 Error: command not implemented")));
    s.starttls_advertised = false;
    let d = decide(PROBER, &hops, &s, &tcp());
    assert_eq!(d.verdict, Verdict::NotOffered);
    assert_eq!(d.segment, None);
}

#[test]
fn masked_advertisement_with_an_accepted_command() {
    let hops = [intact(1), intact(2), intact(3)];
    let mut s = smtp(Some(reply(220, "Ready")));
    s.starttls_advertised = false;
    s.masked_keywords = vec!["XXXXXXXX".to_string()];
    let d = decide(PROBER, &hops, &s, &tcp());
    assert_eq!(d.verdict, Verdict::AdvertisementMasked);
    assert_eq!(d.segment, None);
}

#[test]
fn dropped_or_reset_starttls_is_blocked() {
    let hops = [intact(1), intact(2), hop(3, None), hop(4, None)];
    let mut t = tcp();
    t.starttls_unacked = true;
    let d = decide(PROBER, &hops, &smtp(None), &t);
    assert_eq!(d.verdict, Verdict::Blocked);
    assert_eq!(ttls(&d.segment), (Some(2), None));
    let mut t = tcp();
    t.rsts.push(RstRecord {
        ttl: TimeToLive(62),
        server_ttl: Some(TimeToLive(60)),
        sent_from_hop: TimeToLive(3),
        after_starttls: true,
        after_client_hello: false,
        at: Duration::from_millis(5),
    });
    let d = decide(PROBER, &[intact(1), intact(2), intact(3)], &smtp(None), &t);
    assert_eq!(d.verdict, Verdict::Blocked);
    assert!(d.reason.contains("reset"));
    assert!(d.reason.contains("sent about 3 hops away"), "{}", d.reason);
    assert!(d.evidence.iter().any(|e| e.contains("likely injected")));
}

/// Hop `ttl` silent for STARTTLS; with `control`, it answered a control segment.
fn unreached(ttl: u8, control: bool) -> HopRecord {
    HopRecord {
        attempts: 3,
        control_attempts: 2,
        control: control.then(|| crate::evidence::ControlAnswer {
            addr: Ipv4Addr::new(203, 0, 113, ttl),
            rtt: None,
            icmp: crate::evidence::IcmpKind::TimeExceeded { code: 0 },
        }),
        ..HopRecord::silent(TimeToLive(ttl))
    }
}

#[test]
fn a_hop_answering_the_control_but_never_starttls_locates_the_drop() {
    let hops = [
        intact(1),
        intact(2),
        unreached(3, false),
        unreached(4, true),
    ];
    let mut t = tcp();
    t.starttls_unacked = true;
    let d = decide(PROBER, &hops, &smtp(None), &t);
    assert_eq!((d.verdict, d.rule), (Verdict::Blocked, "starttls_dropped"));
    assert_eq!(ttls(&d.segment), (Some(2), Some(4)));
    assert!(
        d.reason.contains("hop 4 (203.0.113.4) answers a control"),
        "{}",
        d.reason
    );
    // A control answered below the last intact hop locates nothing.
    let hops = [
        intact(1),
        unreached(2, true),
        intact(3),
        unreached(4, false),
    ];
    let d = decide(PROBER, &hops, &smtp(None), &t);
    assert_eq!(ttls(&d.segment), (Some(3), None));
    assert!(d.reason.contains("not located"));
}

fn checksum_changed(ttl: u8, confirmed: bool) -> HopRecord {
    HopRecord {
        diff: Some(QuoteDiff {
            quote_len: 40,
            changes: Vec::new(),
            payload: PayloadStatus::ChecksumChanged {
                sent: 1,
                expected: 1,
                quoted: 2,
            },
        }),
        checksum_confirmed_by: confirmed.then(|| b"XXXXXXXX".to_vec()),
        ..intact(ttl)
    }
}

fn checksum_unchanged(ttl: u8) -> HopRecord {
    HopRecord {
        diff: Some(QuoteDiff {
            quote_len: 40,
            changes: Vec::new(),
            payload: PayloadStatus::ChecksumUnchanged,
        }),
        ..intact(ttl)
    }
}

#[test]
fn a_changed_checksum_in_a_header_only_quote_locates_the_rewrite() {
    let hops = [intact(1), checksum_unchanged(2), checksum_changed(3, true)];
    let refused = SmtpObservations {
        starttls_echo: Some("XXXXXXXX".to_string()),
        ..smtp(Some(reply(
            500,
            "5.5.2 Error: command not recognized: \"XXXXXXXX\"",
        )))
    };
    let d = decide(PROBER, &hops, &refused, &tcp());
    assert_eq!((d.verdict, d.rule), (Verdict::Stripped, "quote_modified"));
    assert_eq!(ttls(&d.segment), (Some(2), Some(3)));
    assert!(d
        .reason
        .contains("inferred from the TCP checksum in its 40-byte quote"));
    assert!(d.reason.contains("confirmed"), "{}", d.reason);
    let hops = [intact(1), checksum_changed(2, false)];
    let d = decide(PROBER, &hops, &refused, &tcp());
    assert!(d.reason.contains("not confirmed"), "{}", d.reason);
}

#[test]
fn a_changed_checksum_with_starttls_accepted_is_not_stripping() {
    let hops = [
        intact(1),
        checksum_changed(2, false),
        checksum_changed(3, false),
    ];
    let d = decide(
        PROBER,
        &hops,
        &smtp(Some(reply(220, "2.0.0 Ready to start TLS"))),
        &tcp(),
    );
    assert_eq!(d.verdict, Verdict::Clean, "{}", d.reason);
}

#[test]
fn failed_handshake_is_unreachable() {
    for outcome in [
        ConnectOutcome::Refused,
        ConnectOutcome::TimedOut,
        ConnectOutcome::Unreachable,
    ] {
        let mut t = tcp();
        t.connect = outcome;
        let d = decide(PROBER, &[], &SmtpObservations::default(), &t);
        assert_eq!(d.verdict, Verdict::Unreachable);
    }
}

#[test]
fn missing_or_contradictory_evidence_is_inconclusive() {
    let s = SmtpObservations {
        banner: Some(reply(220, "x")),
        error: Some("no reply to EHLO within 30s".to_string()),
        ..SmtpObservations::default()
    };
    let d = decide(PROBER, &[], &s, &tcp());
    assert_eq!(d.verdict, Verdict::Inconclusive);
    assert!(d.reason.contains("EHLO"));
    let d = decide(
        PROBER,
        &[intact(1), modified(2)],
        &smtp(Some(reply(220, "Ready"))),
        &tcp(),
    );
    assert_eq!(d.verdict, Verdict::Inconclusive);
    let d = decide(
        PROBER,
        &[intact(1)],
        &smtp(Some(reply(454, "TLS not available"))),
        &tcp(),
    );
    assert_eq!(d.verdict, Verdict::Inconclusive);
}

#[test]
fn docs_list_the_rule_table_as_the_code_has_it() {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/output.md"))
        .expect("docs/output.md");
    let section = docs
        .split("## Verdicts and the rules behind them")
        .nth(1)
        .expect("verdict section")
        .split("\n## ")
        .next()
        .unwrap_or_default();
    let rows: Vec<(String, String, String)> = section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split(" | ").map(str::trim).collect();
            (
                cells[0].trim_matches('`').to_string(),
                cells[1].trim_matches('`').to_string(),
                cells[2..].join(" | "),
            )
        })
        .collect();
    let code: Vec<(String, String, String)> = RULES
        .iter()
        .map(|r| {
            (
                r.id.to_string(),
                r.verdict.name().to_string(),
                r.doc.to_string(),
            )
        })
        .collect();
    assert_eq!(rows, code, "docs/output.md and verdict::RULES differ");
    // Every verdict has at least one rule, and rule ids are unique.
    for v in Verdict::ALL {
        assert!(RULES.iter().any(|r| r.verdict == v), "{v} has no rule");
    }
    let mut ids: Vec<&str> = RULES.iter().map(|r| r.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), RULES.len());
}

#[test]
fn an_acknowledged_but_unanswered_starttls_is_not_blocked() {
    // Issue: a slow or silent server that acknowledged STARTTLS was reported `blocked`.
    let hops = [intact(1), intact(2), intact(3)];
    let d = decide(PROBER, &hops, &smtp(None), &tcp());
    assert_eq!(d.verdict, Verdict::Inconclusive, "{d:?}");
    assert_eq!(d.rule, "no_answer");
    assert_eq!(d.segment, None);
    // A server that closes after acknowledging, without answering: not tampering either.
    let mut s = smtp(None);
    s.closed_by_server = Some(crate::smtp::SmtpPhase::StartTls);
    let d = decide(PROBER, &hops, &s, &tcp());
    assert_eq!(d.verdict, Verdict::Inconclusive);
    assert!(d.reason.contains("closed"), "{}", d.reason);
}

/// A STARTTLS-accepted session whose TLS stage saw `tls`.
fn with_tls(tls: crate::evidence::TlsEvidence, rsts: Vec<RstRecord>) -> Decision {
    let mut t = tcp();
    t.rsts = rsts;
    super::decide(&Evidence {
        target: "192.0.2.25:25".parse().expect("addr"),
        prober: PROBER,
        started_at: SystemTime::UNIX_EPOCH,
        timeline: Timeline::default(),
        hops: vec![intact(1), intact(2), intact(3)],
        smtp: smtp(Some(reply(220, "2.0.0 Ready to start TLS"))),
        tcp: t,
        errors: Vec::new(),
        unmatched_icmp: 0,
        incomplete: None,
        interception: crate::evidence::InterceptionCheck::NotIntercepted("test".into()),
        tls: Some(tls),
        tls_skipped: None,
    })
}

fn tls_evidence(hops: Vec<HopRecord>) -> crate::evidence::TlsEvidence {
    crate::evidence::TlsEvidence {
        observations: reconmap_tls::TlsObservations::default(),
        hops,
        unmatched_icmp: 0,
        client_hello: vec![22, 3, 1, 0, 4, 1, 0, 0, 0],
        sweep_skipped: None,
        server_spoke: false,
        hello_acked: false,
        server_closed: false,
        quit_reply: None,
        errors: Vec::new(),
    }
}

fn failure(step: reconmap_tls::HandshakeStep, alert: Option<&str>) -> reconmap_tls::TlsFailure {
    reconmap_tls::TlsFailure {
        step,
        alert: alert.map(str::to_string),
        alert_sent_by: alert.map(|_| reconmap_tls::Peer::Server),
        error: "test".into(),
    }
}

#[test]
fn clean_needs_the_tls_handshake_completed() {
    let mut ok = tls_evidence(vec![intact(1), intact(2), intact(3)]);
    ok.observations.version = Some("TLSv1.3".into());
    ok.observations.cipher = Some("TLS13_AES_256_GCM_SHA384".into());
    ok.server_spoke = true;
    ok.hello_acked = true;
    let d = with_tls(ok, Vec::new());
    assert_eq!((d.verdict, d.rule), (Verdict::Clean, "clean"));
    assert!(d.reason.contains("TLSv1.3"), "{}", d.reason);
}

#[test]
fn a_dropped_client_hello_is_tls_blocked_and_located_by_a_control() {
    let mut t = tls_evidence(vec![intact(1), intact(2), unreached(3, true)]);
    t.observations.failure = Some(failure(reconmap_tls::HandshakeStep::ClientHelloSent, None));
    let d = with_tls(t, Vec::new());
    assert_eq!((d.verdict, d.rule), (Verdict::TlsBlocked, "tls_dropped"));
    assert_eq!(ttls(&d.segment), (Some(2), Some(3)));
    assert!(d.verdict.is_tampering());
}

#[test]
fn an_injected_reset_after_the_client_hello_is_tls_blocked() {
    let mut t = tls_evidence(vec![intact(1), intact(2), unreached(3, true)]);
    t.hello_acked = false;
    t.observations.failure = Some(failure(reconmap_tls::HandshakeStep::ClientHelloSent, None));
    let rst = RstRecord {
        ttl: TimeToLive(63),
        server_ttl: Some(TimeToLive(60)),
        sent_from_hop: TimeToLive(2),
        after_starttls: true,
        after_client_hello: true,
        at: Duration::from_millis(9),
    };
    let d = with_tls(t, vec![rst]);
    assert_eq!((d.verdict, d.rule), (Verdict::TlsBlocked, "tls_reset"));
    assert!(d.reason.contains("sent about 2 hops away"), "{}", d.reason);
}

#[test]
fn a_changed_client_hello_is_tls_tampered_and_a_failing_server_is_not() {
    let changed = hop(
        3,
        Some(PayloadStatus::Modified {
            quoted: vec![22, 3, 1, 0, 4, 1, 0, 0, 1],
        }),
    );
    let mut t = tls_evidence(vec![intact(1), intact(2), changed]);
    t.server_spoke = true;
    t.observations.failure = Some(failure(
        reconmap_tls::HandshakeStep::ServerHello,
        Some("decrypt_error"),
    ));
    let d = with_tls(t, Vec::new());
    assert_eq!(
        (d.verdict, d.rule),
        (Verdict::TlsTampered, "tls_quote_modified")
    );
    assert_eq!(ttls(&d.segment), (Some(2), Some(3)));
    // The same failure with every quote intact is the server's.
    let mut t = tls_evidence(vec![intact(1), intact(2), intact(3)]);
    t.server_spoke = true;
    t.hello_acked = true;
    t.observations.failure = Some(failure(
        reconmap_tls::HandshakeStep::ServerHello,
        Some("protocol_version"),
    ));
    t.observations.server_hello = Some(reconmap_tls::ServerHelloInfo {
        version: "TLSv1.0".into(),
        legacy_version: "TLSv1.0".into(),
        cipher: "TLS_RSA_WITH_AES_128_CBC_SHA".into(),
        hello_retry_request: false,
        downgrade_sentinel: None,
        extensions: Vec::new(),
    });
    let d = with_tls(t, Vec::new());
    assert_eq!(
        (d.verdict, d.rule),
        (Verdict::TlsFailed, "tls_failed_at_server")
    );
    assert!(!d.verdict.is_tampering());
    assert!(d.reason.contains("TLSv1.0"), "{}", d.reason);
    assert_eq!(d.segment, None);
}

#[test]
fn an_acknowledged_client_hello_without_answer_is_inconclusive() {
    let mut t = tls_evidence(vec![intact(1), intact(2), intact(3)]);
    t.hello_acked = true;
    t.observations.failure = Some(failure(reconmap_tls::HandshakeStep::ClientHelloSent, None));
    let d = with_tls(t, Vec::new());
    assert_eq!(
        (d.verdict, d.rule),
        (Verdict::Inconclusive, "tls_no_answer")
    );
}

#[test]
fn a_transcript_mismatch_is_tampering_even_with_every_quote_intact() {
    let mut t = tls_evidence(vec![intact(1), intact(2), intact(3)]);
    t.server_spoke = true;
    t.hello_acked = true;
    t.observations.failure = Some(reconmap_tls::TlsFailure {
        step: reconmap_tls::HandshakeStep::ServerHello,
        alert: None,
        alert_sent_by: None,
        error: "cannot decrypt peer's message".into(),
    });
    let d = with_tls(t, Vec::new());
    assert_eq!(
        (d.verdict, d.rule),
        (Verdict::TlsTampered, "tls_transcript_mismatch")
    );
    assert_eq!(ttls(&d.segment), (Some(3), None));
}
