//! attribute(): the truth table of the classes, and invariants over random AS sets.
use proptest::prelude::*;
use reconmap_asn::{attribute, AsDb, Attribution, AttributionClass as C};

const P: u32 = 64500; // the prober's AS
const T: u32 = 64510; // the target's AS
const X: u32 = 64520; // other networks
const Y: u32 = 64521;
const Z: u32 = 64522;

struct Row {
    prober: &'static [u32],
    target: &'static [u32],
    after: &'static [u32],
    at: &'static [u32],
    class: C,
    asns: &'static [u32],
    explanation: &'static str,
}

const ROWS: &[Row] = &[
    // Single-origin ends.
    Row {
        prober: &[P],
        target: &[T],
        after: &[P],
        at: &[P],
        class: C::ClientNetwork,
        asns: &[P],
        explanation: "both ends of the segment are in AS64500 (the prober's network)",
    },
    Row {
        prober: &[P],
        target: &[T],
        after: &[T],
        at: &[T],
        class: C::ServerNetwork,
        asns: &[T],
        explanation: "both ends of the segment are in AS64510 (the server's network)",
    },
    Row {
        prober: &[P],
        target: &[T],
        after: &[X],
        at: &[X],
        class: C::Transit,
        asns: &[X],
        explanation: "both ends of the segment are in AS64520 \
                      (transit: neither the prober's nor the server's network)",
    },
    Row {
        prober: &[P],
        target: &[T],
        after: &[P],
        at: &[X],
        class: C::Ambiguous,
        asns: &[P, X],
        explanation: "the segment's ends lie in different ASes: \
                      after in AS64500 (the prober's network), at in AS64520",
    },
    Row {
        prober: &[P],
        target: &[T],
        after: &[X],
        at: &[T],
        class: C::Ambiguous,
        asns: &[X, T],
        explanation: "the segment's ends lie in different ASes: \
                      after in AS64520, at in AS64510 (the server's network)",
    },
    Row {
        prober: &[P],
        target: &[T],
        after: &[X],
        at: &[Y],
        class: C::Ambiguous,
        asns: &[X, Y],
        explanation: "the segment's ends lie in different ASes: after in AS64520, at in AS64521",
    },
    // after at TTL 0 (the prober) and at null (the server): the whole path.
    Row {
        prober: &[P],
        target: &[T],
        after: &[P],
        at: &[T],
        class: C::Ambiguous,
        asns: &[P, T],
        explanation: "the segment's ends lie in different ASes: after in AS64500 \
                      (the prober's network), at in AS64510 (the server's network)",
    },
    // Missing data.
    Row {
        prober: &[P],
        target: &[T],
        after: &[],
        at: &[X],
        class: C::Unknown,
        asns: &[X],
        explanation: "no AS data for the segment's near end (after)",
    },
    Row {
        prober: &[P],
        target: &[T],
        after: &[X],
        at: &[],
        class: C::Unknown,
        asns: &[X],
        explanation: "no AS data for the segment's far end (at)",
    },
    Row {
        prober: &[P],
        target: &[T],
        after: &[],
        at: &[],
        class: C::Unknown,
        asns: &[],
        explanation: "no AS data for either end of the segment",
    },
    Row {
        prober: &[],
        target: &[T],
        after: &[X],
        at: &[X],
        class: C::Unknown,
        asns: &[X],
        explanation: "both ends of the segment are in AS64520, but the prober's AS is unknown",
    },
    Row {
        prober: &[P],
        target: &[],
        after: &[X],
        at: &[X],
        class: C::Unknown,
        asns: &[X],
        explanation: "both ends of the segment are in AS64520, but the server's AS is unknown",
    },
    Row {
        prober: &[],
        target: &[],
        after: &[X],
        at: &[X],
        class: C::Unknown,
        asns: &[X],
        explanation: "both ends of the segment are in AS64520, \
                      but the prober's and the server's ASes are unknown",
    },
    // An unknown prober or target AS does not matter when the other one decides.
    Row {
        prober: &[],
        target: &[T],
        after: &[T],
        at: &[T],
        class: C::ServerNetwork,
        asns: &[T],
        explanation: "both ends of the segment are in AS64510 (the server's network)",
    },
    Row {
        prober: &[P],
        target: &[],
        after: &[P],
        at: &[P],
        class: C::ClientNetwork,
        asns: &[P],
        explanation: "both ends of the segment are in AS64500 (the prober's network)",
    },
    // Prober and server in one AS: client_network first.
    Row {
        prober: &[P],
        target: &[P],
        after: &[P],
        at: &[P],
        class: C::ClientNetwork,
        asns: &[P],
        explanation: "both ends of the segment are in AS64500 \
                      (the prober's network, which is also the server's)",
    },
    // Multi-origin: an end is in every AS among its origins.
    Row {
        prober: &[P],
        target: &[T],
        after: &[X, P],
        at: &[P],
        class: C::ClientNetwork,
        asns: &[P],
        explanation: "both ends of the segment are in AS64500 (the prober's network)",
    },
    Row {
        prober: &[P, 64501],
        target: &[T],
        after: &[64501],
        at: &[64501, X],
        class: C::ClientNetwork,
        asns: &[64501],
        explanation: "both ends of the segment are in AS64501 (the prober's network)",
    },
    Row {
        prober: &[P],
        target: &[T],
        after: &[X, T],
        at: &[T, X],
        class: C::ServerNetwork,
        asns: &[T],
        explanation: "both ends of the segment are in AS64510 (the server's network)",
    },
    Row {
        prober: &[P],
        target: &[T],
        after: &[X, Y],
        at: &[Y, Z],
        class: C::Transit,
        asns: &[Y],
        explanation: "both ends of the segment are in AS64521 \
                      (transit: neither the prober's nor the server's network)",
    },
    Row {
        prober: &[P],
        target: &[T],
        after: &[X, Y],
        at: &[Y, X],
        class: C::Transit,
        asns: &[X, Y],
        explanation: "both ends of the segment are in AS64520/AS64521 \
                      (transit: neither the prober's nor the server's network)",
    },
    Row {
        prober: &[P],
        target: &[T],
        after: &[X, P],
        at: &[Z],
        class: C::Ambiguous,
        asns: &[X, P, Z],
        explanation: "the segment's ends lie in different ASes: \
                      after in AS64520/AS64500 (the prober's network), at in AS64522",
    },
];

