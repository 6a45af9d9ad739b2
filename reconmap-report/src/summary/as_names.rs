//! AS names as the records give them (hops, segment ends, prober and target).
use crate::model::Record;
use std::collections::HashMap;

/// The name of each AS number seen, the most frequent one when records disagree.
#[derive(Clone, Debug, Default)]
pub struct AsNames {
    counts: HashMap<u32, HashMap<String, usize>>,
}

impl AsNames {
    pub fn add(&mut self, asn: Option<u32>, name: Option<&str>) {
        if let (Some(asn), Some(name)) = (asn, name) {
            if name.is_empty() {
                return;
            }
            let names = self.counts.entry(asn).or_default();
            if let Some(c) = names.get_mut(name) {
                *c += 1;
            } else if names.len() < 8 {
                names.insert(name.to_string(), 1);
            }
        }
    }

    pub fn add_record(&mut self, r: &Record) {
        self.add(r.prober_asn, r.prober_as_name.as_deref());
        self.add(r.target_asn, r.target_as_name.as_deref());
        for h in &r.hops {
            self.add(h.asn, h.as_name.as_deref());
        }
        if let Some(seg) = &r.segment {
            for h in [&seg.after, &seg.at].into_iter().flatten() {
                self.add(h.asn, h.as_name.as_deref());
            }
        }
    }

    /// The most frequent name (ties: the smallest).
    pub fn name(&self, asn: u32) -> Option<&str> {
        self.counts.get(&asn).and_then(|names| {
            names
                .iter()
                .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
                .map(|(n, _)| n.as_str())
        })
    }

    /// `AS64500 Example Transit`, or `AS64500` without a name.
    pub fn label(&self, asn: u32) -> String {
        match self.name(asn) {
            Some(n) => format!("AS{asn} {n}"),
            None => format!("AS{asn}"),
        }
    }
}
