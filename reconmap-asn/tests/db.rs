//! AsDb: loading the prefix2as format and longest-prefix matching.
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use flate2::{write::GzEncoder, Compression};
use proptest::prelude::*;
use reconmap_asn::{AsDb, LineError, LoadError, Origin, SkippedLines, Strictness};

fn ip(s: &str) -> IpAddr {
    s.parse().expect("address literal")
}

fn db(text: &str) -> AsDb {
    AsDb::from_reader(text.as_bytes()).expect("valid table")
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(data).expect("compress");
    enc.finish().expect("finish")
}

fn matched(db: &AsDb, addr: &str) -> Option<(String, Vec<u32>)> {
    db.lookup(ip(addr)).map(|o| (o.prefix.to_string(), o.asns))
}

const NESTED: &str = "\
# nested IPv4 prefixes, a default route and host routes
0.0.0.0\t0\t64496
198.18.0.0\t15\t64500
198.18.0.0\t16\t64501
198.18.4.0\t22\t64502
198.18.5.0\t24\t64503
198.18.5.128\t25\t64504
198.18.5.200\t32\t64505
198.19.255.255\t32\t64506
";

#[test]
fn test_lpm_nested_v4_prefixes_pick_the_most_specific() {
    let db = db(NESTED);
    let cases = [
        ("198.18.5.200", "198.18.5.200/32", 64505), // host route inside /25 inside /24 ...
        ("198.18.5.201", "198.18.5.128/25", 64504),
        ("198.18.5.127", "198.18.5.0/24", 64503),
        ("198.18.4.1", "198.18.4.0/22", 64502),
        ("198.18.7.255", "198.18.4.0/22", 64502),
        ("198.18.8.0", "198.18.0.0/16", 64501),
        ("198.19.0.1", "198.18.0.0/15", 64500),
        ("198.19.255.255", "198.19.255.255/32", 64506),
        ("198.19.255.254", "198.18.0.0/15", 64500),
        ("198.20.0.0", "0.0.0.0/0", 64496), // only the default route covers it
        ("0.0.0.0", "0.0.0.0/0", 64496),
        ("255.255.255.255", "0.0.0.0/0", 64496),
    ];
    for (addr, prefix, asn) in cases {
        assert_eq!(
            matched(&db, addr),
            Some((prefix.to_string(), vec![asn])),
            "{addr}"
        );
    }
    assert_eq!(db.ipv4_len(), 8);
    assert_eq!(db.ipv6_len(), 0);
}

#[test]
fn test_lpm_without_default_route_misses_uncovered_addresses() {
    let db = db("192.0.2.0\t24\t64500\n192.0.2.0\t25\t64501\n");
    assert_eq!(db.lookup(ip("192.0.3.0")), None);
    assert_eq!(db.lookup(ip("192.0.1.255")), None);
    assert!(db.origins(ip("192.0.3.0")).is_empty());
    assert_eq!(db.origins(ip("192.0.2.127")), &[64501]);
    assert_eq!(db.origins(ip("192.0.2.128")), &[64500]);
}

#[test]
fn test_lpm_ipv6_nested_default_and_host_route() {
    let db = db("::\t0\t64496\n\
         2001:db8::\t32\t64500\n\
         2001:db8:1::\t48\t64501\n\
         2001:db8:1:2::\t64\t64502\n\
         2001:db8:1:2::25\t128\t64503\n\
         192.0.2.0\t24\t64510\n");
    assert_eq!(
        matched(&db, "2001:db8:1:2::25"),
        Some(("2001:db8:1:2::25/128".into(), vec![64503]))
    );
    assert_eq!(
        matched(&db, "2001:db8:1:2::26"),
        Some(("2001:db8:1:2::/64".into(), vec![64502]))
    );
    assert_eq!(
        matched(&db, "2001:db8:1:3::1"),
        Some(("2001:db8:1::/48".into(), vec![64501]))
    );
    assert_eq!(
        matched(&db, "2001:db8:ffff::1"),
        Some(("2001:db8::/32".into(), vec![64500]))
    );
    assert_eq!(
        matched(&db, "2001:db9::1"),
        Some(("::/0".into(), vec![64496]))
    );
    // The families are separate tables: the IPv6 default route does not cover IPv4.
    assert_eq!(db.lookup(ip("198.51.100.1")), None);
    assert_eq!(db.origins(ip("192.0.2.1")), &[64510]);
    assert_eq!((db.ipv4_len(), db.ipv6_len(), db.len()), (1, 5, 6));
}

