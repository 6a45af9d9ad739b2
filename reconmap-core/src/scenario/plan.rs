//! The addressing plan of a scenario, shared by the lab and the simulator.
//!
//! Link `i` joins node `i` and node `i+1` (node 0 = prober, node n+1 = server) and is
//! `198.51.100.4i/30`: `.4i+1` on node i's east side, `.4i+2` on node i+1's west side. The
//! server answers on `192.0.2.25` and, with AnyIP, on a whole prefix. A router sends its ICMP
//! errors from its west address, so hop k's address is `198.51.100.(4k-2)`.
use super::{Expected, Scenario};
use crate::scan::Cidr;
use std::net::{Ipv4Addr, SocketAddrV4};

/// The server's main address.
pub const SERVER_ADDR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 25);

/// Prefixes a lab may use: the documentation and benchmarking ranges.
pub const LAB_RANGES: [(Ipv4Addr, u8); 4] = [
    (Ipv4Addr::new(192, 0, 2, 0), 24),
    (Ipv4Addr::new(198, 51, 100, 0), 24),
    (Ipv4Addr::new(203, 0, 113, 0), 24),
    (Ipv4Addr::new(198, 18, 0, 0), 15),
];

/// Whether a prefix lies inside the ranges a lab may use.
pub fn is_lab_prefix(prefix: &Cidr) -> bool {
    LAB_RANGES
        .iter()
        .filter_map(|&(a, l)| Cidr::new(a, l))
        .any(|r| prefix.within(&r))
}

/// Address of link `link`'s west end (on node `link`) or east end (on node `link + 1`).
pub fn link_addr(link: usize, east_end: bool) -> Option<Ipv4Addr> {
    let host = u8::try_from(4 * link + if east_end { 2 } else { 1 }).ok()?;
    Some(Ipv4Addr::new(198, 51, 100, host))
}

/// The /30 of link `link`.
pub fn link_net(link: usize) -> Option<Cidr> {
    let base = u8::try_from(4 * link).ok()?;
    Cidr::new(Ipv4Addr::new(198, 51, 100, base), 30)
}

impl Scenario {
    /// The prober's address.
    pub fn prober_addr(&self) -> Ipv4Addr {
        link_addr(0, false).unwrap_or(Ipv4Addr::UNSPECIFIED)
    }

    /// The address ICMP errors from hop `ttl` come from (`n+1` = the server's main address).
    pub fn hop_addr(&self, ttl: u8) -> Option<Ipv4Addr> {
        let n = self.hops.len();
        match usize::from(ttl) {
            0 => None,
            k if k <= n => link_addr(k - 1, true),
            k if k == n + 1 => Some(SERVER_ADDR),
            _ => None,
        }
    }

    /// The representative target: `192.0.2.25:25`, or with AnyIP the prefix's first host.
    pub fn target(&self) -> SocketAddrV4 {
        let ip = match self.server.anyip {
            Some(p) => Ipv4Addr::from(u32::from(p.network()).saturating_add(1)),
            None => SERVER_ADDR,
        };
        SocketAddrV4::new(ip, 25)
    }

    /// Every target with its truth: the AnyIP prefix's hosts (without its first and last
    /// address), or the single server.
    pub fn targets(&self) -> Vec<(SocketAddrV4, Expected)> {
        let Some(p) = self.server.anyip else {
            return vec![(self.target(), self.expect.clone())];
        };
        let count = usize::try_from(p.size()).unwrap_or(usize::MAX);
        p.addresses()
            .skip(1)
            .take(count.saturating_sub(2))
            .filter_map(|ip| Some((SocketAddrV4::new(ip, 25), self.expected_for(ip)?)))
            .collect()
    }

    /// Whether `target` is an address the scenario's server answers on.
    pub fn serves(&self, target: Ipv4Addr) -> bool {
        target == SERVER_ADDR || self.server.anyip.is_some_and(|p| p.contains(target))
    }

    /// The truth for a server address of this scenario (`None` for any other address).
    pub fn expected_for(&self, target: Ipv4Addr) -> Option<Expected> {
        if !self.serves(target) {
            return None;
        }
        let restrictions: Vec<Cidr> = self
            .hops
            .iter()
            .filter_map(|h| h.middlebox.as_ref()?.daddr)
            .collect();
        if restrictions.is_empty() || restrictions.iter().any(|p| p.contains(target)) {
            Some(self.expect.clone())
        } else {
            Some(
                self.expect_outside
                    .clone()
                    .unwrap_or_else(|| self.expect.clone()),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::Verdict;

    #[test]
    fn many_truth_splits_the_range() {
        let s = Scenario::builtin("many").expect("many");
        let inside = s
            .expected_for(Ipv4Addr::new(198, 18, 1, 1))
            .expect("served");
        let outside = s
            .expected_for(Ipv4Addr::new(198, 18, 200, 1))
            .expect("served");
        assert_eq!(inside.verdict, Verdict::Stripped);
        assert_eq!(outside.verdict, Verdict::Clean);
        assert_eq!(s.expected_for(Ipv4Addr::new(203, 0, 113, 1)), None);
    }

    #[test]
    fn link_plan_stays_in_the_documentation_range() {
        assert_eq!(link_addr(0, false), Some(Ipv4Addr::new(198, 51, 100, 1)));
        assert_eq!(link_addr(2, true), Some(Ipv4Addr::new(198, 51, 100, 10)));
        assert!(link_addr(super::super::MAX_HOPS, true).is_some());
        assert_eq!(link_addr(64, true), None);
        assert_eq!(
            link_net(3).map(|c| c.to_string()).as_deref(),
            Some("198.51.100.12/30")
        );
        assert!(is_lab_prefix(&"198.18.0.0/16".parse().expect("cidr")));
        assert!(!is_lab_prefix(&"10.0.0.0/8".parse().expect("cidr")));
    }
}
