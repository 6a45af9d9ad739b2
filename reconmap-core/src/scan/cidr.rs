//! IPv4 CIDR prefixes.
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// An IPv4 prefix such as `192.0.2.0/24`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cidr {
    base: u32,
    len: u8,
}

/// Why a prefix was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    #[error("`{0}` is not an IPv4 prefix (expected ADDR/LEN, e.g. 192.0.2.0/24)")]
    Syntax(String),
    #[error("`{0}`: prefix length must be 0-32")]
    Length(String),
}

impl Cidr {
    pub fn new(addr: Ipv4Addr, len: u8) -> Option<Self> {
        (len <= 32).then(|| Self {
            base: u32::from(addr) & Self::mask(len),
            len,
        })
    }

    fn mask(len: u8) -> u32 {
        if len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(len))
        }
    }

    pub fn first(&self) -> u32 {
        self.base
    }

    /// Number of addresses (2^(32-len)), as u64 so that /0 fits.
    pub fn size(&self) -> u64 {
        1u64 << (32 - u32::from(self.len))
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & Self::mask(self.len) == self.base
    }

    /// The network address (host bits cleared).
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.base)
    }

    /// The prefix length, 0..=32.
    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    /// Whether the whole prefix lies in `other`.
    pub fn within(&self, other: &Cidr) -> bool {
        self.len >= other.len && other.contains(self.network())
    }

    /// All addresses of the prefix, in order.
    pub fn addresses(&self) -> impl Iterator<Item = Ipv4Addr> {
        let first = u64::from(self.base);
        (first..first + self.size())
            .filter_map(|a| u32::try_from(a).ok())
            .map(Ipv4Addr::from)
    }
}

impl serde::Serialize for Cidr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Cidr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, l),
            None => (s, "32"),
        };
        let addr: Ipv4Addr = addr.parse().map_err(|_| CidrError::Syntax(s.to_string()))?;
        let len: u8 = len.parse().map_err(|_| CidrError::Length(s.to_string()))?;
        Self::new(addr, len).ok_or_else(|| CidrError::Length(s.to_string()))
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.base), self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalises() {
        let c: Cidr = "192.0.2.77/24".parse().expect("valid");
        assert_eq!(c.to_string(), "192.0.2.0/24");
        assert_eq!(c.size(), 256);
        assert!(c.contains(Ipv4Addr::new(192, 0, 2, 255)));
        assert!(!c.contains(Ipv4Addr::new(192, 0, 3, 0)));
        let all: Cidr = "0.0.0.0/0".parse().expect("valid");
        assert_eq!(all.size(), 1 << 32);
        let host: Cidr = "198.51.100.1".parse().expect("valid");
        assert_eq!(host.size(), 1);
        let p: Cidr = "198.18.0.0/17".parse().expect("valid");
        assert_eq!(p.addresses().count(), 32768);
        assert!(p.within(&"198.18.0.0/15".parse().expect("valid")));
        assert!(!"198.16.0.0/14".parse::<Cidr>().expect("valid").within(&p));
    }

    #[test]
    fn refuses_garbage() {
        assert!(matches!(
            "192.0.2.0/33".parse::<Cidr>(),
            Err(CidrError::Length(_))
        ));
        assert!(matches!(
            "192.0.2.0/x".parse::<Cidr>(),
            Err(CidrError::Length(_))
        ));
        assert!(matches!(
            "300.0.2.0/24".parse::<Cidr>(),
            Err(CidrError::Syntax(_))
        ));
        assert!(matches!("".parse::<Cidr>(), Err(CidrError::Syntax(_))));
    }
}