#[test]
fn test_ipv4_mapped_ipv6_is_looked_up_as_ipv4() {
    let db = db("192.0.2.0\t24\t64500\n");
    let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 9).to_ipv6_mapped());
    assert_eq!(db.origins(mapped), &[64500]);
}

#[test]
fn test_multi_origin_and_as_sets_keep_every_origin() {
    let db = db("198.51.100.0\t24\t64500_64501\n\
         203.0.113.0\t24\t64502,64503\n\
         2001:db8::\t32\t64504_64505,64506\n");
    assert_eq!(
        db.lookup(ip("198.51.100.7")),
        Some(Origin {
            prefix: "198.51.100.0/24".parse().expect("prefix"),
            asns: vec![64500, 64501],
        })
    );
    assert_eq!(db.origins(ip("203.0.113.1")), &[64502, 64503]);
    assert_eq!(db.origins(ip("2001:db8::1")), &[64504, 64505, 64506]);
}

#[test]
fn test_duplicate_prefix_lines_merge_their_origins() {
    let db = db("192.0.2.0\t24\t64500\n192.0.2.0\t24\t64501_64500\n");
    assert_eq!(db.len(), 1);
    assert_eq!(db.origins(ip("192.0.2.1")), &[64500, 64501]);
}

#[test]
fn test_origin_sets_are_shared_between_prefixes() {
    let db = db(
        "192.0.2.0\t24\t64500\n198.51.100.0\t24\t64500\n203.0.113.0\t24\t64501_64502\n\
         2001:db8::\t32\t64501_64502\n",
    );
    assert_eq!(db.len(), 4);
    assert_eq!(db.origin_set_count(), 2);
    assert!(db.mem_size() > 0);
}

#[test]
fn test_gzip_is_detected_by_content_not_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let table = "192.0.2.0\t24\t64500\n2001:db8::\t32\t64501\n";
    // A gzip stream in a file named .txt, and plain text in a file named .gz.
    let gz_named_txt = dir.path().join("prefix2as.txt");
    std::fs::write(&gz_named_txt, gzip(table.as_bytes())).expect("write");
    let txt_named_gz = dir.path().join("prefix2as.gz");
    std::fs::write(&txt_named_gz, table).expect("write");
    for path in [&gz_named_txt, &txt_named_gz] {
        let db = AsDb::load(path).expect("load");
        assert_eq!(
            db.origins(ip("192.0.2.200")),
            &[64500],
            "{}",
            path.display()
        );
        assert_eq!(
            db.origins(ip("2001:db8::9")),
            &[64501],
            "{}",
            path.display()
        );
    }
}

#[test]
fn test_gzip_from_reader_and_truncated_gzip_is_an_error() {
    let table = "203.0.113.0\t24\t64502\n".repeat(5000);
    let data = gzip(table.as_bytes());
    let db = AsDb::from_reader(data.as_slice()).expect("gzip table");
    assert_eq!(db.origins(ip("203.0.113.5")), &[64502]);

    let cut = &data[..data.len() - 20];
    for strictness in [Strictness::Strict, Strictness::Lenient] {
        let err = AsDb::from_reader_with(cut, strictness).expect_err("cut gzip stream");
        assert!(matches!(err, LoadError::Read { .. }), "{err}");
    }
}

#[test]
fn test_strict_load_names_the_bad_line() {
    let text = "# header\n192.0.2.0\t24\t64500\n\n198.51.100.0\t24\tAS64501\n";
    let err = AsDb::from_reader(text.as_bytes()).expect_err("bad ASN");
    match &err {
        LoadError::BadLine { at, reason } => {
            assert_eq!(at.line, 4);
            assert_eq!(at.path, None);
            assert_eq!(reason, &LineError::Asn("AS64501".into()));
        }
        other => panic!("unexpected error {other:?}"),
    }
    assert_eq!(err.to_string(), "line 4: invalid AS number \"AS64501\"");
}

