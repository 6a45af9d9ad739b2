//! The end-of-scan summary: verdict counts and the hops most often found at a stripping segment.
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::net::Ipv4Addr;

/// Tallies over finished targets.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Tally {
    pub verdicts: BTreeMap<String, u64>,
    /// Address of the first hop showing the change (or the last one seeing the original bytes
    /// when the change shows only at the server) -> number of targets.
    pub segment_hops: HashMap<Ipv4Addr, u64>,
    pub total: u64,
    /// Completed TLS handshakes by version (`TLSv1.3`, ...), and failed ones by the version
    /// the server offered (`TLSv1.0 (failed)`).
    pub tls_versions: BTreeMap<String, u64>,
    /// Completed or described chains: how many a verifying client would accept, and not.
    pub chain_valid: u64,
    pub chain_invalid: u64,
    /// Records naming a segment, by whose network it lies in (`client_network`, ...).
    pub attribution: BTreeMap<String, u64>,
    /// Segments attributed to one AS (`client_network`, `server_network`, `transit`) by AS.
    pub attributed_asns: HashMap<u32, u64>,
}

impl Tally {
    pub fn record(&mut self, verdict: &str, segment_hop: Option<Ipv4Addr>) {
        *self.verdicts.entry(verdict.to_string()).or_default() += 1;
        if let Some(hop) = segment_hop {
            *self.segment_hops.entry(hop).or_default() += 1;
        }
        self.total += 1;
    }

    /// Counts what a record's TLS handshake showed.
    pub fn record_tls(&mut self, tls: &reconmap_tls::TlsObservations) {
        let version = match (&tls.version, &tls.failure, &tls.server_hello) {
            (Some(v), None, _) => Some(v.clone()),
            (_, Some(_), Some(h)) => Some(format!("{} (failed)", h.version)),
            (_, Some(_), None) => Some("no ServerHello".to_string()),
            (None, None, _) => None,
        };
        if let Some(v) = version {
            *self.tls_versions.entry(v).or_default() += 1;
        }
        match tls.chain_valid {
            Some(true) => self.chain_valid += 1,
            Some(false) => self.chain_invalid += 1,
            None => {}
        }
    }

    /// Counts whose network a record's segment lies in.
    pub fn record_attribution(&mut self, class: &str, asns: &[u32]) {
        *self.attribution.entry(class.to_string()).or_default() += 1;
        if matches!(class, "client_network" | "server_network" | "transit") {
            for &asn in asns {
                *self.attributed_asns.entry(asn).or_default() += 1;
            }
        }
    }

    /// The `n` ASes most segments were attributed to, most frequent first (ties by number).
    pub fn top_asns(&self, n: usize) -> Vec<(u32, u64)> {
        let mut v: Vec<(u32, u64)> = self.attributed_asns.iter().map(|(a, c)| (*a, *c)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v.truncate(n);
        v
    }

    /// The `n` hops seen most often at a segment, most frequent first (ties by address).
    pub fn top_hops(&self, n: usize) -> Vec<(Ipv4Addr, u64)> {
        let mut v: Vec<(Ipv4Addr, u64)> = self.segment_hops.iter().map(|(a, c)| (*a, *c)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v.truncate(n);
        v
    }

    /// A short human table.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "{:<22} {:>10}", "verdict", "targets");
        for (v, c) in &self.verdicts {
            let _ = writeln!(s, "{v:<22} {c:>10}");
        }
        let _ = writeln!(s, "{:<22} {:>10}", "total", self.total);
        if !self.tls_versions.is_empty() {
            let _ = writeln!(s, "\n{:<22} {:>10}", "TLS", "targets");
            for (v, c) in &self.tls_versions {
                let _ = writeln!(s, "{v:<22} {c:>10}");
            }
            let _ = writeln!(
                s,
                "certificate chain valid {} / not valid {}",
                self.chain_valid, self.chain_invalid
            );
        }
        if !self.attribution.is_empty() {
            let _ = writeln!(s, "\n{:<22} {:>10}", "segment lies in", "targets");
            for (class, c) in &self.attribution {
                let _ = writeln!(s, "{class:<22} {c:>10}");
            }
            for (asn, c) in self.top_asns(5) {
                let _ = writeln!(s, "  AS{asn:<19} {c:>8}");
            }
        }
        let top = self.top_hops(10);
        if !top.is_empty() {
            let _ = writeln!(s, "\nhops most often at a stripping segment:");
            for (addr, c) in top {
                let _ = writeln!(s, "  {addr:<18} {c:>8}");
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_ranks() {
        let mut t = Tally::default();
        let a = Ipv4Addr::new(203, 0, 113, 1);
        let b = Ipv4Addr::new(203, 0, 113, 2);
        t.record("stripped", Some(a));
        t.record("stripped", Some(b));
        t.record("stripped", Some(a));
        t.record("clean", None);
        assert_eq!(t.total, 4);
        assert_eq!(t.verdicts.get("stripped"), Some(&3));
        assert_eq!(t.top_hops(1), vec![(a, 2)]);
        let text = t.render();
        assert!(text.contains("stripped") && text.contains("203.0.113.1"));
        assert!(!text.contains("TLS"));
        assert!(!text.contains("segment lies in"));
    }

    #[test]
    fn attributions_are_counted_with_the_ases_they_name() {
        let mut t = Tally::default();
        t.record_attribution("transit", &[64500]);
        t.record_attribution("transit", &[64500]);
        t.record_attribution("client_network", &[64496]);
        t.record_attribution("ambiguous", &[64500, 64510]);
        assert_eq!(t.attribution.get("transit"), Some(&2));
        assert_eq!(t.top_asns(5), vec![(64500, 2), (64496, 1)]);
        let text = t.render();
        assert!(
            text.contains("segment lies in") && text.contains("AS64500"),
            "{text}"
        );
    }

    #[test]
    fn tls_versions_and_chains_are_counted() {
        let mut t = Tally::default();
        let ok = reconmap_tls::TlsObservations {
            version: Some("TLSv1.3".into()),
            chain_valid: Some(false),
            ..Default::default()
        };
        t.record_tls(&ok);
        t.record_tls(&ok);
        let old = reconmap_tls::TlsObservations {
            failure: Some(reconmap_tls::TlsFailure {
                step: reconmap_tls::HandshakeStep::ServerHello,
                alert: Some("protocol_version".into()),
                alert_sent_by: Some(reconmap_tls::Peer::Probe),
                error: "x".into(),
            }),
            server_hello: Some(reconmap_tls::ServerHelloInfo {
                version: "TLSv1.0".into(),
                legacy_version: "TLSv1.0".into(),
                cipher: "TLS_RSA_WITH_AES_128_CBC_SHA".into(),
                hello_retry_request: false,
                downgrade_sentinel: None,
                extensions: Vec::new(),
            }),
            chain_valid: Some(true),
            ..Default::default()
        };
        t.record_tls(&old);
        assert_eq!(t.tls_versions.get("TLSv1.3"), Some(&2));
        assert_eq!(t.tls_versions.get("TLSv1.0 (failed)"), Some(&1));
        assert_eq!((t.chain_valid, t.chain_invalid), (1, 2));
        assert!(t
            .render()
            .contains("certificate chain valid 1 / not valid 2"));
    }
}
