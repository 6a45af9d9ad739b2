//! The shared, built-once part of every probe.
use crate::error::TlsError;
use crate::records::DEFAULT_MAX_HANDSHAKE_LEN;
use crate::verifier::{RecordSlot, RecordingVerifier};
use rustls::client::Resumption;
use rustls::crypto::CryptoProvider;
use rustls::ClientConfig;
use std::sync::Arc;
use std::time::Duration;

/// Hard limits of one probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsLimits {
    /// Longest handshake, from the ClientHello (see [`crate::TlsProbe::poll_at`]).
    pub handshake_timeout: Duration,
    /// Bytes the server may send in all.
    pub max_server_bytes: usize,
    /// Application data held until taken with `take_app`.
    pub max_app_data: usize,
    /// Largest clear-text handshake message followed.
    pub max_handshake_len: usize,
}

impl Default for TlsLimits {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(20),
            max_server_bytes: 256 * 1024,
            max_app_data: 16 * 1024,
            max_handshake_len: DEFAULT_MAX_HANDSHAKE_LEN,
        }
    }
}

/// Built once per run and shared (cheap to clone): the crypto provider (ring) and a rustls
/// client configuration for TLS 1.3 and 1.2, no ALPN, no session resumption (every probe must
/// see a full handshake with the certificate). Each probe takes a shallow copy of it with its
/// own recording verifier.
#[derive(Clone, Debug)]
pub struct TlsProbeConfig {
    pub(crate) base: Arc<ClientConfig>,
    pub(crate) provider: Arc<CryptoProvider>,
    pub limits: TlsLimits,
}

impl TlsProbeConfig {
    pub fn new(limits: TlsLimits) -> Result<Self, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let placeholder = RecordingVerifier::new(provider.clone(), RecordSlot::default());
        let mut base = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(TlsError::Config)?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(placeholder))
            .with_no_client_auth();
        base.resumption = Resumption::disabled();
        base.enable_sni = true;
        base.alpn_protocols = Vec::new();
        Ok(Self {
            base: Arc::new(base),
            provider,
            limits,
        })
    }

    /// The configuration for one probe: the shared one with a verifier recording into `slot`.
    pub(crate) fn for_probe(&self, slot: RecordSlot) -> Arc<ClientConfig> {
        let mut cfg = (*self.base).clone();
        cfg.dangerous()
            .set_certificate_verifier(Arc::new(RecordingVerifier::new(
                self.provider.clone(),
                slot,
            )));
        Arc::new(cfg)
    }
}
