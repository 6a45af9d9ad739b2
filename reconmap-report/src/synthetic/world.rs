//! The synthetic Internet the records are measured on: vantage points with their access
//! networks, transit networks, and server networks, each with the boxes that tamper with SMTP.
//! Every address is from documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24,
//! 198.18.0.0/15, 2001:db8::/32) and every AS number from the documentation or private ranges.
use super::rng::Rng;

/// A router on the synthetic paths.
#[derive(Clone, Debug)]
pub struct Router {
    pub addr: String,
    pub asn: u32,
    pub as_name: String,
    /// Quotes only IP header + 8 bytes (RFC 792), so the payload is never visible.
    pub short_quote: bool,
}

/// What the box inside a vantage point's own network does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientBox {
    /// An ISP box behind one of two load-balanced routers rewrites STARTTLS.
    StripOnEcmpBranch,
    /// A campus TLS inspection proxy intercepts some connections.
    TlsInspection,
}

/// A vantage point (a prober) with the routers of its own network.
#[derive(Clone, Debug)]
pub struct VantagePoint {
    pub name: String,
    pub prober: String,
    pub asn: u32,
    pub as_name: String,
    pub v6: bool,
    /// Routers in path order; `ecmp` names an alternative for one position.
    pub routers: Vec<Router>,
    pub ecmp: Option<(usize, Router)>,
    pub client_box: Option<ClientBox>,
    /// Index of a router that rewrites the TCP checksum (a NAT): `checksum_changed` quotes.
    pub nat_at: Option<usize>,
}

/// What happens in a transit network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransitBox {
    None,
    /// A box in the forward hook of router 2 rewrites STARTTLS for some destination prefixes.
    StripSomePrefixes,
    /// A box at router 3 cuts or alters some TLS handshakes.
    TlsMeddling,
}

#[derive(Clone, Debug)]
pub struct Transit {
    pub routers: Vec<Router>,
    pub tamper: TransitBox,
}

/// What the firewall in front of a mail server does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerBox {
    None,
    /// A visible firewall hop that rewrites STARTTLS (its own quote shows it).
    StripVisible,
    /// A transparent PIX-style box: no ICMP, masks the banner, rewrites STARTTLS.
    StripTransparent,
    /// Masks the EHLO reply but lets the command through.
    MaskAdvertisement,
    /// Drops the STARTTLS segment and resets.
    BlockStarttls,
}

/// A network hosting mail servers.
#[derive(Clone, Debug)]
pub struct ServerNet {
    pub asn: u32,
    pub as_name: String,
    /// Border router (may answer no ICMP), then a visible firewall hop if any.
    pub routers: Vec<Router>,
    pub border_silent: bool,
    pub tamper: ServerBox,
    /// Cumulative weight for picking targets (a few big hosters, a long tail).
    pub cum_weight: f64,
}

pub struct World {
    pub vantages: Vec<VantagePoint>,
    pub transits: Vec<Transit>,
    pub transits_v6: Vec<Transit>,
    pub servers_v4: Vec<ServerNet>,
    pub servers_v6: Vec<ServerNet>,
}

fn router(addr: impl Into<String>, asn: u32, as_name: &str) -> Router {
    Router {
        addr: addr.into(),
        asn,
        as_name: as_name.to_string(),
        short_quote: false,
    }
}

fn vantages() -> Vec<VantagePoint> {
    let home = "Example Home Broadband";
    let cloud = "Example Cloud";
    let campus = "Example University";
    let lab = "Example IPv6 Lab";
    vec![
        VantagePoint {
            name: "home-dsl".into(),
            prober: "192.0.2.10".into(),
            asn: 64496,
            as_name: home.into(),
            v6: false,
            routers: vec![
                router("192.0.2.1", 64496, home),
                router("192.0.2.2", 64496, home),
                router("192.0.2.4", 64496, home),
            ],
            ecmp: Some((1, router("192.0.2.3", 64496, home))),
            client_box: Some(ClientBox::StripOnEcmpBranch),
            nat_at: None,
        },
        VantagePoint {
            name: "cloud-ams".into(),
            prober: "198.51.100.10".into(),
            asn: 64497,
            as_name: cloud.into(),
            v6: false,
            routers: vec![
                router("198.51.100.1", 64497, cloud),
                router("198.51.100.2", 64497, cloud),
            ],
            ecmp: None,
            client_box: None,
            nat_at: None,
        },
        VantagePoint {
            name: "campus".into(),
            prober: "203.0.113.200".into(),
            asn: 64498,
            as_name: campus.into(),
            v6: false,
            routers: vec![
                router("203.0.113.201", 64498, campus),
                router("203.0.113.202", 64498, campus),
                router("203.0.113.203", 64498, campus),
            ],
            ecmp: None,
            client_box: Some(ClientBox::TlsInspection),
            nat_at: Some(0),
        },
        VantagePoint {
            name: "lab-v6".into(),
            prober: "2001:db8:1::10".into(),
            asn: 64499,
            as_name: lab.into(),
            v6: true,
            routers: vec![
                router("2001:db8:1::1", 64499, lab),
                router("2001:db8:1::2", 64499, lab),
            ],
            ecmp: None,
            client_box: None,
            nat_at: None,
        },
    ]
}

