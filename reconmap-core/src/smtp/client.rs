//! The SMTP client session, sans-IO: banner, EHLO (HELO when EHLO is refused), STARTTLS (always
//! sent, even when not advertised: the advertisement may be what was masked), its answer, then
//! QUIT unless the server agreed to start TLS.
use super::observe::{advertises_starttls, banner_masked, echoed_rewrite, masked_keywords};
use super::reply::{Reply, ReplyError, ReplyLimits, ReplyParser};
use bytes::Bytes;
use serde::Serialize;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Hard limits on the server's side of the session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmtpLimits {
    pub max_line: usize,
    pub max_lines: usize,
    /// Total bytes the server may send in the session.
    pub max_bytes: usize,
    /// Longest silence while waiting for a reply (reset by every byte that arrives).
    pub reply_timeout: Duration,
    /// Longest session.
    pub session_timeout: Duration,
}

impl Default for SmtpLimits {
    fn default() -> Self {
        Self {
            max_line: 2048,
            max_lines: 100,
            max_bytes: 64 * 1024,
            reply_timeout: Duration::from_secs(30),
            session_timeout: Duration::from_secs(120),
        }
    }
}

/// What ended the session early.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmtpError {
    #[error("server reply rejected: {0}")]
    Reply(#[from] ReplyError),
    #[error("server sent more than {0} bytes")]
    TooMuchData(usize),
    #[error("no reply to {phase} within {limit:?}")]
    ReplyTimeout {
        phase: &'static str,
        limit: Duration,
    },
    #[error("session longer than {0:?}")]
    SessionTimeout(Duration),
    #[error("unexpected data from the server after the session ended")]
    Unexpected,
}

/// What the engine should do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SmtpAction {
    /// Send these bytes on the connection.
    Send(Bytes),
    /// Send the STARTTLS command: the engine runs the TTL sweep with it.
    SendStartTls(Bytes),
    /// The session is over: close the connection.
    Close,
}

/// Where the session is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpPhase {
    Banner,
    Ehlo,
    Helo,
    StartTls,
    Quit,
    Done,
}

impl SmtpPhase {
    fn name(self) -> &'static str {
        match self {
            SmtpPhase::Banner => "the banner",
            SmtpPhase::Ehlo => "EHLO",
            SmtpPhase::Helo => "HELO",
            SmtpPhase::StartTls => "STARTTLS",
            SmtpPhase::Quit => "QUIT",
            SmtpPhase::Done => "nothing",
        }
    }
}

/// Everything the session saw, kept as evidence.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SmtpObservations {
    pub banner: Option<Reply>,
    /// The banner is masked PIX-style (`220 *****`).
    pub banner_masked: bool,
    pub ehlo: Option<Reply>,
    /// EHLO was refused and HELO used instead.
    pub helo_fallback: bool,
    pub helo: Option<Reply>,
    pub starttls_advertised: bool,
    /// EHLO keywords masked with X (`XXXXXXXA`).
    pub masked_keywords: Vec<String>,
    /// Whether STARTTLS was sent (it always is once the greeting succeeded).
    pub starttls_sent: bool,
    pub starttls_reply: Option<Reply>,
    /// A rewritten command the reply quotes back (`"XXXXXXXX"`).
    pub starttls_echo: Option<String>,
    pub quit_reply: Option<Reply>,
    /// The server closed the connection (FIN) before the session ended.
    pub closed_by_server: Option<SmtpPhase>,
    /// What ended the session early, if anything.
    pub error: Option<String>,
}

/// The session state machine.
#[derive(Debug)]
pub struct SmtpClient {
    ehlo_name: String,
    limits: SmtpLimits,
    parser: ReplyParser,
    phase: SmtpPhase,
    /// The command whose reply we wait for was sent (STARTTLS: when the sweep went out).
    waiting_since: Option<Instant>,
    started: Instant,
    received: usize,
    actions: VecDeque<SmtpAction>,
    obs: SmtpObservations,
}

impl SmtpClient {
    pub fn new(ehlo_name: &str, limits: SmtpLimits, now: Instant) -> Self {
        let parser = ReplyParser::new(ReplyLimits {
            max_line: limits.max_line,
            max_lines: limits.max_lines,
        });
        Self {
            ehlo_name: ehlo_name.to_string(),
            limits,
            parser,
            phase: SmtpPhase::Banner,
            waiting_since: Some(now),
            started: now,
            received: 0,
            actions: VecDeque::new(),
            obs: SmtpObservations::default(),
        }
    }

    pub fn phase(&self) -> SmtpPhase {
        self.phase
    }

    pub fn is_done(&self) -> bool {
        self.phase == SmtpPhase::Done
    }

    pub fn observations(&self) -> &SmtpObservations {
        &self.obs
    }

    /// Whether the server has sent anything at all.
    pub fn received_any(&self) -> bool {
        self.received > 0
    }

    pub fn next_action(&mut self) -> Option<SmtpAction> {
        self.actions.pop_front()
    }

