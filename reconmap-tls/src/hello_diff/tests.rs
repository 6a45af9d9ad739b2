use super::*;
use crate::records::{ClientHello, RecordEvent, RecordReader};

const RUSTLS: &[u8] = include_bytes!("../../testdata/rustls_client_hello.bin");
const OPENSSL: &[u8] = include_bytes!("../../testdata/openssl_client_hello.bin");
const LEGACY: &[u8] = include_bytes!("../../testdata/legacy_client_hello.bin");

fn parse(record: &[u8]) -> ClientHello {
    let events = RecordReader::default().feed(record);
    let Some(RecordEvent::Handshake(m)) = events.first() else {
        panic!("{events:?}")
    };
    ClientHello::parse(&m.body).expect("client hello")
}

/// Re-encodes a (possibly modified) hello as one record.
fn encode(h: &ClientHello) -> Vec<u8> {
    fn v16(out: &mut Vec<u8>, d: &[u8]) {
        out.extend_from_slice(&(d.len() as u16).to_be_bytes());
        out.extend_from_slice(d);
    }
    let mut b = h.legacy_version.to_be_bytes().to_vec();
    b.extend_from_slice(&h.random);
    b.push(h.session_id.len() as u8);
    b.extend_from_slice(&h.session_id);
    let suites: Vec<u8> = h
        .cipher_suites
        .iter()
        .flat_map(|s| s.to_be_bytes())
        .collect();
    v16(&mut b, &suites);
    b.push(h.compression_methods.len() as u8);
    b.extend_from_slice(&h.compression_methods);
    let mut exts = Vec::new();
    for (t, d) in &h.extensions {
        exts.extend_from_slice(&t.to_be_bytes());
        v16(&mut exts, d);
    }
    v16(&mut b, &exts);
    let mut msg = vec![1, 0, (b.len() >> 8) as u8, b.len() as u8];
    msg.extend_from_slice(&b);
    let mut rec = vec![22, 3, 1];
    v16(&mut rec, &msg);
    rec
}

fn only_truncations(changes: &[HelloChange]) -> bool {
    changes
        .iter()
        .all(|c| matches!(c, HelloChange::TruncatedAt { .. }))
}

#[test]
fn test_identical_hellos_have_no_changes() {
    for h in [RUSTLS, OPENSSL, LEGACY] {
        assert_eq!(hello_diff(h, h), []);
        assert_eq!(encode(&parse(h)), h, "the test encoder is faithful");
    }
}

#[test]
fn test_truncated_quotes_only_say_where_they_end() {
    for h in [RUSTLS, OPENSSL, LEGACY] {
        for n in 0..h.len() {
            let d = hello_diff(h, &h[..n]);
            assert_eq!(d.len(), 1, "{n}: {d:?}");
            assert!(only_truncations(&d), "{n}: {d:?}");
        }
    }
    // RFC 792: IP header + 8 bytes of TCP payload... of which a TCP header takes all; a
    // Linux-like quote keeps the payload. Cut inside the handshake length:
    assert_eq!(
        hello_diff(RUSTLS, &RUSTLS[..8]),
        [HelloChange::TruncatedAt {
            field: "handshake.length".into(),
            offset: 6,
            mid_field: true
        }]
    );
    assert_eq!(
        hello_diff(RUSTLS, &RUSTLS[..43]),
        [HelloChange::TruncatedAt {
            field: "session_id".into(),
            offset: 43,
            mid_field: false
        }]
    );
    let sni_at = RUSTLS
        .windows(15)
        .position(|w| w == b"mx.example.test")
        .expect("sni");
    let d = hello_diff(RUSTLS, &RUSTLS[..sni_at + 4]);
    assert_eq!(
        d,
        [HelloChange::TruncatedAt {
            field: "extension server_name".into(),
            offset: sni_at - 9,
            mid_field: true
        }]
    );
}

#[test]
fn test_server_name_rewritten() {
    let mut quoted = RUSTLS.to_vec();
    let at = quoted
        .windows(15)
        .position(|w| w == b"mx.example.test")
        .expect("sni");
    quoted[at..at + 2].copy_from_slice(b"XX");
    let expected = HelloChange::Changed {
        field: "extension server_name".into(),
        sent: "mx.example.test".into(),
        quoted: "XX.example.test".into(),
    };
    assert_eq!(hello_diff(RUSTLS, &quoted), std::slice::from_ref(&expected));
    // The same seen in a quote cut a few bytes later.
    let d = hello_diff(RUSTLS, &quoted[..at + 20]);
    assert_eq!(d[0], expected);
    assert!(matches!(d[1], HelloChange::TruncatedAt { .. }), "{d:?}");
}

