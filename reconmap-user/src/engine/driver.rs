//! The I/O side of the engine: one datapath (eBPF RST guard + capture ring), one raw socket,
//! and any number of concurrent [`ProbeSession`]s demultiplexed by flow. A single `probe` is a
//! run with one target; a scan is the same run fed from a target iterator with a rate limit.
use super::clock::KernelClock;
use super::config::ProbeConfig;
use super::near_hops::NearHops;
use super::session::ProbeSession;
use crate::datapath::{
    route_to, CaptureStream, Datapath, DatapathOptions, FlowTable, PortLease, RawCapture, RawSender,
};
use crate::packet::{parse_captured, Captured, FlowAddrs};
use crate::report::Report;
use rand::Rng as _;
use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::VecDeque;
use std::collections::{BinaryHeap, HashMap};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Errors that stop a whole run (a single target's trouble ends up in its report instead).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Datapath(#[from] crate::datapath::DatapathError),
    #[error("cannot write a result: {0}")]
    Sink(String),
}

/// Where and how the prober attaches.
#[derive(Clone, Debug, Default)]
pub struct ProberOptions {
    /// Interface to attach to and send from (default: the route to the first target).
    pub iface: Option<String>,
    /// Source address (default: the route's preferred source).
    pub source: Option<Ipv4Addr>,
    /// Sessions in flight at most (sizes the flow map and the capture ring).
    pub concurrency: usize,
}

/// How many sessions run at once and how fast packets go out.
#[derive(Clone, Copy, Debug)]
pub struct RunPlan {
    pub concurrency: usize,
    /// Cap on all packets sent per second (SYNs, sweep probes, ACKs, ...); `None` = no cap.
    pub rate: Option<f64>,
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

impl Default for RunPlan {
    fn default() -> Self {
        Self {
            concurrency: 1,
            rate: None,
        }
    }
}

/// Counters of one run.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct RunStats {
    pub started: u64,
    pub finished: u64,
    pub interrupted: u64,
    /// Sessions that could not start (no free source port, ...).
    pub failed_to_start: u64,
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

struct Active {
    session: ProbeSession,
    lease: PortLease,
    scheduled: Option<Instant>,
}

/// The prober: datapath attached, raw socket open.
pub struct Prober {
    datapath: Datapath,
    captures: CaptureStream,
    flows: FlowTable,
    sender: RawSender,
    clock: KernelClock,
    source: Ipv4Addr,
    iface: String,
}

impl Prober {
    /// Attaches the datapath to the interface toward `first_target` (or the one given).
    pub fn open(opts: &ProberOptions, first_target: Ipv4Addr) -> Result<Self, EngineError> {
        let route = route_to(first_target)?;
        let iface = opts.iface.clone().unwrap_or(route.iface);
        let source = opts.source.unwrap_or(route.src);
        let mut datapath =
            Datapath::attach(&DatapathOptions::new(&iface).sized_for(opts.concurrency))?;
        let captures = datapath.take_captures()?;
        let flows = datapath.flows();
        Ok(Self {
            datapath,
            captures,
            flows,
            sender: RawSender::new()?,
            clock: KernelClock::new(),
            source,
            iface,
        })
    }

    pub fn source(&self) -> Ipv4Addr {
        self.source
    }

    pub fn iface(&self) -> &str {
        &self.iface
    }

    pub fn datapath(&self) -> &Datapath {
        &self.datapath
    }

