//! Admission: start sessions while there is room, under back-pressure, never skipping a target.
use super::{guarded, Active, Engine, EngineError, Sink, StopLevel, Target};
use crate::engine::session::ProbeSession;
use crate::engine::transport::{Transport, TransportError};
use crate::evidence::{Evidence, Incomplete};
use rand::Rng as _;
use reconmap_wire::FlowAddrs;
use std::net::SocketAddrV4;
use std::time::{Instant, SystemTime};

impl Engine {
    /// Starts sessions for `targets` while the plan's concurrency, the send queue and the
    /// transport's flow table leave room. A target that cannot start yet (the flow table is
    /// full of flows in their grace, or every source port toward its address is taken) waits
    /// inside the engine and goes first next time: admission waits, it never skips. A target
    /// that cannot be probed at all gets a record saying why.
    pub fn admit(
        &mut self,
        now: Instant,
        targets: &mut dyn Iterator<Item = Target>,
        net: &mut impl Transport,
        sink: &mut impl Sink,
    ) -> Result<(), EngineError> {
        while self.level == StopLevel::Run
            && self.active.len() < self.concurrency
            && self.queue.len() < self.concurrency.max(64)
        {
            let (target, parked) = match self.waiting.take() {
                Some(t) => (t, true),
                None => match targets.next() {
                    Some(t) => {
                        self.stats.targets += 1;
                        (t, false)
                    }
                    None => break,
                },
            };
            if !self.try_start(target, parked, now, net, sink)? {
                break;
            }
        }
        Ok(())
    }

    /// Whether a target taken from the list still waits to start.
    pub fn has_waiting(&self) -> bool {
        self.waiting.is_some()
    }

    /// Starts one target; `Ok(false)` when it has to wait (it is parked in `waiting`).
    fn try_start(
        &mut self,
        target: Target,
        parked: bool,
        now: Instant,
        net: &mut impl Transport,
        sink: &mut impl Sink,
    ) -> Result<bool, EngineError> {
        let park = |engine: &mut Self, target| {
            if !parked {
                engine.stats.capacity_waits += 1;
            }
            engine.waiting = Some(target);
            Ok(false)
        };
        if self.flows_in_use() >= net.capacity() {
            return park(self, target);
        }
        let Some(port) = self.ports.acquire(target.addr, &mut self.rng) else {
            if self.ports.usable() == 0 {
                return self.not_probed(target, "no usable source port in the range", sink);
            }
            return park(self, target);
        };
        let flow = FlowAddrs {
            local: SocketAddrV4::new(self.source, port),
            remote: target.addr,
        };
        // Registered before the SYN leaves, so the SYN/ACK is captured and the kernel's RST
        // for it dropped.
        match net.register(flow) {
            Ok(()) => {}
            Err(TransportError::Full) => {
                self.ports.release(target.addr, port);
                return park(self, target);
            }
            Err(TransportError::Failed(why)) => {
                self.ports.release(target.addr, port);
                return self.not_probed(target, &format!("cannot register the flow: {why}"), sink);
            }
        }
        let (isn, ip_id) = (self.rng.gen::<u32>(), reconmap_wire::IpId(self.rng.gen()));
        let cfg = self.cfg.clone();
        let near = self.near.clone();
        match guarded(|| ProbeSession::with_near_hops(cfg, flow, isn, ip_id, now, Some(near))) {
            Ok(session) => {
                self.stats.started += 1;
                self.active.insert(
                    flow,
                    Active {
                        session,
                        scheduled: None,
                    },
                );
                self.stats.in_flight = self.active.len() as u64;
                self.service(flow, now, sink)?;
            }
            Err(panic) => {
                net.unregister(flow);
                self.ports.release(target.addr, port);
                self.stats.internal_errors += 1;
                self.stats.finished += 1;
                let e = Evidence::empty(
                    target.addr,
                    self.source,
                    SystemTime::now(),
                    Incomplete::InternalError(format!(
                        "internal error (a bug in ReconMap) starting the session: {panic}"
                    )),
                );
                sink.record(e, &self.stats)?;
            }
        }
        Ok(true)
    }

    /// Records a target that cannot be probed; admission goes on with the next one.
    fn not_probed(
        &mut self,
        target: Target,
        why: &str,
        sink: &mut impl Sink,
    ) -> Result<bool, EngineError> {
        log::warn!("not probing {}: {why}", target.addr);
        self.stats.not_probed += 1;
        self.stats.finished += 1;
        let e = Evidence::empty(
            target.addr,
            self.source,
            SystemTime::now(),
            Incomplete::NotProbed(why.to_string()),
        );
        sink.record(e, &self.stats)?;
        Ok(true)
    }
}
