use super::*;
use crate::evidence::{ConnectOutcome, IcmpKind, QuoteDiff, Timeline};
use crate::smtp::Reply;
use reconmap_wire::TimeToLive;
use std::time::Duration;
use std::time::SystemTime;

pub(super) fn input(modified_at: Option<u8>) -> Evidence {
    let hops = (1..=3u8)
        .map(|t| HopRecord {
            ttl: TimeToLive(t),
            addr: Some(Ipv4Addr::new(203, 0, 113, t)),
            rtt: Some(Duration::from_micros(1500 * u64::from(t))),
            icmp: Some(IcmpKind::TimeExceeded { code: 0 }),
            attempts: 1,
            diff: Some(QuoteDiff {
                quote_len: 50,
                changes: Vec::new(),
                payload: if modified_at.is_some_and(|m| t >= m) {
                    PayloadStatus::Modified {
                        quoted: b"XXXXXXXX\r\n".to_vec(),
                    }
                } else {
                    PayloadStatus::Intact
                },
            }),
            ..HopRecord::silent(TimeToLive(t))
        })
        .collect();
    Evidence {
        interception: crate::evidence::InterceptionCheck::NotIntercepted("test".into()),
        tls: None,
        tls_skipped: None,
        target: "192.0.2.25:25".parse().expect("addr"),
        prober: Ipv4Addr::new(198, 51, 100, 2),
        started_at: SystemTime::UNIX_EPOCH,
        timeline: Timeline::default(),
        hops,
        smtp: SmtpObservations {
            banner: Some(Reply {
                code: 220,
                lines: vec!["mail, \"lab\"".to_string()],
            }),
            starttls_advertised: true,
            starttls_sent: true,
            starttls_reply: Some(Reply {
                code: if modified_at.is_some() { 502 } else { 220 },
                lines: vec!["x".to_string()],
            }),
            ..SmtpObservations::default()
        },
        tcp: TcpObservations {
            connect: ConnectOutcome::Established,
            server_ttl: Some(TimeToLive(60)),
            server_distance: Some(TimeToLive(5)),
            rsts: Vec::new(),
            starttls_unacked: false,
            closed_by_peer: false,
            ack_retransmits: 0,
        },
        errors: Vec::new(),
        unmatched_icmp: 0,
        incomplete: None,
    }
}

#[test]
fn json_has_the_documented_schema() {
    let r = Report::build(input(Some(2)));
    let v: serde_json::Value = serde_json::from_str(&to_json(&r).expect("json")).expect("parse");
    assert_eq!(v["schema"], 2);
    assert_eq!(v["interception"]["result"], "not_intercepted");
    assert!(v["candidate_boxes"].as_array().is_some_and(Vec::is_empty));
    assert!(v["ip_id_rewritten_from"].is_null());
    assert_eq!(v["target"], "192.0.2.25:25");
    assert_eq!(v["verdict"], "stripped");
    assert_eq!(v["segment"]["after"]["ttl"], 1);
    assert_eq!(v["segment"]["after"]["addr"], "203.0.113.1");
    assert_eq!(v["segment"]["at"]["ttl"], 2);
    assert_eq!(v["hops"][1]["payload"], "modified");
    assert_eq!(v["hops"][1]["quoted_payload"], "XXXXXXXX\\r\\n");
    assert_eq!(v["hops"][0]["rtt_ms"], 1.5);
    assert_eq!(v["hops"][0]["quote_len"], 50);
    assert_eq!(v["started_at"], "1970-01-01T00:00:00.000Z");
    let clean = Report::build(input(None));
    let v: serde_json::Value =
        serde_json::from_str(&to_json(&clean).expect("json")).expect("parse");
    assert_eq!(v["verdict"], "clean");
    assert!(v["segment"].is_null());
}

#[test]
fn csv_quotes_fields_and_matches_the_header() {
    let r = Report::build(input(Some(2)));
    let row = to_csv_row(&r);
    assert!(row.starts_with("192.0.2.25:25,stripped,1,203.0.113.1,2,203.0.113.2,"));
    assert!(row.contains("1:203.0.113.1:intact 2:203.0.113.2:modified"));
    assert_eq!(csv_header().split(',').count(), 12);
}

