//! Scenarios: a lab described as data (one TOML file each), with the truth the prober must find.
use std::net::Ipv4Addr;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::LabError;

/// Most routers a scenario may have (link subnets are /30s of 198.51.100.0/24).
pub const MAX_HOPS: usize = 60;

/// The embedded scenarios, by name.
const BUILTIN: &[(&str, &str)] = &[
    ("clean", include_str!("../scenarios/clean.toml")),
    (
        "mailguard-forward",
        include_str!("../scenarios/mailguard-forward.toml"),
    ),
    (
        "mailguard-prerouting",
        include_str!("../scenarios/mailguard-prerouting.toml"),
    ),
    (
        "mailguard-edge",
        include_str!("../scenarios/mailguard-edge.toml"),
    ),
    ("ehlo-mask", include_str!("../scenarios/ehlo-mask.toml")),
    ("drop", include_str!("../scenarios/drop.toml")),
    ("reset", include_str!("../scenarios/reset.toml")),
    (
        "silent-before",
        include_str!("../scenarios/silent-before.toml"),
    ),
    (
        "silent-after",
        include_str!("../scenarios/silent-after.toml"),
    ),
    (
        "short-quote-after",
        include_str!("../scenarios/short-quote-after.toml"),
    ),
    ("nat", include_str!("../scenarios/nat.toml")),
    ("no-tls", include_str!("../scenarios/no-tls.toml")),
    ("wide-area", include_str!("../scenarios/wide-area.toml")),
    ("many", include_str!("../scenarios/many.toml")),
];

/// A lab: routers between the prober and a mail server, their behaviours, and the truth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name (`clean`, `mailguard-forward`, ...).
    pub name: String,
    /// One sentence for `lab list`.
    pub description: String,
    /// Routers r1..rn in path order; hop k (TTL k) is `hops[k-1]`.
    #[serde(default)]
    pub hops: Vec<HopSpec>,
    /// The mail server at distance n+1.
    #[serde(default)]
    pub server: ServerSpec,
    /// Delay and loss applied to every link, both directions (see `Lab::shape_links`).
    #[serde(default)]
    pub link: LinkSpec,
    /// What a correct prober reports for the main target.
    pub expect: Expected,
    /// Truth for targets outside every middlebox's `daddr` restriction (the clean half of `many`).
    #[serde(default)]
    pub expect_outside: Option<Expected>,
}

/// One router on the path.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HopSpec {
    /// How the router itself behaves.
    #[serde(default)]
    pub router: RouterKind,
    /// A STARTTLS-tampering box living on this router, if any.
    #[serde(default)]
    pub middlebox: Option<MiddleboxSpec>,
    /// Keep the kernel's ICMP rate limits (default: off, so every probe is answered).
    #[serde(default)]
    pub icmp_ratelimit: bool,
}

/// Router behaviour.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RouterKind {
    /// Forwards and sends ICMP errors with the full (576-byte) quote.
    #[default]
    Normal,
    /// Sends no ICMP errors at all.
    Silent,
    /// ICMP errors quote only the IP and TCP headers (40 bytes).
    ShortQuote,
    /// Source NAT (masquerade) on its way toward the server.
    Nat,
}

/// A middlebox: what it does and in which hook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MiddleboxSpec {
    /// What it does to SMTP.
    pub behaviour: Behaviour,
    /// Where it sits relative to the router's TTL check.
    #[serde(default)]
    pub placement: Placement,
    /// Only traffic to (and from) this IPv4 prefix, `a.b.c.d/len`; all traffic when absent.
    #[serde(default)]
    pub daddr: Option<String>,
}

/// Middlebox behaviours (see issue 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Behaviour {
    /// PIX style: STARTTLS command to XXXXXXXX, banner masked, EHLO STARTTLS keyword masked.
    Mailguard,
    /// Masks only the STARTTLS keyword of the EHLO reply.
    EhloMask,
    /// Silently drops client segments carrying STARTTLS.
    Drop,
    /// Answers a client STARTTLS segment with a TCP RST (toward the client only, see README).
    Reset,
}

/// Middlebox hook placement.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Placement {
    /// nft `forward` hook: the router's own quote still shows the original bytes.
    #[default]
    Forward,
    /// nft `prerouting` hook (priority -150): the router's own quote shows the change.
    Prerouting,
}

/// The mail server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSpec {
    /// STARTTLS offered (self-signed certificate).
    #[serde(default = "yes")]
    pub tls: bool,
    /// A prefix made local on the server's lo (AnyIP), e.g. `198.18.0.0/16`.
    #[serde(default)]
    pub anyip: Option<String>,
}

fn yes() -> bool {
    true
}

impl Default for ServerSpec {
    fn default() -> Self {
        Self {
            tls: true,
            anyip: None,
        }
    }
}

