//! One ReconMap record (a JSON object per target) read leniently: every field is optional and a
//! field of an unexpected shape reads as absent, so records of any schema version load.
use super::lenient;
use serde::Deserialize;

/// The record of one probe of one target from one vantage point.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Record {
    #[serde(deserialize_with = "lenient::uint")]
    pub schema: Option<u32>,
    #[serde(deserialize_with = "lenient::text")]
    pub version: Option<String>,
    /// `ADDR:PORT` (`[ADDR]:PORT` for IPv6).
    #[serde(deserialize_with = "lenient::text")]
    pub target: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub prober: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub started_at: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub verdict: Option<String>,
    /// Id of the verdict rule that fired.
    #[serde(deserialize_with = "lenient::text")]
    pub rule: Option<String>,
    #[serde(deserialize_with = "lenient::opt")]
    pub segment: Option<Segment>,
    #[serde(deserialize_with = "lenient::text")]
    pub reason: Option<String>,
    #[serde(deserialize_with = "lenient::texts")]
    pub evidence: Vec<String>,
    #[serde(deserialize_with = "lenient::vec")]
    pub hops: Vec<Hop>,
    #[serde(deserialize_with = "lenient::opt")]
    pub smtp: Option<Smtp>,
    #[serde(deserialize_with = "lenient::opt")]
    pub tcp: Option<Tcp>,
    #[serde(deserialize_with = "lenient::opt")]
    pub tls: Option<Tls>,
    #[serde(deserialize_with = "lenient::opt")]
    pub attribution: Option<Attribution>,
    #[serde(deserialize_with = "lenient::opt")]
    pub vantage: Option<Vantage>,
    #[serde(deserialize_with = "lenient::asn")]
    pub prober_asn: Option<u32>,
    #[serde(deserialize_with = "lenient::text")]
    pub prober_as_name: Option<String>,
    #[serde(deserialize_with = "lenient::asn")]
    pub target_asn: Option<u32>,
    #[serde(deserialize_with = "lenient::text")]
    pub target_as_name: Option<String>,
    #[serde(deserialize_with = "lenient::uint")]
    pub unmatched_icmp: Option<u32>,
    #[serde(deserialize_with = "lenient::texts")]
    pub errors: Vec<String>,
}

/// A hop named by a segment.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct HopRef {
    /// 0 is the prober itself.
    #[serde(deserialize_with = "lenient::uint")]
    pub ttl: Option<u32>,
    #[serde(deserialize_with = "lenient::text")]
    pub addr: Option<String>,
    #[serde(deserialize_with = "lenient::asn")]
    pub asn: Option<u32>,
    #[serde(deserialize_with = "lenient::text")]
    pub as_name: Option<String>,
}

/// Where the change happens: after `after`, at `at` (`None`: first seen in the server's reply).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Segment {
    #[serde(deserialize_with = "lenient::opt")]
    pub after: Option<HopRef>,
    #[serde(deserialize_with = "lenient::opt")]
    pub at: Option<HopRef>,
}

/// One TTL of the sweep.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Hop {
    #[serde(deserialize_with = "lenient::uint")]
    pub ttl: Option<u32>,
    #[serde(deserialize_with = "lenient::text")]
    pub addr: Option<String>,
    #[serde(deserialize_with = "lenient::num")]
    pub rtt_ms: Option<f64>,
    /// ICMP type and code.
    #[serde(deserialize_with = "lenient::vec")]
    pub icmp: Vec<u32>,
    #[serde(deserialize_with = "lenient::uint")]
    pub attempts: Option<u32>,
    #[serde(deserialize_with = "lenient::flag")]
    pub shared: bool,
    #[serde(deserialize_with = "lenient::uint")]
    pub quote_len: Option<u32>,
    /// `intact`, `modified`, `short`, `none`, `checksum_changed`, or a newer name.
    #[serde(deserialize_with = "lenient::text")]
    pub payload: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub quoted_payload: Option<String>,
    #[serde(deserialize_with = "lenient::vec")]
    pub changes: Vec<FieldChange>,
    #[serde(deserialize_with = "lenient::asn")]
    pub asn: Option<u32>,
    #[serde(deserialize_with = "lenient::text")]
    pub as_name: Option<String>,
}

