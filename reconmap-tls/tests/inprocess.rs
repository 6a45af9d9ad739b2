//! TlsProbe against an in-process rustls server (self-signed rcgen certificate), driven
//! through byte buffers with injected time: TLS 1.3, TLS 1.2, the QUIT/221/close_notify end,
//! and failures (bad handshake signatures, alerts, text, timeouts, resets, replayed bytes).
use reconmap_tls::{
    ChainSource, HandshakeStep, Peer, TlsLimits, TlsObservations, TlsProbe, TlsProbeConfig,
    TlsState, TransportEnd,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ServerConfig, ServerConnection, SupportedProtocolVersion};
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const NAME: &str = "mx.example.test";
const RTT: Duration = Duration::from_millis(10);

fn wall() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

struct Cert {
    der: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
}

fn self_signed() -> Cert {
    let ck = rcgen::generate_simple_self_signed(vec![NAME.to_owned(), "192.0.2.25".to_owned()])
        .expect("rcgen");
    Cert {
        der: ck.cert.der().clone(),
        key: PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into()),
    }
}

fn server_config(cert: &Cert, versions: &[&'static SupportedProtocolVersion]) -> Arc<ServerConfig> {
    let cfg = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert.der.clone()], cert.key.clone_key())
        .expect("server config");
    Arc::new(cfg)
}

/// Probe and server joined by byte buffers; every server flight arrives one RTT later.
struct Pair {
    probe: TlsProbe,
    server: ServerConnection,
    now: Instant,
    split: usize,
}

impl Pair {
    fn new(server: Arc<ServerConfig>, name: Option<&str>, split: usize) -> Self {
        let cfg = TlsProbeConfig::new(TlsLimits::default()).expect("probe config");
        let t0 = Instant::now();
        Pair {
            probe: TlsProbe::new(&cfg, name, t0, wall()).expect("probe"),
            server: ServerConnection::new(server).expect("server"),
            now: t0,
            split,
        }
    }

    /// Client bytes to the server; the server's error, if any.
    fn deliver_to_server(&mut self) -> Result<(), rustls::Error> {
        let out = self.probe.outgoing();
        let mut rest = &out[..];
        while !rest.is_empty() {
            self.server.read_tls(&mut rest).expect("server read_tls");
            self.server.process_new_packets()?;
        }
        Ok(())
    }

    fn server_flight(&mut self) -> Vec<u8> {
        let mut buf = Vec::new();
        while self.server.wants_write() {
            self.server.write_tls(&mut buf).expect("server write_tls");
        }
        buf
    }

    fn deliver_to_probe(&mut self, bytes: &[u8]) {
        self.now += RTT;
        for chunk in bytes.chunks(self.split) {
            self.probe.received(self.now, chunk);
        }
    }

    fn handshake(&mut self) {
        for _ in 0..5 {
            self.deliver_to_server().expect("server accepts");
            let flight = self.server_flight();
            self.deliver_to_probe(&flight);
            if self.probe.state() != TlsState::Handshaking {
                break;
            }
        }
        self.deliver_to_server()
            .expect("server accepts the last flight");
    }
}

