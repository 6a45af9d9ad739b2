//! The STARTTLS TTL sweep: the same segment (same bytes, same sequence number) sent with TTL 1,
//! 2, 3, ..., every copy told apart by its IP ID while the 5-tuple stays fixed (Dublin-traceroute
//! style), ICMP quotes matched back to their probe and diffed against it (tracebox style).
//!
//! All probes of a round go out together, so the sweep costs one path RTT, not one timeout per
//! hop. Hops that stay silent get up to `retries` more rounds.
use super::near_hops::{HopSignature, SharedPrefix};
use crate::evidence::{HopRecord, QuoteDiff};
use reconmap_wire::{
    build_ipv4_tcp, diff_quote, FlowAddrs, IcmpError, IpParams, PacketError, TcpSegment,
};
use reconmap_wire::{IpId, TimeToLive};
use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// One copy of the STARTTLS segment on its way.
#[derive(Clone, Debug)]
struct Probe {
    ttl: u8,
    sent_at: Option<Instant>,
    /// The datagram exactly as sent, for the quote diff.
    datagram: Vec<u8>,
}

/// What came back for one TTL.
#[derive(Clone, Debug)]
struct Answer {
    from: Ipv4Addr,
    rtt: Option<Duration>,
    icmp: (u8, u8),
    diff: QuoteDiff,
}

#[derive(Clone, Debug, Default)]
struct HopState {
    attempts: u8,
    answer: Option<Answer>,
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
    limit: u8,
    retries_left: u8,
    wait: Duration,
    /// TTL that reaches the server, as estimated from the SYN/ACK (routers + 1).
    server_distance: Option<u8>,
    probes: HashMap<u16, Probe>,
    hops: BTreeMap<u8, HopState>,
    next_ip_id: u16,
    round_deadline: Option<Instant>,
    finished: bool,
    unmatched: u32,
    /// Reuse of the hops near the prober: the junction TTL and what it must show.
    junction: Option<(u8, HopSignature)>,
    /// The junction disagreed: the shared TTLs must be probed after all.
    fallback_pending: bool,
}

impl Sweep {
    /// A sweep of `template` over TTL 1..=`limit` with `retries` retry rounds for silent hops.
    pub fn new(
        flow: FlowAddrs,
        template: TcpSegment,
        limit: u8,
        retries: u8,
        wait: Duration,
        server_distance: Option<u8>,
        first_ip_id: u16,
    ) -> Self {
        let limit = limit.max(1);
        Self {
            flow,
            template,
            limit,
            retries_left: retries,
            wait,
            server_distance,
            probes: HashMap::new(),
            hops: (1..=limit).map(|t| (t, HopState::default())).collect(),
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
        if prefix.junction > self.limit || prefix.junction < 2 {
            return self;
        }
        for rec in prefix.hops {
            if let Some(hop) = self.hops.get_mut(&rec.ttl.0) {
                hop.shared = true;
                hop.answer = match (rec.addr, rec.icmp, rec.diff) {
                    (Some(from), Some(icmp), Some(diff)) => Some(Answer {
                        from,
                        rtt: rec.rtt,
                        icmp,
                        diff,
                    }),
                    _ => None,
                };
            }
        }
        self.junction = Some((prefix.junction, prefix.junction_signature));
        self
    }

    /// TTLs not covered by the shared prefix.
    fn unshared(&self) -> Vec<u8> {
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
        let ttls: Vec<u8> = self
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

    fn round(&mut self, now: Instant, ttls: &[u8]) -> Result<Vec<SweepProbe>, PacketError> {
        let mut out = Vec::with_capacity(ttls.len());
        for &ttl in ttls {
            let id = self.next_ip_id;
            self.next_ip_id = self.next_ip_id.wrapping_add(1);
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
                ttl: TimeToLive(ttl),
                ip_id: IpId(id),
                datagram,
            });
        }
        self.round_deadline = Some(now + self.wait);
        Ok(out)
    }

    /// Records the moment a probe actually left (for its RTT).
    pub fn mark_sent(&mut self, ip_id: IpId, at: Instant) {
        if let Some(p) = self.probes.get_mut(&ip_id.0) {
            p.sent_at = Some(at);
        }
    }

    /// Offers an ICMP error that quotes this flow. Returns whether it matched one of our probes.
    pub fn on_icmp(&mut self, at: Instant, icmp: &IcmpError) -> bool {
        let Some(id) = icmp.quote.ip_id() else {
            self.unmatched += 1;
            return false;
        };
        let Some(probe) = self.probes.get(&id) else {
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
            // The first answer for a TTL counts; a later one (a retry's) adds nothing.
            if hop.answer.is_none() {
                hop.answer = Some(Answer {
                    from: icmp.from,
                    rtt,
                    icmp: (icmp.icmp_type, icmp.code),
                    diff,
                });
            }
        }
        self.check_complete();
        true
    }

    /// ICMP errors that quoted our flow but no probe of this sweep.
    pub fn unmatched(&self) -> u32 {
        self.unmatched
    }

    /// TTLs that must answer before the sweep can end early: all routers in front of the server.
    fn wanted(&self) -> impl Iterator<Item = u8> + '_ {
        let highest_answer = self
            .hops
            .iter()
            .filter(|(_, h)| h.answer.as_ref().is_some_and(|a| a.icmp.0 == 11))
            .map(|(&t, _)| t)
            .max()
            .unwrap_or(0);
        // Routers lie below the server's distance; at least every TTL below an answering one.
        let routers = self
            .server_distance
            .map_or(self.limit, |d| d.saturating_sub(1))
            .max(highest_answer)
            .min(self.limit);
        1..=routers
    }

    fn silent(&self) -> Vec<u8> {
        self.wanted()
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
    /// below an answering one).
    pub fn hop_records(&self) -> Vec<HopRecord> {
        let last: u8 = self.wanted().last().unwrap_or(0);
        let last = if self.server_distance.is_none() {
            // Unknown distance: stop after the highest TTL that answered at all.
            self.hops
                .iter()
                .filter(|(_, h)| h.answer.is_some())
                .map(|(&t, _)| t)
                .max()
                .unwrap_or(0)
        } else {
            last
        };
        // `last` is 0 when the server is directly connected: no router, no hop record (a range
        // 1..=0 over the map would panic).
        self.hops
            .iter()
            .take_while(|(&ttl, _)| ttl <= last)
            .map(|(&ttl, h)| HopRecord {
                ttl: TimeToLive(ttl),
                addr: h.answer.as_ref().map(|a| a.from),
                rtt: h.answer.as_ref().and_then(|a| a.rtt),
                icmp: h.answer.as_ref().map(|a| a.icmp),
                attempts: h.attempts,
                diff: h.answer.as_ref().map(|a| a.diff.clone()),
                shared: h.shared,
            })
            .collect()
    }
}
