//! What a trace observed: the records that the engine fills in and the verdict reads.
//!
//! These types are the boundary between the packet layer (which produces [`QuoteDiff`]s), the
//! engine (which assembles [`HopRecord`]s and [`TcpObservations`]) and the verdict/report layers.
use crate::types::TimeToLive;
use serde::Serialize;
use std::net::Ipv4Addr;
use std::time::Duration;

/// One header field whose quoted value differs from what the prober sent (tracebox style),
/// e.g. `{ field: "ip.tos", sent: "0x00", quoted: "0x10" }`. Field names are `ip.*` / `tcp.*`
/// (`ip.tos`, `ip.id`, `ip.src`, `ip.dst`, `ip.flags`, `tcp.sport`, `tcp.dport`, `tcp.seq`,
/// `tcp.ack`, `tcp.flags`, `tcp.window`, `tcp.options`, `tcp.urgent`, ...).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    pub field: String,
    pub sent: String,
    pub quoted: String,
}

/// What a hop's ICMP quote says about the probe's payload (the STARTTLS command).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PayloadStatus {
    /// The quote holds the payload (as far as it goes) and it equals what was sent.
    Intact,
    /// The quoted payload differs from what was sent; `quoted` holds the bytes as quoted.
    Modified { quoted: Vec<u8> },
    /// The quote ends before the payload starts (RFC 792 routers quote IP header + 8 bytes).
    Short,
    /// No ICMP reply from this hop (after retries).
    None,
}

/// The result of comparing one ICMP quote with the probe it quotes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuoteDiff {
    /// Bytes of the quoted datagram present (from the quoted IP header on, RFC 4884
    /// extensions excluded).
    pub quote_len: usize,
    /// Header fields that changed, except the expected ones (IP TTL, IP checksum; the TCP
    /// checksum only when it is explained by a payload change).
    pub changes: Vec<FieldChange>,
    pub payload: PayloadStatus,
}

/// One row of the TTL sweep.
///
/// The output form of a hop is `report::HopOut`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HopRecord {
    pub ttl: TimeToLive,
    /// Source address of the ICMP error (the router), if any answered.
    pub addr: Option<Ipv4Addr>,
    /// Probe send to ICMP arrival.
    pub rtt: Option<Duration>,
    /// ICMP type and code of the answer (11/0 time exceeded, 3/x unreachable).
    pub icmp: Option<(u8, u8)>,
    /// How many probes were sent for this TTL (1 + retries used).
    pub attempts: u8,
    /// The diff of the quote, `None` when nothing answered.
    pub diff: Option<QuoteDiff>,
    /// Not probed for this target: taken from what other targets of the run saw at this TTL
    /// (Doubletree-style reuse of the hops near the prober, see `engine::near_hops`).
    pub shared: bool,
}

impl HopRecord {
    /// The hop's payload status (`None` when no quote came back).
    pub fn payload(&self) -> PayloadStatus {
        self.diff
            .as_ref()
            .map_or(PayloadStatus::None, |d| d.payload.clone())
    }
}

/// A RST that arrived on the probe flow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RstRecord {
    /// IP TTL of the RST as received; an injected RST often differs from the server's segments.
    pub ttl: u8,
    /// IP TTL the server's own segments arrived with (SYN/ACK), for comparison.
    pub server_ttl: Option<u8>,
    /// Whether it came after the STARTTLS command was sent.
    pub after_starttls: bool,
    #[serde(serialize_with = "serialize_ms", rename = "at_ms")]
    pub at: Duration,
}

/// How the TCP connection went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectOutcome {
    /// SYN/ACK received, handshake complete.
    Established,
    /// The SYN was answered with RST (port closed or a filter).
    Refused,
    /// No answer to the SYN after all retransmissions.
    TimedOut,
    /// An ICMP unreachable answered the SYN.
    Unreachable,
}

/// Connection-level evidence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TcpObservations {
    pub connect: ConnectOutcome,
    /// IP TTL of the server's SYN/ACK as received.
    pub server_ttl: Option<u8>,
    /// Estimated hop distance to the server (from the sweep if it reached the server, else from
    /// `server_ttl` and the nearest common initial TTL).
    pub server_distance: Option<u8>,
    pub rsts: Vec<RstRecord>,
    /// The STARTTLS segment was never acknowledged (after retransmissions).
    pub starttls_unacked: bool,
    /// The peer closed (FIN) before answering STARTTLS.
    pub closed_by_peer: bool,
}

fn serialize_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(millis(*d))
}

/// A duration in milliseconds, rounded to the microsecond (how every time is output).
pub fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// Bytes as text with non-printables escaped (`XXXXXXXX\r\n`): how quoted payloads are shown
/// everywhere (report, evidence lines).
pub fn escape_bytes(b: &[u8]) -> String {
    b.iter()
        .flat_map(|&c| std::ascii::escape_default(c))
        .map(char::from)
        .collect()
}
