//! Describing servers that only speak TLS 1.0/1.1 or old cipher suites.
//!
//! # Decision
//! ReconMap completes TLS 1.2 and 1.3 handshakes with rustls and only *describes* older
//! servers: when the modern handshake fails at the hello step, the engine may open a second
//! connection and send [`legacy_client_hello`], a hand-built ClientHello offering TLS 1.0-1.2
//! with a broad list of old suites (CBC, 3DES, RC4) besides the modern ones. The server's
//! answer is parsed with [`crate::records`] into the same `server_hello` and `chain`
//! description; no key exchange is done and no alert is sent back (the engine just closes).
//!
//! Why not complete the old handshakes too: it would take OpenSSL or a hand-written
//! implementation of obsolete cryptography. The first is C parsing hostile input inside a
//! privileged prober (ReconMap runs as root and talks to arbitrary hosts); the second is a
//! large, risky body of code for no gain: ReconMap judges whether STARTTLS survives the path
//! and what the server offers, not the old session itself. And nothing is lost: before
//! TLS 1.3 the ServerHello and the whole certificate chain travel in clear text, so the
//! version, the suite the server picks and the certificate are all visible from the hello
//! exchange alone. The crate stays pure Rust and memory-safe on every byte it parses.
use crate::cert::{check_chain, describe_certificate, ROOT_STORE};
use crate::config::{TlsLimits, TlsProbeConfig};
use crate::error::TlsError;
use crate::observations::{
    ChainSource, HandshakeStep, Peer, ProbeKind, TlsFailure, TlsObservations,
};
use crate::probe::{parse_server_name, TransportEnd};
use crate::server_view::ServerView;
use rustls::pki_types::SignatureVerificationAlgorithm;
use rustls::pki_types::{CertificateDer, ServerName};
use std::time::{Instant, SystemTime};

/// Suites offered, in preference order: modern AEAD first, then CBC, 3DES and RC4.
pub const LEGACY_CIPHER_SUITES: &[u16] = &[
    0xc02b, 0xc02f, 0xc02c, 0xc030, // ECDHE-{ECDSA,RSA}-AES{128,256}-GCM
    0xcca9, 0xcca8, // ECDHE-{ECDSA,RSA}-CHACHA20-POLY1305
    0x009e, 0x009f, // DHE-RSA-AES{128,256}-GCM
    0xc023, 0xc027, 0xc024, 0xc028, // ECDHE-*-AES-CBC-SHA256/384
    0xc009, 0xc013, 0xc00a, 0xc014, // ECDHE-*-AES-CBC-SHA
    0x0067, 0x006b, 0x0033, 0x0039, // DHE-RSA-AES-CBC-SHA256/SHA
    0x0032, 0x0038, // DHE-DSS-AES-CBC-SHA
    0x009c, 0x009d, // RSA-AES-GCM
    0x003c, 0x003d, 0x002f, 0x0035, // RSA-AES-CBC-SHA256/SHA
    0x0041, 0x0084, 0x0045, 0x0088, // (DHE-)RSA-CAMELLIA-CBC-SHA
    0xc008, 0xc012, 0x0016, 0x0013, 0x000a, // 3DES-EDE-CBC
    0xc007, 0xc011, 0x0005, 0x0004, // RC4
];

const SUPPORTED_GROUPS: &[u16] = &[0x001d, 0x0017, 0x0018, 0x0019];
const SIGNATURE_ALGORITHMS: &[u16] = &[
    0x0403, 0x0503, 0x0603, 0x0807, 0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601, 0x0402, 0x0203,
    0x0201, 0x0202,
];

/// A legacy ClientHello record: record version 0x0301 (TLS 1.0, what the oldest servers
/// expect), client_version TLS 1.2, no session id, null compression, [`LEGACY_CIPHER_SUITES`],
/// and the extensions server_name (only for a DNS name), supported_groups, ec_point_formats,
/// signature_algorithms and renegotiation_info; padded to 512 bytes when it would otherwise be
/// 256-511 bytes long (the size some old F5 devices hang on, as OpenSSL also does). No
/// supported_versions: a TLS 1.3 server answers with TLS 1.2, whose certificate is in clear.
pub fn legacy_client_hello(sni: Option<&str>, random: [u8; 32]) -> Vec<u8> {
    let mut exts: Vec<(u16, Vec<u8>)> = Vec::new();
    if let Some(host) = sni.filter(|s| matches!(parse_server_name(s), Ok(ServerName::DnsName(_)))) {
        let mut entry = vec![0u8];
        push_vec16(&mut entry, host.as_bytes());
        let mut data = Vec::new();
        push_vec16(&mut data, &entry);
        exts.push((0x0000, data));
    }
    exts.push((0x000a, vec16_of_u16s(SUPPORTED_GROUPS)));
    exts.push((0x000b, vec![1, 0]));
    exts.push((0x000d, vec16_of_u16s(SIGNATURE_ALGORITHMS)));
    exts.push((0xff01, vec![0]));

    let body = |exts: &[(u16, Vec<u8>)]| {
        let mut b = Vec::with_capacity(512);
        b.extend_from_slice(&0x0303u16.to_be_bytes());
        b.extend_from_slice(&random);
        b.push(0); // empty session id
        b.extend_from_slice(&vec16_of_u16s(LEGACY_CIPHER_SUITES));
        b.extend_from_slice(&[1, 0]); // null compression
        let mut all = Vec::new();
        for (typ, data) in exts {
            all.extend_from_slice(&typ.to_be_bytes());
            push_vec16(&mut all, data);
        }
        push_vec16(&mut b, &all);
        b
    };
    let mut hello = body(&exts);
    let message_len = hello.len() + 4;
    if (256..512).contains(&message_len) {
        let pad = (512 - message_len).saturating_sub(4).max(1);
        exts.push((0x0015, vec![0; pad]));
        hello = body(&exts);
    }
    let mut message = vec![crate::records::handshake_type::CLIENT_HELLO];
    message.extend_from_slice(&u24(hello.len()));
    message.extend_from_slice(&hello);
    let mut record = vec![crate::records::content_type::HANDSHAKE, 0x03, 0x01];
    push_vec16(&mut record, &message);
    record
}

