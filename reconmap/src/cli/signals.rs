//! SIGINT/SIGTERM turned into stop levels for the engine: the first signal asks for `first`
//! (drain or abort), a second one always aborts.
use reconmap_core::engine::StopLevel;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

/// Starts listening for signals (needs a running tokio runtime).
pub fn stop_channel(first: StopLevel) -> watch::Receiver<StopLevel> {
    let (tx, rx) = watch::channel(StopLevel::Run);
    tokio::spawn(async move {
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            log::warn!("cannot install signal handlers; Ctrl-C will not stop cleanly");
            return;
        };
        let mut level = first;
        loop {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            if level == StopLevel::Drain {
                eprintln!("reconmap: stopping: no new targets, waiting for those in flight (signal again to abort them)");
            }
            if tx.send(level).is_err() {
                return;
            }
            level = StopLevel::Abort;
        }
    });
    rx
}
