//! The verdict: what the evidence of one probe session says, and where on the path.
//!
//! Rules, in order (docs/output.md explains each with the evidence behind it):
//! 1. `unreachable`: the TCP handshake failed (RST, ICMP unreachable, or silence).
//! 2. `inconclusive`: the SMTP session ended before STARTTLS could be sent.
//! 3. `stripped`: a hop's ICMP quote shows the STARTTLS bytes changed. `segment.at` is the first
//!    such hop, `segment.after` the last hop below it whose quote still shows the original bytes
//!    (TTL 0, the prober, when none did). If the server nevertheless accepted STARTTLS the
//!    evidence contradicts itself: `inconclusive`.
//! 4. The server refused STARTTLS (5xx) with every quote intact:
//!    - it echoes a rewritten command (`"XXXXXXXX"`), or it advertised STARTTLS in EHLO, or the
//!      banner or EHLO keywords are masked: `stripped` between the last hop that quoted the
//!      original bytes and the server (`segment.at` is null);
//!    - otherwise `not_offered`: the server does not do STARTTLS and nothing was tampered with.
//! 5. The server accepted STARTTLS (220): `advertisement_masked` when the banner or EHLO was
//!    masked, else `clean`.
//! 6. No answer to STARTTLS: `blocked` (the segment was dropped or the connection reset after
//!    it); `segment.after` is the last hop that quoted the original bytes.
//! 7. Anything else (a 4xx answer, an SMTP error after STARTTLS): `inconclusive`.
use crate::evidence::{ConnectOutcome, HopRecord, PayloadStatus, TcpObservations};
use crate::smtp::SmtpObservations;
use crate::types::TimeToLive;
use serde::Serialize;
use std::fmt;
use std::net::Ipv4Addr;

/// The verdict names of the JSON schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Clean,
    Stripped,
    AdvertisementMasked,
    NotOffered,
    Blocked,
    Unreachable,
    Inconclusive,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Clean => "clean",
            Verdict::Stripped => "stripped",
            Verdict::AdvertisementMasked => "advertisement_masked",
            Verdict::NotOffered => "not_offered",
            Verdict::Blocked => "blocked",
            Verdict::Unreachable => "unreachable",
            Verdict::Inconclusive => "inconclusive",
        }
    }

    /// Whether the verdict means someone tampered with the session.
    pub fn is_tampering(self) -> bool {
        matches!(
            self,
            Verdict::Stripped | Verdict::AdvertisementMasked | Verdict::Blocked
        )
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A hop named by a segment: its TTL (0 = the prober) and address when known.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct HopRef {
    pub ttl: TimeToLive,
    pub addr: Option<Ipv4Addr>,
}

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
    pub segment: Option<Segment>,
    pub reason: String,
    pub evidence: Vec<String>,
}

