use super::*;

const TLS10_ANSWER: &[u8] = include_bytes!("../../testdata/tls10_answer_legacy.bin");
const TLS12_ANSWER: &[u8] = include_bytes!("../../testdata/tls12_answer_rustls.bin");
const TLS10_ALERT: &[u8] = include_bytes!("../../testdata/tls10_answer_rustls.bin");
const CERT: &[u8] = include_bytes!("../../testdata/openssl_rsa2048.der");

fn messages(events: &[RecordEvent]) -> Vec<(u8, usize)> {
    events
        .iter()
        .filter_map(|e| match e {
            RecordEvent::Handshake(m) => Some((m.msg_type, m.body.len())),
            _ => None,
        })
        .collect()
}

#[test]
fn test_deconstruct_openssl_tls10_flight() {
    let mut r = RecordReader::default();
    let events = r.feed(TLS10_ANSWER);
    assert_eq!(messages(&events), [(2, 85), (11, 894), (12, 294), (14, 0)]);
    assert!(!r.is_stopped() && r.buffered() == 0);
    let RecordEvent::Handshake(hello) = &events[0] else {
        panic!("{events:?}")
    };
    let hello = ServerHello::parse(&hello.body).expect("server hello");
    assert_eq!(hello.legacy_version, 0x0301);
    assert_eq!(hello.version(), 0x0301);
    assert_eq!(hello.cipher_suite, 0xc014);
    assert_eq!(hello.compression_method, 0);
    assert!(!hello.is_hello_retry_request());
    assert_eq!(hello.downgrade_sentinel(), None);
    let RecordEvent::Handshake(cert) = &events[1] else {
        panic!("{events:?}")
    };
    let chain = parse_certificate_list(&cert.body).expect("certificate list");
    assert_eq!(chain, [CERT.to_vec()]);
}

#[test]
fn test_any_split_gives_the_same_events() {
    let whole = RecordReader::default().feed(TLS12_ANSWER);
    assert_eq!(messages(&whole), [(2, 89), (11, 894), (12, 296), (14, 0)]);
    for chunk in [1, 2, 3, 5, 7, 100, 1000] {
        let mut r = RecordReader::default();
        let split: Vec<RecordEvent> = TLS12_ANSWER.chunks(chunk).flat_map(|c| r.feed(c)).collect();
        assert_eq!(split, whole, "chunk {chunk}");
        assert!(r.buffered() <= RECORD_HEADER_LEN + MAX_RECORD_LEN);
    }
}

#[test]
fn test_tls12_server_hello_and_downgrade_sentinel() {
    // OpenSSL configured for TLS 1.2 at most sets no sentinel (it only marks a downgrade
    // from versions it could do).
    let events = RecordReader::default().feed(TLS12_ANSWER);
    let RecordEvent::Handshake(m) = &events[0] else {
        panic!()
    };
    let hello = ServerHello::parse(&m.body).expect("hello");
    assert_eq!(hello.version(), 0x0303);
    assert_eq!(hello.cipher_suite, 0xc030);
    assert_eq!(hello.downgrade_sentinel(), None);
    let mut marked = hello.clone();
    marked.random[24..].copy_from_slice(b"DOWNGRD\x01");
    assert_eq!(marked.downgrade_sentinel().as_deref(), Some("TLSv1.2"));
    marked.random[31] = 0;
    assert_eq!(
        marked.downgrade_sentinel().as_deref(),
        Some("TLSv1.1 or below")
    );
}

#[test]
fn test_alert_record() {
    let events = RecordReader::default().feed(TLS10_ALERT);
    assert_eq!(
        events,
        [RecordEvent::Alert(Alert {
            level: 2,
            description: 70
        })]
    );
    let RecordEvent::Alert(a) = events[0] else {
        panic!()
    };
    assert!(a.is_fatal());
    assert_eq!(a.name(), "protocol_version");
}

