//! Admission: start sessions while there is room, under back-pressure, never skipping a target.
use super::{guarded, Active, Engine, EngineError, Sink, StopLevel, Target};
use crate::engine::session::{ProbeSession, SideFlows};
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
        let name = target.name.as_deref().map(str::to_string);
        let started = guarded(|| {
            let mut s = ProbeSession::with_near_hops(cfg, flow, isn, ip_id, now, Some(near));
            s.set_server_name(name);
            s
        });
        match started {
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

    /// Gives the sessions that completed their handshake the flows of their interception
    /// check, and queues the check's first packets.
    pub(super) fn grant_side_flows(&mut self, now: Instant, net: &mut impl Transport) {
        for flow in std::mem::take(&mut self.side_requests) {
            if !self.active.contains_key(&flow) {
                continue;
            }
            let side = self.side_flows(flow, net);
            let Some(a) = self.active.get_mut(&flow) else {
                continue;
            };
            let step = guarded(|| {
                a.session.set_side_flows(now, side);
                let mut out = Vec::new();
                while let Some(o) = a.session.poll_transmit() {
                    out.push(o);
                }
                (out, a.session.poll_at())
            });
            let Ok((out, at)) = step else {
                // The panic resurfaces at the session's next step and ends it there.
                continue;
            };
            self.queue.extend(out.into_iter().map(|o| (flow, o)));
            if let Some(at) = at {
                if a.scheduled.is_none_or(|s| at < s) {
                    a.scheduled = Some(at);
                    self.timers.push(std::cmp::Reverse((at, flow)));
                }
            }
        }
    }

    /// Ports and registrations for the interception check of the session on `flow`: our port
    /// toward the alt port of the target, and a second port toward the target's port. The
    /// check is optional: when either cannot be had, the session runs without it (the record
    /// says why).
    fn side_flows(
        &mut self,
        flow: FlowAddrs,
        net: &mut impl Transport,
    ) -> Result<SideFlows, String> {
        if self.flows_in_use() + 2 > net.capacity() {
            return Err("no room in the flow table for its flows".to_string());
        }
        let target = flow.remote;
        let alt_port = if self.cfg.alt_port == target.port() {
            self.cfg.alt_port.wrapping_add(1).max(1)
        } else {
            self.cfg.alt_port
        };
        let alt_remote = SocketAddrV4::new(*target.ip(), alt_port);
        let alt_local = self
            .ports
            .acquire(alt_remote, &mut self.rng)
            .ok_or("no free source port toward the alt port")?;
        let Some(ctl_local) = self.ports.acquire(target, &mut self.rng) else {
            self.ports.release(alt_remote, alt_local);
            return Err("no second free source port toward the target".to_string());
        };
        let side = SideFlows {
            alt: FlowAddrs {
                local: SocketAddrV4::new(self.source, alt_local),
                remote: alt_remote,
            },
            ctl: FlowAddrs {
                local: SocketAddrV4::new(self.source, ctl_local),
                remote: target,
            },
        };
        let mut registered = Vec::new();
        for f in side.all() {
            match net.register(f) {
                Ok(()) => registered.push(f),
                Err(e) => {
                    for r in registered {
                        net.unregister(r);
                    }
                    for f in side.all() {
                        self.ports.release(f.remote, f.local.port());
                    }
                    return Err(format!("cannot register its flows: {e}"));
                }
            }
        }
        for f in side.all() {
            self.aliases.insert(f, flow);
        }
        Ok(side)
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
