//! The TLS server models against real clients: ReconMap's own `reconmap_tls::TlsProbe` and
//! `LegacyProbe`, and a plain rustls client for TLS 1.2.
use super::client_hello::tests::body as hello_body;
use super::*;
use proptest::prelude::*;
use reconmap_tls::records::{content_type, handshake_type, RecordEvent, RecordReader};
use reconmap_tls::{
    HandshakeStep, LegacyProbe, Peer, TlsLimits, TlsProbe, TlsProbeConfig, TlsState,
};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

const NAME: &str = "mx.lab.example";

fn setup() -> TlsSetup {
    TlsSetup::load().expect("the embedded certificate and key load")
}

fn server(profile: TlsProfile) -> TlsServer {
    TlsServer::new(profile, &setup(), 7).expect("server")
}

fn probe() -> TlsProbe {
    let cfg = TlsProbeConfig::new(TlsLimits::default()).expect("probe config");
    TlsProbe::new(&cfg, Some(NAME), Instant::now(), SystemTime::now()).expect("probe")
}

/// Sends what the probe has to the server and hands its writes back; the server's answer.
fn exchange(probe: &mut TlsProbe, server: &mut TlsServer) -> TlsAnswer {
    let out = probe.outgoing();
    assert!(!out.is_empty(), "the probe has something to send");
    let answer = server.received(&out);
    for w in &answer.writes {
        probe.received(Instant::now(), w);
    }
    answer
}

/// (content type, record version) of each whole record in `bytes`.
fn records(bytes: &[u8]) -> Vec<(u8, u16)> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while let [typ, hi, lo, lh, ll, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*lh, *ll]));
        out.push((*typ, u16::from_be_bytes([*hi, *lo])));
        rest = tail.get(len..).expect("whole records");
    }
    out
}

/// The TLS 1.3 handshake up to the probe's Established; the server's flight answer.
fn handshake(probe: &mut TlsProbe, server: &mut TlsServer) -> TlsAnswer {
    let flight = exchange(probe, server);
    assert_eq!(
        probe.state(),
        TlsState::Established,
        "{:?}",
        probe.observations()
    );
    flight
}

#[test]
fn modern_completes_tls13_and_answers_quit_with_221_close_notify_and_fin() {
    let mut s = server(TlsProfile::Modern);
    let mut p = probe();
    let flight = handshake(&mut p, &mut s);
    assert_eq!(flight.writes.len(), 1, "the whole flight in one write");
    assert_eq!(flight.close, None);
    assert!(!s.is_established(), "not before the client's Finished");
    // The client's Finished alone: the server sends one session ticket (as Postfix).
    let ticket = exchange(&mut p, &mut s);
    assert!(s.is_established());
    assert_eq!(ticket.close, None);
    assert_eq!(ticket.writes.len(), 1);
    assert_eq!(records(&ticket.writes[0]), vec![(23, 0x0303)], "one ticket");
    // QUIT alone: 221, then close_notify (each its own write), then FIN.
    p.send_app(b"QUIT\r\n").expect("QUIT");
    let bye = exchange(&mut p, &mut s);
    assert_eq!(bye.writes.len(), 2, "221, then close_notify");
    assert_eq!(bye.close, Some(TlsClose::Fin), "nothing left unread");
    assert_eq!(p.take_app(), b"221 2.0.0 Bye\r\n");
    assert!(p.observations().close_notify_received);
    assert!(s.is_closed());
    let o = p.observations();
    assert_eq!(o.version.as_deref(), Some("TLSv1.3"));
    assert_eq!(
        o.chain.first().and_then(|c| c.subject.as_deref()),
        Some("CN=mx.lab.example")
    );
    assert_eq!(o.failure, None);
    // Closed for good: later bytes change nothing.
    assert_eq!(s.received(&[23, 3, 3, 0, 1, 0]), TlsAnswer::default());
}

#[test]
fn quit_with_close_notify_in_the_same_read_leaves_it_unread_an_abort() {
    // As the lab's Postfix: the client's Finished, QUIT and close_notify in one segment get
    // the ticket, the 221 and close_notify written, then a close with close_notify unread.
    let mut s = server(TlsProfile::Modern);
    let mut p = probe();
    handshake(&mut p, &mut s);
    p.send_app(b"QUIT\r\n").expect("QUIT");
    p.close();
    let answer = exchange(&mut p, &mut s);
    assert_eq!(answer.writes.len(), 3, "ticket, 221, close_notify");
    assert_eq!(answer.close, Some(TlsClose::Abort));
}

