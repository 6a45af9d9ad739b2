//! A kernel-socket SMTP client for lab self-tests and as a reference for benchmarks.
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, SocketAddrV4, TcpStream};
use std::time::Duration;

use crate::LabError;

/// Longest reply line accepted (RFC 5321 allows 512; masked lines keep their length).
const MAX_LINE: usize = 4096;
/// Most lines in one reply.
const MAX_LINES: usize = 100;

/// The server's replies in one session, lines without their CRLF.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SmtpTranscript {
    /// The greeting (banner) reply.
    pub banner: Vec<String>,
    /// The reply to EHLO.
    pub ehlo: Vec<String>,
    /// The reply to STARTTLS, if it was sent.
    pub starttls: Option<Vec<String>>,
}

impl SmtpTranscript {
    /// Whether the EHLO reply advertises STARTTLS (exact keyword, any case).
    pub fn offers_starttls(&self) -> bool {
        self.ehlo.iter().any(|l| {
            l.get(4..)
                .is_some_and(|k| k.trim().eq_ignore_ascii_case("STARTTLS"))
        })
    }

    /// The three-digit code of the STARTTLS reply, if it has one.
    pub fn starttls_code(&self) -> Option<u16> {
        self.starttls.as_ref().and_then(|r| reply_code(r))
    }
}

/// The three-digit code of a reply's last line, if it is all digits.
pub fn reply_code(lines: &[String]) -> Option<u16> {
    lines.last()?.get(..3)?.parse().ok()
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
    let stream =
        TcpStream::connect_timeout(&SocketAddr::V4(target), timeout).map_err(io("connect"))?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(io("set timeout"))?;
    stream
        .set_write_timeout(Some(timeout))
        .map_err(io("set timeout"))?;
    let mut writer = stream.try_clone().map_err(io("clone socket"))?;
    let mut reader = BufReader::new(stream);
    let mut transcript = SmtpTranscript {
        banner: read_reply(&mut reader).map_err(io("read banner"))?,
        ..SmtpTranscript::default()
    };
    writer
        .write_all(format!("EHLO {ehlo}\r\n").as_bytes())
        .map_err(io("send EHLO"))?;
    transcript.ehlo = read_reply(&mut reader).map_err(io("read EHLO reply"))?;
    if starttls {
        writer
            .write_all(b"STARTTLS\r\n")
            .map_err(io("send STARTTLS"))?;
        let reply = read_reply(&mut reader).map_err(io("read STARTTLS reply"))?;
        let ready = reply_code(&reply) == Some(220);
        transcript.starttls = Some(reply);
        if ready {
            // The server now expects a TLS ClientHello: just close.
            return Ok(transcript);
        }
    }
    let _ = writer.write_all(b"QUIT\r\n");
    let _ = read_reply(&mut reader);
    Ok(transcript)
}

/// Reads one (possibly multi-line) reply: it ends at a line whose 4th byte is a space or that
/// is only three bytes long.
fn read_reply<R: BufRead>(reader: &mut R) -> std::io::Result<Vec<String>> {
    let mut lines = Vec::new();
    loop {
        let mut raw = Vec::new();
        let n = std::io::Read::take(&mut *reader, MAX_LINE as u64).read_until(b'\n', &mut raw)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed mid-reply",
            ));
        }
        let line = String::from_utf8_lossy(&raw)
            .trim_end_matches(['\r', '\n'])
            .to_owned();
        let last = line.len() == 3 || line.as_bytes().get(3) == Some(&b' ');
        lines.push(line);
        if last {
            return Ok(lines);
        }
        if lines.len() >= MAX_LINES {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "reply has too many lines",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_line_replies_end_at_space() {
        let mut input: &[u8] = b"250-a\r\n250-STARTTLS\r\n250 X\r\n220 next\r\n";
        let r = read_reply(&mut input).expect("reply");
        assert_eq!(r.len(), 3);
        assert_eq!(reply_code(&r), Some(250));
        let t = SmtpTranscript {
            ehlo: r,
            ..Default::default()
        };
        assert!(t.offers_starttls());
        let mut masked: &[u8] = b"250-XXXXXXXX\r\n250 X\r\n";
        let t = SmtpTranscript {
            ehlo: read_reply(&mut masked).expect("reply"),
            ..Default::default()
        };
        assert!(!t.offers_starttls());
    }

    #[test]
    fn truncated_reply_is_an_error() {
        let mut input: &[u8] = b"250-a\r\n";
        assert!(read_reply(&mut input).is_err());
    }
}
