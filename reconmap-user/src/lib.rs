//! ReconMap: locate where on a network path SMTP STARTTLS gets stripped.
//!
//! Layers, bottom up (trippy-style boundaries: only `datapath` and `net` touch the kernel):
//! - [`types`]: newtypes shared by every layer (TTL, IP ID, ports).
//! - [`packet`]: building probe packets and parsing captured ones (etherparse), ICMP quotes and
//!   the tracebox-style diff of a quote against the probe that caused it.
//! - [`tcp`]: a sans-IO TCP client (time injected, `poll_at`).
//! - [`smtp`]: a sans-IO SMTP client session and reply parser with hard limits.
//! - [`evidence`]: what a trace observed, per hop and per connection.
//! - [`verdict`]: the decision from evidence; [`report`]: the record and its output formats.
//! - [`datapath`]: the eBPF programs (RST guard, capture ring buffer) and their user-space side.
//! - [`sweep`], [`probe`], [`scan`]: the engine that drives all of the above.
pub mod datapath;
pub mod engine;
pub mod evidence;
pub mod packet;
pub mod report;
pub mod scan;
pub mod smtp;
pub mod tcp;
pub mod types;
pub mod verdict;
