//! nftables rulesets for one lab router: middlebox behaviours, silence and NAT.
//!
//! Rewrites use raw payload expressions (`@ih`), so the box inspects every packet on its own,
//! as real boxes do. The kernel fixes the TCP checksum for a rewritten field only when the
//! field starts at an even payload offset, so every rewrite here is split into chunks of at
//! most 8 bytes that start on even offsets (see ../shared/docs/lab.md).
use std::fmt::Write as _;

use reconmap_core::scenario::server_text::ServerText;
use reconmap_core::scenario::{Behaviour, MiddleboxSpec, Placement, RouterKind};

/// `STARTTLS` as a 64-bit big-endian number.
const STARTTLS: u64 = 0x5354_4152_5454_4c53;
/// Clears bit 5 of each byte: lower-case ASCII letters compare as upper-case.
const UPPER: u64 = 0xdfdf_dfdf_dfdf_dfdf;

/// The whole ruleset (for `nft -f -`) of a router; empty when the router needs none.
pub fn router_ruleset(
    router: RouterKind,
    east_if: &str,
    middlebox: Option<&MiddleboxSpec>,
    server: &ServerText,
) -> Result<String, crate::LabError> {
    let mut out = String::new();
    if router == RouterKind::Silent {
        out.push_str(
            "table ip rmlab_silent {\n  chain out {\n    type filter hook output priority 0; policy accept;\n    icmp type { time-exceeded, destination-unreachable } drop\n  }\n}\n",
        );
    }
    if router == RouterKind::Nat {
        let _ = write!(
            out,
            "table ip rmlab_nat {{\n  chain post {{\n    type nat hook postrouting priority 100; policy accept;\n    oifname \"{east_if}\" masquerade\n  }}\n}}\n"
        );
    }
    if let Some(mb) = middlebox {
        out.push_str(&middlebox_table(mb, server)?);
    }
    Ok(out)
}

/// The `rmlab_box` table of a middlebox; empty for behaviours built with helper processes
/// (reset, IP ID rewriting, sequence randomising, proxies: see `hop_plan`).
fn middlebox_table(mb: &MiddleboxSpec, server: &ServerText) -> Result<String, crate::LabError> {
    let (hook, priority) = match mb.placement {
        Placement::Forward => ("forward", 0),
        Placement::Prerouting => ("prerouting", -150),
    };
    let (to_server, from_server) = match mb.daddr {
        Some(p) => (format!("ip daddr {p} "), format!("ip saddr {p} ")),
        None => (String::new(), String::new()),
    };
    let command = format!("{to_server}tcp dport 25 @ih,0,64 & 0x{UPPER:016x} == 0x{STARTTLS:016x}");
    let mut rules = Vec::new();
    match mb.behaviour {
        Behaviour::Mailguard => {
            rules.push(format!("{command} {}", set_statements(0, b"XXXXXXXX")));
            rules.push(banner_rule(&from_server, server));
            rules.extend(ehlo_rule(&from_server, server));
        }
        Behaviour::EhloMask => rules.extend(ehlo_rule(&from_server, server)),
        Behaviour::Drop => rules.push(format!("{command} drop")),
        // Resets toward both ends need a packet nft cannot forge, this kernel has no nft
        // `queue`, and proxies need a process: iptables rules and helpers (`hop_plan`).
        Behaviour::Reset
        | Behaviour::RewriteIpId
        | Behaviour::SeqRandomise
        | Behaviour::Proxy
        | Behaviour::ProxyPass
        | Behaviour::TlsDrop
        | Behaviour::TlsReset
        | Behaviour::TlsRewrite => return Ok(String::new()),
    }
    let mut out = format!(
        "table ip rmlab_box {{\n  chain box {{\n    type filter hook {hook} priority {priority}; policy accept;\n"
    );
    for rule in rules {
        let _ = writeln!(out, "    {rule}");
    }
    out.push_str("  }\n}\n");
    Ok(out)
}

/// Masks the server's 220 banner: every byte but '2', '0' and ' ' becomes '*', CRLF kept.
/// Matched by the `220 ` start, the first 8 banner bytes after it and the CRLF at its end.
fn banner_rule(from_server: &str, server: &ServerText) -> String {
    let banner = server.banner_line.as_bytes();
    let masked = mask_banner(banner);
    let len = banner.len();
    let mut rule = format!(
        "{from_server}tcp sport 25 @ih,0,32 == 0x{}",
        hex(&banner[..4.min(len)])
    );
    if let Some(head) = banner.get(4..12) {
        let _ = write!(rule, " @ih,32,64 == 0x{}", hex(head));
    }
    let _ = write!(rule, " @ih,{},16 == 0x0d0a", (len.saturating_sub(2)) * 8);
    // Rewrite bytes 4 .. len-2 (the CR stays CR), rounded to even boundaries.
    let end = len.saturating_sub(2);
    let end = end + end % 2;
    if let Some(part) = masked.get(4..end) {
        let _ = write!(rule, " {}", set_statements(4, part));
    }
    rule
}

