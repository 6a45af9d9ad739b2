//! Tracebox-style comparison of an ICMP quote with the datagram we sent: which header fields a
//! box on the way changed, and what became of the payload (the STARTTLS command).
//!
//! Expected changes are not reported: the IP TTL (routers decrement it) and the IP header
//! checksum (it follows the TTL). The TCP checksum is reported only when nothing else that it
//! covers changed (otherwise it merely follows that change). Fields are compared only where the
//! quote holds them completely.
use crate::quote_diff::{FieldChange, PayloadStatus, QuoteDiff};
use crate::Quote;
use etherparse::Ipv4HeaderSlice;
use reconmap_common::layout::tcp;
use std::ops::Range;

/// The TCP header fields compared, by name (ranges from the shared layout table).
pub const TCP_FIELDS: [(&str, Range<usize>); 8] = [
    ("tcp.sport", tcp::SPORT),
    ("tcp.dport", tcp::DPORT),
    ("tcp.seq", tcp::SEQ),
    ("tcp.ack", tcp::ACK),
    ("tcp.flags", tcp::DATA_OFFSET..tcp::FLAGS + 1),
    ("tcp.window", tcp::WINDOW),
    ("tcp.checksum", tcp::CHECKSUM),
    ("tcp.urgent", tcp::URGENT),
];

/// Compares `quote` with `sent` (the exact datagram, from the IPv4 header on).
pub fn diff_quote(sent: &[u8], quote: &Quote) -> QuoteDiff {
    let mut changes = Vec::new();
    let q = quote.bytes();
    let sent_ip = Ipv4HeaderSlice::from_slice(sent).ok();
    let quoted_ip = quote.ip_header();
    if let (Some(s), Some(r)) = (&sent_ip, &quoted_ip) {
        let mut field = |name: &str, a: String, b: String| {
            if a != b {
                changes.push(FieldChange {
                    field: name.to_string(),
                    sent: a,
                    quoted: b,
                });
            }
        };
        let tos = |h: &Ipv4HeaderSlice<'_>| (h.dcp().value() << 2) | h.ecn().value();
        field(
            "ip.tos",
            format!("{:#04x}", tos(s)),
            format!("{:#04x}", tos(r)),
        );
        field(
            "ip.total_len",
            s.total_len().to_string(),
            r.total_len().to_string(),
        );
        field(
            "ip.id",
            format!("{:#06x}", s.identification()),
            format!("{:#06x}", r.identification()),
        );
        let flags = |h: &Ipv4HeaderSlice<'_>| {
            format!(
                "{}{} off={}",
                if h.dont_fragment() { "DF" } else { "" },
                if h.more_fragments() { "MF" } else { "" },
                h.fragments_offset().value()
            )
        };
        field("ip.flags", flags(s), flags(r));
        field(
            "ip.protocol",
            s.protocol().0.to_string(),
            r.protocol().0.to_string(),
        );
        field(
            "ip.src",
            s.source_addr().to_string(),
            r.source_addr().to_string(),
        );
        field(
            "ip.dst",
            s.destination_addr().to_string(),
            r.destination_addr().to_string(),
        );
        field("ip.options", hex(s.options()), hex(r.options()));
    }

    let ip_len = |h: &Option<Ipv4HeaderSlice<'_>>| {
        h.as_ref()
            .map_or(reconmap_common::layout::ipv4::MIN_HLEN, |h| {
                usize::from(h.ihl()) * 4
            })
    };
    let (s_off, q_off) = (ip_len(&sent_ip), ip_len(&quoted_ip));
    let st = sent.get(s_off..).unwrap_or_default();
    let qt = q.get(q_off..).unwrap_or_default();
    let sent_doff = st
        .get(tcp::DATA_OFFSET)
        .map_or(tcp::MIN_HLEN, |b| usize::from(b >> 4) * 4);
    let quoted_doff = qt.get(tcp::DATA_OFFSET).map(|b| usize::from(b >> 4) * 4);
    let mut checksum_change = None;
    for (name, range) in TCP_FIELDS {
        let (Some(a), Some(b)) = (st.get(range.clone()), qt.get(range)) else {
            continue;
        };
        if a == b {
            continue;
        }
        let change = FieldChange {
            field: name.to_string(),
            sent: number(a),
            quoted: number(b),
        };
        if name == "tcp.checksum" {
            checksum_change = Some(change);
        } else {
            changes.push(change);
        }
    }
    if let (Some(a), Some(doff)) = (st.get(tcp::MIN_HLEN..sent_doff), quoted_doff) {
        if let Some(b) = qt.get(tcp::MIN_HLEN..doff.max(tcp::MIN_HLEN)) {
            if a != b {
                changes.push(FieldChange {
                    field: "tcp.options".to_string(),
                    sent: hex(a),
                    quoted: hex(b),
                });
            }
        }
    }

    let sent_payload = st.get(sent_doff..).unwrap_or_default();
    let expected = crate::checksum::expected_quoted_checksum(sent, quote);
    let quoted_checksum = quote.tcp_checksum();
    let checksum_differs = matches!((expected, quoted_checksum), (Some(e), Some(q)) if e != q);
    let whole_payload = quote
        .tcp_payload()
        .is_some_and(|p| p.len() >= sent_payload.len());
    let payload = match quote.tcp_payload() {
        Some(quoted) if !is_prefix_of(quoted, sent_payload) => PayloadStatus::Modified {
            quoted: quoted.to_vec(),
        },
        _ if whole_payload => PayloadStatus::Intact,
        // Not all of the payload is quoted: the checksum tells about the rest.
        quoted => match (expected, quoted_checksum) {
            (Some(expected), Some(q)) if checksum_differs => PayloadStatus::ChecksumChanged {
                sent: sent_checksum(st).unwrap_or(expected),
                expected,
                quoted: q,
            },
            (Some(_), Some(_)) if quoted.is_some() => PayloadStatus::Intact,
            (Some(_), Some(_)) => PayloadStatus::ChecksumUnchanged,
            _ if quoted.is_some() => PayloadStatus::Intact,
            _ => PayloadStatus::Short,
        },
    };
    // The TCP checksum follows the addresses, the TCP header and the payload: a change there
    // explains it. When the whole segment is quoted and the checksum still is not the one
    // those bytes give, the checksum itself was changed (or botched) on the way.
    if let Some(c) = checksum_change {
        if whole_payload && checksum_differs && payload == PayloadStatus::Intact {
            changes.push(c);
        }
    }
    QuoteDiff {
        quote_len: q.len(),
        changes,
        payload,
    }
}

