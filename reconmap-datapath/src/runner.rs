//! The async loop that drives the engine over the datapath: it sleeps until the engine's next
//! deadline, a capture, or a stop request, and never polls while idle.
use super::transport::DatapathTransport;
use reconmap_core::engine::{Engine, EngineError, RunStats, Sink, StopLevel, Target, Transport};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Probes every target (each one gets exactly one record through `sink`). `stop` moving to
/// [`StopLevel::Drain`] stops admissions; [`StopLevel::Abort`] resets live sessions, which are
/// recorded with what they had.
pub async fn run(
    engine: &mut Engine,
    net: &mut DatapathTransport,
    targets: impl IntoIterator<Item = Target>,
    sink: &mut impl Sink,
    mut stop: watch::Receiver<StopLevel>,
) -> Result<RunStats, RunError> {
    let mut targets = targets.into_iter().peekable();
    let mut arrivals = Vec::with_capacity(1024);
    let mut stop_open = true;
    loop {
        let now = Instant::now();
        let level = *stop.borrow();
        engine.stop(level, now, net, sink)?;
        // Retire first: a flow whose grace ended makes room for a waiting target.
        engine.retire(now, net);
        engine.admit(now, &mut targets, net, sink)?;
        engine.flush(now, net);
        if engine.is_finished(targets.peek().is_some()) {
            break;
        }
        let deadline = engine
            .poll_at(now)
            .unwrap_or_else(|| now + Duration::from_secs(1));
        tokio::select! {
            biased;
            changed = stop.changed(), if stop_open => {
                if changed.is_err() {
                    stop_open = false;
                }
            }
            readable = net.readable() => readable.map_err(RunError::Datapath)?,
            () = tokio::time::sleep_until(deadline.into()) => {}
        }
        net.recv(&mut arrivals, 4096);
        engine.on_arrivals(&mut arrivals, sink)?;
        engine.on_timers(Instant::now(), sink)?;
    }
    engine.shutdown(net);
    let mut stats = engine.stats().clone();
    stats.malformed += net.malformed();
    Ok(stats)
}

/// Why a run stopped before its end.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Datapath(#[from] super::DatapathError),
}
