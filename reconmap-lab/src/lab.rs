//! A running lab: prober — r1 … rn — server, each its own namespace, joined by veth pairs.
//!
//! Addressing follows the scenario's plan (`reconmap_core::scenario::plan`), shared with the
//! simulator: link `i` joins node `i` (its `east` interface) and node `i+1` (its `west`), the
//! server answers on `192.0.2.25` (on its lo) and, with AnyIP, on a whole prefix; a router sends
//! its ICMP errors from its `west` address.
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use serde::{Deserialize, Serialize};

use crate::boxes::{start_helper, start_lsr, LsrSpec, RunningBox};
use crate::hop_plan::{hop_helpers, DELAY_QUEUE};
use crate::netns::{self, Netns};
use crate::nft;
use crate::postfix::{self, Postfix};
use crate::LabError;
use reconmap_core::scenario::plan::{link_addr, link_net};
use reconmap_core::scenario::server_text::{ServerText, HOSTNAME};
use reconmap_core::scenario::{Expected, RouterKind, Scenario};

pub use reconmap_core::scenario::plan::SERVER_ADDR;
/// Interface toward the server on every node but the server.
pub const EAST_IF: &str = "east";
/// Interface toward the prober on every node but the prober.
pub const WEST_IF: &str = "west";
/// The MPLS LSR box's queue (`reconmap-middlebox --mpls-labels`; see `hop_plan` for the others).
const MPLS_QUEUE: u16 = 4;
/// Routing table of the short-quote policy route.
const SHORT_QUOTE_TABLE: &str = "100";
/// Prefixes the prober can reach (all via r1); nothing else is routed.
const LAB_PREFIXES: &[&str] = &["198.51.100.0/24", "192.0.2.0/24", "198.18.0.0/15"];

static NEXT_DIR: AtomicU32 = AtomicU32::new(0);

fn bad_hops() -> LabError {
    LabError::Build("too many hops for the link plan".into())
}

/// A lab brought up from a scenario; dropping it tears down everything it made.
#[derive(Debug)]
pub struct Lab {
    scenario: Scenario,
    postfix: Option<Postfix>,
    /// prober, r1..rn, server.
    nodes: Vec<Netns>,
    temp_dir: Option<PathBuf>,
    /// The scenario's prefix-to-AS table, written in `temp_dir` when it gives ASes.
    asn_db: Option<PathBuf>,
    /// Helper processes with their iptables rules: `reconmap-delay` shaping the links (this
    /// kernel has no `sch_netem`), `reconmap-middlebox` for NFQUEUE boxes (reset, IP ID
    /// rewriting, sequence randomising, quote truncation, MPLS LSRs), `reconmap-proxy` for
    /// interception proxies, `reconmap-icmp-forge` on forging routers, `reconmap-hostile-smtp`
    /// as a hostile server.
    helpers: Vec<RunningBox>,
}

/// What `lab up` leaves on disk for `lab status`, `lab exec` and `lab down`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabState {
    /// The scenario the lab runs.
    pub scenario: Scenario,
    /// The prober's namespace (for `ip netns exec`).
    pub prober: String,
    /// The prober's address.
    pub prober_addr: Ipv4Addr,
    /// The prober's interface.
    pub prober_iface: String,
    /// The representative target.
    pub target: SocketAddrV4,
    /// Every namespace of the lab, prober first.
    pub namespaces: Vec<String>,
    /// Postfix config directory.
    pub postfix_dir: Option<PathBuf>,
    /// Temp directory to remove.
    pub temp_dir: Option<PathBuf>,
    /// The scenario's prefix-to-AS table (`reconmap --asn-db`), when it gives ASes.
    #[serde(default)]
    pub asn_db: Option<PathBuf>,
}

/// What `Lab::down` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DownReport {
    /// Persisted labs torn down (scenario names).
    pub labs: Vec<String>,
    /// Namespaces deleted.
    pub namespaces: Vec<String>,
    /// Postfix instances stopped (config dirs).
    pub postfix_stopped: Vec<PathBuf>,
    /// Temp directories removed.
    pub dirs_removed: Vec<PathBuf>,
    /// Steps that failed (the rest went on).
    pub errors: Vec<String>,
}

