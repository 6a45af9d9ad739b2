//! Tunables of one probe session (the same for every target of a scan).
use crate::smtp::SmtpLimits;
use reconmap_wire::TimeToLive;
use std::time::Duration;

/// How a probe session behaves. [`ProbeConfig::default`] matches the CLI defaults.
#[derive(Clone, Debug)]
pub struct ProbeConfig {
    /// Highest TTL the STARTTLS sweep may use.
    pub max_ttl: TimeToLive,
    /// Extra probes for a hop that stayed silent (to tell silence from loss).
    pub retries: u8,
    /// The name sent with EHLO/HELO.
    pub ehlo_name: String,
    /// Limits on the server's replies.
    pub smtp_limits: SmtpLimits,
    /// IP TTL of ordinary segments (handshake, EHLO, QUIT, FIN).
    pub ttl: TimeToLive,
    /// Shortest and longest wait for ICMP answers of one sweep round; the wait is three
    /// handshake RTTs clamped to this range.
    pub sweep_wait_min: Duration,
    pub sweep_wait_max: Duration,
    /// How long to wait for the server's answer to STARTTLS after the sweep went out.
    pub starttls_timeout: Duration,
    /// Upper bound for a whole session; what is known by then is reported.
    pub session_timeout: Duration,
    /// After the verdict: how long the polite close (QUIT, FIN) may take before we reset.
    pub close_timeout: Duration,
    /// Initial TCP retransmission timeout (SYN and data).
    pub initial_rto: Duration,
    /// SYN retransmissions before the target counts as unreachable.
    pub syn_retries: u8,
    /// When no banner has come this long after the handshake, the handshake's ACK is sent
    /// again (a server whose accept queue was full dropped it); then after twice as long, ...
    pub banner_nudge: Duration,
    /// Most such duplicate ACKs.
    pub banner_nudges: u8,
    /// Send control segments to TTLs that stay silent for STARTTLS (locates drops).
    pub locate_drops: bool,
    /// Check whether the connection to the target's port really ends at the target (see
    /// `engine::intercept`).
    pub intercept_check: bool,
    /// The other port of the target that check sends SYNs to.
    pub alt_port: u16,
    /// The TLS client used after `220` (`None`: stop at the `220`, `--no-tls`).
    pub tls: Option<std::sync::Arc<reconmap_tls::TlsProbeConfig>>,
    /// SNI to send whatever the target's name (`--sni`).
    pub sni: Option<String>,
    /// Sweep the ClientHello segment with TTL 1..n as the STARTTLS one.
    pub tls_sweep: bool,
    /// Offer TCP timestamps (as Linux clients do; they tell probes apart when IP IDs are
    /// rewritten).
    pub tcp_timestamps: bool,
    /// Fault injection for tests of the engine's panic boundary: the session of this target
    /// panics on its first captured packet. Never set outside tests.
    #[doc(hidden)]
    pub fault_panic_target: Option<std::net::SocketAddrV4>,
    /// Fault injection for tests of the engine's guard against a session whose timer never
    /// advances: the session of this target always asks to be woken at its start. Never set
    /// outside tests.
    #[doc(hidden)]
    pub fault_stuck_timer_target: Option<std::net::SocketAddrV4>,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        Self {
            max_ttl: TimeToLive(30),
            retries: 2,
            ehlo_name: "reconmap.invalid".to_string(),
            smtp_limits: SmtpLimits::default(),
            ttl: TimeToLive(64),
            sweep_wait_min: Duration::from_millis(100),
            sweep_wait_max: Duration::from_secs(2),
            starttls_timeout: Duration::from_secs(5),
            session_timeout: Duration::from_secs(60),
            close_timeout: Duration::from_secs(2),
            initial_rto: Duration::from_secs(1),
            syn_retries: 3,
            banner_nudge: Duration::from_secs(3),
            banner_nudges: 3,
            locate_drops: true,
            intercept_check: true,
            alt_port: super::intercept::DEFAULT_ALT_PORT,
            tcp_timestamps: true,
            tls: reconmap_tls::TlsProbeConfig::new(reconmap_tls::TlsLimits::default())
                .ok()
                .map(std::sync::Arc::new),
            sni: None,
            tls_sweep: true,
            fault_panic_target: None,
            fault_stuck_timer_target: None,
        }
    }
}

/// The longest any timeout may be (longer values are clamped: an `Instant` plus an absurd
/// duration would overflow).
pub const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

impl ProbeConfig {
    /// The same configuration with every duration within (1 ms, [`MAX_TIMEOUT`]) and the TTLs
    /// within 1..=255 hops, so that no arithmetic on it can overflow. The engine applies it.
    pub fn clamped(mut self) -> Self {
        let clamp = |d: Duration| d.clamp(Duration::from_millis(1), MAX_TIMEOUT);
        self.sweep_wait_min = clamp(self.sweep_wait_min);
        self.sweep_wait_max = clamp(self.sweep_wait_max).max(self.sweep_wait_min);
        self.starttls_timeout = clamp(self.starttls_timeout);
        self.session_timeout = clamp(self.session_timeout);
        self.close_timeout = clamp(self.close_timeout);
        self.initial_rto = clamp(self.initial_rto);
        self.banner_nudge = clamp(self.banner_nudge);
        self.smtp_limits.reply_timeout = clamp(self.smtp_limits.reply_timeout);
        self.smtp_limits.session_timeout = clamp(self.smtp_limits.session_timeout);
        self.max_ttl = self.max_ttl.max(TimeToLive(1));
        self.ttl = self.ttl.max(TimeToLive(1));
        self
    }
}

/// Hop distance of a sender from the TTL its packets arrive with, assuming the usual initial
/// TTLs (32, 64, 128, 255). Returns the TTL that reaches the sender (routers + 1).
pub fn distance_from_ttl(received: TimeToLive) -> TimeToLive {
    let received = u16::from(received.0);
    let initial: u16 = [32u16, 64, 128, 255]
        .into_iter()
        .find(|&i| i >= received)
        .unwrap_or(255);
    // initial >= received, and the difference is at most 255.
    TimeToLive(
        u8::try_from(initial - received)
            .unwrap_or(u8::MAX)
            .saturating_add(1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absurd_timeouts_are_clamped() {
        let c = ProbeConfig {
            session_timeout: Duration::MAX,
            starttls_timeout: Duration::ZERO,
            sweep_wait_max: Duration::ZERO,
            ..ProbeConfig::default()
        }
        .clamped();
        assert_eq!(c.session_timeout, MAX_TIMEOUT);
        assert_eq!(c.starttls_timeout, Duration::from_millis(1));
        assert!(c.sweep_wait_max >= c.sweep_wait_min);
        let _ = std::time::Instant::now() + c.session_timeout;
    }

    #[test]
    fn distance_from_common_initial_ttls() {
        let d = |t| distance_from_ttl(TimeToLive(t)).0;
        assert_eq!(d(64), 1);
        assert_eq!(d(60), 5);
        assert_eq!(d(120), 9);
        assert_eq!(d(250), 6);
        assert_eq!(d(30), 3);
        assert_eq!(d(0), 33);
    }
}