/// Whether `quoted` is the start of `sent` (as far as it goes, and no longer).
fn is_prefix_of(quoted: &[u8], sent: &[u8]) -> bool {
    quoted.len() <= sent.len() && sent.get(..quoted.len()) == Some(quoted)
}

fn sent_checksum(segment: &[u8]) -> Option<u16> {
    let b: [u8; 2] = segment.get(tcp::CHECKSUM)?.try_into().ok()?;
    Some(u16::from_be_bytes(b))
}

fn number(b: &[u8]) -> String {
    let v = b.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x));
    v.to_string()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent() -> Vec<u8> {
        crate::fixtures::starttls_probe(3, 10)
    }

    /// What a router at the end of the TTL quotes: TTL 1 and a recomputed IP checksum.
    fn as_quoted(mut d: Vec<u8>) -> Vec<u8> {
        d[8] = 1;
        let h = Ipv4HeaderSlice::from_slice(&d).expect("ip").to_header();
        let c = h.calc_header_checksum().to_be_bytes();
        d[10] = c[0];
        d[11] = c[1];
        d
    }

    #[test]
    fn an_untouched_quote_differs_only_in_expected_fields() {
        let d = diff_quote(&sent(), &Quote::new(&as_quoted(sent())));
        assert_eq!(d.payload, PayloadStatus::Intact);
        assert!(d.changes.is_empty(), "{:?}", d.changes);
        assert_eq!(d.quote_len, 50);
    }

    #[test]
    fn a_rewritten_command_is_modified_and_its_checksum_not_reported() {
        let mut q = as_quoted(sent());
        let start = q.len() - 10;
        q[start..start + 8].copy_from_slice(b"XXXXXXXX");
        q[36] ^= 0x55; // checksum follows the payload change
        let d = diff_quote(&sent(), &Quote::new(&q));
        assert_eq!(
            d.payload,
            PayloadStatus::Modified {
                quoted: b"XXXXXXXX\r\n".to_vec()
            }
        );
        assert!(d.changes.is_empty(), "{:?}", d.changes);
    }

    #[test]
    fn header_changes_are_named() {
        let mut q = as_quoted(sent());
        q[1] = 0x10; // TOS
        q[34] = 0x10; // window high byte
        let d = diff_quote(&sent(), &Quote::new(&q));
        let names: Vec<&str> = d.changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(names, ["ip.tos", "tcp.window"]);
        assert_eq!(d.payload, PayloadStatus::Intact);
    }

    #[test]
    fn short_quotes_compare_what_is_there() {
        let q = as_quoted(sent());
        let d28 = diff_quote(&sent(), &Quote::new(&q[..28]));
        assert_eq!(d28.payload, PayloadStatus::Short);
        assert!(d28.changes.is_empty());
        let d40 = diff_quote(&sent(), &Quote::new(&q[..40]));
        assert_eq!(d40.payload, PayloadStatus::ChecksumUnchanged);
        assert!(d40.changes.is_empty());
        let cut = diff_quote(&sent(), &Quote::new(&q[..44]));
        assert_eq!(cut.payload, PayloadStatus::Intact);
        let mut bad = q[..44].to_vec();
        bad[40] = b'X';
        assert!(matches!(
            diff_quote(&sent(), &Quote::new(&bad)).payload,
            PayloadStatus::Modified { .. }
        ));
    }

    /// `q` with its TCP checksum recomputed (as boxes that rewrite bytes do).
    fn fix_checksum(mut q: Vec<u8>) -> Vec<u8> {
        let c = crate::tcp_checksum(&q).expect("checksum");
        q[36..38].copy_from_slice(&c.to_be_bytes());
        q
    }

    #[test]
    fn a_header_only_quote_infers_a_rewrite_from_the_checksum() {
        let mut q = as_quoted(sent());
        q[40..48].copy_from_slice(b"XXXXXXXX");
        let q = fix_checksum(q);
        let d = diff_quote(&sent(), &Quote::new(&q[..40]));
        let sent_sum = u16::from_be_bytes([sent()[36], sent()[37]]);
        assert_eq!(
            d.payload,
            PayloadStatus::ChecksumChanged {
                sent: sent_sum,
                expected: sent_sum,
                quoted: u16::from_be_bytes([q[36], q[37]]),
            }
        );
        assert!(d.changes.is_empty(), "{:?}", d.changes);
        assert!(d.payload.is_changed());
        // A partial quote whose visible bytes are intact: the rest changed.
        let mut tail = as_quoted(sent());
        tail[44..48].copy_from_slice(b"XXXX");
        let tail = fix_checksum(tail);
        let d = diff_quote(&sent(), &Quote::new(&tail[..44]));
        assert!(matches!(d.payload, PayloadStatus::ChecksumChanged { .. }));
    }

    #[test]
    fn a_visible_header_change_does_not_hide_or_fake_a_payload_change() {
        // Sequence randomisation, checksum fixed: the payload is inferred unchanged.
        let mut q = as_quoted(sent());
        q[24..28].copy_from_slice(&77u32.to_be_bytes());
        let seq_only = fix_checksum(q.clone());
        let d = diff_quote(&sent(), &Quote::new(&seq_only[..40]));
        assert_eq!(d.payload, PayloadStatus::ChecksumUnchanged);
        assert_eq!(d.changes.len(), 1);
        assert_eq!(d.changes[0].field, "tcp.seq");
        // The same plus a rewritten command: inferred changed.
        q[40..48].copy_from_slice(b"XXXXXXXX");
        let both = fix_checksum(q);
        let d = diff_quote(&sent(), &Quote::new(&both[..40]));
        assert!(matches!(
            d.payload,
            PayloadStatus::ChecksumChanged { expected, sent, .. } if expected != sent
        ));
    }

    #[test]
    fn a_lone_checksum_change_is_reported() {
        let mut q = as_quoted(sent());
        q[36] ^= 1;
        let d = diff_quote(&sent(), &Quote::new(&q));
        assert_eq!(d.changes.len(), 1);
        assert_eq!(d.changes[0].field, "tcp.checksum");
    }

    #[test]
    fn garbage_never_panics() {
        for n in 0..60 {
            let _ = diff_quote(&sent(), &Quote::new(&[0xff; 60][..n]));
            let _ = diff_quote(&[], &Quote::new(&sent()[..n.min(50)]));
        }
    }
}
