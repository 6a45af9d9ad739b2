//! Realistic synthetic records for tests and benchmarks: several vantage points (one of them
//! IPv6), shared access and transit routers, and tampering boxes in a client network (an ISP
//! box behind one of two load-balanced routers, a campus TLS inspection proxy), in transit
//! networks and in front of mail servers; every verdict; TLS facts; some records in the older
//! schema-1 form without AS data. Deterministic for a given seed.
mod flow;
mod rng;
mod world;

use rng::Rng;
use serde_json::Value;
use std::collections::VecDeque;
use std::io::Write;
use world::World;

/// `n` synthetic records (JSON objects as `reconmap scan` writes them).
pub fn records(n: usize, seed: u64) -> Vec<Value> {
    iter(n, seed).collect()
}

/// The same records as [`records`], one at a time.
pub fn iter(n: usize, seed: u64) -> impl Iterator<Item = Value> {
    let mut rng = Rng::new(seed);
    let world = World::new(&mut rng);
    Generator {
        rng,
        world,
        pending: VecDeque::new(),
        left: n,
        targets_v4: 0,
        targets_v6: 0,
        emitted: 0,
    }
}

/// Writes `n` synthetic records as JSON Lines.
pub fn write_jsonl<W: Write>(mut w: W, n: usize, seed: u64) -> std::io::Result<()> {
    for r in iter(n, seed) {
        serde_json::to_writer(&mut w, &r)?;
        w.write_all(b"\n")?;
    }
    w.flush()
}

struct Generator {
    rng: Rng,
    world: World,
    pending: VecDeque<Value>,
    left: usize,
    targets_v4: u32,
    targets_v6: u32,
    emitted: u64,
}

/// Target addresses available in 198.18.16.0 - 198.19.255.255 (wrapping beyond).
const V4_TARGETS: u32 = (2 << 16) - (16 << 8);

impl Generator {
    /// Queues the records of one more target: one per vantage point that probed it.
    fn next_target(&mut self) {
        let v6 = self.rng.chance(0.05);
        let server = self.world.pick_server(&mut self.rng, v6);
        let (target, vantages) = if v6 {
            self.targets_v6 += 1;
            let lab = self.world.vantages.iter().position(|v| v.v6).unwrap_or(0);
            (
                format!("[2001:db8:ff00::{:x}]:25", self.targets_v6),
                vec![lab],
            )
        } else {
            let k = self.targets_v4 % V4_TARGETS;
            self.targets_v4 += 1;
            let addr = (198u32 << 24 | 18 << 16 | 16 << 8) + k;
            let [a, b, c, d] = addr.to_be_bytes();
            let v4: Vec<usize> = (0..self.world.vantages.len())
                .filter(|&i| self.world.vantages.get(i).is_some_and(|v| !v.v6))
                .collect();
            let first = usize::try_from(self.rng.below(v4.len() as u64)).unwrap_or(0);
            let mut chosen = vec![v4.get(first).copied().unwrap_or(0)];
            for step in 1..v4.len() {
                let p = if step == 1 { 0.3 } else { 0.08 };
                if self.rng.chance(p) {
                    if let Some(&v) = v4.get((first + step) % v4.len()) {
                        chosen.push(v);
                    }
                }
            }
            (format!("{a}.{b}.{c}.{d}:25"), chosen)
        };
        let target_id = u64::from(self.targets_v4) << 32 | u64::from(self.targets_v6);
        for v in vantages {
            let record = flow::Flow {
                world: &self.world,
                vantage: v,
                server,
                v6,
                target: &target,
                target_id,
                index: self.emitted + self.pending.len() as u64,
            }
            .record(&mut self.rng);
            self.pending.push_back(record);
        }
    }
}

impl Iterator for Generator {
    type Item = Value;

    fn next(&mut self) -> Option<Value> {
        if self.left == 0 {
            return None;
        }
        while self.pending.is_empty() {
            self.next_target();
        }
        let r = self.pending.pop_front()?;
        self.left -= 1;
        self.emitted += 1;
        Some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dataset;
    use std::collections::BTreeSet;

    #[test]
    fn test_deterministic_and_exact_count() {
        let a = records(500, 7);
        let b = records(500, 7);
        assert_eq!(a.len(), 500);
        assert_eq!(a, b);
        assert_ne!(a, records(500, 8));
    }

    #[test]
    fn test_covers_every_verdict_and_vantage() {
        let d = Dataset::from_values(records(5000, 1));
        assert_eq!(d.bad_line_count, 0);
        let verdicts: BTreeSet<&str> = d.records.iter().map(|r| r.verdict_name()).collect();
        for v in [
            "clean",
            "stripped",
            "blocked",
            "advertisement_masked",
            "not_offered",
            "unreachable",
            "inconclusive",
            "intercepted",
            "tls_blocked",
            "tls_tampered",
            "tls_failed",
        ] {
            assert!(verdicts.contains(v), "no {v} in {verdicts:?}");
        }
        let vantages: BTreeSet<&str> = d.records.iter().map(|r| r.vantage_name()).collect();
        for v in ["home-dsl", "cloud-ams", "campus", "lab-v6"] {
            assert!(vantages.contains(v), "no vantage {v}");
        }
        assert!(d.records.iter().any(|r| r.tls.is_some()));
        assert!(d.records.iter().any(|r| r.target_text().starts_with('[')));
        // Legacy records without AS data are there too.
        assert!(d
            .records
            .iter()
            .any(|r| r.is_tampered() && r.attribution.is_none() && r.target_asn.is_none()));
    }

    #[test]
    fn test_stripping_in_all_three_kinds_of_network() {
        use crate::model::AttributionClass as C;
        let d = Dataset::from_values(records(5000, 2));
        let classes: BTreeSet<C> = d
            .records
            .iter()
            .filter(|r| r.verdict_name() == "stripped")
            .map(|r| r.placement().class)
            .collect();
        for c in [C::ClientNetwork, C::Transit, C::ServerNetwork, C::Ambiguous] {
            assert!(classes.contains(&c), "no stripping in {c:?}");
        }
    }

    #[test]
    fn test_segments_point_at_hops_of_the_record() {
        let d = Dataset::from_values(records(3000, 3));
        for r in &d.records {
            let Some(seg) = &r.segment else { continue };
            if let Some(at) = &seg.at {
                let hop = r
                    .hops
                    .iter()
                    .find(|h| h.ttl == at.ttl)
                    .expect("at hop exists");
                assert_eq!(hop.addr, at.addr);
            }
            if let Some(after) = &seg.after {
                if after.ttl != Some(0) {
                    let hop = r.hops.iter().find(|h| h.ttl == after.ttl).unwrap();
                    assert_eq!(hop.addr, after.addr);
                    assert_ne!(hop.payload.as_deref(), Some("modified"));
                }
            }
        }
    }

    #[test]
    fn test_write_jsonl_round_trips() {
        let mut buf = Vec::new();
        write_jsonl(&mut buf, 50, 9).unwrap();
        let text = String::from_utf8(buf).unwrap();
        assert_eq!(text.lines().count(), 50);
        let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(first, records(1, 9)[0]);
    }
}
