//! `reconmap_core::scan::Blocklist::add_text` on an operator's blocklist (ZMap format).
//!
//! Input: the text (UTF-8, lossily).
//!
//! Properties: no panic; on success every prefix line was added and blocks its own network
//! address; on failure the error names the first line of the text that is not a prefix.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reconmap_core::scan::{Blocklist, Cidr};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let entries: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .map(|(i, raw)| (i + 1, raw.split('#').next().unwrap_or_default().trim()))
        .filter(|(_, l)| !l.is_empty())
        .collect();

    let mut list = Blocklist::builtin(true);
    let before = list.len();
    match list.add_text(&text) {
        Ok(added) => {
            assert_eq!(added, entries.len(), "lines added");
            assert_eq!(list.len(), before + added);
            for (line, entry) in &entries {
                let cidr: Cidr = entry.parse().expect("an added line is a prefix");
                assert!(
                    list.blocks(cidr.network()).is_some(),
                    "line {line}: {entry} does not block its own network"
                );
            }
        }
        Err(e) => {
            let _ = e.to_string();
            let bad = entries.iter().position(|(line, _)| *line == e.line);
            let Some(bad) = bad else {
                panic!("error names line {}, which is blank or a comment", e.line);
            };
            assert!(
                entries[bad].1.parse::<Cidr>().is_err(),
                "line {} is a prefix",
                e.line
            );
            assert!(
                entries[..bad]
                    .iter()
                    .all(|(_, l)| l.parse::<Cidr>().is_ok()),
                "an earlier bad line was passed over"
            );
        }
    }
});