#[test]
fn smtp_inside_tls_is_answered_as_postfix_answers_it() {
    let mut s = server(TlsProfile::Modern);
    let mut p = probe();
    handshake(&mut p, &mut s);
    for (command, reply) in [
        (&b"EHLO probe.example\r\n"[..], "250-mx.lab.example\r\n"),
        (b"STARTTLS\r\n", "554 5.5.1 Error: TLS already active\r\n"),
        (b"FOO\r\n", "500 5.5.2 Error: command not recognized\r\n"),
    ] {
        p.send_app(command).expect("command");
        let answer = exchange(&mut p, &mut s);
        assert_eq!(answer.close, None);
        let text = String::from_utf8(p.take_app()).expect("text");
        assert!(text.starts_with(reply), "{text:?}");
        assert!(!text.contains("STARTTLS"), "no STARTTLS offered inside TLS");
    }
}

#[test]
fn close_notify_without_quit_closes_with_a_fin_and_no_close_notify() {
    // Postfix: "lost connection after STARTTLS", FIN, no close_notify of its own.
    let mut s = server(TlsProfile::Modern);
    let mut p = probe();
    handshake(&mut p, &mut s);
    exchange(&mut p, &mut s); // Finished -> ticket
    p.close();
    let answer = exchange(&mut p, &mut s);
    assert_eq!(answer.writes, Vec::<Vec<u8>>::new());
    assert_eq!(answer.close, Some(TlsClose::Fin));
}

#[test]
fn bytes_that_are_not_tls_close_without_an_alert() {
    // OpenSSL: "wrong version number", no alert; Postfix closes. It read the 5 bytes of a
    // header: `QUIT\r` got a FIN, `QUIT\r\n` a RST (one byte unread).
    for profile in [
        TlsProfile::Modern,
        TlsProfile::Tls10Only,
        TlsProfile::CbcOnly,
    ] {
        for (line, close) in [
            (&b"QUIT\r"[..], TlsClose::Fin),
            (b"QUIT\r\n", TlsClose::Abort),
        ] {
            let mut s = server(profile);
            let answer = s.received(line);
            assert_eq!(answer.writes, Vec::<Vec<u8>>::new(), "{profile:?}");
            assert_eq!(answer.close, Some(close), "{profile:?} {line:?}");
            assert!(s.is_closed());
        }
    }
}

#[test]
fn the_flight_does_not_depend_on_how_the_hello_is_split() {
    let mut s = server(TlsProfile::Modern);
    let hello = probe().outgoing();
    let (last, head) = hello.split_last().expect("bytes");
    for b in head {
        assert_eq!(s.received(&[*b]), TlsAnswer::default());
    }
    let answer = s.received(&[*last]);
    assert_eq!(answer.writes.len(), 1);
    let kinds: Vec<u8> = records(&answer.writes[0]).iter().map(|r| r.0).collect();
    // ServerHello, ChangeCipherSpec (compatibility mode), then encrypted records.
    assert_eq!(kinds.get(..2), Some(&[22, 20][..]), "{kinds:?}");
    assert!(kinds[2..].iter().all(|&k| k == 23), "{kinds:?}");
}

#[test]
fn an_oversized_record_is_refused_and_closes() {
    let mut s = server(TlsProfile::Modern);
    let mut bytes = vec![22, 3, 1, 0xff, 0xff];
    bytes.extend(std::iter::repeat_n(0, 3000));
    let answer = s.received(&bytes);
    assert!(answer.close.is_some(), "{answer:?}");
    assert!(s.is_closed());
}

#[test]
fn tls10_only_refuses_a_modern_hello_with_protocol_version_then_fin() {
    let mut s = server(TlsProfile::Tls10Only);
    let mut p = probe();
    let answer = exchange(&mut p, &mut s);
    // Byte for byte what OpenSSL 3.0.19 restricted to TLS 1.0 answers (README.md).
    assert_eq!(
        answer.writes,
        vec![vec![0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46]]
    );
    assert_eq!(answer.close, Some(TlsClose::Fin));
    assert_eq!(p.state(), TlsState::Failed);
    let f = p.observations().failure.expect("failure");
    assert_eq!(f.alert.as_deref(), Some("protocol_version"));
    assert_eq!(f.alert_sent_by, Some(Peer::Server));
    assert_eq!(f.step, HandshakeStep::ClientHelloSent);
}

#[test]
fn cbc_only_refuses_a_modern_hello_with_handshake_failure_then_fin() {
    let mut s = server(TlsProfile::CbcOnly);
    let mut p = probe();
    let answer = exchange(&mut p, &mut s);
    assert_eq!(
        answer.writes,
        vec![vec![0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28]]
    );
    assert_eq!(answer.close, Some(TlsClose::Fin));
    let f = p.observations().failure.expect("failure");
    assert_eq!(f.alert.as_deref(), Some("handshake_failure"));
}

