//! The I/O side of the engine: one datapath (eBPF RST guard + capture ring), one raw socket,
//! and any number of concurrent [`ProbeSession`]s demultiplexed by flow. A single `probe` is a
//! run with one target; a scan is the same run fed from a target iterator with a rate limit.
use super::clock::KernelClock;
use super::config::ProbeConfig;
use super::session::ProbeSession;
use crate::datapath::{route_to, CaptureStream, Datapath, DatapathOptions, FlowTable, PortLease, RawCapture, RawSender};
use crate::packet::{parse_captured, Captured, FlowAddrs};
use crate::report::Report;
use rand::Rng as _;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
}

/// How many sessions run at once and how fast new ones start.
#[derive(Clone, Copy, Debug)]
pub struct RunPlan {
    pub concurrency: usize,
    /// New sessions per second; `None` = as fast as concurrency allows.
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
}

struct Active {
    session: ProbeSession,
    _lease: PortLease,
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
        let mut datapath = Datapath::attach(&DatapathOptions::new(&iface))?;
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

    /// Probes every target, at most `plan.concurrency` at once, and hands each report to `sink`
    /// as soon as it is complete. When `stop` resolves, live sessions are reset and reported
    /// with what they had (nothing already gathered is lost).
    pub async fn run<T, S, F>(
        &mut self,
        targets: T,
        plan: RunPlan,
        cfg: Arc<ProbeConfig>,
        mut sink: S,
        stop: F,
    ) -> Result<RunStats, EngineError>
    where
        T: IntoIterator<Item = SocketAddrV4>,
        S: FnMut(Report) -> Result<(), String>,
        F: Future<Output = ()>,
    {
        let mut targets = targets.into_iter().peekable();
        let mut stats = RunStats::default();
        let mut active: HashMap<FlowAddrs, Active> = HashMap::new();
        let mut timers: BinaryHeap<Reverse<(Instant, FlowAddrs)>> = BinaryHeap::new();
        let mut bucket = plan.rate.map(|r| TokenBucket::new(r, Instant::now()));
        let concurrency = plan.concurrency.max(1);
        let mut batch: Vec<RawCapture> = Vec::with_capacity(256);
        let mut rng = rand::thread_rng();
        tokio::pin!(stop);

        loop {
            // Admit new sessions.
            let now = Instant::now();
            let mut next_admission: Option<Instant> = None;
            while active.len() < concurrency && targets.peek().is_some() {
                if let Some(b) = bucket.as_mut() {
                    if let Err(at) = b.take(now) {
                        next_admission = Some(at);
                        break;
                    }
                }
                let Some(target) = targets.next() else { break };
                let lease = match PortLease::acquire(self.source, &mut rng) {
                    Ok(l) => l,
                    Err(e) => {
                        log::warn!("no source port for {target}: {e}");
                        stats.failed_to_start += 1;
                        continue;
                    }
                };
                let flow = FlowAddrs {
                    local: SocketAddrV4::new(self.source, lease.port()),
                    remote: target,
                };
                if active.contains_key(&flow) {
                    // The same target twice with the same port: cannot happen with one lease per
                    // live port, but never mix two sessions on one flow.
                    stats.failed_to_start += 1;
                    continue;
                }
                if let Err(e) = self.flows.register(flow.key()) {
                    log::warn!("cannot register flow for {target}: {e}");
                    stats.failed_to_start += 1;
                    continue;
                }
                let session = ProbeSession::new(cfg.clone(), flow, rng.gen(), rng.gen(), now);
                stats.started += 1;
                active.insert(
                    flow,
                    Active {
                        session,
                        _lease: lease,
                        scheduled: None,
                    },
                );
                self.service(&mut active, &mut timers, flow, &mut stats, &mut sink)?;
            }
            if active.is_empty() && targets.peek().is_none() {
                break;
            }

            // Sleep until the earliest timer, the next admission, or a packet.
            let deadline = [timers.peek().map(|Reverse((t, _))| *t), next_admission]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(1));
            tokio::select! {
                biased;
                () = &mut stop => {
                    let now = Instant::now();
                    let flows: Vec<FlowAddrs> = active.keys().copied().collect();
                    for flow in flows {
                        if let Some(a) = active.get_mut(&flow) {
                            a.session.interrupt(now, "interrupted (signal)");
                            stats.interrupted += 1;
                        }
                        self.service(&mut active, &mut timers, flow, &mut stats, &mut sink)?;
                    }
                    break;
                }
                received = self.captures.recv_batch(&mut batch, 256) => {
                    received?;
                    let now = Instant::now();
                    for raw in batch.drain(..) {
                        stats.captured += 1;
                        let captured = match parse_captured(&raw.data) {
                            Ok(c) => c,
                            Err(e) => {
                                log::debug!("unparsable capture: {e}");
                                stats.malformed += 1;
                                continue;
                            }
                        };
                        let Some(flow) = flow_of(&captured) else {
                            stats.malformed += 1;
                            continue;
                        };
                        let Some(a) = active.get_mut(&flow) else {
                            stats.stray += 1;
                            continue;
                        };
                        let at = self.clock.to_instant(raw.ts_ns, now);
                        a.session.on_captured(at, &captured);
                        self.service(&mut active, &mut timers, flow, &mut stats, &mut sink)?;
                    }
                }
                () = tokio::time::sleep_until(deadline.into()) => {
                    let now = Instant::now();
                    while let Some(Reverse((t, flow))) = timers.peek().copied() {
                        if t > now {
                            break;
                        }
                        timers.pop();
                        if let Some(a) = active.get_mut(&flow) {
                            if a.scheduled == Some(t) {
                                a.scheduled = None;
                                a.session.on_timer(now);
                            }
                        }
                        self.service(&mut active, &mut timers, flow, &mut stats, &mut sink)?;
                    }
                }
            }
        }
        Ok(stats)
    }

    /// Sends what a session has queued, reschedules its timer, and retires it when done.
    fn service<S>(
        &mut self,
        active: &mut HashMap<FlowAddrs, Active>,
        timers: &mut BinaryHeap<Reverse<(Instant, FlowAddrs)>>,
        flow: FlowAddrs,
        stats: &mut RunStats,
        sink: &mut S,
    ) -> Result<(), EngineError>
    where
        S: FnMut(Report) -> Result<(), String>,
    {
        let Some(a) = active.get_mut(&flow) else {
            return Ok(());
        };
        while let Some(out) = a.session.poll_transmit() {
            let sent_at = Instant::now();
            match self.sender.send(&out.datagram, out.dst) {
                Ok(()) => {
                    if let Some(id) = out.probe {
                        a.session.probe_sent(id, sent_at);
                    }
                }
                Err(e) => {
                    log::warn!("send to {} failed: {e}", out.dst);
                    stats.send_errors += 1;
                }
            }
        }
        if a.session.is_done() {
            let report = a.session.report(self.source);
            active.remove(&flow);
            if let Err(e) = self.flows.unregister(flow.key()) {
                log::warn!("cannot unregister flow {flow:?}: {e}");
            }
            stats.finished += 1;
            sink(report).map_err(EngineError::Sink)?;
            return Ok(());
        }
        if let Some(at) = a.session.poll_at() {
            if a.scheduled.is_none_or(|s| at < s) {
                a.scheduled = Some(at);
                timers.push(Reverse((at, flow)));
            }
        }
        Ok(())
    }
}

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

/// Admission control: `rate` sessions per second with a burst of one second's worth (at least 1).
#[derive(Debug)]
struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    fn new(rate: f64, now: Instant) -> Self {
        let rate = if rate.is_finite() && rate > 0.0 { rate } else { 1.0 };
        let burst = rate.clamp(1.0, 1000.0);
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
        assert!(wait > Duration::from_millis(90) && wait <= Duration::from_millis(101), "{wait:?}");
        assert!(b.take(t0 + Duration::from_millis(100)).is_ok());
        // A bad rate does not panic and still admits.
        let mut bad = TokenBucket::new(f64::NAN, t0);
        assert!(bad.take(t0).is_ok());
    }
}
