//! Does the TCP connection to port 25 really end at the target? A transparent SMTP proxy (an
//! ISP's port-25 interception, an anti-virus gateway) answers for the server: our SYN, our
//! STARTTLS and its refusal never travel past it, and the server would be blamed for what the
//! proxy says.
//!
//! The check compares two forward measurements at the same TTL, on flows of our own:
//! - a SYN to the target's port 25 (the *control* flow, another source port) is answered by a
//!   SYN/ACK (or RST) from the target's address, and
//! - a SYN to another port of the target (the *alt* flow, 26 by default, which a port-25 proxy
//!   does not take) with that same TTL expires at a router (ICMP Time Exceeded).
//!
//! Then something at or before that hop answers port 25 in the target's name while the target
//! itself is farther away. The first TTL tried is the distance the SYN/ACK's IP TTL implies;
//! when port 25 is not reached there (asymmetric paths), up to two TTLs more. Once shown, one
//! more round of both SYNs at every TTL up to there locates the hop (the first TTL where the alt
//! SYN expires at a router while the port-25 SYN does not) and measures how far the target is
//! (where the routers stop answering the alt SYNs and the target answers them instead).
//!
//! Every SYN/ACK our SYNs draw is reset. Without a proxy the check costs two SYNs and one
//! RST, answered within one round trip, while the SMTP dialogue goes on.
use crate::evidence::{HopRef, Interception, InterceptionCheck};
use bytes::Bytes;
use reconmap_wire::{
    build_ipv4_tcp, Captured, FlowAddrs, IcmpError, IpId, IpParams, ReceivedSegment, SeqNumber,
    TcpFlags, TcpOptions, TcpSegment, TimeToLive,
};
use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// The alt port by default: next to 25, closed on most mail servers, and no port-25 proxy's.
pub const DEFAULT_ALT_PORT: u16 = 26;
/// TTLs tried beyond the implied distance when port 25 is not reached there.
const EXTRA_TTLS: u8 = 2;
/// Most TTLs the locating round probes.
const MAX_LOCATE_TTL: u8 = 40;

/// What the check needs.
#[derive(Clone, Debug)]
pub struct InterceptPlan {
    /// Our port toward another port of the target.
    pub alt: FlowAddrs,
    /// Another of our ports toward the target's port 25.
    pub ctl: FlowAddrs,
    /// The TTL the main connection's SYN/ACK implies reaches the target.
    pub distance: TimeToLive,
    pub max_ttl: TimeToLive,
    /// How long a round waits for answers.
    pub wait: Duration,
    pub first_ip_id: IpId,
    /// Initial sequence number of our SYNs.
    pub isn: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Side {
    Alt,
    Ctl,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Both SYNs at one TTL (`extra` TTLs beyond the implied distance so far).
    Confirm {
        ttl: TimeToLive,
        extra: u8,
    },
    /// Both SYNs at every TTL up to where port 25 was answered.
    Locate {
        answered_at: TimeToLive,
    },
    Done,
}

/// A datagram the check wants sent.
#[derive(Clone, Debug)]
pub struct CheckPacket {
    pub datagram: Vec<u8>,
    pub dst: Ipv4Addr,
}

/// The check's state (sans-IO, like the session that owns it).
#[derive(Debug)]
pub struct InterceptCheckState {
    plan: InterceptPlan,
    phase: Phase,
    deadline: Option<Instant>,
    probes: HashMap<IpId, (Side, TimeToLive)>,
    next_ip_id: IpId,
    /// Time Exceeded answers: the router, by side and TTL.
    expired: BTreeMap<(Side, TimeToLive), Ipv4Addr>,
    /// The target's address answered our port-25 SYN in this round (SYN/ACK or RST).
    ctl_answered: bool,
    /// The target answered our alt SYN in this round.
    alt_answered: bool,
    /// The target's answers to alt SYNs in the locating round.
    alt_answers: u32,
    /// The highest TTL the locating round sent an alt SYN with (besides the full-TTL one).
    last_alt_ttl: TimeToLive,
    /// The target answered an alt SYN (RST or SYN/ACK), with that IP TTL.
    alt_answer_ttl: Option<TimeToLive>,
    outbox: Vec<CheckPacket>,
    result: Option<InterceptionCheck>,
}

impl InterceptCheckState {
    /// Starts the check: the first SYNs are ready in [`poll_transmit`](Self::poll_transmit).
    pub fn start(plan: InterceptPlan, now: Instant) -> Self {
        let ttl = plan.distance.max(TimeToLive(1));
        let mut s = Self {
            next_ip_id: plan.first_ip_id,
            plan,
            phase: Phase::Confirm { ttl, extra: 0 },
            deadline: None,
            probes: HashMap::new(),
            expired: BTreeMap::new(),
            ctl_answered: false,
            alt_answered: false,
            alt_answers: 0,
            last_alt_ttl: TimeToLive::PROBER,
            alt_answer_ttl: None,
            outbox: Vec::new(),
            result: None,
        };
        s.confirm_round(now, ttl);
        s
    }

