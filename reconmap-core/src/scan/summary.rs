//! The end-of-scan summary: verdict counts and the hops most often found at a stripping segment.
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::net::Ipv4Addr;

/// Tallies over finished targets.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Tally {
    pub verdicts: BTreeMap<String, u64>,
    /// Address of the first hop showing the change (or the last one seeing the original bytes
    /// when the change shows only at the server) -> number of targets.
    pub segment_hops: HashMap<Ipv4Addr, u64>,
    pub total: u64,
}

impl Tally {
    pub fn record(&mut self, verdict: &str, segment_hop: Option<Ipv4Addr>) {
        *self.verdicts.entry(verdict.to_string()).or_default() += 1;
        if let Some(hop) = segment_hop {
            *self.segment_hops.entry(hop).or_default() += 1;
        }
        self.total += 1;
    }

    /// The `n` hops seen most often at a segment, most frequent first (ties by address).
    pub fn top_hops(&self, n: usize) -> Vec<(Ipv4Addr, u64)> {
        let mut v: Vec<(Ipv4Addr, u64)> = self.segment_hops.iter().map(|(a, c)| (*a, *c)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v.truncate(n);
        v
    }

    /// A short human table.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "{:<22} {:>10}", "verdict", "targets");
        for (v, c) in &self.verdicts {
            let _ = writeln!(s, "{v:<22} {c:>10}");
        }
        let _ = writeln!(s, "{:<22} {:>10}", "total", self.total);
        let top = self.top_hops(10);
        if !top.is_empty() {
            let _ = writeln!(s, "\nhops most often at a stripping segment:");
            for (addr, c) in top {
                let _ = writeln!(s, "  {addr:<18} {c:>8}");
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_ranks() {
        let mut t = Tally::default();
        let a = Ipv4Addr::new(203, 0, 113, 1);
        let b = Ipv4Addr::new(203, 0, 113, 2);
        t.record("stripped", Some(a));
        t.record("stripped", Some(b));
        t.record("stripped", Some(a));
        t.record("clean", None);
        assert_eq!(t.total, 4);
        assert_eq!(t.verdicts.get("stripped"), Some(&3));
        assert_eq!(t.top_hops(1), vec![(a, 2)]);
        let text = t.render();
        assert!(text.contains("stripped") && text.contains("203.0.113.1"));
    }
}