#[test]
fn test_truth_table_covers_every_class() {
    let mut seen = Vec::new();
    for (i, row) in ROWS.iter().enumerate() {
        let got = attribute(row.prober, row.target, row.after, row.at);
        let want = Attribution {
            class: row.class,
            asns: row.asns.to_vec(),
            explanation: row.explanation.to_string(),
        };
        assert_eq!(got, want, "row {i}");
        if !seen.contains(&row.class) {
            seen.push(row.class);
        }
    }
    for class in [
        C::ClientNetwork,
        C::ServerNetwork,
        C::Transit,
        C::Ambiguous,
        C::Unknown,
    ] {
        assert!(seen.contains(&class), "{class} not covered");
    }
}

#[test]
fn test_serde_uses_snake_case_class_names() {
    let a = attribute(&[P], &[T], &[X], &[X]);
    let json = serde_json::to_value(&a).expect("serialize");
    assert_eq!(
        json,
        serde_json::json!({
            "class": "transit",
            "asns": [64520],
            "explanation": "both ends of the segment are in AS64520 \
                            (transit: neither the prober's nor the server's network)",
        })
    );
    let back: Attribution = serde_json::from_value(json).expect("deserialize");
    assert_eq!(back, a);
    for (class, name) in [
        (C::ClientNetwork, "client_network"),
        (C::ServerNetwork, "server_network"),
        (C::Transit, "transit"),
        (C::Ambiguous, "ambiguous"),
        (C::Unknown, "unknown"),
    ] {
        assert_eq!(
            serde_json::to_value(class).expect("serialize"),
            serde_json::json!(name)
        );
        assert_eq!(class.to_string(), name);
    }
}

