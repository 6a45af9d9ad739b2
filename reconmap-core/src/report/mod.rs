//! The record of one probe and its output formats: JSON (schema 1, see docs/output.md), CSV,
//! and a traceroute-like table.
mod attribution;
mod csv;
mod table;

pub use attribution::{no_attribution_data, AsAnnotator, HopRefOut, SegmentOut, VantageOut};

pub use csv::{csv_header, to_csv_row};
pub use table::render_table;

pub use crate::evidence::escape_bytes;
use crate::evidence::millis as ms;
use crate::evidence::{
    ConflictingAnswer, Evidence, FieldChange, HopRecord, IcmpKind, InterceptionCheck,
    PayloadStatus, ProbeMatch, TcpObservations,
};
use crate::smtp::SmtpObservations;
use crate::verdict::{decide, Verdict};
use reconmap_wire::{IcmpExtension, IcmpExtensions, InterfaceInfo, MplsLabel, TimeToLive};
use serde::Serialize;
use std::net::Ipv4Addr;

/// Version of the JSON record; bumped on any incompatible change.
pub const SCHEMA: u32 = 2;

/// What a hop's quote shows of the payload, as the output names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HopPayload {
    /// The quote shows the payload unchanged (as far as it goes).
    Intact,
    /// The quote shows the payload changed.
    Modified,
    /// The quote does not show the payload, but its TCP checksum says bytes it does not show
    /// were changed (see `checksum`).
    ChecksumChanged,
    /// The quote does not show the payload, but its TCP checksum says they arrived as sent.
    ChecksumUnchanged,
    /// The quote ends before the payload and shows no checksum.
    Short,
    /// No answer.
    None,
    /// The hop's answers disagree (see `conflicts`): not evidence.
    Conflicting,
}

impl std::fmt::Display for HopPayload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl HopPayload {
    fn of(h: &HopRecord) -> Self {
        if h.is_conflicting() {
            return HopPayload::Conflicting;
        }
        match h.payload() {
            PayloadStatus::Intact => HopPayload::Intact,
            PayloadStatus::Modified { .. } => HopPayload::Modified,
            PayloadStatus::ChecksumChanged { .. } => HopPayload::ChecksumChanged,
            PayloadStatus::ChecksumUnchanged => HopPayload::ChecksumUnchanged,
            PayloadStatus::Short => HopPayload::Short,
            PayloadStatus::None => HopPayload::None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            HopPayload::Intact => "intact",
            HopPayload::Modified => "modified",
            HopPayload::ChecksumChanged => "checksum_changed",
            HopPayload::ChecksumUnchanged => "checksum_unchanged",
            HopPayload::Short => "short",
            HopPayload::None => "none",
            HopPayload::Conflicting => "conflicting",
        }
    }
}

/// One hop as the output shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HopOut {
    pub ttl: TimeToLive,
    pub addr: Option<Ipv4Addr>,
    /// The AS originating the prefix of `addr` (`--asn-db`; the first of a multi-origin
    /// prefix's ASes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asn: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_name: Option<String>,
    pub rtt_ms: Option<f64>,
    /// ICMP type and code of the answer (`[11, 0]`: time exceeded in transit).
    pub icmp: Option<IcmpKind>,
    pub attempts: u8,
    /// Taken from other targets of the same run (Doubletree-style reuse), not probed.
    pub shared: bool,
    /// Bytes of the quoted datagram.
    pub quote_len: Option<usize>,
    pub payload: HopPayload,
    /// The quoted payload when modified (escaped text).
    pub quoted_payload: Option<String>,
    /// Header fields that differ from what was sent (tracebox-style).
    pub changes: Vec<FieldChange>,
    /// Answers that disagree with the first one (forged or misattributed ICMP).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<ConflictingAnswer>,
    /// How the answer was tied to its probe: `ip_id`, `tcp_timestamp` (the IP ID was
    /// rewritten on the way) or `sequential` (probed alone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched_by: Option<ProbeMatch>,
    /// For `checksum_changed`: the checksums behind the inference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksum: Option<ChecksumOut>,
    /// The control segment sent to this TTL and its answer (see docs/output.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub control: Option<ControlOut>,
    /// RFC 4950 MPLS label stack entries of the answer, top first (`{label, tc, s, ttl}`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mpls: Vec<MplsLabel>,
    /// The answer's other RFC 4884 extension objects.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub icmp_extensions: Vec<ExtensionOut>,
    /// Why the answer's RFC 4884 extensions could not be read (bad length, version,
    /// checksum or object).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icmp_extension_error: Option<String>,
}

/// An RFC 4884 extension object other than an MPLS label stack, as the output shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "object", rename_all = "snake_case")]
pub enum ExtensionOut {
    /// RFC 5837: `role` and the fields present (`if_index`, `addr`, `name`, `mtu`).
    InterfaceInfo(InterfaceInfo),
    /// Any other class: named, not interpreted.
    Other {
        class: u8,
        ctype: u8,
        bytes_len: usize,
    },
}

