//! AsNames: CAIDA as2org and simple `asn<TAB>name` files.
use std::io::Write;

use flate2::{write::GzEncoder, Compression};
use proptest::prelude::*;
use reconmap_asn::{AsNames, LineError, LoadError, NamesFormat, Strictness};

const AS2ORG: &str = "\
# name: AS Org
# exported: synthetic test data
# format:aut|changed|aut_name|org_id|opaque_id|source
64500|20240101|EXAMPLE-NET|ORG-EX1-ARIN|0a1b_ARIN|ARIN
64501|20240101|ORPHAN-AS|ORG-MISSING|0a1c_RIPE|RIPE
64502|20240101|PIPE|NAME|ORG-P1|0a1d_APNIC|APNIC
64503|20240101||ORG-EMPTY|0a1e_RIPE|RIPE
64504|20240101|EXAMPLE-NET-2|ORG-EX1-ARIN|0a1b_ARIN|ARIN
4200000000|20240101|PRIVATE-4B|ORG-EMPTY|0a1f|ARIN
# format:org_id|changed|org_name|country|source
ORG-EX1-ARIN|20240101|Example Networks, Inc.|US|ARIN
ORG-P1|20240101|Pipe | Org Ltd|AU|APNIC
ORG-EMPTY|20240101||DE|RIPE
";

fn names(text: &str) -> AsNames {
    AsNames::from_reader(text.as_bytes()).expect("valid names file")
}

#[test]
fn test_as2org_uses_org_name_and_falls_back_to_aut_name() {
    let n = names(AS2ORG);
    assert_eq!(n.format(), NamesFormat::As2org);
    assert_eq!(n.name(64500), Some("Example Networks, Inc."));
    assert_eq!(n.name(64504), Some("Example Networks, Inc."), "sibling AS");
    assert_eq!(n.name(64501), Some("ORPHAN-AS"), "org missing: aut_name");
    assert_eq!(n.name(64502), Some("Pipe | Org Ltd"), "'|' inside names");
    assert_eq!(n.name(64503), None, "neither name known");
    assert_eq!(n.name(4_200_000_000), Some("PRIVATE-4B"), "empty org name");
    assert_eq!(n.name(64999), None);
    assert_eq!(n.len(), 5);
    assert_eq!(n.label(64500), "AS64500 (Example Networks, Inc.)");
    assert_eq!(n.label(64999), "AS64999");
}

#[test]
fn test_as2org_sections_in_either_order_and_header_spacing() {
    let text = "# format: org_id|changed|org_name|country|source\n\
                ORG-A|20240101|Alpha Org|NL|RIPE\n\
                #FORMAT:aut|changed|aut_name|org_id|opaque_id|source\n\
                64510|20240101|ALPHA|ORG-A|x|RIPE\n";
    let n = names(text);
    assert_eq!(n.format(), NamesFormat::As2org);
    assert_eq!(n.name(64510), Some("Alpha Org"));
}

#[test]
fn test_simple_format_with_tabs_spaces_and_as_prefix() {
    let text = "# my names\n\
                64500\tExample Net\n\
                AS64501\tOther Net  \n\
                64502 RIPE-STYLE-AS - Some Company, NL\n\
                as64503\tlower\r\n";
    let n = names(text);
    assert_eq!(n.format(), NamesFormat::Simple);
    assert_eq!(n.name(64500), Some("Example Net"));
    assert_eq!(n.name(64501), Some("Other Net"));
    assert_eq!(n.name(64502), Some("RIPE-STYLE-AS - Some Company, NL"));
    assert_eq!(n.name(64503), Some("lower"));
    assert_eq!(n.len(), 4);
}

#[test]
fn test_simple_format_treats_a_late_format_comment_as_a_comment() {
    let n = names("64500\tA\n# format:aut|changed\n64501\tB\n");
    assert_eq!(n.format(), NamesFormat::Simple);
    assert_eq!(n.name(64501), Some("B"));
}

