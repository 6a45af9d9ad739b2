//! `tls1.0-only` and `cbc-only`: servers whose answer to the ClientHello is all a modern
//! client ever sees, built by hand.
//!
//! What OpenSSL 3.0.19 (Postfix 3.7.11 and `s_server`) was seen doing, and what this copies:
//! - A ClientHello that does not offer the server's version (a modern one lists only TLS 1.3
//!   and 1.2 in `supported_versions`): the alert `15 03 03 00 02 02 46` (fatal
//!   protocol_version), then FIN.
//! - A version in common but no suite in common: fatal handshake_failure in a record of the
//!   server's version (`15 03 03 00 02 02 28` for `cbc-only`), then FIN.
//! - Both in common: ServerHello (32-byte session id, renegotiation_info echoed), Certificate,
//!   ServerHelloDone, each in its own record, in one write. OpenSSL picks the client's first
//!   suite it has, and it has ECDHE suites too, so it adds a ServerKeyExchange; this model
//!   only has RSA key exchange (no ServerKeyExchange to sign: ring cannot make TLS 1.0's
//!   MD5+SHA1 RSA signature). It also echoes extended_master_secret when offered (RFC 7627;
//!   not seen: the hellos tried did not offer it with TLS 1.0).
//! - After that flight the model goes no further: a client alert closes (FIN), anything else
//!   gets internal_error and FIN. A client FIN is answered by FIN (Postfix sends no alert).
//! - Bytes that are not TLS: no alert ("wrong version number"), close.
//!
//! Records are read one at a time ([`Incoming`]): a close with client bytes unread is an
//! abort.
use super::client_hello::{ClientHelloView, EXTENDED_MASTER_SECRET, RENEGOTIATION_INFO};
use super::incoming::{Incoming, Next};
use super::{alert, fatal_alert, TlsAnswer};
use rand::{RngCore as _, SeedableRng as _};
use reconmap_tls::records::{handshake_type, RecordEvent, RecordReader};
use rustls::pki_types::CertificateDer;

/// What a hand-built server speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct HelloOnlyProfile {
    /// The one protocol version it accepts (also its records' version).
    pub version: u16,
    /// Its cipher suites (RSA key exchange only: no ServerKeyExchange).
    pub suites: &'static [u16],
}

/// TLS 1.0 only: TLS_RSA_WITH_AES_{128,256}_CBC_SHA.
pub(super) const TLS10_ONLY: HelloOnlyProfile = HelloOnlyProfile {
    version: 0x0301,
    suites: &[0x002f, 0x0035],
};

/// TLS 1.2 with CBC suites only: TLS_RSA_WITH_AES_{128,256}_CBC_SHA{,256}.
pub(super) const CBC_ONLY: HelloOnlyProfile = HelloOnlyProfile {
    version: 0x0303,
    suites: &[0x002f, 0x0035, 0x003c, 0x003d],
};

/// The record version of an alert sent before a version is agreed (seen: 0x0303).
const PRE_VERSION_ALERT_RECORD: u16 = 0x0303;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    AwaitHello,
    FlightSent,
    Closed,
}

#[derive(Debug)]
pub(super) struct HelloOnlyServer {
    profile: HelloOnlyProfile,
    cert: CertificateDer<'static>,
    incoming: Incoming,
    /// Handshake messages, reassembled (bounded by its limits).
    reader: RecordReader,
    state: State,
    random: [u8; 32],
    session_id: [u8; 32],
}

impl HelloOnlyServer {
    pub(super) fn new(
        profile: HelloOnlyProfile,
        cert: &CertificateDer<'static>,
        seed: u64,
    ) -> Self {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut random = [0; 32];
        let mut session_id = [0; 32];
        rng.fill_bytes(&mut random);
        rng.fill_bytes(&mut session_id);
        Self {
            profile,
            cert: cert.clone(),
            incoming: Incoming::default(),
            reader: RecordReader::default(),
            state: State::AwaitHello,
            random,
            session_id,
        }
    }

    pub(super) fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    pub(super) fn received(&mut self, data: &[u8]) -> TlsAnswer {
        let mut answer = TlsAnswer::default();
        if self.state == State::Closed {
            return answer;
        }
        self.incoming.push(data);
        loop {
            let closing = match self.incoming.next() {
                Next::Incomplete => return answer,
                Next::NotTls => true,
                Next::TooLong(_) => {
                    let v = self.record_version();
                    answer.write(fatal_alert(v, alert::RECORD_OVERFLOW));
                    true
                }
                Next::Record(record) => self.read_record(&record, &mut answer),
            };
            if closing {
                self.state = State::Closed;
                return answer.closing(self.incoming.close());
            }
        }
    }

