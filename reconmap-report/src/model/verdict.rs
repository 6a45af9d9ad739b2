//! What each verdict name means for the report: its group, colour and wording. Verdict names
//! this crate does not know are shown as they are, in a colour derived from the name.
use super::Record;

/// How a verdict counts in the summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum VerdictKind {
    /// Someone on the path tampered with the session.
    Tampering,
    /// STARTTLS worked.
    Clean,
    /// Nothing was tampered with, but there is no TLS either (the server does not offer it).
    NoTls,
    /// The probe could not decide (no connection, an error).
    Undecided,
    /// A verdict name this report does not know.
    Other,
}

/// Display facts of one verdict name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerdictInfo {
    pub name: String,
    pub kind: VerdictKind,
    /// CSS colour.
    pub color: String,
    /// One line for people.
    pub meaning: &'static str,
    /// Sort key: known verdicts in a fixed order, others after them by name.
    pub order: u32,
}

const KNOWN: &[(&str, VerdictKind, &str, &str)] = &[
    (
        "stripped",
        VerdictKind::Tampering,
        "#d62728",
        "the STARTTLS command was rewritten on the way",
    ),
    (
        "blocked",
        VerdictKind::Tampering,
        "#8c1c13",
        "the STARTTLS segment was dropped or the connection reset",
    ),
    (
        "advertisement_masked",
        VerdictKind::Tampering,
        "#ff7f0e",
        "the banner or EHLO reply was masked on the way back",
    ),
    (
        "intercepted",
        VerdictKind::Tampering,
        "#9467bd",
        "a transparent proxy on the path answered for the server (the TCP connection ends there)",
    ),
    (
        "tls_blocked",
        VerdictKind::Tampering,
        "#b5179e",
        "the TLS handshake was cut off on the path",
    ),
    (
        "tls_tampered",
        VerdictKind::Tampering,
        "#e377c2",
        "the TLS handshake was altered on the path",
    ),
    (
        "clean",
        VerdictKind::Clean,
        "#2ca02c",
        "STARTTLS accepted, nothing changed on the path",
    ),
    (
        "tls_failed",
        VerdictKind::Undecided,
        "#bcbd22",
        "STARTTLS accepted but the TLS handshake failed at the server",
    ),
    (
        "not_offered",
        VerdictKind::NoTls,
        "#7f7f7f",
        "the server does not do STARTTLS",
    ),
    (
        "inconclusive",
        VerdictKind::Undecided,
        "#c9a227",
        "the evidence does not decide",
    ),
    (
        "unreachable",
        VerdictKind::Undecided,
        "#4d4d4d",
        "no TCP connection",
    ),
];

/// The display facts of a verdict name.
pub fn verdict_info(name: &str) -> VerdictInfo {
    let known = KNOWN.iter().enumerate().find(|(_, (n, ..))| *n == name);
    match known {
        Some((i, &(n, kind, color, meaning))) => VerdictInfo {
            name: n.to_string(),
            kind,
            color: color.to_string(),
            meaning,
            order: u32::try_from(i).unwrap_or(u32::MAX),
        },
        None => VerdictInfo {
            name: name.to_string(),
            kind: VerdictKind::Other,
            color: generic_color(name),
            meaning: "a verdict this report does not know",
            order: 1000,
        },
    }
}

/// A stable colour for a name (FNV-1a hash to a hue).
fn generic_color(name: &str) -> String {
    let hash = name.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    format!("hsl({}, 45%, 45%)", hash % 360)
}

impl Record {
    /// Whether someone on the path tampered with this session: a tampering verdict, or a
    /// verdict this report does not know that comes with a located segment or an attribution.
    pub fn is_tampered(&self) -> bool {
        match verdict_info(self.verdict_name()).kind {
            VerdictKind::Tampering => true,
            VerdictKind::Other => self.segment.is_some() || self.attribution.is_some(),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_known_and_unknown_verdicts() {
        assert_eq!(verdict_info("stripped").kind, VerdictKind::Tampering);
        assert_eq!(verdict_info("clean").kind, VerdictKind::Clean);
        let other = verdict_info("quantum_downgrade");
        assert_eq!(other.kind, VerdictKind::Other);
        assert_eq!(other.name, "quantum_downgrade");
        assert!(other.color.starts_with("hsl("));
        assert_eq!(other.color, verdict_info("quantum_downgrade").color);
        assert!(verdict_info("clean").order < other.order);
    }

    #[test]
    fn test_unknown_verdict_with_segment_counts_as_tampering() {
        let mut r: Record =
            serde_json::from_str(r#"{"target":"192.0.2.1:25","verdict":"new_kind"}"#).unwrap();
        assert!(!r.is_tampered());
        r.segment = Some(Default::default());
        assert!(r.is_tampered());
    }
}