/// Decides from the evidence of one session.
pub fn decide(
    prober: Ipv4Addr,
    hops: &[HopRecord],
    smtp: &SmtpObservations,
    tcp: &TcpObservations,
) -> Decision {
    let mut evidence = collect_evidence(hops, smtp, tcp);
    let decision = |verdict, segment, reason: String, evidence| Decision {
        verdict,
        segment,
        reason,
        evidence,
    };

    if tcp.connect != ConnectOutcome::Established {
        let why = match tcp.connect {
            ConnectOutcome::Refused => "the server refused the connection (RST to our SYN)",
            ConnectOutcome::Unreachable => "an ICMP unreachable answered our SYN",
            _ => "no answer to our SYN",
        };
        return decision(Verdict::Unreachable, None, why.to_string(), evidence);
    }
    if !smtp.starttls_sent {
        let why = smtp
            .error
            .clone()
            .or_else(|| {
                smtp.banner
                    .as_ref()
                    .filter(|b| b.code != 220)
                    .map(|b| format!("banner {} {}", b.code, b.text()))
            })
            .or_else(|| {
                smtp.closed_by_server
                    .map(|p| format!("the server closed the connection during {p:?}"))
            })
            .unwrap_or_else(|| "the session ended before STARTTLS".to_string());
        return decision(
            Verdict::Inconclusive,
            None,
            format!("STARTTLS was never sent: {why}"),
            evidence,
        );
    }

    let prober_ref = HopRef {
        ttl: TimeToLive(0),
        addr: Some(prober),
    };
    let intact_below = |ttl: u8| {
        hops.iter()
            .filter(|h| h.ttl.0 < ttl && h.payload() == PayloadStatus::Intact)
            .max_by_key(|h| h.ttl)
            .map_or(prober_ref, |h| HopRef {
                ttl: h.ttl,
                addr: h.addr,
            })
    };
    let last_intact = intact_below(u8::MAX);
    let masked = smtp.banner_masked || !smtp.masked_keywords.is_empty();
    let reply = smtp.starttls_reply.as_ref();

    if let Some(m) = hops
        .iter()
        .find(|h| matches!(h.payload(), PayloadStatus::Modified { .. }))
    {
        let seg = Segment {
            after: intact_below(m.ttl.0),
            at: Some(HopRef {
                ttl: m.ttl,
                addr: m.addr,
            }),
        };
        if reply.is_some_and(|r| r.code == 220) {
            return decision(
                Verdict::Inconclusive,
                Some(seg),
                format!(
                    "hop {} quotes a changed STARTTLS, yet the server accepted STARTTLS",
                    m.ttl
                ),
                evidence,
            );
        }
        return decision(
            Verdict::Stripped,
            Some(seg),
            format!(
                "STARTTLS arrives intact at hop {} and changed at hop {}",
                seg.after.ttl, m.ttl
            ),
            evidence,
        );
    }

    match reply {
        Some(r) if (500..600).contains(&r.code) => {
            let after_last = Segment {
                after: last_intact,
                at: None,
            };
            if let Some(echo) = &smtp.starttls_echo {
                return decision(
                    Verdict::Stripped,
                    Some(after_last),
                    format!(
                        "the server answered {} quoting \"{echo}\": STARTTLS was rewritten after hop {}",
                        r.code, last_intact.ttl
                    ),
                    evidence,
                );
            }
            if smtp.starttls_advertised || masked {
                let why = if smtp.starttls_advertised {
                    "the server advertised STARTTLS but did not recognise the command"
                } else {
                    "the banner or EHLO reply is masked and the server did not recognise STARTTLS"
                };
                return decision(
                    Verdict::Stripped,
                    Some(after_last),
                    format!(
                        "{why}: rewritten between hop {} and the server",
                        last_intact.ttl
                    ),
                    evidence,
                );
            }
            decision(
                Verdict::NotOffered,
                None,
                format!(
                    "the server does not offer STARTTLS (not advertised, {} {}) and no tampering was seen",
                    r.code,
                    r.text()
                ),
                evidence,
            )
        }
        Some(r) if r.code == 220 => {
            if masked {
                decision(
                    Verdict::AdvertisementMasked,
                    None,
                    "the banner or EHLO reply was masked on the way back, but STARTTLS reached the server intact and was accepted"
                        .to_string(),
                    evidence,
                )
            } else {
                if !smtp.starttls_advertised {
                    evidence
                        .push("STARTTLS was accepted although EHLO did not list it".to_string());
                }
                decision(
                    Verdict::Clean,
                    None,
                    "STARTTLS accepted end to end; every quote shows it unchanged".to_string(),
                    evidence,
                )
            }
        }
        Some(r) => decision(
            Verdict::Inconclusive,
            None,
            format!("the server answered STARTTLS with {} {}", r.code, r.text()),
            evidence,
        ),
        None => {
            let reset = tcp.rsts.iter().any(|r| r.after_starttls);
            let why = if reset {
                "the connection was reset after STARTTLS"
            } else if tcp.starttls_unacked {
                "the STARTTLS segment was never acknowledged (dropped on the way)"
            } else if smtp.closed_by_server.is_some() {
                "the connection was closed after STARTTLS without an answer"
            } else {
                "no answer to STARTTLS"
            };
            decision(
                Verdict::Blocked,
                Some(Segment {
                    after: last_intact,
                    at: None,
                }),
                format!("{why}; last hop seeing it intact: {}", last_intact.ttl),
                evidence,
            )
        }
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
