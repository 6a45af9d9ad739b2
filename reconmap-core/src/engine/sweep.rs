//! The STARTTLS TTL sweep: the same segment (same bytes, same sequence number) sent with TTL 1,
//! 2, 3, ..., every copy told apart by its IP ID while the 5-tuple stays fixed (Dublin-traceroute
//! style), ICMP quotes matched back to their probe and diffed against it (tracebox style).
//!
//! All probes of a round go out together, so the sweep costs one path RTT, not one timeout per
//! hop. Hops that stay silent get up to `retries` more rounds. A later answer to a TTL that
//! disagrees with the first one (another source, another payload status) makes the hop
//! conflicting: one of the two is forged or misattributed, so neither is evidence.
use super::near_hops::{HopSignature, SharedPrefix};
use crate::evidence::{ConflictingAnswer, HopRecord, QuoteDiff};
use reconmap_wire::{
    build_ipv4_tcp, diff_quote, FlowAddrs, IcmpError, IcmpExtensions, IcmpKind, IpId, IpParams,
    PacketError, TcpSegment, TimeToLive,
};
use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// Most conflicting answers kept per hop (a flood of forged ones must not grow a record).
const MAX_CONFLICTS: usize = 4;

/// One copy of the STARTTLS segment on its way.
#[derive(Clone, Debug)]
struct Probe {
    ttl: TimeToLive,
    sent_at: Option<Instant>,
    /// The datagram exactly as sent, for the quote diff.
    datagram: Vec<u8>,
}

/// What came back for one TTL.
#[derive(Clone, Debug)]
struct Answer {
    from: Ipv4Addr,
    rtt: Option<Duration>,
    icmp: IcmpKind,
    diff: QuoteDiff,
    extensions: IcmpExtensions,
}

#[derive(Clone, Debug, Default)]
struct HopState {
    attempts: u8,
    answer: Option<Answer>,
    conflicts: Vec<ConflictingAnswer>,
    /// Taken from the run's stop set, not probed (see `near_hops`).
    shared: bool,
}

/// A datagram the sweep wants sent, with the IP ID that identifies it.
#[derive(Clone, Debug)]
pub struct SweepProbe {
    pub ttl: TimeToLive,
    pub ip_id: IpId,
    pub datagram: Vec<u8>,
}

/// State of one TTL sweep.
#[derive(Debug)]
pub struct Sweep {
    flow: FlowAddrs,
    template: TcpSegment,
    limit: TimeToLive,
    retries_left: u8,
    wait: Duration,
    /// TTL that reaches the server, as estimated from the SYN/ACK (routers + 1).
    server_distance: Option<TimeToLive>,
    probes: HashMap<IpId, Probe>,
    hops: BTreeMap<TimeToLive, HopState>,
    next_ip_id: IpId,
    round_deadline: Option<Instant>,
    finished: bool,
    unmatched: u32,
    /// Reuse of the hops near the prober: the junction TTL and what it must show.
    junction: Option<(TimeToLive, HopSignature)>,
    /// The junction disagreed: the shared TTLs must be probed after all.
    fallback_pending: bool,
}

impl Sweep {
    /// A sweep of `template` over TTL 1..=`limit` with `retries` retry rounds for silent hops.
    pub fn new(
        flow: FlowAddrs,
        template: TcpSegment,
        limit: TimeToLive,
        retries: u8,
        wait: Duration,
        server_distance: Option<TimeToLive>,
        first_ip_id: IpId,
    ) -> Self {
        let limit = limit.max(TimeToLive(1));
        Self {
            flow,
            template,
            limit,
            retries_left: retries,
            wait,
            server_distance,
            probes: HashMap::new(),
            hops: limit.up_to().map(|t| (t, HopState::default())).collect(),
            next_ip_id: first_ip_id,
            round_deadline: None,
            finished: false,
            unmatched: 0,
            junction: None,
            fallback_pending: false,
        }
    }

