//! The facts the verdict rules read, computed once from the evidence.
use super::{HopRef, Segment};
use crate::evidence::{ConnectOutcome, Evidence, HopRecord, Incomplete, PayloadStatus};
use crate::smtp::Reply;
use reconmap_wire::TimeToLive;

/// How the server answered STARTTLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartTlsAnswer<'a> {
    /// `220`: ready to start TLS.
    Accepted(&'a Reply),
    /// A 5xx: the command was refused.
    Refused(&'a Reply),
    /// Anything else (a 4xx, a 3xx, ...).
    Other(&'a Reply),
    /// No answer at all.
    None,
}

/// Everything the rules decide on.
#[derive(Clone, Debug)]
pub struct Facts<'a> {
    pub evidence: &'a Evidence,
    pub incomplete: Option<&'a Incomplete>,
    pub connect: ConnectOutcome,
    pub starttls_sent: bool,
    /// The first hop whose quote shows the STARTTLS bytes changed (or, unless the server
    /// accepted STARTTLS, whose quoted checksum says so), and the segment it closes.
    pub first_modified: Option<Segment>,
    /// Whether that hop's change is inferred from its TCP checksum (header-only quote).
    pub modified_inferred: Option<&'a HopRecord>,
    /// The first hop above the last intact one that answered a control segment but never
    /// the STARTTLS segment: where STARTTLS disappears.
    pub first_unreached: Option<HopRef>,
    /// Boxes that change headers on the forward path.
    pub candidates: Vec<super::CandidateBox>,
    /// What the TLS handshake after `220` showed, when one was attempted.
    pub tls: Option<TlsFacts<'a>>,
    /// The last hop whose quote shows the original bytes (the prober when none does).
    pub last_intact: HopRef,
    /// The banner or an EHLO keyword was masked on the way back.
    pub masked: bool,
    pub advertised: bool,
    pub answer: StartTlsAnswer<'a>,
    /// A rewritten command the server's reply quotes back (`XXXXXXXX`).
    pub echo: Option<&'a str>,
    /// A RST arrived after STARTTLS was sent with another IP TTL than the server's own
    /// segments (or the server's is unknown): injected on the way.
    pub injected_reset: bool,
    /// A RST arrived after STARTTLS was sent with the server's own IP TTL: the server's.
    pub server_reset: bool,
    /// The STARTTLS segment was never acknowledged.
    pub starttls_unacked: bool,
    /// The server closed the connection (FIN) while STARTTLS waited for its answer.
    pub closed_after_starttls: bool,
}

/// The TLS stage's facts (see [`Facts::tls`]).
#[derive(Clone, Debug)]
pub struct TlsFacts<'a> {
    pub evidence: &'a crate::evidence::TlsEvidence,
    /// The handshake completed.
    pub established: bool,
    /// The first hop whose quote shows the ClientHello changed, and the segment it closes.
    pub first_modified: Option<Segment>,
    pub modified_hop: Option<&'a HopRecord>,
    /// The last hop that saw the ClientHello as sent (the prober when none did).
    pub last_intact: HopRef,
    /// The first hop above it that answered a control segment but never the ClientHello.
    pub first_unreached: Option<HopRef>,
    /// A RST after the ClientHello whose IP TTL differs from the server's segments.
    pub injected_reset: Option<&'a crate::evidence::RstRecord>,
    /// A RST after the ClientHello with the server's own IP TTL.
    pub server_reset: bool,
    /// The server answered in TLS (a ServerHello, an alert, any record).
    pub server_answered: bool,
    /// The server closed the connection (its FIN) before the handshake was over.
    pub server_closed: bool,
}

impl TlsFacts<'_> {
    /// Where a ClientHello that got no answer disappeared.
    pub fn where_lost(&self) -> Segment {
        Segment {
            after: self.last_intact,
            at: self.first_unreached,
        }
    }
}