    /// Probes every target, at most `plan.concurrency` at once and at most `plan.rate` packets
    /// per second, and hands each report to `sink` as soon as it is complete. `stop` moving to
    /// [`StopLevel::Drain`] stops admissions; [`StopLevel::Abort`] resets live sessions, which
    /// are reported with what they had (nothing already gathered is lost).
    pub async fn run<T, S>(
        &mut self,
        targets: T,
        plan: RunPlan,
        cfg: Arc<ProbeConfig>,
        mut sink: S,
        mut stop: watch::Receiver<StopLevel>,
    ) -> Result<RunStats, EngineError>
    where
        T: IntoIterator<Item = SocketAddrV4>,
        S: FnMut(Report, &RunStats) -> Result<(), String>,
    {
        let mut targets = targets.into_iter().peekable();
        let mut run = RunState {
            active: HashMap::new(),
            timers: BinaryHeap::new(),
            queue: VecDeque::new(),
            bucket: plan.rate.map(|r| TokenBucket::new(r, Instant::now())),
            stats: RunStats::default(),
            near: Rc::new(RefCell::new(NearHops::default())),
            retired: VecDeque::new(),
        };
        let concurrency = plan.concurrency.max(1);
        let mut batch: Vec<RawCapture> = Vec::with_capacity(256);
        let mut rng = rand::thread_rng();
        let mut level = *stop.borrow();
        let mut stop_open = true;

        loop {
            let now = Instant::now();
            if level == StopLevel::Abort {
                let flows: Vec<FlowAddrs> = run.active.keys().copied().collect();
                for flow in flows {
                    if let Some(a) = run.active.get_mut(&flow) {
                        a.session.interrupt(now, "interrupted (second signal)");
                        run.stats.interrupted += 1;
                    }
                    self.service(&mut run, flow, &mut sink)?;
                }
                // Send the RSTs of the aborted sessions regardless of the rate.
                run.bucket = None;
                self.pump_sends(&mut run);
                break;
            }
            // Admit new sessions while there is room and the send queue is not backed up.
            while level == StopLevel::Run
                && run.active.len() < concurrency
                && run.queue.len() < concurrency.max(64)
                && targets.peek().is_some()
            {
                let Some(target) = targets.next() else { break };
                let lease = match PortLease::acquire(self.source, &mut rng) {
                    Ok(l) => l,
                    Err(e) => {
                        log::warn!("no source port for {target}: {e}");
                        run.stats.failed_to_start += 1;
                        continue;
                    }
                };
                let flow = FlowAddrs {
                    local: SocketAddrV4::new(self.source, lease.port()),
                    remote: target,
                };
                if run.active.contains_key(&flow) {
                    run.stats.failed_to_start += 1;
                    continue;
                }
                // Registered before the SYN leaves, so the SYN/ACK is captured and the
                // kernel's RST for it dropped.
                if let Err(e) = self.flows.register(flow.key()) {
                    log::warn!("cannot register flow for {target}: {e}");
                    run.stats.failed_to_start += 1;
                    continue;
                }
                let session = ProbeSession::with_near_hops(
                    cfg.clone(),
                    flow,
                    rng.gen(),
                    rng.gen(),
                    now,
                    Some(run.near.clone()),
                );
                run.stats.started += 1;
                run.active.insert(
                    flow,
                    Active {
                        session,
                        lease,
                        scheduled: None,
                    },
                );
                self.service(&mut run, flow, &mut sink)?;
            }
            let next_send = self.pump_sends(&mut run);
            let next_retire = self.retire(&mut run, now, false);
            run.stats.in_flight = run.active.len() as u64;
            let exhausted = targets.peek().is_none() || level != StopLevel::Run;
            if run.active.is_empty() && run.queue.is_empty() && exhausted {
                break;
            }

            // Sleep until the earliest timer, the next send token, or a packet.
            let deadline = [
                run.timers.peek().map(|Reverse((t, _))| *t),
                next_send,
                next_retire,
            ]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(1));
            tokio::select! {
                biased;
                changed = stop.changed(), if stop_open => {
                    match changed {
                        Ok(()) => level = level.max(*stop.borrow()),
                        Err(_) => stop_open = false,
                    }
                }
                received = self.captures.recv_batch(&mut batch, 256) => {
                    received?;
                    let now = Instant::now();
                    for raw in batch.drain(..) {
                        run.stats.captured += 1;
                        let captured = match parse_captured(&raw.data) {
                            Ok(c) => c,
                            Err(e) => {
                                log::debug!("unparsable capture: {e}");
                                run.stats.malformed += 1;
                                continue;
                            }
                        };
                        let Some(flow) = flow_of(&captured) else {
                            run.stats.malformed += 1;
                            continue;
                        };
                        let Some(a) = run.active.get_mut(&flow) else {
                            run.stats.stray += 1;
                            continue;
                        };
                        let at = self.clock.to_instant(raw.ts_ns, now);
                        a.session.on_captured(at, &captured);
                        self.service(&mut run, flow, &mut sink)?;
                    }
                }
                () = tokio::time::sleep_until(deadline.into()) => {
                    let now = Instant::now();
                    while let Some(Reverse((t, flow))) = run.timers.peek().copied() {
                        if t > now {
                            break;
                        }
                        run.timers.pop();
                        if let Some(a) = run.active.get_mut(&flow) {
                            if a.scheduled == Some(t) {
                                a.scheduled = None;
                                a.session.on_timer(now);
                            }
                        }
                        self.service(&mut run, flow, &mut sink)?;
                    }
                }
            }
        }
        run.stats.in_flight = 0;
        // Ring items user space could not decode count as malformed too.
        run.stats.malformed += self.captures.malformed();
        self.retire(&mut run, Instant::now(), true);
        Ok(run.stats)
    }

    /// Unregisters flows whose grace period is over (all of them with `all`); returns when the
    /// next one is due.
    fn retire(&mut self, run: &mut RunState, now: Instant, all: bool) -> Option<Instant> {
        while let Some((due, flow, _)) = run.retired.front() {
            if !all && *due > now {
                return Some(*due);
            }
            if let Err(e) = self.flows.unregister(flow.key()) {
                log::warn!("cannot unregister flow {flow:?}: {e}");
            }
            run.retired.pop_front();
        }
        None
    }

