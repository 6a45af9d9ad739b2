//! Scenarios: a network path described as data (one TOML file each in the workspace's
//! `scenarios/` directory), with the truth a correct prober must find there.
//!
//! The same files drive the namespace lab (`reconmap-lab`: real routers, nft/NFQUEUE boxes and
//! Postfix) and the simulator ([`crate::sim`]: a model of the same path in virtual time), so
//! every scenario is checked both ways with one stated truth. The addressing plan both use is in
//! [`plan`]; what the lab's Postfix says, which the simulator's server repeats, in
//! [`server_text`].
pub mod forge;
pub mod plan;
pub mod server_text;
pub mod truth;

use crate::scan::Cidr;
use crate::verdict::Verdict;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Most routers a scenario may have (link subnets are /30s of 198.51.100.0/24).
pub const MAX_HOPS: usize = 60;

/// Where the scenario files are (the workspace's `scenarios/`).
pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

/// Errors of scenario files: each names the file or the scenario and what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("scenario file {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("scenario {name}")]
    Toml {
        name: String,
        #[source]
        source: toml::de::Error,
    },
    #[error("scenario {0}")]
    Invalid(String),
    #[error("no scenario `{0}` in {1} (see `cargo xtask lab list`)")]
    Unknown(String, PathBuf),
}

/// A lab: routers between the prober and a mail server, their behaviours, and the truth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name (`clean`, `mailguard-forward`, ...), the file's stem.
    pub name: String,
    /// One sentence for `lab list`.
    pub description: String,
    /// Routers r1..rn in path order; hop k (TTL k) is `hops[k-1]`.
    #[serde(default)]
    pub hops: Vec<HopSpec>,
    /// The mail server at distance n+1.
    #[serde(default)]
    pub server: ServerSpec,
    /// Delay and loss applied to every link, both directions.
    #[serde(default)]
    pub link: LinkSpec,
    /// What a correct prober reports for the main target.
    pub expect: Expected,
    /// Truth for targets outside every middlebox's `daddr` restriction (the clean half of `many`).
    #[serde(default)]
    pub expect_outside: Option<Expected>,
    /// The prober's AS. With any AS given (here, on a hop or on the server) the lab and the
    /// simulator hand the prober a prefix-to-AS table of the scenario's addresses
    /// ([`Scenario::prefix2as`]).
    #[serde(default)]
    pub prober_asn: Option<u32>,
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
    /// Forged ICMP errors this router sends to the prober for every STARTTLS probe it
    /// forwards (a hostile network; `reconmap-icmp-forge`).
    #[serde(default)]
    pub forge: Option<ForgeSpec>,
    /// The router's ICMP errors quote exactly this many bytes of the datagram (a box cuts
    /// them, as routers quoting 28, 40, 64 or 128 bytes do); overrides the router kind's.
    #[serde(default)]
    pub quote_bytes: Option<u16>,
    /// The router is an MPLS label switching router: its ICMP errors carry an RFC 4950 label
    /// stack (an RFC 4884 extension) with these labels, top of the stack first.
    #[serde(default)]
    pub mpls_labels: Vec<u32>,
    /// The AS the router belongs to (its interface addresses map to it in the scenario's
    /// prefix-to-AS table).
    #[serde(default)]
    pub asn: Option<u32>,
}

/// Forged ICMP errors a router sends for each STARTTLS probe it forwards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForgeSpec {
    pub mode: ForgeMode,
    /// Source address of the forged messages (lab ranges only).
    pub from: std::net::Ipv4Addr,
    /// Messages per probe (for `flood`).
    #[serde(default = "one")]
    pub count: u32,
}

fn one() -> u32 {
    1
}

/// What the forged ICMP errors look like (the names of `reconmap-icmp-forge --mode`; the
/// recipes are in [`forge`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ForgeMode {
    /// One message: the quote of the segment (as a router where its TTL ran out would send
    /// it: TTL 1, header checksum fixed) but with a random IP ID, so it matches no probe.
    WrongId,
    /// Two messages with a correct quote and a bad RFC 4884 length (ICMP byte 5, in 32-bit
    /// words): 255 (1,020 bytes, longer than the message), then 3 (12 bytes: an extension
    /// would start in the middle of the quoted IP header).
    #[serde(rename = "bad-rfc4884")]
    BadRfc4884,
    /// Three messages with a broken inner header: the quote cut to the first 12 bytes of the
    /// IP header; IHL 15 (60 bytes) with only 28 bytes quoted; total length 0xffff with the
    /// whole segment quoted.
    TruncatedInner,
    /// One message whose quote has the segment's addresses but protocol 17 (UDP).
    WrongProto,
    /// One message claiming that the segment's payload was rewritten (`STARTTLS` becomes
    /// `XXXXXXXX`, TCP checksum fixed), from an address that is not on the path.
    ModifiedPayload,
    /// `count` messages, each a correct-looking quote with its own random IP ID.
    Flood,
}