impl ExtensionOut {
    /// The objects of `ext` but its MPLS label stacks (shown as `mpls`).
    fn list(ext: &IcmpExtensions) -> Vec<Self> {
        ext.objects
            .iter()
            .filter_map(|o| match o {
                IcmpExtension::Mpls(_) => None,
                IcmpExtension::InterfaceInfo(i) => Some(ExtensionOut::InterfaceInfo(i.clone())),
                &IcmpExtension::Other {
                    class,
                    ctype,
                    bytes_len,
                } => Some(ExtensionOut::Other {
                    class,
                    ctype,
                    bytes_len,
                }),
            })
            .collect()
    }
}

/// The checksums of a `checksum_changed` hop, as `0x` hex.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChecksumOut {
    /// As sent.
    pub sent: String,
    /// What the quote should carry with only the header changes it shows (equals `sent`
    /// when it shows none).
    pub expected: String,
    /// As quoted.
    pub quoted: String,
    /// The server's echo of the rewritten command when it gives exactly `quoted`
    /// (the inference is then confirmed); `null`: inferred only.
    pub confirmed_by: Option<String>,
}

/// A control segment's fate at one TTL.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ControlOut {
    pub attempts: u8,
    /// The router that answered it (`null`: silent).
    pub addr: Option<Ipv4Addr>,
    pub rtt_ms: Option<f64>,
}

impl From<&HopRecord> for HopOut {
    fn from(h: &HopRecord) -> Self {
        let quoted = h.diff.as_ref().map(|d| &d.payload);
        Self {
            ttl: h.ttl,
            addr: h.addr,
            asn: None,
            as_name: None,
            rtt_ms: h.rtt.map(ms),
            icmp: h.icmp,
            attempts: h.attempts,
            shared: h.shared,
            quote_len: h.diff.as_ref().map(|d| d.quote_len),
            payload: HopPayload::of(h),
            quoted_payload: match quoted {
                Some(PayloadStatus::Modified { quoted }) => Some(escape_bytes(quoted)),
                _ => None,
            },
            changes: h
                .diff
                .as_ref()
                .map(|d| d.changes.clone())
                .unwrap_or_default(),
            conflicts: h.conflicts.clone(),
            matched_by: h.matched_by,
            checksum: match quoted {
                Some(PayloadStatus::ChecksumChanged {
                    sent,
                    expected,
                    quoted,
                }) => Some(ChecksumOut {
                    sent: format!("{sent:#06x}"),
                    expected: format!("{expected:#06x}"),
                    quoted: format!("{quoted:#06x}"),
                    confirmed_by: h.checksum_confirmed_by.as_deref().map(escape_bytes),
                }),
                _ => None,
            },
            mpls: h.extensions.mpls_labels(),
            icmp_extensions: ExtensionOut::list(&h.extensions),
            icmp_extension_error: h.extensions.error.as_ref().map(ToString::to_string),
            control: (h.control_attempts > 0).then(|| ControlOut {
                attempts: h.control_attempts,
                addr: h.control.map(|c| c.addr),
                rtt_ms: h.control.and_then(|c| c.rtt).map(ms),
            }),
        }
    }
}

/// The TLS handshake as the output shows it: what `reconmap_tls` observed, and the sweep of
/// the ClientHello segment.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TlsOut {
    #[serde(flatten)]
    pub observations: reconmap_tls::TlsObservations,
    /// The server's answer to `QUIT` inside TLS (first line).
    pub quit_reply: Option<String>,
    /// The ClientHello segment's sweep, one entry per TTL (the same form as `hops`).
    pub hops: Vec<HopOut>,
    /// Why the ClientHello was not swept, when it was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sweep_skipped: Option<String>,
    pub unmatched_icmp: u32,
}

impl From<&crate::evidence::TlsEvidence> for TlsOut {
    fn from(t: &crate::evidence::TlsEvidence) -> Self {
        Self {
            observations: t.observations.clone(),
            quit_reply: t.quit_reply.clone(),
            hops: t.hops.iter().map(HopOut::from).collect(),
            sweep_skipped: t.sweep_skipped.clone(),
            unmatched_icmp: t.unmatched_icmp,
        }
    }
}

/// The interception check as the output shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct InterceptionOut {
    /// `intercepted`, `not_intercepted`, `undetermined` or `not_checked`.
    pub result: &'static str,
    /// How it was seen, or why it could not be.
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alt_port: Option<u16>,
    /// The TTL at which port 25 was answered in the target's name while the alt port's SYN
    /// expired at a router.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answered_at: Option<TimeToLive>,
    /// The hop where the connection ends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<crate::evidence::HopRef>,
    /// Routers that answered SYNs to the alt port from that hop on: `[ttl, addr]`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub routers_beyond: Vec<(TimeToLive, Ipv4Addr)>,
    /// The TTL from which the target answers the alt port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_reached_at: Option<TimeToLive>,
    /// The IP TTL its answer arrived with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_answer_ttl: Option<TimeToLive>,
}

