//! The engine: any number of concurrent [`ProbeSession`]s over one [`Transport`],
//! demultiplexed by flow, with admission under back-pressure, packet pacing, timers, the retire
//! grace of finished flows, the run's stop set of near hops, and drain/abort.
//!
//! It is sans-IO like the sessions: a runner (the datapath's async loop, or the simulator's
//! virtual-time loop) calls [`Engine::admit`], [`Engine::on_arrivals`], [`Engine::on_timers`]
//! and [`Engine::flush`], and sleeps until [`Engine::poll_at`] or the next packet. Every target
//! handed to the engine ends up in exactly one [`Evidence`] given to the [`Sink`]: probed,
//! interrupted, not probed (with the reason) or failed on a bug (a panic in a session is caught
//! and ends that session only).
mod admit;
mod captures;
mod timers;

use super::config::ProbeConfig;
use super::near_hops::NearHops;
use super::pacing::TokenBucket;
use super::ports::PortAllocator;
use super::session::{Outgoing, ProbeSession};
use super::transport::Transport;
use crate::evidence::{Evidence, Incomplete};
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use reconmap_wire::FlowAddrs;

/// How long a finished flow stays registered (and its port taken), so late segments of the
/// peer neither provoke kernel RSTs nor meet a new session.
pub const RETIRE_GRACE: Duration = Duration::from_secs(2);

/// Errors that stop a whole run (a single target's trouble ends up in its record instead).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot write a result: {0}")]
    Sink(#[from] SinkError),
}

/// Why the sink could not take a record.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SinkError(pub String);

/// Where finished sessions go (one [`Evidence`] per target).
pub trait Sink {
    fn record(&mut self, evidence: Evidence, stats: &RunStats) -> Result<(), SinkError>;
}

impl<F> Sink for F
where
    F: FnMut(Evidence, &RunStats) -> Result<(), SinkError>,
{
    fn record(&mut self, evidence: Evidence, stats: &RunStats) -> Result<(), SinkError> {
        self(evidence, stats)
    }
}

/// How many sessions run at once and how fast packets go out.
#[derive(Clone, Copy, Debug)]
pub struct RunPlan {
    pub concurrency: usize,
    /// Cap on all packets sent per second (SYNs, sweep probes, ACKs, ...); `None` = no cap.
    pub rate: Option<f64>,
}

impl Default for RunPlan {
    fn default() -> Self {
        Self {
            concurrency: 1,
            rate: None,
        }
    }
}

/// What a stop request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum StopLevel {
    /// Keep going.
    Run,
    /// Start no new session; let those in flight finish or time out.
    Drain,
    /// Reset the sessions in flight now and report them as interrupted.
    Abort,
}

/// Counters of one run.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct RunStats {
    /// Targets handed to the engine (each gets exactly one record).
    pub targets: u64,
    pub started: u64,
    pub finished: u64,
    /// Sessions reset by an abort before their verdict was complete.
    pub interrupted: u64,
    /// Targets that could not be probed (each has a record saying why).
    pub not_probed: u64,
    /// Sessions ended by a bug (a caught panic); each has a record saying so.
    pub internal_errors: u64,
    /// Times admission waited for room in the flow table or for a free source port.
    pub capacity_waits: u64,
    pub captured: u64,
    pub malformed: u64,
    /// Captured packets whose flow belongs to no live session (late arrivals).
    pub stray: u64,
    pub send_errors: u64,
    /// Packets sent.
    pub packets: u64,
    /// Sessions in flight right now.
    pub in_flight: u64,
}

impl RunStats {
    /// Records that do not hold a complete trace (the run did not probe everything).
    pub fn incomplete(&self) -> u64 {
        self.interrupted + self.not_probed + self.internal_errors
    }
}

/// One target of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub addr: SocketAddrV4,
    /// The name the input gave it (SNI, and the certificate check), if any.
    pub name: Option<std::sync::Arc<str>>,
}

impl Target {
    /// A target known by its address only.
    pub fn addr(addr: SocketAddrV4) -> Self {
        Self { addr, name: None }
    }
}

struct Active {
    session: ProbeSession,
    scheduled: Option<Instant>,
}

