//! What a trace observed: the records that the engine fills in and the verdict reads.
//!
//! These types are the boundary between the wire layer (which produces [`QuoteDiff`]s), the
//! engine (which assembles an [`Evidence`] per session) and the verdict/report layers, which
//! read it. Evidence flows one way: session -> [`Evidence`] -> `verdict::decide` / `Report`.
use crate::smtp::SmtpObservations;
use reconmap_wire::TimeToLive;
pub use reconmap_wire::{FieldChange, IcmpKind, PayloadStatus, QuoteDiff};
use serde::Serialize;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, SystemTime};

/// A hop named by a segment: its TTL (0 = the prober) and address when known.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct HopRef {
    pub ttl: TimeToLive,
    pub addr: Option<Ipv4Addr>,
}

/// What the interception check (`engine::intercept`) found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InterceptionCheck {
    /// Not run (disabled, no connection, no source port for its flows); the text says why.
    NotChecked(String),
    /// Port 25 is answered where the target is: the text says how that was seen.
    NotIntercepted(String),
    /// The measurements did not tell (silent routers, no answers); the text says what lacked.
    Undetermined(String),
    Intercepted(Interception),
}

/// A TCP connection to port 25 that ends before the target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interception {
    /// The other port of the target whose SYNs the proxy does not take.
    pub alt_port: u16,
    /// The TTL at which a SYN to port 25 was answered in the target's name while a SYN to
    /// `alt_port` with the same TTL expired at a router: the proof.
    pub answered_at: TimeToLive,
    /// The hop where the connection ends (the first TTL where the alt SYN expired at a router
    /// and the port-25 SYN did not), and the hop below it.
    pub after: HopRef,
    pub at: HopRef,
    /// Routers that answered alt SYNs from `at` on: the path goes on past the proxy.
    pub routers_beyond: Vec<(TimeToLive, Ipv4Addr)>,
    /// The TTL from which the target itself answers `alt_port` (one past the last router that
    /// answered), when it answered at all.
    pub target_reached_at: Option<TimeToLive>,
    /// The IP TTL of the target's answer on `alt_port` (its distance by the usual initial TTLs).
    pub target_answer_ttl: Option<TimeToLive>,
}

/// One row of the TTL sweep.
///
/// The output form of a hop is `report::HopOut`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HopRecord {
    pub ttl: TimeToLive,
    /// Source address of the ICMP error (the router), if any answered.
    pub addr: Option<Ipv4Addr>,
    /// Probe send to ICMP arrival.
    pub rtt: Option<Duration>,
    /// The kind of ICMP error that answered.
    pub icmp: Option<IcmpKind>,
    /// How many probes were sent for this TTL (1 + retries used).
    pub attempts: u8,
    /// The diff of the quote, `None` when nothing answered.
    pub diff: Option<QuoteDiff>,
    /// Not probed for this target: taken from what other targets of the run saw at this TTL
    /// (Doubletree-style reuse of the hops near the prober, see `engine::near_hops`).
    pub shared: bool,
    /// Later answers to the same probes that disagree with the first (another source or
    /// another payload status): one of them is forged or misattributed, so none is evidence.
    pub conflicts: Vec<ConflictingAnswer>,
    /// How the answer was tied to its probe (`None` when nothing answered).
    pub matched_by: Option<ProbeMatch>,
    /// The answer to the control segment sent to this TTL (see [`ControlAnswer`]), if one was
    /// sent and answered.
    pub control: Option<ControlAnswer>,
    /// Control segments sent to this TTL.
    pub control_attempts: u8,
    /// For a `checksum_changed` hop: the rewritten command the server echoed (`XXXXXXXX`) when
    /// it gives exactly the quoted checksum (the inference is then confirmed).
    pub checksum_confirmed_by: Option<Vec<u8>>,
    /// RFC 4884 extensions (MPLS label stack, interface information) of the answer the hop is
    /// based on.
    pub extensions: reconmap_wire::IcmpExtensions,
}

