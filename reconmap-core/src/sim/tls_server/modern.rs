//! `modern`: a rustls server fed one record at a time, with Postfix's SMTP inside TLS.
use super::incoming::{Incoming, Next};
use super::{TlsAnswer, TlsClose};
use crate::scenario::server_text::{ServerText, HOSTNAME};
use rustls::{ServerConfig, ServerConnection};
use std::io::{Read as _, Write as _};
use std::sync::Arc;

/// Longest command line kept (Postfix's `line_length_limit`); a longer one is answered as
/// unknown and dropped.
const LINE_LIMIT: usize = 2048;
/// Postfix's answer to STARTTLS inside TLS.
const TLS_ALREADY_ACTIVE: &str = "554 5.5.1 Error: TLS already active\r\n";

/// A TLS 1.2/1.3 server that answers like the lab's Postfix.
#[derive(Debug)]
pub(super) struct ModernServer {
    conn: ServerConnection,
    incoming: Incoming,
    /// Plaintext of the command being received.
    line: Vec<u8>,
    text: ServerText,
    closed: bool,
}

impl ModernServer {
    pub(super) fn new(config: &Arc<ServerConfig>) -> Result<Self, rustls::Error> {
        Ok(Self {
            conn: ServerConnection::new(Arc::clone(config))?,
            incoming: Incoming::default(),
            line: Vec::new(),
            // Inside TLS Postfix no longer offers STARTTLS.
            text: ServerText::new(HOSTNAME, false),
            closed: false,
        })
    }

    pub(super) fn is_established(&self) -> bool {
        !self.conn.is_handshaking()
    }

    pub(super) fn is_closed(&self) -> bool {
        self.closed
    }

    pub(super) fn received(&mut self, data: &[u8]) -> TlsAnswer {
        let mut answer = TlsAnswer::default();
        if self.closed {
            return answer;
        }
        self.incoming.push(data);
        loop {
            let record = match self.incoming.next() {
                Next::Incomplete => return answer,
                // rustls refuses the length (with an alert, as OpenSSL: record_overflow).
                Next::Record(record) | Next::TooLong(record) => record,
                // OpenSSL: "wrong version number", no alert; Postfix closes.
                Next::NotTls => {
                    self.closed = true;
                    return answer.closing(self.incoming.close());
                }
            };
            if let Err(close) = self.read_record(&record, &mut answer) {
                self.closed = true;
                return answer.closing(close);
            }
        }
    }

    /// Hands one record to rustls and acts on what it yields; `Err` when the server closes.
    fn read_record(&mut self, record: &[u8], answer: &mut TlsAnswer) -> Result<(), TlsClose> {
        let mut input = record;
        while !input.is_empty() {
            match self.conn.read_tls(&mut input) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        let state = self.conn.process_new_packets();
        // The handshake flight, a session ticket, or the alert of a failure.
        answer.write(self.take_output());
        let state = match state {
            Ok(s) => s,
            // Postfix: "SSL_accept error", then it closes.
            Err(_) => return Err(self.incoming.close()),
        };
        if state.plaintext_bytes_to_read() > 0 {
            let mut buf = vec![0; state.plaintext_bytes_to_read()];
            let n = self.conn.reader().read(&mut buf).unwrap_or(0);
            self.line
                .extend_from_slice(buf.get(..n).unwrap_or_default());
            self.answer_lines(answer)?;
        }
        if state.peer_has_closed() {
            // close_notify without QUIT: Postfix sees "lost connection" and closes (no
            // close_notify of its own).
            return Err(self.incoming.close());
        }
        Ok(())
    }

    /// Answers every whole command line received.
    fn answer_lines(&mut self, answer: &mut TlsAnswer) -> Result<(), TlsClose> {
        while let Some(pos) = self.line.iter().position(|&b| b == b'\n') {
            let raw: Vec<u8> = self.line.drain(..=pos).collect();
            let line = raw
                .strip_suffix(b"\n")
                .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
                .unwrap_or(&raw);
            let verb = line.split(|&b| b == b' ').next().unwrap_or_default();
            let is = |w: &[u8]| verb.eq_ignore_ascii_case(w);
            let reply = if is(b"QUIT") {
                self.text.quit_reply.to_string()
            } else if is(b"EHLO") {
                self.text.ehlo_reply.clone()
            } else if is(b"HELO") {
                format!("250 {HOSTNAME}\r\n")
            } else if is(b"STARTTLS") {
                TLS_ALREADY_ACTIVE.to_string()
            } else {
                self.text.unknown_reply.to_string()
            };
            self.send_app(reply.as_bytes(), answer);
            if is(b"QUIT") {
                // 221, then close_notify (its own write), then close.
                self.conn.send_close_notify();
                answer.write(self.take_output());
                return Err(self.incoming.close());
            }
        }
        if self.line.len() > LINE_LIMIT {
            self.line.clear();
            let reply = self.text.unknown_reply;
            self.send_app(reply.as_bytes(), answer);
        }
        Ok(())
    }

    fn send_app(&mut self, bytes: &[u8], answer: &mut TlsAnswer) {
        if self.conn.writer().write_all(bytes).is_ok() {
            answer.write(self.take_output());
        }
    }

    /// Everything rustls wants to send now.
    fn take_output(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut out) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        out
    }
}