/// What `LegacyProbe` makes of a hand-built profile's answer to its legacy ClientHello.
fn legacy_answer(profile: TlsProfile) -> (TlsAnswer, reconmap_tls::TlsObservations) {
    let cfg = TlsProbeConfig::new(TlsLimits::default()).expect("probe config");
    let mut p = LegacyProbe::new(
        &cfg,
        Some(NAME),
        [0x42; 32],
        Instant::now(),
        SystemTime::now(),
    )
    .expect("legacy probe");
    let mut s = server(profile);
    let answer = s.received(&p.outgoing());
    for w in &answer.writes {
        p.received(Instant::now(), w);
    }
    (answer, p.observations())
}

#[test]
fn tls10_only_answers_a_legacy_hello_with_hello_certificate_and_done() {
    let (answer, o) = legacy_answer(TlsProfile::Tls10Only);
    assert_eq!(answer.close, None, "it waits for the client's key exchange");
    assert_eq!(answer.writes.len(), 1, "one flight");
    assert_eq!(records(&answer.writes[0]), vec![(22, 0x0301); 3]);
    let mut reader = RecordReader::default();
    let types: Vec<u8> = reader
        .feed(&answer.writes[0])
        .into_iter()
        .filter_map(|e| match e {
            RecordEvent::Handshake(m) => Some(m.msg_type),
            _ => None,
        })
        .collect();
    assert_eq!(
        types,
        vec![
            handshake_type::SERVER_HELLO,
            handshake_type::CERTIFICATE,
            handshake_type::SERVER_HELLO_DONE
        ]
    );
    let hello = o.server_hello.expect("server hello");
    assert_eq!(hello.version, "TLSv1.0");
    assert_eq!(hello.cipher, "TLS_RSA_WITH_AES_128_CBC_SHA");
    assert!(
        hello.extensions.contains(&"renegotiation_info".to_string()),
        "{hello:?}"
    );
    let leaf = o.chain.first().expect("certificate");
    assert_eq!(leaf.subject.as_deref(), Some("CN=mx.lab.example"));
    assert_eq!(leaf.key_type.as_deref(), Some("RSA"));
}

#[test]
fn cbc_only_answers_a_legacy_hello_in_tls12_with_its_first_cbc_suite() {
    let (answer, o) = legacy_answer(TlsProfile::CbcOnly);
    assert_eq!(records(&answer.writes[0]), vec![(22, 0x0303); 3]);
    let hello = o.server_hello.expect("server hello");
    assert_eq!(hello.version, "TLSv1.2");
    // The legacy hello lists RSA-AES-CBC-SHA256 first of the server's suites.
    assert_eq!(hello.cipher, "TLS_RSA_WITH_AES_128_CBC_SHA256");
}

/// A ClientHello record around `body`.
fn hello_record(body: &[u8]) -> Vec<u8> {
    let mut hs = vec![handshake_type::CLIENT_HELLO, 0];
    hs.extend_from_slice(&u16::try_from(body.len()).expect("len").to_be_bytes());
    hs.extend_from_slice(body);
    let mut r = vec![content_type::HANDSHAKE, 3, 1];
    r.extend_from_slice(&u16::try_from(hs.len()).expect("len").to_be_bytes());
    r.extend(hs);
    r
}

#[test]
fn the_flight_echoes_extended_master_secret_and_renegotiation_info_when_offered() {
    let plain = hello_record(&hello_body(0x0303, &[0x002f], &[]));
    let asked = hello_record(&hello_body(
        0x0303,
        &[0x002f, 0x00ff],
        &[(client_hello::EXTENDED_MASTER_SECRET, vec![])],
    ));
    let mut flights = Vec::new();
    for hello in [plain, asked] {
        let mut s = server(TlsProfile::CbcOnly);
        let answer = s.received(&hello);
        let mut reader = RecordReader::default();
        let sh = reader
            .feed(&answer.writes[0])
            .into_iter()
            .find_map(|e| match e {
                RecordEvent::Handshake(m) if m.msg_type == handshake_type::SERVER_HELLO => {
                    Some(m.body)
                }
                _ => None,
            })
            .expect("server hello");
        flights.push(sh);
    }
    // Version, random, session id (1 + 32), suite, compression: no extension block at all.
    assert_eq!(flights[0].len(), 2 + 32 + 33 + 2 + 1);
    let exts = &flights[1][2 + 32 + 33 + 2 + 1..];
    assert_eq!(exts, [0, 9, 0xff, 0x01, 0, 1, 0, 0x00, 0x17, 0, 0]);
}

