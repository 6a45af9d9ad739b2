//! What the lab's configuration (the scenario's hops, not its stated truth) says happens to
//! one target's STARTTLS segment and replies: where the segment ends, which boxes change what.
//! The checks compare real observations with this and with the truth.
use std::net::Ipv4Addr;

use reconmap_lab::scenario::{Behaviour, ForgeSpec, Placement, RouterKind, Scenario};

/// Where the client's STARTTLS segment ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// It reaches the server.
    Server,
    /// A box on this hop drops it.
    Drop(u8, Placement),
    /// A box on this hop resets both ends and drops it.
    Reset(u8, Placement),
    /// A proxy on this hop terminates TCP (`pass`: relays STARTTLS).
    Proxy { hop: u8, pass: bool },
}

/// The path toward one target.
#[derive(Debug, Clone)]
pub struct PathModel {
    /// Routers.
    pub n: u8,
    pub routers: Vec<RouterKind>,
    /// Quote lengths set per hop (`quote_bytes`).
    pub quote_bytes: Vec<Option<u16>>,
    pub ending: Ending,
    /// Hops (with placement) of sequence-randomising boxes acting on this target.
    pub seq_boxes: Vec<(u8, Placement)>,
    /// A mailguard acts on this target's traffic.
    pub mailguard: bool,
    /// An EHLO masker acts on it.
    pub ehlo_mask: bool,
    /// Forging routers (hop, spec).
    pub forgers: Vec<(u8, ForgeSpec)>,
}

impl PathModel {
    /// The model of `scenario`'s path toward `target`. Panics on combinations this test does
    /// not model (a box beyond a proxy acts on the proxy's own connection).
    pub fn new(scenario: &Scenario, target: Ipv4Addr) -> PathModel {
        let n = u8::try_from(scenario.hops.len()).expect("hops");
        let mut m = PathModel {
            n,
            routers: scenario.hops.iter().map(|h| h.router).collect(),
            quote_bytes: scenario.hops.iter().map(|h| h.quote_bytes).collect(),
            ending: Ending::Server,
            seq_boxes: Vec::new(),
            mailguard: false,
            ehlo_mask: false,
            forgers: Vec::new(),
        };
        for (i, hop) in scenario.hops.iter().enumerate() {
            let k = u8::try_from(i + 1).expect("hop");
            if let Some(f) = &hop.forge {
                m.forgers.push((k, f.clone()));
            }
            let Some(mb) = hop.middlebox.as_ref().filter(|mb| mb.applies_to(target)) else {
                continue;
            };
            assert!(
                matches!(m.ending, Ending::Server),
                "{}: a box beyond where the segment ends is not modelled",
                scenario.name
            );
            match mb.behaviour {
                Behaviour::Mailguard => m.mailguard = true,
                Behaviour::EhloMask => m.ehlo_mask = true,
                Behaviour::Drop => m.ending = Ending::Drop(k, mb.placement),
                Behaviour::Reset => m.ending = Ending::Reset(k, mb.placement),
                Behaviour::SeqRandomise => m.seq_boxes.push((k, mb.placement)),
                // TLS boxes let STARTTLS through untouched (their truth is about the
                // ClientHello, checked with openssl).
                Behaviour::RewriteIpId
                | Behaviour::TlsDrop
                | Behaviour::TlsReset
                | Behaviour::TlsRewrite => {}
                Behaviour::Proxy | Behaviour::ProxyPass => {
                    assert!(
                        !m.mailguard && !m.ehlo_mask && m.seq_boxes.is_empty(),
                        "{}: boxes before a proxy are not modelled",
                        scenario.name
                    );
                    m.ending = Ending::Proxy {
                        hop: k,
                        pass: mb.behaviour == Behaviour::ProxyPass,
                    };
                }
            }
        }
        m
    }

    /// The last TTL at which the STARTTLS segment can still expire in transit (draw a Time
    /// Exceeded); beyond it the segment ends (server, box or proxy).
    pub fn last_quoting_ttl(&self) -> u8 {
        match self.ending {
            Ending::Server => self.n,
            Ending::Drop(k, Placement::Forward) | Ending::Reset(k, Placement::Forward) => k,
            Ending::Drop(k, Placement::Prerouting) | Ending::Reset(k, Placement::Prerouting) => {
                k - 1
            }
            Ending::Proxy { hop, .. } => hop - 1,
        }
    }

    /// The hop where the client's TCP connection ends (n+1 = the server).
    pub fn tcp_end(&self) -> u8 {
        match self.ending {
            Ending::Proxy { hop, .. } => hop,
            _ => self.n + 1,
        }
    }

    /// Whether a quote from hop `ttl` shows a sequence number changed by a box.
    pub fn seq_changed_at(&self, ttl: u8) -> bool {
        self.seq_boxes.iter().any(|&(k, p)| match p {
            Placement::Forward => ttl > k,
            Placement::Prerouting => ttl >= k,
        })
    }

    /// The quote length set for the router at TTL `ttl`, if any.
    pub fn quote_bytes(&self, ttl: u8) -> Option<u16> {
        self.quote_bytes
            .get(usize::from(ttl).checked_sub(1)?)
            .copied()
            .flatten()
    }

    /// The router at TTL `ttl` (1-based), if any.
    pub fn router(&self, ttl: u8) -> Option<RouterKind> {
        self.routers.get(usize::from(ttl).checked_sub(1)?).copied()
    }

    /// Whether forged errors for a segment with this TTL may come from `from` (a forger on a
    /// hop the segment passed).
    pub fn may_forge(&self, ttl: u8, from: Ipv4Addr) -> bool {
        self.forgers.iter().any(|(k, f)| f.from == from && ttl > *k)
    }
}
