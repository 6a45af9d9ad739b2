//! What a probe records: the serialisable evidence of one TLS attempt.
use crate::cert::CertInfo;
use serde::Serialize;

/// How the evidence was obtained.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeKind {
    /// A full TLS 1.2/1.3 handshake with rustls ([`crate::TlsProbe`]).
    #[default]
    Handshake,
    /// A hand-built legacy ClientHello whose answer is only described
    /// ([`crate::legacy::LegacyProbe`]).
    LegacyHello,
}

/// The furthest point of the handshake seen (sent or received) when it failed: the failure
/// happened while processing that message or waiting for the next one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HandshakeStep {
    /// Our ClientHello went out; nothing TLS came back yet.
    ClientHelloSent,
    /// The server's ServerHello (or HelloRetryRequest) arrived.
    ServerHello,
    /// The server's Certificate arrived.
    Certificate,
    /// The server's proof of key possession arrived: TLS 1.2 ServerKeyExchange or
    /// ServerHelloDone, TLS 1.3 CertificateVerify.
    KeyExchange,
    /// TLS 1.2: our ClientKeyExchange, ChangeCipherSpec and Finished went out.
    ClientFinished,
    /// TLS 1.2: the server's ChangeCipherSpec and Finished arrived.
    Finished,
    /// The handshake had completed (the failure came later).
    Established,
}

/// Who sent an alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Peer {
    Server,
    Probe,
}

/// Why and where the attempt failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TlsFailure {
    pub step: HandshakeStep,
    /// IANA alert name (`handshake_failure`), when one was received or sent in a form we could
    /// read (a TLS 1.3 alert we send after the ServerHello is encrypted: then `None`).
    pub alert: Option<String>,
    pub alert_sent_by: Option<Peer>,
    pub error: String,
}

/// The ServerHello as parsed from the server's raw records, even when the handshake failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ServerHelloInfo {
    /// Negotiated version (supported_versions when present, else legacy_version).
    pub version: String,
    /// The record-layer legacy_version field (differs from `version` in TLS 1.3).
    pub legacy_version: String,
    pub cipher: String,
    pub hello_retry_request: bool,
    /// RFC 8446 downgrade sentinel in the server random, naming the version it signals.
    pub downgrade_sentinel: Option<String>,
    /// Extension names in the order sent.
    pub extensions: Vec<String>,
}

/// Where `chain` came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChainSource {
    /// Handed to the certificate verifier during the handshake (any version).
    Handshake,
    /// Parsed from the server's clear-text records (TLS <= 1.2).
    ClearText,
}

/// Everything one TLS attempt saw.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TlsObservations {
    pub probe: ProbeKind,
    /// Negotiated version (`TLSv1.3`, `TLSv1.2`), once rustls accepted the ServerHello.
    pub version: Option<String>,
    /// Negotiated cipher suite, IANA name as rustls spells it (`TLS13_AES_128_GCM_SHA256`).
    pub cipher: Option<String>,
    /// From our ClientHello (creation of the probe) to the completed handshake.
    pub handshake_ms: Option<u64>,
    /// The server name sent in our ClientHello (None: no SNI was sent).
    pub sni: Option<String>,
    pub server_hello: Option<ServerHelloInfo>,
    /// The server's certificates as sent, leaf first.
    pub chain: Vec<CertInfo>,
    pub chain_source: Option<ChainSource>,
    /// Whether a verifying client would accept the chain: path to a root of `root_store` at
    /// the probe's wall time and, when the target name is known, valid for it.
    pub chain_valid: Option<bool>,
    /// Why `chain_valid` is false.
    pub chain_error: Option<String>,
    /// Whether the leaf certificate is valid for the target name (when known).
    pub name_matches: Option<bool>,
    pub root_store: Option<String>,
    /// The server sent close_notify.
    pub close_notify_received: bool,
    pub failure: Option<TlsFailure>,
}
