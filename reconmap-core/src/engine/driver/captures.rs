//! Captured packets: parsed, matched to their session by flow, and fed to it.
use super::{guarded, Engine, EngineError, Sink};
use crate::engine::transport::Arrival;
use reconmap_wire::{parse_captured, Captured, FlowAddrs};

impl Engine {
    /// Feeds every arrival to its session (and empties `arrivals`).
    pub fn on_arrivals(
        &mut self,
        arrivals: &mut Vec<Arrival>,
        sink: &mut impl Sink,
    ) -> Result<(), EngineError> {
        for arrival in arrivals.drain(..) {
            self.stats.captured += 1;
            let captured = match parse_captured(&arrival.data) {
                Ok(c) => c,
                Err(e) => {
                    log::debug!("unparsable capture: {e}");
                    self.stats.malformed += 1;
                    continue;
                }
            };
            let Some(flow) = flow_of(&captured) else {
                self.stats.malformed += 1;
                continue;
            };
            // A packet of a session's interception check goes to that session.
            let flow = self.aliases.get(&flow).copied().unwrap_or(flow);
            let Some(a) = self.active.get_mut(&flow) else {
                self.stats.stray += 1;
                continue;
            };
            if let Err(panic) = guarded(|| a.session.on_captured(arrival.at, &captured)) {
                self.fail(flow, arrival.at, &panic, sink)?;
                continue;
            }
            self.service(flow, arrival.at, sink)?;
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
