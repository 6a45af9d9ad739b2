//! Running the engine on the simulated network in virtual time.
use super::SimNet;
use crate::engine::transport::Transport;
use crate::engine::{Engine, EngineError, RunStats, Sink, StopLevel, Target};
use std::time::{Duration, Instant};

/// A stop request at a point of the run (as a signal would give it).
#[derive(Clone, Copy, Debug)]
pub struct Stop {
    /// Time after the start of the run.
    pub after: Duration,
    pub level: StopLevel,
}

/// Runs `targets` through `engine` over `net` until the engine is done (or `stops` end it);
/// returns the run's counters. Time only moves from one event to the next, so a run of
/// minutes takes milliseconds.
pub fn run(
    engine: &mut Engine,
    net: &mut SimNet,
    targets: impl IntoIterator<Item = Target>,
    stops: &[Stop],
    sink: &mut impl Sink,
) -> Result<RunStats, EngineError> {
    let start = net.now();
    let mut targets = targets.into_iter().peekable();
    let mut stops: Vec<(Instant, StopLevel)> =
        stops.iter().map(|s| (start + s.after, s.level)).collect();
    stops.sort_by_key(|(t, _)| *t);
    let mut stops = stops.into_iter().peekable();
    let mut arrivals = Vec::new();
    let mut last = start;
    let mut idle_rounds = 0u32;
    loop {
        let now = net.now();
        while let Some((_, level)) = stops.next_if(|(t, _)| *t <= now) {
            engine.stop(level, now, net, sink)?;
        }
        // Retire first: a flow whose grace ended makes room for a waiting target.
        engine.retire(now, net);
        engine.admit(now, &mut targets, net, sink)?;
        engine.flush(now, net);
        let left = targets.peek().is_some();
        if engine.is_finished(left) {
            break;
        }
        let next = [
            engine.poll_at(now),
            net.next_event(),
            stops.peek().map(|(t, _)| *t),
        ]
        .into_iter()
        .flatten()
        .min();
        let Some(next) = next else {
            // Nothing will ever happen again: the engine waits for what cannot come.
            log::error!("simulation stalled with work left");
            break;
        };
        net.advance_to(next);
        net.recv(&mut arrivals, usize::MAX);
        engine.on_arrivals(&mut arrivals, sink)?;
        engine.on_timers(net.now(), sink)?;
        // Guard against a loop that never moves the clock.
        if net.now() == last {
            idle_rounds += 1;
            if idle_rounds > 100_000 {
                log::error!("simulation does not advance");
                break;
            }
        } else {
            idle_rounds = 0;
            last = net.now();
        }
    }
    engine.shutdown(net);
    // Let what is still on the wire arrive (the server sees our last FINs and RSTs).
    while let Some(t) = net.next_event() {
        net.advance_to(t);
    }
    Ok(engine.stats().clone())
}