/// Masks the STARTTLS keyword of the EHLO reply with X (from an even offset).
fn ehlo_rule(from_server: &str, server: &ServerText) -> Option<String> {
    let offset = server.ehlo_starttls_offset?;
    // Start on the even byte: for an odd offset include the byte before the keyword ('-' or
    // ' ') and the CR after it, written back unchanged.
    let (start, bytes) = if offset % 2 == 0 {
        (offset, b"XXXXXXXX".to_vec())
    } else {
        let start = offset.checked_sub(1)?;
        let before = *server.ehlo_reply.as_bytes().get(start)?;
        let mut v = vec![before];
        v.extend_from_slice(b"XXXXXXXX\r");
        (start, v)
    };
    Some(format!(
        "{from_server}tcp sport 25 @ih,0,32 == 0x{} @ih,{},64 == 0x{STARTTLS:016x} {}",
        hex(b"250-"),
        offset * 8,
        set_statements(start, &bytes)
    ))
}

/// `@ih,OFF,BITS set 0x..` statements writing `bytes` at payload offset `start` (even), in
/// chunks of at most 8 bytes.
fn set_statements(start: usize, bytes: &[u8]) -> String {
    bytes
        .chunks(8)
        .enumerate()
        .map(|(i, chunk)| {
            format!(
                "@ih,{},{} set 0x{}",
                (start + i * 8) * 8,
                chunk.len() * 8,
                hex(chunk)
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The PIX banner mask of a banner line.
pub fn mask_banner(line: &[u8]) -> Vec<u8> {
    let body_end = line.len().saturating_sub(2);
    line.iter()
        .enumerate()
        .map(|(i, &b)| match b {
            b'2' | b'0' | b' ' => b,
            _ if i >= body_end => b,
            _ => b'*',
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text() -> ServerText {
        ServerText::new("mx.lab.example", true)
    }

    #[test]
    fn banner_mask_keeps_two_zero_space_and_crlf() {
        assert_eq!(mask_banner(b"220 a0b2 x\r\n"), b"220 *0*2 *\r\n".to_vec());
    }

    #[test]
    fn every_rewrite_starts_even_and_fits_64_bits() {
        let mb = MiddleboxSpec {
            behaviour: Behaviour::Mailguard,
            placement: Placement::Forward,
            daddr: None,
        };
        let rules = router_ruleset(RouterKind::Normal, "east", Some(&mb), &text()).expect("rules");
        let tokens: Vec<&str> = rules.split_whitespace().collect();
        let mut sets = 0;
        for pair in tokens.windows(2) {
            let [field, verb] = pair else { continue };
            if *verb != "set" {
                continue;
            }
            let mut parts = field.trim_start_matches("@ih,").split(',');
            let off: usize = parts.next().and_then(|s| s.parse().ok()).expect("offset");
            let bits: usize = parts.next().and_then(|s| s.parse().ok()).expect("bits");
            assert!(off.is_multiple_of(16), "odd byte offset in {field}");
            assert!(bits <= 64 && bits.is_multiple_of(16), "{field}");
            sets += 1;
        }
        assert!(sets >= 6, "command, banner and EHLO rewrites: {rules}");
    }

    #[test]
    fn silent_and_nat_tables() {
        let r = router_ruleset(RouterKind::Silent, "east", None, &text()).expect("rules");
        assert!(r.contains("time-exceeded") && !r.contains("rmlab_box"));
        let r = router_ruleset(RouterKind::Nat, "east", None, &text()).expect("rules");
        assert!(r.contains("oifname \"east\" masquerade"));
        assert!(router_ruleset(RouterKind::Normal, "e", None, &text())
            .expect("rules")
            .is_empty());
    }

    #[test]
    fn helper_behaviours_get_no_box_table() {
        for behaviour in [
            Behaviour::Reset,
            Behaviour::RewriteIpId,
            Behaviour::SeqRandomise,
            Behaviour::Proxy,
            Behaviour::ProxyPass,
        ] {
            let mb = MiddleboxSpec {
                behaviour,
                placement: Placement::Forward,
                daddr: None,
            };
            let r = router_ruleset(RouterKind::ShortQuote, "east", Some(&mb), &text());
            assert_eq!(r.expect("rules"), "", "{behaviour:?}");
        }
    }
}
