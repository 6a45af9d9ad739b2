//! A certificate verifier that records and accepts: self-signed and mismatched certificates are
//! common on MX hosts and are not what ReconMap judges. The chain is kept exactly as sent and
//! judged afterwards ([`crate::cert::check_chain`]); the handshake signatures are still checked
//! for real, so a tampered key exchange still fails.
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// What the verifier saw during one handshake.
#[derive(Debug, Default)]
pub(crate) struct Recorded {
    /// Leaf first, as sent.
    pub(crate) chain: Vec<CertificateDer<'static>>,
    pub(crate) certificate_seen: bool,
    /// A handshake signature (ServerKeyExchange / CertificateVerify) was checked.
    pub(crate) signature_seen: bool,
    pub(crate) signature_error: Option<String>,
}

/// Shared between one probe and the verifier inside its rustls configuration.
#[derive(Debug, Default, Clone)]
pub(crate) struct RecordSlot(Arc<Mutex<Recorded>>);

impl RecordSlot {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Recorded> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Debug)]
pub(crate) struct RecordingVerifier {
    provider: Arc<CryptoProvider>,
    slot: RecordSlot,
}

impl RecordingVerifier {
    pub(crate) fn new(provider: Arc<CryptoProvider>, slot: RecordSlot) -> Self {
        Self { provider, slot }
    }

    fn record_signature(
        &self,
        result: Result<HandshakeSignatureValid, rustls::Error>,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let mut rec = self.slot.lock();
        rec.signature_seen = true;
        if let Err(e) = &result {
            rec.signature_error = Some(e.to_string());
        }
        result
    }
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let mut rec = self.slot.lock();
        rec.certificate_seen = true;
        rec.chain = std::iter::once(end_entity)
            .chain(intermediates)
            .map(|c| c.clone().into_owned())
            .collect();
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.record_signature(rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.record_signature(rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        ))
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
