//! Target lists: one target per line (IP, IP:PORT, CIDR, or a hostname resolved once up front),
//! `#` comments and blank lines ignored, or CSV with an address column. Bad lines are collected
//! with their line numbers; the caller decides whether they are fatal (`--strict`).
use super::cidr::Cidr;
use std::net::{Ipv4Addr, SocketAddrV4};

/// A line that could not be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadLine {
    pub line: usize,
    pub text: String,
    pub reason: String,
}

/// Most characters of a bad line repeated in a message (a 100,000-character line is not).
const SHOWN: usize = 80;

impl std::fmt::Display for BadLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown: String = self.text.chars().take(SHOWN).collect();
        let rest = self.text.chars().count().saturating_sub(SHOWN);
        write!(
            f,
            "line {}: `{}`",
            self.line,
            crate::smtp::escape(shown.as_bytes())
        )?;
        if rest > 0 {
            write!(f, " (and {rest} more characters)")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// Input format of a target list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListFormat {
    /// One target per line.
    Lines,
    /// CSV with a header row; targets are taken from the named column.
    Csv { column: String },
}

/// A contiguous block of addresses with one port.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Block {
    first: u32,
    count: u64,
    port: u16,
    /// The host name the line gave (resolved to `first`), if it gave one.
    name: Option<std::sync::Arc<str>>,
}

/// A parsed target list, addressable by index (for the pseudo-random order).
#[derive(Clone, Debug, Default)]
pub struct TargetList {
    blocks: Vec<Block>,
    /// Cumulative count before each block.
    starts: Vec<u64>,
    total: u64,
    pub bad_lines: Vec<BadLine>,
}

/// Hostname resolution, injectable for tests.
pub trait Resolver {
    fn resolve(&self, host: &str, port: u16) -> Result<Ipv4Addr, String>;
}

impl TargetList {
    /// Parses a list. `default_port` applies where a line gives none.
    pub fn parse(
        text: &str,
        format: &ListFormat,
        default_port: u16,
        resolver: &dyn Resolver,
    ) -> Self {
        Self::parse_bytes(text.as_bytes(), format, default_port, resolver)
    }

    /// Parses a list given as bytes: a UTF-8 byte order mark at the start of a line is skipped
    /// (lists concatenated from several files carry one per file), and a line that is not
    /// UTF-8 is a bad line (with its number) rather than the end of the list.
    pub fn parse_bytes(
        bytes: &[u8],
        format: &ListFormat,
        default_port: u16,
        resolver: &dyn Resolver,
    ) -> Self {
        let mut list = Self::default();
        let mut column: Option<usize> = None;
        for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
            let lineno = i + 1;
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            let raw = raw.strip_prefix(b"\xef\xbb\xbf").unwrap_or(raw);
            let raw = match std::str::from_utf8(raw) {
                Ok(r) => r,
                Err(_) => {
                    list.bad_lines.push(BadLine {
                        line: lineno,
                        text: String::from_utf8_lossy(raw).into_owned(),
                        reason: "not UTF-8 text".to_string(),
                    });
                    continue;
                }
            };
            let field = match format {
                ListFormat::Lines => raw.split('#').next().unwrap_or_default().trim().to_string(),
                ListFormat::Csv { column: name } => {
                    let fields = split_csv(raw);
                    match column {
                        None => {
                            match fields
                                .iter()
                                .position(|f| f.trim().eq_ignore_ascii_case(name))
                            {
                                Some(c) => column = Some(c),
                                None => {
                                    list.bad_lines.push(BadLine {
                                        line: lineno,
                                        text: raw.to_string(),
                                        reason: format!("CSV header has no column `{name}`"),
                                    });
                                    return list;
                                }
                            }
                            continue;
                        }
                        Some(c) => match fields.get(c) {
                            Some(f) => f.trim().to_string(),
                            None if raw.trim().is_empty() => String::new(),
                            None => {
                                list.bad_lines.push(BadLine {
                                    line: lineno,
                                    text: raw.to_string(),
                                    reason: format!("row has no column {}", c + 1),
                                });
                                continue;
                            }
                        },
                    }
                }
            };
            if field.is_empty() {
                continue;
            }
            match parse_entry(&field, default_port, resolver) {
                Ok(block) => list.push(block),
                Err(reason) => list.bad_lines.push(BadLine {
                    line: lineno,
                    text: field,
                    reason,
                }),
            }
        }
        list
    }

    fn push(&mut self, block: Block) {
        self.starts.push(self.total);
        self.total += block.count;
        self.blocks.push(block);
    }

    /// Number of targets (CIDRs expanded).
    pub fn len(&self) -> u64 {
        self.total
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The target at `index` (0..len).
    pub fn get(&self, index: u64) -> Option<SocketAddrV4> {
        self.get_named(index).map(|(a, _)| a)
    }

    /// The target at `index` with the host name its line gave, if any (sent as SNI and checked
    /// against the server's certificate).
    pub fn get_named(&self, index: u64) -> Option<(SocketAddrV4, Option<std::sync::Arc<str>>)> {
        if index >= self.total {
            return None;
        }
        let b = match self.starts.binary_search(&index) {
            Ok(i) => i,
            Err(i) => i.checked_sub(1)?,
        };
        let block = self.blocks.get(b)?;
        let offset = index - self.starts.get(b)?;
        let addr = u32::try_from(u64::from(block.first) + offset).ok()?;
        Some((
            SocketAddrV4::new(Ipv4Addr::from(addr), block.port),
            block.name.clone(),
        ))
    }
}