/// A header field whose quoted value differs from the one sent.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct FieldChange {
    #[serde(deserialize_with = "lenient::text")]
    pub field: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub sent: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub quoted: Option<String>,
}

/// An SMTP reply.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq, Hash)]
#[serde(default)]
pub struct Reply {
    #[serde(deserialize_with = "lenient::uint")]
    pub code: Option<u32>,
    #[serde(deserialize_with = "lenient::texts")]
    pub lines: Vec<String>,
}

/// What the SMTP session showed.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Smtp {
    #[serde(deserialize_with = "lenient::opt")]
    pub banner: Option<Reply>,
    #[serde(deserialize_with = "lenient::flag")]
    pub banner_masked: bool,
    #[serde(deserialize_with = "lenient::opt")]
    pub ehlo: Option<Reply>,
    #[serde(deserialize_with = "lenient::flag")]
    pub helo_fallback: bool,
    #[serde(deserialize_with = "lenient::opt")]
    pub helo: Option<Reply>,
    #[serde(deserialize_with = "lenient::flag")]
    pub starttls_advertised: bool,
    #[serde(deserialize_with = "lenient::texts")]
    pub masked_keywords: Vec<String>,
    #[serde(deserialize_with = "lenient::flag")]
    pub starttls_sent: bool,
    #[serde(deserialize_with = "lenient::opt")]
    pub starttls_reply: Option<Reply>,
    #[serde(deserialize_with = "lenient::text")]
    pub starttls_echo: Option<String>,
    #[serde(deserialize_with = "lenient::opt")]
    pub quit_reply: Option<Reply>,
    #[serde(deserialize_with = "lenient::text")]
    pub closed_by_server: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub error: Option<String>,
}

/// Connection-level facts.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Tcp {
    #[serde(deserialize_with = "lenient::text")]
    pub connect: Option<String>,
    #[serde(deserialize_with = "lenient::uint")]
    pub server_ttl: Option<u32>,
    #[serde(deserialize_with = "lenient::uint")]
    pub server_distance: Option<u32>,
    #[serde(deserialize_with = "lenient::vec")]
    pub rsts: Vec<Rst>,
    #[serde(deserialize_with = "lenient::flag")]
    pub starttls_unacked: bool,
    #[serde(deserialize_with = "lenient::flag")]
    pub closed_by_peer: bool,
}

/// A RST seen on the connection.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Rst {
    #[serde(deserialize_with = "lenient::uint")]
    pub ttl: Option<u32>,
    #[serde(deserialize_with = "lenient::uint")]
    pub server_ttl: Option<u32>,
    #[serde(deserialize_with = "lenient::flag")]
    pub after_starttls: bool,
    #[serde(deserialize_with = "lenient::num")]
    pub at_ms: Option<f64>,
}

/// The TLS handshake after STARTTLS.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Tls {
    #[serde(deserialize_with = "lenient::text")]
    pub version: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub cipher: Option<String>,
    #[serde(deserialize_with = "lenient::num")]
    pub handshake_ms: Option<f64>,
    #[serde(deserialize_with = "lenient::text")]
    pub sni: Option<String>,
    #[serde(deserialize_with = "lenient::vec")]
    pub chain: Vec<Certificate>,
    #[serde(deserialize_with = "lenient::opt")]
    pub chain_valid: Option<bool>,
    /// Why `chain_valid` is false.
    #[serde(deserialize_with = "lenient::text")]
    pub chain_error: Option<String>,
    #[serde(deserialize_with = "lenient::opt")]
    pub name_matches: Option<bool>,
    /// `handshake` or `legacy_hello`.
    #[serde(deserialize_with = "lenient::text")]
    pub probe: Option<String>,
    #[serde(deserialize_with = "lenient::opt")]
    pub failure: Option<TlsFailure>,
    #[serde(deserialize_with = "lenient::opt")]
    pub server_hello: Option<ServerHello>,
}

