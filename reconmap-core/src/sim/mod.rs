//! A simulated network for the engine, built from a scenario file (the same file the namespace
//! lab builds for real): routers that expire TTLs and quote the packet as it arrived there
//! (whole, header-only or not at all), the scenario's boxes (mailguard, EHLO masking, drop,
//! reset, the TLS boxes) in their hook, per-link delay and loss, and a server that speaks like
//! the lab's Postfix, TLS included (per the scenario's `tls_profile`). It implements [`Transport`], so the real engine runs on it, in virtual time:
//! every scenario is checked in plain `cargo test`, deterministically and in milliseconds.
//!
//! What it does not model (the lab does): real TCP stacks' corner cases, checksum offloads,
//! ICMP rate limits (`icmp_ratelimit` is ignored), and NAT (a NAT hop is transparent here, as
//! conntrack makes it for the prober in the lab).
mod path;
mod run;
mod server;
mod tls_server;

pub use run::{run, Stop};

use crate::engine::transport::{Arrival, Transport, TransportError};
use crate::scenario::server_text::{ServerText, HOSTNAME};
use crate::scenario::Scenario;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reconmap_wire::FlowAddrs;
use server::ServerConn;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// Something on its way.
#[derive(Debug)]
enum Event {
    /// A datagram reaching the prober's interface.
    ToProber(Vec<u8>),
    /// A datagram reaching the server, or (`proxy_hop`) the interception proxy on that router.
    ToServer {
        proxy_hop: Option<usize>,
        data: Vec<u8>,
    },
}

/// Counters of what the simulated network did (for tests).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Datagrams the prober sent.
    pub sent: u64,
    /// ICMP Time Exceeded messages the routers sent.
    pub icmp: u64,
    /// Datagrams lost on links.
    pub lost: u64,
    /// Segments that reached the server.
    pub at_server: u64,
    /// RSTs the server received (our aborts).
    pub rsts_at_server: u64,
    /// Connections the server saw closed by FIN or RST from the client.
    pub closed: u64,
    /// Highest number of flows registered at once.
    pub max_registered: usize,
    /// Handshake ACKs a full accept queue dropped (`small-backlog`).
    pub acks_dropped: u64,
    /// Forged ICMP errors sent by forging routers.
    pub forged: u64,
    /// SYNs to a port the server does not listen on (answered with RST).
    pub closed_port_resets: u64,
    /// Segments the server dropped because their TCP timestamp went back (PAWS).
    pub paws_rejected: u64,
    /// TLS handshakes the server completed.
    pub tls_handshakes: u64,
    /// RSTs the server sent for data reaching a socket it had closed (after TLS ended).
    pub resets_from_closed_socket: u64,
    /// ClientHello segments a TLS box dropped (`tls-drop`, `tls-reset`).
    pub tls_hellos_dropped: u64,
    /// ClientHello segments whose first cipher suite a `tls-rewrite` box replaced.
    pub tls_hellos_rewritten: u64,
}

/// The simulated network of one scenario.
pub struct SimNet {
    scenario: Scenario,
    /// One-way delay of one link.
    link: Duration,
    loss: f64,
    now: Instant,
    events: BTreeMap<(Instant, u64), Event>,
    seq: u64,
    arrived: VecDeque<Arrival>,
    registered: HashSet<FlowAddrs>,
    capacity: usize,
    /// Server side connections, by the flow as the prober names it.
    conns: HashMap<FlowAddrs, ServerConn>,
    model: server::Model,
    /// The server's TLS certificate and configuration (when it offers STARTTLS).
    tls_setup: Option<tls_server::TlsSetup>,
    rng: StdRng,
    /// The forging routers' generator (as `reconmap-icmp-forge --seed 1`).
    forge_rng: crate::seeded::SeededRng,
    /// Sequence-randomising boxes' offsets, by hop and flow (as the client names it).
    seq_offsets: HashMap<(usize, FlowAddrs), u32>,
    stats: SimStats,
}