    /// Reuses the hops near the prober that every path of this run has shown so far: they are
    /// not probed unless the junction TTL disagrees with the stop set.
    pub fn with_shared_prefix(mut self, prefix: SharedPrefix) -> Self {
        if prefix.junction > self.limit || prefix.junction < TimeToLive(2) {
            return self;
        }
        for rec in prefix.hops {
            if let Some(hop) = self.hops.get_mut(&rec.ttl) {
                hop.shared = true;
                hop.answer = match (rec.addr, rec.icmp, rec.diff) {
                    (Some(from), Some(icmp), Some(diff)) => Some(Answer {
                        from,
                        rtt: rec.rtt,
                        icmp,
                        diff,
                        extensions: rec.extensions,
                    }),
                    _ => None,
                };
            }
        }
        self.junction = Some((prefix.junction, prefix.junction_signature));
        self
    }

    /// TTLs not covered by the shared prefix.
    fn unshared(&self) -> Vec<TimeToLive> {
        self.hops
            .iter()
            .filter(|(_, h)| !h.shared)
            .map(|(&t, _)| t)
            .collect()
    }

    /// Drops the reuse: the shared TTLs become ordinary silent hops to probe now.
    fn abandon_shared(&mut self) {
        if self.junction.take().is_none() {
            return;
        }
        for hop in self.hops.values_mut().filter(|h| h.shared) {
            hop.shared = false;
            hop.answer = None;
        }
        self.fallback_pending = true;
        self.finished = false;
    }

    /// Probes owed because the junction disagreed with the stop set (sent at once).
    pub fn take_fallback(&mut self, now: Instant) -> Result<Vec<SweepProbe>, PacketError> {
        if !self.fallback_pending {
            return Ok(Vec::new());
        }
        self.fallback_pending = false;
        let ttls: Vec<TimeToLive> = self
            .hops
            .iter()
            .filter(|(_, h)| h.attempts == 0)
            .map(|(&t, _)| t)
            .collect();
        self.round(now, &ttls)
    }

    /// The first round: one probe per TTL, all at once.
    pub fn start(&mut self, now: Instant) -> Result<Vec<SweepProbe>, PacketError> {
        let ttls = self.unshared();
        self.round(now, &ttls)
    }

    fn round(&mut self, now: Instant, ttls: &[TimeToLive]) -> Result<Vec<SweepProbe>, PacketError> {
        let mut out = Vec::with_capacity(ttls.len());
        for &ttl in ttls {
            let id = self.next_ip_id;
            self.next_ip_id = id.next();
            let datagram = build_ipv4_tcp(&self.flow, &IpParams::new(ttl, id), &self.template)?;
            self.probes.insert(
                id,
                Probe {
                    ttl,
                    sent_at: None,
                    datagram: datagram.clone(),
                },
            );
            if let Some(hop) = self.hops.get_mut(&ttl) {
                hop.attempts = hop.attempts.saturating_add(1);
            }
            out.push(SweepProbe {
                ttl,
                ip_id: id,
                datagram,
            });
        }
        self.round_deadline = Some(now + self.wait);
        Ok(out)
    }

    /// Records the moment a probe actually left (for its RTT).
    pub fn mark_sent(&mut self, ip_id: IpId, at: Instant) {
        if let Some(p) = self.probes.get_mut(&ip_id) {
            p.sent_at = Some(at);
        }
    }

    /// Offers an ICMP error that quotes this flow. Returns whether it matched one of our probes.
    pub fn on_icmp(&mut self, at: Instant, icmp: &IcmpError) -> bool {
        let Some(probe) = icmp.quote.ip_id().and_then(|id| self.probes.get(&id)) else {
            self.unmatched += 1;
            return false;
        };
        let ttl = probe.ttl;
        let rtt = probe.sent_at.map(|s| at.saturating_duration_since(s));
        let diff = diff_quote(&probe.datagram, &icmp.quote);
        if let Some((junction, expected)) = &self.junction {
            let seen = HopSignature {
                addr: icmp.from,
                payload: diff.payload.clone(),
            };
            if ttl == *junction && seen != *expected {
                self.abandon_shared();
            }
        }
        if let Some(hop) = self.hops.get_mut(&ttl) {
            match &hop.answer {
                // The first answer for a TTL counts; a retry's answer that agrees adds nothing.
                None => {
                    hop.answer = Some(Answer {
                        from: icmp.from,
                        rtt,
                        icmp: icmp.kind,
                        diff,
                        extensions: icmp.extensions.clone(),
                    });
                }
                Some(first) => {
                    let agrees = first.from == icmp.from && first.diff.payload == diff.payload;
                    let known = hop
                        .conflicts
                        .iter()
                        .any(|c| c.addr == icmp.from && c.payload == diff.payload);
                    if !agrees && !known && hop.conflicts.len() < MAX_CONFLICTS {
                        hop.conflicts.push(ConflictingAnswer {
                            addr: icmp.from,
                            payload: diff.payload,
                        });
                    }
                }
            }
        }
        self.check_complete();
        true
    }

