//! TLS as the wire shows it, read by hand from the bytes (RFC 5246 / RFC 8446 framing): the
//! records of one direction, the ClientHello's cipher suite list, the ServerHello's version and
//! suite, plaintext alerts. Nothing here comes from ReconMap.
use std::fmt;

/// Record content types.
pub const CHANGE_CIPHER_SPEC: u8 = 20;
pub const ALERT: u8 = 21;
pub const HANDSHAKE: u8 = 22;
/// Handshake message types.
pub const CLIENT_HELLO: u8 = 1;
pub const SERVER_HELLO: u8 = 2;
/// Extension `supported_versions`.
const SUPPORTED_VERSIONS: u16 = 43;
/// Record header: type, version, length.
const RECORD_HEADER: usize = 5;

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// One TLS record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub content_type: u8,
    pub version: u16,
    pub body: Vec<u8>,
}

/// The whole records at the start of `bytes` (a record cut by the capture's end is left out).
pub fn records(bytes: &[u8]) -> Vec<Record> {
    let mut out = Vec::new();
    let mut at = 0;
    while let (Some(&content_type), Some(version), Some(len)) =
        (bytes.get(at), be16(bytes, at + 1), be16(bytes, at + 3))
    {
        let start = at + RECORD_HEADER;
        let Some(body) = bytes.get(start..start + usize::from(len)) else {
            break;
        };
        out.push(Record {
            content_type,
            version,
            body: body.to_vec(),
        });
        at = start + usize::from(len);
    }
    out
}

/// What a record says, for the log and the checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    ServerHello(ServerHello),
    /// Another handshake message (type), or the first of several in the record.
    Handshake(u8),
    /// A plaintext alert (level, description).
    Alert(u8, u8),
    /// A record after the sender's ChangeCipherSpec: encrypted (its content type).
    Encrypted(u8),
    ChangeCipherSpec,
    /// Application data (the encrypted handshake of TLS 1.3 too), ...
    Other(u8),
}

/// What each record of one direction says: after that direction's ChangeCipherSpec every
/// record is encrypted.
pub fn messages(records: &[Record]) -> Vec<Message> {
    let mut encrypted = false;
    records
        .iter()
        .map(|r| {
            if encrypted {
                return Message::Encrypted(r.content_type);
            }
            encrypted = r.content_type == CHANGE_CIPHER_SPEC;
            r.message()
        })
        .collect()
}

impl Record {
    pub fn message(&self) -> Message {
        match (self.content_type, self.body.first()) {
            (HANDSHAKE, Some(&SERVER_HELLO)) => ServerHello::parse(&self.body)
                .map(Message::ServerHello)
                .unwrap_or(Message::Handshake(SERVER_HELLO)),
            (HANDSHAKE, Some(&t)) => Message::Handshake(t),
            (ALERT, Some(&level)) if self.body.len() == 2 => {
                Message::Alert(level, self.body.get(1).copied().unwrap_or_default())
            }
            (CHANGE_CIPHER_SPEC, _) => Message::ChangeCipherSpec,
            (t, _) => Message::Other(t),
        }
    }
}

/// The ServerHello's choices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHello {
    /// The negotiated version (`supported_versions` for TLS 1.3, else `legacy_version`).
    pub version: u16,
    pub suite: u16,
}

impl ServerHello {
    /// Parses a ServerHello handshake message (type, 3-byte length, body).
    fn parse(message: &[u8]) -> Option<ServerHello> {
        let body = message.get(4..)?;
        let legacy_version = be16(body, 0)?;
        let sid_len = usize::from(*body.get(34)?);
        let suite_at = 35 + sid_len;
        let suite = be16(body, suite_at)?;
        // suite (2), compression (1), extensions length (2).
        let mut at = suite_at + 3;
        let mut version = legacy_version;
        if let Some(ext_len) = be16(body, at) {
            at += 2;
            let end = at + usize::from(ext_len);
            while at + 4 <= end {
                let (typ, len) = (be16(body, at)?, usize::from(be16(body, at + 2)?));
                if typ == SUPPORTED_VERSIONS && len == 2 {
                    version = be16(body, at + 4)?;
                }
                at += 4 + len;
            }
        }
        Some(ServerHello { version, suite })
    }
}

/// Where the cipher suite list of a ClientHello record (at the start of `record`) lies: offset
/// of its first suite (in the record) and the suites.
pub fn client_hello_suites(record: &[u8]) -> Option<(usize, Vec<u16>)> {
    if (*record.first()?, *record.get(RECORD_HEADER)?) != (HANDSHAKE, CLIENT_HELLO) {
        return None;
    }
    // record header, handshake header (4), legacy_version (2), random (32)
    let sid_at = RECORD_HEADER + 4 + 2 + 32;
    let suites_len_at = sid_at + 1 + usize::from(*record.get(sid_at)?);
    let len = usize::from(be16(record, suites_len_at)?);
    let first = suites_len_at + 2;
    let suites = record
        .get(first..first + len)?
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    Some((first, suites))
}

