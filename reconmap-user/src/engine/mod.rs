//! The probe engine: per-target sessions (sans-IO) and the driver that runs many of them over
//! one datapath. A single `reconmap probe` is a run with one target.
pub mod clock;
pub mod config;
pub mod driver;
pub mod near_hops;
pub mod session;
#[cfg(test)]
mod sim;
pub mod sweep;

pub use config::ProbeConfig;
pub use driver::{EngineError, Prober, ProberOptions, RunPlan, RunStats, StopLevel};
pub use session::{Outgoing, ProbeSession, Timeline};

pub use crate::report::ReportInput;
