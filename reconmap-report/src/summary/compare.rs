//! Vantage comparison: targets measured from several vantage points whose verdict or
//! tampering place differs between them.
use crate::model::Record;
use std::collections::{BTreeMap, HashMap};

/// What differs for one target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Difference {
    Verdict,
    /// Same verdict, tampering at different places.
    Place,
}

/// One vantage point's view of a target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct View {
    pub vantage: String,
    pub verdict: String,
    /// The segment as text, when there is one.
    pub segment: Option<String>,
    /// Index of the record in the dataset.
    pub record: usize,
}

#[derive(Clone, Debug)]
pub struct TargetDiff {
    pub target: String,
    pub difference: Difference,
    pub views: Vec<View>,
}

/// Agreement of two vantage points over the targets both measured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PairRow {
    pub a: String,
    pub b: String,
    pub shared: usize,
    pub verdict_differs: usize,
    pub place_differs: usize,
}

#[derive(Clone, Debug, Default)]
pub struct Comparison {
    /// Targets measured from two or more vantage points.
    pub multi: usize,
    pub pairs: Vec<PairRow>,
    /// Targets that differ, verdict differences first.
    pub diffs: Vec<TargetDiff>,
}

/// Compares the vantage points' views of each target (the last record per vantage point wins).
pub fn compare(records: &[Record]) -> Comparison {
    let mut by_target: HashMap<&str, BTreeMap<&str, usize>> = HashMap::new();
    for (i, r) in records.iter().enumerate() {
        by_target
            .entry(r.target_text())
            .or_default()
            .insert(r.vantage_name(), i);
    }
    let place = |i: usize| {
        records
            .get(i)
            .and_then(Record::tamper_end)
            .map(|e| e.place())
    };
    let verdict = |i: usize| records.get(i).map_or("unknown", Record::verdict_name);
    let mut pairs: BTreeMap<(&str, &str), PairRow> = BTreeMap::new();
    let mut diffs = Vec::new();
    let mut multi = 0;
    for (target, views) in &by_target {
        if views.len() < 2 {
            continue;
        }
        multi += 1;
        let list: Vec<(&str, usize)> = views.iter().map(|(v, i)| (*v, *i)).collect();
        for (x, &(va, ia)) in list.iter().enumerate() {
            for &(vb, ib) in list.iter().skip(x + 1) {
                let row = pairs.entry((va, vb)).or_insert_with(|| PairRow {
                    a: va.to_string(),
                    b: vb.to_string(),
                    shared: 0,
                    verdict_differs: 0,
                    place_differs: 0,
                });
                row.shared += 1;
                if verdict(ia) != verdict(ib) {
                    row.verdict_differs += 1;
                } else if place(ia) != place(ib) {
                    row.place_differs += 1;
                }
            }
        }
        let first = list.first().map(|&(_, i)| i).unwrap_or(0);
        let difference = if list.iter().any(|&(_, i)| verdict(i) != verdict(first)) {
            Some(Difference::Verdict)
        } else if list.iter().any(|&(_, i)| place(i) != place(first)) {
            Some(Difference::Place)
        } else {
            None
        };
        if let Some(difference) = difference {
            diffs.push(TargetDiff {
                target: (*target).to_string(),
                difference,
                views: list
                    .iter()
                    .map(|&(v, i)| View {
                        vantage: v.to_string(),
                        verdict: verdict(i).to_string(),
                        segment: records
                            .get(i)
                            .and_then(|r| r.segment.as_ref())
                            .map(|s| s.text()),
                        record: i,
                    })
                    .collect(),
            });
        }
    }
    diffs.sort_by(|a, b| {
        a.difference
            .cmp(&b.difference)
            .then_with(|| a.target.cmp(&b.target))
    });
    Comparison {
        multi,
        pairs: pairs.into_values().collect(),
        diffs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(target: &str, vantage: &str, verdict: &str, at: Option<&str>) -> Record {
        let seg = match at {
            Some(a) => format!(
                r#","segment":{{"after":{{"ttl":1,"addr":"192.0.2.1"}},"at":{{"ttl":2,"addr":"{a}"}}}}"#
            ),
            None => String::new(),
        };
        serde_json::from_str(&format!(
            r#"{{"target":"{target}","vantage":{{"name":"{vantage}"}},"verdict":"{verdict}"{seg}}}"#
        ))
        .unwrap()
    }

    #[test]
    fn test_differences_found() {
        let records = vec![
            rec("192.0.2.1:25", "a", "stripped", Some("198.51.100.1")),
            rec("192.0.2.1:25", "b", "clean", None),
            rec("192.0.2.2:25", "a", "stripped", Some("198.51.100.1")),
            rec("192.0.2.2:25", "b", "stripped", Some("198.51.100.9")),
            rec("192.0.2.3:25", "a", "clean", None),
            rec("192.0.2.3:25", "b", "clean", None),
            rec("192.0.2.4:25", "a", "clean", None),
        ];
        let c = compare(&records);
        assert_eq!(c.multi, 3);
        assert_eq!(c.diffs.len(), 2);
        assert_eq!(c.diffs[0].target, "192.0.2.1:25");
        assert_eq!(c.diffs[0].difference, Difference::Verdict);
        assert_eq!(c.diffs[1].difference, Difference::Place);
        assert_eq!(
            c.pairs,
            vec![PairRow {
                a: "a".into(),
                b: "b".into(),
                shared: 3,
                verdict_differs: 1,
                place_differs: 1
            }]
        );
    }
}
