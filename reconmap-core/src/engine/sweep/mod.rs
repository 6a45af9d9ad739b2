//! The STARTTLS TTL sweep: the same segment (same bytes, same sequence number) sent with TTL 1,
//! 2, 3, ... while the 5-tuple stays fixed (Dublin-traceroute style), each copy told apart by
//! its IP ID and TCP timestamp value ([`probes`]), ICMP quotes matched back to their probe and
//! diffed against it (tracebox style).
//!
//! Rounds: all probes of a round go out together, so a round costs one path RTT, not one
//! timeout per hop. Hops that stay silent get up to `retries` more rounds; from the first retry
//! on, each silent TTL below the server also gets a *control* segment (same length, bytes the
//! server already acknowledged): a hop that answers the control but never the STARTTLS segment
//! is where STARTTLS disappears.
//!
//! Sequential mode: when a round brought answers that quote our flow with an IP ID of no probe
//! and too short to show the TCP timestamp (an IP-ID rewriting box in front of header-only
//! quoting routers), the silent TTLs are probed again one at a time: with a single probe
//! outstanding, any answer is that probe's. It costs one RTT per answering hop.
//!
//! A later answer to a TTL that disagrees with the first one (another source, another payload
//! status) makes the hop conflicting: one of the two is forged or misattributed, so neither is
//! evidence. An answer matched by its IP ID outranks one matched otherwise.
mod probes;

pub use probes::{ProbeKind, TsvalBlock};

use super::near_hops::{HopSignature, SharedPrefix};
use crate::evidence::{ConflictingAnswer, ControlAnswer, HopRecord, ProbeMatch, QuoteDiff};
use probes::{Identified, ProbeTable};
use reconmap_wire::{
    diff_quote, expected_checksum_with_rewrite, FlowAddrs, IcmpError, IcmpExtensions, IcmpKind,
    IpId, PacketError, PayloadStatus, Quote, TcpSegment, TimeToLive,
};
use std::collections::{BTreeMap, VecDeque};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// Most conflicting answers kept per hop (a flood of forged ones must not grow a record).
const MAX_CONFLICTS: usize = 4;

/// TCP timestamp values a sweep may use (probes, retries, controls, sequential re-probes).
pub const TSVAL_BLOCK: u32 = 1024;

/// What came back for one TTL.
#[derive(Clone, Debug)]
struct Answer {
    from: Ipv4Addr,
    rtt: Option<Duration>,
    icmp: IcmpKind,
    diff: QuoteDiff,
    matched_by: ProbeMatch,
    /// RFC 4884 extensions of the ICMP message.
    extensions: IcmpExtensions,
    /// The probe it answers and the quote, for checking an inferred rewrite later.
    probe: IpId,
    quote: Quote,
}

#[derive(Clone, Debug, Default)]
struct HopState {
    attempts: u8,
    answer: Option<Answer>,
    conflicts: Vec<ConflictingAnswer>,
    /// Taken from the run's stop set, not probed (see `near_hops`).
    shared: bool,
    control: Option<ControlAnswer>,
    control_attempts: u8,
    /// Answers folded into `answer` (itself and the copies that agreed with it): all of them
    /// are set aside when a better-matched answer replaces it.
    copies: u32,
}

/// A datagram the sweep wants sent, with the IP ID that identifies it.
#[derive(Clone, Debug)]
pub struct SweepProbe {
    pub ttl: TimeToLive,
    pub ip_id: IpId,
    pub kind: ProbeKind,
    pub datagram: Vec<u8>,
}

/// What a sweep is made of.
#[derive(Clone, Debug)]
pub struct SweepPlan {
    pub flow: FlowAddrs,
    /// The STARTTLS segment as TCP would send it.
    pub template: TcpSegment,
    /// The control segment (see the module docs); `None`: no drop location.
    pub control: Option<TcpSegment>,
    pub limit: TimeToLive,
    pub retries: u8,
    /// How long a round (or one sequential probe) waits for answers.
    pub wait: Duration,
    /// TTL that reaches the server, as estimated from the SYN/ACK (routers + 1).
    pub server_distance: Option<TimeToLive>,
    pub first_ip_id: IpId,
    /// TCP timestamp values reserved for the probes (`None`: no timestamps on the connection).
    pub tsvals: Option<TsvalBlock>,
}