/// One certificate of the chain the server (or a box) presented.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Certificate {
    #[serde(deserialize_with = "lenient::text")]
    pub subject: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub issuer: Option<String>,
    #[serde(deserialize_with = "lenient::texts")]
    pub san_dns: Vec<String>,
    #[serde(deserialize_with = "lenient::texts")]
    pub san_ip: Vec<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub not_before: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub not_after: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub key_type: Option<String>,
    #[serde(deserialize_with = "lenient::uint")]
    pub key_bits: Option<u32>,
    #[serde(deserialize_with = "lenient::text")]
    pub sha256: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub parse_error: Option<String>,
}

/// Why the TLS handshake failed.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct TlsFailure {
    #[serde(deserialize_with = "lenient::text")]
    pub step: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub alert: Option<String>,
    /// `server` or `probe`.
    #[serde(deserialize_with = "lenient::text")]
    pub alert_sent_by: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub error: Option<String>,
}

/// What the ServerHello offered.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct ServerHello {
    #[serde(deserialize_with = "lenient::text")]
    pub version: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub cipher: Option<String>,
    /// RFC 8446 downgrade sentinel in the server random (the version it signals).
    #[serde(deserialize_with = "lenient::text")]
    pub downgrade_sentinel: Option<String>,
}

/// Whose network the tampering is in, as the tool decided it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Attribution {
    #[serde(deserialize_with = "lenient::text")]
    pub class: Option<String>,
    #[serde(deserialize_with = "lenient::asns")]
    pub asns: Vec<u32>,
    #[serde(deserialize_with = "lenient::text")]
    pub explanation: Option<String>,
}

/// The vantage point a record was measured from.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Vantage {
    #[serde(deserialize_with = "lenient::text")]
    pub name: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub prober: Option<String>,
    #[serde(deserialize_with = "lenient::asn")]
    pub asn: Option<u32>,
}

impl Record {
    /// The target as written, `?` when absent.
    pub fn target_text(&self) -> &str {
        self.target.as_deref().unwrap_or("?")
    }

    /// The verdict name, `unknown` when absent or empty.
    pub fn verdict_name(&self) -> &str {
        match self.verdict.as_deref() {
            Some(v) if !v.is_empty() => v,
            _ => "unknown",
        }
    }

    /// The vantage point's name: `vantage.name`, else its prober address, else `prober`.
    pub fn vantage_name(&self) -> &str {
        let v = self.vantage.as_ref();
        v.and_then(|v| v.name.as_deref())
            .or_else(|| v.and_then(|v| v.prober.as_deref()))
            .or(self.prober.as_deref())
            .filter(|s| !s.is_empty())
            .unwrap_or("unknown")
    }

    /// The vantage point's AS.
    pub fn vantage_asn(&self) -> Option<u32> {
        self.vantage
            .as_ref()
            .and_then(|v| v.asn)
            .or(self.prober_asn)
    }

    /// The prober address of the vantage point.
    pub fn prober_addr(&self) -> Option<&str> {
        self.vantage
            .as_ref()
            .and_then(|v| v.prober.as_deref())
            .or(self.prober.as_deref())
    }
}

