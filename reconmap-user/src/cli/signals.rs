//! Ctrl-C and SIGTERM as one future, so every command stops the same clean way.
use tokio::signal::unix::{signal, SignalKind};

/// Resolves on SIGINT or SIGTERM (never, if the handlers cannot be installed).
pub async fn stop_signal() {
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    match (term, int) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            log::warn!("cannot install signal handlers; Ctrl-C will not stop cleanly");
            std::future::pending::<()>().await;
        }
    }
}