/// Names for the log.
pub fn version_name(v: u16) -> String {
    match v {
        0x0300 => "SSLv3".into(),
        0x0301 => "TLSv1.0".into(),
        0x0302 => "TLSv1.1".into(),
        0x0303 => "TLSv1.2".into(),
        0x0304 => "TLSv1.3".into(),
        _ => format!("{v:#06x}"),
    }
}

pub fn alert_name(description: u8) -> &'static str {
    match description {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        40 => "handshake_failure",
        42 => "bad_certificate",
        47 => "illegal_parameter",
        50 => "decode_error",
        51 => "decrypt_error",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        109 => "missing_extension",
        _ => "other",
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Message::ServerHello(h) => write!(
                f,
                "ServerHello {} suite {:#06x}",
                version_name(h.version),
                h.suite
            ),
            Message::Handshake(t) => write!(f, "handshake type {t}"),
            Message::Alert(level, d) => write!(f, "alert level {level} {} ({d})", alert_name(*d)),
            Message::Encrypted(t) => write!(f, "encrypted record type {t}"),
            Message::ChangeCipherSpec => write!(f, "ChangeCipherSpec"),
            Message::Other(t) => write!(f, "record type {t}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ClientHello record with session id length `sid` and suites 0x1302, 0x1301.
    fn client_hello(sid: u8) -> Vec<u8> {
        let mut body = vec![0x03, 0x03];
        body.extend([0xab; 32]);
        body.push(sid);
        body.extend(std::iter::repeat_n(0x55, usize::from(sid)));
        body.extend([0x00, 0x04, 0x13, 0x02, 0x13, 0x01, 0x01, 0x00]);
        let mut hs = vec![CLIENT_HELLO, 0, 0, u8::try_from(body.len()).expect("len")];
        hs.extend(body);
        let mut rec = vec![HANDSHAKE, 3, 1, 0, u8::try_from(hs.len()).expect("len")];
        rec.extend(hs);
        rec
    }

    #[test]
    fn client_hello_suites_after_any_session_id() {
        for sid in [0, 32] {
            let r = client_hello(sid);
            let (at, suites) = client_hello_suites(&r).expect("hello");
            assert_eq!(at, 5 + 4 + 34 + 1 + usize::from(sid) + 2);
            assert_eq!(suites, [0x1302, 0x1301]);
            assert_eq!(r[at..at + 2], [0x13, 0x02]);
        }
        assert_eq!(client_hello_suites(b"STARTTLS\r\n"), None);
    }

    #[test]
    fn records_server_hello_with_supported_versions_and_alerts() {
        let mut sh = vec![0x03, 0x03];
        sh.extend([0x11; 32]);
        sh.push(0);
        sh.extend([0x13, 0x01, 0x00]);
        sh.extend([0x00, 0x06, 0x00, 0x2b, 0x00, 0x02, 0x03, 0x04]);
        let mut msg = vec![SERVER_HELLO, 0, 0, u8::try_from(sh.len()).expect("len")];
        msg.extend(sh);
        let mut bytes = vec![HANDSHAKE, 3, 3, 0, u8::try_from(msg.len()).expect("len")];
        bytes.extend(msg);
        bytes.extend([ALERT, 3, 1, 0, 2, 2, 70]);
        bytes.extend([ALERT, 3, 1, 0, 9]);
        let r = records(&bytes);
        assert_eq!(r.len(), 2, "the cut record is left out");
        assert_eq!(
            r[0].message(),
            Message::ServerHello(ServerHello {
                version: 0x0304,
                suite: 0x1301
            })
        );
        assert_eq!(r[1].message(), Message::Alert(2, 70));
        assert_eq!(
            r[1].message().to_string(),
            "alert level 2 protocol_version (70)"
        );
    }

    #[test]
    fn records_after_change_cipher_spec_are_encrypted() {
        let bytes = [
            CHANGE_CIPHER_SPEC,
            3,
            3,
            0,
            1,
            1, //
            HANDSHAKE,
            3,
            3,
            0,
            2,
            0xdc,
            0x01, //
            ALERT,
            3,
            3,
            0,
            2,
            1,
            0,
        ];
        assert_eq!(
            messages(&records(&bytes)),
            [
                Message::ChangeCipherSpec,
                Message::Encrypted(HANDSHAKE),
                Message::Encrypted(ALERT)
            ]
        );
    }
}
