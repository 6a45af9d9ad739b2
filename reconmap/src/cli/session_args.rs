//! The options every probing command shares (`probe`, `scan`): where to send from and how a
//! session behaves.
use anyhow::{bail, Result};
use reconmap_core::engine::{PortRange, ProbeConfig};
use reconmap_datapath::TransportOptions;
use std::net::Ipv4Addr;
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct SessionArgs {
    /// Interface to attach to and send from (default: the route to the first target).
    #[arg(long)]
    pub iface: Option<String>,
    /// Source address (default: the route's preferred source).
    #[arg(long)]
    pub source: Option<Ipv4Addr>,
    /// Highest TTL of the STARTTLS sweep (it stops at the server's distance when known).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u8).range(1..=64))]
    pub max_ttl: u8,
    /// Retries for hops that stay silent.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(0..=10))]
    pub retries: u8,
    /// Name sent with EHLO/HELO; on a scan, make it identify the scanner.
    #[arg(long, default_value = "reconmap.invalid")]
    pub ehlo_name: String,
    /// Per-target deadline in seconds (what was seen by then is still reported).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout: u64,
    /// Longest silence of the server while a reply is awaited, in seconds.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub reply_timeout: u64,
    /// How long to wait for the answer to STARTTLS, in seconds.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub starttls_timeout: u64,
    /// Source ports of probe flows (outside the kernel's ephemeral range; ports local services
    /// listen on are skipped).
    #[arg(long, default_value_t = PortRange::default(), value_name = "LO-HI")]
    pub source_ports: PortRange,
    /// Do not check whether the connection really ends at the target (the interception
    /// check: two SYNs and a RST per target, see docs/output.md).
    #[arg(long)]
    pub no_intercept_check: bool,
    /// The other port of the target the interception check sends a SYN to (one a port-25
    /// proxy does not take; closed on most mail servers).
    #[arg(long, default_value_t = reconmap_core::engine::intercept::DEFAULT_ALT_PORT,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub alt_port: u16,
    /// Do not send control segments to TTLs that stay silent for STARTTLS (they locate where
    /// a dropped or reset STARTTLS disappears).
    #[arg(long)]
    pub no_control_segments: bool,
    /// Do not offer TCP timestamps (the STARTTLS payload then starts 12 bytes earlier in
    /// the datagram; probes can no longer be told apart by timestamp when IP IDs are
    /// rewritten).
    #[arg(long)]
    pub no_tcp_timestamps: bool,
    /// Stop at the server's `220` to STARTTLS: no TLS handshake (faster on huge scans; a box
    /// that lets STARTTLS through and then breaks TLS goes unseen).
    #[arg(long)]
    pub no_tls: bool,
    /// Server name to send as SNI and check the certificate against, whatever the target's
    /// name (by default: the host name the target list gave, none for an address).
    #[arg(long, value_name = "NAME")]
    pub sni: Option<String>,
}

impl SessionArgs {
    /// Refuses values clap cannot check on its own.
    pub fn validate(&self) -> Result<()> {
        if self.ehlo_name.is_empty()
            || self
                .ehlo_name
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            bail!("--ehlo-name must be a non-empty name without spaces or control characters");
        }
        if let Some(name) = &self.sni {
            reconmap_tls::check_server_name(name)
                .map_err(|e| anyhow::anyhow!("--sni {name:?}: {e}"))?;
        }
        Ok(())
    }

    pub fn config(&self) -> Result<ProbeConfig> {
        let tls = if self.no_tls {
            None
        } else {
            let limits = reconmap_tls::TlsLimits::default();
            Some(std::sync::Arc::new(
                reconmap_tls::TlsProbeConfig::new(limits)
                    .map_err(|e| anyhow::anyhow!("cannot set up the TLS client: {e}"))?,
            ))
        };
        Ok(ProbeConfig {
            max_ttl: reconmap_wire::TimeToLive(self.max_ttl),
            retries: self.retries,
            ehlo_name: self.ehlo_name.clone(),
            session_timeout: Duration::from_secs(self.timeout.max(1)),
            starttls_timeout: Duration::from_secs(self.starttls_timeout.max(1)),
            smtp_limits: reconmap_core::smtp::SmtpLimits {
                reply_timeout: Duration::from_secs(self.reply_timeout),
                ..reconmap_core::smtp::SmtpLimits::default()
            },
            intercept_check: !self.no_intercept_check,
            alt_port: self.alt_port,
            locate_drops: !self.no_control_segments,
            tcp_timestamps: !self.no_tcp_timestamps,
            tls,
            sni: self.sni.clone(),
            ..ProbeConfig::default()
        })
    }

    pub fn transport_options(&self, concurrency: usize, rate: Option<f64>) -> TransportOptions {
        TransportOptions {
            iface: self.iface.clone(),
            source: self.source,
            concurrency,
            rate,
        }
    }
}
