//! `reconmap_asn`: a prefix2as table (`AsDb`) or an AS-name file (`AsNames`, as2org or
//! `asn<TAB>name`), plain or gzip, strict and lenient.
//!
//! Input: a flags byte (bit 0: AS names instead of prefix2as), then the file.
//!
//! Properties: no panic; a plain (non-gzip) file always loads leniently; a strict load that
//! succeeds gives the same table as the lenient one with nothing skipped; a strict load that
//! stops at a line is the lenient load's first skipped line, with the same reason; lookups of
//! addresses taken from the input give prefixes that contain them and never an empty origin
//! set.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reconmap_asn::{AsDb, AsNames, LoadError, SkippedLines, Strictness};
use reconmap_fuzz::Input;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let flags = input.u8();
    let file = input.rest();
    if flags & 1 == 0 {
        prefix2as(file);
    } else {
        names(file);
    }
});

/// Checks the strict load against the lenient one; `summary` gives (entries, skipped).
fn agree<T>(
    file: &[u8],
    strict: Result<T, LoadError>,
    lenient: Result<T, LoadError>,
    summary: impl Fn(&T) -> (usize, SkippedLines),
) {
    if !file.starts_with(&GZIP_MAGIC) {
        assert!(
            lenient.is_ok(),
            "a plain file failed to load leniently: {:?}",
            lenient.err()
        );
    }
    match (&strict, &lenient) {
        (Ok(s), Ok(l)) => {
            let (s_len, s_skipped) = summary(s);
            let (l_len, l_skipped) = summary(l);
            assert!(s_skipped.is_empty(), "a strict load skipped lines");
            assert!(
                l_skipped.is_empty(),
                "lenient skipped {l_skipped:?}, strict did not"
            );
            assert_eq!(s_len, l_len);
        }
        (Err(LoadError::BadLine { at, reason }), Ok(l)) => {
            let (_, skipped) = summary(l);
            let first = skipped.first.first().expect("lenient skipped nothing");
            assert_eq!((first.line, &first.reason), (at.line, reason));
        }
        (Ok(_), Err(e)) => panic!("strict loaded, lenient failed: {e}"),
        _ => {}
    }
}

fn prefix2as(file: &[u8]) {
    let strict = AsDb::from_reader_with(file, Strictness::Strict);
    let lenient = AsDb::from_reader_with(file, Strictness::Lenient);
    if let Ok(db) = &lenient {
        assert_eq!(db.len(), db.ipv4_len() + db.ipv6_len());
        let mut input = Input::new(file);
        let v4 = IpAddr::V4(Ipv4Addr::from(input.u32()));
        let v6 = IpAddr::V6(Ipv6Addr::from(u128::from_be_bytes(std::array::from_fn(
            |_| input.u8(),
        ))));
        for ip in [v4, v6, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))] {
            if let Some(origin) = db.lookup(ip) {
                assert!(
                    origin.prefix.contains(&ip.to_canonical()),
                    "{ip} not in {}",
                    origin.prefix
                );
                assert!(!origin.asns.is_empty(), "no origin for {}", origin.prefix);
                assert_eq!(db.origins(ip), origin.asns.as_slice());
            } else {
                assert!(db.origins(ip).is_empty());
            }
        }
    }
    agree(file, strict, lenient, |db: &AsDb| {
        (db.len(), db.skipped().clone())
    });
}

fn names(file: &[u8]) {
    let strict = AsNames::from_reader_with(file, Strictness::Strict);
    let lenient = AsNames::from_reader_with(file, Strictness::Lenient);
    if let Ok(n) = &lenient {
        let mut input = Input::new(file);
        let asn = input.u32();
        match n.name(asn) {
            Some(name) => assert_eq!(n.label(asn), format!("AS{asn} ({name})")),
            None => assert_eq!(n.label(asn), format!("AS{asn}")),
        }
    }
    agree(file, strict, lenient, |n: &AsNames| {
        (n.len(), n.skipped().clone())
    });
}
