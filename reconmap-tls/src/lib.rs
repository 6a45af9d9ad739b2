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
//!
//! # Use
//! ```
//! use reconmap_tls::{TlsLimits, TlsProbe, TlsProbeConfig, TlsState};
//! use std::time::{Instant, SystemTime};
//!
//! // Once per run.
//! let cfg = TlsProbeConfig::new(TlsLimits::default())?;
//! // After `220 Ready to start TLS`:
//! let mut probe = TlsProbe::new(&cfg, Some("mx.example.net"), Instant::now(), SystemTime::now())?;
//! let hello = probe.outgoing(); // send on the connection
//! assert_eq!(hello[0], 22, "a handshake record");
//! // Then, for each segment of server data: probe.received(now, &data), send
//! // probe.outgoing(); on timers: probe.on_timeout(now) at probe.poll_at(); on FIN/RST:
//! // probe.transport_closed(now, how). Once Established: probe.send_app(b"QUIT\r\n"),
//! // probe.close(), and probe.take_app() for the 221.
//! probe.received(Instant::now(), &[21, 3, 3, 0, 2, 2, 40]); // a handshake_failure alert
//! assert_eq!(probe.state(), TlsState::Failed);
//! let evidence = probe.observations(); // serde::Serialize
//! assert_eq!(evidence.failure.unwrap().alert.as_deref(), Some("handshake_failure"));
//! # Ok::<(), reconmap_tls::TlsError>(())
//! ```
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

/// Whether `name` can be a TLS server name (a DNS name, or an IP literal, which sends no SNI).
pub fn check_server_name(name: &str) -> Result<(), TlsError> {
    probe::parse_server_name(name).map(|_| ())
}