fn u24(n: usize) -> [u8; 3] {
    let b = u32::try_from(n).unwrap_or(0).to_be_bytes();
    [b[1], b[2], b[3]]
}

/// Appends `data` with a two-byte length (callers keep it far below 64 KiB; a longer one is
/// cut rather than mis-framed).
fn push_vec16(out: &mut Vec<u8>, data: &[u8]) {
    let len = u16::try_from(data.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(data.get(..usize::from(len)).unwrap_or(data));
}

fn vec16_of_u16s(values: &[u16]) -> Vec<u8> {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_be_bytes()).collect();
    let mut out = Vec::with_capacity(bytes.len() + 2);
    push_vec16(&mut out, &bytes);
    out
}

/// Sends [`legacy_client_hello`] and describes the answer, sans-IO like [`crate::TlsProbe`].
/// Done once the server's hello flight is complete (ServerHelloDone), or it sent an alert, or
/// its stream is no longer clear-text TLS, or on timeout or the end of the transport.
#[derive(Debug)]
pub struct LegacyProbe {
    pending: Vec<u8>,
    sni: Option<String>,
    target: Option<ServerName<'static>>,
    server: ServerView,
    limits: TlsLimits,
    algs: &'static [&'static dyn SignatureVerificationAlgorithm],
    wall: SystemTime,
    started: Instant,
    done: bool,
    server_bytes: usize,
    failure: Option<TlsFailure>,
}

impl LegacyProbe {
    pub fn new(
        cfg: &TlsProbeConfig,
        server_name: Option<&str>,
        random: [u8; 32],
        now: Instant,
        wall: SystemTime,
    ) -> Result<Self, TlsError> {
        let target = server_name.map(parse_server_name).transpose()?;
        let sni = match &target {
            Some(ServerName::DnsName(d)) => Some(d.as_ref().to_owned()),
            _ => None,
        };
        Ok(Self {
            pending: legacy_client_hello(sni.as_deref(), random),
            sni,
            target,
            server: ServerView::new(cfg.limits.max_handshake_len),
            limits: cfg.limits.clone(),
            algs: cfg.provider.signature_verification_algorithms.all,
            wall,
            started: now,
            done: false,
            server_bytes: 0,
            failure: None,
        })
    }

    /// The ClientHello on the first call, then nothing.
    pub fn outgoing(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.pending)
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    pub fn received(&mut self, _now: Instant, data: &[u8]) {
        if self.done || data.is_empty() {
            return;
        }
        self.server_bytes = self.server_bytes.saturating_add(data.len());
        if self.server_bytes > self.limits.max_server_bytes {
            let limit = self.limits.max_server_bytes;
            return self.finish(Some(format!("the server sent more than {limit} bytes")));
        }
        self.server.feed(data);
        if let Some(alert) = self.server.alert().filter(|a| a.is_fatal()) {
            let error = format!("the server answered with alert {}", alert.name());
            self.finish(Some(error));
        } else if let Some(problem) = self.server.problem() {
            self.finish(Some(problem));
        } else if self.server.hello_done() || self.server.is_stopped() {
            self.finish(None);
        }
    }

    fn finish(&mut self, error: Option<String>) {
        self.done = true;
        if let Some(error) = error {
            let alert = self.server.alert().filter(|a| a.is_fatal());
            self.failure.get_or_insert(TlsFailure {
                step: self.server.step().unwrap_or(HandshakeStep::ClientHelloSent),
                alert: alert.map(|a| a.name()),
                alert_sent_by: alert.map(|_| Peer::Server),
                error,
            });
        }
    }

    pub fn poll_at(&self) -> Option<Instant> {
        (!self.done).then(|| self.started + self.limits.handshake_timeout)
    }

    pub fn on_timeout(&mut self, now: Instant) {
        if !self.done && now >= self.started + self.limits.handshake_timeout {
            let limit = self.limits.handshake_timeout;
            self.finish(Some(format!(
                "no complete server hello flight within {limit:?}"
            )));
        }
    }

    pub fn transport_closed(&mut self, _now: Instant, how: TransportEnd) {
        if !self.done {
            let what = match how {
                TransportEnd::Fin => "the server closed the connection",
                TransportEnd::Reset => "the connection was reset",
            };
            self.finish(Some(format!("{what} before the hello flight ended")));
        }
    }

    pub fn observations(&self) -> TlsObservations {
        let ders: Vec<CertificateDer<'static>> = self
            .server
            .chain()
            .map(|c| c.iter().map(|d| CertificateDer::from(d.clone())).collect())
            .unwrap_or_default();
        let check = check_chain(&ders, self.target.as_ref(), self.wall, self.algs);
        TlsObservations {
            probe: ProbeKind::LegacyHello,
            version: None,
            cipher: None,
            handshake_ms: None,
            sni: self.sni.clone(),
            server_hello: self.server.hello_info(),
            chain: ders.iter().map(|d| describe_certificate(d)).collect(),
            chain_source: (!ders.is_empty()).then_some(ChainSource::ClearText),
            chain_valid: check.chain_valid,
            chain_error: check.error,
            name_matches: check.name_matches,
            root_store: check.chain_valid.map(|_| ROOT_STORE.to_owned()),
            close_notify_received: false,
            failure: self.failure.clone(),
        }
    }
}

#[cfg(test)]
mod tests;