impl std::str::FromStr for ForgeMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        serde_json::from_value(serde_json::Value::String(s.to_string()))
            .map_err(|_| format!("unknown forge mode `{s}`"))
    }
}

impl ForgeMode {
    pub fn name(self) -> &'static str {
        match self {
            ForgeMode::WrongId => "wrong-id",
            ForgeMode::BadRfc4884 => "bad-rfc4884",
            ForgeMode::TruncatedInner => "truncated-inner",
            ForgeMode::WrongProto => "wrong-proto",
            ForgeMode::ModifiedPayload => "modified-payload",
            ForgeMode::Flood => "flood",
        }
    }
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
    /// ICMP errors quote the RFC 792 minimum: the IP header and 8 bytes (28 bytes: ports and
    /// sequence number, no checksum).
    Rfc792Quote,
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
    /// Only traffic to (and from) this IPv4 prefix; all traffic when absent.
    #[serde(default)]
    pub daddr: Option<Cidr>,
}

impl MiddleboxSpec {
    /// Whether the box acts on traffic of this server address.
    pub fn applies_to(&self, server: std::net::Ipv4Addr) -> bool {
        self.daddr.is_none_or(|p| p.contains(server))
    }
}

/// Middlebox behaviours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Behaviour {
    /// PIX style: STARTTLS command to XXXXXXXX, banner masked, EHLO STARTTLS keyword masked.
    Mailguard,
    /// Masks only the STARTTLS keyword of the EHLO reply.
    EhloMask,
    /// Silently drops client segments carrying STARTTLS.
    Drop,
    /// Answers a client STARTTLS segment with a RST to both ends and drops it.
    Reset,
    /// Gives every client datagram toward port 25 a new IP ID (a NAT or normaliser).
    RewriteIpId,
    /// Cisco ASA TCP sequence number randomisation: a per-connection offset added to the
    /// client's sequence numbers (and taken off the server's acknowledgements).
    SeqRandomise,
    /// A transparent SMTP interception proxy (an ISP's port-25 proxy): it answers connections
    /// to port 25 for the server, relays SMTP to it, removes STARTTLS from the EHLO reply and
    /// refuses the command itself (`502 5.5.1 STARTTLS not supported`).
    Proxy,
    /// The same proxy relaying STARTTLS (and then the TLS bytes) to the server.
    ProxyPass,
    /// Lets STARTTLS through, then silently drops client segments that start with a TLS
    /// handshake record (`16 03 0x`: the ClientHello).
    TlsDrop,
    /// Lets STARTTLS through, then answers a ClientHello segment with a RST to both ends and
    /// drops it.
    TlsReset,
    /// Lets STARTTLS through, then rewrites the ClientHello's first cipher suite (TCP checksum
    /// fixed): the handshake transcripts of the two ends differ, so it fails.
    TlsRewrite,
}

impl Behaviour {
    /// Whether the box terminates TCP connections to port 25 (answers for the server).
    pub fn is_proxy(self) -> bool {
        matches!(self, Behaviour::Proxy | Behaviour::ProxyPass)
    }
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

/// How the server's TLS is set up (when `tls` is on).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TlsProfile {
    /// Postfix's defaults (TLS 1.0 to 1.3 offered; a modern client gets 1.3).
    #[default]
    Modern,
    /// TLS 1.0 only (as old MX hosts still run).
    #[serde(rename = "tls1.0-only")]
    Tls10Only,
    /// TLS 1.2 with CBC cipher suites only: no suite a modern client offers, so the server
    /// refuses the handshake (handshake_failure).
    CbcOnly,
}