    /// ICMP errors that quoted our flow but no probe of this sweep.
    pub fn unmatched(&self) -> u32 {
        self.unmatched
    }

    /// The last TTL that must answer before the sweep can end early: all routers in front of
    /// the server (at least every TTL below one that answered with time exceeded).
    fn last_wanted(&self) -> TimeToLive {
        let highest_answer = self
            .hops
            .iter()
            .filter(|(_, h)| h.answer.as_ref().is_some_and(|a| a.icmp.is_time_exceeded()))
            .map(|(&t, _)| t)
            .max()
            .unwrap_or(TimeToLive::PROBER);
        let routers = self
            .server_distance
            .map_or(self.limit, TimeToLive::prev)
            .max(highest_answer);
        routers.min(self.limit)
    }

    fn silent(&self) -> Vec<TimeToLive> {
        self.last_wanted()
            .up_to()
            .filter(|t| self.hops.get(t).is_some_and(|h| h.answer.is_none()))
            .collect()
    }

    fn check_complete(&mut self) {
        if !self.finished && !self.fallback_pending && self.silent().is_empty() {
            self.finished = true;
            self.round_deadline = None;
        }
    }

    /// When the current round's wait ends.
    pub fn poll_at(&self) -> Option<Instant> {
        if self.finished {
            None
        } else {
            self.round_deadline
        }
    }

    /// Timer: at the end of a round, retries silent hops or finishes.
    pub fn on_timer(&mut self, now: Instant) -> Result<Vec<SweepProbe>, PacketError> {
        match self.round_deadline {
            Some(d) if now >= d && !self.finished => {}
            _ => return Ok(Vec::new()),
        }
        if let Some((junction, _)) = self.junction {
            if self.hops.get(&junction).is_some_and(|h| h.answer.is_none()) {
                // A silent junction cannot vouch for the shared hops.
                self.abandon_shared();
                return self.take_fallback(now);
            }
        }
        let silent = self.silent();
        if silent.is_empty() || self.retries_left == 0 {
            self.finished = true;
            self.round_deadline = None;
            return Ok(Vec::new());
        }
        self.retries_left -= 1;
        self.round(now, &silent)
    }

    /// Ends the sweep now (e.g. the session is giving up); silent hops stay silent.
    pub fn finish(&mut self) {
        self.finished = true;
        self.round_deadline = None;
    }

    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// One record per TTL from 1 up to the last router (the server's distance minus one when
    /// known, else the highest TTL that answered, at least up to the highest silent TTL probed
    /// below an answering one). Empty when the server is directly connected.
    pub fn hop_records(&self) -> Vec<HopRecord> {
        let last = if self.server_distance.is_none() {
            // Unknown distance: stop after the highest TTL that answered at all.
            self.hops
                .iter()
                .filter(|(_, h)| h.answer.is_some())
                .map(|(&t, _)| t)
                .max()
                .unwrap_or(TimeToLive::PROBER)
        } else {
            self.last_wanted()
        };
        self.hops
            .iter()
            .take_while(|(&ttl, _)| ttl <= last)
            .map(|(&ttl, h)| HopRecord {
                ttl,
                addr: h.answer.as_ref().map(|a| a.from),
                rtt: h.answer.as_ref().and_then(|a| a.rtt),
                icmp: h.answer.as_ref().map(|a| a.icmp),
                attempts: h.attempts,
                diff: h.answer.as_ref().map(|a| a.diff.clone()),
                shared: h.shared,
                conflicts: h.conflicts.clone(),
                extensions: h
                    .answer
                    .as_ref()
                    .map(|a| a.extensions.clone())
                    .unwrap_or_default(),
            })
            .collect()
    }
}