/// One-at-a-time probing (see the module docs).
#[derive(Debug, Default)]
struct Sequential {
    queue: VecDeque<(TimeToLive, ProbeKind)>,
    outstanding: Option<(IpId, Instant)>,
    controls_queued: bool,
}

/// State of one TTL sweep.
#[derive(Debug)]
pub struct Sweep {
    plan: SweepPlan,
    retries_left: u8,
    probes: ProbeTable,
    hops: BTreeMap<TimeToLive, HopState>,
    round_deadline: Option<Instant>,
    finished: bool,
    unmatched: u32,
    /// Answers of the current round that only a probe sent alone could tie to its TTL.
    unresolved_in_round: u32,
    /// What the current round sent (for [`Sweep::sequential_when_all_in`]).
    round_probes: Vec<(TimeToLive, ProbeKind)>,
    sequential: Option<Sequential>,
    /// Probes owed at once (after a sequential answer, or the junction's disagreement).
    owed: Vec<(TimeToLive, ProbeKind)>,
    /// Reuse of the hops near the prober: the junction TTL and what it must show.
    junction: Option<(TimeToLive, HopSignature)>,
}

impl Sweep {
    pub fn new(plan: SweepPlan) -> Self {
        let limit = plan.limit.max(TimeToLive(1));
        let plan = SweepPlan { limit, ..plan };
        Self {
            retries_left: plan.retries,
            probes: ProbeTable::new(plan.first_ip_id, plan.tsvals),
            hops: limit.up_to().map(|t| (t, HopState::default())).collect(),
            round_deadline: None,
            finished: false,
            unmatched: 0,
            unresolved_in_round: 0,
            round_probes: Vec::new(),
            sequential: None,
            owed: Vec::new(),
            junction: None,
            plan,
        }
    }

