//! The sans-IO TLS client probe. The caller sends what [`TlsProbe::outgoing`] gives (the first
//! call gives the ClientHello), feeds what the server sends with [`TlsProbe::received`] in any
//! split, wakes it at [`TlsProbe::poll_at`] and reads [`TlsProbe::observations`]. No sockets,
//! no clocks: time is injected.
use crate::cert::{check_chain, describe_certificate, ROOT_STORE};
use crate::config::{TlsLimits, TlsProbeConfig};
use crate::error::TlsError;
use crate::names::{alert_name, version_name};
use crate::observations::{
    ChainSource, HandshakeStep, Peer, ProbeKind, TlsFailure, TlsObservations,
};
use crate::records::{
    handshake_type, Alert, ClientHello, RecordEvent, RecordReader, RecordSplitter,
};
use crate::server_view::ServerView;
use crate::verifier::RecordSlot;
use rustls::pki_types::SignatureVerificationAlgorithm;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::ClientConnection;
use serde::Serialize;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Instant, SystemTime};

/// Where the probe is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TlsState {
    Handshaking,
    Established,
    /// The handshake (or the session) failed; see the observations' `failure`.
    Failed,
    /// The session ended cleanly after the handshake (close_notify either way, or the
    /// transport closed).
    Closed,
}

/// How the transport under the probe ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportEnd {
    /// The server sent FIN.
    Fin,
    /// The connection was reset.
    Reset,
}

/// Our own bytes as far as they are in clear text.
#[derive(Debug)]
struct ClientView {
    reader: RecordReader,
    sni: Option<String>,
    hello_seen: bool,
    alert_sent: Option<Alert>,
    ccs_sent: bool,
}

impl ClientView {
    fn feed(&mut self, data: &[u8], tls13: bool) {
        if tls13 {
            self.reader.assume_tls13();
        }
        for event in self.reader.feed(data) {
            match event {
                RecordEvent::Handshake(m)
                    if m.msg_type == handshake_type::CLIENT_HELLO && !self.hello_seen =>
                {
                    self.hello_seen = true;
                    self.sni = ClientHello::parse(&m.body)
                        .ok()
                        .and_then(|h| h.server_name());
                }
                RecordEvent::Alert(a) => {
                    self.alert_sent.get_or_insert(a);
                }
                RecordEvent::ChangeCipherSpec => self.ccs_sent = true,
                _ => {}
            }
        }
    }
}

/// One TLS client handshake, recorded.
#[derive(Debug)]
pub struct TlsProbe {
    conn: ClientConnection,
    slot: RecordSlot,
    server: ServerView,
    splitter: RecordSplitter,
    client: ClientView,
    algs: &'static [&'static dyn SignatureVerificationAlgorithm],
    limits: TlsLimits,
    state: TlsState,
    /// The name certificates are checked against (DNS name or IP literal).
    target: Option<ServerName<'static>>,
    wall: SystemTime,
    started: Instant,
    established_at: Option<Instant>,
    failure: Option<TlsFailure>,
    server_bytes: usize,
    app_in: Vec<u8>,
    /// We still read what the server sends (false after its close_notify or the transport end).
    reading: bool,
    close_notify_received: bool,
}

impl TlsProbe {
    /// Starts a handshake: the ClientHello is ready in [`TlsProbe::outgoing`]. `server_name`
    /// is sent as SNI when it is a DNS name; an IP literal or `None` sends no SNI. `now` is
    /// taken as the moment the ClientHello leaves; `wall` is the time certificates are checked
    /// at.
    pub fn new(
        cfg: &TlsProbeConfig,
        server_name: Option<&str>,
        now: Instant,
        wall: SystemTime,
    ) -> Result<TlsProbe, TlsError> {
        let target = server_name.map(parse_server_name).transpose()?;
        // rustls needs a name; an IP address makes it send no SNI.
        let conn_name = target.clone().unwrap_or(ServerName::IpAddress(
            IpAddr::V4(Ipv4Addr::UNSPECIFIED).into(),
        ));
        let slot = RecordSlot::default();
        let conn = ClientConnection::new(cfg.for_probe(slot.clone()), conn_name)
            .map_err(TlsError::Config)?;
        Ok(Self {
            conn,
            slot,
            server: ServerView::new(cfg.limits.max_handshake_len),
            splitter: RecordSplitter::default(),
            client: ClientView {
                reader: RecordReader::new(cfg.limits.max_handshake_len),
                sni: None,
                hello_seen: false,
                alert_sent: None,
                ccs_sent: false,
            },
            algs: cfg.provider.signature_verification_algorithms.all,
            limits: cfg.limits.clone(),
            state: TlsState::Handshaking,
            target,
            wall,
            started: now,
            established_at: None,
            failure: None,
            server_bytes: 0,
            app_in: Vec::new(),
            reading: true,
            close_notify_received: false,
        })
    }

    pub fn state(&self) -> TlsState {
        self.state
    }