/// Why a target was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("empty target")]
    Empty,
    #[error("`{0}`: IPv6 targets are not supported (IPv4 only)")]
    Ipv6(String),
    #[error("`{0}`: not an IPv4 address (expected ADDR or ADDR:PORT, e.g. 192.0.2.25:25)")]
    BadAddress(String),
    #[error("`{0}`: bad port (expected 1-65535)")]
    BadPort(String),
}

/// Splits `HOST[:PORT]` (trimmed); refuses IPv6 and bad ports.
pub fn split_host_port(text: &str, default_port: u16) -> Result<(&str, u16), TargetError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(TargetError::Empty);
    }
    if text.starts_with('[') || text.matches(':').count() > 1 {
        return Err(TargetError::Ipv6(text.to_string()));
    }
    match text.split_once(':') {
        Some((host, port)) => {
            let port: u16 = port
                .parse()
                .ok()
                .filter(|&p| p != 0)
                .ok_or_else(|| TargetError::BadPort(text.to_string()))?;
            Ok((host, port))
        }
        None => Ok((text, default_port)),
    }
}

/// Parses `192.0.2.1` (port `default_port`) or `192.0.2.1:587`.
pub fn parse_target(text: &str, default_port: u16) -> Result<SocketAddrV4, TargetError> {
    let (host, port) = split_host_port(text, default_port)?;
    let ip: Ipv4Addr = host
        .parse()
        .map_err(|_| TargetError::BadAddress(text.trim().to_string()))?;
    Ok(SocketAddrV4::new(ip, port))
}

fn parse_entry(field: &str, default_port: u16, resolver: &dyn Resolver) -> Result<Block, String> {
    if field.contains('/') {
        let cidr: Cidr = field
            .parse()
            .map_err(|e: super::cidr::CidrError| e.to_string())?;
        return Ok(Block {
            first: cidr.first(),
            count: cidr.size(),
            port: default_port,
            name: None,
        });
    }
    let (host, port) = split_host_port(field, default_port).map_err(|e| e.to_string())?;
    let (ip, name) = match host.parse::<Ipv4Addr>() {
        Ok(ip) => (ip, None),
        Err(_) if looks_like_hostname(host) => (
            resolver.resolve(host, port)?,
            Some(std::sync::Arc::from(host.to_ascii_lowercase())),
        ),
        Err(_) => return Err("not an IPv4 address, prefix or hostname".to_string()),
    };
    Ok(Block {
        first: u32::from(ip),
        count: 1,
        port,
        name,
    })
}