    /// Bytes from the server, in any split.
    pub fn feed(&mut self, now: Instant, data: &[u8]) -> Result<(), SmtpError> {
        if self.phase == SmtpPhase::Done {
            return Ok(());
        }
        self.received += data.len();
        // The reply timeout is an idle timeout: a server that keeps sending (slowly) is not
        // silent; the session's deadline still bounds the whole exchange.
        if self.waiting_since.is_some() && !data.is_empty() {
            self.waiting_since = Some(now);
        }
        if self.received > self.limits.max_bytes {
            return Err(self.fail(SmtpError::TooMuchData(self.limits.max_bytes)));
        }
        let fed = self.parser.feed(data);
        // Replies that completed before a malformed line still count.
        for r in fed.replies {
            self.on_reply(now, r);
        }
        match fed.error {
            Some(e) if self.phase != SmtpPhase::Done => Err(self.fail(e.into())),
            _ => Ok(()),
        }
    }

    /// The STARTTLS segment really left (the reply timer starts now).
    pub fn starttls_sent(&mut self, now: Instant) {
        self.obs.starttls_sent = true;
        if self.phase == SmtpPhase::StartTls {
            self.waiting_since = Some(now);
        }
    }

    /// The server closed the connection.
    pub fn peer_closed(&mut self, _now: Instant) {
        if self.phase != SmtpPhase::Done {
            if self.phase != SmtpPhase::Quit {
                self.obs.closed_by_server = Some(self.phase);
            }
            self.finish();
        }
    }

    /// When the current wait times out.
    pub fn poll_at(&self) -> Option<Instant> {
        if self.phase == SmtpPhase::Done {
            return None;
        }
        let session = self.started + self.limits.session_timeout;
        let reply = self.waiting_since.map(|t| t + self.limits.reply_timeout);
        Some(reply.map_or(session, |r| r.min(session)))
    }

    /// Checks the timers; a timeout ends the session with an error.
    pub fn on_timeout(&mut self, now: Instant) -> Result<(), SmtpError> {
        if self.phase == SmtpPhase::Done {
            return Ok(());
        }
        if now >= self.started + self.limits.session_timeout {
            return Err(self.fail(SmtpError::SessionTimeout(self.limits.session_timeout)));
        }
        if self
            .waiting_since
            .is_some_and(|t| now >= t + self.limits.reply_timeout)
        {
            let e = SmtpError::ReplyTimeout {
                phase: self.phase.name(),
                limit: self.limits.reply_timeout,
            };
            return Err(self.fail(e));
        }
        Ok(())
    }

    fn fail(&mut self, e: SmtpError) -> SmtpError {
        self.obs.error = Some(e.to_string());
        self.finish();
        e
    }

    fn finish(&mut self) {
        self.phase = SmtpPhase::Done;
        self.waiting_since = None;
        self.actions.push_back(SmtpAction::Close);
    }

    fn send(&mut self, now: Instant, line: String, phase: SmtpPhase) {
        self.actions.push_back(SmtpAction::Send(Bytes::from(line)));
        self.phase = phase;
        self.waiting_since = Some(now);
    }

    fn quit(&mut self, now: Instant) {
        self.send(now, "QUIT\r\n".to_string(), SmtpPhase::Quit);
    }

    fn start_tls(&mut self) {
        self.actions
            .push_back(SmtpAction::SendStartTls(Bytes::from_static(
                b"STARTTLS\r\n",
            )));
        self.phase = SmtpPhase::StartTls;
        // The reply timer starts when the engine reports the segment sent.
        self.waiting_since = None;
    }

