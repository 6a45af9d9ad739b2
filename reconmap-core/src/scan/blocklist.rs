//! Addresses a scan must never send to: the IANA special-purpose ranges (on by default) and the
//! operator's ZMap-format blocklist (one CIDR per line, `#` comments).
use super::cidr::Cidr;
use std::net::Ipv4Addr;

/// IANA IPv4 special-purpose registry (RFC 6890 and successors).
const SPECIAL_PURPOSE: &[&str] = &[
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.31.196.0/24",
    "192.52.193.0/24",
    "192.88.99.0/24",
    "192.168.0.0/16",
    "192.175.48.0/24",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "255.255.255.255/32",
];

/// The documentation and benchmarking ranges the lab uses; `--allow-lab-ranges` lets them through.
pub const LAB_RANGES: &[&str] = &[
    "192.0.2.0/24",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "198.18.0.0/15",
];

/// A bad blocklist line.
#[derive(Debug, thiserror::Error)]
#[error("blocklist line {line}: {reason}")]
pub struct BlocklistError {
    pub line: usize,
    pub reason: String,
}

/// A set of blocked prefixes.
#[derive(Clone, Debug, Default)]
pub struct Blocklist {
    prefixes: Vec<(Cidr, &'static str)>,
}

impl Blocklist {
    /// The IANA special-purpose ranges, optionally minus the lab ranges.
    pub fn builtin(allow_lab_ranges: bool) -> Self {
        let prefixes = SPECIAL_PURPOSE
            .iter()
            .filter(|p| !(allow_lab_ranges && LAB_RANGES.contains(p)))
            .filter_map(|p| p.parse().ok())
            .map(|c| (c, "IANA special-purpose"))
            .collect();
        Self { prefixes }
    }

    pub fn empty() -> Self {
        Self::default()
    }

    /// Adds the prefixes of a ZMap-format blocklist text.
    pub fn add_text(&mut self, text: &str) -> Result<usize, BlocklistError> {
        let mut added = 0;
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let cidr: Cidr = line
                .parse()
                .map_err(|e: super::cidr::CidrError| BlocklistError {
                    line: i + 1,
                    reason: e.to_string(),
                })?;
            self.prefixes.push((cidr, "blocklist file"));
            added += 1;
        }
        Ok(added)
    }

    /// Why `ip` is blocked, if it is.
    pub fn blocks(&self, ip: Ipv4Addr) -> Option<&'static str> {
        self.prefixes
            .iter()
            .find(|(c, _)| c.contains(ip))
            .map(|(_, why)| *why)
    }

    pub fn len(&self) -> usize {
        self.prefixes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.prefixes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_blocks_special_ranges_and_lab_ranges_only_on_request() {
        let strict = Blocklist::builtin(false);
        assert!(strict.blocks(Ipv4Addr::new(10, 1, 2, 3)).is_some());
        assert!(strict.blocks(Ipv4Addr::new(192, 0, 2, 25)).is_some());
        assert!(strict.blocks(Ipv4Addr::new(198, 19, 0, 1)).is_some());
        assert!(strict.blocks(Ipv4Addr::new(8, 8, 8, 8)).is_none());
        let lab = Blocklist::builtin(true);
        assert!(lab.blocks(Ipv4Addr::new(192, 0, 2, 25)).is_none());
        assert!(lab.blocks(Ipv4Addr::new(198, 18, 3, 4)).is_none());
        assert!(lab.blocks(Ipv4Addr::new(127, 0, 0, 1)).is_some());
    }

    #[test]
    fn zmap_format_with_comments_and_bad_line_numbers() {
        let mut b = Blocklist::empty();
        let n = b
            .add_text("# ours\n198.18.1.0/24  # test half\n\n198.18.2.7\n")
            .expect("valid");
        assert_eq!(n, 2);
        assert!(b.blocks(Ipv4Addr::new(198, 18, 1, 200)).is_some());
        assert!(b.blocks(Ipv4Addr::new(198, 18, 2, 7)).is_some());
        assert!(b.blocks(Ipv4Addr::new(198, 18, 2, 8)).is_none());
        let err = b
            .add_text("198.18.0.0/16\nnonsense\n")
            .expect_err("bad line");
        assert_eq!(err.line, 2);
    }
}