/// The mail server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSpec {
    /// STARTTLS offered (self-signed certificate).
    #[serde(default = "yes")]
    pub tls: bool,
    /// How its TLS is set up.
    #[serde(default)]
    pub tls_profile: TlsProfile,
    /// A prefix made local on the server's lo (AnyIP), e.g. `198.18.0.0/16`.
    #[serde(default)]
    pub anyip: Option<Cidr>,
    /// A misbehaving server instead of Postfix (`reconmap-hostile-smtp`).
    #[serde(default)]
    pub hostile: Option<HostileSpec>,
    /// The server's AS (its addresses and AnyIP prefix map to it).
    #[serde(default)]
    pub asn: Option<u32>,
}

/// A hostile or odd SMTP server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostileSpec {
    pub behaviour: HostileBehaviour,
    /// The behaviour's delay (drip: per byte, slow-starttls: before the answer, ...).
    #[serde(default)]
    pub delay_ms: Option<u32>,
}

/// What the hostile server does (the names of `reconmap-hostile-smtp --behaviour`; its
/// `--help` and the lab README describe the exact bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostileBehaviour {
    /// Banner, EHLO with STARTTLS, STARTTLS -> 220, QUIT -> 221.
    Normal,
    /// Every reply one byte per `delay_ms` (default 1000).
    Drip,
    /// An endless stream of `250-` lines and very long lines after the banner.
    Flood,
    /// Accepts and never says anything.
    Mute,
    /// Normal until STARTTLS, which is acknowledged and never answered.
    MuteAfterStarttls,
    /// Answers STARTTLS only after `delay_ms` (default 1000).
    SlowStarttls,
    /// `220` to STARTTLS in the same segment as its FIN.
    #[serde(rename = "fin-with-reply-220")]
    FinWithReply220,
    /// `500 ... "XXXXXXXX"` to STARTTLS in the same segment as its FIN.
    #[serde(rename = "fin-with-reply-500")]
    FinWithReply500,
    /// `221` to QUIT with the FIN, as Exim does.
    FinWithQuit,
    /// Every reply cut into 2-4 segments at seeded positions.
    Split,
    /// The banner followed in the same segment by a malformed line `abc`.
    GarbageAfterReply,
    /// `421 4.7.0 Try again later` to EHLO, then close.
    #[serde(rename = "reply-421-to-ehlo")]
    Reply421ToEhlo,
    /// After the EHLO reply, a RST instead of a FIN.
    RstBeforeStarttls,
    /// A two-line banner whose first line is PIX-masked.
    MaskedMultilineBanner,
    /// Bidi overrides, zero-width characters, terminal escapes and invalid UTF-8 in replies.
    UnicodeTricks,
    /// EHLO without STARTTLS; STARTTLS -> `502`.
    NoStarttls,
    /// Listen backlog 1, one accept per `delay_ms`: a full accept queue (SYN cookies drop the
    /// client's handshake ACK).
    SmallBacklog,
}

impl HostileBehaviour {
    /// The name `reconmap-hostile-smtp --behaviour` takes.
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }
}

fn yes() -> bool {
    true
}

impl Default for ServerSpec {
    fn default() -> Self {
        Self {
            tls: true,
            tls_profile: TlsProfile::default(),
            anyip: None,
            hostile: None,
            asn: None,
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
    pub verdict: Verdict,
    /// TTL of the last hop whose quote still shows the original bytes (0 = the prober).
    #[serde(default)]
    pub segment_after: Option<u8>,
    /// TTL of the first hop whose quote shows the change; `None` = first sign is the server's reply.
    #[serde(default)]
    pub segment_at: Option<u8>,
    /// TTL of the first hop whose quotes carry another IP ID than the one sent (checked when
    /// given; a record saying so where the truth does not is always wrong).
    #[serde(default)]
    pub ip_id_rewritten_from: Option<u8>,
    /// TTLs (`at`) of the candidate boxes the record must list: the hops whose quotes first
    /// show a header change (checked when given).
    #[serde(default)]
    pub candidate_hops: Option<Vec<u8>>,
    /// Whose network the segment lies in, given the scenario's ASes (checked when given).
    #[serde(default)]
    pub attribution: Option<reconmap_asn::AttributionClass>,
    /// The ASes the attribution names, in the record's order (checked when given).
    #[serde(default)]
    pub attribution_asns: Option<Vec<u32>>,
}

impl std::fmt::Display for Expected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.segment_after, self.segment_at) {
            (None, _) => write!(f, "{}", self.verdict)?,
            (Some(a), Some(b)) => write!(f, "{} between hop {a} and hop {b}", self.verdict)?,
            (Some(a), None) => write!(f, "{} after hop {a}, before the server", self.verdict)?,
        }
        match self.attribution {
            Some(class) => write!(f, ", {class}"),
            None => Ok(()),
        }
    }
}

