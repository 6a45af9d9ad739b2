//! `reconmap-tls`: a sans-IO TLS client probe for what follows `220 Ready to start TLS`.
//!
//! The TCP/SMTP engine feeds the server's bytes and sends the bytes this crate produces; the
//! crate never touches sockets or clocks (time is injected), in the style of the engine's
//! TCP and SMTP clients.
//!
//! - [`TlsProbe`]: a real TLS 1.2/1.3 client handshake (rustls, ring provider) that records
//!   what happened: version, cipher, timing, the certificate chain as sent, whether a
//!   verifying client would accept it, and on failure the step and alert. Certificates are
//!   recorded, never rejected; handshake signatures are still verified.
//! - [`records`]: an incremental, bounded parser of the server's clear-text records, which
//!   describes the ServerHello and a TLS <= 1.2 chain even when the handshake fails.
//! - [`legacy`]: a hand-built legacy ClientHello to *describe* TLS 1.0/1.1-only servers.
//! - [`hello_diff`](hello_diff::hello_diff): which ClientHello fields a router's ICMP quote
//!   shows changed.
#![forbid(unsafe_code)]

pub mod cert;
mod config;
mod error;
pub mod hello_diff;
pub mod legacy;
pub mod names;
mod observations;
mod probe;
pub mod records;
mod server_view;
mod verifier;
mod wire;

pub use cert::{CertInfo, ROOT_STORE};
pub use config::{TlsLimits, TlsProbeConfig};
pub use error::TlsError;
pub use hello_diff::{hello_diff, HelloChange};
pub use legacy::{legacy_client_hello, LegacyProbe};
pub use observations::{
    ChainSource, HandshakeStep, Peer, ProbeKind, ServerHelloInfo, TlsFailure, TlsObservations,
};
pub use probe::{TlsProbe, TlsState, TransportEnd};