    /// Reuses the hops near the prober that every path of this run has shown so far: they are
    /// not probed unless the junction TTL disagrees with the stop set.
    pub fn with_shared_prefix(mut self, prefix: SharedPrefix) -> Self {
        if prefix.junction > self.plan.limit || prefix.junction < TimeToLive(2) {
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
                        matched_by: rec.matched_by.unwrap_or(ProbeMatch::IpId),
                        extensions: rec.extensions,
                        probe: IpId(0),
                        quote: Quote::new(&[]),
                    }),
                    _ => None,
                };
            }
        }
        self.junction = Some((prefix.junction, prefix.junction_signature));
        self
    }

    /// Drops the reuse: the shared TTLs become ordinary silent hops to probe now.
    fn abandon_shared(&mut self) {
        if self.junction.take().is_none() {
            return;
        }
        for (&ttl, hop) in self.hops.iter_mut().filter(|(_, h)| h.shared) {
            hop.shared = false;
            hop.answer = None;
            if hop.attempts == 0 {
                self.owed.push((ttl, ProbeKind::Starttls));
            }
        }
        self.finished = false;
    }

    /// Probes owed now (the junction disagreed, or a sequential probe was answered): send at once.
    pub fn take_owed(&mut self, now: Instant) -> Result<Vec<SweepProbe>, PacketError> {
        let owed = std::mem::take(&mut self.owed);
        if owed.is_empty() {
            return Ok(Vec::new());
        }
        let out = self.send(&owed)?;
        if self.sequential.is_none() {
            self.round_deadline = Some(now + self.plan.wait);
        }
        Ok(out)
    }

    /// The first round: one STARTTLS probe per TTL not taken from the stop set, all at once.
    pub fn start(&mut self, now: Instant) -> Result<Vec<SweepProbe>, PacketError> {
        let ttls: Vec<(TimeToLive, ProbeKind)> = self
            .hops
            .iter()
            .filter(|(_, h)| !h.shared)
            .map(|(&t, _)| (t, ProbeKind::Starttls))
            .collect();
        self.round(now, &ttls)
    }

    fn round(
        &mut self,
        now: Instant,
        which: &[(TimeToLive, ProbeKind)],
    ) -> Result<Vec<SweepProbe>, PacketError> {
        self.unresolved_in_round = 0;
        self.round_probes = which.to_vec();
        let out = self.send(which)?;
        self.round_deadline = Some(now + self.plan.wait);
        Ok(out)
    }

    fn send(&mut self, which: &[(TimeToLive, ProbeKind)]) -> Result<Vec<SweepProbe>, PacketError> {
        let mut out = Vec::with_capacity(which.len());
        for &(ttl, kind) in which {
            let template = match kind {
                ProbeKind::Starttls => &self.plan.template,
                ProbeKind::Control => match &self.plan.control {
                    Some(c) => c,
                    None => continue,
                },
            };
            let (ip_id, datagram) = self.probes.build(&self.plan.flow, template, ttl, kind)?;
            if let Some(hop) = self.hops.get_mut(&ttl) {
                let n = match kind {
                    ProbeKind::Starttls => &mut hop.attempts,
                    ProbeKind::Control => &mut hop.control_attempts,
                };
                *n = n.saturating_add(1);
            }
            out.push(SweepProbe {
                ttl,
                ip_id,
                kind,
                datagram,
            });
        }
        Ok(out)
    }

    /// Records the moment a probe actually left (for its RTT; a sequential probe's wait
    /// starts then too).
    pub fn mark_sent(&mut self, ip_id: IpId, at: Instant) {
        self.probes.mark_sent(ip_id, at);
        if let Some(seq) = self.sequential.as_mut() {
            if let Some((id, deadline)) = seq.outstanding.as_mut() {
                if *id == ip_id {
                    *deadline = at + self.plan.wait;
                }
            }
        }
    }

    /// Offers an ICMP error that quotes this flow. Returns whether it matched one of our probes.
    pub fn on_icmp(&mut self, at: Instant, icmp: &IcmpError) -> bool {
        let (id, how) = match self.probes.identify(&icmp.quote) {
            Identified::Probe(id, how) => (id, how),
            Identified::Unknown { resolvable } => {
                let late = self.late_answer_of_other_kind(&icmp.quote);
                let alone = self
                    .sequential
                    .as_mut()
                    .filter(|_| resolvable && !late)
                    .and_then(|s| s.outstanding.take());
                match alone {
                    Some((id, _)) => (id, ProbeMatch::Sequential),
                    None => {
                        self.unmatched += 1;
                        if resolvable {
                            self.unresolved_in_round += 1;
                            self.sequential_when_all_in(at);
                        }
                        return false;
                    }
                }
            }
        };
        let Some(probe) = self.probes.get(id).cloned() else {
            return false;
        };
        // A sequential probe answered (by any match): the next one goes out now.
        if let Some(seq) = self.sequential.as_mut() {
            if seq.outstanding.is_some_and(|(o, _)| o == id) {
                seq.outstanding = None;
            }
        }
        let rtt = probe.sent_at.map(|s| at.saturating_duration_since(s));
        match probe.kind {
            ProbeKind::Control => {
                if let Some(hop) = self.hops.get_mut(&probe.ttl) {
                    hop.control.get_or_insert(ControlAnswer {
                        addr: icmp.from,
                        rtt,
                        icmp: icmp.kind,
                    });
                }
            }
            ProbeKind::Starttls => {
                let diff = diff_quote(&probe.datagram, &icmp.quote);
                self.check_junction(probe.ttl, icmp.from, &diff);
                let answer = Answer {
                    from: icmp.from,
                    rtt,
                    icmp: icmp.kind,
                    diff,
                    matched_by: how,
                    extensions: icmp.extensions.clone(),
                    probe: id,
                    quote: icmp.quote.clone(),
                };
                // Only routers are matched other than by IP ID: beyond them, an answer can only
                // be the server's (not an ICMP error) or forged.
                let router = self.plan.server_distance.is_none_or(|d| probe.ttl < d);
                if how != ProbeMatch::IpId && !router {
                    self.unmatched += 1;
                } else if let Some(hop) = self.hops.get_mut(&probe.ttl) {
                    self.unmatched += record_answer(hop, answer);
                }
            }
        }
        self.advance_sequential(at);
        self.sequential_when_all_in(at);
        self.check_complete();
        true
    }

    /// Whether a quote no probe could be matched to carries the sequence number of the kind
    /// of probe (STARTTLS or control) that is *not* the one outstanding in sequential mode:
    /// then it is a late answer to an earlier round, not the answer to the probe sent alone.
    /// (A box shifting sequence numbers shifts them by a random offset, which makes the
    /// quoted number equal neither.)
    fn late_answer_of_other_kind(&self, quote: &Quote) -> bool {
        let (Some(seq), Some(quoted)) = (self.sequential.as_ref(), quote.tcp_seq()) else {
            return false;
        };
        let Some(kind) = seq
            .outstanding
            .and_then(|(id, _)| self.probes.get(id))
            .map(|p| p.kind)
        else {
            return false;
        };
        let starttls = self.plan.template.seq;
        let control = self.plan.control.as_ref().map(|c| c.seq);
        match kind {
            ProbeKind::Starttls => control.is_some_and(|c| c != starttls && quoted == c),
            ProbeKind::Control => control.is_some_and(|c| c != starttls) && quoted == starttls,
        }
    }

    /// Goes sequential at once (without waiting for the round's end) when every probe of the
    /// round still unanswered (STARTTLS and control) may already have answered with a quote
    /// only a probe sent alone can place. Counting the controls matters: their answers are
    /// unresolvable too, and an early start while some are in flight would let a late one
    /// pass for the answer to the first probe sent alone.
    fn sequential_when_all_in(&mut self, now: Instant) {
        if self.sequential.is_some() || self.unresolved_in_round == 0 || self.junction.is_some() {
            return;
        }
        let silent = self.silent();
        let in_flight = self
            .round_probes
            .iter()
            .filter(|(ttl, kind)| {
                if !silent.contains(ttl) {
                    return false;
                }
                let hop = self.hops.get(ttl);
                match kind {
                    ProbeKind::Starttls => hop.is_some_and(|h| h.answer.is_none()),
                    ProbeKind::Control => hop.is_some_and(|h| h.control.is_none()),
                }
            })
            .count();
        if !silent.is_empty() && self.unresolved_in_round as usize >= in_flight.max(silent.len()) {
            self.start_sequential(now, &silent);
        }
    }

    fn start_sequential(&mut self, now: Instant, silent: &[TimeToLive]) {
        self.sequential = Some(Sequential {
            queue: silent.iter().map(|&t| (t, ProbeKind::Starttls)).collect(),
            ..Sequential::default()
        });
        self.round_deadline = None;
        self.advance_sequential(now);
    }

    fn check_junction(&mut self, ttl: TimeToLive, from: Ipv4Addr, diff: &QuoteDiff) {
        if let Some((junction, expected)) = &self.junction {
            let seen = HopSignature {
                addr: from,
                payload: diff.payload.name(),
            };
            if ttl == *junction && seen != *expected {
                self.abandon_shared();
            }
        }
    }

    /// Whether a quote names one of this sweep's probes (by IP ID or TCP timestamp); a quote
    /// only a probe sent alone could place counts when one is outstanding.
    pub fn owns(&self, quote: &Quote) -> bool {
        match self.probes.identify(quote) {
            Identified::Probe(..) => true,
            Identified::Unknown { resolvable } => {
                resolvable
                    && self
                        .sequential
                        .as_ref()
                        .is_some_and(|s| s.outstanding.is_some())
            }
        }
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
            .plan
            .server_distance
            .map_or(self.plan.limit, TimeToLive::prev)
            .max(highest_answer);
        routers.min(self.plan.limit)
    }

    fn silent(&self) -> Vec<TimeToLive> {
        self.last_wanted()
            .up_to()
            .filter(|t| self.hops.get(t).is_some_and(|h| h.answer.is_none()))
            .collect()
    }

    /// Silent TTLs that a control segment may be sent to: below the server (so that it can
    /// never reach it), not answered to a control yet.
    fn control_ttls(&self, silent: &[TimeToLive]) -> Vec<TimeToLive> {
        let (Some(distance), Some(_)) = (self.plan.server_distance, &self.plan.control) else {
            return Vec::new();
        };
        silent
            .iter()
            .copied()
            .filter(|&t| t < distance)
            .filter(|t| self.hops.get(t).is_some_and(|h| h.control.is_none()))
            .collect()
    }

    fn check_complete(&mut self) {
        let sequential_busy = self
            .sequential
            .as_ref()
            .is_some_and(|s| s.outstanding.is_some() || !s.queue.is_empty());
        if !self.finished && self.owed.is_empty() && !sequential_busy && self.silent().is_empty() {
            self.finished = true;
            self.round_deadline = None;
        }
    }

    /// When the sweep wants its timer.
    pub fn poll_at(&self) -> Option<Instant> {
        if self.finished {
            return None;
        }
        if let Some(seq) = &self.sequential {
            return seq.outstanding.map(|(_, d)| d);
        }
        self.round_deadline
    }

    /// Timer: at the end of a round, retries silent hops (with control segments), switches to
    /// sequential probing, or finishes; in sequential mode, gives up on the outstanding probe.
    pub fn on_timer(&mut self, now: Instant) -> Result<Vec<SweepProbe>, PacketError> {
        if self.finished {
            return Ok(Vec::new());
        }
        if let Some(seq) = self.sequential.as_mut() {
            if seq.outstanding.is_some_and(|(_, d)| now >= d) {
                seq.outstanding = None;
                self.advance_sequential(now);
                self.check_complete();
                return self.take_owed(now);
            }
            return Ok(Vec::new());
        }
        match self.round_deadline {
            Some(d) if now >= d => {}
            _ => return Ok(Vec::new()),
        }
        if let Some((junction, _)) = self.junction {
            if self.hops.get(&junction).is_some_and(|h| h.answer.is_none()) {
                // A silent junction cannot vouch for the shared hops.
                self.abandon_shared();
                return self.take_owed(now);
            }
        }
        let silent = self.silent();
        if silent.is_empty() {
            self.finish();
            return Ok(Vec::new());
        }
        if self.unresolved_in_round > 0 {
            // Answers came that only a probe sent alone can place: probe the silent TTLs
            // again one at a time.
            self.start_sequential(now, &silent);
            return self.take_owed(now);
        }
        let controls = self.control_ttls(&silent);
        let first_controls = controls
            .iter()
            .any(|t| self.hops.get(t).is_some_and(|h| h.control_attempts == 0));
        if self.retries_left == 0 && !first_controls {
            self.finish();
            return Ok(Vec::new());
        }
        let mut which: Vec<(TimeToLive, ProbeKind)> = Vec::new();
        if self.retries_left > 0 {
            self.retries_left -= 1;
            which.extend(silent.iter().map(|&t| (t, ProbeKind::Starttls)));
        }
        which.extend(controls.iter().map(|&t| (t, ProbeKind::Control)));
        self.round(now, &which)
    }

    /// In sequential mode with nothing outstanding: queues the next probe as owed (and the
    /// control segments once the STARTTLS probes are through), or ends the sweep.
    fn advance_sequential(&mut self, now: Instant) {
        let controls = {
            let Some(seq) = self.sequential.as_ref() else {
                return;
            };
            if seq.outstanding.is_some() {
                return;
            }
            if seq.queue.is_empty() && !seq.controls_queued {
                let silent = self.silent();
                Some(self.control_ttls(&silent))
            } else {
                None
            }
        };
        let Some(seq) = self.sequential.as_mut() else {
            return;
        };
        if let Some(c) = controls {
            seq.controls_queued = true;
            seq.queue
                .extend(c.into_iter().map(|t| (t, ProbeKind::Control)));
        }
        // Skip TTLs answered meanwhile.
        while let Some((ttl, kind)) = seq.queue.pop_front() {
            let hop = self.hops.get(&ttl);
            let answered = match kind {
                ProbeKind::Starttls => hop.is_some_and(|h| h.answer.is_some()),
                ProbeKind::Control => hop.is_some_and(|h| h.control.is_some()),
            };
            if answered {
                continue;
            }
            // The probe's IP ID is the next one the table hands out.
            seq.outstanding = Some((self.probes.peek_next_ip_id(), now + self.plan.wait));
            self.owed.push((ttl, kind));
            return;
        }
        // Nothing left to probe one at a time: the sweep is done.
        self.finished = true;
    }

    /// Ends the sweep now (e.g. the session is giving up); silent hops stay silent.
    pub fn finish(&mut self) {
        self.finished = true;
        self.round_deadline = None;
        if let Some(seq) = self.sequential.as_mut() {
            seq.outstanding = None;
            seq.queue.clear();
        }
    }

    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// One record per TTL from 1 up to the last router (the server's distance minus one when
    /// known, else the highest TTL that answered, at least up to the highest silent TTL probed
    /// below an answering one). Empty when the server is directly connected. `echo` is the
    /// rewritten command the server's reply quoted, if any: it confirms a `checksum_changed`
    /// hop when it gives exactly the quoted checksum.
    pub fn hop_records(&self, echo: Option<&[u8]>) -> Vec<HopRecord> {
        let last = if self.plan.server_distance.is_none() {
            // Unknown distance: stop after the highest TTL that answered at all.
            self.hops
                .iter()
                .filter(|(_, h)| h.answer.is_some() || h.control.is_some())
                .map(|(&t, _)| t)
                .max()
                .unwrap_or(TimeToLive::PROBER)
        } else {
            self.last_wanted()
        };
        self.hops
            .iter()
            .take_while(|(&ttl, _)| ttl <= last)
            .map(|(&ttl, h)| {
                let a = h.answer.as_ref();
                HopRecord {
                    ttl,
                    addr: a.map(|a| a.from),
                    rtt: a.and_then(|a| a.rtt),
                    icmp: a.map(|a| a.icmp),
                    attempts: h.attempts,
                    diff: a.map(|a| a.diff.clone()),
                    shared: h.shared,
                    conflicts: h.conflicts.clone(),
                    matched_by: a.map(|a| a.matched_by),
                    control: h.control,
                    control_attempts: h.control_attempts,
                    checksum_confirmed_by: a.and_then(|a| self.confirm_checksum(a, echo)),
                    extensions: a.map(|a| a.extensions.clone()).unwrap_or_default(),
                }
            })
            .collect()
    }

    /// Whether `echo`, written over the command, gives exactly the checksum the hop quoted.
    fn confirm_checksum(&self, a: &Answer, echo: Option<&[u8]>) -> Option<Vec<u8>> {
        let echo = echo?;
        let PayloadStatus::ChecksumChanged { quoted, .. } = a.diff.payload else {
            return None;
        };
        let probe = self.probes.get(a.probe)?;
        let sum = expected_checksum_with_rewrite(&probe.datagram, &a.quote, echo)?;
        (sum == quoted).then(|| echo.to_vec())
    }
}

