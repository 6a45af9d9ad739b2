//! `reconmap_core::scan::TargetList::parse`, both formats, with a resolver that never
//! resolves.
//!
//! Input: a flags byte (bit 0: CSV instead of lines; bits 1-4: the length N of the CSV column
//! name), two bytes of default port, N bytes of column name, then the list (UTF-8, lossily).
//!
//! Properties: no panic; `len()` is the number of targets `get(i)` returns (counted exactly up
//! to 2^16 targets, else at both ends and at sampled indices); bad lines are numbered within
//! the text; for the line format, parsing line by line gives the same targets and bad lines.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reconmap_core::scan::{ListFormat, Resolver, TargetList};
use reconmap_fuzz::Input;
use std::net::Ipv4Addr;

/// No DNS in a fuzzer: every hostname fails to resolve.
struct NoDns;

impl Resolver for NoDns {
    fn resolve(&self, host: &str, _port: u16) -> Result<Ipv4Addr, String> {
        Err(format!("{host}: not resolved (fuzzing)"))
    }
}

/// Exact up to this many targets; sampled above.
const COUNT_ALL: u64 = 1 << 16;

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let flags = input.u8();
    let port = input.u16();
    let column = String::from_utf8_lossy(input.take(usize::from((flags >> 1) & 0x0f))).into_owned();
    let text = String::from_utf8_lossy(input.rest()).into_owned();
    let format = if flags & 1 == 0 {
        ListFormat::Lines
    } else {
        ListFormat::Csv { column }
    };

    let list = TargetList::parse(&text, &format, port, &NoDns);
    check_indexing(&list);
    // A CSV without its header line has its error on line 1, even when the text is empty.
    let lines = text.lines().count().max(usize::from(flags & 1 == 1));
    for bad in &list.bad_lines {
        assert!(
            bad.line >= 1 && bad.line <= lines,
            "bad line {} of {lines}",
            bad.line
        );
    }
    assert_eq!(list.is_empty(), len_is_zero(&list));

    if format == ListFormat::Lines {
        // One line at a time: the same targets in the same order, the same bad lines.
        let mut total = 0u64;
        let mut bad = 0usize;
        for line in text.lines() {
            let one = TargetList::parse(line, &format, port, &NoDns);
            if one.len() <= 4 {
                for i in 0..one.len() {
                    assert_eq!(one.get(i), list.get(total + i), "target {}", total + i);
                }
            }
            total += one.len();
            bad += one.bad_lines.len();
        }
        assert_eq!(total, list.len(), "line by line");
        assert_eq!(bad, list.bad_lines.len(), "bad lines line by line");
    }
});

#[expect(
    clippy::len_zero,
    reason = "is_empty() is what is checked against len()"
)]
fn len_is_zero(list: &TargetList) -> bool {
    list.len() == 0
}

fn check_indexing(list: &TargetList) {
    let len = list.len();
    assert_eq!(list.get(len), None, "a target past the end");
    assert_eq!(list.get(u64::MAX), None);
    if len <= COUNT_ALL {
        let found = (0..len).filter(|&i| list.get(i).is_some()).count() as u64;
        assert_eq!(found, len, "get() found {found} of {len} targets");
    } else {
        let step = len / 4096;
        for i in (0..len).step_by(step as usize).chain([len - 1]) {
            assert!(list.get(i).is_some(), "no target {i} of {len}");
        }
    }
}
