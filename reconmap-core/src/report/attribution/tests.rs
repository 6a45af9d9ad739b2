use super::super::tests::input;
use super::*;
use crate::report::{render_table, to_json};
use reconmap_asn::{AsDb, AsNames};

/// The prober (198.51.100.2) in AS64496, the three hops (203.0.113.1-3) as `hops` says, the
/// target (192.0.2.25) in AS64510.
fn annotator(hops: &str) -> AsAnnotator {
    let table = format!("198.51.100.0\t24\t64496\n192.0.2.0\t24\t64510\n{hops}");
    let db = AsDb::from_reader(table.as_bytes()).expect("table");
    let names =
        AsNames::from_reader("64496\tEyeball ISP\n64500\tTransitCo\n".as_bytes()).expect("names");
    AsAnnotator::new(Some(db), Some(names), Some("lab-a".into()))
}

fn annotated(modified_at: u8, a: &AsAnnotator) -> (Report, serde_json::Value) {
    let mut r = Report::build(input(Some(modified_at)));
    a.annotate(&mut r);
    let v = serde_json::from_str(&to_json(&r).expect("json")).expect("parse");
    (r, v)
}

#[test]
fn without_a_table_the_record_says_so_and_names_the_vantage_only() {
    let a = AsAnnotator::new(None, None, Some("cafe-wifi".into()));
    let (_, v) = annotated(2, &a);
    assert_eq!(v["attribution"]["class"], "unknown");
    assert_eq!(
        v["attribution"]["explanation"],
        "no prefix-to-AS table was given (--asn-db)"
    );
    assert_eq!(v["vantage"]["name"], "cafe-wifi");
    assert_eq!(v["vantage"]["prober"], "198.51.100.2");
    assert!(v["vantage"]["asn"].is_null());
    assert!(v["prober_asn"].is_null() && v["target_asn"].is_null());
    assert!(v["hops"][0].get("asn").is_none());
    assert!(v["segment"]["at"].get("asn").is_none());
    // A verdict without a segment has no attribution at all.
    let clean = Report::build(input(None));
    assert_eq!(clean.attribution, None);
}

#[test]
fn a_segment_inside_one_other_as_is_transit_with_names_on_every_hop() {
    let a = annotator("203.0.113.0\t24\t64500\n");
    let (r, v) = annotated(2, &a);
    assert_eq!(v["prober_asn"], 64496);
    assert_eq!(v["prober_as_name"], "Eyeball ISP");
    assert_eq!(v["target_asn"], 64510);
    assert!(v.get("target_as_name").is_none(), "no name known for 64510");
    assert_eq!(v["vantage"]["asn"], 64496);
    for hop in v["hops"].as_array().expect("hops") {
        assert_eq!(hop["asn"], 64500, "{hop}");
        assert_eq!(hop["as_name"], "TransitCo", "{hop}");
    }
    assert_eq!(v["segment"]["after"]["asn"], 64500);
    assert_eq!(v["segment"]["at"]["asn"], 64500);
    assert_eq!(v["attribution"]["class"], "transit");
    assert_eq!(v["attribution"]["asns"], serde_json::json!([64500]));
    let table = render_table(&r, false);
    assert!(table.contains("AS64500"), "{table}");
    assert!(
        table.contains("whose:   transit, AS64500 (TransitCo): "),
        "{table}"
    );
}

#[test]
fn a_change_at_the_first_hop_is_measured_from_the_prober_itself() {
    // after = TTL 0 (the prober, AS64496); at = hop 1, also AS64496.
    let a = annotator("203.0.113.1\t32\t64496\n203.0.113.0\t24\t64500\n");
    let (r, v) = annotated(1, &a);
    assert_eq!(v["segment"]["after"]["ttl"], 0);
    assert_eq!(v["segment"]["at"]["asn"], 64496);
    assert_eq!(v["attribution"]["class"], "client_network");
    assert_eq!(r.segment.as_ref().map(|s| s.segment().after.ttl.0), Some(0));
}

#[test]
fn ends_in_different_ases_are_ambiguous_and_name_both() {
    let a = annotator("203.0.113.0\t31\t64500\n203.0.113.2\t31\t64501\n");
    let (_, v) = annotated(2, &a);
    assert_eq!(v["segment"]["after"]["asn"], 64500);
    assert_eq!(v["segment"]["at"]["asn"], 64501);
    assert_eq!(v["attribution"]["class"], "ambiguous");
    assert_eq!(v["attribution"]["asns"], serde_json::json!([64500, 64501]));
}

#[test]
fn a_hop_no_prefix_covers_makes_the_attribution_unknown_not_wrong() {
    let a = annotator("203.0.113.1\t32\t64500\n");
    let (_, v) = annotated(2, &a);
    assert!(v["hops"][1].get("asn").is_none());
    assert_eq!(v["attribution"]["class"], "unknown");
}