/// The engine of one run (see the module docs).
pub struct Engine {
    cfg: Arc<ProbeConfig>,
    source: Ipv4Addr,
    concurrency: usize,
    active: HashMap<FlowAddrs, Active>,
    timers: BinaryHeap<Reverse<(Instant, FlowAddrs)>>,
    queue: VecDeque<(FlowAddrs, Outgoing)>,
    bucket: Option<TokenBucket>,
    stats: RunStats,
    /// The run's stop set of hops near the prober (Doubletree-style reuse).
    near: Rc<RefCell<NearHops>>,
    /// Finished flows still registered, with the end of their grace.
    retired: VecDeque<(Instant, FlowAddrs)>,
    ports: PortAllocator,
    rng: StdRng,
    level: StopLevel,
    /// A target admission took but could not start yet (no room or no port).
    waiting: Option<Target>,
    /// The interception check's flows, to the session's main flow.
    aliases: HashMap<FlowAddrs, FlowAddrs>,
    /// Sessions that asked for their check's flows (granted at the next flush).
    side_requests: Vec<FlowAddrs>,
}

impl Engine {
    /// An engine for targets probed from `source`, ports from `ports`, randomness (ISNs, IP
    /// IDs, source ports) from `seed`.
    pub fn new(
        cfg: Arc<ProbeConfig>,
        plan: RunPlan,
        source: Ipv4Addr,
        ports: PortAllocator,
        seed: u64,
        now: Instant,
    ) -> Self {
        Self {
            cfg: Arc::new(cfg.as_ref().clone().clamped()),
            source,
            concurrency: plan.concurrency.max(1),
            active: HashMap::new(),
            timers: BinaryHeap::new(),
            queue: VecDeque::new(),
            bucket: plan.rate.map(|r| TokenBucket::new(r, now)),
            stats: RunStats::default(),
            near: Rc::new(RefCell::new(NearHops::default())),
            retired: VecDeque::new(),
            ports,
            rng: StdRng::seed_from_u64(seed),
            level: StopLevel::Run,
            waiting: None,
            aliases: HashMap::new(),
            side_requests: Vec::new(),
        }
    }

    pub fn source(&self) -> Ipv4Addr {
        self.source
    }

    pub fn stats(&self) -> &RunStats {
        &self.stats
    }

    /// The stop level in effect.
    pub fn level(&self) -> StopLevel {
        self.level
    }

    /// Whether the run is over: nothing in flight, nothing to send, nothing waiting, and no
    /// more targets will come (`targets_left` false) or admissions have stopped.
    pub fn is_finished(&self, targets_left: bool) -> bool {
        let no_more = !targets_left || self.level != StopLevel::Run;
        self.active.is_empty()
            && self.queue.is_empty()
            && (self.waiting.is_none() || self.level != StopLevel::Run)
            && no_more
    }

