//! Whose network a tampering record points at: the record's own `attribution` when it has one,
//! else a placement derived from the ASes of its segment ends, the prober and the target.
use super::Record;

/// Where on the path the tampering box sits, as seen from the prober.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AttributionClass {
    ClientNetwork,
    Transit,
    ServerNetwork,
    Ambiguous,
    Unknown,
}

impl AttributionClass {
    /// All classes in display order.
    pub const ALL: [AttributionClass; 5] = [
        AttributionClass::ClientNetwork,
        AttributionClass::Transit,
        AttributionClass::ServerNetwork,
        AttributionClass::Ambiguous,
        AttributionClass::Unknown,
    ];

    /// The schema name (`client_network`, ...).
    pub fn name(self) -> &'static str {
        match self {
            AttributionClass::ClientNetwork => "client_network",
            AttributionClass::Transit => "transit",
            AttributionClass::ServerNetwork => "server_network",
            AttributionClass::Ambiguous => "ambiguous",
            AttributionClass::Unknown => "unknown",
        }
    }

    /// Words for people.
    pub fn label(self) -> &'static str {
        match self {
            AttributionClass::ClientNetwork => "the client's network (the prober's ISP)",
            AttributionClass::Transit => "a transit network",
            AttributionClass::ServerNetwork => "the server's own network",
            AttributionClass::Ambiguous => "ambiguous (at an AS boundary)",
            AttributionClass::Unknown => "unknown (no AS data)",
        }
    }

    /// Parses a schema name; names this report does not know read as `Unknown`.
    pub fn parse(name: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|c| c.name() == name)
            .unwrap_or(AttributionClass::Unknown)
    }
}

/// The placement of one tampering record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    pub class: AttributionClass,
    /// The ASes the tampering is placed in (two for a boundary).
    pub asns: Vec<u32>,
    /// Derived here from segment ASes (the record had no `attribution`).
    pub derived: bool,
}

impl Record {
    /// Where the tampering is: the record's `attribution`, else derived from its segment.
    pub fn placement(&self) -> Placement {
        if let Some(a) = &self.attribution {
            if let Some(class) = a.class.as_deref() {
                return Placement {
                    class: AttributionClass::parse(class),
                    asns: a.asns.clone(),
                    derived: false,
                };
            }
        }
        self.derived_placement()
    }

    fn derived_placement(&self) -> Placement {
        let unknown = |asns: Vec<u32>| Placement {
            class: AttributionClass::Unknown,
            asns,
            derived: true,
        };
        let Some(seg) = &self.segment else {
            return unknown(Vec::new());
        };
        let client = self.vantage_asn();
        let server = self.target_asn;
        let after_asn = match &seg.after {
            Some(h) if h.ttl == Some(0) => client,
            Some(h) => h.asn,
            None => None,
        };
        // As ReconMap decides it: the prober's AS first, then the target's; transit only when
        // both are known (else it cannot be told apart).
        let classify = |asn: u32| {
            if Some(asn) == client {
                AttributionClass::ClientNetwork
            } else if Some(asn) == server {
                AttributionClass::ServerNetwork
            } else if client.is_none() || server.is_none() {
                AttributionClass::Unknown
            } else {
                AttributionClass::Transit
            }
        };
        let placed = |class, asns| Placement {
            class,
            asns,
            derived: true,
        };
        match &seg.at {
            Some(at) => match (after_asn, at.asn) {
                (_, None) => unknown(Vec::new()),
                (Some(a), Some(b)) if a != b => placed(AttributionClass::Ambiguous, vec![a, b]),
                (_, Some(b)) => placed(classify(b), vec![b]),
            },
            // Between `after` and the server.
            None => match (after_asn, server) {
                (Some(a), Some(s)) if a == s => placed(classify(s), vec![s]),
                (Some(a), Some(s)) => placed(AttributionClass::Ambiguous, vec![a, s]),
                _ => unknown(Vec::new()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(json: &str) -> Record {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn test_explicit_attribution_wins() {
        let r = rec(
            r#"{"verdict":"stripped","attribution":{"class":"transit","asns":[64500]},
            "segment":{"after":{"ttl":1,"asn":64496},"at":{"ttl":2,"asn":64496}},"prober_asn":64496}"#,
        );
        let p = r.placement();
        assert_eq!(p.class, AttributionClass::Transit);
        assert_eq!(p.asns, vec![64500]);
        assert!(!p.derived);
    }

    #[test]
    fn test_derived_client_transit_server() {
        let base = r#""prober_asn":64496,"target_asn":64510,"verdict":"stripped""#;
        let client = rec(&format!(
            r#"{{{base},"segment":{{"after":{{"ttl":1,"asn":64496}},"at":{{"ttl":2,"asn":64496}}}}}}"#
        ));
        assert_eq!(client.placement().class, AttributionClass::ClientNetwork);
        let transit = rec(&format!(
            r#"{{{base},"segment":{{"after":{{"ttl":3,"asn":64500}},"at":{{"ttl":4,"asn":64500}}}}}}"#
        ));
        assert_eq!(transit.placement().class, AttributionClass::Transit);
        assert_eq!(transit.placement().asns, vec![64500]);
        let server = rec(&format!(
            r#"{{{base},"segment":{{"after":{{"ttl":6,"asn":64510}},"at":null}}}}"#
        ));
        assert_eq!(server.placement().class, AttributionClass::ServerNetwork);
        let boundary = rec(&format!(
            r#"{{{base},"segment":{{"after":{{"ttl":5,"asn":64500}},"at":null}}}}"#
        ));
        let p = boundary.placement();
        assert_eq!(p.class, AttributionClass::Ambiguous);
        assert_eq!(p.asns, vec![64500, 64510]);
        let prober_itself = rec(&format!(
            r#"{{{base},"segment":{{"after":{{"ttl":0}},"at":{{"ttl":1,"asn":64496}}}}}}"#
        ));
        assert_eq!(
            prober_itself.placement().class,
            AttributionClass::ClientNetwork
        );
    }

    #[test]
    fn test_transit_needs_both_end_ases() {
        let r = rec(r#"{"verdict":"stripped","prober_asn":64496,
            "segment":{"after":{"ttl":3,"asn":64500},"at":{"ttl":4,"asn":64500}}}"#);
        assert_eq!(r.placement().class, AttributionClass::Unknown);
        assert_eq!(r.placement().asns, vec![64500]);
    }

    #[test]
    fn test_no_as_data_is_unknown() {
        let r = rec(
            r#"{"verdict":"stripped","segment":{"after":{"ttl":2,"addr":"192.0.2.2"},"at":{"ttl":3,"addr":"192.0.2.3"}}}"#,
        );
        let p = r.placement();
        assert_eq!(p.class, AttributionClass::Unknown);
        assert!(p.asns.is_empty());
        assert!(AttributionClass::parse("someday_class") == AttributionClass::Unknown);
    }
}
