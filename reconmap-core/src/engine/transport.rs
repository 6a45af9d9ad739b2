//! The seam between the engine and the network (trippy's `Network`): register a flow, send a
//! datagram, take what arrived. The eBPF datapath implements it for real; the simulator
//! (`engine::sim`) implements it from a scenario description, so the engine's admission,
//! pacing, drain/abort, retire grace and stop-set logic run in plain `cargo test`.
use reconmap_wire::FlowAddrs;
use std::net::Ipv4Addr;
use std::time::Instant;

/// A packet that arrived for one of our flows, as captured (from its IPv4 header on).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arrival {
    /// When it reached the interface (not when it was read).
    pub at: Instant,
    pub data: Vec<u8>,
}

/// Why the transport refused something.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// No room for another flow right now (the engine waits for a retired flow to go).
    #[error("the flow table is full")]
    Full,
    /// Anything else: the target cannot be probed; the message says why.
    #[error("{0}")]
    Failed(String),
}

/// The network as the engine sees it.
pub trait Transport {
    /// Registers a probe flow before its SYN leaves: its packets are captured from now on and
    /// the kernel's RSTs for it are dropped.
    fn register(&mut self, flow: FlowAddrs) -> Result<(), TransportError>;
    /// Forgets a flow (unknown flows are not an error).
    fn unregister(&mut self, flow: FlowAddrs);
    /// Sends one complete IPv4 datagram toward `dst`.
    fn send(&mut self, datagram: &[u8], dst: Ipv4Addr) -> Result<(), TransportError>;
    /// Moves up to `max` arrived packets into `out` without blocking; returns how many.
    fn recv(&mut self, out: &mut Vec<Arrival>, max: usize) -> usize;
    /// How many flows may be registered at once (live sessions plus those in their grace).
    fn capacity(&self) -> usize;
    /// The current time on the transport's clock.
    fn now(&self) -> Instant;
}