    /// When the engine wants to run next (a session timer, the next send token, the end of a
    /// retire grace). `None`: only a packet or a new target can wake it.
    pub fn poll_at(&self, now: Instant) -> Option<Instant> {
        let send = (!self.queue.is_empty() || !self.side_requests.is_empty())
            .then(|| self.next_send(now))
            .flatten();
        [
            self.timers.peek().map(|Reverse((t, _))| *t),
            send,
            self.retired.front().map(|(t, _)| *t),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Ends the run: unregisters every retired flow at once (their grace is cut short).
    pub fn shutdown(&mut self, net: &mut impl Transport) {
        while let Some((_, flow)) = self.retired.pop_front() {
            self.release(flow, net);
        }
        self.stats.in_flight = self.active.len() as u64;
    }

    /// Sends queued packets as far as the rate allows.
    pub fn flush(&mut self, now: Instant, net: &mut impl Transport) {
        self.grant_side_flows(now, net);
        while let Some((flow, out)) = self.queue.front() {
            if let Some(b) = self.bucket.as_mut() {
                if b.take(now).is_err() {
                    return;
                }
            }
            match net.send(&out.datagram, out.dst) {
                Ok(()) => {
                    self.stats.packets += 1;
                    if let (Some(id), Some(a)) = (out.probe, self.active.get_mut(flow)) {
                        a.session.probe_sent(id, now);
                    }
                }
                Err(e) => {
                    log::warn!("send to {} failed: {e}", out.dst);
                    self.stats.send_errors += 1;
                }
            }
            self.queue.pop_front();
        }
    }

    /// When the pacing allows the next packet.
    fn next_send(&self, now: Instant) -> Option<Instant> {
        match &self.bucket {
            None => Some(now),
            Some(b) => {
                let mut probe = b.clone();
                Some(probe.take(now).err().unwrap_or(now))
            }
        }
    }

    /// Unregisters flows whose grace is over and gives their ports back.
    pub fn retire(&mut self, now: Instant, net: &mut impl Transport) {
        while let Some((due, flow)) = self.retired.front().copied() {
            if due > now {
                break;
            }
            self.retired.pop_front();
            self.release(flow, net);
        }
    }

    fn release(&mut self, flow: FlowAddrs, net: &mut impl Transport) {
        net.unregister(flow);
        self.ports.release(flow.remote, flow.local.port());
    }

    /// Flows registered now (live and in their grace, the check's flows included).
    fn flows_in_use(&self) -> usize {
        self.active.len() + self.retired.len() + self.aliases.len()
    }

    /// The flows a finished session registered: its own and its check's.
    fn session_flows(
        &mut self,
        flow: FlowAddrs,
        side: Option<super::session::SideFlows>,
    ) -> Vec<FlowAddrs> {
        let mut flows = vec![flow];
        if let Some(side) = side {
            for f in side.all() {
                self.aliases.remove(&f);
                flows.push(f);
            }
        }
        flows
    }

    /// Moves what a session queued to the send queue, reschedules its timer, and ends it when
    /// done. A panic inside the session ends that session only.
    fn service(
        &mut self,
        flow: FlowAddrs,
        now: Instant,
        sink: &mut impl Sink,
    ) -> Result<(), EngineError> {
        let Some(a) = self.active.get_mut(&flow) else {
            return Ok(());
        };
        let step = guarded(|| {
            let mut out = Vec::new();
            while let Some(o) = a.session.poll_transmit() {
                out.push(o);
            }
            let wants_side = a.session.take_side_flow_request();
            (out, a.session.is_done(), a.session.poll_at(), wants_side)
        });
        let (out, done, at, wants_side) = match step {
            Ok(v) => v,
            Err(panic) => return self.fail(flow, now, &panic, sink),
        };
        if wants_side {
            self.side_requests.push(flow);
        }
        self.queue.extend(out.into_iter().map(|o| (flow, o)));
        if done {
            return self.finish(flow, now, sink);
        }
        if let Some(at) = at {
            if a.scheduled.is_none_or(|s| at < s) {
                a.scheduled = Some(at);
                self.timers.push(Reverse((at, flow)));
            }
        }
        Ok(())
    }

    /// A finished session: learn from its hops, retire its flow, hand its evidence over.
    fn finish(
        &mut self,
        flow: FlowAddrs,
        now: Instant,
        sink: &mut impl Sink,
    ) -> Result<(), EngineError> {
        let Some(done) = self.active.remove(&flow) else {
            return Ok(());
        };
        let grace = now.checked_add(RETIRE_GRACE).unwrap_or(now);
        for f in self
            .session_flows(flow, done.session.side_flows())
            .into_iter()
            .skip(1)
        {
            self.retired.push_back((grace, f));
        }
        let source = self.source;
        let near = self.near.clone();
        let evidence = guarded(|| {
            let e = done.session.evidence(source);
            if e.incomplete.is_none() {
                near.borrow_mut().learn(&e.hops);
            }
            e
        });
        self.retired
            .push_back((now.checked_add(RETIRE_GRACE).unwrap_or(now), flow));
        let evidence = match evidence {
            Ok(e) => {
                if matches!(e.incomplete, Some(Incomplete::Interrupted(_))) {
                    self.stats.interrupted += 1;
                }
                e
            }
            Err(panic) => {
                self.stats.internal_errors += 1;
                Evidence::empty(
                    flow.remote,
                    self.source,
                    SystemTime::now(),
                    Incomplete::InternalError(panic),
                )
            }
        };
        self.stats.finished += 1;
        self.stats.in_flight = self.active.len() as u64;
        sink.record(evidence, &self.stats)?;
        Ok(())
    }

    /// A session panicked: drop it, keep its flow in the grace, and record the bug.
    fn fail(
        &mut self,
        flow: FlowAddrs,
        now: Instant,
        panic: &str,
        sink: &mut impl Sink,
    ) -> Result<(), EngineError> {
        log::error!("session for {} failed: {panic}", flow.remote);
        let Some(failed) = self.active.remove(&flow) else {
            return Ok(());
        };
        let side = guarded(|| failed.session.side_flows()).ok().flatten();
        let grace = now.checked_add(RETIRE_GRACE).unwrap_or(now);
        for f in self.session_flows(flow, side).into_iter().skip(1) {
            self.retired.push_back((grace, f));
        }
        self.retired
            .push_back((now.checked_add(RETIRE_GRACE).unwrap_or(now), flow));
        self.stats.internal_errors += 1;
        self.stats.finished += 1;
        self.stats.in_flight = self.active.len() as u64;
        let e = Evidence::empty(
            flow.remote,
            self.source,
            SystemTime::now(),
            Incomplete::InternalError(format!("internal error (a bug in ReconMap): {panic}")),
        );
        sink.record(e, &self.stats)?;
        Ok(())
    }
}

/// Runs `f`, turning a panic into its message.
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|p| {
        p.downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".to_string())
    })
}

#[cfg(test)]
mod tests;
