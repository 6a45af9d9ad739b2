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
    /// The quote does not show the payload (or not all of it), but it shows the TCP checksum
    /// and every header field the checksum covers, and the quoted checksum is not the one the
    /// segment would carry with the bytes not quoted as sent: those bytes (the payload, or
    /// options beyond the quote) were changed at or before this hop. Inferred, not seen.
    ChecksumChanged {
        /// The checksum as sent.
        sent: u16,
        /// The checksum the segment would carry with only the quoted header changes (equals
        /// `sent` when the quote shows no header change).
        expected: u16,
        /// The checksum as quoted.
        quoted: u16,
    },
    /// The quote does not show the payload, but the quoted checksum is exactly the one the
    /// segment carries with the bytes not quoted as sent: inferred unchanged.
    ChecksumUnchanged,
    /// The quote ends before the payload starts and shows nothing that could tell (RFC 792
    /// routers quote IP header + 8 bytes: no checksum).
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
            PayloadStatus::ChecksumChanged { .. } => "checksum_changed",
            PayloadStatus::ChecksumUnchanged => "checksum_unchanged",
            PayloadStatus::Short => "short",
            PayloadStatus::None => "none",
        }
    }
}

impl PayloadStatus {
    /// Whether the hop saw the payload as sent: shown in the quote, or inferred from its
    /// checksum.
    pub fn is_unchanged(&self) -> bool {
        matches!(
            self,
            PayloadStatus::Intact | PayloadStatus::ChecksumUnchanged
        )
    }

    /// Whether the hop saw the payload changed: shown in the quote, or inferred from its
    /// checksum.
    pub fn is_changed(&self) -> bool {
        matches!(
            self,
            PayloadStatus::Modified { .. } | PayloadStatus::ChecksumChanged { .. }
        )
    }
}

impl Serialize for PayloadStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}
