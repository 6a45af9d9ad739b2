//! What the scenario's mail server says: the exact bytes of the lab's Postfix 3.7 (its banner
//! and EHLO reply with the lab's main.cf), which the lab's middlebox rules key on and the
//! simulator's server repeats.

/// Host name of every lab server (also in its banner).
pub const HOSTNAME: &str = "mx.lab.example";

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