fn sha256_hex(der: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn server_view(server: &ServerConnection) -> (String, String) {
    let version = match server.protocol_version().expect("server version") {
        rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".to_owned(),
        rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".to_owned(),
        other => format!("{other:?}"),
    };
    let cipher = server
        .negotiated_cipher_suite()
        .expect("server suite")
        .suite()
        .as_str()
        .expect("suite name")
        .to_owned();
    (version, cipher)
}

fn check_common(o: &TlsObservations, cert: &Cert) {
    assert_eq!(o.failure, None, "{o:?}");
    assert_eq!(o.chain.len(), 1);
    assert_eq!(o.chain[0].sha256, sha256_hex(&cert.der));
    assert_eq!(o.chain[0].san_dns, [NAME]);
    assert_eq!(o.chain[0].san_ip, ["192.0.2.25"]);
    assert_eq!(o.chain[0].key_type.as_deref(), Some("EC"));
    assert_eq!(o.chain[0].key_bits, Some(256));
    assert_eq!(o.chain_source, Some(ChainSource::Handshake));
    assert_eq!(o.chain_valid, Some(false), "self-signed");
    assert_eq!(o.chain_error.as_deref(), Some("UnknownIssuer"));
    assert_eq!(o.root_store.as_deref(), Some(reconmap_tls::ROOT_STORE));
}

#[test]
fn test_tls13_handshake_quit_and_close() {
    let cert = self_signed();
    for split in [1, 3, 100, 100_000] {
        let mut p = Pair::new(
            server_config(&cert, &[&rustls::version::TLS13]),
            Some(NAME),
            split,
        );
        p.handshake();
        assert_eq!(p.probe.state(), TlsState::Established, "split {split}");
        let o = p.probe.observations();
        check_common(&o, &cert);
        let (version, cipher) = server_view(&p.server);
        assert_eq!(o.version.as_deref(), Some(version.as_str()));
        assert_eq!(version, "TLSv1.3");
        assert_eq!(o.cipher.as_deref(), Some(cipher.as_str()));
        assert_eq!(o.handshake_ms, Some(10), "one round trip");
        assert_eq!(o.sni.as_deref(), Some(NAME));
        assert_eq!(p.server.server_name(), Some(NAME));
        assert_eq!(o.name_matches, Some(true));
        let hello = o.server_hello.expect("server hello");
        assert_eq!(
            (hello.version.as_str(), hello.legacy_version.as_str()),
            ("TLSv1.3", "TLSv1.2")
        );
        assert_eq!(hello.cipher, cipher);
        assert_eq!(p.probe.poll_at(), None);

        // QUIT over TLS, the 221 back, close_notify both ways.
        p.probe.send_app(b"QUIT\r\n").expect("send");
        p.probe.close();
        assert_eq!(p.probe.state(), TlsState::Closed);
        p.deliver_to_server().expect("server reads");
        let mut got = Vec::new();
        let _ = p.server.reader().read_to_end(&mut got);
        assert_eq!(got, b"QUIT\r\n");
        assert!(p
            .server
            .process_new_packets()
            .expect("state")
            .peer_has_closed());
        p.server
            .writer()
            .write_all(b"221 2.0.0 Bye\r\n")
            .expect("write");
        p.server.send_close_notify();
        let flight = p.server_flight();
        p.deliver_to_probe(&flight);
        assert_eq!(p.probe.take_app(), b"221 2.0.0 Bye\r\n");
        assert!(p.probe.take_app().is_empty());
        assert!(p.probe.observations().close_notify_received);
        assert_eq!(p.probe.state(), TlsState::Closed);
    }
}

#[test]
fn test_tls12_only_server() {
    let cert = self_signed();
    let mut p = Pair::new(
        server_config(&cert, &[&rustls::version::TLS12]),
        Some("other.example.test"),
        7,
    );
    p.handshake();
    assert_eq!(p.probe.state(), TlsState::Established);
    let o = p.probe.observations();
    check_common(&o, &cert);
    let (version, cipher) = server_view(&p.server);
    assert_eq!(version, "TLSv1.2");
    assert_eq!(o.version.as_deref(), Some("TLSv1.2"));
    assert_eq!(o.cipher.as_deref(), Some(cipher.as_str()));
    assert!(cipher.starts_with("TLS_ECDHE_ECDSA_WITH_"), "{cipher}");
    assert_eq!(o.handshake_ms, Some(20), "two round trips");
    assert_eq!(o.name_matches, Some(false));
    let hello = o.server_hello.clone().expect("hello");
    assert_eq!(hello.version, "TLSv1.2");
    assert_eq!(hello.cipher, cipher);
    let json = serde_json::to_value(&o).expect("json");
    for key in [
        "version",
        "cipher",
        "handshake_ms",
        "sni",
        "chain",
        "chain_valid",
        "name_matches",
        "server_hello",
        "failure",
    ] {
        assert!(json.get(key).is_some(), "{key} in {json}");
    }
    assert_eq!(json["chain"][0]["key_type"], "EC");
    assert_eq!(json["server_hello"]["version"], "TLSv1.2");
}

#[test]
fn test_ip_literal_and_no_name_send_no_sni() {
    let cert = self_signed();
    let cfg = server_config(&cert, &[&rustls::version::TLS13]);
    let mut p = Pair::new(cfg.clone(), Some("192.0.2.25"), 1000);
    p.handshake();
    let o = p.probe.observations();
    assert_eq!((o.sni, p.server.server_name()), (None, None));
    assert_eq!(o.name_matches, Some(true), "the certificate names the IP");
    let mut p = Pair::new(cfg, None, 1000);
    p.handshake();
    let o = p.probe.observations();
    assert_eq!((o.sni, p.server.server_name()), (None, None));
    assert_eq!(o.name_matches, None);
    assert_eq!(
        o.chain_error.as_deref(),
        Some("UnknownIssuer"),
        "chain only"
    );
}

/// Flips the last byte of handshake message `msg_type` (messages do not span records here).
fn corrupt_message(flight: &mut [u8], msg_type: u8) {
    let mut at = 0;
    while at + 5 <= flight.len() {
        let len = usize::from(u16::from_be_bytes([flight[at + 3], flight[at + 4]]));
        let mut m = at + 5;
        while flight[at] == 22 && m + 4 <= at + 5 + len {
            let mlen = usize::from(flight[m + 1]) << 16
                | usize::from(flight[m + 2]) << 8
                | usize::from(flight[m + 3]);
            if flight[m] == msg_type {
                flight[m + 4 + mlen - 1] ^= 0x55;
                return;
            }
            m += 4 + mlen;
        }
        at += 5 + len;
    }
    panic!("no message {msg_type}");
}

#[test]
fn test_tls12_bad_server_key_exchange_signature_fails_at_key_exchange() {
    let cert = self_signed();
    let mut p = Pair::new(
        server_config(&cert, &[&rustls::version::TLS12]),
        Some(NAME),
        50,
    );
    p.deliver_to_server().expect("hello");
    let mut flight = p.server_flight();
    corrupt_message(&mut flight, 12);
    p.deliver_to_probe(&flight);
    assert_eq!(p.probe.state(), TlsState::Failed);
    let alert = p.probe.outgoing();
    assert_eq!(
        alert,
        [21, 3, 3, 0, 2, 2, 51],
        "a clear-text decrypt_error alert"
    );
    let o = p.probe.observations();
    let f = o.failure.clone().expect("failure");
    assert_eq!(f.step, HandshakeStep::KeyExchange);
    assert_eq!(f.alert.as_deref(), Some("decrypt_error"));
    assert_eq!(f.alert_sent_by, Some(Peer::Probe));
    assert!(f.error.to_lowercase().contains("signature"), "{}", f.error);
    assert_eq!(o.chain.len(), 1, "the chain is kept");
    assert_eq!(o.version.as_deref(), Some("TLSv1.2"));
    assert_eq!(o.handshake_ms, None);
}

#[test]
fn test_tls12_bad_server_hello_in_a_packed_flight_fails_at_server_hello() {
    // rustls packs ServerHello..ServerHelloDone into one record; the step must still be the
    // message rustls failed on, not the last one in the record.
    let cert = self_signed();
    let mut p = Pair::new(
        server_config(&cert, &[&rustls::version::TLS12]),
        Some(NAME),
        1000,
    );
    p.deliver_to_server().expect("hello");
    let mut flight = p.server_flight();
    corrupt_message(&mut flight, 2);
    p.deliver_to_probe(&flight);
    assert_eq!(p.probe.state(), TlsState::Failed);
    let o = p.probe.observations();
    let f = o.failure.expect("failure");
    assert_eq!(f.step, HandshakeStep::ServerHello, "{f:?}");
    assert_eq!(
        o.chain_source,
        Some(ChainSource::ClearText),
        "chain from the raw records"
    );
    assert_eq!(o.chain[0].sha256, sha256_hex(&cert.der));
}

/// A server whose CertificateVerify is made with another key than the certificate's.
#[derive(Debug)]
struct WrongKey(Arc<CertifiedKey>);

impl ResolvesServerCert for WrongKey {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

#[test]
fn test_tls13_bad_certificate_verify_fails_at_key_exchange() {
    let cert = self_signed();
    let other = rcgen::KeyPair::generate().expect("key");
    let signer = provider()
        .key_provider
        .load_private_key(PrivateKeyDer::Pkcs8(other.serialize_der().into()))
        .expect("signer");
    let ck = Arc::new(CertifiedKey::new(vec![cert.der.clone()], signer));
    let cfg = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("versions")
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(WrongKey(ck)));
    let mut p = Pair::new(Arc::new(cfg), Some(NAME), 1000);
    p.deliver_to_server().expect("hello");
    let flight = p.server_flight();
    p.deliver_to_probe(&flight);
    assert_eq!(p.probe.state(), TlsState::Failed);
    let o = p.probe.observations();
    let f = o.failure.clone().expect("failure");
    assert_eq!(f.step, HandshakeStep::KeyExchange);
    assert!(f.error.to_lowercase().contains("signature"), "{}", f.error);
    assert_eq!(f.alert, None, "our alert is encrypted in TLS 1.3");
    assert_eq!(o.chain.len(), 1, "the verifier kept the chain");
    // The server decrypts the alert we sent: independent truth for what was sent.
    let err = p.deliver_to_server().expect_err("server gets our alert");
    assert_eq!(
        err,
        rustls::Error::AlertReceived(rustls::AlertDescription::DecryptError)
    );
}

#[test]
fn test_server_alert_text_timeout_and_reset() {
    let cfg = TlsProbeConfig::new(TlsLimits::default()).expect("config");
    let t0 = Instant::now();
    let new = || TlsProbe::new(&cfg, Some(NAME), t0, wall()).expect("probe");

    let mut p = new();
    p.outgoing();
    p.received(t0, &[21, 3, 3, 0, 2, 2, 40]);
    let f = p.observations().failure.expect("failure");
    assert_eq!(f.step, HandshakeStep::ClientHelloSent);
    assert_eq!(f.alert.as_deref(), Some("handshake_failure"));
    assert_eq!(f.alert_sent_by, Some(Peer::Server));

    let mut p = new();
    p.outgoing();
    p.received(t0, b"454 4.7.0 TLS not available due to local problem\r\n");
    let f = p.observations().failure.expect("failure");
    assert!(
        f.error.contains("454 4.7.0 TLS not available"),
        "{}",
        f.error
    );
    assert_eq!(f.step, HandshakeStep::ClientHelloSent);

    let mut p = new();
    p.outgoing();
    let deadline = p.poll_at().expect("timer");
    assert_eq!(deadline, t0 + Duration::from_secs(20));
    p.on_timeout(deadline - Duration::from_millis(1));
    assert_eq!(p.state(), TlsState::Handshaking);
    p.on_timeout(deadline);
    assert_eq!(p.state(), TlsState::Failed);
    let f = p.observations().failure.expect("failure");
    assert_eq!(f.step, HandshakeStep::ClientHelloSent);
    assert!(
        f.error.contains("no complete handshake within 20s"),
        "{}",
        f.error
    );

    let mut p = new();
    p.outgoing();
    p.transport_closed(t0, TransportEnd::Reset);
    let f = p.observations().failure.expect("failure");
    assert!(f.error.contains("reset"));
    assert!(p.send_app(b"QUIT\r\n").is_err());
}

#[test]
fn test_replayed_openssl_bytes() {
    let cfg = TlsProbeConfig::new(TlsLimits::default()).expect("config");
    let t0 = Instant::now();
    let wall = UNIX_EPOCH + Duration::from_secs(1_830_000_000);

    // A TLS 1.0-only OpenSSL answers our hello with a protocol_version alert.
    let mut p = TlsProbe::new(&cfg, Some(NAME), t0, wall).expect("probe");
    p.outgoing();
    p.received(t0, include_bytes!("../testdata/tls10_answer_rustls.bin"));
    let f = p.observations().failure.expect("failure");
    assert_eq!(
        (f.step, f.alert.as_deref(), f.alert_sent_by),
        (
            HandshakeStep::ClientHelloSent,
            Some("protocol_version"),
            Some(Peer::Server)
        )
    );

    // Its answer to a legacy hello, fed to the modern probe: rustls refuses TLS 1.0 at the
    // ServerHello, and the clear-text rest still yields the chain.
    let mut p = TlsProbe::new(&cfg, Some(NAME), t0, wall).expect("probe");
    p.outgoing();
    p.received(t0, include_bytes!("../testdata/tls10_answer_legacy.bin"));
    assert_eq!(
        p.outgoing(),
        [21, 3, 3, 0, 2, 2, 70],
        "protocol_version alert"
    );
    let o = p.observations();
    let f = o.failure.expect("failure");
    assert_eq!(
        (f.step, f.alert.as_deref(), f.alert_sent_by),
        (
            HandshakeStep::ServerHello,
            Some("protocol_version"),
            Some(Peer::Probe)
        )
    );
    assert_eq!(
        o.server_hello.as_ref().map(|h| h.version.as_str()),
        Some("TLSv1.0")
    );
    assert_eq!(o.chain_source, Some(ChainSource::ClearText));
    assert_eq!(
        o.chain[0].sha256,
        "10eaaff6e6befc889797e52af24a008f54183fce9a7a32d65129b67197d1fe4a"
    );
    assert_eq!(o.name_matches, Some(true));

    // OpenSSL's TLS 1.2 flight for another ClientHello: its ServerKeyExchange signature does not
    // cover our random, so the real signature check fails.
    let mut p = TlsProbe::new(&cfg, Some(NAME), t0, wall).expect("probe");
    p.outgoing();
    p.received(t0, include_bytes!("../testdata/tls12_answer_rustls.bin"));
    let o = p.observations();
    let f = o.failure.expect("failure");
    assert_eq!(f.step, HandshakeStep::KeyExchange, "{f:?}");
    assert_eq!(p.outgoing(), [21, 3, 3, 0, 2, 2, 51]);
    assert_eq!(
        p.observations().failure.expect("f").alert.as_deref(),
        Some("decrypt_error")
    );
    assert_eq!(o.chain_source, Some(ChainSource::Handshake));
}

#[test]
fn test_byte_limit() {
    let limits = TlsLimits {
        max_server_bytes: 100,
        ..TlsLimits::default()
    };
    let cfg = TlsProbeConfig::new(limits).expect("config");
    let t0 = Instant::now();
    let mut p = TlsProbe::new(&cfg, Some(NAME), t0, wall()).expect("probe");
    p.outgoing();
    p.received(
        t0,
        &include_bytes!("../testdata/tls12_answer_rustls.bin")[..90],
    );
    assert_eq!(p.state(), TlsState::Handshaking);
    p.received(
        t0,
        &include_bytes!("../testdata/tls12_answer_rustls.bin")[90..200],
    );
    assert_eq!(p.state(), TlsState::Failed);
    assert!(p
        .observations()
        .failure
        .expect("f")
        .error
        .contains("more than 100 bytes"));
}
