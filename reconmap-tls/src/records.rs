//! An incremental parser of one direction of a TLS connection, as far as it is in clear text:
//! records in any split, handshake messages spanning records, alerts and ChangeCipherSpec. It
//! stops for good at the first encrypted record (application_data, or anything after a
//! TLS <= 1.2 ChangeCipherSpec) or at the first malformed one, and says which.
//!
//! Hard limits: it buffers at most one record ([`MAX_RECORD_LEN`]) plus one handshake message
//! (`max_handshake_len`), whatever it is fed, and no input makes it panic.
use crate::names::{alert_name, version_name};
use crate::wire::Cursor;

/// Bytes of a record header (type, version, length).
pub const RECORD_HEADER_LEN: usize = 5;
/// Largest record accepted: 2^14 plus the 2048 bytes of expansion RFC 5246 allows.
pub const MAX_RECORD_LEN: usize = 16384 + 2048;
/// Default largest handshake message (a long certificate chain fits easily).
pub const DEFAULT_MAX_HANDSHAKE_LEN: usize = 64 * 1024;

/// Record content types.
pub mod content_type {
    pub const CHANGE_CIPHER_SPEC: u8 = 20;
    pub const ALERT: u8 = 21;
    pub const HANDSHAKE: u8 = 22;
    pub const APPLICATION_DATA: u8 = 23;
    pub const HEARTBEAT: u8 = 24;
}

/// Handshake message types used here.
pub mod handshake_type {
    pub const CLIENT_HELLO: u8 = 1;
    pub const SERVER_HELLO: u8 = 2;
    pub const CERTIFICATE: u8 = 11;
    pub const SERVER_KEY_EXCHANGE: u8 = 12;
    pub const CERTIFICATE_REQUEST: u8 = 13;
    pub const SERVER_HELLO_DONE: u8 = 14;
    pub const FINISHED: u8 = 20;
}

/// One reassembled handshake message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandshakeMessage {
    pub msg_type: u8,
    pub body: Vec<u8>,
}

/// A clear-text alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Alert {
    pub level: u8,
    pub description: u8,
}

impl Alert {
    pub fn is_fatal(&self) -> bool {
        self.level == 2
    }

    /// The IANA name of the description (`handshake_failure`).
    pub fn name(&self) -> String {
        alert_name(self.description)
    }
}

/// What the parser found, in stream order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordEvent {
    Handshake(HandshakeMessage),
    Alert(Alert),
    ChangeCipherSpec,
    /// Parsing stopped: this record (and all after it) is encrypted.
    Encrypted {
        content_type: u8,
    },
    /// Parsing stopped: the stream is not valid TLS from here on.
    Invalid(RecordError),
}

/// Why the stream is not valid TLS.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The record header is printable text (an SMTP reply sent in clear, say); the five
    /// header bytes as text.
    #[error("not TLS: the peer sent text starting {0:?}")]
    NotTls(String),
    #[error("unknown record content type {0}")]
    UnknownContentType(u8),
    #[error("record version 0x{0:04x} is not TLS")]
    BadVersion(u16),
    #[error("record of {0} bytes exceeds the limit of {MAX_RECORD_LEN}")]
    RecordTooLong(usize),
    #[error("handshake message of {len} bytes exceeds the limit of {limit}")]
    HandshakeTooLong { len: usize, limit: usize },
    #[error("malformed alert record of {0} bytes")]
    BadAlert(usize),
    #[error("malformed ChangeCipherSpec record")]
    BadChangeCipherSpec,
    #[error("content type {0} record inside a fragmented handshake message")]
    Interleaved(u8),
}

/// The incremental parser. Feed bytes with [`RecordReader::feed`].
#[derive(Clone, Debug)]
pub struct RecordReader {
    max_handshake_len: usize,
    /// The current record: header and the part of its body received so far.
    record: Vec<u8>,
    /// Handshake bytes not yet forming a whole message.
    handshake: Vec<u8>,
    tls13: bool,
    after_ccs: bool,
    stopped: bool,
    /// Total bytes fed.
    fed: u64,
}

impl Default for RecordReader {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_HANDSHAKE_LEN)
    }
}

impl RecordReader {
    pub fn new(max_handshake_len: usize) -> Self {
        Self {
            max_handshake_len,
            record: Vec::new(),
            handshake: Vec::new(),
            tls13: false,
            after_ccs: false,
            stopped: false,
            fed: 0,
        }
    }

    /// Tells the parser that TLS 1.3 was negotiated (a ChangeCipherSpec is then a
    /// compatibility no-op). A server-side parser learns it from the ServerHello by itself.
    pub fn assume_tls13(&mut self) {
        self.tls13 = true;
    }

