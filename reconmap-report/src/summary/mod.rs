//! What a report says, computed once for the HTML and the Markdown renderers: counts, the
//! attribution of tampering, the ASes and hops that tamper most, and vantage differences.
mod as_names;
mod attribution;
mod compare;
mod hops;

pub use as_names::AsNames;
pub use attribution::{AsRow, AttributionRow, AttributionTable};
pub use compare::{Comparison, Difference, PairRow, TargetDiff, View};
pub use hops::HopRow;

use crate::model::{verdict_info, Record, VerdictInfo};
use crate::Dataset;
use std::collections::{BTreeMap, HashMap, HashSet};

/// A vantage point and what it measured.
#[derive(Clone, Debug)]
pub struct VantageRow {
    pub name: String,
    pub prober: Option<String>,
    pub asn: Option<u32>,
    pub records: usize,
    pub tampered: usize,
}

/// A verdict with its count overall and per vantage point.
#[derive(Clone, Debug)]
pub struct VerdictRow {
    pub info: VerdictInfo,
    pub total: usize,
    /// Aligned with [`Summary::vantages`].
    pub per_vantage: Vec<usize>,
}

#[derive(Clone, Debug)]
pub struct Summary {
    pub records: usize,
    /// Distinct targets.
    pub targets: usize,
    pub tampered: usize,
    pub vantages: Vec<VantageRow>,
    pub verdicts: Vec<VerdictRow>,
    pub attribution: AttributionTable,
    pub top_ases: Vec<AsRow>,
    pub top_hops: Vec<HopRow>,
    pub comparison: Comparison,
    pub as_names: AsNames,
}

impl Summary {
    pub fn of(d: &Dataset) -> Self {
        let mut as_names = AsNames::default();
        let mut vantage_index: HashMap<&str, usize> = HashMap::new();
        let mut vantages: Vec<VantageRow> = Vec::new();
        let mut verdict_counts: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        let mut targets: HashSet<&str> = HashSet::new();
        let mut tampered: Vec<&Record> = Vec::new();
        for r in &d.records {
            as_names.add_record(r);
            targets.insert(r.target_text());
            let vi = *vantage_index.entry(r.vantage_name()).or_insert_with(|| {
                vantages.push(VantageRow {
                    name: r.vantage_name().to_string(),
                    prober: r.prober_addr().map(str::to_string),
                    asn: r.vantage_asn(),
                    records: 0,
                    tampered: 0,
                });
                vantages.len() - 1
            });
            if let Some(v) = vantages.get_mut(vi) {
                v.records += 1;
                v.asn = v.asn.or(r.vantage_asn());
                if r.is_tampered() {
                    v.tampered += 1;
                }
            }
            let counts = verdict_counts.entry(r.verdict_name()).or_default();
            if counts.len() <= vi {
                counts.resize(vi + 1, 0);
            }
            if let Some(c) = counts.get_mut(vi) {
                *c += 1;
            }
            if r.is_tampered() {
                tampered.push(r);
            }
        }
        // Vantage points by name; per-vantage counts re-aligned to that order.
        let mut order: Vec<usize> = (0..vantages.len()).collect();
        order.sort_by(|&a, &b| {
            let name = |i: usize| vantages.get(i).map(|v| v.name.as_str());
            name(a).cmp(&name(b))
        });
        let sorted_vantages: Vec<VantageRow> = order
            .iter()
            .filter_map(|&i| vantages.get(i).cloned())
            .collect();
        let mut verdicts: Vec<VerdictRow> = verdict_counts
            .into_iter()
            .map(|(name, counts)| {
                let per_vantage: Vec<usize> = order
                    .iter()
                    .map(|&i| counts.get(i).copied().unwrap_or(0))
                    .collect();
                VerdictRow {
                    info: verdict_info(name),
                    total: per_vantage.iter().sum(),
                    per_vantage,
                }
            })
            .collect();
        verdicts.sort_by(|a, b| {
            a.info
                .order
                .cmp(&b.info.order)
                .then_with(|| a.info.name.cmp(&b.info.name))
        });
        let (attribution, top_ases) = attribution::attribution(&tampered);
        Summary {
            records: d.records.len(),
            targets: targets.len(),
            tampered: tampered.len(),
            vantages: sorted_vantages,
            verdicts,
            attribution,
            top_ases,
            top_hops: hops::top_hops(&tampered),
            comparison: compare::compare(&d.records),
            as_names,
        }
    }

    /// `AS64500 Name` for an AS of the dataset.
    pub fn as_label(&self, asn: u32) -> String {
        self.as_names.label(asn)
    }
}

/// `part` of `whole` as a percentage with one decimal.
pub fn percent(part: usize, whole: usize) -> String {
    if whole == 0 {
        return "0.0%".into();
    }
    // Counts stay far below 2^52: exact in f64.
    format!("{:.1}%", part as f64 * 100.0 / whole as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AttributionClass;

    #[test]
    fn test_summary_of_synthetic() {
        let d = Dataset::from_values(crate::synthetic::records(3000, 5));
        let s = Summary::of(&d);
        assert_eq!(s.records, 3000);
        assert!(s.targets < 3000 && s.targets > 1500);
        assert_eq!(s.verdicts.iter().map(|v| v.total).sum::<usize>(), 3000);
        assert_eq!(s.verdicts[0].info.name, "stripped");
        let names: Vec<&str> = s.vantages.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, vec!["campus", "cloud-ams", "home-dsl", "lab-v6"]);
        let rows: usize = s.attribution.rows.iter().map(|r| r.records).sum();
        assert_eq!(rows, s.tampered);
        let client = s
            .attribution
            .rows
            .iter()
            .find(|r| r.class == AttributionClass::ClientNetwork)
            .unwrap();
        assert!(client.records > 0);
        assert!(s.top_ases[0].records >= s.top_ases.last().unwrap().records);
        assert!(!s.top_hops.is_empty());
        assert!(s.comparison.multi > 0 && !s.comparison.diffs.is_empty());
        assert_eq!(s.as_names.name(64496), Some("Example Home Broadband"));
    }

    #[test]
    fn test_percent() {
        assert_eq!(percent(1, 3), "33.3%");
        assert_eq!(percent(0, 0), "0.0%");
    }
}
