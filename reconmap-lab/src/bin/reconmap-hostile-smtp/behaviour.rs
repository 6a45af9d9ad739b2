//! The behaviours of the hostile SMTP server and the exact bytes each one sends.
use std::time::Duration;

/// How the server misbehaves. Every behaviour is the normal session with one thing changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Behaviour {
    /// The base: banner, EHLO (PIPELINING, STARTTLS, 8BITMIME), STARTTLS -> 220 then wait for
    /// the client to close, QUIT -> 221 and close, anything else -> 500 quoting the line.
    Normal,
    /// Every reply is written one byte per --delay-ms (default 1000), TCP_NODELAY: one
    /// segment per byte.
    Drip,
    /// After the banner (same write), an endless stream of `250-` lines alternating with
    /// 100,000-byte `250-AAAA...` lines; never a final line. Ends when the client goes.
    Flood,
    /// Accepts the connection (the kernel completes the handshake) and never sends a byte;
    /// reads and discards until the client closes.
    Mute,
    /// Normal until STARTTLS; the STARTTLS segment is ACKed by the kernel but never answered.
    MuteAfterStarttls,
    /// Answers STARTTLS (220) only after --delay-ms (default 1000).
    SlowStarttls,
    /// Answers STARTTLS with `220 2.0.0 Ready to start TLS` in the same segment as the FIN.
    #[value(name = "fin-with-reply-220")]
    FinWithReply220,
    /// Answers STARTTLS with `500 5.5.1 Command unrecognized: "XXXXXXXX"` (as if the command
    /// had been rewritten on the way) in the same segment as the FIN.
    #[value(name = "fin-with-reply-500")]
    FinWithReply500,
    /// Answers QUIT with `221 2.0.0 Bye` in the same segment as the FIN, as Exim does.
    FinWithQuit,
    /// Every reply is cut at pseudo-random byte positions (from --seed; every connection
    /// gets the same cuts) into 2-4 writes, TCP_NODELAY, --delay-ms (default 5) apart: one
    /// segment per piece.
    Split,
    /// The banner is followed in the same write (one segment) by a malformed line `abc`.
    GarbageAfterReply,
    /// Answers EHLO with `421 4.7.0 Try again later` and closes.
    #[value(name = "reply-421-to-ehlo")]
    Reply421ToEhlo,
    /// Sends the EHLO reply, then closes with SO_LINGER 0: a RST instead of a FIN.
    RstBeforeStarttls,
    /// A two-line banner whose first line is PIX-masked: `220-***** ***2**0*` then
    /// `220 hostile.lab ESMTP`.
    MaskedMultilineBanner,
    /// Banner and EHLO lines with a right-to-left override (U+202E), zero-width characters
    /// (U+200B), terminal escapes (ESC [ 31 m) and invalid UTF-8 (0xC0 0xAF, 0xFF 0xFE).
    /// The EHLO reply carries look-alikes of STARTTLS and the real keyword once.
    UnicodeTricks,
    /// EHLO without STARTTLS; STARTTLS -> `502 5.5.1 not implemented`.
    NoStarttls,
    /// listen(fd, 1) and one accept() per --delay-ms (default 1000), so the accept queue
    /// fills (see the README for what the kernel then does with SYNs and handshake ACKs).
    SmallBacklog,
}

pub use reconmap_core::scenario::server_text::hostile::*;

/// Longest client line echoed in a 500 reply (the rest is cut).
const MAX_ECHO: usize = 400;

impl Behaviour {
    /// The pause this behaviour uses when `--delay-ms` is not given (see each behaviour).
    pub fn default_delay(self) -> Duration {
        match self {
            Behaviour::Split => Duration::from_millis(5),
            _ => Duration::from_millis(1000),
        }
    }

    /// The first bytes the server sends.
    pub fn banner(self) -> &'static [u8] {
        match self {
            Behaviour::GarbageAfterReply => BANNER_WITH_GARBAGE,
            Behaviour::MaskedMultilineBanner => MASKED_BANNER,
            Behaviour::UnicodeTricks => UNICODE_BANNER,
            _ => BANNER,
        }
    }

    /// The reply to EHLO (for the behaviours that answer it with 250).
    pub fn ehlo_reply(self) -> &'static [u8] {
        match self {
            Behaviour::NoStarttls => EHLO_NO_STARTTLS,
            Behaviour::UnicodeTricks => UNICODE_EHLO,
            _ => EHLO_REPLY,
        }
    }
}

/// The reply to a command the server does not know, quoting the line as Sendmail does:
/// `500 5.5.1 Command unrecognized: "<line>"` (the client's bytes, cut at 400).
pub fn unrecognized(line: &[u8]) -> Vec<u8> {
    let quoted = line.get(..MAX_ECHO).unwrap_or(line);
    let mut reply = b"500 5.5.1 Command unrecognized: \"".to_vec();
    reply.extend_from_slice(quoted);
    reply.extend_from_slice(b"\"\r\n");
    reply
}

/// The SMTP commands the server tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Ehlo,
    Starttls,
    Quit,
    Other,
}

impl Command {
    /// The command of a client line (without its line end), by its first word, any case.
    pub fn of(line: &[u8]) -> Command {
        let verb = line.split(|&b| b == b' ').next().unwrap_or_default();
        if verb.eq_ignore_ascii_case(b"EHLO") {
            Command::Ehlo
        } else if verb.eq_ignore_ascii_case(b"STARTTLS") {
            Command::Starttls
        } else if verb.eq_ignore_ascii_case(b"QUIT") {
            Command::Quit
        } else {
            Command::Other
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_by_first_word_any_case() {
        assert_eq!(Command::of(b"ehlo client.example"), Command::Ehlo);
        assert_eq!(Command::of(b"StartTLS"), Command::Starttls);
        assert_eq!(Command::of(b"QUIT"), Command::Quit);
        assert_eq!(Command::of(b"XXXXXXXX"), Command::Other);
        assert_eq!(Command::of(b"EHLOX"), Command::Other);
        assert_eq!(Command::of(b""), Command::Other);
    }

    #[test]
    fn unrecognized_quotes_the_line_and_cuts_long_ones() {
        assert_eq!(unrecognized(b"XXXXXXXX"), REJECTED_XXXXXXXX.to_vec());
        let long = vec![b'a'; 1000];
        assert_eq!(unrecognized(&long).len(), MAX_ECHO + 36);
    }

    #[test]
    fn unicode_texts_carry_every_trick() {
        for text in [UNICODE_BANNER, UNICODE_EHLO] {
            assert!(std::str::from_utf8(text).is_err(), "invalid UTF-8");
            let has = |needle: &[u8]| text.windows(needle.len()).any(|w| w == needle);
            assert!(has("\u{202e}".as_bytes()) && has("\u{200b}".as_bytes()));
        }
        assert!(UNICODE_BANNER.windows(5).any(|w| w == b"\x1b[31m"));
        // The real keyword is offered once, on a line of its own.
        assert_eq!(
            UNICODE_EHLO
                .split(|&b| b == b'\n')
                .filter(|l| *l == b"250-STARTTLS\r")
                .count(),
            1
        );
    }
}