#[test]
fn test_fixed_fields_changed() {
    let mut quoted = OPENSSL.to_vec();
    quoted[2] = 3; // record version TLS 1.2
    quoted[9..11].copy_from_slice(&[3, 1]); // legacy_version TLS 1.0
    quoted[20] ^= 0xff; // random
    let d = hello_diff(OPENSSL, &quoted);
    let fields: Vec<&str> = d
        .iter()
        .map(|c| match c {
            HelloChange::Changed { field, .. } => field.as_str(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(fields, ["record.version", "legacy_version", "random"]);
    assert_eq!(
        d[1],
        HelloChange::Changed {
            field: "legacy_version".into(),
            sent: "TLSv1.2".into(),
            quoted: "TLSv1.0".into()
        }
    );
}

#[test]
fn test_cipher_suite_removed_and_added() {
    let sent = parse(RUSTLS);
    let mut h = sent.clone();
    h.cipher_suites.retain(|s| *s != 0x1302);
    h.cipher_suites.push(0x000a);
    let quoted = encode(&h);
    let d = hello_diff(RUSTLS, &quoted);
    assert!(d.contains(&HelloChange::CipherSuites {
        added: vec!["TLS_RSA_WITH_3DES_EDE_CBC_SHA".into()],
        removed: vec!["TLS13_AES_256_GCM_SHA384".into()],
    }));
    // A quote cut inside the suite list still shows the removal (a later suite is there) but
    // cannot know about the addition at the end.
    let cut = 5 + 4 + 2 + 32 + 1 + sent.session_id.len() + 2 + 4;
    let d = hello_diff(RUSTLS, &quoted[..cut]);
    assert_eq!(
        d,
        [
            HelloChange::CipherSuites {
                added: vec![],
                removed: vec!["TLS13_AES_256_GCM_SHA384".into()]
            },
            HelloChange::TruncatedAt {
                field: "cipher_suites".into(),
                offset: cut - 6,
                mid_field: true
            }
        ]
    );
    let mut r = sent.clone();
    r.cipher_suites.reverse();
    assert_eq!(
        hello_diff(RUSTLS, &encode(&r)),
        [HelloChange::Reordered {
            field: "cipher_suites".into()
        }]
    );
}

#[test]
fn test_extensions_removed_added_changed() {
    let sent = parse(RUSTLS);
    let mut h = sent.clone();
    h.extensions.retain(|(t, _)| *t != 0);
    let d = hello_diff(RUSTLS, &encode(&h));
    assert!(d.contains(&HelloChange::ExtensionRemoved {
        name: "server_name".into(),
        value: "mx.example.test".into()
    }));
    let lengths: Vec<&str> = d
        .iter()
        .filter_map(|c| match c {
            HelloChange::Changed { field, .. } => Some(field.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        lengths,
        ["record.length", "handshake.length", "extensions.length"]
    );

    let mut h = sent.clone();
    for (t, d) in &mut h.extensions {
        if *t == 43 {
            *d = vec![2, 3, 3];
        }
    }
    h.extensions.push((21, vec![0; 10]));
    let d = hello_diff(RUSTLS, &encode(&h));
    assert!(d.contains(&HelloChange::Changed {
        field: "extension supported_versions".into(),
        sent: "TLSv1.3, TLSv1.2".into(),
        quoted: "TLSv1.2".into()
    }));
    assert!(d.contains(&HelloChange::ExtensionAdded {
        name: "padding".into(),
        value: "10 bytes".into()
    }));

    let mut h = sent.clone();
    h.extensions.reverse();
    assert_eq!(
        hello_diff(RUSTLS, &encode(&h)),
        [HelloChange::Reordered {
            field: "extensions".into()
        }]
    );
}

#[test]
fn test_removed_extension_in_a_cut_quote_needs_a_later_one() {
    let sent = parse(LEGACY); // extensions: server_name, groups, point formats, sigalgs, reneg
    let mut h = sent.clone();
    h.extensions.retain(|(t, _)| *t != 10);
    let quoted = encode(&h);
    let point_formats_end = quoted.len() - (4 + h.extensions[3].1.len()) - (4 + 1) - 4 - 30;
    // Cut inside signature_algorithms: ec_point_formats (after the removed groups) is whole.
    let d = hello_diff(LEGACY, &quoted[..point_formats_end + 10]);
    assert!(
        d.contains(&HelloChange::ExtensionRemoved {
            name: "supported_groups".into(),
            value: "X25519, secp256r1, secp384r1, secp521r1".into()
        }),
        "{d:?}"
    );
    // Cut right after server_name: which extension went is unknown, only the lengths show
    // that something is missing.
    let sni_end = 5
        + 4
        + 2
        + 32
        + 1
        + 2
        + 2 * sent.cipher_suites.len()
        + 2
        + 2
        + 4
        + sent.extensions[0].1.len();
    let d = hello_diff(LEGACY, &quoted[..sni_end]);
    assert!(
        !d.iter().any(|c| matches!(
            c,
            HelloChange::ExtensionRemoved { .. } | HelloChange::ExtensionAdded { .. }
        )),
        "{d:?}"
    );
    assert!(d.contains(&HelloChange::Changed {
        field: "extensions.length".into(),
        sent: "83".into(),
        quoted: "69".into()
    }));
    assert_eq!(
        d.last(),
        Some(&HelloChange::TruncatedAt {
            field: "extensions".into(),
            offset: sni_end,
            mid_field: false
        })
    );
}

#[test]
fn test_not_a_client_hello_is_compared_bytewise() {
    assert_eq!(
        hello_diff(b"STARTTLS\r\n", b"XXXXXXXX\r\n"),
        [HelloChange::Bytes {
            first_difference: 0,
            differing: 8
        }]
    );
    assert_eq!(
        hello_diff(b"STARTTLS\r\n", b"STAR"),
        [HelloChange::TruncatedAt {
            field: "payload".into(),
            offset: 4,
            mid_field: true
        }]
    );
    assert_eq!(hello_diff(&[], &[]), []);
}

#[test]
fn test_serialises_tagged() {
    let c = HelloChange::ExtensionRemoved {
        name: "server_name".into(),
        value: "mx.example.test".into(),
    };
    assert_eq!(
        serde_json::to_string(&c).expect("json"),
        r#"{"change":"extension_removed","name":"server_name","value":"mx.example.test"}"#
    );
}