impl Scenario {
    /// The scenario `name` from [`dir`].
    pub fn builtin(name: &str) -> Result<Scenario, ScenarioError> {
        let valid = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        let path = dir().join(format!("{name}.toml"));
        if !valid || !path.exists() {
            return Err(ScenarioError::Unknown(name.to_string(), dir()));
        }
        Self::load(&path)
    }

    /// Names of the scenarios in [`dir`], sorted.
    pub fn builtin_names() -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir())
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .filter_map(|p| p.file_stem()?.to_str().map(str::to_string))
            .collect();
        names.sort();
        names
    }

    /// Every scenario in [`dir`].
    pub fn all() -> Result<Vec<Scenario>, ScenarioError> {
        Self::builtin_names()
            .iter()
            .map(|n| Self::builtin(n))
            .collect()
    }

    /// Parses and validates a scenario.
    pub fn from_toml(text: &str) -> Result<Scenario, ScenarioError> {
        let scenario: Scenario = toml::from_str(text).map_err(|source| ScenarioError::Toml {
            name: "(text)".to_string(),
            source,
        })?;
        scenario.validate()?;
        Ok(scenario)
    }

    /// Reads a scenario file; its name must be the file's stem.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        let scenario: Scenario = toml::from_str(&text).map_err(|source| ScenarioError::Toml {
            name: stem.clone(),
            source,
        })?;
        if scenario.name != stem {
            return Err(ScenarioError::Invalid(format!(
                "{}: name `{}` differs from the file name",
                path.display(),
                scenario.name
            )));
        }
        scenario.validate()?;
        Ok(scenario)
    }

    /// The server's distance in hops (TTL that reaches it).
    pub fn server_ttl(&self) -> u8 {
        u8::try_from(self.hops.len() + 1).unwrap_or(u8::MAX)
    }

    fn validate(&self) -> Result<(), ScenarioError> {
        let err = |m: String| Err(ScenarioError::Invalid(format!("{}: {m}", self.name)));
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
        if let Some(p) = self.server.anyip {
            if !plan::is_lab_prefix(&p) {
                return err(format!("anyip {p} outside the lab ranges"));
            }
        }
        let any_asn = self.prober_asn.is_some()
            || self.server.asn.is_some()
            || self.hops.iter().any(|h| h.asn.is_some());
        let wants_attribution = [Some(&self.expect), self.expect_outside.as_ref()]
            .into_iter()
            .flatten()
            .any(|e| e.attribution.is_some() || e.attribution_asns.is_some());
        if wants_attribution && !any_asn {
            return err(
                "an expected attribution needs ASes (prober_asn, hop or server asn)".into(),
            );
        }
        for (i, hop) in self.hops.iter().enumerate() {
            if let Some(p) = hop.middlebox.as_ref().and_then(|m| m.daddr) {
                if !plan::is_lab_prefix(&p) {
                    return err(format!("hop {}: daddr {p} outside the lab ranges", i + 1));
                }
            }
            if hop.mpls_labels.len() > reconmap_wire::icmp_ext::MAX_LABELS {
                return err(format!(
                    "hop {}: more than {} MPLS labels",
                    i + 1,
                    reconmap_wire::icmp_ext::MAX_LABELS
                ));
            }
            if let Some(&l) = hop
                .mpls_labels
                .iter()
                .find(|&&l| l > reconmap_wire::MplsLabel::MAX_LABEL)
            {
                return err(format!("hop {}: MPLS label {l} exceeds 20 bits", i + 1));
            }
            if let Some(q) = hop.quote_bytes {
                if !matches!(hop.router, RouterKind::Normal | RouterKind::Nat) {
                    return err(format!(
                        "hop {}: quote_bytes needs a normal or nat router",
                        i + 1
                    ));
                }
                if !(20..=548).contains(&q) {
                    return err(format!(
                        "hop {}: quote_bytes {q} outside 20..=548 (an IPv4 header at least, at most what Linux quotes)",
                        i + 1
                    ));
                }
            }
            if let Some(f) = &hop.forge {
                let from = Cidr::new(f.from, 32).filter(plan::is_lab_prefix);
                if from.is_none() {
                    return err(format!(
                        "hop {}: forge.from {} outside the lab ranges",
                        i + 1,
                        f.from
                    ));
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
mod tests;
