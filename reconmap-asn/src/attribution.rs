//! Whose network a segment lies in: [`attribute`], a pure function of four AS sets.
//!
//! The rule for multi-origin prefixes: an end "is in" AS X when X is among the origins of
//! the prefix covering the end's address. Two ends are in the same AS when their origin
//! sets share at least one AS; the class is then decided on the shared ASes only.
use std::fmt;

use serde::{Deserialize, Serialize};

/// The attribution class of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttributionClass {
    /// Both ends of the segment are in the prober's AS.
    ClientNetwork,
    /// Both ends are in the target's AS (and not in the prober's).
    ServerNetwork,
    /// Both ends are in one AS that is neither the prober's nor the target's.
    Transit,
    /// The ends lie in different ASes (no AS in common): the change happened at or near an
    /// AS border, and which side owns the box cannot be told from prefixes alone.
    Ambiguous,
    /// Data is missing: no prefix covers an end, or the ends share an AS but the prober's
    /// or target's AS, needed to name it, is unknown.
    Unknown,
}

impl AttributionClass {
    /// The snake_case name, as in JSON (`client_network`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientNetwork => "client_network",
            Self::ServerNetwork => "server_network",
            Self::Transit => "transit",
            Self::Ambiguous => "ambiguous",
            Self::Unknown => "unknown",
        }
    }
}

impl fmt::Display for AttributionClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The attribution of one segment.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Attribution {
    /// The class.
    pub class: AttributionClass,
    /// The ASes involved. `client_network`, `server_network`, `transit`: the AS(es) both
    /// ends are in (for the first two, only those that are the prober's or target's).
    /// `ambiguous`: the ASes of the `after` end, then those of the `at` end. `unknown`: the
    /// ASes that are known (possibly none).
    pub asns: Vec<u32>,
    /// One line for a table, e.g. `both ends of the segment are in AS64500 (the prober's
    /// network)`.
    pub explanation: String,
}

/// Attributes a segment from the origin ASes of four addresses, each as returned by
/// [`crate::AsDb::origins`] (an empty slice means no prefix covers the address):
///
/// - `prober_as`: the prober's own address;
/// - `target_as`: the mail server's address;
/// - `after_as`: the address of `segment.after`, the last hop that saw the command intact
///   (the prober's address when `after` is TTL 0);
/// - `at_as`: the address of `segment.at`, the first hop that saw it changed (the server's
///   address when `at` is null).
///
/// Decision, in order:
/// 1. `after_as` or `at_as` empty: `unknown`.
/// 2. No AS in common between `after_as` and `at_as`: `ambiguous`.
/// 3. A common AS is the prober's: `client_network` (also when it is the target's as well:
///    prober and server in one AS).
/// 4. A common AS is the target's: `server_network`.
/// 5. The prober's or the target's AS unknown: `unknown` (transit cannot be told apart).
/// 6. Otherwise: `transit`.
#[must_use]
pub fn attribute(
    prober_as: &[u32],
    target_as: &[u32],
    after_as: &[u32],
    at_as: &[u32],
) -> Attribution {
    if after_as.is_empty() || at_as.is_empty() {
        let which = match (after_as.is_empty(), at_as.is_empty()) {
            (true, true) => "either end of the segment",
            (true, false) => "the segment's near end (after)",
            _ => "the segment's far end (at)",
        };
        return Attribution {
            class: AttributionClass::Unknown,
            asns: union(after_as, at_as),
            explanation: format!("no AS data for {which}"),
        };
    }
    let common = intersection(after_as, at_as);
    if common.is_empty() {
        let roles = Roles {
            prober: prober_as,
            target: target_as,
        };
        return Attribution {
            class: AttributionClass::Ambiguous,
            asns: union(after_as, at_as),
            explanation: format!(
                "the segment's ends lie in different ASes: after in {}{}, at in {}{}",
                as_list(after_as),
                roles.suffix(after_as),
                as_list(at_as),
                roles.suffix(at_as),
            ),
        };
    }
    let in_prober = intersection(&common, prober_as);
    let in_target = intersection(&common, target_as);
    if !in_prober.is_empty() {
        let role = if in_target.is_empty() {
            "the prober's network"
        } else {
            "the prober's network, which is also the server's"
        };
        return both_ends_in(AttributionClass::ClientNetwork, in_prober, role);
    }
    if !in_target.is_empty() {
        return both_ends_in(
            AttributionClass::ServerNetwork,
            in_target,
            "the server's network",
        );
    }
    let missing = match (prober_as.is_empty(), target_as.is_empty()) {
        (true, true) => Some("the prober's and the server's ASes are unknown"),
        (true, false) => Some("the prober's AS is unknown"),
        (false, true) => Some("the server's AS is unknown"),
        (false, false) => None,
    };
    match missing {
        Some(why) => Attribution {
            class: AttributionClass::Unknown,
            explanation: format!(
                "both ends of the segment are in {}, but {why}",
                as_list(&common)
            ),
            asns: common,
        },
        None => both_ends_in(
            AttributionClass::Transit,
            common,
            "transit: neither the prober's nor the server's network",
        ),
    }
}

fn both_ends_in(class: AttributionClass, asns: Vec<u32>, role: &str) -> Attribution {
    Attribution {
        class,
        explanation: format!(
            "both ends of the segment are in {} ({role})",
            as_list(&asns)
        ),
        asns,
    }
}

/// Labels an end's ASes by whose they are.
struct Roles<'a> {
    prober: &'a [u32],
    target: &'a [u32],
}

impl Roles<'_> {
    fn suffix(&self, end: &[u32]) -> &'static str {
        let prober = end.iter().any(|a| self.prober.contains(a));
        let target = end.iter().any(|a| self.target.contains(a));
        match (prober, target) {
            (true, true) => " (the prober's and the server's network)",
            (true, false) => " (the prober's network)",
            (false, true) => " (the server's network)",
            (false, false) => "",
        }
    }
}

/// `AS64500`, or `AS64500/AS64501` for several origins.
fn as_list(asns: &[u32]) -> String {
    let names: Vec<String> = asns.iter().map(|a| format!("AS{a}")).collect();
    names.join("/")
}

/// The members of `a` that are in `b`, in `a`'s order, without repeats.
fn intersection(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut out = Vec::new();
    for x in a {
        if b.contains(x) && !out.contains(x) {
            out.push(*x);
        }
    }
    out
}

/// `a` then the members of `b` not in `a`, without repeats.
fn union(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    for x in a.iter().chain(b) {
        if !out.contains(x) {
            out.push(*x);
        }
    }
    out
}
