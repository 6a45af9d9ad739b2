//! Boxes on the forward path that change headers (tracebox's per-hop changes, surfaced): each
//! header field whose quoted value first differs from what was sent at some hop names a
//! *candidate box* between that hop and the last hop below it whose quote showed the field
//! unchanged. They are not evidence of STARTTLS tampering themselves, but where a box masks
//! STARTTLS in replies only (which forward probes cannot see), they are where to look; an IP ID
//! rewritten from some hop on is one of them, and the reason some answers were matched by
//! their TCP timestamp or one at a time.
use super::HopRef;
use crate::evidence::HopRecord;
use reconmap_wire::layout::{ipv4, tcp};
use reconmap_wire::TimeToLive;
use serde::Serialize;

/// Where a box that changes headers sits, and what it changes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CandidateBox {
    /// The last hop below `at` whose quote showed these fields as sent (the prober: TTL 0).
    pub after: HopRef,
    /// The first hop whose quote shows them changed.
    pub at: HopRef,
    /// The fields (`tcp.seq`, `ip.id`, `tcp.options`, ...).
    pub fields: Vec<String>,
}

/// Bytes of the quoted datagram needed to see `field` (a quote this long shows it whole).
fn needed(field: &str) -> usize {
    let t = ipv4::MIN_HLEN;
    match field {
        "tcp.sport" => t + tcp::SPORT.end,
        "tcp.dport" => t + tcp::DPORT.end,
        "tcp.seq" => t + tcp::SEQ.end,
        "tcp.ack" => t + tcp::ACK.end,
        "tcp.flags" => t + tcp::FLAGS + 1,
        "tcp.window" => t + tcp::WINDOW.end,
        "tcp.checksum" => t + tcp::CHECKSUM.end,
        "tcp.urgent" => t + tcp::URGENT.end,
        // Options: at least some of them; the diff compares them only when all are quoted.
        "tcp.options" => t + tcp::MIN_HLEN + 1,
        _ => ipv4::MIN_HLEN,
    }
}

/// The hops' answers that count (answered, not conflicting), in TTL order.
fn answering(hops: &[HopRecord]) -> impl Iterator<Item = &HopRecord> {
    hops.iter()
        .filter(|h| h.addr.is_some() && !h.is_conflicting() && h.diff.is_some())
}

/// The candidate boxes of a trace, nearest first.
pub fn candidate_boxes(hops: &[HopRecord], prober: HopRef) -> Vec<CandidateBox> {
    let mut seen: Vec<String> = Vec::new();
    let mut out: Vec<CandidateBox> = Vec::new();
    for h in answering(hops) {
        let Some(d) = h.diff.as_ref() else { continue };
        let new: Vec<String> = d
            .changes
            .iter()
            .map(|c| c.field.clone())
            .filter(|f| !seen.contains(f))
            .collect();
        if new.is_empty() {
            continue;
        }
        // The box is above the last hop that showed every new field unchanged.
        let after = answering(hops)
            .filter(|b| b.ttl < h.ttl)
            .filter(|b| {
                b.diff.as_ref().is_some_and(|bd| {
                    new.iter().all(|f| {
                        bd.quote_len >= needed(f) && !bd.changes.iter().any(|c| &c.field == f)
                    })
                })
            })
            .map(|b| HopRef {
                ttl: b.ttl,
                addr: b.addr,
            })
            .last()
            .unwrap_or(prober);
        seen.extend(new.iter().cloned());
        out.push(CandidateBox {
            after,
            at: HopRef {
                ttl: h.ttl,
                addr: h.addr,
            },
            fields: new,
        });
    }
    out
}

/// The first hop whose quote carries another IP ID than its probe had (a NAT or normaliser
/// rewrites it at or before that hop).
pub fn ip_id_rewritten_from(hops: &[HopRecord]) -> Option<HopRef> {
    answering(hops)
        .find(|h| {
            h.diff
                .as_ref()
                .is_some_and(|d| d.changes.iter().any(|c| c.field == "ip.id"))
        })
        .map(|h| HopRef {
            ttl: h.ttl,
            addr: h.addr,
        })
}

/// The TTL of the prober as a hop.
pub fn prober_ref(addr: std::net::Ipv4Addr) -> HopRef {
    HopRef {
        ttl: TimeToLive::PROBER,
        addr: Some(addr),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::{FieldChange, PayloadStatus, QuoteDiff};
    use std::net::Ipv4Addr;

    fn hop(ttl: u8, len: usize, fields: &[&str]) -> HopRecord {
        HopRecord {
            addr: Some(Ipv4Addr::new(198, 51, 100, ttl)),
            diff: Some(QuoteDiff {
                quote_len: len,
                changes: fields
                    .iter()
                    .map(|f| FieldChange {
                        field: f.to_string(),
                        sent: "1".into(),
                        quoted: "2".into(),
                    })
                    .collect(),
                payload: PayloadStatus::Intact,
            }),
            ..HopRecord::silent(TimeToLive(ttl))
        }
    }

    fn prober() -> HopRef {
        prober_ref(Ipv4Addr::new(198, 51, 100, 1))
    }

    #[test]
    fn each_field_names_the_hop_where_it_first_changes() {
        let hops = [
            hop(1, 576, &[]),
            hop(2, 576, &[]),
            hop(3, 576, &["tcp.seq"]),
            hop(4, 576, &["tcp.seq"]),
            hop(5, 576, &["tcp.seq", "ip.id"]),
        ];
        let c = candidate_boxes(&hops, prober());
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].after.ttl.0, c[0].at.ttl.0), (2, 3));
        assert_eq!(c[0].fields, ["tcp.seq"]);
        assert_eq!((c[1].after.ttl.0, c[1].at.ttl.0), (4, 5));
        assert_eq!(c[1].fields, ["ip.id"]);
        assert_eq!(ip_id_rewritten_from(&hops).map(|h| h.ttl.0), Some(5));
    }

    #[test]
    fn a_hop_whose_quote_cannot_show_the_field_does_not_bound_the_box() {
        // Hop 2 quotes 28 bytes: it shows no window, so the box may be below it.
        let hops = [
            hop(1, 576, &[]),
            hop(2, 28, &[]),
            hop(3, 576, &["tcp.window"]),
        ];
        let c = candidate_boxes(&hops, prober());
        assert_eq!((c[0].after.ttl.0, c[0].at.ttl.0), (1, 3));
        // Silent and conflicting hops say nothing.
        let c = candidate_boxes(&[hop(1, 576, &["ip.tos"])], prober());
        assert_eq!(c[0].after.ttl.0, 0);
    }

    #[test]
    fn an_untouched_path_has_no_candidates() {
        let hops = [
            hop(1, 576, &[]),
            hop(2, 40, &[]),
            HopRecord::silent(TimeToLive(3)),
        ];
        assert!(candidate_boxes(&hops, prober()).is_empty());
        assert_eq!(ip_id_rewritten_from(&hops), None);
    }
}
