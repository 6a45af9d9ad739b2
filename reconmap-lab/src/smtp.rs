//! A kernel-socket SMTP client for lab self-tests and as the reference for benchmarks. Replies
//! are parsed with ReconMap's reply parser, and the raw bytes are kept as well: self-tests that
//! state a scenario's truth assert on the raw text, so they do not share a parser bug with the
//! prober.
use std::io::{Read, Write};
use std::net::{SocketAddr, SocketAddrV4, TcpStream};
use std::time::Duration;

use reconmap_core::smtp::{advertises_starttls, Reply, ReplyLimits, ReplyParser};

use crate::LabError;

/// The server's replies in one session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SmtpTranscript {
    /// The greeting (banner) reply.
    pub banner: Option<Reply>,
    /// The reply to EHLO.
    pub ehlo: Option<Reply>,
    /// The reply to STARTTLS, if it was sent.
    pub starttls: Option<Reply>,
    /// Every byte the server sent, as text (lossy).
    pub raw: String,
}

impl SmtpTranscript {
    /// Whether the EHLO reply advertises STARTTLS (exact keyword, any case).
    pub fn offers_starttls(&self) -> bool {
        self.ehlo.as_ref().is_some_and(advertises_starttls)
    }

    /// The code of the STARTTLS reply, if one came.
    pub fn starttls_code(&self) -> Option<u16> {
        self.starttls.as_ref().map(|r| r.code)
    }

    /// Whether the server sent this exact line (without its CRLF).
    pub fn has_line(&self, line: &str) -> bool {
        self.raw.split("\r\n").any(|l| l == line)
    }
}

/// Reads replies from a stream, one at a time.
struct Replies<'a> {
    stream: &'a mut TcpStream,
    parser: ReplyParser,
    ready: std::collections::VecDeque<Reply>,
    raw: Vec<u8>,
}

impl Replies<'_> {
    fn next(&mut self) -> std::io::Result<Reply> {
        let mut buf = [0u8; 4096];
        loop {
            if let Some(r) = self.ready.pop_front() {
                return Ok(r);
            }
            let n = self.stream.read(&mut buf)?;
            if n == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "connection closed mid-reply",
                ));
            }
            let chunk = buf.get(..n).unwrap_or_default();
            self.raw.extend_from_slice(chunk);
            let fed = self.parser.feed(chunk);
            self.ready.extend(fed.replies);
            if let Some(e) = fed.error {
                return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e));
            }
        }
    }
}

/// Connects to `target` from the calling thread's namespace, reads the banner, sends EHLO and,
/// when `starttls`, the STARTTLS command (TLS is not negotiated), then QUIT.
pub fn smtp_session(
    target: SocketAddrV4,
    ehlo: &str,
    starttls: bool,
    timeout: Duration,
) -> Result<SmtpTranscript, LabError> {
    let io = |what: &str| {
        let what = format!("{what} ({target})");
        move |source| LabError::Io { what, source }
    };
    if ehlo.contains(['\r', '\n']) {
        return Err(LabError::Smtp(format!(
            "EHLO name {ehlo:?} contains a line break"
        )));
    }
    let mut stream =
        TcpStream::connect_timeout(&SocketAddr::V4(target), timeout).map_err(io("connect"))?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(io("set timeout"))?;
    stream
        .set_write_timeout(Some(timeout))
        .map_err(io("set timeout"))?;
    let mut writer = stream.try_clone().map_err(io("clone socket"))?;
    let mut replies = Replies {
        stream: &mut stream,
        parser: ReplyParser::new(ReplyLimits::default()),
        ready: Default::default(),
        raw: Vec::new(),
    };
    let mut t = SmtpTranscript {
        banner: Some(replies.next().map_err(io("read banner"))?),
        ..SmtpTranscript::default()
    };
    writer
        .write_all(format!("EHLO {ehlo}\r\n").as_bytes())
        .map_err(io("send EHLO"))?;
    t.ehlo = Some(replies.next().map_err(io("read EHLO reply"))?);
    if starttls {
        writer
            .write_all(b"STARTTLS\r\n")
            .map_err(io("send STARTTLS"))?;
        let reply = replies.next().map_err(io("read STARTTLS reply"))?;
        let ready = reply.code == 220;
        t.starttls = Some(reply);
        if ready {
            // The server now expects a TLS ClientHello: just close.
            t.raw = String::from_utf8_lossy(&replies.raw).into_owned();
            return Ok(t);
        }
    }
    let _ = writer.write_all(b"QUIT\r\n");
    let _ = replies.next();
    t.raw = String::from_utf8_lossy(&replies.raw).into_owned();
    Ok(t)
}
