//! Source ports for probe flows.
//!
//! A probe flow is a 4-tuple; the kernel has no socket for it. Ports come from a dedicated
//! range (by default 61000-65535, just above Linux's ephemeral range 32768-60999, so the
//! kernel never picks one of them for its own connections), and a port is only needed to be
//! unique per *remote* end: flows to different servers may share a source port. The engine
//! therefore needs no socket to hold a port (holding one would make local services fail with
//! EADDRINUSE), only this table of the 4-tuples that are live or in their retire grace.
use rand::Rng;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddrV4;
use std::ops::RangeInclusive;

/// The default probe port range.
pub const DEFAULT_PORTS: RangeInclusive<u16> = 61000..=65535;

/// A range of source ports, parsed from `LO-HI`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortRange(RangeInclusive<u16>);

/// Why a port range was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad port range `{text}`: {reason} (expected LO-HI within 1024-65535, e.g. 61000-65535)")]
pub struct PortRangeError {
    text: String,
    reason: &'static str,
}

impl PortRange {
    pub fn new(range: RangeInclusive<u16>) -> Result<Self, PortRangeError> {
        let text = format!("{}-{}", range.start(), range.end());
        let bad = |reason| PortRangeError {
            text: text.clone(),
            reason,
        };
        if range.start() > range.end() {
            return Err(bad("LO is above HI"));
        }
        if *range.start() < 1024 {
            return Err(bad("ports below 1024 are reserved"));
        }
        Ok(Self(range))
    }

    pub fn range(&self) -> &RangeInclusive<u16> {
        &self.0
    }

    pub fn len(&self) -> usize {
        usize::from(*self.0.end() - *self.0.start()) + 1
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// Whether the range overlaps `other` (e.g. the kernel's ephemeral range).
    pub fn overlaps(&self, other: &RangeInclusive<u16>) -> bool {
        self.0.start() <= other.end() && other.start() <= self.0.end()
    }
}

impl Default for PortRange {
    fn default() -> Self {
        Self(DEFAULT_PORTS)
    }
}

impl std::str::FromStr for PortRange {
    type Err = PortRangeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |reason| PortRangeError {
            text: s.to_string(),
            reason,
        };
        let (lo, hi) = s.split_once('-').ok_or_else(|| bad("missing `-`"))?;
        let lo: u16 = lo.trim().parse().map_err(|_| bad("LO is not a port"))?;
        let hi: u16 = hi.trim().parse().map_err(|_| bad("HI is not a port"))?;
        Self::new(lo..=hi)
    }
}

impl std::fmt::Display for PortRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.0.start(), self.0.end())
    }
}

/// Which ports are taken toward which remote end.
#[derive(Debug, Default)]
pub struct PortAllocator {
    range: PortRange,
    /// Ports never to use (e.g. a local service listens there).
    excluded: HashSet<u16>,
    in_use: HashMap<SocketAddrV4, HashSet<u16>>,
    count: usize,
}

impl PortAllocator {
    pub fn new(range: PortRange, excluded: HashSet<u16>) -> Self {
        Self {
            range,
            excluded,
            in_use: HashMap::new(),
            count: 0,
        }
    }

    /// Ports usable per remote end.
    pub fn usable(&self) -> usize {
        self.range
            .range()
            .clone()
            .filter(|p| !self.excluded.contains(p))
            .count()
    }

    /// Flows holding a port now.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// A free port toward `remote`, marked in use; `None` when every port of the range is in
    /// use toward that remote (the caller waits for one to be released).
    pub fn acquire(&mut self, remote: SocketAddrV4, rng: &mut impl Rng) -> Option<u16> {
        let (lo, hi) = (*self.range.range().start(), *self.range.range().end());
        let taken = self.in_use.entry(remote).or_default();
        let free = |p: u16| !taken.contains(&p) && !self.excluded.contains(&p);
        let mut pick = None;
        for _ in 0..16 {
            let p = rng.gen_range(lo..=hi);
            if free(p) {
                pick = Some(p);
                break;
            }
        }
        if pick.is_none() {
            let start = rng.gen_range(lo..=hi);
            pick = (start..=hi).chain(lo..start).find(|&p| free(p));
        }
        let port = pick?;
        taken.insert(port);
        self.count += 1;
        Some(port)
    }

    /// Gives a port back.
    pub fn release(&mut self, remote: SocketAddrV4, port: u16) {
        if let Some(set) = self.in_use.get_mut(&remote) {
            if set.remove(&port) {
                self.count -= 1;
            }
            if set.is_empty() {
                self.in_use.remove(&remote);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn remote(n: u8) -> SocketAddrV4 {
        SocketAddrV4::new([192, 0, 2, n].into(), 25)
    }

    #[test]
    fn ports_are_unique_per_remote_and_shared_across_remotes() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let range: PortRange = "61000-61003".parse().expect("range");
        let mut a = PortAllocator::new(range, HashSet::from([61001]));
        assert_eq!(a.usable(), 3);
        let mut got: Vec<u16> = (0..3)
            .map(|_| a.acquire(remote(1), &mut rng).expect("port"))
            .collect();
        got.sort_unstable();
        assert_eq!(got, [61000, 61002, 61003], "excluded port never used");
        assert_eq!(a.acquire(remote(1), &mut rng), None, "all taken toward .1");
        assert!(
            a.acquire(remote(2), &mut rng).is_some(),
            "another remote shares"
        );
        a.release(remote(1), 61002);
        assert_eq!(a.acquire(remote(1), &mut rng), Some(61002));
        assert_eq!(a.len(), 4);
    }

    #[test]
    fn ranges_parse_with_clear_errors() {
        assert_eq!(PortRange::default().len(), 4536);
        assert!("61000-60000".parse::<PortRange>().is_err());
        assert!("80-90".parse::<PortRange>().is_err());
        assert!("x".parse::<PortRange>().is_err());
        let e = "1-2".parse::<PortRange>().expect_err("low").to_string();
        assert!(e.contains("1-2") && e.contains("reserved"), "{e}");
        assert!(PortRange::default().overlaps(&(60000..=61000)));
        assert!(!PortRange::default().overlaps(&(32768..=60999)));
    }
}
