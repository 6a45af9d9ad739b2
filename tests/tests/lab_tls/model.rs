//! What the lab's configuration (the scenario's hops and server, not its stated truth) says
//! happens to one target's TLS: where a TLS box sits and what it does to the ClientHello, how
//! the server's TLS is set up. The checks compare real observations with this and with the
//! truth.
use std::net::Ipv4Addr;

use reconmap_lab::scenario::{Behaviour, Placement, Scenario, TlsProfile};

/// The IP TTL the lab's hosts and boxes send with.
pub const HOST_TTL: u8 = 64;

/// A TLS box on the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlsBox {
    pub hop: u8,
    pub behaviour: Behaviour,
    pub placement: Placement,
}

/// What a router's Time Exceeded shows of a ClientHello whose TTL ran out there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// The ClientHello as sent.
    Intact,
    /// The ClientHello with its first cipher suite replaced (and the TCP checksum fixed).
    Rewritten,
    /// No quote: the segment died at a box before this hop.
    Gone,
}

/// How a client like ReconMap's (TLS 1.2-1.3, AEAD) fares, by the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handshake {
    Completes,
    /// The ClientHello never arrives and nothing comes back: the client waits.
    Hangs,
    /// The connection is reset, by a RST with this IP TTL on arrival.
    Reset {
        rst_ttl: u8,
    },
    /// The server answers (ServerHello) and the handshake fails.
    FailsAfterServerHello,
    /// The server refuses the ClientHello with this fatal alert.
    ServerAlert(u8),
}

/// The path toward one target, as far as TLS goes.
#[derive(Debug, Clone)]
pub struct TlsPath {
    /// Routers.
    pub n: u8,
    pub tls_box: Option<TlsBox>,
    /// The server's TLS set-up (`None`: no STARTTLS).
    pub profile: Option<TlsProfile>,
}

impl TlsPath {
    /// The model of `scenario`'s path toward `target`. Panics on what this test does not
    /// model: a non-TLS box acting on the target (its truth is not about TLS), two TLS boxes,
    /// a hostile server.
    pub fn new(scenario: &Scenario, target: Ipv4Addr) -> TlsPath {
        assert!(
            scenario.server.hostile.is_none(),
            "{}: a hostile server never speaks TLS",
            scenario.name
        );
        let mut m = TlsPath {
            n: u8::try_from(scenario.hops.len()).expect("hops"),
            tls_box: None,
            profile: scenario.server.tls.then_some(scenario.server.tls_profile),
        };
        for (i, hop) in scenario.hops.iter().enumerate() {
            let Some(mb) = hop.middlebox.as_ref().filter(|mb| mb.applies_to(target)) else {
                continue;
            };
            assert!(
                matches!(
                    mb.behaviour,
                    Behaviour::TlsDrop | Behaviour::TlsReset | Behaviour::TlsRewrite
                ),
                "{}: {:?} acts on {target}: not modelled here",
                scenario.name,
                mb.behaviour
            );
            assert!(m.tls_box.is_none(), "{}: two TLS boxes", scenario.name);
            m.tls_box = Some(TlsBox {
                hop: u8::try_from(i + 1).expect("hop"),
                behaviour: mb.behaviour,
                placement: mb.placement,
            });
        }
        m
    }

    /// The first TTL whose ClientHello meets the box before it expires (forward: the box's
    /// router forwards it first; prerouting: the box sees it before the router's TTL check).
    pub fn first_affected_ttl(&self) -> Option<u8> {
        self.tls_box.map(|b| match b.placement {
            Placement::Forward => b.hop + 1,
            Placement::Prerouting => b.hop,
        })
    }

    /// What the Time Exceeded from router `ttl` (1..=n) shows of the ClientHello.
    pub fn fate(&self, ttl: u8) -> Fate {
        match (self.tls_box, self.first_affected_ttl()) {
            (Some(b), Some(first)) if ttl >= first => match b.behaviour {
                Behaviour::TlsRewrite => Fate::Rewritten,
                _ => Fate::Gone,
            },
            _ => Fate::Intact,
        }
    }

    /// The IP TTL on arrival of a RST the box sends (from its router, `HOST_TTL`).
    pub fn box_rst_ttl(&self) -> Option<u8> {
        self.tls_box
            .filter(|b| b.behaviour == Behaviour::TlsReset)
            .map(|b| HOST_TTL - (b.hop - 1))
    }

    /// How a modern client's handshake ends.
    pub fn modern_handshake(&self) -> Handshake {
        if let Some(b) = self.tls_box {
            return match b.behaviour {
                Behaviour::TlsDrop => Handshake::Hangs,
                Behaviour::TlsReset => Handshake::Reset {
                    rst_ttl: self.box_rst_ttl().unwrap_or_default(),
                },
                _ => Handshake::FailsAfterServerHello,
            };
        }
        match self.profile {
            Some(TlsProfile::Tls10Only) => Handshake::ServerAlert(PROTOCOL_VERSION),
            Some(TlsProfile::CbcOnly) => Handshake::ServerAlert(HANDSHAKE_FAILURE),
            _ => Handshake::Completes,
        }
    }
}

/// TLS alert descriptions.
pub const HANDSHAKE_FAILURE: u8 = 40;
pub const PROTOCOL_VERSION: u8 = 70;
