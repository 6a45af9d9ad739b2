//! Newtypes used across layers, so a TTL is never confused with an IP ID.
use serde::Serialize;
use std::fmt;

/// An IPv4 time-to-live / hop number. Hop `n` is the router where a probe sent with TTL `n`
/// expires; TTL 0 stands for the prober itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct TimeToLive(pub u8);

/// The IPv4 identification field; each TTL-sweep probe carries its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct IpId(pub u16);

impl fmt::Display for TimeToLive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for IpId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#06x}", self.0)
    }
}