impl SimNet {
    /// The scenario's network, with room for `capacity` registered flows; `seed` drives loss
    /// and the server's initial sequence numbers.
    pub fn new(scenario: &Scenario, capacity: usize, seed: u64) -> Self {
        Self {
            link: Duration::from_millis(u64::from(scenario.link.delay_ms)),
            loss: f64::from(scenario.link.loss_percent) / 100.0,
            model: match &scenario.server.hostile {
                Some(h) => server::Model::Hostile(h.clone()),
                None => server::Model::Postfix(
                    ServerText::new(HOSTNAME, scenario.server.tls),
                    scenario.server.tls_profile,
                ),
            },
            tls_setup: scenario
                .server
                .tls
                .then(|| {
                    tls_server::TlsSetup::load()
                        .map_err(|e| log::error!("simulated TLS server: {e}"))
                        .ok()
                })
                .flatten(),
            scenario: scenario.clone(),
            now: Instant::now(),
            events: BTreeMap::new(),
            seq: 0,
            arrived: VecDeque::new(),
            registered: HashSet::new(),
            capacity: capacity.max(1),
            conns: HashMap::new(),
            rng: StdRng::seed_from_u64(seed),
            forge_rng: crate::seeded::SeededRng::new(1),
            seq_offsets: HashMap::new(),
            stats: SimStats::default(),
        }
    }

    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    pub fn stats(&self) -> &SimStats {
        &self.stats
    }

    /// Connections the server still holds open (not closed by FIN or RST from the client).
    pub fn open_connections(&self) -> usize {
        self.conns.values().filter(|c| c.is_open()).count()
    }

    /// The round-trip time to the server (without processing time).
    pub fn rtt(&self) -> Duration {
        self.link * 2 * u32::try_from(self.scenario.hops.len() + 1).unwrap_or(u32::MAX)
    }

    /// When the next packet arrives somewhere.
    pub fn next_event(&self) -> Option<Instant> {
        self.events.keys().next().map(|(t, _)| *t)
    }

    /// Moves the clock to `t` (never backwards), delivering everything due by then.
    pub fn advance_to(&mut self, t: Instant) {
        while let Some(entry) = self.events.first_entry() {
            if entry.key().0 > t {
                break;
            }
            let ((at, _), event) = entry.remove_entry();
            self.now = self.now.max(at);
            match event {
                Event::ToProber(data) => self.arrived.push_back(Arrival { at, data }),
                Event::ToServer { proxy_hop, data } => self.at_server(&data, proxy_hop),
            }
        }
        self.now = self.now.max(t);
    }

    fn schedule(&mut self, at: Instant, event: Event) {
        self.seq += 1;
        self.events.insert((at, self.seq), event);
    }

    /// Whether a datagram is lost on one link.
    fn lost(&mut self) -> bool {
        let lost = self.loss > 0.0 && self.rng.gen_bool(self.loss.min(1.0));
        self.stats.lost += u64::from(lost);
        lost
    }

    /// The server's address as the scenario defines which addresses it answers on.
    fn serves(&self, addr: Ipv4Addr) -> bool {
        self.scenario.serves(addr)
    }
}

impl Transport for SimNet {
    fn register(&mut self, flow: FlowAddrs) -> Result<(), TransportError> {
        if self.registered.len() >= self.capacity && !self.registered.contains(&flow) {
            return Err(TransportError::Full);
        }
        self.registered.insert(flow);
        self.stats.max_registered = self.stats.max_registered.max(self.registered.len());
        Ok(())
    }

    fn unregister(&mut self, flow: FlowAddrs) {
        self.registered.remove(&flow);
    }

    fn send(&mut self, datagram: &[u8], _dst: Ipv4Addr) -> Result<(), TransportError> {
        self.stats.sent += 1;
        self.carry_from_prober(datagram.to_vec());
        Ok(())
    }

    fn recv(&mut self, out: &mut Vec<Arrival>, max: usize) -> usize {
        let mut n = 0;
        while n < max {
            let Some(a) = self.arrived.pop_front() else {
                break;
            };
            // Like the eBPF capture: only packets of registered flows reach the prober.
            if self.is_captured(&a.data) {
                out.push(a);
                n += 1;
            }
        }
        n
    }

    fn capacity(&self) -> usize {
        self.capacity
    }

    fn now(&self) -> Instant {
        self.now
    }
}

#[cfg(test)]
mod hostile_tests;
#[cfg(test)]
mod property_tests;
#[cfg(test)]
pub(crate) mod tests;
#[cfg(test)]
mod tls_tests;