/// Files an answer for a hop: the first counts; one matched by IP ID replaces one matched
/// otherwise (a forger's copy of a probe carries its TSval too); a disagreeing answer of the
/// same standing makes the hop conflicting. Returns how many answers were set aside (the
/// weaker ones): they count as unmatched.
fn record_answer(hop: &mut HopState, answer: Answer) -> u32 {
    let strong = |a: &Answer| a.matched_by == ProbeMatch::IpId;
    let Some(first) = hop.answer.as_ref() else {
        hop.answer = Some(answer);
        hop.copies = 1;
        return 0;
    };
    match (strong(first), strong(&answer)) {
        (false, true) => {
            hop.answer = Some(answer);
            hop.conflicts.clear();
            return std::mem::replace(&mut hop.copies, 1);
        }
        (true, false) => return 1,
        _ => {}
    }
    hop.copies = hop.copies.saturating_add(1);
    let agrees = first.from == answer.from && same_claim(&first.diff.payload, &answer.diff.payload);
    let known = hop
        .conflicts
        .iter()
        .any(|c| c.addr == answer.from && same_claim(&c.payload, &answer.diff.payload));
    if !agrees && !known && hop.conflicts.len() < MAX_CONFLICTS {
        hop.conflicts.push(ConflictingAnswer {
            addr: answer.from,
            payload: answer.diff.payload,
        });
    }
    0
}

/// Whether two answers say the same about the payload. Checksums differ from probe to probe
/// (each carries its own TSval), so an inferred change is one claim whatever its numbers.
fn same_claim(a: &PayloadStatus, b: &PayloadStatus) -> bool {
    match (a, b) {
        (PayloadStatus::ChecksumChanged { .. }, PayloadStatus::ChecksumChanged { .. }) => true,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests;
