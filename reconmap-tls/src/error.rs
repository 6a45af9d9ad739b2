//! Errors of the probe API (what happened on the wire is evidence, not an error: see
//! [`crate::TlsObservations::failure`]).
use crate::probe::TlsState;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("invalid server name {0:?}")]
    InvalidServerName(String),
    #[error("TLS configuration: {0}")]
    Config(#[source] rustls::Error),
    #[error("cannot send application data in state {0:?}")]
    InvalidState(TlsState),
    #[error("cannot queue application data: {0}")]
    Send(#[source] std::io::Error),
}