#[test]
fn test_strict_load_from_path_names_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("p2a.txt");
    std::fs::write(&path, "192.0.2.0\t24\t64500\n192.0.2.0\t40\t64500\n").expect("write");
    let err = AsDb::load(&path).expect_err("bad length");
    let text = err.to_string();
    assert_eq!(
        text,
        format!(
            "{}:2: invalid prefix length \"40\" for IPv4 (0..=32)",
            path.display()
        )
    );
}

#[test]
fn test_missing_file_is_an_open_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = AsDb::load(dir.path().join("absent")).expect_err("no file");
    assert!(matches!(err, LoadError::Open { .. }));
    assert!(err.to_string().contains("absent"), "{err}");
}

#[test]
fn test_lenient_load_counts_bad_lines_and_keeps_the_first_few() {
    let mut text = String::from("192.0.2.0\t24\t64500\n");
    for i in 0..8 {
        text.push_str(&format!("garbage line {i} here\n"));
    }
    text.push_str("198.51.100.0\t24\t64501\n");
    text.push_str("not\tutf8\t\u{fffd}\n");
    let mut bytes = text.into_bytes();
    bytes.extend_from_slice(b"203.0.113.0\t24\t\xff\n");
    bytes.extend_from_slice(b"2001:db8::\t32\t64502\n");

    let db = AsDb::from_reader_with(bytes.as_slice(), Strictness::Lenient).expect("lenient");
    assert_eq!(db.len(), 3);
    assert_eq!(db.origins(ip("198.51.100.1")), &[64501]);
    assert_eq!(db.origins(ip("2001:db8::1")), &[64502]);
    let skipped: &SkippedLines = db.skipped();
    assert_eq!(skipped.count, 10);
    assert_eq!(skipped.first.len(), SkippedLines::KEPT);
    assert_eq!(skipped.first[0].line, 2);
    assert_eq!(skipped.first[0].reason, LineError::FieldCount(4));
    assert_eq!(skipped.first[4].line, 6);

    let strict = AsDb::from_reader(bytes.as_slice()).expect_err("strict");
    assert!(matches!(strict, LoadError::BadLine { ref at, .. } if at.line == 2));
}

#[test]
fn test_non_utf8_and_overlong_lines_are_line_errors() {
    let err = AsDb::from_reader(&b"192.0.2.0\t24\t645\xff00\n"[..]).expect_err("not utf-8");
    assert!(matches!(
        err,
        LoadError::BadLine {
            reason: LineError::NotUtf8,
            ..
        }
    ));
    let mut long = vec![b'1'; reconmap_asn::MAX_LINE_BYTES + 1];
    long.extend_from_slice(b"\n192.0.2.0\t24\t64500\n");
    let err = AsDb::from_reader(long.as_slice()).expect_err("too long");
    assert!(matches!(
        err,
        LoadError::BadLine {
            reason: LineError::TooLong,
            ..
        }
    ));
    let db = AsDb::from_reader_with(long.as_slice(), Strictness::Lenient).expect("lenient");
    assert_eq!(db.skipped().count, 1);
    assert_eq!(db.origins(ip("192.0.2.1")), &[64500]);
}

#[test]
fn test_empty_input_gives_an_empty_table() {
    let db = AsDb::from_reader(&b""[..]).expect("empty");
    assert!(db.is_empty());
    assert_eq!(db.lookup(ip("192.0.2.1")), None);
    let db = AsDb::from_reader(&b"# only a comment\n\n"[..]).expect("comments");
    assert!(db.is_empty());
}

/// Naive longest-prefix match over a list, as the oracle.
fn naive_lpm(prefixes: &[(u32, u8, u32)], addr: u32) -> Option<(u32, u8, u32)> {
    prefixes
        .iter()
        .filter(|(net, len, _)| {
            let mask = if *len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(*len))
            };
            addr & mask == net & mask
        })
        .max_by_key(|(_, len, _)| *len)
        .copied()
}

