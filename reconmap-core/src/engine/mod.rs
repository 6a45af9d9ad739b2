//! The probe engine: per-target sessions (sans-IO) and the [`Engine`] that runs many of them
//! over a [`Transport`]. A single `reconmap probe` is a run with one target.
pub mod config;
mod driver;
pub mod intercept;
pub mod near_hops;
pub mod pacing;
pub mod ports;
pub mod session;
pub mod sweep;
pub mod tls_stage;
pub mod transport;

pub use config::ProbeConfig;
pub use driver::{
    Engine, EngineError, RunPlan, RunStats, Sink, SinkError, StopLevel, Target, RETIRE_GRACE,
};
pub use ports::{PortAllocator, PortRange};
pub use session::{Outgoing, ProbeSession, SideFlows};
pub use transport::{Arrival, Transport, TransportError};
