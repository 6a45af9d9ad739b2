use super::*;
use crate::records::{ClientHello, RecordEvent, RecordReader};
use std::time::Duration;

const TLS10_ANSWER: &[u8] = include_bytes!("../../testdata/tls10_answer_legacy.bin");
const TLS12_ANSWER: &[u8] = include_bytes!("../../testdata/tls12_answer_legacy.bin");

fn parse(record: &[u8]) -> ClientHello {
    assert_eq!(
        &record[..3],
        &[22, 3, 1],
        "handshake record, version TLS 1.0"
    );
    let events = RecordReader::default().feed(record);
    let [RecordEvent::Handshake(m)] = &events[..] else {
        panic!("{events:?}")
    };
    assert_eq!(m.msg_type, 1);
    ClientHello::parse(&m.body).expect("client hello")
}

fn wall() -> SystemTime {
    // Inside the validity of testdata/openssl_rsa2048.der (2026-11-23 .. 2036-11-20).
    UNIX_EPOCH + Duration::from_secs(1_830_000_000)
}

use std::time::UNIX_EPOCH;

#[test]
fn test_construct_legacy_hello() {
    let record = legacy_client_hello(Some("mx.example.test"), [7; 32]);
    let h = parse(&record);
    assert_eq!(h.legacy_version, 0x0303);
    assert_eq!(h.random, [7; 32]);
    assert!(h.session_id.is_empty());
    assert_eq!(h.cipher_suites, LEGACY_CIPHER_SUITES);
    for suite in [0x000a, 0x0005, 0xc014, 0x002f, 0xc02f] {
        assert!(h.cipher_suites.contains(&suite), "{suite:04x}");
    }
    assert_eq!(h.compression_methods, [0]);
    let types: Vec<u16> = h.extensions.iter().map(|(t, _)| *t).collect();
    assert_eq!(types, [0, 10, 11, 13, 0xff01]);
    assert_eq!(h.server_name().as_deref(), Some("mx.example.test"));
    assert_eq!(h.extension(0xff01), Some(&[0u8][..]));
    assert!(record.len() < 256, "short enough to need no padding");
}

#[test]
fn test_construct_is_the_captured_hello() {
    // The exact bytes OpenSSL answered in testdata (tls1*_answer_legacy.bin).
    assert_eq!(
        legacy_client_hello(Some("mx.example.test"), [0x42; 32]),
        include_bytes!("../../testdata/legacy_client_hello.bin")
    );
}

#[test]
fn test_no_sni_for_ip_literals_or_none() {
    for name in [None, Some("192.0.2.25"), Some("2001:db8::25")] {
        let h = parse(&legacy_client_hello(name, [0; 32]));
        assert_eq!(h.extension(0), None, "{name:?}");
    }
}

#[test]
fn test_padding_keeps_hello_out_of_256_to_511() {
    let mut padded = 0;
    for len in [1usize, 20, 40, 60, 120, 200, 240] {
        // Labels of at most 50 characters, `len` characters before ".example".
        let labels: Vec<String> = (0..len.div_ceil(51))
            .map(|i| "a".repeat((len - i * 51).min(50)))
            .collect();
        let name = format!("{}.example", labels.join("."));
        let record = legacy_client_hello(Some(&name), [0; 32]);
        let message_len = record.len() - 5;
        assert!(!(256..512).contains(&message_len), "{len}: {message_len}");
        let h = parse(&record);
        assert_eq!(h.server_name().as_deref(), Some(name.as_str()));
        if h.extension(21).is_some() {
            assert_eq!(message_len, 512, "{len}");
            padded += 1;
        }
    }
    assert!(padded >= 2, "names of 60+ characters need padding");
}

#[test]
fn test_describe_openssl_tls10_server() {
    let cfg = TlsProbeConfig::new(TlsLimits::default()).expect("config");
    let t0 = Instant::now();
    let mut p =
        LegacyProbe::new(&cfg, Some("mx.example.test"), [0x42; 32], t0, wall()).expect("probe");
    assert_eq!(
        p.outgoing(),
        legacy_client_hello(Some("mx.example.test"), [0x42; 32])
    );
    assert!(p.outgoing().is_empty(), "the hello goes out once");
    for chunk in TLS10_ANSWER.chunks(100) {
        assert!(!p.is_done());
        p.received(t0, chunk);
    }
    assert!(p.is_done());
    assert_eq!(p.poll_at(), None);
    let o = p.observations();
    assert_eq!(o.probe, ProbeKind::LegacyHello);
    let hello = o.server_hello.expect("server hello");
    assert_eq!(hello.version, "TLSv1.0");
    assert_eq!(hello.cipher, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA");
    assert_eq!(o.chain.len(), 1);
    assert_eq!(o.chain[0].san_dns, ["mx.example.test", "alt.example.test"]);
    assert_eq!(o.chain_source, Some(ChainSource::ClearText));
    assert_eq!(o.chain_valid, Some(false));
    // `openssl req -x509` marks its certificate as a CA (basicConstraints CA:TRUE).
    assert_eq!(o.chain_error.as_deref(), Some("CaUsedAsEndEntity"));
    assert_eq!(o.name_matches, Some(true));
    assert_eq!(o.sni.as_deref(), Some("mx.example.test"));
    assert_eq!(o.failure, None);
    assert_eq!(
        (o.version, o.cipher),
        (None, None),
        "no handshake was completed"
    );

    let mut p =
        LegacyProbe::new(&cfg, Some("other.example.test"), [0x42; 32], t0, wall()).expect("probe");
    p.received(t0, TLS12_ANSWER);
    let o = p.observations();
    assert_eq!(o.server_hello.expect("hello").version, "TLSv1.2");
    assert_eq!(o.name_matches, Some(false));
}

#[test]
fn test_alert_timeout_and_close_are_failures() {
    let cfg = TlsProbeConfig::new(TlsLimits::default()).expect("config");
    let t0 = Instant::now();
    let mut p = LegacyProbe::new(&cfg, None, [0; 32], t0, wall()).expect("probe");
    p.received(t0, &[21, 3, 1, 0, 2, 2, 40]);
    assert!(p.is_done());
    let f = p.observations().failure.expect("failure");
    assert_eq!(f.step, HandshakeStep::ClientHelloSent);
    assert_eq!(f.alert.as_deref(), Some("handshake_failure"));
    assert_eq!(f.alert_sent_by, Some(Peer::Server));

    let mut p = LegacyProbe::new(&cfg, None, [0; 32], t0, wall()).expect("probe");
    let deadline = p.poll_at().expect("timer");
    assert_eq!(deadline - t0, Duration::from_secs(20));
    p.on_timeout(deadline - Duration::from_millis(1));
    assert!(!p.is_done());
    p.on_timeout(deadline);
    assert!(p.is_done());
    assert!(p
        .observations()
        .failure
        .expect("failure")
        .error
        .contains("within"));

    let mut p = LegacyProbe::new(&cfg, None, [0; 32], t0, wall()).expect("probe");
    p.received(t0, &TLS10_ANSWER[..200]);
    p.transport_closed(t0, TransportEnd::Reset);
    let o = p.observations();
    let f = o.failure.expect("failure");
    assert_eq!(f.step, HandshakeStep::ServerHello);
    assert!(f.error.contains("reset"));
    assert_eq!(o.server_hello.expect("hello").version, "TLSv1.0");

    assert!(matches!(
        LegacyProbe::new(&cfg, Some("not a name"), [0; 32], t0, wall()),
        Err(TlsError::InvalidServerName(_))
    ));
}
