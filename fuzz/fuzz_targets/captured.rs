//! `reconmap_wire::parse_captured` on arbitrary bytes (what the capture ring hands over).
//!
//! Input: the captured datagram, from the IPv4 header on.
//!
//! Properties: no panic; a TCP segment's payload and an ICMP error's quote lie within the
//! capture; every accessor of the quote (`flow`, `tcp_seq`, `tcp_payload`, `ip_id`, ...) stays
//! within the quote, and the quote diffed against itself shows no change.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reconmap_wire::{diff_quote, parse_captured, Captured, PayloadStatus};

fuzz_target!(|data: &[u8]| {
    match parse_captured(data) {
        Ok(Captured::Tcp(s)) => {
            assert!(
                s.segment.payload.len() + 40 <= data.len(),
                "payload beyond the capture"
            );
        }
        Ok(Captured::IcmpError(e)) => {
            let q = &e.quote;
            assert!(q.len() + 28 <= data.len(), "quote beyond the capture");
            let _ = (q.flow(), q.tcp_seq(), q.ip_id(), q.tcp_header_len());
            assert!(q.transport().len() <= q.len());
            if let Some(p) = q.tcp_payload() {
                assert!(p.len() <= q.transport().len(), "payload beyond the quote");
            }
            if q.tcp_header_len().is_none() {
                assert!(q.tcp_payload().is_none(), "a payload without a TCP header");
            }
            let self_diff = diff_quote(q.bytes(), q);
            assert!(self_diff.changes.is_empty(), "{:?}", self_diff.changes);
            assert!(
                matches!(
                    self_diff.payload,
                    PayloadStatus::Intact | PayloadStatus::Short | PayloadStatus::ChecksumUnchanged
                ),
                "{:?}",
                self_diff.payload
            );
            assert_eq!(self_diff.quote_len, q.len());
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
