//! The CAIDA / RouteViews prefix2as line format:
//! `prefix<TAB>length<TAB>asn`, where `asn` lists several origins joined by `_`
//! (multi-origin: the prefix is announced by several ASes) and the members of an AS set by
//! `,`. Both are read as "the prefix's origins". `#` starts a comment line.
use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::error::LineError;

/// Parses one line into its prefix (host bits cleared). Returns `Ok(None)` for blank and
/// comment lines. The origin ASes are written into `asns` (cleared first), in the order
/// written, duplicates removed.
pub(crate) fn parse_line(line: &str, asns: &mut Vec<u32>) -> Result<Option<IpNet>, LineError> {
    let text = line.trim();
    if text.is_empty() || text.starts_with('#') {
        return Ok(None);
    }
    let mut fields = text.split_ascii_whitespace();
    let (Some(addr), Some(length), Some(origins), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(LineError::FieldCount(text.split_ascii_whitespace().count()));
    };
    let prefix = parse_prefix(addr, length)?;
    parse_origins(origins, asns)?;
    Ok(Some(prefix))
}

fn parse_prefix(addr: &str, length: &str) -> Result<IpNet, LineError> {
    let ip: IpAddr = addr
        .parse()
        .map_err(|_| LineError::Address(addr.to_string()))?;
    let (family, max) = match ip {
        IpAddr::V4(_) => ("IPv4", 32u8),
        IpAddr::V6(_) => ("IPv6", 128u8),
    };
    let bad_length = || LineError::PrefixLength {
        length: length.to_string(),
        family,
        max,
    };
    let len: u8 = length.parse().map_err(|_| bad_length())?;
    let net = match ip {
        IpAddr::V4(v4) => Ipv4Net::new(v4, len).map(|n| IpNet::V4(n.trunc())),
        IpAddr::V6(v6) => Ipv6Net::new(v6, len).map(|n| IpNet::V6(n.trunc())),
    };
    net.map_err(|_| bad_length())
}

/// Parses `64500`, `64500_64501` (multi-origin) and `64500,64501` (AS set), also mixed.
pub(crate) fn parse_origins(field: &str, asns: &mut Vec<u32>) -> Result<(), LineError> {
    asns.clear();
    for token in field.split(['_', ',']) {
        let asn = parse_asn(token).ok_or_else(|| LineError::Asn(field.to_string()))?;
        if !asns.contains(&asn) {
            asns.push(asn);
        }
    }
    Ok(())
}

/// A plain decimal AS number (asplain, RFC 5396), 0..=4294967295.
pub(crate) fn parse_asn(token: &str) -> Option<u32> {
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    token.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Option<(String, Vec<u32>)>, LineError> {
        let mut asns = Vec::new();
        parse_line(line, &mut asns).map(|p| p.map(|p| (p.to_string(), asns)))
    }

    #[test]
    fn test_parse_single_origin_v4_and_v6() {
        assert_eq!(
            parse("192.0.2.0\t24\t64500"),
            Ok(Some(("192.0.2.0/24".into(), vec![64500])))
        );
        assert_eq!(
            parse("2001:db8::\t32\t4200000000"),
            Ok(Some(("2001:db8::/32".into(), vec![4_200_000_000])))
        );
    }

    #[test]
    fn test_parse_multi_origin_and_as_set() {
        assert_eq!(
            parse("198.51.100.0\t24\t64500_64501"),
            Ok(Some(("198.51.100.0/24".into(), vec![64500, 64501])))
        );
        assert_eq!(
            parse("198.51.100.0\t24\t64502,64503_64500,64502"),
            Ok(Some(("198.51.100.0/24".into(), vec![64502, 64503, 64500])))
        );
    }

    #[test]
    fn test_parse_comments_blank_and_crlf_whitespace() {
        assert_eq!(parse(""), Ok(None));
        assert_eq!(parse("   "), Ok(None));
        assert_eq!(parse("# prefix2as"), Ok(None));
        assert_eq!(parse("  # indented comment"), Ok(None));
        assert_eq!(
            parse("203.0.113.0 24  64500 "),
            Ok(Some(("203.0.113.0/24".into(), vec![64500])))
        );
    }

    #[test]
    fn test_parse_host_bits_are_cleared() {
        assert_eq!(
            parse("192.0.2.77\t24\t64500"),
            Ok(Some(("192.0.2.0/24".into(), vec![64500])))
        );
    }

    #[test]
    fn test_parse_rejects_malformed_lines() {
        assert_eq!(parse("192.0.2.0\t24"), Err(LineError::FieldCount(2)));
        assert_eq!(
            parse("192.0.2.0\t24\t1\textra"),
            Err(LineError::FieldCount(4))
        );
        assert_eq!(
            parse("192.0.2\t24\t1"),
            Err(LineError::Address("192.0.2".into()))
        );
        assert!(matches!(
            parse("192.0.2.0\t33\t1"),
            Err(LineError::PrefixLength { max: 32, .. })
        ));
        assert!(matches!(
            parse("2001:db8::\t129\t1"),
            Err(LineError::PrefixLength { max: 128, .. })
        ));
        assert!(matches!(
            parse("192.0.2.0\t-1\t1"),
            Err(LineError::PrefixLength { .. })
        ));
        for bad in [
            "AS64500",
            "64500_",
            "_1",
            "1,,2",
            "4294967296",
            "+5",
            "1.5",
            "-",
        ] {
            assert_eq!(
                parse(&format!("192.0.2.0\t24\t{bad}")),
                Err(LineError::Asn(bad.into())),
                "{bad}"
            );
        }
    }

    #[test]
    fn test_parse_asn_bounds() {
        assert_eq!(parse_asn("0"), Some(0));
        assert_eq!(parse_asn("4294967295"), Some(u32::MAX));
        assert_eq!(parse_asn("4294967296"), None);
        assert_eq!(parse_asn(""), None);
    }
}