/// Delay and loss for every link.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    /// One-way delay per link and direction, milliseconds.
    #[serde(default)]
    pub delay_ms: u32,
    /// Loss per link and direction, percent.
    #[serde(default)]
    pub loss_percent: f32,
}

impl LinkSpec {
    /// Whether any link shaping is needed.
    pub fn is_shaped(&self) -> bool {
        self.delay_ms > 0 || self.loss_percent > 0.0
    }
}

/// The truth a prober is compared with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expected {
    /// Verdict name: clean, stripped, advertisement_masked, not_offered, blocked, ...
    pub verdict: String,
    /// TTL of the last hop whose quote still shows the original bytes (0 = the prober).
    #[serde(default)]
    pub segment_after: Option<u8>,
    /// TTL of the first hop whose quote shows the change; `None` = first sign is the server's reply.
    #[serde(default)]
    pub segment_at: Option<u8>,
}

/// An IPv4 prefix parsed from `a.b.c.d/len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix {
    /// Network address (host bits cleared).
    pub addr: Ipv4Addr,
    /// Prefix length, 0..=32.
    pub len: u8,
}

impl Prefix {
    /// Parses `a.b.c.d/len`.
    pub fn parse(text: &str) -> Result<Self, LabError> {
        let bad = |reason: &str| LabError::Scenario(format!("prefix `{text}`: {reason}"));
        let (addr, len) = text.split_once('/').ok_or_else(|| bad("missing /len"))?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| bad("bad address"))?;
        let len: u8 = len.parse().map_err(|_| bad("bad length"))?;
        if len > 32 {
            return Err(bad("length above 32"));
        }
        let mask = Self::mask(len);
        Ok(Self {
            addr: Ipv4Addr::from(u32::from(addr) & mask),
            len,
        })
    }

    fn mask(len: u8) -> u32 {
        u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
    }

    /// Whether `ip` lies in the prefix.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & Self::mask(self.len) == u32::from(self.addr)
    }

    /// Whether the whole prefix lies in `other`.
    pub fn within(&self, other: &Prefix) -> bool {
        self.len >= other.len && other.contains(self.addr)
    }

    /// All addresses of the prefix, in order.
    pub fn addresses(&self) -> impl Iterator<Item = Ipv4Addr> {
        let first = u32::from(self.addr);
        let count = 1u64 << (32 - u32::from(self.len));
        (0..count).filter_map(move |i| {
            u32::try_from(i)
                .ok()
                .and_then(|i| first.checked_add(i))
                .map(Ipv4Addr::from)
        })
    }
}

impl std::fmt::Display for Prefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// Prefixes a lab may use (issue 3).
const ALLOWED: &[(Ipv4Addr, u8)] = &[
    (Ipv4Addr::new(192, 0, 2, 0), 24),
    (Ipv4Addr::new(198, 51, 100, 0), 24),
    (Ipv4Addr::new(203, 0, 113, 0), 24),
    (Ipv4Addr::new(198, 18, 0, 0), 15),
];

/// Whether a prefix lies inside the documentation/benchmark ranges the lab may use.
pub fn is_allowed(prefix: &Prefix) -> bool {
    ALLOWED
        .iter()
        .any(|&(addr, len)| prefix.within(&Prefix { addr, len }))
}