/// How an ICMP answer was tied to the probe it quotes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeMatch {
    /// The quoted IP ID is the probe's.
    IpId,
    /// The quoted IP ID is no probe's (rewritten on the way), the quoted TCP timestamp value
    /// (distinct per probe) is this probe's.
    TcpTimestamp,
    /// The quote shows neither: the probe was the only one outstanding on the flow (sent one
    /// at a time after the IP IDs were seen rewritten).
    Sequential,
}

/// What answered a control segment: a segment on the probe flow with the STARTTLS segment's
/// length but no command in it (a copy of bytes the server already acknowledged), sent to a
/// TTL that stayed silent for STARTTLS. A hop that answers the control but never the STARTTLS
/// segment is alive and on the path, but the STARTTLS segment never reached it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControlAnswer {
    pub addr: Ipv4Addr,
    pub rtt: Option<Duration>,
    pub icmp: IcmpKind,
}

/// An answer that disagrees with a hop's first answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConflictingAnswer {
    pub addr: Ipv4Addr,
    pub payload: PayloadStatus,
}

impl HopRecord {
    /// A TTL that was not answered (yet): no address, no quote, no attempts.
    pub fn silent(ttl: TimeToLive) -> Self {
        Self {
            ttl,
            addr: None,
            rtt: None,
            icmp: None,
            attempts: 0,
            diff: None,
            shared: false,
            conflicts: Vec::new(),
            matched_by: None,
            control: None,
            control_attempts: 0,
            checksum_confirmed_by: None,
            extensions: reconmap_wire::IcmpExtensions::default(),
        }
    }

    /// The hop's payload status as evidence: `None` when no quote came back, or when the
    /// hop's answers conflict.
    pub fn payload(&self) -> PayloadStatus {
        if !self.conflicts.is_empty() {
            return PayloadStatus::None;
        }
        self.diff
            .as_ref()
            .map_or(PayloadStatus::None, |d| d.payload.clone())
    }

    /// Whether the hop's answers disagree.
    pub fn is_conflicting(&self) -> bool {
        !self.conflicts.is_empty()
    }
}

/// A RST that arrived on the probe flow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RstRecord {
    /// IP TTL of the RST as received; an injected RST often differs from the server's segments.
    pub ttl: TimeToLive,
    /// IP TTL the server's own segments arrived with (SYN/ACK), for comparison.
    pub server_ttl: Option<TimeToLive>,
    /// The hop it was sent from, estimated from its TTL and the usual initial TTLs (64, 128,
    /// 255): the TTL that would reach its sender.
    pub sent_from_hop: TimeToLive,
    /// Whether it came after the STARTTLS command was sent.
    pub after_starttls: bool,
    /// Whether it came after the ClientHello was sent.
    pub after_client_hello: bool,
    #[serde(serialize_with = "serialize_ms", rename = "at_ms")]
    pub at: Duration,
}

/// How the TCP connection went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectOutcome {
    /// SYN/ACK received, handshake complete.
    Established,
    /// The SYN was answered with RST (port closed or a filter).
    Refused,
    /// No answer to the SYN after all retransmissions.
    TimedOut,
    /// An ICMP unreachable answered the SYN.
    Unreachable,
}

/// Connection-level evidence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TcpObservations {
    pub connect: ConnectOutcome,
    /// IP TTL of the server's SYN/ACK as received.
    pub server_ttl: Option<TimeToLive>,
    /// Estimated hop distance to the server: the TTL that reaches it, from `server_ttl` and the
    /// nearest common initial TTL.
    pub server_distance: Option<TimeToLive>,
    pub rsts: Vec<RstRecord>,
    /// The STARTTLS segment was never acknowledged (after retransmissions).
    pub starttls_unacked: bool,
    /// The peer closed (FIN) before answering STARTTLS.
    pub closed_by_peer: bool,
    /// Duplicate ACKs sent because no banner came after the handshake (a full accept queue at
    /// the server drops the handshake's ACK).
    pub ack_retransmits: u8,
}

