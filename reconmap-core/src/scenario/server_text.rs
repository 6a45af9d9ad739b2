//! What the scenario's mail server says: the exact bytes of the lab's Postfix 3.7 (its banner
//! and EHLO reply with the lab's main.cf), which the lab's middlebox rules key on and the
//! simulator's server repeats.

/// Host name of every lab server (also in its banner).
pub const HOSTNAME: &str = "mx.lab.example";

/// What the lab's interception proxy (`reconmap-proxy --starttls refuse`) answers to STARTTLS
/// itself, the wording of ISP port-25 proxies.
pub const PROXY_REFUSAL: &str = "502 5.5.1 STARTTLS not supported\r\n";

/// The server's texts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerText {
    /// The 220 banner line with its CRLF.
    pub banner_line: String,
    /// The whole EHLO reply.
    pub ehlo_reply: String,
    /// Payload offset of `STARTTLS` in the EHLO reply (None without TLS).
    pub ehlo_starttls_offset: Option<usize>,
    /// The answer to STARTTLS.
    pub starttls_reply: &'static str,
    /// The answer to a command it does not know (Postfix does not echo the command).
    pub unknown_reply: &'static str,
    /// The answer to QUIT.
    pub quit_reply: &'static str,
}

impl ServerText {
    /// What Postfix 3.7 sends with the lab's main.cf.
    pub fn new(hostname: &str, tls: bool) -> Self {
        let banner_line = format!("220 {hostname} ESMTP ReconMap lab\r\n");
        let mut ehlo_reply = format!(
            "250-{hostname}\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n"
        );
        if tls {
            ehlo_reply.push_str("250-STARTTLS\r\n");
        }
        ehlo_reply.push_str(
            "250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n",
        );
        let ehlo_starttls_offset = ehlo_reply.find("STARTTLS");
        Self {
            banner_line,
            ehlo_reply,
            ehlo_starttls_offset,
            starttls_reply: if tls {
                "220 2.0.0 Ready to start TLS\r\n"
            } else {
                "502 5.5.1 Error: command not implemented\r\n"
            },
            unknown_reply: "500 5.5.2 Error: command not recognized\r\n",
            quit_reply: "221 2.0.0 Bye\r\n",
        }
    }
}

/// What `reconmap-hostile-smtp` (the lab's hostile server) says, byte for byte; the simulator's
/// hostile server repeats it.
pub mod hostile {
    /// The host name the server gives.
    pub const HOST: &str = "hostile.lab";
    /// The normal banner.
    pub const BANNER: &[u8] = b"220 hostile.lab ESMTP\r\n";
    /// The normal EHLO reply.
    pub const EHLO_REPLY: &[u8] =
        b"250-hostile.lab\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 8BITMIME\r\n";
    /// The EHLO reply of `no-starttls`.
    pub const EHLO_NO_STARTTLS: &[u8] = b"250-hostile.lab\r\n250-PIPELINING\r\n250 8BITMIME\r\n";
    /// The reply to STARTTLS.
    pub const TLS_READY: &[u8] = b"220 2.0.0 Ready to start TLS\r\n";
    /// The reply to QUIT.
    pub const BYE: &[u8] = b"221 2.0.0 Bye\r\n";
    /// The reply to STARTTLS of `fin-with-reply-500`.
    pub const REJECTED_XXXXXXXX: &[u8] = b"500 5.5.1 Command unrecognized: \"XXXXXXXX\"\r\n";
    /// The reply to STARTTLS of `no-starttls`.
    pub const NOT_IMPLEMENTED: &[u8] = b"502 5.5.1 not implemented\r\n";
    /// The reply to EHLO of `reply-421-to-ehlo`.
    pub const TRY_LATER: &[u8] = b"421 4.7.0 Try again later\r\n";
    /// The banner of `garbage-after-reply`.
    pub const BANNER_WITH_GARBAGE: &[u8] = b"220 hostile.lab ESMTP\r\nabc\r\n";
    /// The banner of `masked-multiline-banner`.
    pub const MASKED_BANNER: &[u8] = b"220-***** ***2**0*\r\n220 hostile.lab ESMTP\r\n";
    /// The banner of `unicode-tricks`: a zero-width space inside the host name, a red ESMTP, a
    /// right-to-left override that displays `SLTTRATS` as `STARTTLS`, and two invalid bytes.
    pub const UNICODE_BANNER: &[u8] =
        b"220 hostile\xe2\x80\x8b.lab \x1b[31mESMTP\x1b[0m \xe2\x80\xaeSLTTRATS\xe2\x80\xac \xff\xfe\r\n";
    /// The EHLO reply of `unicode-tricks`: look-alikes of STARTTLS (reversed under U+202E, split
    /// by U+200B), an escape-coloured keyword, an invalid-UTF-8 keyword, and the real STARTTLS.
    pub const UNICODE_EHLO: &[u8] = b"250-hostile\xe2\x80\x8b.lab\r\n\
    250-\x1b[31mPIPELINING\x1b[0m\r\n\
    250-\xe2\x80\xaeSLTTRATS\xe2\x80\xac\r\n\
    250-START\xe2\x80\x8bTLS\r\n\
    250-X-\xc0\xaf\xff\xfe\r\n\
    250-STARTTLS\r\n\
    250 8BITMIME\r\n";
}
