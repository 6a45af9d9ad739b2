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

    /// The scenario's prefix-to-AS table (CAIDA prefix2as lines), when it gives any AS: every
    /// interface address of a node maps, as a /32, to the node's AS (the prober's to
    /// `prober_asn`, a router's two to its `asn`, the server's link address, main address
    /// and AnyIP prefix to the server's `asn`); nodes without an AS are left out (no data).
    /// Exact by construction: the border error of real tables (docs/output.md) is not
    /// modelled.
    pub fn prefix2as(&self) -> Option<String> {
        let n = self.hops.len();
        let mut rows: Vec<(Ipv4Addr, u8, u32)> = Vec::new();
        let mut host = |addr: Option<Ipv4Addr>, asn: Option<u32>| {
            if let (Some(a), Some(asn)) = (addr, asn) {
                rows.push((a, 32, asn));
            }
        };
        host(link_addr(0, false), self.prober_asn);
        for (k, hop) in self.hops.iter().enumerate() {
            host(link_addr(k, true), hop.asn);
            host(link_addr(k + 1, false), hop.asn);
        }
        host(link_addr(n, true), self.server.asn);
        host(Some(SERVER_ADDR), self.server.asn);
        if let (Some(p), Some(asn)) = (self.server.anyip, self.server.asn) {
            rows.push((p.network(), p.prefix_len(), asn));
        }
        if rows.is_empty() {
            return None;
        }
        Some(
            rows.iter()
                .map(|(a, len, asn)| format!("{a}\t{len}\t{asn}\n"))
                .collect(),
        )
    }

    /// What the prober is given to attribute segments: the scenario's prefix-to-AS table,
    /// or nothing when the scenario gives no AS.
    pub fn as_annotator(&self) -> crate::report::AsAnnotator {
        let db = self
            .prefix2as()
            .and_then(|t| reconmap_asn::AsDb::from_reader(t.as_bytes()).ok());
        crate::report::AsAnnotator::new(db, None, None)
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
    fn the_as_table_maps_every_interface_of_a_node_to_its_as() {
        let s = Scenario::from_toml(
            r#"
            name = "as-plan"
            description = "d"
            prober_asn = 64496
            hops = [{ asn = 64496 }, {}, { asn = 64500 }]
            server = { asn = 64510, anyip = "198.18.0.0/24" }
            expect = { verdict = "clean" }
            "#,
        )
        .expect("scenario");
        let table = s.prefix2as().expect("table");
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines,
            [
                "198.51.100.1\t32\t64496",
                "198.51.100.2\t32\t64496",
                "198.51.100.5\t32\t64496",
                "198.51.100.10\t32\t64500",
                "198.51.100.13\t32\t64500",
                "198.51.100.14\t32\t64510",
                "192.0.2.25\t32\t64510",
                "198.18.0.0\t24\t64510",
            ]
        );
        let db = reconmap_asn::AsDb::from_reader(table.as_bytes()).expect("loads");
        // Hop 2 has no AS: its answering address is in no prefix.
        let hop2 = s.hop_addr(2).expect("hop 2");
        assert!(db.origins(hop2.into()).is_empty());
        assert_eq!(db.origins(s.hop_addr(3).expect("hop 3").into()), [64500]);
        assert_eq!(Scenario::builtin("clean").expect("clean").prefix2as(), None);
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
