//! The answer to "whose box strips STARTTLS": tampering records by the kind of network the box
//! is in, and the ASes that tamper most.
use crate::model::{AttributionClass, Record, VerdictInfo};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// One row per kind of network.
#[derive(Clone, Debug)]
pub struct AttributionRow {
    pub class: AttributionClass,
    /// Records per tampering verdict, aligned with [`AttributionTable::verdicts`].
    pub counts: Vec<usize>,
    pub records: usize,
    pub targets: usize,
    /// Of `records`, how many were placed here from segment ASes (no `attribution` field).
    pub derived: usize,
}

#[derive(Clone, Debug, Default)]
pub struct AttributionTable {
    /// The tampering verdicts present, in display order.
    pub verdicts: Vec<VerdictInfo>,
    pub rows: Vec<AttributionRow>,
    pub records: usize,
}

/// An AS that tampering records place the box in.
#[derive(Clone, Debug)]
pub struct AsRow {
    pub asn: u32,
    pub records: usize,
    pub targets: usize,
    /// Records per class (a box at a boundary counts for both its ASes).
    pub classes: Vec<(AttributionClass, usize)>,
    pub verdicts: Vec<(String, usize)>,
    pub vantages: usize,
}

#[derive(Default)]
struct AsAgg {
    records: usize,
    targets: HashSet<String>,
    classes: BTreeMap<AttributionClass, usize>,
    verdicts: BTreeMap<String, usize>,
    vantages: BTreeSet<String>,
}

/// Builds the table and the AS ranking from the tampering records.
pub fn attribution(records: &[&Record]) -> (AttributionTable, Vec<AsRow>) {
    let mut verdicts: Vec<VerdictInfo> = records
        .iter()
        .map(|r| r.verdict_name())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(crate::model::verdict_info)
        .collect();
    verdicts.sort_by(|a, b| a.order.cmp(&b.order).then_with(|| a.name.cmp(&b.name)));
    let column: HashMap<String, usize> = verdicts
        .iter()
        .enumerate()
        .map(|(i, v)| (v.name.clone(), i))
        .collect();
    let mut rows: Vec<AttributionRow> = AttributionClass::ALL
        .iter()
        .map(|&class| AttributionRow {
            class,
            counts: vec![0; verdicts.len()],
            records: 0,
            targets: 0,
            derived: 0,
        })
        .collect();
    let mut targets: Vec<HashSet<&str>> = vec![HashSet::new(); rows.len()];
    let mut ases: HashMap<u32, AsAgg> = HashMap::new();
    for r in records {
        let p = r.placement();
        let row_i = AttributionClass::ALL
            .iter()
            .position(|c| *c == p.class)
            .unwrap_or(AttributionClass::ALL.len() - 1);
        if let Some(row) = rows.get_mut(row_i) {
            row.records += 1;
            row.derived += usize::from(p.derived);
            if let Some(c) = column
                .get(r.verdict_name())
                .and_then(|&i| row.counts.get_mut(i))
            {
                *c += 1;
            }
        }
        if let Some(t) = targets.get_mut(row_i) {
            t.insert(r.target_text());
        }
        for asn in p.asns.iter().collect::<BTreeSet<_>>() {
            let agg = ases.entry(*asn).or_default();
            agg.records += 1;
            if !agg.targets.contains(r.target_text()) {
                agg.targets.insert(r.target_text().to_string());
            }
            *agg.classes.entry(p.class).or_default() += 1;
            *agg.verdicts
                .entry(r.verdict_name().to_string())
                .or_default() += 1;
            if agg.vantages.len() < 1000 {
                agg.vantages.insert(r.vantage_name().to_string());
            }
        }
    }
    for (row, t) in rows.iter_mut().zip(&targets) {
        row.targets = t.len();
    }
    let mut as_rows: Vec<AsRow> = ases
        .into_iter()
        .map(|(asn, a)| AsRow {
            asn,
            records: a.records,
            targets: a.targets.len(),
            classes: a.classes.into_iter().collect(),
            verdicts: a.verdicts.into_iter().collect(),
            vantages: a.vantages.len(),
        })
        .collect();
    as_rows.sort_by(|a, b| b.records.cmp(&a.records).then(a.asn.cmp(&b.asn)));
    let table = AttributionTable {
        verdicts,
        rows,
        records: records.len(),
    };
    (table, as_rows)
}
