//! The ReconMap lab: paths of routers in network namespaces, real mail servers and
//! STARTTLS-stripping middleboxes, described by scenario files.
//!
//! ```no_run
//! # fn main() -> Result<(), reconmap_lab::LabError> {
//! use reconmap_lab::{scenario::Scenario, Lab};
//! let lab = Lab::up(&Scenario::builtin("mailguard-forward")?)?;
//! println!("probe {} from namespace {}", lab.target(), lab.prober().name());
//! # Ok(()) }
//! ```
pub mod boxes;
pub mod cert;
pub mod hop_plan;
pub mod lab;
pub mod nft;
pub mod postfix;
/// The seeded generator lab helpers use (shared with the simulator).
pub use reconmap_core::seeded;

/// Tells the lab a helper is ready (bound its queue or socket): one line `ready` on stdout,
/// which `boxes::start_helper` waits for (the helpers' `--ready` flag).
pub fn announce_ready() -> Result<(), String> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready")
        .and_then(|()| out.flush())
        .map_err(|e| format!("stdout: {e}"))
}
pub mod smtp;

pub use lab::{DownReport, Lab, LabState};
/// Scenarios (the files both the lab and the simulator run) live in the core crate.
pub use reconmap_core::scenario::{self, Expected, Scenario};
/// Namespaces are made with the shared helper (also used by xtask and the tests).
pub use reconmap_sys::netns;
pub use smtp::{smtp_session, SmtpTranscript};

/// Errors of the lab: each says which step or input failed.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// A namespace command failed.
    #[error(transparent)]
    Netns(#[from] netns::NetnsError),
    /// A scenario file is missing, not valid TOML, or inconsistent.
    #[error(transparent)]
    Scenario(#[from] reconmap_core::scenario::ScenarioError),
    /// A lab state file could not be read or written.
    #[error("lab state: {0}")]
    State(String),
    /// The scenario cannot be built (e.g. too many hops for the link plan).
    #[error("cannot build the lab: {0}")]
    Build(String),
    /// A helper program of the lab is missing.
    #[error("{0}")]
    MissingHelper(String),
    /// A command failed.
    #[error(transparent)]
    Process(#[from] reconmap_sys::process::ProcessError),
    /// File or socket I/O.
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// Postfix failed to configure or start.
    #[error("postfix: {0}")]
    Postfix(String),
    /// The machine lacks a kernel feature the scenario needs.
    #[error("unsupported here: {0}")]
    Unsupported(String),
    /// The SMTP client got something it cannot use.
    #[error("smtp: {0}")]
    Smtp(String),
}
