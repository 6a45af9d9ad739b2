//! Session timers and stop requests (drain, abort).
use super::{guarded, Engine, EngineError, Sink, StopLevel};
use crate::engine::transport::Transport;
use reconmap_wire::FlowAddrs;
use std::cmp::Reverse;
use std::time::Instant;

impl Engine {
    /// Runs every session timer that is due at `now`.
    pub fn on_timers(&mut self, now: Instant, sink: &mut impl Sink) -> Result<(), EngineError> {
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
