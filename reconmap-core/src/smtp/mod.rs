//! The SMTP side of a probe: a reply parser with hard limits, the client session (sans-IO), and
//! the observations that point at tampering (masked banner, masked EHLO keywords, a rewritten
//! command echoed back).
mod client;
mod observe;
mod reply;

pub use client::{SmtpAction, SmtpClient, SmtpError, SmtpLimits, SmtpObservations, SmtpPhase};
pub use observe::{advertises_starttls, banner_masked, echoed_rewrite, masked_keywords};
pub use reply::{escape, Fed, Reply, ReplyError, ReplyLimits, ReplyParser};