#[test]
fn test_handshake_message_spanning_records() {
    // One Certificate message cut into three records, plus a ServerHelloDone in the last.
    let msg: Vec<u8> = [&[11u8, 0, 0, 9][..], &[0, 0, 6, 0, 0, 3, 1, 2, 3]].concat();
    let mut stream = Vec::new();
    for part in [
        &msg[..3],
        &msg[3..7],
        &[&msg[7..], &[14, 0, 0, 0][..]].concat()[..],
    ] {
        stream.extend_from_slice(&[22, 3, 3, 0, part.len() as u8]);
        stream.extend_from_slice(part);
    }
    let events = RecordReader::default().feed(&stream);
    assert_eq!(messages(&events), [(11, 9), (14, 0)]);
    let RecordEvent::Handshake(m) = &events[0] else {
        panic!()
    };
    assert_eq!(
        parse_certificate_list(&m.body).expect("list"),
        [vec![1, 2, 3]]
    );
}

#[test]
fn test_stops_at_application_data_and_after_tls12_ccs() {
    let mut r = RecordReader::default();
    let events = r.feed(&[20, 3, 3, 0, 1, 1, 22, 3, 3, 0, 40, 0xde, 0xad]);
    assert_eq!(
        events,
        [
            RecordEvent::ChangeCipherSpec,
            RecordEvent::Encrypted { content_type: 22 }
        ]
    );
    assert!(r.is_stopped() && r.after_change_cipher_spec());
    assert!(
        r.feed(&[21, 3, 3, 0, 2, 2, 40]).is_empty(),
        "stopped for good"
    );

    let mut r = RecordReader::default();
    assert_eq!(
        r.feed(&[23, 3, 3, 0, 20]),
        [RecordEvent::Encrypted { content_type: 23 }]
    );
}

#[test]
fn test_tls13_ccs_is_a_no_op() {
    let mut r = RecordReader::default();
    r.assume_tls13();
    let events = r.feed(&[20, 3, 3, 0, 1, 1, 21, 3, 3, 0, 2, 1, 0]);
    assert_eq!(
        events,
        [
            RecordEvent::ChangeCipherSpec,
            RecordEvent::Alert(Alert {
                level: 1,
                description: 0
            })
        ]
    );
}

#[test]
fn test_server_hello_selecting_tls13_switches_mode() {
    // ServerHello with supported_versions = TLS 1.3, then the compatibility CCS, then an
    // encrypted record.
    let mut body = vec![3, 3];
    body.extend_from_slice(&[7; 32]);
    body.extend_from_slice(&[0, 0x13, 0x01, 0]);
    body.extend_from_slice(&[0, 6, 0, 43, 0, 2, 3, 4]);
    let mut stream = vec![
        22,
        3,
        3,
        0,
        (body.len() + 4) as u8,
        2,
        0,
        0,
        body.len() as u8,
    ];
    stream.extend_from_slice(&body);
    stream.extend_from_slice(&[20, 3, 3, 0, 1, 1, 23, 3, 3, 0, 5]);
    let mut r = RecordReader::default();
    let events = r.feed(&stream);
    assert!(r.is_tls13());
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(events[2], RecordEvent::Encrypted { content_type: 23 });
    let RecordEvent::Handshake(m) = &events[0] else {
        panic!()
    };
    let hello = ServerHello::parse(&m.body).expect("hello");
    assert_eq!((hello.legacy_version, hello.version()), (0x0303, 0x0304));
}

#[test]
fn test_text_answer_is_not_tls() {
    let events =
        RecordReader::default().feed(b"454 4.7.0 TLS not available due to local problem\r\n");
    assert_eq!(
        events,
        [RecordEvent::Invalid(RecordError::NotTls("454 4".into()))]
    );
    // The same in any split.
    let mut r = RecordReader::default();
    let split: Vec<RecordEvent> = b"454 4.7.0 TLS".chunks(2).flat_map(|c| r.feed(c)).collect();
    assert_eq!(split, events);
}

