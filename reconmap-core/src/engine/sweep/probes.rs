//! The probes of one sweep, and how an ICMP quote is tied back to the probe it quotes.
//!
//! Every probe carries its own IP ID and, when the connection uses TCP timestamps, its own
//! TSval (a block of values reserved from the connection's timestamp clock, so the server's
//! PAWS check never sees the clock go back). The IP ID is the usual key (Dublin-traceroute
//! style). Some NATs and normalisers rewrite it; the TSval sits in the TCP header those boxes
//! leave alone, so where a quote shows it (48 bytes and more), it names the probe instead.
//! Quotes that show neither (28- and 40-byte quotes after an IP-ID rewriting box) can only be
//! tied to a probe when it was the only one outstanding: see the sweep's sequential mode.
use crate::evidence::ProbeMatch;
use reconmap_wire::{
    build_ipv4_tcp, FlowAddrs, IpId, IpParams, PacketError, Quote, TcpSegment, TimeToLive,
};
use std::collections::HashMap;
use std::time::Instant;

/// What a probe carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeKind {
    /// A copy of the STARTTLS segment.
    Starttls,
    /// A control segment: same flow, same length, bytes the server already acknowledged.
    Control,
}

/// One datagram of the sweep.
#[derive(Clone, Debug)]
pub struct Probe {
    pub ttl: TimeToLive,
    pub kind: ProbeKind,
    pub sent_at: Option<Instant>,
    /// The datagram exactly as sent, for the quote diff.
    pub datagram: Vec<u8>,
}

/// A block of TCP timestamp values reserved for the sweep's probes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TsvalBlock {
    pub first: u32,
    pub len: u32,
}

/// Which probe a quote names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Identified {
    Probe(IpId, ProbeMatch),
    /// None of ours by what the quote shows. `resolvable` when the quote shows no TCP
    /// timestamp: it may still be ours (with a rewritten IP ID), and a probe sent alone would
    /// tell. A quote showing a TSval none of our probes carries is not of a probe.
    Unknown {
        resolvable: bool,
    },
}

/// The probes sent so far, by IP ID and by TSval.
#[derive(Debug)]
pub struct ProbeTable {
    by_id: HashMap<IpId, Probe>,
    by_tsval: HashMap<u32, IpId>,
    next_ip_id: IpId,
    tsvals: Option<TsvalBlock>,
    used_tsvals: u32,
}

impl ProbeTable {
    pub fn new(first_ip_id: IpId, tsvals: Option<TsvalBlock>) -> Self {
        Self {
            by_id: HashMap::new(),
            by_tsval: HashMap::new(),
            next_ip_id: first_ip_id,
            tsvals,
            used_tsvals: 0,
        }
    }

    /// Builds the next probe from `template` for `ttl` and records it.
    pub fn build(
        &mut self,
        flow: &FlowAddrs,
        template: &TcpSegment,
        ttl: TimeToLive,
        kind: ProbeKind,
    ) -> Result<(IpId, Vec<u8>), PacketError> {
        let id = self.next_ip_id;
        self.next_ip_id = id.next();
        let mut segment = template.clone();
        let tsval = self.next_tsval();
        if let (Some(v), Some((_, ecr))) = (tsval, segment.options.timestamps) {
            segment.options.timestamps = Some((v, ecr));
            self.by_tsval.insert(v, id);
        }
        let datagram = build_ipv4_tcp(flow, &IpParams::new(ttl, id), &segment)?;
        self.by_id.insert(
            id,
            Probe {
                ttl,
                kind,
                sent_at: None,
                datagram: datagram.clone(),
            },
        );
        Ok((id, datagram))
    }

    /// The next unused value of the block (none left: the probe keeps the template's TSval
    /// and is told apart by its IP ID only).
    fn next_tsval(&mut self) -> Option<u32> {
        let block = self.tsvals?;
        if self.used_tsvals >= block.len {
            return None;
        }
        let v = block.first.wrapping_add(self.used_tsvals);
        self.used_tsvals += 1;
        Some(v)
    }

    /// The IP ID the next probe will get.
    pub fn peek_next_ip_id(&self) -> IpId {
        self.next_ip_id
    }

    pub fn mark_sent(&mut self, id: IpId, at: Instant) {
        if let Some(p) = self.by_id.get_mut(&id) {
            p.sent_at = Some(at);
        }
    }

    pub fn get(&self, id: IpId) -> Option<&Probe> {
        self.by_id.get(&id)
    }