#[test]
fn table_shows_hops_and_verdict_with_colour_only_on_request() {
    let r = Report::build(input(Some(2)));
    let plain = render_table(&r, false);
    assert!(plain.contains("MODIFIED \"XXXXXXXX\\r\\n\""));
    assert!(plain.contains("verdict: stripped"));
    assert!(plain.contains("segment: after hop 1 (203.0.113.1), at hop 2 (203.0.113.2)"));
    assert!(!plain.contains('\x1b'));
    assert!(render_table(&r, true).contains("\x1b[1;31mstripped"));
}

/// Hop 2 an LSR (two labels), hop 3 with RFC 5837 interface information and an unknown
/// object, hop 1 with an extension structure that failed its checksum.
fn with_extensions() -> Evidence {
    use reconmap_wire::{
        ExtensionError, IcmpExtension, IcmpExtensions, InterfaceInfo, InterfaceRole, MplsLabel,
    };
    let mut e = input(None);
    e.hops[0].extensions = IcmpExtensions {
        error: Some(ExtensionError::BadChecksum { found: 0x1234 }),
        ..IcmpExtensions::default()
    };
    e.hops[1].extensions = IcmpExtensions {
        objects: vec![IcmpExtension::Mpls(MplsLabel::expired_stack(&[
            16004, 24001,
        ]))],
        ..IcmpExtensions::default()
    };
    e.hops[2].extensions = IcmpExtensions {
        objects: vec![
            IcmpExtension::InterfaceInfo(InterfaceInfo {
                role: InterfaceRole::Incoming,
                if_index: Some(7),
                addr: Some(Ipv4Addr::new(203, 0, 113, 3).into()),
                name: Some("eth0".into()),
                mtu: None,
            }),
            IcmpExtension::Other {
                class: 3,
                ctype: 1,
                bytes_len: 8,
            },
        ],
        ..IcmpExtensions::default()
    };
    e
}

#[test]
fn json_hops_carry_mpls_labels_and_other_extensions_only_when_present() {
    let r = Report::build(with_extensions());
    let v: serde_json::Value = serde_json::from_str(&to_json(&r).expect("json")).expect("parse");
    let hops = &v["hops"];
    assert_eq!(
        hops[1]["mpls"],
        serde_json::json!([
            {"label": 16004, "tc": 0, "s": false, "ttl": 1},
            {"label": 24001, "tc": 0, "s": true, "ttl": 1},
        ])
    );
    assert!(hops[1].get("icmp_extensions").is_none());
    assert!(hops[1].get("icmp_extension_error").is_none());
    assert_eq!(
        hops[2]["icmp_extensions"],
        serde_json::json!([
            {"object": "interface_info", "role": "incoming", "if_index": 7,
             "addr": "203.0.113.3", "name": "eth0"},
            {"object": "other", "class": 3, "ctype": 1, "bytes_len": 8},
        ])
    );
    assert!(hops[2].get("mpls").is_none());
    assert!(hops[0].get("mpls").is_none());
    assert_eq!(
        hops[0]["icmp_extension_error"],
        "extension structure checksum 0x1234 does not verify"
    );
    // Without extensions the hop object is as before.
    let plain: serde_json::Value =
        serde_json::from_str(&to_json(&Report::build(input(None))).expect("json")).expect("parse");
    for h in plain["hops"].as_array().expect("hops") {
        for key in ["mpls", "icmp_extensions", "icmp_extension_error"] {
            assert!(h.get(key).is_none(), "{key} in {h}");
        }
    }
}

#[test]
fn table_shows_mpls_labels_after_the_hop_address() {
    let table = render_table(&Report::build(with_extensions()), false);
    let row = |ttl: &str| {
        table
            .lines()
            .find(|l| l.trim_start().starts_with(ttl))
            .unwrap_or_else(|| panic!("row {ttl} in\n{table}"))
            .to_string()
    };
    assert!(
        row("2 ").contains("203.0.113.2 MPLS L=16004,24001 "),
        "{table}"
    );
    assert!(!row("1 ").contains("MPLS"), "{table}");
    assert!(!row("3 ").contains("MPLS"), "{table}");
    // The columns stay aligned: every row's RTT ends where the header's does.
    let rtt_end = |line: &str, needle: &str| line.find(needle).map(|i| i + needle.len());
    let header = table.lines().nth(1).expect("header");
    let end = rtt_end(header, "rtt").expect("rtt column");
    for ttl in ["1 ", "2 ", "3 "] {
        assert_eq!(rtt_end(&row(ttl), " ms"), Some(end), "{table}");
    }
}