impl From<&InterceptionCheck> for InterceptionOut {
    fn from(c: &InterceptionCheck) -> Self {
        let plain = |result, detail: &String| Self {
            result,
            detail: detail.clone(),
            alt_port: None,
            answered_at: None,
            at: None,
            routers_beyond: Vec::new(),
            target_reached_at: None,
            target_answer_ttl: None,
        };
        match c {
            InterceptionCheck::NotChecked(d) => plain("not_checked", d),
            InterceptionCheck::NotIntercepted(d) => plain("not_intercepted", d),
            InterceptionCheck::Undetermined(d) => plain("undetermined", d),
            InterceptionCheck::Intercepted(i) => Self {
                result: "intercepted",
                detail: format!(
                    "port 25 answered in the target's name at TTL {} while a SYN to port {} expired at a router",
                    i.answered_at, i.alt_port
                ),
                alt_port: Some(i.alt_port),
                answered_at: Some(i.answered_at),
                at: Some(i.at),
                routers_beyond: i.routers_beyond.clone(),
                target_reached_at: i.target_reached_at,
                target_answer_ttl: i.target_answer_ttl,
            },
        }
    }
}

/// Milestones of the session in milliseconds from its start.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Timing {
    pub established_ms: Option<f64>,
    pub sweep_started_ms: Option<f64>,
    pub verdict_ms: Option<f64>,
    pub done_ms: Option<f64>,
}

/// The record of one probe (the JSON object of schema 1).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub schema: u32,
    pub tool: &'static str,
    pub version: &'static str,
    /// `ADDR:PORT`
    pub target: String,
    /// The AS originating the target's prefix (`--asn-db`; `null`: no data).
    pub target_asn: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_as_name: Option<String>,
    pub prober: Ipv4Addr,
    /// The AS originating the prober's prefix (`--asn-db`; `null`: no data).
    pub prober_asn: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prober_as_name: Option<String>,
    /// Where the measurement was taken from (to compare vantage points).
    pub vantage: VantageOut,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub verdict: Verdict,
    /// The verdict rule that decided (`verdict::RULES`).
    pub rule: &'static str,
    pub segment: Option<SegmentOut>,
    /// Whose network the segment lies in (`null` when the verdict names no segment).
    pub attribution: Option<reconmap_asn::Attribution>,
    pub reason: String,
    pub evidence: Vec<String>,
    pub hops: Vec<HopOut>,
    pub smtp: SmtpObservations,
    pub tcp: TcpObservations,
    pub timing: Timing,
    /// ICMP errors that quoted this flow but no probe of the sweep.
    pub unmatched_icmp: u32,
    /// The first hop whose quotes carry another IP ID than the probe had (`null`: none).
    pub ip_id_rewritten_from: Option<crate::verdict::HopRef>,
    /// Boxes that change headers on the forward path (tracebox's per-hop changes): where each
    /// changed field first shows.
    pub candidate_boxes: Vec<crate::verdict::CandidateBox>,
    /// Whether the connection to the target's port really ends at the target.
    pub interception: InterceptionOut,
    /// The TLS handshake after `220` (`null` when none was attempted: see `tls_skipped`).
    pub tls: Option<TlsOut>,
    /// Why no TLS handshake followed a `220` (`--no-tls`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_skipped: Option<String>,
    /// Problems met on the way (limits, timeouts); the verdict says what they mean.
    pub errors: Vec<String>,
}

impl Report {
    /// Decides the verdict and assembles the record.
    pub fn build(input: Evidence) -> Self {
        let d = decide(&input);
        let t = input.timeline;
        Self {
            schema: SCHEMA,
            tool: "reconmap",
            version: env!("CARGO_PKG_VERSION"),
            target: input.target.to_string(),
            target_asn: None,
            target_as_name: None,
            prober: input.prober,
            prober_asn: None,
            prober_as_name: None,
            vantage: VantageOut {
                name: None,
                prober: input.prober,
                asn: None,
            },
            started_at: humantime::format_rfc3339_millis(input.started_at).to_string(),
            verdict: d.verdict,
            rule: d.rule,
            segment: d.segment.map(SegmentOut::from),
            attribution: d.segment.map(|_| no_attribution_data()),
            reason: d.reason,
            evidence: d.evidence,
            hops: input.hops.iter().map(HopOut::from).collect(),
            smtp: input.smtp,
            tcp: input.tcp,
            timing: Timing {
                established_ms: t.established.map(ms),
                sweep_started_ms: t.sweep_started.map(ms),
                verdict_ms: t.verdict.map(ms),
                done_ms: t.done.map(ms),
            },
            unmatched_icmp: input.unmatched_icmp,
            ip_id_rewritten_from: d.ip_id_rewritten_from,
            candidate_boxes: d.candidates,
            interception: InterceptionOut::from(&input.interception),
            tls: input.tls.as_ref().map(TlsOut::from),
            tls_skipped: input.tls_skipped.clone(),
            errors: input.errors,
        }
    }
}

/// The record as one line of JSON.
pub fn to_json(r: &Report) -> Result<String, serde_json::Error> {
    serde_json::to_string(r)
}

#[cfg(test)]
mod tests;