fn looks_like_hostname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.chars().any(|c| c.is_ascii_alphabetic())
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// Splits one CSV row (RFC 4180 quotes, no embedded newlines).
fn split_csv(row: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = row.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    fields.push(cur);
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    struct FakeResolver;
    impl Resolver for FakeResolver {
        fn resolve(&self, host: &str, _port: u16) -> Result<Ipv4Addr, String> {
            match host {
                "mx.lab.example" => Ok(Ipv4Addr::new(192, 0, 2, 9)),
                _ => Err("NXDOMAIN".to_string()),
            }
        }
    }

    #[test]
    fn lines_with_comments_ports_prefixes_and_hostnames() {
        let text =
            "# list\n192.0.2.1\n\n192.0.2.2:587  # submission\n198.18.0.0/30\nmx.lab.example\n";
        let l = TargetList::parse(text, &ListFormat::Lines, 25, &FakeResolver);
        assert!(l.bad_lines.is_empty(), "{:?}", l.bad_lines);
        assert_eq!(l.len(), 7);
        let all: Vec<String> = (0..l.len())
            .filter_map(|i| l.get(i))
            .map(|a| a.to_string())
            .collect();
        assert_eq!(
            all,
            [
                "192.0.2.1:25",
                "192.0.2.2:587",
                "198.18.0.0:25",
                "198.18.0.1:25",
                "198.18.0.2:25",
                "198.18.0.3:25",
                "192.0.2.9:25"
            ]
        );
        assert_eq!(l.get(7), None);
    }

    #[test]
    fn bad_lines_are_numbered_and_skipped() {
        let text = "192.0.2.1\n300.1.1.1\n2001:db8::1\n192.0.2.3:0\nno.such.host\n192.0.2.0/40\n!!!\n192.0.2.4\n";
        let l = TargetList::parse(text, &ListFormat::Lines, 25, &FakeResolver);
        assert_eq!(l.len(), 2);
        let lines: Vec<usize> = l.bad_lines.iter().map(|b| b.line).collect();
        assert_eq!(lines, [2, 3, 4, 5, 6, 7]);
        assert!(l.bad_lines[3].reason.contains("NXDOMAIN"));
    }

    #[test]
    fn a_bom_non_utf8_lines_and_huge_lines_are_handled_per_line() {
        // Issues: a BOM made line 1 unreadable; a non-UTF-8 list was refused whole; a
        // 100,000-character bad line was echoed whole.
        let mut bytes = b"\xef\xbb\xbf192.0.2.1\r\n192.0.2.\xff\n".to_vec();
        bytes.extend(std::iter::repeat_n(b'x', 100_000));
        bytes.extend_from_slice(b"\n192.0.2.4\n");
        let l = TargetList::parse_bytes(&bytes, &ListFormat::Lines, 25, &FakeResolver);
        assert_eq!(l.len(), 2, "{:?}", l.bad_lines);
        assert_eq!(l.bad_lines.len(), 2);
        assert_eq!(l.bad_lines[0].line, 2);
        assert!(l.bad_lines[0].reason.contains("UTF-8"));
        let shown = l.bad_lines[1].to_string();
        assert!(shown.len() < 300, "{} bytes", shown.len());
        assert!(shown.contains("more characters"), "{shown}");
        let csv = TargetList::parse_bytes(
            b"\xef\xbb\xbfaddr,x\n192.0.2.9,1\n",
            &ListFormat::Csv {
                column: "addr".into(),
            },
            25,
            &FakeResolver,
        );
        assert_eq!(
            csv.len(),
            1,
            "the header is found after a BOM: {:?}",
            csv.bad_lines
        );
        // Found by the fuzzer: `cat a.txt b.txt` of two BOM'd lists has a BOM mid-text, and
        // the result must not depend on whether the lines come together or one by one.
        let joined = TargetList::parse_bytes(
            b"\xef\xbb\xbf192.0.2.1\n\xef\xbb\xbf192.0.2.2\n",
            &ListFormat::Lines,
            25,
            &FakeResolver,
        );
        assert_eq!(joined.len(), 2, "{:?}", joined.bad_lines);
    }

    #[test]
    fn csv_column_by_name_with_quotes() {
        let text = "rank,\"host, name\",addr\n1,\"a, b\",192.0.2.10\n2,x,\"192.0.2.11:26\"\n3,y\n";
        let l = TargetList::parse(
            text,
            &ListFormat::Csv {
                column: "addr".to_string(),
            },
            25,
            &FakeResolver,
        );
        assert_eq!(l.len(), 2);
        assert_eq!(
            l.get(1).map(|a| a.to_string()).as_deref(),
            Some("192.0.2.11:26")
        );
        assert_eq!(l.bad_lines.len(), 1);
        assert_eq!(l.bad_lines[0].line, 4);
        let missing = TargetList::parse(
            "a,b\n1,2\n",
            &ListFormat::Csv {
                column: "ip".into(),
            },
            25,
            &FakeResolver,
        );
        assert!(missing.is_empty());
        assert!(missing.bad_lines[0].reason.contains("no column"));
    }
}

#[cfg(test)]
mod target_tests {
    use super::*;

    #[test]
    fn parses_addresses_and_ports() {
        assert_eq!(
            parse_target("192.0.2.7", 25),
            Ok(SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 7), 25))
        );
        assert_eq!(
            parse_target(" 192.0.2.7:587 ", 25),
            Ok(SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 7), 587))
        );
    }

    #[test]
    fn refuses_bad_input_with_a_reason() {
        assert_eq!(parse_target("", 25), Err(TargetError::Empty));
        assert!(matches!(
            parse_target("2001:db8::1", 25),
            Err(TargetError::Ipv6(_))
        ));
        assert!(matches!(
            parse_target("[2001:db8::1]:25", 25),
            Err(TargetError::Ipv6(_))
        ));
        assert!(matches!(
            parse_target("192.0.2.300", 25),
            Err(TargetError::BadAddress(_))
        ));
        assert!(matches!(
            parse_target("mail.example", 25),
            Err(TargetError::BadAddress(_))
        ));
        assert!(matches!(
            parse_target("192.0.2.1:0", 25),
            Err(TargetError::BadPort(_))
        ));
        assert!(matches!(
            parse_target("192.0.2.1:99999", 25),
            Err(TargetError::BadPort(_))
        ));
        assert!(matches!(
            parse_target("192.0.2.1:", 25),
            Err(TargetError::BadPort(_))
        ));
    }
}