    /// Whether TLS 1.3 is known to be in use.
    pub fn is_tls13(&self) -> bool {
        self.tls13
    }

    /// Whether parsing has stopped (encrypted or invalid data); further input is ignored.
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// A ChangeCipherSpec of TLS <= 1.2 was seen (what follows is encrypted).
    pub fn after_change_cipher_spec(&self) -> bool {
        self.after_ccs
    }

    /// Bytes held in buffers now (bounded by one record plus one handshake message).
    pub fn buffered(&self) -> usize {
        self.record.len() + self.handshake.len()
    }

    /// Total bytes fed so far.
    pub fn fed(&self) -> u64 {
        self.fed
    }

    /// Parses `data`, which continues the stream in any split.
    pub fn feed(&mut self, data: &[u8]) -> Vec<RecordEvent> {
        let mut events = Vec::new();
        self.fed = self.fed.saturating_add(data.len() as u64);
        let mut input = data;
        while !self.stopped && !input.is_empty() {
            if self.record.len() < RECORD_HEADER_LEN {
                let n = (RECORD_HEADER_LEN - self.record.len()).min(input.len());
                let (head, rest) = input.split_at(n);
                self.record.extend_from_slice(head);
                input = rest;
                if self.record.len() < RECORD_HEADER_LEN {
                    break;
                }
                if let Err(stop) = self.check_header() {
                    self.stop(&mut events, stop);
                    break;
                }
            }
            let total = RECORD_HEADER_LEN + self.body_len();
            let n = total.saturating_sub(self.record.len()).min(input.len());
            let (body, rest) = input.split_at(n);
            self.record.extend_from_slice(body);
            input = rest;
            if self.record.len() == total {
                let record = std::mem::take(&mut self.record);
                let typ = record.first().copied().unwrap_or(0);
                let body = record.get(RECORD_HEADER_LEN..).unwrap_or_default();
                self.on_record(typ, body, &mut events);
            }
        }
        events
    }

    fn body_len(&self) -> usize {
        let mut c = Cursor::new(self.record.get(3..RECORD_HEADER_LEN).unwrap_or_default());
        c.u16().map_or(0, usize::from)
    }

    /// Validates the header in `self.record`.
    fn check_header(&self) -> Result<(), RecordEvent> {
        let mut c = Cursor::new(&self.record);
        let (Some(typ), Some(version), Some(len)) = (c.u8(), c.u16(), c.u16()) else {
            return Ok(());
        };
        let known = matches!(
            typ,
            content_type::CHANGE_CIPHER_SPEC
                | content_type::ALERT
                | content_type::HANDSHAKE
                | content_type::APPLICATION_DATA
                | content_type::HEARTBEAT
        );
        if !known {
            return Err(RecordEvent::Invalid(
                self.text_or(RecordError::UnknownContentType(typ)),
            ));
        }
        if version >> 8 != 3 || version > 0x0304 {
            return Err(RecordEvent::Invalid(
                self.text_or(RecordError::BadVersion(version)),
            ));
        }
        if usize::from(len) > MAX_RECORD_LEN {
            return Err(RecordEvent::Invalid(RecordError::RecordTooLong(
                usize::from(len),
            )));
        }
        if typ == content_type::APPLICATION_DATA || (self.after_ccs && !self.tls13) {
            return Err(RecordEvent::Encrypted { content_type: typ });
        }
        Ok(())
    }

    /// `NotTls` when the header bytes look like text, else `err`. Decided on the header
    /// alone so that the result does not depend on how the stream was split.
    fn text_or(&self, err: RecordError) -> RecordError {
        if is_text(&self.record) {
            RecordError::NotTls(String::from_utf8_lossy(&self.record).into_owned())
        } else {
            err
        }
    }

    fn stop(&mut self, events: &mut Vec<RecordEvent>, event: RecordEvent) {
        events.push(event);
        self.stopped = true;
        self.record = Vec::new();
        self.handshake = Vec::new();
    }