impl Reply {
    /// `CODE line` per line, as a server sent it.
    pub fn text(&self) -> String {
        let code = self.code.map(|c| c.to_string()).unwrap_or_default();
        if self.lines.is_empty() {
            return code;
        }
        self.lines
            .iter()
            .map(|l| format!("{code} {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_schema1_record_reads() {
        let line = r#"{"schema":1,"tool":"reconmap","version":"0.1.0","target":"192.0.2.25:25",
            "prober":"198.51.100.1","started_at":"2026-11-23T08:39:07.120Z","verdict":"stripped",
            "segment":{"after":{"ttl":2,"addr":"198.51.100.6"},"at":{"ttl":3,"addr":"198.51.100.10"}},
            "reason":"r","evidence":["e1","e2"],
            "hops":[{"ttl":1,"addr":"198.51.100.2","rtt_ms":0.08,"icmp":[11,0],"attempts":1,
              "shared":false,"quote_len":62,"payload":"intact","quoted_payload":null,"changes":[]},
              {"ttl":3,"addr":"198.51.100.10","rtt_ms":0.11,"icmp":[11,0],"attempts":1,
              "shared":false,"quote_len":62,"payload":"modified","quoted_payload":"XXXXXXXX\\r\\n",
              "changes":[{"field":"ip.tos","sent":"0x00","quoted":"0x10"}]}],
            "smtp":{"banner":{"code":220,"lines":["**************"]},"banner_masked":true},
            "tcp":{"connect":"established","server_ttl":60,"server_distance":5,"rsts":[]},
            "timing":{"done_ms":2.3},"unmatched_icmp":0,"errors":[]}"#;
        let r: Record = serde_json::from_str(line).unwrap();
        assert_eq!(r.target_text(), "192.0.2.25:25");
        assert_eq!(r.verdict_name(), "stripped");
        assert_eq!(r.vantage_name(), "198.51.100.1");
        let seg = r.segment.unwrap();
        assert_eq!(seg.at.unwrap().addr.as_deref(), Some("198.51.100.10"));
        assert_eq!(r.hops.len(), 2);
        assert_eq!(r.hops[1].payload.as_deref(), Some("modified"));
        assert_eq!(r.hops[1].changes[0].quoted.as_deref(), Some("0x10"));
        assert_eq!(r.hops[0].icmp, vec![11, 0]);
        let smtp = r.smtp.unwrap();
        assert!(smtp.banner_masked);
        assert_eq!(smtp.banner.unwrap().text(), "220 **************");
    }

    #[test]
    fn test_new_fields_read() {
        let line = r#"{"target":"[2001:db8::25]:25","verdict":"tls_tampered","rule":"tls.alert",
            "vantage":{"name":"lab","prober":"2001:db8::1","asn":64496},
            "attribution":{"class":"transit","asns":[64500],"explanation":"x"},
            "segment":{"after":{"ttl":2,"addr":"2001:db8::2","asn":64496},"at":null},
            "tls":{"version":"TLSv1.3","chain":[{"subject":"CN=a","key_bits":2048}],
              "chain_valid":false,"failure":{"step":"certificate","alert":42,"error":"bad"}},
            "target_asn":"AS64510"}"#;
        let r: Record = serde_json::from_str(line).unwrap();
        assert_eq!(r.vantage_name(), "lab");
        assert_eq!(r.vantage_asn(), Some(64496));
        assert_eq!(r.target_asn, Some(64510));
        assert_eq!(r.attribution.unwrap().asns, vec![64500]);
        let tls = r.tls.unwrap();
        assert_eq!(tls.chain_valid, Some(false));
        assert_eq!(tls.failure.unwrap().alert.as_deref(), Some("42"));
        assert!(r.segment.unwrap().at.is_none());
    }

    #[test]
    fn test_malformed_fields_do_not_reject_the_record() {
        let r: Record = serde_json::from_str(
            r#"{"target":"192.0.2.1:25","verdict":7,"hops":[{"ttl":"x"},5,{"ttl":2}],
            "segment":"nope","smtp":[],"tls":{"chain":"no"}}"#,
        )
        .unwrap();
        assert_eq!(r.verdict_name(), "7");
        assert_eq!(r.hops.len(), 2);
        assert_eq!(r.hops[1].ttl, Some(2));
        assert!(r.segment.is_none());
        assert!(r.tls.unwrap().chain.is_empty());
    }
}