fn serialize_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(millis(*d))
}

/// A duration in milliseconds, rounded to the microsecond (how every time is output).
pub fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// Bytes as text with non-printables escaped (`XXXXXXXX\r\n`): how quoted payloads are shown
/// everywhere (report, evidence lines).
pub fn escape_bytes(b: &[u8]) -> String {
    b.iter()
        .flat_map(|&c| std::ascii::escape_default(c))
        .map(char::from)
        .collect()
}

/// Milestones of a session, from its start (for the report and the time-to-verdict benchmark).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timeline {
    pub established: Option<Duration>,
    pub sweep_started: Option<Duration>,
    pub verdict: Option<Duration>,
    pub done: Option<Duration>,
}

/// Why a record does not hold a complete trace. Such targets are probed again by `--resume`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Incomplete {
    /// The run was aborted (second signal) before this session's evidence was complete.
    Interrupted(String),
    /// The target was never probed; the text says why.
    NotProbed(String),
    /// The session hit a bug in ReconMap (a panic, caught); the text is the panic message.
    InternalError(String),
}

/// Everything one session observed: what the verdict and the report are made from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evidence {
    pub target: SocketAddrV4,
    pub prober: Ipv4Addr,
    pub started_at: SystemTime,
    pub timeline: Timeline,
    pub hops: Vec<HopRecord>,
    pub smtp: SmtpObservations,
    pub tcp: TcpObservations,
    pub errors: Vec<String>,
    /// ICMP errors that quoted this flow but no probe of the sweep.
    pub unmatched_icmp: u32,
    /// Set when the trace is not complete (see [`Incomplete`]).
    pub incomplete: Option<Incomplete>,
    /// Whether the connection to port 25 really ends at the target.
    pub interception: InterceptionCheck,
    /// The TLS handshake after `220`, when one was attempted.
    pub tls: Option<TlsEvidence>,
    /// Why no TLS handshake was attempted after a `220` (`--no-tls`, ...), when not.
    pub tls_skipped: Option<String>,
}

/// What the TLS stage saw: the handshake and the ClientHello's sweep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsEvidence {
    pub observations: reconmap_tls::TlsObservations,
    /// The ClientHello segment's sweep, one record per TTL (as `Evidence::hops` for STARTTLS).
    pub hops: Vec<HopRecord>,
    pub unmatched_icmp: u32,
    /// The payload of the segment that carried the start of the ClientHello.
    pub client_hello: Vec<u8>,
    /// Why the ClientHello was not swept, when it was not.
    pub sweep_skipped: Option<String>,
    /// The server sent anything after the ClientHello.
    pub server_spoke: bool,
    /// The server acknowledged the ClientHello.
    pub hello_acked: bool,
    /// The server closed the connection (FIN) before the handshake was over.
    pub server_closed: bool,
    /// The server's reply to `QUIT` inside TLS (first line, escaped).
    pub quit_reply: Option<String>,
    pub errors: Vec<String>,
}

impl Evidence {
    /// The evidence of a target that could not be probed, or whose session failed before it
    /// could say anything: nothing observed, and why.
    pub fn empty(
        target: SocketAddrV4,
        prober: Ipv4Addr,
        started_at: SystemTime,
        incomplete: Incomplete,
    ) -> Self {
        Self {
            target,
            prober,
            started_at,
            timeline: Timeline::default(),
            hops: Vec::new(),
            smtp: SmtpObservations::default(),
            tcp: TcpObservations {
                connect: ConnectOutcome::TimedOut,
                server_ttl: None,
                server_distance: None,
                rsts: Vec::new(),
                starttls_unacked: false,
                closed_by_peer: false,
                ack_retransmits: 0,
            },
            errors: Vec::new(),
            unmatched_icmp: 0,
            incomplete: Some(incomplete),
            interception: InterceptionCheck::NotChecked("not probed".to_string()),
            tls: None,
            tls_skipped: None,
        }
    }
}
