//! ReconMap's sans-IO core: everything between the packets and the record, with no sockets, no
//! clocks, no eBPF and no async runtime, so all of it builds and tests with plain `cargo test`.
//!
//! Layers, bottom up:
//! - [`tcp`]: a sans-IO TCP client (time injected, `poll_at`).
//! - [`smtp`]: a sans-IO SMTP client session and reply parser with hard limits.
//! - [`engine`]: the probe session (TCP + SMTP + the TTL sweep of the STARTTLS segment), the
//!   stop set of near hops, and the engine that runs many sessions over a [`engine::Transport`].
//! - [`evidence`]: what a trace observed; [`verdict`]: the rule table that decides from it;
//!   [`report`]: the record and its output formats.
//! - [`scan`]: target lists, blocklists, pseudo-random order and sharding, the summary.
pub mod engine;
pub mod evidence;
pub mod report;
pub mod scan;
pub mod scenario;
pub mod seeded;
pub mod sim;
pub mod smtp;
pub mod tcp;
pub mod verdict;