    fn on_record(&mut self, typ: u8, body: &[u8], events: &mut Vec<RecordEvent>) {
        if typ != content_type::HANDSHAKE && !self.handshake.is_empty() {
            return self.stop(events, RecordEvent::Invalid(RecordError::Interleaved(typ)));
        }
        match typ {
            content_type::HANDSHAKE => self.on_handshake_bytes(body, events),
            content_type::ALERT => match body {
                [level, description] => events.push(RecordEvent::Alert(Alert {
                    level: *level,
                    description: *description,
                })),
                _ => self.stop(
                    events,
                    RecordEvent::Invalid(RecordError::BadAlert(body.len())),
                ),
            },
            content_type::CHANGE_CIPHER_SPEC => {
                if body == [1] {
                    events.push(RecordEvent::ChangeCipherSpec);
                    if !self.tls13 {
                        self.after_ccs = true;
                    }
                } else {
                    self.stop(
                        events,
                        RecordEvent::Invalid(RecordError::BadChangeCipherSpec),
                    );
                }
            }
            // Heartbeat records carry nothing this parser describes.
            _ => {}
        }
    }

    fn on_handshake_bytes(&mut self, body: &[u8], events: &mut Vec<RecordEvent>) {
        self.handshake.extend_from_slice(body);
        loop {
            let mut c = Cursor::new(&self.handshake);
            let (Some(msg_type), Some(len)) = (c.u8(), c.u24()) else {
                return;
            };
            if len > self.max_handshake_len {
                let limit = self.max_handshake_len;
                return self.stop(
                    events,
                    RecordEvent::Invalid(RecordError::HandshakeTooLong { len, limit }),
                );
            }
            let Some(body) = c.take(len) else {
                return;
            };
            let msg = HandshakeMessage {
                msg_type,
                body: body.to_vec(),
            };
            let used = c.pos();
            self.handshake.drain(..used);
            if msg_type == handshake_type::SERVER_HELLO {
                if let Ok(hello) = ServerHello::parse(&msg.body) {
                    if hello.selected_version() == Some(0x0304) {
                        self.tls13 = true;
                    }
                }
            }
            events.push(RecordEvent::Handshake(msg));
        }
    }
}

/// Printable ASCII, tabs and line ends.
pub(crate) fn is_text(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .all(|&b| b == b'\r' || b == b'\n' || b == b'\t' || (0x20..0x7f).contains(&b))
}

/// Finds record boundaries in a stream fed in any split, so that a caller can hand data to
/// two consumers one record at a time (and know which record made one of them fail).
#[derive(Clone, Debug, Default)]
pub struct RecordSplitter {
    header: [u8; RECORD_HEADER_LEN],
    header_len: usize,
    body_left: usize,
}

impl RecordSplitter {
    /// How many bytes of `data` (the continuation of the stream) reach up to and including
    /// the end of the current record; all of `data` when it ends first. At least 1 for
    /// non-empty `data`.
    pub fn next_chunk(&mut self, data: &[u8]) -> usize {
        let mut used = 0;
        while used < data.len() {
            if self.header_len < RECORD_HEADER_LEN {
                if let (Some(slot), Some(b)) =
                    (self.header.get_mut(self.header_len), data.get(used))
                {
                    *slot = *b;
                }
                self.header_len += 1;
                used += 1;
                if self.header_len == RECORD_HEADER_LEN {
                    let [_, _, _, hi, lo] = self.header;
                    self.body_left = usize::from(u16::from_be_bytes([hi, lo]));
                    if self.body_left == 0 {
                        self.header_len = 0;
                        return used;
                    }
                }
            } else {
                let n = self.body_left.min(data.len() - used);
                used += n;
                self.body_left -= n;
                if self.body_left == 0 {
                    self.header_len = 0;
                    return used;
                }
            }
        }
        used
    }
}

/// A malformed handshake message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed {0}")]
pub struct MessageError(pub &'static str);

/// The special random of a HelloRetryRequest (RFC 8446, 4.1.3).
const HELLO_RETRY_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// A parsed ServerHello (any version).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerHello {
    pub legacy_version: u16,
    pub random: [u8; 32],
    pub session_id: Vec<u8>,
    pub cipher_suite: u16,
    pub compression_method: u8,
    /// (type, data) in the order sent; absent before TLS 1.2 servers that send none.
    pub extensions: Vec<(u16, Vec<u8>)>,
}

impl ServerHello {
    pub fn parse(body: &[u8]) -> Result<Self, MessageError> {
        let err = || MessageError("ServerHello");
        let mut c = Cursor::new(body);
        let legacy_version = c.u16().ok_or_else(err)?;
        let random: [u8; 32] = c.take(32).and_then(|r| r.try_into().ok()).ok_or_else(err)?;
        let session_id = c.vec8().ok_or_else(err)?.to_vec();
        let cipher_suite = c.u16().ok_or_else(err)?;
        let compression_method = c.u8().ok_or_else(err)?;
        let mut extensions = Vec::new();
        if !c.is_empty() {
            let mut ext = Cursor::new(c.vec16().ok_or_else(err)?);
            while !ext.is_empty() {
                let typ = ext.u16().ok_or_else(err)?;
                let data = ext.vec16().ok_or_else(err)?;
                extensions.push((typ, data.to_vec()));
            }
        }
        if !c.is_empty() {
            return Err(err());
        }
        Ok(Self {
            legacy_version,
            random,
            session_id,
            cipher_suite,
            compression_method,
            extensions,
        })
    }

