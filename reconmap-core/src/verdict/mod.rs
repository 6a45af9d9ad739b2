//! The verdict: what the evidence of one probe session says, and where on the path.
//!
//! Facts are computed once from the [`Evidence`] ([`facts`]), then the ordered table of named
//! rules ([`rules::RULES`]) is walked: the first rule that fires decides, and the record names
//! it (`rule`). docs/output.md shows the same table; a test keeps the two equal.
mod facts;
pub mod path_changes;
pub mod rules;

use crate::evidence::TcpObservations;
use crate::evidence::{Evidence, HopRecord, PayloadStatus};
use crate::smtp::SmtpObservations;
use serde::{Deserialize, Serialize};
use std::fmt;

pub use facts::{Facts, StartTlsAnswer};
pub use path_changes::CandidateBox;
pub use rules::{Finding, Rule, RULES};

/// The verdict names of the JSON schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Clean,
    Stripped,
    AdvertisementMasked,
    NotOffered,
    Blocked,
    Intercepted,
    TlsBlocked,
    TlsTampered,
    TlsFailed,
    Unreachable,
    Inconclusive,
}

impl Verdict {
    /// Every verdict, in the order the docs list them.
    pub const ALL: [Verdict; 11] = [
        Verdict::Clean,
        Verdict::Stripped,
        Verdict::AdvertisementMasked,
        Verdict::NotOffered,
        Verdict::Blocked,
        Verdict::Intercepted,
        Verdict::TlsBlocked,
        Verdict::TlsTampered,
        Verdict::TlsFailed,
        Verdict::Unreachable,
        Verdict::Inconclusive,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Verdict::Clean => "clean",
            Verdict::Stripped => "stripped",
            Verdict::AdvertisementMasked => "advertisement_masked",
            Verdict::NotOffered => "not_offered",
            Verdict::Blocked => "blocked",
            Verdict::Intercepted => "intercepted",
            Verdict::TlsBlocked => "tls_blocked",
            Verdict::TlsTampered => "tls_tampered",
            Verdict::TlsFailed => "tls_failed",
            Verdict::Unreachable => "unreachable",
            Verdict::Inconclusive => "inconclusive",
        }
    }

    /// Whether the verdict means someone tampered with the session.
    pub fn is_tampering(self) -> bool {
        match self {
            Verdict::Stripped
            | Verdict::AdvertisementMasked
            | Verdict::Blocked
            | Verdict::Intercepted
            | Verdict::TlsBlocked
            | Verdict::TlsTampered => true,
            Verdict::Clean
            | Verdict::NotOffered
            | Verdict::TlsFailed
            | Verdict::Unreachable
            | Verdict::Inconclusive => false,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Verdict {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Verdict::ALL
            .into_iter()
            .find(|v| v.name() == s)
            .ok_or_else(|| format!("unknown verdict `{s}`"))
    }
}

pub use crate::evidence::HopRef;

/// Where the change happens: after `after` and at `at` (`None`: first seen in the server's reply).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Segment {
    pub after: HopRef,
    pub at: Option<HopRef>,
}

/// The decision with its explanation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub verdict: Verdict,
    /// The id of the rule that decided.
    pub rule: &'static str,
    pub segment: Option<Segment>,
    pub reason: String,
    pub evidence: Vec<String>,
    /// Boxes that change headers on the forward path (see [`path_changes`]).
    pub candidates: Vec<CandidateBox>,
    /// The first hop whose quote carries a rewritten IP ID.
    pub ip_id_rewritten_from: Option<HopRef>,
}