#[test]
fn test_limits() {
    let mut r = RecordReader::new(100);
    let events = r.feed(&[22, 3, 3, 0, 4, 11, 0, 1, 0]);
    assert_eq!(
        events,
        [RecordEvent::Invalid(RecordError::HandshakeTooLong {
            len: 256,
            limit: 100
        })]
    );
    assert_eq!(r.buffered(), 0);
    assert_eq!(
        RecordReader::default().feed(&[22, 3, 3, 0xff, 0xff]),
        [RecordEvent::Invalid(RecordError::RecordTooLong(65535))]
    );
    assert_eq!(
        RecordReader::default().feed(&[22, 2, 0, 0, 1]),
        [RecordEvent::Invalid(RecordError::BadVersion(0x0200))]
    );
    assert_eq!(
        RecordReader::default().feed(&[0x80, 0x2e, 0x01, 0x03, 0x01]),
        [RecordEvent::Invalid(RecordError::UnknownContentType(0x80))]
    );
    assert_eq!(
        RecordReader::default().feed(&[21, 3, 3, 0, 3, 2, 40, 0]),
        [RecordEvent::Invalid(RecordError::BadAlert(3))]
    );
    assert_eq!(
        RecordReader::default().feed(&[22, 3, 3, 0, 2, 11, 0, 21, 3, 3, 0, 2, 2, 40]),
        [RecordEvent::Invalid(RecordError::Interleaved(21))]
    );
}

#[test]
fn test_truncated_messages_are_errors_not_panics() {
    let events = RecordReader::default().feed(TLS10_ANSWER);
    let RecordEvent::Handshake(hello) = &events[0] else {
        panic!()
    };
    for n in 0..hello.body.len() {
        let r = ServerHello::parse(&hello.body[..n]);
        // Cutting exactly before the extensions leaves a valid extension-less hello.
        assert!(r.is_err() || n == 38 + hello.body[34] as usize, "{n}");
    }
    assert!(parse_certificate_list(&[0, 0, 5, 0, 0, 9, 1]).is_err());
    assert_eq!(
        parse_certificate_list(&[0, 0, 0]).expect("empty"),
        Vec::<Vec<u8>>::new()
    );
}

#[test]
fn test_client_hello_parse_of_captured_hellos() {
    for (bytes, sni) in [
        (
            &include_bytes!("../../testdata/rustls_client_hello.bin")[..],
            "mx.example.test",
        ),
        (
            &include_bytes!("../../testdata/openssl_client_hello.bin")[..],
            "mx.example.test",
        ),
    ] {
        let events = RecordReader::default().feed(bytes);
        let RecordEvent::Handshake(m) = &events[0] else {
            panic!("{events:?}")
        };
        assert_eq!(m.msg_type, handshake_type::CLIENT_HELLO);
        let hello = ClientHello::parse(&m.body).expect("client hello");
        assert_eq!(hello.server_name().as_deref(), Some(sni));
        assert_eq!(hello.legacy_version, 0x0303);
        assert!(hello.cipher_suites.contains(&0x1301));
    }
}

#[test]
fn test_splitter_cuts_at_record_ends_in_any_split() {
    let ends: Vec<usize> = {
        let mut s = RecordSplitter::default();
        let mut at = 0;
        let mut ends = Vec::new();
        while at < TLS10_ANSWER.len() {
            at += s.next_chunk(&TLS10_ANSWER[at..]);
            ends.push(at);
        }
        ends
    };
    assert_eq!(ends, [94, 997, 1300, 1309]);
    let mut s = RecordSplitter::default();
    let mut at = 0;
    let mut seen = Vec::new();
    for chunk in TLS10_ANSWER.chunks(7) {
        let mut rest = chunk;
        while !rest.is_empty() {
            let n = s.next_chunk(rest);
            assert!(n >= 1);
            at += n;
            rest = &rest[n..];
            if ends.contains(&at) {
                seen.push(at);
            }
        }
    }
    assert_eq!(seen, ends);
}
