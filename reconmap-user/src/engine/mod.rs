//! The probe engine: per-target sessions (sans-IO) and the driver that runs many of them over
//! one datapath. A single `reconmap probe` is a run with one target.
pub mod clock;
pub mod config;
pub mod driver;
pub mod near_hops;
pub mod session;
pub mod sweep;

pub use config::ProbeConfig;
pub use driver::{EngineError, Prober, ProberOptions, RunPlan, RunStats, StopLevel};
pub use session::{Outgoing, ProbeSession, Timeline};

use crate::evidence::{HopRecord, TcpObservations};
use crate::smtp::SmtpObservations;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::SystemTime;

/// Everything a session hands to the report.
#[derive(Clone, Debug)]
pub struct ReportInput {
    pub target: SocketAddrV4,
    pub prober: Ipv4Addr,
    pub started_at: SystemTime,
    pub timeline: Timeline,
    pub hops: Vec<HopRecord>,
    pub smtp: SmtpObservations,
    pub tcp: TcpObservations,
    pub errors: Vec<String>,
    pub unmatched_icmp: u32,
}
