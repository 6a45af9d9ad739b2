//! The server's side of a TLS connection as far as it is in clear text: the ServerHello, a
//! TLS <= 1.2 certificate chain, alerts and how far the handshake got. Fed with every byte the
//! server sends, independently of (and even after the failure of) the real TLS client.
use crate::names::{cipher_name, extension_name, version_name};
use crate::observations::{HandshakeStep, ServerHelloInfo};
use crate::records::{
    handshake_type, parse_certificate_list, Alert, RecordError, RecordEvent, RecordReader,
    ServerHello,
};

#[derive(Clone, Debug)]
pub(crate) struct ServerView {
    reader: RecordReader,
    /// The last ServerHello (after a HelloRetryRequest, the real one).
    hello: Option<ServerHello>,
    saw_retry_request: bool,
    /// The clear-text Certificate message's chain (TLS <= 1.2).
    chain: Option<Vec<Vec<u8>>>,
    step: Option<HandshakeStep>,
    /// The first alert the server sent in clear.
    alert: Option<Alert>,
    hello_done: bool,
    /// Why the clear-text stream could not be followed.
    problem: Option<String>,
    /// The first bytes of the stream, to quote a text answer.
    head: Vec<u8>,
    not_tls: bool,
}

/// Bytes of the stream kept to quote a text answer.
const HEAD_LEN: usize = 128;

impl ServerView {
    pub(crate) fn new(max_handshake_len: usize) -> Self {
        Self {
            reader: RecordReader::new(max_handshake_len),
            hello: None,
            saw_retry_request: false,
            chain: None,
            step: None,
            alert: None,
            hello_done: false,
            problem: None,
            head: Vec::new(),
            not_tls: false,
        }
    }

    pub(crate) fn feed(&mut self, data: &[u8]) {
        let room = HEAD_LEN.saturating_sub(self.head.len());
        self.head.extend(data.iter().take(room));
        for event in self.reader.feed(data) {
            match event {
                RecordEvent::Handshake(msg) => self.on_message(msg.msg_type, &msg.body),
                RecordEvent::Alert(a) => {
                    self.alert.get_or_insert(a);
                }
                RecordEvent::ChangeCipherSpec => {}
                RecordEvent::Encrypted { content_type } => {
                    // In TLS <= 1.2 the first encrypted handshake record after the server's
                    // ChangeCipherSpec is its Finished.
                    if self.reader.after_change_cipher_spec()
                        && content_type == crate::records::content_type::HANDSHAKE
                    {
                        self.reach(HandshakeStep::Finished);
                    }
                }
                RecordEvent::Invalid(e) => {
                    self.not_tls = matches!(e, RecordError::NotTls(_));
                    self.problem = Some(e.to_string());
                }
            }
        }
    }

    fn on_message(&mut self, typ: u8, body: &[u8]) {
        match typ {
            handshake_type::SERVER_HELLO => match ServerHello::parse(body) {
                Ok(hello) => {
                    self.saw_retry_request |= hello.is_hello_retry_request();
                    self.hello = Some(hello);
                    self.reach(HandshakeStep::ServerHello);
                }
                Err(e) => self.problem = Some(e.to_string()),
            },
            handshake_type::CERTIFICATE => {
                self.reach(HandshakeStep::Certificate);
                match parse_certificate_list(body) {
                    Ok(chain) => {
                        self.chain.get_or_insert(chain);
                    }
                    Err(e) => self.problem = Some(e.to_string()),
                }
            }
            handshake_type::SERVER_KEY_EXCHANGE | handshake_type::CERTIFICATE_REQUEST => {
                self.reach(HandshakeStep::KeyExchange);
            }
            handshake_type::SERVER_HELLO_DONE => {
                self.reach(HandshakeStep::KeyExchange);
                self.hello_done = true;
            }
            _ => {}
        }
    }

    fn reach(&mut self, step: HandshakeStep) {
        self.step = Some(self.step.map_or(step, |s| s.max(step)));
    }

    pub(crate) fn step(&self) -> Option<HandshakeStep> {
        self.step
    }

    pub(crate) fn hello(&self) -> Option<&ServerHello> {
        self.hello.as_ref()
    }

    pub(crate) fn chain(&self) -> Option<&[Vec<u8>]> {
        self.chain.as_deref()
    }

    pub(crate) fn alert(&self) -> Option<Alert> {
        self.alert
    }

    pub(crate) fn hello_done(&self) -> bool {
        self.hello_done
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.reader.is_stopped()
    }

    /// Why the clear-text stream could not be followed; a text answer is quoted (its first
    /// line, as far as received).
    pub(crate) fn problem(&self) -> Option<String> {
        if self.not_tls {
            let line = self.head.split(|b| *b == b'\n').next().unwrap_or_default();
            let line = String::from_utf8_lossy(line);
            return Some(format!(
                "not TLS: the server sent text {:?}",
                line.trim_end()
            ));
        }
        self.problem.clone()
    }

    pub(crate) fn hello_info(&self) -> Option<ServerHelloInfo> {
        let h = self.hello.as_ref()?;
        Some(ServerHelloInfo {
            version: version_name(h.version()),
            legacy_version: version_name(h.legacy_version),
            cipher: cipher_name(h.cipher_suite),
            hello_retry_request: self.saw_retry_request,
            downgrade_sentinel: h.downgrade_sentinel(),
            extensions: h
                .extensions
                .iter()
                .map(|(t, _)| extension_name(*t))
                .collect(),
        })
    }
}
