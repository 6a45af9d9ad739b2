//! Doubletree-style reuse of what is known near the prober.
//!
//! In a scan every path starts with the same few routers. Probing them once per target floods
//! them, and their ICMP rate limits then eat the answers. So the engine keeps a *local stop set*:
//! for each TTL, the router that answered and what its quote showed, over all finished sessions.
//! A TTL is *stable* when at least [`NearHops::MIN_OBSERVATIONS`] sessions saw the same router
//! with the same payload status there and none ever saw anything else. For a new target, if
//! TTLs `1..=j` are stable, only the *junction* TTL `j` and the TTLs beyond it are probed; hops
//! `1..j` are taken from the stop set (marked `shared` in the report). If the junction answers
//! from another router or with another payload status, the path differs and the session probes
//! `1..j` after all: reuse never replaces evidence that disagrees.
use crate::evidence::{HopRecord, PayloadStatus};
use reconmap_wire::TimeToLive;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// What a hop showed, reduced to what must agree for reuse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HopSignature {
    pub addr: Ipv4Addr,
    pub payload: PayloadStatus,
}

impl HopSignature {
    pub fn of(hop: &HopRecord) -> Option<Self> {
        Some(Self {
            addr: hop.addr?,
            payload: hop.payload(),
        })
    }
}

#[derive(Clone, Debug)]
struct TtlState {
    record: HopRecord,
    signature: HopSignature,
    observations: u32,
    conflicted: bool,
}

/// The hops to reuse for one new session.
#[derive(Clone, Debug)]
pub struct SharedPrefix {
    /// Records for TTLs `1..junction`, taken from the stop set.
    pub hops: Vec<HopRecord>,
    /// The TTL that is still probed to check the path really goes through the same routers.
    pub junction: TimeToLive,
    pub junction_signature: HopSignature,
}

/// The local stop set of one run.
#[derive(Clone, Debug, Default)]
pub struct NearHops {
    ttls: BTreeMap<TimeToLive, TtlState>,
}

impl NearHops {
    /// Sessions that must agree on a TTL before it is reused.
    pub const MIN_OBSERVATIONS: u32 = 3;

    /// Learns from a finished session's probed hops (shared hops are not evidence again).
    pub fn learn(&mut self, hops: &[HopRecord]) {
        for hop in hops.iter().filter(|h| !h.shared && !h.is_conflicting()) {
            let Some(sig) = HopSignature::of(hop) else {
                // A silent hop says nothing about the router there.
                continue;
            };
            match self.ttls.get_mut(&hop.ttl) {
                Some(state) if state.signature == sig => state.observations += 1,
                Some(state) => state.conflicted = true,
                None => {
                    self.ttls.insert(
                        hop.ttl,
                        TtlState {
                            record: hop.clone(),
                            signature: sig,
                            observations: 1,
                            conflicted: false,
                        },
                    );
                }
            }
        }
    }

    fn stable(&self, ttl: TimeToLive) -> Option<&TtlState> {
        self.ttls
            .get(&ttl)
            .filter(|s| !s.conflicted && s.observations >= Self::MIN_OBSERVATIONS)
    }

    /// The prefix a new session may reuse: needs at least two stable TTLs from 1 on (one to
    /// reuse, one junction); `None` otherwise. `below` bounds the junction (the sweep's limit).
    pub fn shared_prefix(&self, below: TimeToLive) -> Option<SharedPrefix> {
        let mut last = TimeToLive::PROBER;
        while last < below.prev() && self.stable(last.next()).is_some() {
            last = last.next();
        }
        if last < TimeToLive(2) {
            return None;
        }
        let junction = self.stable(last)?;
        let hops = last
            .prev()
            .up_to()
            .filter_map(|t| self.stable(t))
            .map(|s| {
                let mut r = s.record.clone();
                r.shared = true;
                r.attempts = 0;
                r
            })
            .collect();
        Some(SharedPrefix {
            hops,
            junction: last,
            junction_signature: junction.signature.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::QuoteDiff;

    fn hop(ttl: u8, last_octet: u8, payload: PayloadStatus) -> HopRecord {
        HopRecord {
            ttl: TimeToLive(ttl),
            addr: Some(Ipv4Addr::new(198, 51, 100, last_octet)),
            rtt: None,
            icmp: Some(reconmap_wire::IcmpKind::TimeExceeded { code: 0 }),
            attempts: 1,
            diff: Some(QuoteDiff {
                quote_len: 60,
                changes: Vec::new(),
                payload,
            }),
            shared: false,
            conflicts: Vec::new(),
            extensions: Default::default(),
        }
    }

    fn path(third: u8) -> Vec<HopRecord> {
        vec![
            hop(1, 1, PayloadStatus::Intact),
            hop(2, 2, PayloadStatus::Intact),
            hop(3, third, PayloadStatus::Intact),
        ]
    }

    #[test]
    fn nothing_is_shared_before_enough_agreement() {
        let mut n = NearHops::default();
        n.learn(&path(3));
        n.learn(&path(3));
        assert!(n.shared_prefix(TimeToLive(30)).is_none());
        n.learn(&path(3));
        let p = n.shared_prefix(TimeToLive(30)).expect("stable after three");
        assert_eq!(p.junction, TimeToLive(3));
        assert_eq!(p.hops.len(), 2);
        assert!(p.hops.iter().all(|h| h.shared && h.attempts == 0));
    }

    #[test]
    fn a_disagreeing_ttl_ends_the_prefix_for_good() {
        let mut n = NearHops::default();
        for _ in 0..3 {
            n.learn(&path(3));
        }
        n.learn(&path(4)); // another path diverges at TTL 3
        let p = n
            .shared_prefix(TimeToLive(30))
            .expect("TTL 1-2 still stable");
        assert_eq!(p.junction, TimeToLive(2));
        assert_eq!(p.hops.len(), 1);
        // A changed payload status is a disagreement too.
        let mut m = NearHops::default();
        for _ in 0..3 {
            m.learn(&path(3));
        }
        m.learn(&[hop(2, 2, PayloadStatus::Short)]);
        assert!(m.shared_prefix(TimeToLive(30)).is_none());
    }

    #[test]
    fn the_junction_stays_below_the_sweep_limit_and_shared_hops_teach_nothing() {
        let mut n = NearHops::default();
        for _ in 0..3 {
            n.learn(&path(3));
        }
        assert_eq!(
            n.shared_prefix(TimeToLive(3)).map(|p| p.junction),
            Some(TimeToLive(2))
        );
        assert!(n.shared_prefix(TimeToLive(2)).is_none());
        let mut shared = path(9);
        for h in &mut shared {
            h.shared = true;
        }
        n.learn(&shared);
        assert_eq!(
            n.shared_prefix(TimeToLive(30)).map(|p| p.junction),
            Some(TimeToLive(3))
        );
    }
}