    /// Moves what a session has queued to the send queue, reschedules its timer, and retires
    /// it when done.
    fn service<S>(
        &mut self,
        run: &mut RunState,
        flow: FlowAddrs,
        sink: &mut S,
    ) -> Result<(), EngineError>
    where
        S: FnMut(Report, &RunStats) -> Result<(), String>,
    {
        let Some(a) = run.active.get_mut(&flow) else {
            return Ok(());
        };
        while let Some(out) = a.session.poll_transmit() {
            run.queue.push_back((flow, out));
        }
        if a.session.is_done() {
            run.near.borrow_mut().learn(&a.session.hop_records());
            let report = a.session.report(self.source);
            if let Some(done) = run.active.remove(&flow) {
                run.retired
                    .push_back((Instant::now() + RETIRE_GRACE, flow, done.lease));
            }
            run.stats.finished += 1;
            run.stats.in_flight = run.active.len() as u64;
            sink(report, &run.stats).map_err(EngineError::Sink)?;
            return Ok(());
        }
        if let Some(at) = a.session.poll_at() {
            if a.scheduled.is_none_or(|s| at < s) {
                a.scheduled = Some(at);
                run.timers.push(Reverse((at, flow)));
            }
        }
        Ok(())
    }

    /// Sends queued packets as far as the rate allows; returns when the next token is due.
    fn pump_sends(&mut self, run: &mut RunState) -> Option<Instant> {
        while let Some((flow, out)) = run.queue.front() {
            let now = Instant::now();
            if let Some(b) = run.bucket.as_mut() {
                if let Err(at) = b.take(now) {
                    return Some(at);
                }
            }
            match self.sender.send(&out.datagram, out.dst) {
                Ok(()) => {
                    run.stats.packets += 1;
                    if let (Some(id), Some(a)) = (out.probe, run.active.get_mut(flow)) {
                        a.session.probe_sent(id, now);
                    }
                }
                Err(e) => {
                    log::warn!("send to {} failed: {e}", out.dst);
                    run.stats.send_errors += 1;
                }
            }
            run.queue.pop_front();
        }
        None
    }
}

/// The mutable state of one run.
struct RunState {
    active: HashMap<FlowAddrs, Active>,
    timers: BinaryHeap<Reverse<(Instant, FlowAddrs)>>,
    queue: VecDeque<(FlowAddrs, super::session::Outgoing)>,
    bucket: Option<TokenBucket>,
    stats: RunStats,
    /// The run's stop set of hops near the prober (Doubletree-style reuse).
    near: Rc<RefCell<NearHops>>,
    /// Finished flows still registered (and their ports still held) for a grace period, so
    /// late segments of the peer neither provoke kernel RSTs nor meet a new session.
    retired: VecDeque<(Instant, FlowAddrs, PortLease)>,
}

/// How long a finished flow stays registered.
const RETIRE_GRACE: Duration = Duration::from_secs(2);

/// The flow a captured packet belongs to, seen from our side.
fn flow_of(captured: &Captured) -> Option<FlowAddrs> {
    match captured {
        Captured::Tcp(seg) => Some(FlowAddrs {
            local: seg.dst,
            remote: seg.src,
        }),
        Captured::IcmpError(e) => e.quote.flow(),
    }
}

/// Packet pacing: `rate` packets per second, with a burst of at most 10 ms worth (at least 1).
#[derive(Debug)]
struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    fn new(rate: f64, now: Instant) -> Self {
        let rate = if rate.is_finite() && rate > 0.0 {
            rate
        } else {
            1.0
        };
        let burst = (rate / 100.0).max(1.0);
        Self {
            rate,
            burst,
            tokens: 1.0,
            last: now,
        }
    }

    /// Takes a token, or says when the next one will be there.
    fn take(&mut self, now: Instant) -> Result<(), Instant> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - self.tokens) / self.rate;
            Err(now + Duration::from_secs_f64(wait))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_bucket_paces_admissions() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10.0, t0);
        assert!(b.take(t0).is_ok());
        let next = b.take(t0).expect_err("bucket should be empty");
        let wait = next.duration_since(t0);
        assert!(
            wait > Duration::from_millis(90) && wait <= Duration::from_millis(101),
            "{wait:?}"
        );
        assert!(b.take(t0 + Duration::from_millis(100)).is_ok());
        // Over a long run the pace is the rate.
        let mut fast = TokenBucket::new(1000.0, t0);
        let mut t = t0;
        let mut sent = 0;
        while t < t0 + Duration::from_secs(1) {
            match fast.take(t) {
                Ok(()) => sent += 1,
                Err(next) => t = next,
            }
        }
        assert!((995..=1011).contains(&sent), "{sent}");
        // A bad rate does not panic and still admits.
        let mut bad = TokenBucket::new(f64::NAN, t0);
        assert!(bad.take(t0).is_ok());
    }
}