    fn on_reply(&mut self, now: Instant, r: Reply) {
        match self.phase {
            SmtpPhase::Banner => {
                self.obs.banner_masked = banner_masked(&r);
                let ok = r.code == 220;
                self.obs.banner = Some(r);
                if ok {
                    let cmd = format!("EHLO {}\r\n", self.ehlo_name);
                    self.send(now, cmd, SmtpPhase::Ehlo);
                } else {
                    self.quit(now);
                }
            }
            SmtpPhase::Ehlo => {
                let code = r.code;
                if code == 250 {
                    self.obs.starttls_advertised = advertises_starttls(&r);
                    self.obs.masked_keywords = masked_keywords(&r);
                    self.obs.ehlo = Some(r);
                    self.start_tls();
                } else {
                    self.obs.ehlo = Some(r);
                    if (500..600).contains(&code) {
                        self.obs.helo_fallback = true;
                        let cmd = format!("HELO {}\r\n", self.ehlo_name);
                        self.send(now, cmd, SmtpPhase::Helo);
                    } else {
                        self.quit(now);
                    }
                }
            }
            SmtpPhase::Helo => {
                let ok = r.code == 250;
                self.obs.helo = Some(r);
                if ok {
                    self.start_tls();
                } else {
                    self.quit(now);
                }
            }
            SmtpPhase::StartTls => {
                self.obs.starttls_echo = echoed_rewrite(&r);
                let ready = r.code == 220;
                self.obs.starttls_reply = Some(r);
                if ready {
                    // The server now expects a TLS ClientHello; a cleartext QUIT would be
                    // garbage to it. Close the connection instead.
                    self.finish();
                } else {
                    self.quit(now);
                }
            }
            SmtpPhase::Quit => {
                self.obs.quit_reply = Some(r);
                self.finish();
            }
            SmtpPhase::Done => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(c: &mut SmtpClient) -> Vec<String> {
        std::iter::from_fn(|| c.next_action())
            .map(|a| match a {
                SmtpAction::Send(b) => String::from_utf8_lossy(&b).into_owned(),
                SmtpAction::SendStartTls(b) => format!("sweep:{}", String::from_utf8_lossy(&b)),
                SmtpAction::Close => "close".to_string(),
            })
            .collect()
    }

    fn client() -> (SmtpClient, Instant) {
        let t = Instant::now();
        (
            SmtpClient::new("probe.invalid", SmtpLimits::default(), t),
            t,
        )
    }

    #[test]
    fn clean_session_ends_without_quit_after_220() {
        let (mut c, t) = client();
        c.feed(t, b"220 mail.lab ESMTP\r\n").expect("banner");
        assert_eq!(sent(&mut c), ["EHLO probe.invalid\r\n"]);
        c.feed(t, b"250-mail.lab\r\n250-STARTTLS\r\n250 8BITMIME\r\n")
            .expect("ehlo");
        assert_eq!(sent(&mut c), ["sweep:STARTTLS\r\n"]);
        c.starttls_sent(t);
        c.feed(t, b"220 2.0.0 Ready to start TLS\r\n")
            .expect("reply");
        assert_eq!(sent(&mut c), ["close"]);
        let o = c.observations();
        assert!(o.starttls_advertised && !o.banner_masked && o.masked_keywords.is_empty());
        assert_eq!(o.starttls_reply.as_ref().map(|r| r.code), Some(220));
        assert!(c.is_done());
    }

    #[test]
    fn stripped_session_records_masks_and_echo_then_quits() {
        let (mut c, t) = client();
        c.feed(t, b"220 ******************************2***0**\r\n")
            .expect("banner");
        sent(&mut c);
        c.feed(t, b"250-mail.lab\r\n250-XXXXXXXA\r\n250 DSN\r\n")
            .expect("ehlo");
        assert_eq!(
            sent(&mut c),
            ["sweep:STARTTLS\r\n"],
            "STARTTLS is sent although not advertised"
        );
        c.starttls_sent(t);
        c.feed(t, b"500 5.5.1 Command unrecognized: \"XXXXXXXX\"\r\n")
            .expect("reply");
        assert_eq!(sent(&mut c), ["QUIT\r\n"]);
        c.feed(t, b"221 bye\r\n").expect("quit");
        assert_eq!(sent(&mut c), ["close"]);
        let o = c.observations();
        assert!(o.banner_masked && !o.starttls_advertised);
        assert_eq!(o.masked_keywords, ["XXXXXXXA"]);
        assert_eq!(o.starttls_echo.as_deref(), Some("XXXXXXXX"));
    }

    #[test]
    fn helo_fallback_when_ehlo_is_refused() {
        let (mut c, t) = client();
        c.feed(t, b"220 ok\r\n").expect("banner");
        sent(&mut c);
        c.feed(t, b"500 unknown command\r\n").expect("ehlo");
        assert_eq!(sent(&mut c), ["HELO probe.invalid\r\n"]);
        c.feed(t, b"250 hi\r\n").expect("helo");
        assert_eq!(sent(&mut c), ["sweep:STARTTLS\r\n"]);
        assert!(c.observations().helo_fallback);
    }

    #[test]
    fn limits_end_the_session_with_a_clear_error_and_keep_evidence() {
        let (mut c, t) = client();
        c.feed(t, b"220 ok\r\n").expect("banner");
        let e = c.feed(t, &vec![b'2'; 4096]).expect_err("line too long");
        assert!(e.to_string().contains("longer than"));
        assert!(c.is_done());
        assert!(c.observations().banner.is_some(), "evidence kept");
        assert!(c.observations().error.is_some());

        let (mut c, t) = client();
        let timeout = c.poll_at().expect("timer");
        assert_eq!(timeout - t, Duration::from_secs(30));
        let e = c.on_timeout(timeout).expect_err("timeout");
        assert!(e.to_string().contains("the banner"));
    }

    #[test]
    fn a_554_banner_gets_quit_and_a_server_close_is_recorded() {
        let (mut c, t) = client();
        c.feed(t, b"554 go away\r\n").expect("banner");
        assert_eq!(sent(&mut c), ["QUIT\r\n"]);
        let (mut c, t) = client();
        c.feed(t, b"220 ok\r\n").expect("banner");
        c.peer_closed(t);
        assert_eq!(c.observations().closed_by_server, Some(SmtpPhase::Ehlo));
        assert!(c.is_done());
    }
}