impl Scenario {
    /// An embedded scenario by name.
    pub fn builtin(name: &str) -> Result<Scenario, LabError> {
        let (_, text) = BUILTIN
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| LabError::UnknownScenario(name.to_owned()))?;
        Self::from_toml(text)
    }

    /// Names of the embedded scenarios.
    pub fn builtin_names() -> Vec<&'static str> {
        BUILTIN.iter().map(|(n, _)| *n).collect()
    }

    /// Parses and validates a scenario.
    pub fn from_toml(text: &str) -> Result<Scenario, LabError> {
        let scenario: Scenario = toml::from_str(text)?;
        scenario.validate()?;
        Ok(scenario)
    }

    /// Reads a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, LabError> {
        let text = std::fs::read_to_string(path).map_err(|source| LabError::Io {
            what: format!("read {}", path.display()),
            source,
        })?;
        Self::from_toml(&text)
    }

    /// The server's distance in hops (TTL that reaches it).
    pub fn server_ttl(&self) -> u8 {
        u8::try_from(self.hops.len() + 1).unwrap_or(u8::MAX)
    }

    /// The AnyIP prefix of the server, if any (validated).
    pub fn anyip(&self) -> Result<Option<Prefix>, LabError> {
        self.server.anyip.as_deref().map(Prefix::parse).transpose()
    }

    fn validate(&self) -> Result<(), LabError> {
        let err = |m: String| Err(LabError::Scenario(format!("{}: {m}", self.name)));
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return err("name must be non-empty [A-Za-z0-9-]".into());
        }
        if self.hops.len() > MAX_HOPS {
            return err(format!("at most {MAX_HOPS} hops"));
        }
        if !(0.0..=100.0).contains(&self.link.loss_percent) {
            return err("loss_percent must be within 0..=100".into());
        }
        let anyip = self.anyip()?;
        if let Some(p) = anyip {
            if !is_allowed(&p) {
                return err(format!("anyip {p} outside the lab ranges"));
            }
        }
        for (i, hop) in self.hops.iter().enumerate() {
            if let Some(d) = hop.middlebox.as_ref().and_then(|m| m.daddr.as_deref()) {
                let p = Prefix::parse(d)?;
                if !is_allowed(&p) {
                    return err(format!("hop {}: daddr {p} outside the lab ranges", i + 1));
                }
            }
        }
        let server = self.server_ttl();
        for e in std::iter::once(&self.expect).chain(self.expect_outside.as_ref()) {
            for ttl in [e.segment_after, e.segment_at].into_iter().flatten() {
                if ttl > server {
                    return err(format!("expected TTL {ttl} beyond the server at {server}"));
                }
            }
            if let (Some(a), Some(b)) = (e.segment_after, e.segment_at) {
                if a >= b {
                    return err(format!("segment_after {a} must be below segment_at {b}"));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_parses_and_names_match() {
        for name in Scenario::builtin_names() {
            let s = Scenario::builtin(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(s.name, name);
            assert!(!s.description.is_empty());
        }
    }

    #[test]
    fn unknown_builtin_is_an_error() {
        assert!(matches!(
            Scenario::builtin("nope"),
            Err(LabError::UnknownScenario(_))
        ));
    }

    #[test]
    fn truth_follows_the_segment_rules() {
        // Forward placement at router k: after=k, at=k+1 (or None when last router).
        for name in Scenario::builtin_names() {
            let s = Scenario::builtin(name).expect("builtin");
            let boxes: Vec<(u8, &MiddleboxSpec)> = s
                .hops
                .iter()
                .enumerate()
                .filter_map(|(i, h)| {
                    h.middlebox
                        .as_ref()
                        .map(|m| (u8::try_from(i + 1).unwrap_or(0), m))
                })
                .collect();
            let Some(&(k, mb)) = boxes.first() else {
                assert!(
                    matches!(s.expect.verdict.as_str(), "clean" | "not_offered"),
                    "{name}"
                );
                continue;
            };
            let last = k == s.server_ttl() - 1;
            let (after, at) = match (mb.behaviour, mb.placement) {
                (Behaviour::Mailguard, Placement::Forward) => (k, (!last).then_some(k + 1)),
                (Behaviour::Mailguard, Placement::Prerouting) => (k - 1, Some(k)),
                (Behaviour::Drop | Behaviour::Reset, Placement::Forward) => (k, None),
                (Behaviour::Drop | Behaviour::Reset, Placement::Prerouting) => (k - 1, None),
                (Behaviour::EhloMask, _) => {
                    assert_eq!(s.expect.verdict, "advertisement_masked", "{name}");
                    continue;
                }
            };
            // The prober only sees payload in quotes of hops that answer with a full quote.
            let blind = |ttl: u8| {
                s.hops
                    .get(usize::from(ttl).wrapping_sub(1))
                    .is_some_and(|h| {
                        matches!(h.router, RouterKind::Silent | RouterKind::ShortQuote)
                    })
            };
            let mut after = after;
            while after > 0 && blind(after) {
                after -= 1;
            }
            let mut at = at;
            while let Some(h) = at.filter(|&h| blind(h)) {
                at = (h + 1 < s.server_ttl()).then_some(h + 1);
            }
            assert_eq!(s.expect.segment_after, Some(after), "{name}");
            assert_eq!(s.expect.segment_at, at, "{name}");
        }
    }

    #[test]
    fn bad_input_is_a_clear_error() {
        assert!(Scenario::from_toml("name = 3").is_err());
        let outside = r#"
            name = "x"
            description = "d"
            server = { anyip = "10.0.0.0/8" }
            expect = { verdict = "clean" }
        "#;
        assert!(matches!(
            Scenario::from_toml(outside),
            Err(LabError::Scenario(_))
        ));
        let beyond = r#"
            name = "x"
            description = "d"
            expect = { verdict = "stripped", segment_after = 1, segment_at = 5 }
        "#;
        assert!(Scenario::from_toml(beyond).is_err());
    }

    #[test]
    fn prefix_math() {
        let p = Prefix::parse("198.18.0.0/17").expect("parse");
        assert!(p.contains(Ipv4Addr::new(198, 18, 127, 255)));
        assert!(!p.contains(Ipv4Addr::new(198, 18, 128, 0)));
        assert_eq!(p.addresses().count(), 32768);
        assert!(is_allowed(&p));
        assert!(Prefix::parse("198.18.0.0/33").is_err());
        assert!(Prefix::parse("junk").is_err());
    }
}
