//! Newtypes used across layers, so a TTL is never confused with an IP ID or a port, and ICMP
//! messages are named, not `(u8, u8)` pairs.
use reconmap_common::layout::icmp;
use serde::{Serialize, Serializer};
use std::fmt;

/// An IPv4 time-to-live / hop number. Hop `n` is the router where a probe sent with TTL `n`
/// expires; TTL 0 stands for the prober itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct TimeToLive(pub u8);

impl TimeToLive {
    /// The prober itself (hop 0).
    pub const PROBER: TimeToLive = TimeToLive(0);

    pub fn get(self) -> u8 {
        self.0
    }

    /// The next hop (saturating at 255).
    pub fn next(self) -> TimeToLive {
        TimeToLive(self.0.saturating_add(1))
    }

    /// The previous hop (saturating at 0).
    pub fn prev(self) -> TimeToLive {
        TimeToLive(self.0.saturating_sub(1))
    }

    /// `1..=self`: every hop up to this one.
    pub fn up_to(self) -> impl DoubleEndedIterator<Item = TimeToLive> {
        (1..=self.0).map(TimeToLive)
    }
}

/// The IPv4 identification field; each TTL-sweep probe carries its own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct IpId(pub u16);

impl IpId {
    /// The ID after this one (wrapping).
    pub fn next(self) -> IpId {
        IpId(self.0.wrapping_add(1))
    }

    /// `n` IDs later (wrapping).
    pub fn skip(self, n: u16) -> IpId {
        IpId(self.0.wrapping_add(n))
    }
}

/// A TCP port.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Port(pub u16);

impl Port {
    pub fn get(self) -> u16 {
        self.0
    }
}

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

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An ICMP error message, by kind (output as `[type, code]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IcmpKind {
    /// Type 11: code 0 TTL exceeded in transit, code 1 reassembly time exceeded.
    TimeExceeded { code: u8 },
    /// Type 3 (network, host, port, protocol unreachable, administratively prohibited, ...).
    DestUnreachable { code: u8 },
    /// Type 4 (deprecated).
    SourceQuench { code: u8 },
    /// Type 5.
    Redirect { code: u8 },
    /// Type 12.
    ParameterProblem { code: u8 },
}

impl IcmpKind {
    /// The kind of an ICMP error type; `None` for messages that are not errors.
    pub fn from_type_code(kind: u8, code: u8) -> Option<Self> {
        Some(match kind {
            icmp::TIME_EXCEEDED => IcmpKind::TimeExceeded { code },
            icmp::DEST_UNREACHABLE => IcmpKind::DestUnreachable { code },
            icmp::SOURCE_QUENCH => IcmpKind::SourceQuench { code },
            icmp::REDIRECT => IcmpKind::Redirect { code },
            icmp::PARAMETER_PROBLEM => IcmpKind::ParameterProblem { code },
            _ => return None,
        })
    }

    /// `(type, code)` as on the wire.
    pub fn type_code(self) -> (u8, u8) {
        match self {
            IcmpKind::TimeExceeded { code } => (icmp::TIME_EXCEEDED, code),
            IcmpKind::DestUnreachable { code } => (icmp::DEST_UNREACHABLE, code),
            IcmpKind::SourceQuench { code } => (icmp::SOURCE_QUENCH, code),
            IcmpKind::Redirect { code } => (icmp::REDIRECT, code),
            IcmpKind::ParameterProblem { code } => (icmp::PARAMETER_PROBLEM, code),
        }
    }

    /// Whether RFC 4884 extensions may follow the quote (time exceeded, unreachable,
    /// parameter problem).
    pub fn may_have_extensions(self) -> bool {
        matches!(
            self,
            IcmpKind::TimeExceeded { .. }
                | IcmpKind::DestUnreachable { .. }
                | IcmpKind::ParameterProblem { .. }
        )
    }

    pub fn is_time_exceeded(self) -> bool {
        matches!(self, IcmpKind::TimeExceeded { .. })
    }

    pub fn is_unreachable(self) -> bool {
        matches!(self, IcmpKind::DestUnreachable { .. })
    }
}

impl Serialize for IcmpKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.type_code().serialize(s)
    }
}

impl fmt::Display for IcmpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (t, c) = self.type_code();
        let name = match self {
            IcmpKind::TimeExceeded { .. } => "time exceeded",
            IcmpKind::DestUnreachable { .. } => "destination unreachable",
            IcmpKind::SourceQuench { .. } => "source quench",
            IcmpKind::Redirect { .. } => "redirect",
            IcmpKind::ParameterProblem { .. } => "parameter problem",
        };
        write!(f, "{name} ({t}/{c})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icmp_kinds_round_trip_and_serialise_as_type_and_code() {
        for (t, c) in [(11, 0), (3, 13), (4, 0), (5, 1), (12, 0)] {
            let k = IcmpKind::from_type_code(t, c).expect("an error type");
            assert_eq!(k.type_code(), (t, c));
        }
        assert_eq!(
            IcmpKind::from_type_code(0, 0),
            None,
            "echo reply is no error"
        );
        let json = serde_json::to_string(&IcmpKind::TimeExceeded { code: 0 }).expect("json");
        assert_eq!(json, "[11,0]");
        assert_eq!(TimeToLive(3).up_to().count(), 3);
        assert_eq!(TimeToLive(0).up_to().count(), 0);
    }
}