impl<'a> Facts<'a> {
    pub fn of(e: &'a Evidence) -> Self {
        let prober = HopRef {
            ttl: TimeToLive(0),
            addr: Some(e.prober),
        };
        let intact_below = |ttl: u8| {
            e.hops
                .iter()
                .filter(|h| h.ttl.0 < ttl && h.payload().is_unchanged())
                .max_by_key(|h| h.ttl)
                .map_or(prober, |h| HopRef {
                    ttl: h.ttl,
                    addr: h.addr,
                })
        };
        let accepted = e
            .smtp
            .starttls_reply
            .as_ref()
            .is_some_and(|r| r.code == 220);
        // With STARTTLS accepted, a checksum change cannot be a rewritten command (the server
        // got STARTTLS): it is a header-level change (options), not evidence of stripping.
        let changed = |h: &&HopRecord| match h.payload() {
            PayloadStatus::Modified { .. } => true,
            PayloadStatus::ChecksumChanged { .. } => !accepted,
            _ => false,
        };
        let first = e.hops.iter().find(changed);
        let first_modified = first.map(|m| Segment {
            after: intact_below(m.ttl.0),
            at: Some(HopRef {
                ttl: m.ttl,
                addr: m.addr,
            }),
        });
        let modified_inferred =
            first.filter(|h| matches!(h.payload(), PayloadStatus::ChecksumChanged { .. }));
        let last_intact = intact_below(u8::MAX);
        let first_unreached = e
            .hops
            .iter()
            .filter(|h| h.ttl > last_intact.ttl && h.payload() == PayloadStatus::None)
            .filter(|h| !h.is_conflicting())
            .find_map(|h| {
                h.control.map(|c| HopRef {
                    ttl: h.ttl,
                    addr: Some(c.addr),
                })
            });
        let smtp = &e.smtp;
        let answer = match smtp.starttls_reply.as_ref() {
            Some(r) if r.code == 220 => StartTlsAnswer::Accepted(r),
            Some(r) if (500..600).contains(&r.code) => StartTlsAnswer::Refused(r),
            Some(r) => StartTlsAnswer::Other(r),
            None => StartTlsAnswer::None,
        };
        Self {
            evidence: e,
            incomplete: e.incomplete.as_ref(),
            connect: e.tcp.connect,
            starttls_sent: smtp.starttls_sent,
            first_modified,
            modified_inferred,
            first_unreached,
            tls: e.tls.as_ref().map(|t| tls_facts(e, t, prober)),
            candidates: super::path_changes::candidate_boxes(
                &e.hops,
                super::path_changes::prober_ref(e.prober),
            ),
            last_intact,
            masked: smtp.banner_masked || !smtp.masked_keywords.is_empty(),
            advertised: smtp.starttls_advertised,
            answer,
            echo: smtp.starttls_echo.as_deref(),
            injected_reset: e
                .tcp
                .rsts
                .iter()
                .any(|r| r.after_starttls && r.server_ttl != Some(r.ttl)),
            server_reset: e
                .tcp
                .rsts
                .iter()
                .any(|r| r.after_starttls && r.server_ttl == Some(r.ttl)),
            starttls_unacked: e.tcp.starttls_unacked,
            closed_after_starttls: smtp.closed_by_server == Some(crate::smtp::SmtpPhase::StartTls),
        }
    }

    /// The segment from the last intact hop to the server (`at` unknown).
    pub fn after_last_intact(&self) -> Segment {
        Segment {
            after: self.last_intact,
            at: None,
        }
    }

    /// Where a segment that never got an answer disappeared: from the last intact hop to the
    /// first hop that answered a control segment but never STARTTLS (the server when none did).
    pub fn where_lost(&self) -> Segment {
        Segment {
            after: self.last_intact,
            at: self.first_unreached,
        }
    }
}

/// The facts of the TLS stage: the same reading of its sweep as of the STARTTLS one.
fn tls_facts<'a>(
    e: &'a Evidence,
    t: &'a crate::evidence::TlsEvidence,
    prober: HopRef,
) -> TlsFacts<'a> {
    let hops = &t.hops;
    let intact_below = |ttl: u8| {
        hops.iter()
            .filter(|h| h.ttl.0 < ttl && h.payload().is_unchanged())
            .max_by_key(|h| h.ttl)
            .map_or(prober, |h| HopRef {
                ttl: h.ttl,
                addr: h.addr,
            })
    };
    let modified_hop = hops.iter().find(|h| h.payload().is_changed());
    let first_modified = modified_hop.map(|m| Segment {
        after: intact_below(m.ttl.0),
        at: Some(HopRef {
            ttl: m.ttl,
            addr: m.addr,
        }),
    });
    let last_intact = intact_below(u8::MAX);
    let first_unreached = hops
        .iter()
        .filter(|h| h.ttl > last_intact.ttl && h.payload() == PayloadStatus::None)
        .filter(|h| !h.is_conflicting())
        .find_map(|h| {
            h.control.map(|c| HopRef {
                ttl: h.ttl,
                addr: Some(c.addr),
            })
        });
    let obs = &t.observations;
    let established = obs.failure.is_none() && obs.version.is_some();
    let server_answered = t.server_spoke
        || obs.server_hello.is_some()
        || obs
            .failure
            .as_ref()
            .is_some_and(|f| f.alert_sent_by == Some(reconmap_tls::Peer::Server));
    let rsts = || e.tcp.rsts.iter().filter(|r| r.after_client_hello);
    TlsFacts {
        evidence: t,
        established,
        first_modified,
        modified_hop,
        last_intact,
        first_unreached,
        injected_reset: rsts().find(|r| r.server_ttl != Some(r.ttl)),
        server_reset: rsts().any(|r| r.server_ttl == Some(r.ttl)),
        server_answered,
        server_closed: t.server_closed,
    }
}
