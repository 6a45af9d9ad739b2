//! What the kernel says about ports: its ephemeral range (the probe range must stay out of it)
//! and the ports local services listen on (never used as probe source ports).
use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::ops::RangeInclusive;

/// `/proc/sys/net/ipv4/ip_local_port_range` (Linux's default 32768-60999 if unreadable).
pub fn ephemeral_range() -> RangeInclusive<u16> {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| parse_range(&s))
        .unwrap_or(32768..=60999)
}

fn parse_range(s: &str) -> Option<RangeInclusive<u16>> {
    let mut it = s.split_whitespace().map(str::parse::<u16>);
    let lo = it.next()?.ok()?;
    let hi = it.next()?.ok()?;
    (lo <= hi).then_some(lo..=hi)
}

/// TCP ports with a listening socket on `addr` or on the wildcard address
/// (`/proc/net/tcp` and `/proc/net/tcp6`, state 0A).
pub fn listening_ports(addr: Ipv4Addr) -> HashSet<u16> {
    let mut ports = HashSet::new();
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Ok(text) = std::fs::read_to_string(file) {
            ports.extend(parse_listeners(&text, addr));
        }
    }
    ports
}

/// Listening ports in a `/proc/net/tcp{,6}` table bound to `addr` or a wildcard.
fn parse_listeners(text: &str, addr: Ipv4Addr) -> impl Iterator<Item = u16> + '_ {
    // The address is the kernel's u32 in host order, printed as hex.
    let ours = format!("{:08X}", u32::from_ne_bytes(addr.octets()));
    text.lines().skip(1).filter_map(move |line| {
        let mut f = line.split_whitespace();
        let local = f.nth(1)?;
        let state = f.nth(1)?;
        if state != "0A" {
            return None;
        }
        let (a, port) = local.rsplit_once(':')?;
        let wildcard = a.chars().all(|c| c == '0');
        let v4_mapped =
            a.len() == 32 && a.ends_with(&ours) && a.starts_with("0000000000000000FFFF0000");
        (wildcard || a == ours || v4_mapped)
            .then(|| u16::from_str_radix(port, 16).ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ranges_and_listeners() {
        assert_eq!(parse_range("32768\t60999\n"), Some(32768..=60999));
        assert_eq!(parse_range("junk"), None);
        let a = Ipv4Addr::new(198, 51, 100, 1);
        let ours = format!("{:08X}", u32::from_ne_bytes(a.octets()));
        let table = format!(
            "  sl  local_address rem_address   st tx_queue rx_queue\n\
             0: 00000000:0019 00000000:0000 0A 00000000:00000000\n\
             1: {ours}:EE48 00000000:0000 0A 00000000:00000000\n\
             2: 0100007F:EE49 00000000:0000 0A 00000000:00000000\n\
             3: {ours}:EE4A 0200000A:0050 01 00000000:00000000\n"
        );
        let mut got: Vec<u16> = parse_listeners(&table, a).collect();
        got.sort_unstable();
        assert_eq!(
            got,
            [25, 0xEE48],
            "wildcard and ours; not loopback, not established"
        );
    }
}
