//! What a quoted TCP checksum says about the bytes a quote does not show.
//!
//! The TCP checksum covers the pseudo-header (addresses, length), the TCP header with its
//! options, and the payload. A header-only quote (40 bytes) shows the checksum as it arrived at
//! the router but not the payload. Rebuild the segment we sent with every header byte the quote
//! does show, keep the bytes it does not show as sent, and compute the checksum that segment
//! must have: if the quoted one differs, a byte the quote does not show was changed on the way.
//! The same computation with a candidate payload (the rewritten command a server echoes) tells
//! whether that rewrite explains the quoted checksum exactly.
use crate::Quote;
use etherparse::{Ipv4HeaderSlice, TcpHeaderSlice};
use reconmap_common::layout::tcp;

/// The checksum of the TCP segment in an IPv4 datagram as it should be (computed, not read).
pub fn tcp_checksum(datagram: &[u8]) -> Option<u16> {
    let ip = Ipv4HeaderSlice::from_slice(datagram).ok()?;
    let total = usize::from(ip.total_len()).min(datagram.len());
    let segment = datagram.get(ip.slice().len()..total)?;
    let header = TcpHeaderSlice::from_slice(segment).ok()?;
    let payload = segment.get(header.slice().len()..)?;
    header
        .to_header()
        .calc_checksum_ipv4_raw(ip.source(), ip.destination(), payload)
        .ok()
}

/// The checksum the quoted segment must carry if nothing but the header bytes the quote shows
/// changed since `sent` left: `sent` with the quoted addresses and quoted TCP header bytes
/// (options as far as quoted) put in. `None` when the quote does not reach the checksum, when
/// the quoted datagram's length differs from the sent one (the unseen bytes then cannot be
/// the sent ones), or when `sent` itself is cut short of its IP total length.
pub fn expected_quoted_checksum(sent: &[u8], quote: &Quote) -> Option<u16> {
    as_quoted(sent, quote, None).and_then(|d| tcp_checksum(&d))
}

/// Like [`expected_quoted_checksum`], with the first bytes of the payload replaced by
/// `rewritten` (same length as what it replaces): the checksum a rewrite like `STARTTLS` ->
/// `XXXXXXXX` leaves.
pub fn expected_checksum_with_rewrite(sent: &[u8], quote: &Quote, rewritten: &[u8]) -> Option<u16> {
    as_quoted(sent, quote, Some(rewritten)).and_then(|d| tcp_checksum(&d))
}

