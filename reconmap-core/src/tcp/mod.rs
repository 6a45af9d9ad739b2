//! A sans-IO TCP client in the smoltcp manner: no sockets and no clock. The caller feeds
//! received segments and the current time ([`TcpClient::process`]), takes segments to send
//! ([`TcpClient::dispatch`]) and wakes it at [`TcpClient::poll_at`]. Tests are deterministic
//! and instant; one engine runs thousands of these.
//!
//! Scope: an active opener that talks a short request/response protocol (SMTP up to STARTTLS).
//! It does the handshake with the options a Linux client sends, retransmits SYN and data with
//! exponential backoff, reassembles out-of-order data within a bounded window, ACKs at once,
//! handles RST (recording its TTL) and FIN both ways. Not implemented, because the short
//! sessions never need them: congestion control, zero-window probing, SACK blocks, urgent data.
mod client;
mod reassembly;
#[cfg(test)]
mod tests;

pub use client::TcpClient;
pub use reconmap_wire::SeqNumber;

use reconmap_wire::{FlowAddrs, TimeToLive};
use std::time::{Duration, Instant};

/// Tunables of one connection.
#[derive(Clone, Debug)]
pub struct TcpConfig {
    pub flow: FlowAddrs,
    pub isn: SeqNumber,
    /// MSS we announce. The default keeps every segment the server sends within the capture
    /// length of the eBPF ring (640 bytes from the IP header).
    pub mss: u16,
    /// Receive buffer (bytes of in-order data not yet taken with `recv`, plus out-of-order data).
    pub recv_buffer: usize,
    pub window_scale: u8,
    pub timestamps: bool,
    pub sack_permitted: bool,
    pub syn_retries: u8,
    pub data_retries: u8,
    pub initial_rto: Duration,
    pub max_rto: Duration,
    /// How long TIME-WAIT lasts (short: the port is ours alone and the session is over).
    pub time_wait: Duration,
    /// Offset of our TCP timestamp clock (random in practice, like Linux).
    pub ts_offset: u32,
}

impl TcpConfig {
    pub fn new(flow: FlowAddrs, isn: SeqNumber) -> Self {
        Self {
            flow,
            isn,
            mss: 536,
            recv_buffer: 64 * 1024,
            window_scale: 7,
            timestamps: true,
            sack_permitted: true,
            syn_retries: 3,
            data_retries: 4,
            initial_rto: Duration::from_secs(1),
            max_rto: Duration::from_secs(8),
            time_wait: Duration::from_millis(500),
            ts_offset: isn.0.rotate_left(13),
        }
    }
}

/// Connection states (RFC 793 names; LISTEN/SYN-RECEIVED do not occur for an active opener).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpState {
    Closed,
    SynSent,
    Established,
    FinWait1,
    FinWait2,
    CloseWait,
    Closing,
    LastAck,
    TimeWait,
}

/// Things the caller may want to know, drained with [`TcpClient::take_events`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TcpEvent {
    /// The handshake completed; `server_ttl` is the IP TTL the SYN/ACK arrived with.
    Established { server_ttl: TimeToLive },
    /// The SYN was answered with a RST.
    Refused { ttl: TimeToLive },
    /// An acceptable RST arrived on the established connection.
    Reset { ttl: TimeToLive, at: Instant },
    /// SYN or data retransmissions are exhausted.
    TimedOut,
    /// The peer sent FIN (all its data has been received).
    PeerClosed,
    /// Data (or our FIN) acknowledged up to `upto`.
    Acked { upto: SeqNumber },
}

/// Errors of the client API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TcpError {
    #[error("cannot send in state {0:?}")]
    InvalidState(TcpState),
    #[error("send buffer full ({0} bytes)")]
    BufferFull(usize),
}