    /// The check's flows (to register, and to route captured packets here).
    pub fn flows(&self) -> [FlowAddrs; 2] {
        [self.plan.alt, self.plan.ctl]
    }

    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// The outcome (`None` while running).
    pub fn result(&self) -> Option<&InterceptionCheck> {
        self.result.as_ref()
    }

    pub fn poll_at(&self) -> Option<Instant> {
        (!self.is_done()).then_some(self.deadline).flatten()
    }

    pub fn poll_transmit(&mut self) -> Option<CheckPacket> {
        if self.outbox.is_empty() {
            None
        } else {
            Some(self.outbox.remove(0))
        }
    }

    /// Gives up now (the session ends): what was shown so far stands.
    pub fn abandon(&mut self) {
        if !self.is_done() {
            self.finish(InterceptionCheck::Undetermined(
                "the session ended before the check was complete".to_string(),
            ));
        }
    }

    fn syn(&mut self, side: Side, ttl: TimeToLive) {
        let flow = match side {
            Side::Alt => self.plan.alt,
            Side::Ctl => self.plan.ctl,
        };
        let id = self.next_ip_id;
        self.next_ip_id = id.next();
        let seg = TcpSegment {
            seq: SeqNumber(self.plan.isn),
            ack: SeqNumber(0),
            flags: TcpFlags {
                syn: true,
                ..TcpFlags::default()
            },
            window: 64240,
            options: TcpOptions {
                mss: Some(1460),
                sack_permitted: true,
                window_scale: Some(7),
                timestamps: None,
            },
            payload: Bytes::new(),
        };
        if let Ok(datagram) = build_ipv4_tcp(&flow, &IpParams::new(ttl, id), &seg) {
            self.probes.insert(id, (side, ttl));
            self.outbox.push(CheckPacket {
                datagram,
                dst: *flow.remote.ip(),
            });
        }
    }

    fn reset(&mut self, flow: FlowAddrs, seq: SeqNumber) {
        let seg = TcpSegment {
            seq,
            ack: SeqNumber(0),
            flags: TcpFlags {
                rst: true,
                ..TcpFlags::default()
            },
            ..TcpSegment::default()
        };
        let id = self.next_ip_id;
        self.next_ip_id = id.next();
        if let Ok(datagram) = build_ipv4_tcp(&flow, &IpParams::new(TimeToLive(64), id), &seg) {
            self.outbox.push(CheckPacket {
                datagram,
                dst: *flow.remote.ip(),
            });
        }
    }

    fn confirm_round(&mut self, now: Instant, ttl: TimeToLive) {
        self.ctl_answered = false;
        self.alt_answered = false;
        self.syn(Side::Ctl, ttl);
        self.syn(Side::Alt, ttl);
        self.deadline = Some(now + self.plan.wait);
    }

    /// A packet of one of the check's flows.
    pub fn on_captured(&mut self, now: Instant, captured: &Captured) {
        match captured {
            Captured::Tcp(seg) => self.on_segment(now, seg),
            Captured::IcmpError(icmp) => self.on_icmp(now, icmp),
        }
    }

    fn on_segment(&mut self, now: Instant, rx: &ReceivedSegment) {
        let flow = FlowAddrs {
            local: rx.dst,
            remote: rx.src,
        };
        let seg = &rx.segment;
        let ours = seg.flags.ack && seg.ack == SeqNumber(self.plan.isn) + 1;
        if !ours || !(seg.flags.syn || seg.flags.rst) {
            return;
        }
        if seg.flags.syn {
            // Never leave a half-open connection behind.
            self.reset(flow, seg.ack);
        }
        if flow == self.plan.ctl {
            self.ctl_answered = true;
        } else if flow == self.plan.alt {
            self.alt_answered = true;
            self.alt_answers += 1;
            self.alt_answer_ttl.get_or_insert(rx.ip_ttl);
        }
        self.step(now, false);
    }

    fn on_icmp(&mut self, now: Instant, icmp: &IcmpError) {
        let Some(&(side, ttl)) = icmp.quote.ip_id().and_then(|id| self.probes.get(&id)) else {
            return;
        };
        if icmp.kind.is_time_exceeded() {
            self.expired.entry((side, ttl)).or_insert(icmp.from);
        }
        self.step(now, false);
    }

    pub fn on_timer(&mut self, now: Instant) {
        if self.deadline.is_some_and(|d| now >= d) {
            self.step(now, true);
        }
    }