/// `sent` as the quote says it arrived (see [`expected_quoted_checksum`]).
fn as_quoted(sent: &[u8], quote: &Quote, rewritten: Option<&[u8]>) -> Option<Vec<u8>> {
    let sent_ip = Ipv4HeaderSlice::from_slice(sent).ok()?;
    let quoted_ip = quote.ip_header()?;
    if sent_ip.total_len() != quoted_ip.total_len() || sent_ip.ihl() != quoted_ip.ihl() {
        return None;
    }
    // Only a whole datagram, carrying its own right checksum, says what the unseen bytes were
    // and what changing the shown ones does to the checksum.
    if sent.len() < usize::from(sent_ip.total_len()) {
        return None;
    }
    let field = sent.get(sent_ip.slice().len() + tcp::CHECKSUM.start..)?;
    if tcp_checksum(sent)? != u16::from_be_bytes([*field.first()?, *field.get(1)?]) {
        return None;
    }
    let qt = quote.transport();
    // The quote must reach the checksum; what it does not show counts as sent.
    if qt.len() < tcp::CHECKSUM.end {
        return None;
    }
    let ip_len = sent_ip.slice().len();
    let mut d = sent.to_vec();
    // Pseudo-header fields: the addresses as quoted.
    d.get_mut(12..20)?
        .copy_from_slice(quoted_ip.slice().get(12..20)?);
    let st_len = d.len().checked_sub(ip_len)?;
    let doff = usize::from(d.get(ip_len + tcp::DATA_OFFSET)? >> 4) * 4;
    // The quoted TCP header bytes (as far as quoted, within the header), checksum excepted.
    let visible = qt.len().min(doff).min(st_len);
    for i in (0..visible).filter(|i| !tcp::CHECKSUM.contains(i)) {
        *d.get_mut(ip_len + i)? = *qt.get(i)?;
    }
    if usize::from(d.get(ip_len + tcp::DATA_OFFSET)? >> 4) * 4 != doff {
        return None;
    }
    if let Some(new) = rewritten {
        let start = ip_len + doff;
        d.get_mut(start..start + new.len())?.copy_from_slice(new);
    }
    Some(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::starttls_probe;

    #[test]
    fn a_datagram_cut_short_gives_no_expectation() {
        // Found by the fuzzer: a header-only quote diffed against itself claimed a changed
        // checksum, computed over the bytes it lacked.
        let sent = starttls_probe(5, 7);
        let quote = Quote::new(&sent[..40]);
        assert!(expected_quoted_checksum(&sent, &quote).is_some());
        assert_eq!(expected_quoted_checksum(&sent[..40], &quote), None);
        let d = crate::diff_quote(&sent[..40], &quote);
        assert!(d.changes.is_empty(), "{:?}", d.changes);
        assert!(!matches!(
            d.payload,
            crate::PayloadStatus::ChecksumChanged { .. }
        ));
        // Likewise a datagram whose own checksum is wrong (never one of ours): no expectation,
        // so a quote of it as it is can never read as changed.
        let mut bad = sent.clone();
        bad[36] ^= 0x55;
        assert_eq!(
            expected_quoted_checksum(&bad, &Quote::new(&bad[..40])),
            None
        );
    }

    fn quoted_checksum(d: &[u8]) -> u16 {
        u16::from_be_bytes([d[36], d[37]])
    }

    /// A mailguard-style rewrite with the checksum fixed, as the kernel's nft payload set does.
    fn rewritten(mut d: Vec<u8>) -> Vec<u8> {
        d[40..48].copy_from_slice(b"XXXXXXXX");
        let c = tcp_checksum(&d).expect("checksum");
        d[36..38].copy_from_slice(&c.to_be_bytes());
        d
    }

    #[test]
    fn the_built_probe_carries_its_computed_checksum() {
        let d = starttls_probe(3, 7);
        assert_eq!(tcp_checksum(&d), Some(quoted_checksum(&d)));
    }

    #[test]
    fn a_header_only_quote_of_an_untouched_segment_expects_its_checksum() {
        let d = starttls_probe(3, 7);
        let q = Quote::new(&d[..40]);
        assert_eq!(expected_quoted_checksum(&d, &q), Some(quoted_checksum(&d)));
    }

    #[test]
    fn a_rewritten_payload_is_seen_in_the_checksum_and_the_rewrite_explains_it() {
        let d = starttls_probe(3, 7);
        let r = rewritten(d.clone());
        let q = Quote::new(&r[..40]);
        let expected = expected_quoted_checksum(&d, &q).expect("expected");
        assert_ne!(expected, quoted_checksum(&r));
        assert_eq!(
            expected_checksum_with_rewrite(&d, &q, b"XXXXXXXX"),
            Some(quoted_checksum(&r))
        );
        assert_ne!(
            expected_checksum_with_rewrite(&d, &q, b"XXXXXXXA"),
            Some(quoted_checksum(&r))
        );
    }

    #[test]
    fn visible_header_changes_are_accounted_for() {
        // A sequence-randomising box: seq changed and the checksum fixed for it.
        let d = starttls_probe(3, 7);
        let mut s = d.clone();
        s[24..28].copy_from_slice(&0x1234_5678u32.to_be_bytes());
        let c = tcp_checksum(&s).expect("checksum");
        s[36..38].copy_from_slice(&c.to_be_bytes());
        let q = Quote::new(&s[..40]);
        assert_eq!(expected_quoted_checksum(&d, &q), Some(c));
        // ...and with the payload rewritten too, the checksum still shows it.
        let both = rewritten(s);
        let q = Quote::new(&both[..40]);
        assert_ne!(
            expected_quoted_checksum(&d, &q),
            Some(quoted_checksum(&both))
        );
    }

    #[test]
    fn short_or_odd_quotes_give_nothing() {
        let d = starttls_probe(3, 7);
        assert_eq!(expected_quoted_checksum(&d, &Quote::new(&d[..28])), None);
        let mut longer = d.clone();
        longer[3] += 1; // total length differs
        assert_eq!(
            expected_quoted_checksum(&d, &Quote::new(&longer[..40])),
            None
        );
        assert_eq!(expected_quoted_checksum(&[], &Quote::new(&d[..40])), None);
        for n in 0..d.len() {
            let _ = expected_quoted_checksum(&d[..n], &Quote::new(&d));
            let _ = expected_checksum_with_rewrite(&d, &Quote::new(&d[..n]), b"XXXXXXXXXXXXXXXX");
        }
    }
}
