//! Session timers and stop requests (drain, abort).
use super::{guarded, Engine, EngineError, Sink, StopLevel};
use crate::engine::transport::Transport;
use reconmap_wire::FlowAddrs;
use std::cmp::Reverse;
use std::collections::HashMap;
use std::time::Instant;

/// Most runs of one session's timer in one [`Engine::on_timers`] call. A session that keeps
/// asking to be woken at or before `now` without moving on (a bug) would otherwise hold the
/// loop, and with it every session of the run, forever; past this it is ended as an internal
/// error, like a panic.
const MAX_TIMER_RUNS: u32 = 64;

impl Engine {
    /// Runs every session timer that is due at `now`.
    pub fn on_timers(&mut self, now: Instant, sink: &mut impl Sink) -> Result<(), EngineError> {
        let mut runs: HashMap<FlowAddrs, u32> = HashMap::new();
        while let Some(Reverse((t, flow))) = self.timers.peek().copied() {
            if t > now {
                break;
            }
            self.timers.pop();
            let Some(a) = self.active.get_mut(&flow) else {
                continue;
            };
            if a.scheduled != Some(t) {
                // Superseded by an earlier timer of the same session.
                continue;
            }
            a.scheduled = None;
            let n = runs.entry(flow).or_default();
            *n += 1;
            if *n > MAX_TIMER_RUNS {
                let why = format!("its timer does not advance (due {:?} ago)", now - t);
                self.fail(flow, now, &why, sink)?;
                continue;
            }
            let Some(a) = self.active.get_mut(&flow) else {
                continue;
            };
            if let Err(panic) = guarded(|| a.session.on_timer(now)) {
                self.fail(flow, now, &panic, sink)?;
                continue;
            }
            self.service(flow, now, sink)?;
        }
        Ok(())
    }

    /// Applies a stop request. [`StopLevel::Drain`] stops admissions; [`StopLevel::Abort`]
    /// also resets every live session now (their RSTs go out regardless of the rate) and
    /// records each with what it had.
    pub fn stop(
        &mut self,
        level: StopLevel,
        now: Instant,
        net: &mut impl Transport,
        sink: &mut impl Sink,
    ) -> Result<(), EngineError> {
        if level <= self.level {
            return Ok(());
        }
        self.level = level;
        if level != StopLevel::Abort {
            return Ok(());
        }
        let flows: Vec<FlowAddrs> = self.active.keys().copied().collect();
        for flow in flows {
            if let Some(a) = self.active.get_mut(&flow) {
                if let Err(panic) =
                    guarded(|| a.session.interrupt(now, "interrupted (second signal)"))
                {
                    self.fail(flow, now, &panic, sink)?;
                    continue;
                }
            }
            self.service(flow, now, sink)?;
        }
        self.bucket = None;
        self.flush(now, net);
        Ok(())
    }
}