    /// Which probe `quote` quotes. The TSval decides where the quote shows one (the IP ID may
    /// have been rewritten, and a rewritten one may even collide with another probe's);
    /// otherwise the IP ID.
    pub fn identify(&self, quote: &Quote) -> Identified {
        let tsval = quote.tcp_tsval();
        let by_ts = tsval.and_then(|v| self.by_tsval.get(&v)).copied();
        let by_id = quote.ip_id().filter(|id| self.by_id.contains_key(id));
        match (tsval, by_ts, by_id) {
            (_, Some(t), Some(i)) if t == i => Identified::Probe(i, ProbeMatch::IpId),
            (_, Some(t), _) => Identified::Probe(t, ProbeMatch::TcpTimestamp),
            // Probes beyond the reserved block carry the template's TSval.
            (Some(v), None, Some(i)) if self.carries_tsval(i, v) => {
                Identified::Probe(i, ProbeMatch::IpId)
            }
            // A TSval none of our probes carries: a quote of another segment (or forged).
            (Some(_), None, _) => Identified::Unknown { resolvable: false },
            (None, None, Some(i)) => Identified::Probe(i, ProbeMatch::IpId),
            (None, None, None) => Identified::Unknown { resolvable: true },
        }
    }

    fn carries_tsval(&self, id: IpId, tsval: u32) -> bool {
        self.by_id
            .get(&id)
            .is_some_and(|p| Quote::new(&p.datagram).tcp_tsval() == Some(tsval))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reconmap_wire::{SeqNumber, TcpFlags, TcpOptions};

    fn template(ts: bool) -> TcpSegment {
        TcpSegment {
            seq: SeqNumber(100),
            ack: SeqNumber(7),
            flags: TcpFlags {
                ack: true,
                psh: true,
                ..TcpFlags::default()
            },
            options: TcpOptions {
                timestamps: ts.then_some((5, 9)),
                ..TcpOptions::default()
            },
            payload: bytes::Bytes::from_static(b"STARTTLS\r\n"),
            ..TcpSegment::default()
        }
    }

    /// The quote a router at the end of the TTL sends, with the IP ID rewritten to `id`.
    fn quote_with_id(datagram: &[u8], id: u16, len: usize) -> Quote {
        let mut d = datagram.to_vec();
        d[4..6].copy_from_slice(&id.to_be_bytes());
        Quote::new(&d[..len.min(d.len())])
    }

    fn table(ts: bool) -> (ProbeTable, Vec<(IpId, Vec<u8>)>) {
        let block = ts.then_some(TsvalBlock {
            first: 1000,
            len: 16,
        });
        let mut t = ProbeTable::new(IpId(40), block);
        let flow = reconmap_wire::fixtures::flow();
        let probes = (1..=4)
            .map(|ttl| {
                t.build(&flow, &template(ts), TimeToLive(ttl), ProbeKind::Starttls)
                    .expect("build")
            })
            .collect();
        (t, probes)
    }

    #[test]
    fn ip_id_names_the_probe_and_tsval_confirms_it() {
        let (t, p) = table(true);
        let q = Quote::new(&p[2].1);
        assert_eq!(t.identify(&q), Identified::Probe(p[2].0, ProbeMatch::IpId));
        assert_eq!(q.tcp_tsval(), Some(1002));
    }

    #[test]
    fn a_rewritten_ip_id_is_resolved_by_the_tsval_even_when_it_collides() {
        let (t, p) = table(true);
        let q = quote_with_id(&p[2].1, 9999, 60);
        assert_eq!(
            t.identify(&q),
            Identified::Probe(p[2].0, ProbeMatch::TcpTimestamp)
        );
        // Rewritten to another probe's ID: the TSval still decides.
        let q = quote_with_id(&p[2].1, p[0].0 .0, 60);
        assert_eq!(
            t.identify(&q),
            Identified::Probe(p[2].0, ProbeMatch::TcpTimestamp)
        );
    }

    #[test]
    fn short_quotes_with_a_foreign_id_are_resolvable_only_one_at_a_time() {
        let (t, p) = table(true);
        let q = quote_with_id(&p[1].1, 9999, 40);
        assert_eq!(t.identify(&q), Identified::Unknown { resolvable: true });
        // With the ID intact, a 40-byte quote is matched by it.
        let q = Quote::new(&p[1].1[..40]);
        assert_eq!(t.identify(&q), Identified::Probe(p[1].0, ProbeMatch::IpId));
    }

    #[test]
    fn a_tsval_of_no_probe_is_not_ours() {
        let (t, p) = table(true);
        let mut d = p[1].1.clone();
        d[44..48].copy_from_slice(&77u32.to_be_bytes());
        assert_eq!(
            t.identify(&Quote::new(&d)),
            Identified::Unknown { resolvable: false }
        );
    }

    #[test]
    fn without_timestamps_only_the_ip_id_counts() {
        let (t, p) = table(false);
        assert_eq!(
            t.identify(&Quote::new(&p[3].1)),
            Identified::Probe(p[3].0, ProbeMatch::IpId)
        );
        assert_eq!(
            t.identify(&quote_with_id(&p[3].1, 9999, 60)),
            Identified::Unknown { resolvable: true }
        );
    }
}