impl Lab {
    /// Builds the scenario's namespaces, links, routes, rules and starts its Postfix.
    /// On error, everything made so far is torn down.
    pub fn up(scenario: &Scenario) -> Result<Lab, LabError> {
        let n = scenario.hops.len();
        link_addr(n, true).ok_or_else(bad_hops)?;
        let mut lab = Lab {
            scenario: scenario.clone(),
            postfix: None,
            nodes: Vec::with_capacity(n + 2),
            temp_dir: None,
            asn_db: None,
            helpers: Vec::new(),
        };
        lab.nodes.push(Netns::create("prober")?);
        for k in 1..=n {
            lab.nodes.push(Netns::create(&format!("r{k}"))?);
        }
        lab.nodes.push(Netns::create("server")?);
        for (i, pair) in lab.nodes.windows(2).enumerate() {
            let [west, east] = pair else { continue };
            netns::veth(west, EAST_IF, east, WEST_IF)?;
            let _ = i;
        }
        for (i, node) in lab.nodes.iter().enumerate() {
            node.run_with_input(&["ip", "-batch", "-"], &lab.ip_commands(i)?)?;
        }
        for (k, hop) in scenario.hops.iter().enumerate() {
            let node = lab.nodes.get(k + 1).ok_or_else(bad_hops)?;
            let helpers = lab.configure_router(node, k + 1, hop)?;
            lab.helpers.extend(helpers);
        }
        if scenario.link.is_shaped() {
            lab.shape_links()?;
        }
        let dir = std::env::temp_dir().join(format!(
            "{}{}-{}",
            netns::PREFIX,
            std::process::id(),
            NEXT_DIR.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).map_err(|source| LabError::Io {
            what: format!("create {}", dir.display()),
            source,
        })?;
        lab.temp_dir = Some(dir.clone());
        if let Some(table) = scenario.prefix2as() {
            let path = dir.join("prefix2as.txt");
            std::fs::write(&path, table).map_err(|source| LabError::Io {
                what: format!("write {}", path.display()),
                source,
            })?;
            lab.asn_db = Some(path);
        }
        let server = lab.nodes.last().ok_or_else(bad_hops)?;
        match &scenario.server.hostile {
            Some(h) => {
                if h.behaviour == reconmap_core::scenario::HostileBehaviour::SmallBacklog {
                    // SYN cookies always: a full accept queue then drops handshake ACKs.
                    server.run(&["sysctl", "-q", "-w", "net.ipv4.tcp_syncookies=2"])?;
                }
                let mut args = vec!["--behaviour".to_string(), h.behaviour.name()];
                if let Some(d) = h.delay_ms {
                    args.extend(["--delay-ms".to_string(), d.to_string()]);
                }
                if scenario.server.tls {
                    // TLS after its 220, like a real server.
                    let tls_dir = dir.join("hostile-tls");
                    std::fs::create_dir_all(&tls_dir).map_err(|source| LabError::Io {
                        what: format!("create {}", tls_dir.display()),
                        source,
                    })?;
                    let (cert, key) = crate::cert::self_signed(&tls_dir, HOSTNAME)?;
                    args.extend([
                        "--tls-cert".to_string(),
                        cert.display().to_string(),
                        "--tls-key".to_string(),
                        key.display().to_string(),
                    ]);
                }
                let smtpd = start_helper(server, "reconmap-hostile-smtp", args, Vec::new())?;
                lab.helpers.push(smtpd);
            }
            None => {
                let tls = scenario.server.tls.then_some(scenario.server.tls_profile);
                lab.postfix = Some(Postfix::start(server, &dir.join("postfix"), tls)?);
            }
        }
        Ok(lab)
    }

    /// `ip -batch` lines (addresses and routes) for node `i`.
    fn ip_commands(&self, i: usize) -> Result<String, LabError> {
        let n = self.scenario.hops.len();
        let mut lines = Vec::new();
        if i > 0 {
            let addr = link_addr(i - 1, true).ok_or_else(bad_hops)?;
            lines.push(format!("address add {addr}/30 dev {WEST_IF}"));
        }
        if i <= n {
            let addr = link_addr(i, false).ok_or_else(bad_hops)?;
            lines.push(format!("address add {addr}/30 dev {EAST_IF}"));
        }
        let east_gw = link_addr(i, true).ok_or_else(bad_hops)?;
        if i == 0 {
            for p in LAB_PREFIXES {
                lines.push(format!("route add {p} via {east_gw}"));
            }
        } else {
            let west_gw = link_addr(i - 1, false).ok_or_else(bad_hops)?;
            lines.push(format!("route add 198.51.100.0/24 via {west_gw}"));
            if i <= n {
                for j in i + 1..=n {
                    let net = link_net(j).ok_or_else(bad_hops)?;
                    lines.push(format!("route add {net} via {east_gw}"));
                }
                lines.push(format!("route add 192.0.2.0/24 via {east_gw}"));
                lines.push(format!("route add 198.18.0.0/15 via {east_gw}"));
            } else {
                lines.push(format!("address add {SERVER_ADDR}/32 dev lo"));
                if let Some(p) = self.scenario.server.anyip {
                    lines.push(format!("route add local {p} dev lo"));
                }
            }
        }
        let mut text = lines.join("\n");
        text.push('\n');
        Ok(text)
    }

    /// Configures router `k`: sysctls, nft rules, the short-quote policy route; returns the
    /// helpers it runs (see `hop_plan`: NFQUEUE boxes, the proxy, the ICMP forger; and the
    /// MPLS LSR box, after any quote-cutting box).
    fn configure_router(
        &self,
        node: &Netns,
        k: usize,
        hop: &crate::scenario::HopSpec,
    ) -> Result<Vec<RunningBox>, LabError> {
        let mut sysctl = vec!["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"];
        if !hop.icmp_ratelimit {
            sysctl.extend([
                "net.ipv4.icmp_ratelimit=0",
                "net.ipv4.icmp_msgs_per_sec=1000000",
                "net.ipv4.icmp_msgs_burst=1000000",
            ]);
        }
        node.run(&sysctl)?;
        let text = ServerText::new(HOSTNAME, self.scenario.server.tls);
        let rules = nft::router_ruleset(hop.router, EAST_IF, hop.middlebox.as_ref(), &text)?;
        if !rules.is_empty() {
            node.run_with_input(&["nft", "-f", "-"], &rules)?;
        }
        if hop.router == RouterKind::ShortQuote {
            let west_gw = link_addr(k - 1, false).ok_or_else(bad_hops)?;
            let batch = format!(
                "rule add iif lo ipproto icmp lookup {SHORT_QUOTE_TABLE} pref 100\n\
                 route add 198.51.100.0/24 via {west_gw} dev {WEST_IF} mtu lock 68 table {SHORT_QUOTE_TABLE}\n"
            );
            node.run_with_input(&["ip", "-batch", "-"], &batch)?;
        }
        let mut helpers = Vec::new();
        for plan in hop_helpers(&self.scenario.name, k, hop)? {
            helpers.push(start_helper(node, plan.program, plan.args, plan.rules)?);
        }
        if !hop.mpls_labels.is_empty() {
            let spec = LsrSpec {
                labels: hop.mpls_labels.clone(),
            };
            helpers.push(start_lsr(node, &spec, MPLS_QUEUE)?);
        }
        Ok(helpers)
    }

    /// Delay and loss on every link. `sch_netem` is not available on every kernel (this
    /// project's CI kernel lacks it), so each node queues everything it sends (mangle
    /// POSTROUTING, NFQUEUE with bypass) to a `reconmap-delay` process that holds packets for
    /// the link delay: one delay per link and direction, as netem on both link ends would give.
    fn shape_links(&mut self) -> Result<(), LabError> {
        let link = self.scenario.link.clone();
        let queue = DELAY_QUEUE.to_string();
        for i in 0..self.nodes.len() {
            let node = self.nodes.get(i).ok_or_else(bad_hops)?;
            let args = [
                "--queue".to_string(),
                queue.clone(),
                "--delay-ms".to_string(),
                link.delay_ms.to_string(),
                "--loss-percent".to_string(),
                link.loss_percent.to_string(),
                "--seed".to_string(),
                (i + 1).to_string(),
            ];
            let rule = [
                "-t",
                "mangle",
                "-A",
                "POSTROUTING",
                "-j",
                "NFQUEUE",
                "--queue-num",
                &queue,
                "--queue-bypass",
            ];
            let delayer = start_helper(
                node,
                "reconmap-delay",
                args.to_vec(),
                vec![rule.map(String::from).to_vec()],
            )?;
            self.helpers.push(delayer);
        }
        Ok(())
    }

    /// The namespace reconmap runs in; it has routes to the lab prefixes only.
    pub fn prober(&self) -> &Netns {
        // `up` always creates the prober first.
        &self.nodes[0]
    }

    /// The prober's address.
    pub fn prober_addr(&self) -> Ipv4Addr {
        self.scenario.prober_addr()
    }

    /// The prober's interface toward r1.
    pub fn prober_iface(&self) -> &str {
        EAST_IF
    }

    /// The representative target (see `Scenario::target`).
    pub fn target(&self) -> SocketAddrV4 {
        self.scenario.target()
    }

    /// Every target with its truth (see `Scenario::targets`).
    pub fn targets(&self) -> Vec<(SocketAddrV4, Expected)> {
        self.scenario.targets()
    }

    /// The truth for a server address of this lab (`None` for any other address).
    pub fn expected_for(&self, target: Ipv4Addr) -> Option<Expected> {
        self.scenario.expected_for(target)
    }

    /// The address ICMP errors from hop `ttl` come from (`n+1` = the server's main address).
    pub fn hop_addr(&self, ttl: u8) -> Option<Ipv4Addr> {
        self.scenario.hop_addr(ttl)
    }

    /// The scenario this lab runs.
    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// The prefix-to-AS table of the scenario's ASes, for `reconmap --asn-db` (none when
    /// the scenario gives no AS).
    pub fn asn_db(&self) -> Option<&Path> {
        self.asn_db.as_deref()
    }

    /// The state `persist` writes.
    pub fn state(&self) -> LabState {
        LabState {
            scenario: self.scenario.clone(),
            prober: self.prober().name().to_owned(),
            prober_addr: self.prober_addr(),
            prober_iface: EAST_IF.to_owned(),
            target: self.target(),
            namespaces: self.nodes.iter().map(|n| n.name().to_owned()).collect(),
            postfix_dir: self.postfix.as_ref().map(|p| p.dir().to_owned()),
            temp_dir: self.temp_dir.clone(),
            asn_db: self.asn_db.clone(),
        }
    }

    /// Writes the lab's state to `state_dir/<prober namespace>.toml` and leaves the lab
    /// running after this process exits (for `lab up`); [`Lab::down`] removes it.
    pub fn persist(mut self, state_dir: &Path) -> Result<(), LabError> {
        let state = self.state();
        std::fs::create_dir_all(state_dir).map_err(|source| LabError::Io {
            what: format!("create {}", state_dir.display()),
            source,
        })?;
        let path = state_dir.join(format!("{}.toml", state.prober));
        let text = toml::to_string(&state).map_err(|e| LabError::State(e.to_string()))?;
        std::fs::write(&path, text).map_err(|source| LabError::Io {
            what: format!("write {}", path.display()),
            source,
        })?;
        if let Some(p) = self.postfix.take() {
            p.forget();
        }
        for ns in std::mem::take(&mut self.nodes) {
            ns.forget();
        }
        // The helpers keep running with the lab; `down` finds them in its namespaces.
        for h in self.helpers.drain(..) {
            std::mem::forget(h);
        }
        self.temp_dir = None;
        Ok(())
    }

    /// The persisted labs in `state_dir`.
    pub fn status(state_dir: &Path) -> Result<Vec<LabState>, LabError> {
        Ok(read_states(state_dir)?
            .into_iter()
            .map(|(_, s)| s)
            .collect())
    }

    /// Tears down the persisted labs of `state_dir` and the leftovers of crashed runs
    /// (namespaces and temp dirs `rmlab-<pid>-…` whose process is gone, with their Postfix).
    /// Labs of live processes (e.g. tests running in parallel) are left alone.
    pub fn down(state_dir: &Path) -> Result<DownReport, LabError> {
        let mut report = Self::down_persisted(state_dir)?;
        Self::sweep_leftovers(&mut report);
        Ok(report)
    }

    /// Tears down only the persisted labs of `state_dir` (their helpers, Postfix, namespaces
    /// and temp dirs), nothing else.
    pub fn down_persisted(state_dir: &Path) -> Result<DownReport, LabError> {
        let mut report = DownReport::default();
        for (path, state) in read_states(state_dir)? {
            if let Some(dir) = &state.postfix_dir {
                if postfix::stop(dir) {
                    report.postfix_stopped.push(dir.clone());
                }
            }
            for name in &state.namespaces {
                kill_helpers(name);
                match netns::delete(name) {
                    Ok(()) => report.namespaces.push(name.clone()),
                    Err(e) => report.errors.push(e.to_string()),
                }
            }
            if let Some(dir) = &state.temp_dir {
                remove_dir(dir, &mut report);
            }
            if let Err(e) = std::fs::remove_file(&path) {
                report
                    .errors
                    .push(format!("remove {}: {e}", path.display()));
            }
            report.labs.push(state.scenario.name.clone());
        }
        Ok(report)
    }

    /// Removes the leftovers of crashed runs: namespaces and temp dirs `rmlab-<pid>-…` whose
    /// process is gone, with their Postfix and helpers.
    fn sweep_leftovers(report: &mut DownReport) {
        let dead = |name: &str| netns::owner_pid(name).is_some_and(|pid| !netns::pid_alive(pid));
        for dir in stray_dirs() {
            let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if dead(name) {
                let pf = dir.join("postfix");
                if postfix::stop(&pf) {
                    report.postfix_stopped.push(pf);
                }
                remove_dir(&dir, report);
            }
        }
        for name in netns::leftovers() {
            if dead(&name) {
                kill_helpers(&name);
                match netns::delete(&name) {
                    Ok(()) => report.namespaces.push(name),
                    Err(e) => report.errors.push(e.to_string()),
                }
            }
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Each helper removes its rules, then ends.
        self.helpers.clear();
        drop(self.postfix.take());
        while let Some(ns) = self.nodes.pop() {
            drop(ns);
        }
        if let Some(dir) = self.temp_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn remove_dir(dir: &Path, report: &mut DownReport) {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => report.dirs_removed.push(dir.to_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => report.errors.push(format!("remove {}: {e}", dir.display())),
    }
}

/// Temp directories this crate made (`$TMPDIR/rmlab-*`).
pub fn stray_dirs() -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(netns::PREFIX))
        .map(|e| e.path())
        .collect()
}

fn read_states(state_dir: &Path) -> Result<Vec<(PathBuf, LabState)>, LabError> {
    let entries = match std::fs::read_dir(state_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(LabError::Io {
                what: format!("read {}", state_dir.display()),
                source,
            })
        }
    };
    let mut states = Vec::new();
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&path).map_err(|source| LabError::Io {
                what: format!("read {}", path.display()),
                source,
            })?;
            let state = toml::from_str(&text)
                .map_err(|e| LabError::State(format!("{}: {e}", path.display())))?;
            states.push((path, state));
        }
    }
    Ok(states)
}