#[test]
fn test_gzip_names_file() {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(AS2ORG.as_bytes()).expect("compress");
    let data = enc.finish().expect("finish");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("20240101.as-org2info.txt");
    std::fs::write(&path, data).expect("write");
    let n = AsNames::load(&path).expect("load");
    assert_eq!(n.name(64502), Some("Pipe | Org Ltd"));
}

#[test]
fn test_non_utf8_name_is_kept_lossily() {
    let n = AsNames::from_reader(&b"64500\tCaf\xe9 Net\n"[..]).expect("lossy");
    assert_eq!(n.name(64500), Some("Caf\u{fffd} Net"));
}

#[test]
fn test_errors_name_the_line() {
    let cases: [(&str, usize, LineError); 5] = [
        (
            "# format:aut|changed|aut_name|org_id|opaque_id|source\n64500|2024|X|ORG\n",
            2,
            LineError::As2orgFieldCount {
                section: "aut",
                expected: 6,
                found: 4,
            },
        ),
        (
            "# format:org_id|changed|org_name|country|source\nORG|2024|NL|RIPE\n",
            2,
            LineError::As2orgFieldCount {
                section: "org",
                expected: 5,
                found: 4,
            },
        ),
        (
            "# format:aut|changed|aut_name|org_id|opaque_id|source\nAS1|2024|X|ORG|x|ARIN\n",
            2,
            LineError::Asn("AS1".into()),
        ),
        (
            "# format:asn|something\n",
            1,
            LineError::As2orgHeader("asn|something".into()),
        ),
        ("64500\tok\n\n64501\n", 3, LineError::MissingName),
    ];
    for (text, line, reason) in cases {
        let err = AsNames::from_reader(text.as_bytes()).expect_err(text);
        match err {
            LoadError::BadLine { at, reason: got } => {
                assert_eq!((at.line, got), (line, reason), "{text}");
            }
            other => panic!("unexpected {other:?} for {text}"),
        }
    }
}

#[test]
fn test_lenient_names_skip_bad_lines() {
    let text = "64500\tA\nbad\n64501\tB\nAS\tC\n";
    let n = AsNames::from_reader_with(text.as_bytes(), Strictness::Lenient).expect("lenient");
    assert_eq!(n.len(), 2);
    assert_eq!(n.skipped().count, 2);
    assert_eq!(
        n.skipped().first.iter().map(|b| b.line).collect::<Vec<_>>(),
        vec![2, 4]
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Random input never panics, in either format and either mode.
    #[test]
    fn prop_random_names_input_never_panics(lines in prop::collection::vec(
        prop_oneof![
            "[0-9A-Za-z|# \t:,._-]{0,50}",
            Just("# format:aut|changed|aut_name|org_id|opaque_id|source".to_string()),
            Just("# format:org_id|changed|org_name|country|source".to_string()),
            "[0-9]{1,11}\\|[0-9]{0,8}\\|[A-Z|-]{0,12}\\|[A-Z-]{0,8}\\|[a-z]{0,4}\\|[A-Z]{0,5}",
            prop::collection::vec(any::<u8>(), 0..40)
                .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        ],
        0..30,
    )) {
        let text = lines.join("\n");
        let lenient = AsNames::from_reader_with(text.as_bytes(), Strictness::Lenient)
            .expect("lenient load of in-memory bytes only fails on I/O");
        let line_count = text.split('\n').count();
        prop_assert!(lenient.len() + lenient.skipped().count <= line_count);
        match AsNames::from_reader(text.as_bytes()) {
            Ok(strict) => {
                prop_assert_eq!(lenient.skipped().count, 0);
                prop_assert_eq!(strict.len(), lenient.len());
            }
            Err(LoadError::BadLine { at, .. }) => {
                prop_assert_eq!(Some(at.line), lenient.skipped().first.first().map(|b| b.line));
            }
            Err(other) => prop_assert!(false, "unexpected error {}", other),
        }
    }
}
