//! The server's TLS identity and rustls configuration, built once per simulated network: the
//! self-signed certificate for `mx.lab.example` checked in beside this file (README.md says
//! how it was made).
use super::TlsServerError;
use rustls::crypto::ring;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use std::sync::Arc;

/// The certificate (RSA 2048, CN and SAN `mx.lab.example`, valid 2026-2126).
const CERT_PEM: &str = include_str!("mx.lab.example.crt.pem");
/// Its private key (PKCS#8): a test key, for the simulator only.
const KEY_PEM: &str = include_str!("mx.lab.example.key.pem");

/// How many TLS 1.3 session tickets the server sends after the handshake: the lab's Postfix
/// sends one.
const TLS13_TICKETS: usize = 1;

/// What every simulated TLS server of a network shares.
#[derive(Debug)]
pub(crate) struct TlsSetup {
    /// The `modern` profile's rustls configuration (TLS 1.2 and 1.3, ring).
    pub(super) modern: Arc<ServerConfig>,
    /// The certificate the hand-built profiles send.
    pub(super) cert: CertificateDer<'static>,
}

impl TlsSetup {
    /// Parses the embedded certificate and key and builds the rustls configuration.
    pub(crate) fn load() -> Result<Self, TlsServerError> {
        let cert = CertificateDer::from_pem_slice(CERT_PEM.as_bytes())
            .map_err(|e| TlsServerError::Pem(format!("certificate: {e}")))?;
        let key = PrivateKeyDer::from_pem_slice(KEY_PEM.as_bytes())
            .map_err(|e| TlsServerError::Pem(format!("key: {e}")))?;
        let mut modern = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_no_client_auth()
            .with_single_cert(vec![cert.clone()], key)?;
        modern.send_tls13_tickets = TLS13_TICKETS;
        Ok(Self {
            modern: Arc::new(modern),
            cert,
        })
    }
}
