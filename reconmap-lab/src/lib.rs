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
pub mod lab;
pub mod netns;
pub mod nft;
pub mod postfix;
pub mod scenario;
pub mod smtp;

pub use lab::{DownReport, Lab, LabState};
pub use scenario::{Expected, Scenario};
pub use smtp::{smtp_session, SmtpTranscript};

/// Errors of the lab: each says which step or input failed.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// A namespace command failed.
    #[error(transparent)]
    Netns(#[from] netns::NetnsError),
    /// A scenario file is not valid TOML or does not fit the schema.
    #[error("scenario: {0}")]
    Toml(#[from] toml::de::Error),
    /// A lab state file could not be written.
    #[error("state: {0}")]
    TomlSer(#[from] toml::ser::Error),
    /// A scenario is inconsistent.
    #[error("scenario {0}")]
    Scenario(String),
    /// No embedded scenario has this name.
    #[error("no built-in scenario `{0}` (see `lab list`)")]
    UnknownScenario(String),
    /// File or socket I/O.
    #[error("{what}: {source}")]
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
