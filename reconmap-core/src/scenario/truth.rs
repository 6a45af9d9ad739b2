//! Checking what a prober reported against a scenario's stated truth: one check used by the
//! simulator tests, the lab's end-to-end tests and the demo.
use super::Scenario;
use crate::report::Report;
use crate::verdict::Verdict;
use std::net::{Ipv4Addr, SocketAddrV4};

/// What a record says, reduced to what the truth is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    pub target: SocketAddrV4,
    pub verdict: Verdict,
    pub segment_after: Option<u8>,
    pub segment_at: Option<u8>,
    pub segment_at_addr: Option<Ipv4Addr>,
    /// (TTL, address) of every hop that answered consistently (conflicting hops, whose
    /// answers disagree, are left out: they are not evidence).
    pub hops: Vec<(u8, Ipv4Addr)>,
    /// The first hop whose quotes carry a rewritten IP ID.
    pub ip_id_rewritten_from: Option<u8>,
    /// TTLs (`at`) of the candidate boxes the record lists.
    pub candidate_hops: Vec<u8>,
    /// The attribution's class (`client_network`, ...) and ASes, when the record has one.
    pub attribution: Option<(String, Vec<u32>)>,
}

impl Observed {
    pub fn from_report(r: &Report) -> Result<Self, String> {
        let segment = r.segment.as_ref().map(crate::report::SegmentOut::segment);
        Ok(Self {
            target: r
                .target
                .parse()
                .map_err(|e| format!("target `{}`: {e}", r.target))?,
            verdict: r.verdict,
            segment_after: segment.map(|s| s.after.ttl.0),
            segment_at: segment.and_then(|s| s.at.map(|h| h.ttl.0)),
            segment_at_addr: segment.and_then(|s| s.at.and_then(|h| h.addr)),
            hops: r
                .hops
                .iter()
                .filter(|h| h.payload != crate::report::HopPayload::Conflicting)
                .filter_map(|h| Some((h.ttl.0, h.addr?)))
                .collect(),
            ip_id_rewritten_from: r.ip_id_rewritten_from.map(|h| h.ttl.0),
            candidate_hops: r.candidate_boxes.iter().map(|c| c.at.ttl.0).collect(),
            attribution: r
                .attribution
                .as_ref()
                .map(|a| (a.class.as_str().to_string(), a.asns.clone())),
        })
    }

    /// From a JSON record as `reconmap probe --json` prints it.
    pub fn from_json(v: &serde_json::Value) -> Result<Self, String> {
        let text = |v: &serde_json::Value, what: &str| -> Result<String, String> {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("record without {what}: {v}"))
        };
        let ttl = |v: &serde_json::Value| {
            v.get("ttl")
                .and_then(serde_json::Value::as_u64)
                .and_then(|t| u8::try_from(t).ok())
        };
        let addr = |v: &serde_json::Value| v.get("addr")?.as_str()?.parse().ok();
        let target = text(&v["target"], "target")?;
        let seg = &v["segment"];
        Ok(Self {
            target: target
                .parse()
                .map_err(|e| format!("target `{target}`: {e}"))?,
            verdict: text(&v["verdict"], "verdict")?.parse()?,
            segment_after: ttl(&seg["after"]),
            segment_at: ttl(&seg["at"]),
            segment_at_addr: addr(&seg["at"]),
            hops: v["hops"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|h| h["payload"] != "conflicting")
                .filter_map(|h| Some((ttl(h)?, addr(h)?)))
                .collect(),
            ip_id_rewritten_from: ttl(&v["ip_id_rewritten_from"]),
            candidate_hops: v["candidate_boxes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| ttl(&c["at"]))
                .collect(),
            attribution: v["attribution"]["class"].as_str().map(|class| {
                let asns = v["attribution"]["asns"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|a| u32::try_from(a.as_u64()?).ok())
                    .collect();
                (class.to_string(), asns)
            }),
        })
    }
}

impl Scenario {
    /// Whether `seen` matches the truth for its target: the verdict, the segment, the address of
    /// the hop the segment names, and the address of every hop that answered. The error lists
    /// every difference.
    pub fn check(&self, seen: &Observed) -> Result<(), String> {
        let Some(want) = self.expected_for(*seen.target.ip()) else {
            return Err(format!(
                "{} is not a target of scenario {}",
                seen.target, self.name
            ));
        };
        let mut wrong = Vec::new();
        if seen.verdict != want.verdict {
            wrong.push(format!(
                "verdict {} (expected {})",
                seen.verdict, want.verdict
            ));
        }
        let got = (seen.segment_after, seen.segment_at);
        let expected = (want.segment_after, want.segment_at);
        if got != expected {
            wrong.push(format!("segment {got:?} (expected {expected:?})"));
        }
        if let Some(at) = seen.segment_at {
            let forged = seen.segment_at_addr.is_some_and(|a| {
                self.hops
                    .iter()
                    .any(|h| h.forge.as_ref().is_some_and(|f| f.from == a))
            });
            if seen.segment_at_addr != self.hop_addr(at) && !forged {
                wrong.push(format!(
                    "segment.at address {:?} (hop {at} is {:?})",
                    seen.segment_at_addr,
                    self.hop_addr(at)
                ));
            }
        }
        if seen.ip_id_rewritten_from != want.ip_id_rewritten_from {
            wrong.push(format!(
                "IP ID rewritten from hop {:?} (expected {:?})",
                seen.ip_id_rewritten_from, want.ip_id_rewritten_from
            ));
        }
        if let Some(c) = &want.candidate_hops {
            if &seen.candidate_hops != c {
                wrong.push(format!(
                    "candidate boxes at hops {:?} (expected {c:?})",
                    seen.candidate_hops
                ));
            }
        }
        if want.attribution.is_some() || want.attribution_asns.is_some() {
            let class = want.attribution.map(|c| c.as_str().to_string());
            let (got_class, got_asns) = seen
                .attribution
                .clone()
                .map_or((None, None), |(c, a)| (Some(c), Some(a)));
            if class.is_some() && got_class != class {
                wrong.push(format!("attribution {got_class:?} (expected {class:?})"));
            }
            if let Some(asns) = &want.attribution_asns {
                if got_asns.as_ref() != Some(asns) {
                    wrong.push(format!("attribution ASes {got_asns:?} (expected {asns:?})"));
                }
            }
        }
        // A forging router's messages may claim any hop.
        let forgers: Vec<Ipv4Addr> = self
            .hops
            .iter()
            .filter_map(|h| h.forge.as_ref().map(|f| f.from))
            .collect();
        for &(ttl, addr) in &seen.hops {
            if Some(addr) != self.hop_addr(ttl) && !forgers.contains(&addr) {
                wrong.push(format!(
                    "hop {ttl} answered from {addr} (expected {:?})",
                    self.hop_addr(ttl)
                ));
            }
        }
        if wrong.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "scenario {} target {}: {}",
                self.name,
                seen.target,
                wrong.join("; ")
            ))
        }
    }
}
