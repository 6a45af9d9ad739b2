//! The simulated server's TLS after `220 2.0.0 Ready to start TLS`, per the scenario's
//! `tls_profile`; sans-IO: the client's bytes in, the server's writes and its close out.
//! Each profile copies what the lab's Postfix 3.7.11 (OpenSSL 3.0.19) was seen doing
//! (README.md beside this file has the observations):
//!
//! - `modern` ([`modern`]): a real rustls server (TLS 1.2 and 1.3) with the checked-in
//!   certificate for `mx.lab.example`. It reads the client's records one at a time (as OpenSSL
//!   does), sends one session ticket after a TLS 1.3 handshake, answers SMTP inside TLS, and
//!   after `QUIT` writes `221 2.0.0 Bye`, then close_notify, and closes the socket.
//! - `tls1.0-only` and `cbc-only` ([`hello_only`]): hand-built records. To a modern
//!   ClientHello they answer with a fatal alert (`protocol_version`, `handshake_failure`) and
//!   close; to a ClientHello that offers their version and an RSA key-exchange suite, with a
//!   ServerHello, Certificate and ServerHelloDone flight.
//!
//! Closing the socket while client bytes are still unread is an abort: the kernel sends a RST
//! instead of a FIN ([`TlsClose::Abort`]). Buffers are bounded whatever the client sends.
mod client_hello;
mod hello_only;
mod incoming;
mod modern;
mod setup;

pub(crate) use setup::TlsSetup;

use crate::scenario::TlsProfile;
use hello_only::{HelloOnlyServer, CBC_ONLY, TLS10_ONLY};
use modern::ModernServer;

/// Why a TLS server cannot be made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TlsServerError {
    #[error("embedded PEM: {0}")]
    Pem(String),
    #[error("rustls: {0}")]
    Rustls(#[from] rustls::Error),
}

/// How the server ends the connection after its writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TlsClose {
    /// `close()` with nothing unread: a FIN after the writes.
    Fin,
    /// `close()` with client bytes still unread in the receive queue: the kernel sends a RST
    /// at once and drops what it had not sent yet.
    Abort,
}

/// What the server does after some client bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TlsAnswer {
    /// What it writes, in order: one entry per write (a flight, a record).
    pub writes: Vec<Vec<u8>>,
    /// Whether (and how) it then closes the connection.
    pub close: Option<TlsClose>,
}

impl TlsAnswer {
    fn write(&mut self, bytes: Vec<u8>) {
        if !bytes.is_empty() {
            self.writes.push(bytes);
        }
    }

    fn closing(mut self, close: TlsClose) -> Self {
        self.close = Some(close);
        self
    }
}

/// The TLS end of one server connection.
#[derive(Debug)]
pub(crate) struct TlsServer(Kind);

#[derive(Debug)]
enum Kind {
    Modern(Box<ModernServer>),
    HelloOnly(Box<HelloOnlyServer>),
}

impl TlsServer {
    /// The server of `profile`; `seed` makes the hand-built profiles' random values.
    pub(crate) fn new(
        profile: TlsProfile,
        setup: &TlsSetup,
        seed: u64,
    ) -> Result<Self, TlsServerError> {
        Ok(Self(match profile {
            TlsProfile::Modern => Kind::Modern(Box::new(ModernServer::new(&setup.modern)?)),
            TlsProfile::Tls10Only => Kind::HelloOnly(Box::new(HelloOnlyServer::new(
                TLS10_ONLY,
                &setup.cert,
                seed,
            ))),
            TlsProfile::CbcOnly => {
                Kind::HelloOnly(Box::new(HelloOnlyServer::new(CBC_ONLY, &setup.cert, seed)))
            }
        }))
    }

    /// The client's next bytes (in any split). Nothing more happens once it closed.
    pub(crate) fn received(&mut self, data: &[u8]) -> TlsAnswer {
        match &mut self.0 {
            Kind::Modern(s) => s.received(data),
            Kind::HelloOnly(s) => s.received(data),
        }
    }

    /// Whether the handshake completed (only the `modern` profile completes one).
    pub(crate) fn is_established(&self) -> bool {
        match &self.0 {
            Kind::Modern(s) => s.is_established(),
            Kind::HelloOnly(_) => false,
        }
    }

    /// Whether the server has closed the connection.
    pub(crate) fn is_closed(&self) -> bool {
        match &self.0 {
            Kind::Modern(s) => s.is_closed(),
            Kind::HelloOnly(s) => s.is_closed(),
        }
    }
}

/// Alert descriptions used here (RFC 8446 6).
mod alert {
    pub const UNEXPECTED_MESSAGE: u8 = 10;
    pub const HANDSHAKE_FAILURE: u8 = 40;
    pub const RECORD_OVERFLOW: u8 = 22;
    pub const DECODE_ERROR: u8 = 50;
    pub const PROTOCOL_VERSION: u8 = 70;
    pub const INTERNAL_ERROR: u8 = 80;
}

/// A clear-text fatal alert record.
fn fatal_alert(record_version: u16, description: u8) -> Vec<u8> {
    let [hi, lo] = record_version.to_be_bytes();
    vec![21, hi, lo, 0, 2, 2, description]
}

#[cfg(test)]
mod tests;