#[test]
fn after_the_flight_a_client_alert_closes_and_anything_else_gets_internal_error() {
    let hello = hello_record(&hello_body(0x0301, &[0x0035], &[]));
    let mut s = server(TlsProfile::Tls10Only);
    assert_eq!(s.received(&hello).close, None);
    let answer = s.received(&[21, 3, 1, 0, 2, 2, 70]);
    assert_eq!(answer, TlsAnswer::default().closing(TlsClose::Fin));
    let mut s = server(TlsProfile::Tls10Only);
    s.received(&hello);
    // A ClientKeyExchange: the model goes no further.
    let answer = s.received(&[22, 3, 1, 0, 6, 16, 0, 0, 2, 0, 0]);
    assert_eq!(
        answer.writes,
        vec![fatal_alert(0x0301, alert::INTERNAL_ERROR)]
    );
    assert_eq!(answer.close, Some(TlsClose::Fin));
}

#[test]
fn hand_built_profiles_refuse_what_they_cannot_answer() {
    // No suite in common: handshake_failure in a record of the server's version.
    let mut s = server(TlsProfile::Tls10Only);
    let answer = s.received(&hello_record(&hello_body(0x0303, &[0xc02f], &[])));
    assert_eq!(
        answer.writes,
        vec![vec![0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x28]]
    );
    // A hello that does not parse: decode_error.
    let mut s = server(TlsProfile::CbcOnly);
    let answer = s.received(&hello_record(&[3, 3, 0]));
    assert_eq!(
        answer.writes,
        vec![fatal_alert(0x0303, alert::DECODE_ERROR)]
    );
    // Something else before the hello: unexpected_message.
    let mut s = server(TlsProfile::CbcOnly);
    let answer = s.received(&[20, 3, 3, 0, 1, 1]);
    assert_eq!(
        answer.writes,
        vec![fatal_alert(0x0303, alert::UNEXPECTED_MESSAGE)]
    );
    assert_eq!(answer.close, Some(TlsClose::Fin));
}

#[test]
fn a_legacy_hello_in_pieces_gets_the_same_flight() {
    let hello = reconmap_tls::legacy_client_hello(Some(NAME), [1; 32]);
    let mut whole = server(TlsProfile::Tls10Only);
    let expected = whole.received(&hello);
    let mut s = server(TlsProfile::Tls10Only);
    let mut got = TlsAnswer::default();
    for chunk in hello.chunks(7) {
        let a = s.received(chunk);
        got.writes.extend(a.writes);
        got.close = got.close.or(a.close);
    }
    assert_eq!(got, expected, "same seed, same bytes");
}

mod tls12 {
    //! A plain rustls client limited to TLS 1.2 (certificate accepted unchecked: the
    //! signatures are still verified).
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{DigitallySignedStruct, SignatureScheme};
    use std::sync::Arc;

    #[derive(Debug)]
    pub struct AnyCertificate(pub Arc<CryptoProvider>);

    impl ServerCertVerifier for AnyCertificate {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls12_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls13_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
}

#[test]
fn modern_also_completes_tls12() {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS12])
        .expect("versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(tls12::AnyCertificate(provider)))
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(NAME).expect("name");
    let mut c = rustls::ClientConnection::new(Arc::new(config), name).expect("client");
    let mut s = server(TlsProfile::Modern);
    let mut rounds = 0;
    while c.is_handshaking() {
        rounds += 1;
        assert!(rounds < 5, "the handshake does not finish");
        let mut out = Vec::new();
        while c.wants_write() {
            c.write_tls(&mut out).expect("write");
        }
        let answer = s.received(&out);
        assert_eq!(answer.close, None, "{answer:?}");
        for w in answer.writes {
            c.read_tls(&mut w.as_slice()).expect("read");
            c.process_new_packets()
                .expect("the client accepts the server's records");
        }
    }
    assert_eq!(c.protocol_version(), Some(rustls::ProtocolVersion::TLSv1_2));
    assert!(s.is_established());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Whatever the client sends, in whatever split: no panic, a close is final, and the
    /// server never writes more than a bounded amount per input.
    #[test]
    fn any_bytes_in_any_split_are_survived(
        prefix_hello in any::<bool>(),
        data in proptest::collection::vec(any::<u8>(), 0..4096),
        cuts in proptest::collection::vec(1usize..700, 1..12),
        which in 0usize..3,
    ) {
        let profile = [TlsProfile::Modern, TlsProfile::Tls10Only, TlsProfile::CbcOnly][which];
        let mut s = server(profile);
        let mut input = if prefix_hello {
            reconmap_tls::legacy_client_hello(Some(NAME), [3; 32])
        } else {
            Vec::new()
        };
        input.extend(data);
        let mut rest = input.as_slice();
        let mut closed = false;
        for cut in cuts.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (chunk, tail) = rest.split_at((*cut).min(rest.len()));
            rest = tail;
            let answer = s.received(chunk);
            prop_assert!(answer.writes.iter().map(Vec::len).sum::<usize>() < 32 * 1024);
            let closes = answer.close.is_some();
            if closed {
                prop_assert_eq!(answer, TlsAnswer::default());
            }
            closed |= closes;
            prop_assert_eq!(closed, s.is_closed());
        }
    }
}