fn mask(net: u32, len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        net & (u32::MAX << (32 - u32::from(len)))
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Random lines (printable, tabs, digits, separators, arbitrary bytes) never panic:
    /// strict gives a table or an error, lenient a table whose skipped count plus loaded
    /// lines never exceeds the number of lines.
    #[test]
    fn prop_random_lines_never_panic(lines in prop::collection::vec(
        prop_oneof![
            "[0-9a-f:./\t _,#-]{0,40}",
            "(192\\.0\\.2\\.[0-9]{1,3}|2001:db8::[0-9a-f]{0,4})\t[0-9]{1,3}\t[0-9_,]{0,20}",
            prop::collection::vec(any::<u8>(), 0..60)
                .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        ],
        0..40,
    ), raw_tail in prop::collection::vec(any::<u8>(), 0..30)) {
        let mut bytes = lines.join("\n").into_bytes();
        bytes.push(b'\n');
        bytes.extend_from_slice(&raw_tail);
        let line_count = bytes.split(|b| *b == b'\n').count();

        let strict = AsDb::from_reader(bytes.as_slice());
        let lenient = AsDb::from_reader_with(bytes.as_slice(), Strictness::Lenient)
            .expect("lenient load of in-memory bytes only fails on I/O");
        prop_assert!(lenient.skipped().count + lenient.len() <= line_count);
        match strict {
            Ok(db) => {
                prop_assert_eq!(lenient.skipped().count, 0);
                prop_assert_eq!(db.len(), lenient.len());
            }
            Err(LoadError::BadLine { at, .. }) => {
                prop_assert!(lenient.skipped().count > 0);
                prop_assert_eq!(Some(at.line), lenient.skipped().first.first().map(|b| b.line));
            }
            Err(other) => prop_assert!(false, "unexpected error {}", other),
        }
        // Lookups on whatever was loaded never panic either.
        for probe in [Ipv4Addr::new(192, 0, 2, 1).into(), IpAddr::V6(Ipv6Addr::LOCALHOST)] {
            let _ = lenient.lookup(probe);
        }
    }

    /// Longest-prefix match agrees with a naive scan on random nested IPv4 tables.
    #[test]
    fn prop_lpm_matches_naive_scan(
        raw in prop::collection::btree_map((any::<u32>(), 0u8..=32), 1u32..100_000, 1..60),
        probes in prop::collection::vec(any::<u32>(), 1..60),
    ) {
        // Canonical prefixes, one entry each (duplicates merge, tested elsewhere). Cluster
        // them under 198.18.0.0/15 half of the time so that nesting is common.
        let mut table: Vec<(u32, u8, u32)> = Vec::new();
        for ((net, len), asn) in raw {
            let net = if net % 2 == 0 { 0xC612_0000 | (net & 0x0001_FFFF) } else { net };
            let net = mask(net, len);
            if !table.iter().any(|(n, l, _)| *n == net && *l == len) {
                table.push((net, len, asn));
            }
        }
        let text: String = table
            .iter()
            .map(|(net, len, asn)| format!("{}\t{len}\t{asn}\n", Ipv4Addr::from(*net)))
            .collect();
        let db = AsDb::from_reader(text.as_bytes()).expect("generated table");
        prop_assert_eq!(db.len(), table.len());
        let clustered = probes.iter().map(|p| 0xC612_0000 | (p & 0x0001_FFFF));
        for addr in probes.iter().copied().chain(clustered) {
            let got = db.lookup(IpAddr::V4(Ipv4Addr::from(addr)));
            let want = naive_lpm(&table, addr).map(|(net, len, asn)| Origin {
                prefix: format!("{}/{len}", Ipv4Addr::from(net)).parse().expect("prefix"),
                asns: vec![asn],
            });
            prop_assert_eq!(got, want, "address {}", Ipv4Addr::from(addr));
        }
    }
}

#[test]
fn test_origin_serializes_prefix_as_text() {
    let db = db("203.0.113.128\t25\t64520_64521\n");
    let origin = db.lookup(ip("203.0.113.200")).expect("covered");
    let json = serde_json::to_value(&origin).expect("serialize");
    assert_eq!(
        json,
        serde_json::json!({ "prefix": "203.0.113.128/25", "asns": [64520, 64521] })
    );
    let back: Origin = serde_json::from_value(json).expect("deserialize");
    assert_eq!(back, origin);
}
