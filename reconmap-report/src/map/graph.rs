//! The traces of every vantage point merged into one path graph: vantage points, routers (by
//! address) and server networks as nodes, consecutive answering hops as edges counted per
//! record, and tampering segments (`after` → `at`, or `after` → the server) counted apart.
use crate::model::{Hop, HopRef, Record};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// What a node stands for.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NodeKey {
    Vantage(String),
    Router(String),
    /// The mail servers of one AS (`None`: AS unknown).
    Servers(Option<u32>),
}

/// What the records say about one node.
#[derive(Clone, Debug)]
pub struct NodeStats {
    pub key: NodeKey,
    asns: BTreeMap<u32, usize>,
    /// Records whose trace passes here.
    pub traversals: usize,
    /// Tampering segments that end here.
    pub strip_end: usize,
    /// Tampering segments that start here.
    pub strip_start: usize,
    /// Verdicts of the segments ending here.
    pub end_verdicts: BTreeMap<String, usize>,
    /// How often the node answered at each TTL.
    pub ttls: BTreeMap<u32, usize>,
    pub vantages: BTreeSet<String>,
}

const MAX_VANTAGES_PER_NODE: usize = 64;

impl NodeStats {
    fn new(key: NodeKey) -> Self {
        NodeStats {
            key,
            asns: BTreeMap::new(),
            traversals: 0,
            strip_end: 0,
            strip_start: 0,
            end_verdicts: BTreeMap::new(),
            ttls: BTreeMap::new(),
            vantages: BTreeSet::new(),
        }
    }

    /// The AS most records give for this node.
    pub fn asn(&self) -> Option<u32> {
        if let NodeKey::Servers(asn) = self.key {
            return asn;
        }
        self.asns
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            .map(|(asn, _)| *asn)
    }

    /// The TTL the node answers at most often (ties: the lowest).
    pub fn usual_ttl(&self) -> Option<u32> {
        self.ttls
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            .map(|(t, _)| *t)
    }

    fn saw_vantage(&mut self, v: &str) {
        if self.vantages.len() < MAX_VANTAGES_PER_NODE && !self.vantages.contains(v) {
            self.vantages.insert(v.to_string());
        }
    }
}

/// A tampering segment between two nodes.
#[derive(Clone, Debug, Default)]
pub struct StripStats {
    pub count: usize,
    pub verdicts: BTreeMap<String, usize>,
}

#[derive(Clone, Debug, Default)]
pub struct PathGraph {
    pub nodes: Vec<NodeStats>,
    index: HashMap<NodeKey, usize>,
    /// Records per (from, to) node pair of consecutive answering hops.
    pub edges: HashMap<(usize, usize), usize>,
    pub strips: HashMap<(usize, usize), StripStats>,
    /// Records with at least one answering hop.
    pub traced: usize,
}

impl PathGraph {
    pub fn build(records: &[Record]) -> Self {
        let mut g = PathGraph::default();
        for r in records {
            g.add(r);
        }
        g
    }

    fn node(&mut self, key: NodeKey) -> usize {
        if let Some(&i) = self.index.get(&key) {
            return i;
        }
        let i = self.nodes.len();
        self.nodes.push(NodeStats::new(key.clone()));
        self.index.insert(key, i);
        i
    }

    fn stats(&mut self, i: usize) -> Option<&mut NodeStats> {
        self.nodes.get_mut(i)
    }

    fn add(&mut self, r: &Record) {
        let vantage = r.vantage_name();
        let v = self.node(NodeKey::Vantage(vantage.to_string()));
        if let Some(n) = self.stats(v) {
            n.traversals += 1;
            if let Some(asn) = r.vantage_asn() {
                *n.asns.entry(asn).or_default() += 1;
            }
            n.ttls.insert(0, 1);
        }
        let mut hops: Vec<&Hop> = r.hops.iter().filter(|h| h.addr.is_some()).collect();
        hops.sort_by_key(|h| h.ttl.unwrap_or(u32::MAX));
        let mut prev = v;
        let mut passed: Vec<usize> = Vec::with_capacity(hops.len());
        for h in &hops {
            let Some(addr) = &h.addr else { continue };
            let n = self.node(NodeKey::Router(addr.clone()));
            if let Some(s) = self.stats(n) {
                if !passed.contains(&n) {
                    s.traversals += 1;
                }
                if let Some(t) = h.ttl {
                    *s.ttls.entry(t).or_default() += 1;
                }
                if let Some(asn) = h.asn {
                    *s.asns.entry(asn).or_default() += 1;
                }
                s.saw_vantage(vantage);
            }
            passed.push(n);
            if n != prev {
                *self.edges.entry((prev, n)).or_default() += 1;
            }
            prev = n;
        }
        let servers = NodeKey::Servers(r.target_asn);
        if !hops.is_empty() {
            self.traced += 1;
            let d = self.node(servers.clone());
            if let Some(s) = self.stats(d) {
                s.traversals += 1;
                s.saw_vantage(vantage);
            }
            *self.edges.entry((prev, d)).or_default() += 1;
        }
        if !r.is_tampered() {
            return;
        }
        let Some(seg) = &r.segment else { return };
        let from = match &seg.after {
            Some(h) => self.hop_node(r, h, Direction::Before).unwrap_or(v),
            None => v,
        };
        let to = match &seg.at {
            Some(h) => self.hop_node(r, h, Direction::After),
            None => None,
        }
        .unwrap_or_else(|| self.node(servers));
        let s = self.strips.entry((from, to)).or_default();
        s.count += 1;
        *s.verdicts.entry(r.verdict_name().to_string()).or_default() += 1;
        if let Some(n) = self.stats(to) {
            n.strip_end += 1;
            *n.end_verdicts
                .entry(r.verdict_name().to_string())
                .or_default() += 1;
            if let Some(asn) = seg.at.as_ref().and_then(|h| h.asn) {
                *n.asns.entry(asn).or_default() += 1;
            }
            n.saw_vantage(vantage);
        }
        if let Some(n) = self.stats(from) {
            n.strip_start += 1;
        }
    }

