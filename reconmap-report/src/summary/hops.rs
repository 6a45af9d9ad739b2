//! The hops where tampering segments end, most frequent first.
use crate::model::{Record, SegmentEnd};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

#[derive(Clone, Debug)]
pub struct HopRow {
    pub end: SegmentEnd,
    /// The AS of the end hop (in front of the server: the target's AS, when all agree).
    pub asn: Option<u32>,
    pub records: usize,
    pub targets: usize,
    pub verdicts: Vec<(String, usize)>,
    pub vantages: Vec<String>,
    /// Lowest and highest TTL of the end hop.
    pub ttl_range: Option<(u32, u32)>,
}

#[derive(Default)]
struct Agg {
    asns: BTreeMap<u32, usize>,
    records: usize,
    targets: HashSet<String>,
    verdicts: BTreeMap<String, usize>,
    vantages: BTreeSet<String>,
    ttls: Option<(u32, u32)>,
}

pub fn top_hops(records: &[&Record]) -> Vec<HopRow> {
    let mut by_end: HashMap<SegmentEnd, Agg> = HashMap::new();
    for r in records {
        let Some(end) = r.tamper_end() else { continue };
        let a = by_end.entry(end).or_default();
        a.records += 1;
        if !a.targets.contains(r.target_text()) {
            a.targets.insert(r.target_text().to_string());
        }
        *a.verdicts.entry(r.verdict_name().to_string()).or_default() += 1;
        if a.vantages.len() < 100 {
            a.vantages.insert(r.vantage_name().to_string());
        }
        if let Some(asn) = r.segment_end_asn() {
            *a.asns.entry(asn).or_default() += 1;
        }
        let ttl = r
            .segment
            .as_ref()
            .and_then(|s| s.at.as_ref())
            .and_then(|h| h.ttl);
        if let Some(t) = ttl {
            a.ttls = Some(a.ttls.map_or((t, t), |(lo, hi)| (lo.min(t), hi.max(t))));
        }
    }
    let mut rows: Vec<HopRow> = by_end
        .into_iter()
        .map(|(end, a)| HopRow {
            end,
            asn: a
                .asns
                .iter()
                .max_by(|x, y| x.1.cmp(y.1).then(y.0.cmp(x.0)))
                .map(|(asn, _)| *asn),
            records: a.records,
            targets: a.targets.len(),
            verdicts: a.verdicts.into_iter().collect(),
            vantages: a.vantages.into_iter().collect(),
            ttl_range: a.ttls,
        })
        .collect();
    rows.sort_by(|a, b| b.records.cmp(&a.records).then_with(|| a.end.cmp(&b.end)));
    rows
}