    /// The version chosen with the supported_versions extension (TLS 1.3), if any.
    pub fn selected_version(&self) -> Option<u16> {
        self.extensions
            .iter()
            .find(|(t, _)| *t == 43)
            .and_then(|(_, d)| Cursor::new(d).u16())
    }

    /// The negotiated version: supported_versions when present, else legacy_version.
    pub fn version(&self) -> u16 {
        self.selected_version().unwrap_or(self.legacy_version)
    }

    pub fn is_hello_retry_request(&self) -> bool {
        self.random == HELLO_RETRY_RANDOM
    }

    /// The downgrade sentinel of RFC 8446 4.1.3 in the random: a TLS 1.3 server that was
    /// offered less than it supports names the version it negotiated instead.
    pub fn downgrade_sentinel(&self) -> Option<String> {
        match self.random.get(24..) {
            Some(b"DOWNGRD\x01") => Some(version_name(0x0303)),
            Some(b"DOWNGRD\x00") => Some("TLSv1.1 or below".to_owned()),
            _ => None,
        }
    }
}

/// A parsed ClientHello (used to record what we sent and to test the legacy hello).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientHello {
    pub legacy_version: u16,
    pub random: [u8; 32],
    pub session_id: Vec<u8>,
    pub cipher_suites: Vec<u16>,
    pub compression_methods: Vec<u8>,
    /// (type, data) in the order sent.
    pub extensions: Vec<(u16, Vec<u8>)>,
}

impl ClientHello {
    pub fn parse(body: &[u8]) -> Result<Self, MessageError> {
        let err = || MessageError("ClientHello");
        let mut c = Cursor::new(body);
        let legacy_version = c.u16().ok_or_else(err)?;
        let random: [u8; 32] = c.take(32).and_then(|r| r.try_into().ok()).ok_or_else(err)?;
        let session_id = c.vec8().ok_or_else(err)?.to_vec();
        let suites = c.vec16().ok_or_else(err)?;
        if suites.len() % 2 != 0 {
            return Err(err());
        }
        let cipher_suites = crate::wire::u16s(suites).collect();
        let compression_methods = c.vec8().ok_or_else(err)?.to_vec();
        let mut extensions = Vec::new();
        if !c.is_empty() {
            let mut ext = Cursor::new(c.vec16().ok_or_else(err)?);
            while !ext.is_empty() {
                let typ = ext.u16().ok_or_else(err)?;
                let data = ext.vec16().ok_or_else(err)?;
                extensions.push((typ, data.to_vec()));
            }
        }
        if !c.is_empty() {
            return Err(err());
        }
        Ok(Self {
            legacy_version,
            random,
            session_id,
            cipher_suites,
            compression_methods,
            extensions,
        })
    }

    /// The data of the first extension of type `typ`.
    pub fn extension(&self, typ: u16) -> Option<&[u8]> {
        self.extensions
            .iter()
            .find(|(t, _)| *t == typ)
            .map(|(_, d)| d.as_slice())
    }

    /// The host name of the server_name extension.
    pub fn server_name(&self) -> Option<String> {
        server_name_of(self.extension(0)?)
    }
}

/// The first host_name of a server_name extension's data.
pub(crate) fn server_name_of(data: &[u8]) -> Option<String> {
    let mut c = Cursor::new(data);
    let mut list = Cursor::new(c.vec16()?);
    while !list.is_empty() {
        let typ = list.u8()?;
        let name = list.vec16()?;
        if typ == 0 {
            return Some(String::from_utf8_lossy(name).into_owned());
        }
    }
    None
}

/// The certificates of a TLS <= 1.2 Certificate message, in the order sent.
pub fn parse_certificate_list(body: &[u8]) -> Result<Vec<Vec<u8>>, MessageError> {
    let err = || MessageError("Certificate");
    let mut c = Cursor::new(body);
    let mut list = Cursor::new(c.vec24().ok_or_else(err)?);
    if !c.is_empty() {
        return Err(err());
    }
    let mut certs = Vec::new();
    while !list.is_empty() {
        certs.push(list.vec24().ok_or_else(err)?.to_vec());
    }
    Ok(certs)
}

#[cfg(test)]
mod tests;