    /// The node of a segment end: its address; for a hop without one, the nearest answering
    /// hop before (`Before`) or after it; `None` for TTL 0 (the prober) or nothing found.
    fn hop_node(&mut self, r: &Record, h: &HopRef, dir: Direction) -> Option<usize> {
        if h.ttl == Some(0) {
            return None;
        }
        if let Some(addr) = &h.addr {
            let n = self.node(NodeKey::Router(addr.clone()));
            if let (Some(s), Some(t)) = (self.stats(n), h.ttl) {
                s.ttls.entry(t).or_insert(1);
            }
            return Some(n);
        }
        let ttl = h.ttl?;
        let near = r
            .hops
            .iter()
            .filter(|x| x.addr.is_some())
            .filter_map(|x| x.ttl.map(|t| (t, x)))
            .filter(|(t, _)| match dir {
                Direction::Before => *t < ttl,
                Direction::After => *t > ttl,
            });
        let pick = match dir {
            Direction::Before => near.max_by_key(|(t, _)| *t),
            Direction::After => near.min_by_key(|(t, _)| *t),
        };
        let addr = pick.and_then(|(_, x)| x.addr.clone())?;
        Some(self.node(NodeKey::Router(addr)))
    }
}

#[derive(Clone, Copy)]
enum Direction {
    Before,
    After,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(json: serde_json::Value) -> Record {
        serde_json::from_value(json).unwrap()
    }

    fn hop(ttl: u32, addr: &str) -> serde_json::Value {
        serde_json::json!({"ttl": ttl, "addr": addr, "asn": 64500, "payload": "intact"})
    }

    #[test]
    fn test_shared_edges_counted_once_per_record() {
        let a = rec(
            serde_json::json!({"target": "192.0.2.1:25", "verdict": "clean",
            "prober": "198.51.100.1", "target_asn": 64510,
            "hops": [hop(1, "203.0.113.1"), hop(2, "203.0.113.2")]}),
        );
        let b = rec(
            serde_json::json!({"target": "192.0.2.2:25", "verdict": "stripped",
            "prober": "198.51.100.1", "target_asn": 64510,
            "segment": {"after": {"ttl": 1, "addr": "203.0.113.1"}, "at": {"ttl": 2, "addr": "203.0.113.2"}},
            "hops": [hop(1, "203.0.113.1"), hop(2, "203.0.113.2")]}),
        );
        let g = PathGraph::build(&[a, b]);
        assert_eq!(g.nodes.len(), 4);
        assert_eq!(g.traced, 2);
        let i = |k: NodeKey| g.index[&k];
        let r1 = i(NodeKey::Router("203.0.113.1".into()));
        let r2 = i(NodeKey::Router("203.0.113.2".into()));
        assert_eq!(g.edges[&(r1, r2)], 2);
        assert_eq!(g.strips[&(r1, r2)].count, 1);
        assert_eq!(g.nodes[r2].strip_end, 1);
        assert_eq!(g.nodes[r2].asn(), Some(64500));
        assert_eq!(g.nodes[r2].usual_ttl(), Some(2));
        let servers = i(NodeKey::Servers(Some(64510)));
        assert_eq!(g.nodes[servers].traversals, 2);
    }

    #[test]
    fn test_segment_to_server_and_from_prober() {
        let r = rec(
            serde_json::json!({"target": "192.0.2.1:25", "verdict": "stripped",
            "prober": "198.51.100.1",
            "segment": {"after": {"ttl": 0, "addr": "198.51.100.1"}, "at": null},
            "hops": [hop(1, "203.0.113.1")]}),
        );
        let g = PathGraph::build(&[r]);
        let v = g.index[&NodeKey::Vantage("198.51.100.1".into())];
        let s = g.index[&NodeKey::Servers(None)];
        assert_eq!(g.strips[&(v, s)].count, 1);
        assert_eq!(g.nodes[s].strip_end, 1);
    }

    #[test]
    fn test_silent_segment_end_uses_nearest_answering_hop() {
        let r = rec(
            serde_json::json!({"target": "192.0.2.1:25", "verdict": "stripped",
            "prober": "198.51.100.1",
            "segment": {"after": {"ttl": 2, "addr": null}, "at": {"ttl": 3, "addr": null}},
            "hops": [hop(1, "203.0.113.1"), {"ttl": 2, "addr": null}, {"ttl": 3, "addr": null},
                     hop(4, "203.0.113.4")]}),
        );
        let g = PathGraph::build(&[r]);
        let a = g.index[&NodeKey::Router("203.0.113.1".into())];
        let b = g.index[&NodeKey::Router("203.0.113.4".into())];
        assert_eq!(g.strips[&(a, b)].count, 1);
        // The trace edge skips the silent hops.
        assert_eq!(g.edges[&(a, b)], 1);
    }
}
