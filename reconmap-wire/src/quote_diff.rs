//! What the diff of one ICMP quote against the probe it quotes found.
use serde::Serialize;

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

impl PayloadStatus {
    /// The status as the output names it.
    pub fn name(&self) -> &'static str {
        match self {
            PayloadStatus::Intact => "intact",
            PayloadStatus::Modified { .. } => "modified",
            PayloadStatus::Short => "short",
            PayloadStatus::None => "none",
        }
    }
}

impl Serialize for PayloadStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}