fn transits() -> (Vec<Transit>, Vec<Transit>) {
    let defs = [
        (64500, "Example Transit One", 1, TransitBox::TlsMeddling),
        (
            64501,
            "Example Transit Two",
            33,
            TransitBox::StripSomePrefixes,
        ),
        (64502, "Example Backbone", 65, TransitBox::None),
    ];
    let v4 = defs
        .iter()
        .map(|&(asn, name, base, tamper)| {
            let mut routers: Vec<Router> = (0..4)
                .map(|i| router(format!("203.0.113.{}", base + i), asn, name))
                .collect();
            // One router per transit quotes RFC 792-short.
            if let Some(r) = routers.get_mut(1) {
                r.short_quote = asn == 64502;
            }
            Transit { routers, tamper }
        })
        .collect();
    let v6 = defs
        .iter()
        .take(2)
        .map(|&(asn, name, _, _)| Transit {
            routers: (1..=3)
                .map(|i| router(format!("2001:db8:{:x}::{i}", asn), asn, name))
                .collect(),
            tamper: TransitBox::None,
        })
        .collect();
    (v4, v6)
}

const BIG_HOSTERS: [&str; 6] = [
    "Example Mail Giant",
    "Example Webmail",
    "Example Hosting",
    "Example Telecom Mail",
    "Example Office Cloud",
    "Example Shared Hosting",
];

fn server_nets(rng: &mut Rng, count: usize, v6: bool) -> Vec<ServerNet> {
    let mut nets = Vec::with_capacity(count);
    let mut cum = 0.0;
    for i in 0..count {
        let asn = if v6 { 64900 } else { 64512 } + u32::try_from(i).unwrap_or(0);
        let as_name = match BIG_HOSTERS.get(i) {
            Some(n) if !v6 => (*n).to_string(),
            _ => format!("Example Mail Host {asn}"),
        };
        let tamper = match rng.below(100) {
            0..=3 => ServerBox::StripTransparent,
            4..=5 => ServerBox::StripVisible,
            6..=7 => ServerBox::MaskAdvertisement,
            8..=9 => ServerBox::BlockStarttls,
            _ => ServerBox::None,
        };
        let border = if v6 {
            router(format!("2001:db8:{:x}::1", 0x100 + i), asn, &as_name)
        } else {
            router(format!("198.18.{}.{}", i / 250, i % 250 + 1), asn, &as_name)
        };
        let mut routers = vec![border];
        if tamper == ServerBox::StripVisible || rng.chance(0.3) {
            let fw = if v6 {
                router(format!("2001:db8:{:x}::2", 0x100 + i), asn, &as_name)
            } else {
                router(
                    format!("198.18.{}.{}", 8 + i / 250, i % 250 + 1),
                    asn,
                    &as_name,
                )
            };
            routers.push(fw);
        }
        // Rank-based weights: the first networks host most of the targets.
        let rank = f64::from(u32::try_from(i).unwrap_or(u32::MAX)) + 1.0;
        cum += 1.0 / rank.powf(0.9);
        nets.push(ServerNet {
            asn,
            as_name,
            routers,
            border_silent: tamper == ServerBox::StripTransparent && rng.chance(0.5),
            tamper,
            cum_weight: cum,
        });
    }
    nets
}

impl World {
    pub fn new(rng: &mut Rng) -> Self {
        let (transits, transits_v6) = transits();
        World {
            vantages: vantages(),
            transits,
            transits_v6,
            servers_v4: server_nets(rng, 240, false),
            servers_v6: server_nets(rng, 20, true),
        }
    }

    /// A server network, weighted by size.
    pub fn pick_server(&self, rng: &mut Rng, v6: bool) -> usize {
        let nets = if v6 {
            &self.servers_v6
        } else {
            &self.servers_v4
        };
        let total = nets.last().map_or(1.0, |n| n.cum_weight);
        let x = rng.unit() * total;
        nets.iter()
            .position(|n| n.cum_weight >= x)
            .unwrap_or(nets.len().saturating_sub(1))
    }
}