    /// The version of the server's records: its own once it answered a hello.
    fn record_version(&self) -> u16 {
        match self.state {
            State::AwaitHello => PRE_VERSION_ALERT_RECORD,
            State::FlightSent | State::Closed => self.profile.version,
        }
    }

    /// Acts on one record; whether the server then closes.
    fn read_record(&mut self, record: &[u8], answer: &mut TlsAnswer) -> bool {
        for event in self.reader.feed(record) {
            let closing = match (self.state, event) {
                (_, RecordEvent::Alert(_) | RecordEvent::Invalid(_)) => true,
                (State::AwaitHello, RecordEvent::Handshake(m))
                    if m.msg_type == handshake_type::CLIENT_HELLO =>
                {
                    self.answer_hello(&m.body, answer)
                }
                (State::AwaitHello, _) => {
                    let v = PRE_VERSION_ALERT_RECORD;
                    answer.write(fatal_alert(v, alert::UNEXPECTED_MESSAGE));
                    true
                }
                (_, _) => {
                    // The model ends here (a real server would go on with the handshake).
                    answer.write(fatal_alert(self.profile.version, alert::INTERNAL_ERROR));
                    true
                }
            };
            if closing {
                return true;
            }
        }
        false
    }

    /// The answer to a ClientHello; whether the server then closes.
    fn answer_hello(&mut self, body: &[u8], answer: &mut TlsAnswer) -> bool {
        let Some(hello) = ClientHelloView::parse(body) else {
            answer.write(fatal_alert(PRE_VERSION_ALERT_RECORD, alert::DECODE_ERROR));
            return true;
        };
        if !hello.offers_version(self.profile.version) {
            answer.write(fatal_alert(
                PRE_VERSION_ALERT_RECORD,
                alert::PROTOCOL_VERSION,
            ));
            return true;
        }
        // The client's order (Postfix's default, tls_preempt_cipherlist = no).
        let Some(&suite) = hello
            .suites
            .iter()
            .find(|s| self.profile.suites.contains(s))
        else {
            answer.write(fatal_alert(self.profile.version, alert::HANDSHAKE_FAILURE));
            return true;
        };
        let mut flight = self.record(&self.server_hello(&hello, suite));
        flight.extend(self.record(&self.certificate()));
        flight.extend(self.record(&handshake(handshake_type::SERVER_HELLO_DONE, &[])));
        answer.write(flight);
        self.state = State::FlightSent;
        false
    }

    fn server_hello(&self, hello: &ClientHelloView, suite: u16) -> Vec<u8> {
        let mut b = self.profile.version.to_be_bytes().to_vec();
        b.extend_from_slice(&self.random);
        b.push(32);
        b.extend_from_slice(&self.session_id);
        b.extend_from_slice(&suite.to_be_bytes());
        b.push(0); // null compression
        let mut exts = Vec::new();
        if hello.offers_renegotiation_info() {
            exts.extend_from_slice(&RENEGOTIATION_INFO.to_be_bytes());
            exts.extend_from_slice(&[0, 1, 0]);
        }
        if hello.offers_extension(EXTENDED_MASTER_SECRET) {
            exts.extend_from_slice(&EXTENDED_MASTER_SECRET.to_be_bytes());
            exts.extend_from_slice(&[0, 0]);
        }
        // OpenSSL leaves an empty extension block out.
        if !exts.is_empty() {
            push_u16_len(&mut b, exts.len());
            b.extend(exts);
        }
        handshake(handshake_type::SERVER_HELLO, &b)
    }

    fn certificate(&self) -> Vec<u8> {
        let der: &[u8] = self.cert.as_ref();
        let mut entry = Vec::with_capacity(der.len() + 3);
        push_u24_len(&mut entry, der.len());
        entry.extend_from_slice(der);
        let mut list = Vec::with_capacity(entry.len() + 3);
        push_u24_len(&mut list, entry.len());
        list.extend(entry);
        handshake(handshake_type::CERTIFICATE, &list)
    }

    /// One handshake message in one record of the server's version.
    fn record(&self, message: &[u8]) -> Vec<u8> {
        let mut r = vec![22];
        r.extend_from_slice(&self.profile.version.to_be_bytes());
        push_u16_len(&mut r, message.len());
        r.extend_from_slice(message);
        r
    }
}

fn handshake(msg_type: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![msg_type];
    push_u24_len(&mut m, body.len());
    m.extend_from_slice(body);
    m
}

/// Lengths here are of a certificate and short messages, far below the fields' limits; a
/// longer one saturates (and would be visibly wrong in a test, not a panic).
fn push_u16_len(out: &mut Vec<u8>, len: usize) {
    out.extend_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes());
}

fn push_u24_len(out: &mut Vec<u8>, len: usize) {
    let len = u32::try_from(len).unwrap_or(u32::MAX).min(0x00ff_ffff);
    out.extend_from_slice(len.to_be_bytes().get(1..).unwrap_or_default());
}