/// Where a lab helper binary (`reconmap-delay`, `reconmap-middlebox`) is (see
/// `reconmap_sys::bins::find`).
pub(crate) fn helper_binary(name: &str) -> Result<PathBuf, LabError> {
    reconmap_sys::bins::find(name).ok_or_else(|| {
        LabError::MissingHelper(format!(
            "{name} not found next to the running program; build it with \
             `cargo build --release -p reconmap-lab --bins` (cargo xtask does) or set RECONMAP_BIN_DIR"
        ))
    })
}

/// Stops the lab helpers (`reconmap-delay`, `reconmap-middlebox`, `reconmap-proxy`,
/// `reconmap-hostile-smtp`, `reconmap-icmp-forge`; comm is cut at 15 bytes) running in
/// namespace `name` (a lab namespace: whatever runs them there was started by a lab).
fn kill_helpers(name: &str) {
    let Ok(out) = std::process::Command::new("ip")
        .args(["netns", "pids", name])
        .output()
    else {
        return;
    };
    for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
        let Ok(pid) = pid.parse::<i32>() else {
            continue;
        };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if matches!(
            comm.trim(),
            "reconmap-delay"
                | "reconmap-middle"
                | "reconmap-proxy"
                | "reconmap-hostil"
                | "reconmap-icmp-f"
        ) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
    }
}