/// Decides from the evidence of one session: the first rule of [`RULES`] that fires.
pub fn decide(e: &Evidence) -> Decision {
    let facts = Facts::of(e);
    let evidence = collect_evidence(&e.hops, &e.smtp, &e.tcp);
    let candidates = facts.candidates.clone();
    let ip_id_rewritten_from = path_changes::ip_id_rewritten_from(&e.hops);
    for rule in RULES {
        if let Some(f) = (rule.check)(&facts) {
            return Decision {
                verdict: rule.verdict,
                rule: rule.id,
                segment: f.segment,
                reason: f.reason,
                evidence,
                candidates,
                ip_id_rewritten_from,
            };
        }
    }
    // The last rule always fires; this is only reached if the table is edited wrongly.
    Decision {
        verdict: Verdict::Inconclusive,
        rule: "none",
        segment: None,
        reason: "no verdict rule applied".to_string(),
        evidence,
        candidates,
        ip_id_rewritten_from,
    }
}

fn collect_evidence(
    hops: &[HopRecord],
    smtp: &SmtpObservations,
    tcp: &TcpObservations,
) -> Vec<String> {
    let mut ev = Vec::new();
    for h in hops {
        if let PayloadStatus::Modified { quoted } = h.payload() {
            ev.push(format!(
                "hop {} ({}) quotes \"{}\"",
                h.ttl,
                h.addr.map_or("?".to_string(), |a| a.to_string()),
                crate::evidence::escape_bytes(&quoted)
            ));
        }
        if let PayloadStatus::ChecksumChanged {
            sent,
            expected,
            quoted,
        } = h.payload()
        {
            let shown = if sent == expected {
                String::new()
            } else {
                format!(" ({expected:#06x} with the header changes it shows)")
            };
            ev.push(format!(
                "hop {} ({}) quotes TCP checksum {quoted:#06x} where {sent:#06x} was sent{shown}: bytes its {}-byte quote does not show were changed{}",
                h.ttl,
                h.addr.map_or("?".to_string(), |a| a.to_string()),
                h.diff.as_ref().map_or(0, |d| d.quote_len),
                h.checksum_confirmed_by.as_ref().map_or(String::new(), |e| format!(
                    " (exactly the checksum of the command rewritten to \"{}\", as the server echoed it)",
                    crate::evidence::escape_bytes(e)
                ))
            ));
        }
        if let (Some(c), PayloadStatus::None) = (&h.control, h.payload()) {
            ev.push(format!(
                "hop {} ({}) answered a control segment but none of {} STARTTLS probes",
                h.ttl, c.addr, h.attempts
            ));
        }
        if let Some(
            how @ (crate::evidence::ProbeMatch::TcpTimestamp
            | crate::evidence::ProbeMatch::Sequential),
        ) = h.matched_by
        {
            ev.push(format!(
                "hop {}: quote matched to its probe by {} (IP ID rewritten on the way)",
                h.ttl,
                match how {
                    crate::evidence::ProbeMatch::TcpTimestamp => "its TCP timestamp",
                    _ => "probing the TTL alone",
                }
            ));
        }
        if let Some(d) = &h.diff {
            for c in &d.changes {
                ev.push(format!(
                    "hop {}: {} changed {} -> {}",
                    h.ttl, c.field, c.sent, c.quoted
                ));
            }
        }
    }
    if smtp.banner_masked {
        ev.push("banner masked with asterisks".to_string());
    }
    if !smtp.masked_keywords.is_empty() {
        ev.push(format!(
            "EHLO keywords masked: {}",
            smtp.masked_keywords.join(", ")
        ));
    }
    if let Some(e) = &smtp.starttls_echo {
        ev.push(format!("STARTTLS reply quotes \"{e}\""));
    }
    if let Some(r) = &smtp.starttls_reply {
        ev.push(format!("STARTTLS reply: {} {}", r.code, r.text()));
    }
    for r in &tcp.rsts {
        let odd = tcp.server_ttl.is_some_and(|s| s != r.ttl);
        ev.push(format!(
            "RST {} STARTTLS with IP TTL {}{}",
            if r.after_starttls { "after" } else { "before" },
            r.ttl,
            if odd {
                " (differs from the server's: likely injected)"
            } else {
                ""
            }
        ));
    }
    ev
}

#[cfg(test)]
mod tests;
