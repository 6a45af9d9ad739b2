//! Naming the two ends of a record's segment for grouping and display.
use super::{HopRef, Record, Segment};

/// Where a segment ends: at a hop whose quote shows the change, or beyond its `after` hop, in
/// front of the server (the change first shows in the server's reply).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SegmentEnd {
    /// `segment.at` with a known address.
    Hop(String),
    /// `segment.at` at a TTL that did not answer.
    SilentHop { ttl: u32 },
    /// `segment.at` is null: between `after` (address, or `None` for the prober) and the server.
    BeforeServer { after: Option<String> },
}

impl SegmentEnd {
    /// Short text: `198.51.100.10`, `ttl 4 (no answer)`, `198.51.100.6 → server`.
    pub fn label(&self) -> String {
        match self {
            SegmentEnd::Hop(a) => a.clone(),
            SegmentEnd::SilentHop { ttl } => format!("ttl {ttl} (no answer)"),
            SegmentEnd::BeforeServer { after: Some(a) } => format!("{a} → server"),
            SegmentEnd::BeforeServer { after: None } => "prober → server".into(),
        }
    }

    /// The key that says "the same place" across vantage points: the hop's address, or just
    /// "in front of the server" (the `after` hop differs with the path taken).
    pub fn place(&self) -> String {
        match self {
            SegmentEnd::Hop(a) => a.clone(),
            SegmentEnd::SilentHop { ttl } => format!("ttl {ttl}"),
            SegmentEnd::BeforeServer { .. } => "server side".into(),
        }
    }
}

impl Segment {
    /// Where the segment ends.
    pub fn end(&self) -> SegmentEnd {
        match &self.at {
            Some(HopRef {
                addr: Some(addr), ..
            }) => SegmentEnd::Hop(addr.clone()),
            Some(at) => SegmentEnd::SilentHop {
                ttl: at.ttl.unwrap_or(0),
            },
            None => SegmentEnd::BeforeServer {
                after: self
                    .after
                    .as_ref()
                    .filter(|a| a.ttl != Some(0))
                    .and_then(|a| a.addr.clone()),
            },
        }
    }

    /// `198.51.100.6 (ttl 2) → 198.51.100.10 (ttl 3)`, or `… → server`.
    pub fn text(&self) -> String {
        let hop = |h: &HopRef| {
            let addr = match (&h.addr, h.ttl) {
                (_, Some(0)) => "prober".to_string(),
                (Some(a), _) => a.clone(),
                (None, _) => "*".to_string(),
            };
            match h.ttl {
                Some(t) if t > 0 => format!("{addr} (ttl {t})"),
                _ => addr,
            }
        };
        let after = self.after.as_ref().map_or_else(|| "?".to_string(), hop);
        let at = self.at.as_ref().map_or_else(|| "server".to_string(), hop);
        format!("{after} → {at}")
    }
}

impl Record {
    /// The end of the segment of a tampering record.
    pub fn tamper_end(&self) -> Option<SegmentEnd> {
        if !self.is_tampered() {
            return None;
        }
        self.segment.as_ref().map(Segment::end)
    }

    /// The AS of the hop where the segment ends (or, in front of the server, the target's).
    pub fn segment_end_asn(&self) -> Option<u32> {
        let seg = self.segment.as_ref()?;
        match &seg.at {
            Some(at) => at.asn,
            None => self.target_asn,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(json: &str) -> Segment {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn test_ends_and_text() {
        let s = seg(r#"{"after":{"ttl":2,"addr":"192.0.2.2"},"at":{"ttl":3,"addr":"192.0.2.3"}}"#);
        assert_eq!(s.end(), SegmentEnd::Hop("192.0.2.3".into()));
        assert_eq!(s.text(), "192.0.2.2 (ttl 2) → 192.0.2.3 (ttl 3)");
        let s = seg(r#"{"after":{"ttl":0,"addr":"192.0.2.10"},"at":null}"#);
        assert_eq!(s.end(), SegmentEnd::BeforeServer { after: None });
        assert_eq!(s.text(), "prober → server");
        assert_eq!(s.end().place(), "server side");
        let s = seg(r#"{"after":{"ttl":4,"addr":"2001:db8::4"},"at":{"ttl":6,"addr":null}}"#);
        assert_eq!(s.end(), SegmentEnd::SilentHop { ttl: 6 });
        assert_eq!(s.end().label(), "ttl 6 (no answer)");
    }
}