    /// Bytes to send to the server now (empty when there are none).
    pub fn outgoing(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut out) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        if !out.is_empty() {
            self.client.feed(&out, self.negotiated_tls13());
            if let (Some(f), Some(a)) = (self.failure.as_mut(), self.client.alert_sent) {
                if f.alert.is_none() {
                    f.alert = Some(a.name());
                    f.alert_sent_by = Some(Peer::Probe);
                }
            }
        }
        out
    }

    /// Bytes from the server, in any split.
    pub fn received(&mut self, now: Instant, data: &[u8]) {
        if data.is_empty() || !self.reading {
            return;
        }
        self.server_bytes = self.server_bytes.saturating_add(data.len());
        if self.server_bytes > self.limits.max_server_bytes {
            let limit = self.limits.max_server_bytes;
            self.fail(format!("the server sent more than {limit} bytes"), None);
            self.reading = false;
            return;
        }
        // One record at a time to both the raw view and rustls, so that the step recorded at
        // a failure is the record that caused it. After a failure the raw view still collects
        // the ServerHello and a clear-text chain.
        let mut rest = data;
        while !rest.is_empty() {
            let n = self.splitter.next_chunk(rest).clamp(1, rest.len());
            let (chunk, tail) = rest.split_at(n);
            rest = tail;
            self.server.feed(chunk);
            if self.reading && self.state != TlsState::Failed {
                self.feed_rustls(now, chunk);
            }
        }
    }

    fn feed_rustls(&mut self, now: Instant, data: &[u8]) {
        let mut rest = data;
        while !rest.is_empty() && self.reading {
            match self.conn.read_tls(&mut rest) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    // Only when rustls' plaintext buffer is full: drain it and retry once.
                    if !self.drain_plaintext() {
                        return;
                    }
                    if self.conn.read_tls(&mut rest).is_err() {
                        self.fail(format!("cannot buffer server data: {e}"), None);
                        return;
                    }
                }
            }
            match self.conn.process_new_packets() {
                Ok(io) => {
                    self.update_established(now);
                    if !self.drain_plaintext() {
                        return;
                    }
                    if io.peer_has_closed() {
                        self.on_close_notify();
                    }
                }
                Err(e) => {
                    self.on_rustls_error(e);
                    return;
                }
            }
        }
        self.update_established(now);
    }

    fn update_established(&mut self, now: Instant) {
        if self.state == TlsState::Handshaking && !self.conn.is_handshaking() {
            self.state = TlsState::Established;
            self.established_at = Some(now);
        }
    }

    /// Moves received application data into `app_in`; false when the probe failed.
    fn drain_plaintext(&mut self) -> bool {
        let mut buf = [0u8; 4096];
        loop {
            match self.conn.reader().read(&mut buf) {
                Ok(0) | Err(_) => return true,
                Ok(n) => {
                    if self.app_in.len() + n > self.limits.max_app_data {
                        let limit = self.limits.max_app_data;
                        self.fail(format!("more than {limit} bytes of application data"), None);
                        self.reading = false;
                        return false;
                    }
                    self.app_in
                        .extend_from_slice(buf.get(..n).unwrap_or_default());
                }
            }
        }
    }

    fn on_close_notify(&mut self) {
        self.close_notify_received = true;
        self.reading = false;
        match self.state {
            TlsState::Handshaking => {
                self.fail("close_notify during the handshake".to_owned(), None)
            }
            TlsState::Established => self.state = TlsState::Closed,
            TlsState::Failed | TlsState::Closed => {}
        }
    }

    fn on_rustls_error(&mut self, e: rustls::Error) {
        let alert = match &e {
            rustls::Error::AlertReceived(desc) => Some((u8::from(*desc), Peer::Server)),
            _ => self
                .server
                .alert()
                .filter(Alert::is_fatal)
                .map(|a| (a.description, Peer::Server)),
        };
        let mut error = e.to_string();
        if let Some(problem) = self.server.problem() {
            error = format!("{error} ({problem})");
        }
        if let Some(sig) = &self.slot.lock().signature_error {
            if !error.contains(sig.as_str()) {
                error = format!("{error}; signature check: {sig}");
            }
        }
        self.fail(error, alert);
        self.reading = self.server_bytes < self.limits.max_server_bytes;
    }

    fn fail(&mut self, error: String, alert: Option<(u8, Peer)>) {
        if self.failure.is_none() {
            self.failure = Some(TlsFailure {
                step: self.step(),
                alert: alert.map(|(d, _)| alert_name(d)),
                alert_sent_by: alert.map(|(_, p)| p),
                error,
            });
        }
        self.state = TlsState::Failed;
    }

    /// The furthest handshake step seen so far. The raw view may be ahead of rustls (a server
    /// may pack its whole flight into one record), so it is capped by what rustls got to: no
    /// accepted ServerHello, no certificate handed to the verifier, no signature checked.
    fn step(&self) -> HandshakeStep {
        if self.established_at.is_some() {
            return HandshakeStep::Established;
        }
        let (certificate_seen, signature_seen) = {
            let rec = self.slot.lock();
            (rec.certificate_seen, rec.signature_seen)
        };
        let cap = if signature_seen {
            HandshakeStep::Established
        } else if certificate_seen || self.conn.protocol_version().is_some() {
            HandshakeStep::Certificate
        } else {
            HandshakeStep::ServerHello
        };
        let mut step = self
            .server
            .step()
            .unwrap_or(HandshakeStep::ClientHelloSent)
            .min(cap);
        if certificate_seen {
            step = step.max(HandshakeStep::Certificate);
        }
        if signature_seen {
            step = step.max(HandshakeStep::KeyExchange);
        }
        let tls12 = self.server.hello().is_some_and(|h| h.version() <= 0x0303);
        if tls12 && self.client.ccs_sent {
            step = step.max(HandshakeStep::ClientFinished);
        }
        step
    }

    fn negotiated_tls13(&self) -> bool {
        self.server.hello().is_some_and(|h| h.version() == 0x0304)
    }

    /// When [`TlsProbe::on_timeout`] must be called (while the handshake runs).
    pub fn poll_at(&self) -> Option<Instant> {
        (self.state == TlsState::Handshaking).then(|| self.started + self.limits.handshake_timeout)
    }

    /// Checks the handshake timer; past it the probe fails at the step reached.
    pub fn on_timeout(&mut self, now: Instant) {
        if self.state == TlsState::Handshaking
            && now >= self.started + self.limits.handshake_timeout
        {
            let limit = self.limits.handshake_timeout;
            self.fail(format!("no complete handshake within {limit:?}"), None);
        }
    }

    /// The transport ended (the server's FIN, or a reset).
    pub fn transport_closed(&mut self, _now: Instant, how: TransportEnd) {
        self.reading = false;
        let what = match how {
            TransportEnd::Fin => "the server closed the connection",
            TransportEnd::Reset => "the connection was reset",
        };
        match self.state {
            TlsState::Handshaking => self.fail(format!("{what} during the handshake"), None),
            TlsState::Established => self.state = TlsState::Closed,
            TlsState::Failed | TlsState::Closed => {}
        }
    }

    /// Queues application data (sent once the handshake completes, e.g. `QUIT\r\n`).
    pub fn send_app(&mut self, data: &[u8]) -> Result<(), TlsError> {
        match self.state {
            TlsState::Handshaking | TlsState::Established => {
                self.conn.writer().write_all(data).map_err(TlsError::Send)
            }
            s => Err(TlsError::InvalidState(s)),
        }
    }

    /// Application data received so far (e.g. the `221` reply), taken.
    pub fn take_app(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.app_in)
    }

    /// Queues close_notify. The server's remaining data (a reply to QUIT, its close_notify) is
    /// still read. Closing before the handshake completed records that as the failure.
    pub fn close(&mut self) {
        match self.state {
            TlsState::Established => {
                self.conn.send_close_notify();
                self.state = TlsState::Closed;
            }
            TlsState::Handshaking => {
                self.fail("abandoned before the handshake completed".to_owned(), None);
                self.reading = false;
            }
            TlsState::Failed | TlsState::Closed => {}
        }
    }

    /// Everything seen so far.
    pub fn observations(&self) -> TlsObservations {
        let version = self
            .conn
            .protocol_version()
            .map(|v| version_name(u16::from(v)));
        let cipher = self
            .conn
            .negotiated_cipher_suite()
            .map(|s| crate::names::cipher_name(u16::from(s.suite())));
        let recorded: Vec<CertificateDer<'static>> = self.slot.lock().chain.clone();
        let (ders, source) = if !recorded.is_empty() {
            (recorded, Some(ChainSource::Handshake))
        } else if let Some(chain) = self.server.chain() {
            let ders = chain
                .iter()
                .map(|c| CertificateDer::from(c.clone()))
                .collect();
            (ders, Some(ChainSource::ClearText))
        } else {
            (Vec::new(), None)
        };
        let check = check_chain(&ders, self.target.as_ref(), self.wall, self.algs);
        TlsObservations {
            probe: ProbeKind::Handshake,
            version,
            cipher,
            handshake_ms: self
                .established_at
                .map(|t| millis(t.saturating_duration_since(self.started))),
            sni: self.client.sni.clone(),
            server_hello: self.server.hello_info(),
            chain: ders.iter().map(|d| describe_certificate(d)).collect(),
            chain_source: source,
            chain_valid: check.chain_valid,
            chain_error: check.error,
            name_matches: check.name_matches,
            root_store: check.chain_valid.map(|_| ROOT_STORE.to_owned()),
            close_notify_received: self.close_notify_received,
            failure: self.failure.clone(),
        }
    }
}

pub(crate) fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A DNS name or an IP literal.
pub(crate) fn parse_server_name(name: &str) -> Result<ServerName<'static>, TlsError> {
    if let Ok(ip) = name.parse::<IpAddr>() {
        return Ok(ServerName::IpAddress(ip.into()));
    }
    ServerName::try_from(name.to_owned()).map_err(|_| TlsError::InvalidServerName(name.to_owned()))
}