    /// Moves on when the round's answers are in (or its time is up).
    fn step(&mut self, now: Instant, timed_out: bool) {
        match self.phase {
            Phase::Confirm { ttl, extra } => {
                let ctl_expired = self.expired.contains_key(&(Side::Ctl, ttl));
                let alt_router = self.expired.get(&(Side::Alt, ttl)).copied();
                let ctl_done = self.ctl_answered || ctl_expired;
                let alt_done = alt_router.is_some() || self.alt_answered;
                let answered = ctl_done && alt_done;
                if !answered && !timed_out {
                    return;
                }
                if self.ctl_answered && alt_router.is_some() {
                    self.locate_round(now, ttl);
                } else if ctl_expired && extra < EXTRA_TTLS && ttl < self.plan.max_ttl {
                    let next = ttl.next();
                    self.phase = Phase::Confirm {
                        ttl: next,
                        extra: extra + 1,
                    };
                    self.confirm_round(now, next);
                } else if self.ctl_answered && self.alt_answered {
                    self.finish(InterceptionCheck::NotIntercepted(format!(
                        "port 25 answered a SYN with TTL {ttl}, and the target itself answered a SYN to port {} with that TTL",
                        self.plan.alt.remote.port(),
                    )));
                } else if self.ctl_answered {
                    self.finish(InterceptionCheck::Undetermined(format!(
                        "port 25 answered a SYN with TTL {ttl}, but a SYN to port {} with that TTL drew no answer (the target may filter the port, or the router there is silent)",
                        self.plan.alt.remote.port(),
                    )));
                } else {
                    self.finish(InterceptionCheck::Undetermined(format!(
                        "a SYN to port 25 with TTL {ttl} was not answered by the target's address"
                    )));
                }
            }
            Phase::Locate { answered_at } => {
                if timed_out {
                    self.conclude(answered_at);
                }
            }
            Phase::Done => {}
        }
    }

    fn locate_round(&mut self, now: Instant, answered_at: TimeToLive) {
        self.phase = Phase::Locate { answered_at };
        self.alt_answers = 0;
        // One alt SYN that surely reaches the target: its answer's IP TTL tells how far it is.
        self.syn(Side::Alt, TimeToLive(64));
        for t in answered_at.prev().up_to() {
            self.syn(Side::Ctl, t);
        }
        // Alt SYNs up to well past the proxy (the target's answers tell where it is).
        let last = TimeToLive(answered_at.0.saturating_add(8))
            .min(self.plan.max_ttl)
            .min(TimeToLive(MAX_LOCATE_TTL));
        for t in last.up_to() {
            if t != answered_at {
                self.syn(Side::Alt, t);
            }
        }
        self.last_alt_ttl = last;
        self.deadline = Some(now + self.plan.wait);
    }

    /// The hop: the first TTL where the alt SYN expired at a router and the port-25 SYN did
    /// not (it reached the proxy); at worst the TTL where port 25 was answered.
    fn conclude(&mut self, answered_at: TimeToLive) {
        let at = answered_at
            .up_to()
            .find(|&t| {
                self.expired.contains_key(&(Side::Alt, t))
                    && !self.expired.contains_key(&(Side::Ctl, t))
            })
            .unwrap_or(answered_at);
        let router = |t: TimeToLive| {
            self.expired
                .get(&(Side::Alt, t))
                .or_else(|| self.expired.get(&(Side::Ctl, t)))
                .copied()
        };
        let routers_beyond: Vec<(TimeToLive, Ipv4Addr)> = self
            .expired
            .iter()
            .filter(|((side, t), _)| *side == Side::Alt && *t >= at)
            .map(|((_, t), a)| (*t, *a))
            .collect();
        let last_router = routers_beyond.iter().map(|(t, _)| *t).max().unwrap_or(at);
        self.finish(InterceptionCheck::Intercepted(Interception {
            alt_port: self.plan.alt.remote.port(),
            answered_at,
            after: HopRef {
                ttl: at.prev(),
                addr: router(at.prev()),
            },
            at: HopRef {
                ttl: at,
                addr: router(at),
            },
            routers_beyond,
            // Only when a TTL-limited alt SYN reached the target (more answers than the
            // full-TTL SYN's) is the hop past the last router where it is.
            target_reached_at: (self.alt_answers >= 2 && last_router < self.last_alt_ttl)
                .then(|| last_router.next()),
            target_answer_ttl: self.alt_answer_ttl,
        }));
    }

    fn finish(&mut self, result: InterceptionCheck) {
        self.result = Some(result);
        self.phase = Phase::Done;
        self.deadline = None;
    }
}

#[cfg(test)]
mod tests;
