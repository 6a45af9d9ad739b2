//! Whose network a record's segment lies in: the AS fields of a record and the step that fills
//! them in from a prefix-to-AS table ([`AsAnnotator`]).
//!
//! The engine knows nothing of ASes: a record leaves [`Report::build`] with its AS fields
//! empty and, when it names a segment, an `unknown` attribution saying no table was given.
//! The output edge (the CLI, the lab's checks) runs [`AsAnnotator::annotate`] on it, which
//! maps the prober, the target, every hop that answered and both ends of the segment to the
//! AS originating their longest matching prefix, and classifies the segment with
//! [`reconmap_asn::attribute`]. The method and its known error are in docs/output.md.
use super::Report;
use crate::evidence::HopRef;
use crate::verdict::Segment;
use reconmap_asn::{attribute, AsDb, AsNames, Attribution, AttributionClass};
use reconmap_wire::TimeToLive;
use serde::Serialize;
use std::net::{IpAddr, Ipv4Addr, SocketAddrV4};

/// One end of a segment as the record names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HopRefOut {
    /// 0 is the prober itself.
    pub ttl: TimeToLive,
    pub addr: Option<Ipv4Addr>,
    /// The AS originating the prefix of `addr` (`--asn-db`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asn: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_name: Option<String>,
}

impl From<HopRef> for HopRefOut {
    fn from(h: HopRef) -> Self {
        Self {
            ttl: h.ttl,
            addr: h.addr,
            asn: None,
            as_name: None,
        }
    }
}

impl HopRefOut {
    /// The hop without its AS.
    pub fn hop(&self) -> HopRef {
        HopRef {
            ttl: self.ttl,
            addr: self.addr,
        }
    }
}

/// Where the change happens: after `after` (the last hop that saw the original bytes), at `at`
/// (the first that saw them changed; `null`: first seen in the server's reply).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SegmentOut {
    pub after: HopRefOut,
    pub at: Option<HopRefOut>,
}

impl From<Segment> for SegmentOut {
    fn from(s: Segment) -> Self {
        Self {
            after: s.after.into(),
            at: s.at.map(HopRefOut::from),
        }
    }
}

impl SegmentOut {
    /// The segment without ASes.
    pub fn segment(&self) -> Segment {
        Segment {
            after: self.after.hop(),
            at: self.at.as_ref().map(HopRefOut::hop),
        }
    }
}

/// What a record says before (or without) a prefix-to-AS table: `unknown`, no table given.
pub fn no_attribution_data() -> Attribution {
    Attribution {
        class: AttributionClass::Unknown,
        asns: Vec::new(),
        explanation: "no prefix-to-AS table was given (--asn-db)".to_string(),
    }
}

/// Where a measurement was taken from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VantageOut {
    /// `--vantage NAME`, if given.
    pub name: Option<String>,
    /// The prober's source address.
    pub prober: Ipv4Addr,
    /// Its AS (`--asn-db`).
    pub asn: Option<u32>,
}

/// Fills in the AS fields of records: one per run, loaded once.
#[derive(Debug, Default)]
pub struct AsAnnotator {
    db: Option<AsDb>,
    names: Option<AsNames>,
    vantage: Option<String>,
}

impl AsAnnotator {
    /// An annotator; without `db` it only records the vantage point's name.
    pub fn new(db: Option<AsDb>, names: Option<AsNames>, vantage: Option<String>) -> Self {
        Self { db, names, vantage }
    }

    /// Whether a prefix-to-AS table was given.
    pub fn has_db(&self) -> bool {
        self.db.is_some()
    }

    /// Fills in the vantage point, the ASes of the prober, the target, every hop that answered
    /// and the segment's ends, and the segment's attribution.
    pub fn annotate(&self, r: &mut Report) {
        r.vantage.name.clone_from(&self.vantage);
        let Some(db) = &self.db else {
            return;
        };
        let origins = |a: Ipv4Addr| db.origins(IpAddr::V4(a));
        let first = |a: Ipv4Addr| origins(a).first().copied();
        let name = |asn: Option<u32>| {
            let names = self.names.as_ref()?;
            names.name(asn?).map(str::to_string)
        };
        let prober_as = origins(r.prober);
        let target_ip = r.target.parse::<SocketAddrV4>().ok().map(|t| *t.ip());
        let target_as = target_ip.map_or(&[][..], origins);
        r.prober_asn = prober_as.first().copied();
        r.prober_as_name = name(r.prober_asn);
        r.target_asn = target_as.first().copied();
        r.target_as_name = name(r.target_asn);
        r.vantage.asn = r.prober_asn;
        for h in &mut r.hops {
            h.asn = h.addr.and_then(first);
            h.as_name = name(h.asn);
        }
        let Some(seg) = &mut r.segment else {
            return;
        };
        for end in std::iter::once(&mut seg.after).chain(seg.at.as_mut()) {
            end.asn = end.addr.and_then(first);
            end.as_name = name(end.asn);
        }
        let after_as = if seg.after.ttl.0 == 0 {
            prober_as
        } else {
            seg.after.addr.map_or(&[][..], origins)
        };
        let at_as = match &seg.at {
            Some(at) => at.addr.map_or(&[][..], origins),
            None => target_as,
        };
        r.attribution = Some(attribute(prober_as, target_as, after_as, at_as));
    }
}

/// The attribution as one line of the table: `transit, AS64500 (TransitCo): both ends …`
/// (names as the record carries them); `None` without a segment.
pub(super) fn attribution_line(r: &Report) -> Option<String> {
    let a = r.attribution.as_ref()?;
    let seg_ends = r
        .segment
        .iter()
        .flat_map(|s| std::iter::once(&s.after).chain(s.at.as_ref()))
        .map(|h| (h.asn, h.as_name.as_deref()));
    let known: Vec<(Option<u32>, Option<&str>)> = [
        (r.prober_asn, r.prober_as_name.as_deref()),
        (r.target_asn, r.target_as_name.as_deref()),
    ]
    .into_iter()
    .chain(r.hops.iter().map(|h| (h.asn, h.as_name.as_deref())))
    .chain(seg_ends)
    .collect();
    let name = |n: u32| {
        known
            .iter()
            .find_map(|&(asn, name)| (asn == Some(n)).then_some(name).flatten())
    };
    let asns: Vec<String> = a
        .asns
        .iter()
        .map(|&n| match name(n) {
            Some(text) => format!("AS{n} ({text})"),
            None => format!("AS{n}"),
        })
        .collect();
    Some(if asns.is_empty() {
        format!("{}: {}", a.class, a.explanation)
    } else {
        format!("{}, {}: {}", a.class, asns.join(", "), a.explanation)
    })
}

#[cfg(test)]
mod tests;