/// From addresses through the table to a class, as the scanner will use it.
#[test]
fn test_attribution_from_table_lookups() {
    let db = AsDb::from_reader(
        "192.0.2.0\t24\t64500\n\
         198.51.100.0\t24\t64520\n\
         198.51.100.128\t25\t64521_64520\n\
         203.0.113.0\t24\t64510\n"
            .as_bytes(),
    )
    .expect("table");
    let o = |s: &str| db.origins(s.parse().expect("address"));
    let prober = o("192.0.2.10");
    let target = o("203.0.113.25");
    // Intact at 198.51.100.1 (AS64520), changed at 198.51.100.200 (AS64521 and AS64520).
    let a = attribute(prober, target, o("198.51.100.1"), o("198.51.100.200"));
    assert_eq!((a.class, a.asns), (C::Transit, vec![64520]));
    // Changed at the server itself, intact at a transit hop.
    let a = attribute(prober, target, o("198.51.100.1"), target);
    assert_eq!(a.class, C::Ambiguous);
    // A hop in unannounced space.
    let a = attribute(prober, target, o("198.18.0.1"), target);
    assert_eq!(a.class, C::Unknown);
}

fn small_set() -> impl Strategy<Value = Vec<u32>> {
    prop::collection::vec(1u32..7, 0..4)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Each class holds exactly under its documented condition.
    #[test]
    fn prop_class_conditions(
        prober in small_set(),
        target in small_set(),
        after in small_set(),
        at in small_set(),
    ) {
        let a = attribute(&prober, &target, &after, &at);
        let common: Vec<u32> = after.iter().copied().filter(|x| at.contains(x)).collect();
        let in_p = common.iter().any(|x| prober.contains(x));
        let in_t = common.iter().any(|x| target.contains(x));
        let ends_known = !after.is_empty() && !at.is_empty();
        let expected = if !ends_known {
            C::Unknown
        } else if common.is_empty() {
            C::Ambiguous
        } else if in_p {
            C::ClientNetwork
        } else if in_t {
            C::ServerNetwork
        } else if prober.is_empty() || target.is_empty() {
            C::Unknown
        } else {
            C::Transit
        };
        prop_assert_eq!(a.class, expected);
        prop_assert!(!a.explanation.is_empty());
        for asn in &a.asns {
            let named = a.explanation.contains(&format!("AS{asn}"));
            prop_assert!(named || !ends_known);
            prop_assert!(after.contains(asn) || at.contains(asn));
        }
        let mut dedup = a.asns.clone();
        dedup.sort_unstable();
        dedup.dedup();
        prop_assert_eq!(dedup.len(), a.asns.len(), "no repeated AS");
        match a.class {
            C::ClientNetwork => {
                prop_assert!(!a.asns.is_empty());
                for x in &a.asns {
                    prop_assert!(after.contains(x) && at.contains(x) && prober.contains(x));
                }
            }
            C::ServerNetwork => {
                prop_assert!(!a.asns.is_empty());
                for x in &a.asns {
                    prop_assert!(after.contains(x) && at.contains(x) && target.contains(x));
                    prop_assert!(!prober.contains(x));
                }
            }
            C::Transit => {
                prop_assert!(!a.asns.is_empty());
                for x in &a.asns {
                    prop_assert!(after.contains(x) && at.contains(x));
                    prop_assert!(!prober.contains(x) && !target.contains(x));
                }
            }
            C::Ambiguous => {
                for x in after.iter().chain(&at) {
                    prop_assert!(a.asns.contains(x));
                }
            }
            C::Unknown => {}
        }
    }
}
