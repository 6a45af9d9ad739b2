//! The record of one probe and its output formats: JSON (schema 1, see docs/output.md), CSV,
//! and a traceroute-like table.
mod csv;
mod table;

pub use csv::{csv_header, to_csv_row};
pub use table::render_table;

pub use crate::evidence::escape_bytes;
use crate::evidence::millis as ms;
use crate::evidence::{Evidence, FieldChange, HopRecord, PayloadStatus, TcpObservations};
use crate::smtp::SmtpObservations;
use crate::verdict::{decide, Segment, Verdict};
use serde::Serialize;
use std::net::Ipv4Addr;

/// Version of the JSON record; bumped on any incompatible change.
pub const SCHEMA: u32 = 1;

/// One hop as the output shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HopOut {
    pub ttl: u8,
    pub addr: Option<Ipv4Addr>,
    pub rtt_ms: Option<f64>,
    /// ICMP type and code of the answer (`[11, 0]`: time exceeded in transit).
    pub icmp: Option<(u8, u8)>,
    pub attempts: u8,
    /// Taken from other targets of the same run (Doubletree-style reuse), not probed.
    pub shared: bool,
    /// Bytes of the quoted datagram.
    pub quote_len: Option<usize>,
    /// `intact`, `modified`, `short` or `none`.
    pub payload: &'static str,
    /// The quoted payload when modified (escaped text).
    pub quoted_payload: Option<String>,
    /// Header fields that differ from what was sent (tracebox-style).
    pub changes: Vec<FieldChange>,
}

impl From<&HopRecord> for HopOut {
    fn from(h: &HopRecord) -> Self {
        let payload = h.payload();
        Self {
            ttl: h.ttl.0,
            addr: h.addr,
            rtt_ms: h.rtt.map(ms),
            icmp: h.icmp,
            attempts: h.attempts,
            shared: h.shared,
            quote_len: h.diff.as_ref().map(|d| d.quote_len),
            payload: payload_name(&payload),
            quoted_payload: match &payload {
                PayloadStatus::Modified { quoted } => Some(escape_bytes(quoted)),
                _ => None,
            },
            changes: h
                .diff
                .as_ref()
                .map(|d| d.changes.clone())
                .unwrap_or_default(),
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
    pub prober: Ipv4Addr,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub verdict: Verdict,
    /// The verdict rule that decided (`verdict::RULES`).
    pub rule: &'static str,
    pub segment: Option<Segment>,
    pub reason: String,
    pub evidence: Vec<String>,
    pub hops: Vec<HopOut>,
    pub smtp: SmtpObservations,
    pub tcp: TcpObservations,
    pub timing: Timing,
    /// ICMP errors that quoted this flow but no probe of the sweep.
    pub unmatched_icmp: u32,
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
            prober: input.prober,
            started_at: humantime::format_rfc3339_millis(input.started_at).to_string(),
            verdict: d.verdict,
            rule: d.rule,
            segment: d.segment,
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
            errors: input.errors,
        }
    }
}

/// The record as one line of JSON.
pub fn to_json(r: &Report) -> Result<String, serde_json::Error> {
    serde_json::to_string(r)
}

fn payload_name(p: &PayloadStatus) -> &'static str {
    match p {
        PayloadStatus::Intact => "intact",
        PayloadStatus::Modified { .. } => "modified",
        PayloadStatus::Short => "short",
        PayloadStatus::None => "none",
    }
}

#[cfg(test)]
mod tests;
