//! The user-space side of the eBPF datapath: load the embedded object, attach `rst_guard` (TC
//! egress, TCX link) and `capture` (XDP link) to the interface, register probe flows, and drain
//! the capture ring buffer asynchronously. With the raw sender, the route lookup and the
//! kernel clock it makes the engine's [`reconmap_core::engine::Transport`]
//! ([`DatapathTransport`]), and [`run`] is the async loop that drives the engine over it.
//!
//! Both programs are attached through fd-based links (TCX on kernels >= 6.6, XDP links), so
//! they go away when the process ends however it ends; [`Datapath`]'s drop detaches them
//! explicitly as well. On kernels without TCX the classifier is attached through a clsact qdisc
//! (added if missing) and removed on drop.
mod clock;
mod flows;
mod link;
mod ports;
mod ring;
mod route;
mod runner;
pub mod stats;
mod transport;

pub use clock::KernelClock;
pub use flows::FlowTable;
pub use link::{detect as detect_link, LinkKind};
pub use ports::{ephemeral_range, listening_ports};
pub use ring::{CaptureKind, CaptureStream, RawCapture};
pub use route::{route_to, Route};
pub use runner::{run, RunError};
pub use transport::{DatapathTransport, TransportOptions};

use aya::programs::{tc, SchedClassifier, TcAttachType, Xdp, XdpMode};
use aya::{maps::PerCpuArray, Ebpf, EbpfLoader};
use reconmap_common::{counter, names};

/// The eBPF object built by build.rs (empty when built with `AYA_BUILD_SKIP=1`).
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/reconmap"));

/// Errors of the datapath, each saying what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum DatapathError {
    #[error("this binary was built without its eBPF object (AYA_BUILD_SKIP=1); rebuild with `cargo xtask build`")]
    NoObject,
    #[error(
        "permission denied while {0}: ReconMap needs root, or CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN and CAP_NET_RAW"
    )]
    Permission(String),
    #[error("cannot load the eBPF programs: {0}")]
    Load(String),
    #[error("cannot attach to interface {iface}: {reason}")]
    Attach { iface: String, reason: String },
    #[error("flow map: {0}")]
    FlowMap(String),
    #[error("capture ring buffer: {0}")]
    Ring(String),
    #[error("{0}")]
    Source(String),
    #[error("no route to {dst}: {reason}")]
    Route {
        dst: std::net::Ipv4Addr,
        reason: String,
    },
    #[error(transparent)]
    Raw(#[from] reconmap_sys::raw::RawError),
    #[error("{what}")]
    Sys {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
}

impl DatapathError {
    /// Classifies an aya error by the errno in its source chain: EPERM means missing
    /// privileges ([`DatapathError::Permission`]). EACCES is what the verifier answers for a
    /// program it rejects: that stays a load error, with the verifier's log in its text.
    fn from_aya(
        context: &str,
        err: &(dyn std::error::Error + 'static),
        otherwise: impl FnOnce(String) -> Self,
    ) -> Self {
        if errno_in(err) == Some(libc::EPERM) {
            return DatapathError::Permission(context.to_string());
        }
        otherwise(format!("{context}: {err}"))
    }
}

/// The first OS error number in an error's source chain.
fn errno_in(err: &(dyn std::error::Error + 'static)) -> Option<i32> {
    let mut cause = Some(err);
    while let Some(e) = cause {
        if let Some(code) = e
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::raw_os_error)
        {
            return Some(code);
        }
        cause = e.source();
    }
    None
}

/// Where and how to attach.
#[derive(Clone, Debug)]
pub struct DatapathOptions {
    pub iface: String,
    /// XDP mode; SKB (generic) works everywhere, including veth.
    pub xdp_mode: XdpMode,
    /// Capacity of the flow map.
    pub max_flows: u32,
    /// Size of the capture ring buffer in bytes (a power of two, at least a page).
    pub ring_bytes: u32,
}

impl DatapathOptions {
    pub fn new(iface: &str) -> Self {
        Self {
            iface: iface.to_string(),
            xdp_mode: XdpMode::Skb,
            max_flows: reconmap_common::DEFAULT_MAX_FLOWS,
            ring_bytes: reconmap_common::DEFAULT_RING_BYTES,
        }
    }

    /// Sizes the flow map and the ring for a run of `concurrency` sessions in flight sending
    /// at most `rate` packets per second.
    ///
    /// Flow map: the live flows, plus the flows in their retire grace (a session needs at least
    /// one packet, so at most `rate x grace` of them), plus headroom; the engine waits for room
    /// when it is full (never skips a target), so this only decides how often it waits.
    /// Ring: what arrives in a quarter of a second at the packet rate (each probe packet can
    /// bring back one capture), between 1 and 64 MiB; it is drained continuously.
    pub fn sized_for(mut self, concurrency: usize, rate: Option<f64>) -> Self {
        let c = u64::try_from(concurrency).unwrap_or(u64::MAX).max(1);
        let grace = reconmap_core::engine::RETIRE_GRACE.as_secs_f64();
        let in_grace = match rate {
            Some(r) if r.is_finite() && r > 0.0 => (r.min(1e7) * grace) as u64,
            _ => c.saturating_mul(4),
        };
        let flows = c
            .saturating_add(in_grace)
            .saturating_add(in_grace / 4 + 256);
        self.max_flows = u32::try_from(flows.clamp(1024, 1 << 22)).unwrap_or(1 << 22);
        let event = std::mem::size_of::<reconmap_common::CaptureEvent>() as f64;
        let per_second = rate
            .filter(|r| r.is_finite() && *r > 0.0)
            .unwrap_or(16_000.0);
        let bytes = (per_second.min(1e7) * 0.25 * event) as u64;
        self.ring_bytes =
            u32::try_from(bytes.clamp(1 << 20, 1 << 26).next_power_of_two()).unwrap_or(1 << 26);
        self
    }
}

/// Sums of the per-CPU counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counters {
    pub rst_dropped: u64,
    pub icmp_captured: u64,
    pub tcp_captured: u64,
    pub ringbuf_full: u64,
    pub malformed: u64,
}

/// The loaded and attached programs with their maps.
pub struct Datapath {
    ebpf: Ebpf,
    iface: String,
    ifindex: u32,
    flows: FlowTable,
    counters: PerCpuArray<aya::maps::MapData, u64>,
    captures: Option<CaptureStream>,
    /// The classifier went through a clsact qdisc (no TCX): removing it needs CAP_NET_ADMIN.
    netlink_tc: bool,
}

impl Datapath {
    /// Loads the embedded object with the default map sizes, without attaching it (for
    /// BPF_PROG_TEST_RUN and benchmarks).
    pub fn load(link: LinkKind) -> Result<Ebpf, DatapathError> {
        Self::load_sized(
            link,
            reconmap_common::DEFAULT_MAX_FLOWS,
            reconmap_common::DEFAULT_RING_BYTES,
        )
    }

    /// Loads the embedded object for a link of kind `link`, with the flow map and ring buffer
    /// sized as given.
    pub fn load_sized(
        link: LinkKind,
        max_flows: u32,
        ring_bytes: u32,
    ) -> Result<Ebpf, DatapathError> {
        if OBJECT.is_empty() {
            return Err(DatapathError::NoObject);
        }
        let kind = link.global();
        let mut ebpf = EbpfLoader::new()
            .override_global(reconmap_common::LINK_KIND_GLOBAL, &kind, true)
            .map_max_entries(names::FLOWS_MAP, max_flows.max(1))
            .map_max_entries(names::EVENTS_MAP, ring_bytes)
            .load(OBJECT)
            .map_err(|e| {
                DatapathError::from_aya("loading the eBPF object", &e, DatapathError::Load)
            })?;
        let classifier: &mut SchedClassifier = program(&mut ebpf, names::RST_GUARD_PROG)?
            .try_into()
            .map_err(|e| DatapathError::Load(format!("{}: {e}", names::RST_GUARD_PROG)))?;
        classifier
            .load()
            .map_err(|e| DatapathError::from_aya("loading rst_guard", &e, DatapathError::Load))?;
        let xdp: &mut Xdp = program(&mut ebpf, names::CAPTURE_PROG)?
            .try_into()
            .map_err(|e| DatapathError::Load(format!("{}: {e}", names::CAPTURE_PROG)))?;
        xdp.load()
            .map_err(|e| DatapathError::from_aya("loading capture", &e, DatapathError::Load))?;
        Ok(ebpf)
    }

    /// Loads and attaches both programs to `opts.iface`.
    pub fn attach(opts: &DatapathOptions) -> Result<Self, DatapathError> {
        let iface = opts.iface.clone();
        let ifindex = route::ifindex(&iface)?;
        let link = link::detect(&iface)?;
        let mut ebpf = Self::load_sized(link, opts.max_flows, opts.ring_bytes)?;
        let attach_err = |reason: String| DatapathError::Attach {
            iface: iface.clone(),
            reason,
        };
        // TCX (fd-based) when the kernel has it; else a clsact qdisc and a netlink filter.
        let mut netlink_tc = false;
        {
            let classifier: &mut SchedClassifier = program(&mut ebpf, names::RST_GUARD_PROG)?
                .try_into()
                .map_err(|e| DatapathError::Load(format!("{e}")))?;
            if let Err(first) = classifier.attach(&iface, TcAttachType::Egress) {
                let _ = tc::qdisc_add_clsact(&iface);
                classifier
                    .attach_with_options(
                        &iface,
                        TcAttachType::Egress,
                        aya::programs::tc::TcAttachOptions::Netlink(
                            aya::programs::tc::NlOptions::default(),
                        ),
                    )
                    .map_err(|e| {
                        DatapathError::from_aya(
                            &format!("attaching rst_guard (TCX failed: {first}; clsact)"),
                            &e,
                            attach_err,
                        )
                    })?;
                netlink_tc = true;
            }
        }
        {
            let xdp: &mut Xdp = program(&mut ebpf, names::CAPTURE_PROG)?
                .try_into()
                .map_err(|e| DatapathError::Load(format!("{e}")))?;
            xdp.attach(&iface, opts.xdp_mode).map_err(|e| {
                if matches!(errno_in(&e), Some(libc::EBUSY | libc::EEXIST)) {
                    return DatapathError::Attach {
                        iface: iface.clone(),
                        reason: "another XDP program is attached to this interface (a second \
                                 reconmap?): one XDP program per interface; stop the other \
                                 one or use another interface"
                            .to_string(),
                    };
                }
                DatapathError::from_aya("attaching capture (XDP)", &e, |r| DatapathError::Attach {
                    iface: iface.clone(),
                    reason: r,
                })
            })?;
        }
        let flows = FlowTable::new(take_map(&mut ebpf, names::FLOWS_MAP)?)?;
        let counters = PerCpuArray::try_from(take_map(&mut ebpf, names::COUNTERS_MAP)?)
            .map_err(|e| DatapathError::Load(format!("COUNTERS: {e}")))?;
        let ring = aya::maps::RingBuf::try_from(take_map(&mut ebpf, names::EVENTS_MAP)?)
            .map_err(|e| DatapathError::Ring(e.to_string()))?;
        let captures = CaptureStream::new(ring)?;
        log::info!(
            "datapath attached to {iface} (ifindex {ifindex}, tc via {})",
            if netlink_tc { "clsact" } else { "TCX" }
        );
        Ok(Self {
            ebpf,
            iface,
            ifindex,
            flows,
            counters,
            captures: Some(captures),
            netlink_tc,
        })
    }

    /// A handle to register and unregister probe flows.
    pub fn flows(&self) -> FlowTable {
        self.flows.clone()
    }

    /// The ring buffer reader (once).
    pub fn take_captures(&mut self) -> Result<CaptureStream, DatapathError> {
        self.captures
            .take()
            .ok_or_else(|| DatapathError::Ring("the capture stream was already taken".to_string()))
    }

    /// Per-CPU counters summed.
    pub fn counters(&self) -> Result<Counters, DatapathError> {
        let sum = |i: u32| -> Result<u64, DatapathError> {
            let v = self
                .counters
                .get(&i, 0)
                .map_err(|e| DatapathError::Load(format!("COUNTERS[{i}]: {e}")))?;
            Ok(v.iter().sum())
        };
        Ok(Counters {
            rst_dropped: sum(counter::RST_DROPPED)?,
            icmp_captured: sum(counter::ICMP_CAPTURED)?,
            tcp_captured: sum(counter::TCP_CAPTURED)?,
            ringbuf_full: sum(counter::RINGBUF_FULL)?,
            malformed: sum(counter::MALFORMED)?,
        })
    }

    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Whether detaching needs CAP_NET_ADMIN (a clsact filter rather than fd-based links).
    pub fn detach_needs_net_admin(&self) -> bool {
        self.netlink_tc
    }

    pub fn iface(&self) -> &str {
        &self.iface
    }

    /// The loaded object (program fds for statistics).
    pub fn ebpf(&self) -> &Ebpf {
        &self.ebpf
    }
}

impl Drop for Datapath {
    fn drop(&mut self) {
        // Links are detached when the programs drop; do it first, explicitly, so nothing of
        // ours stays on the interface even if other code holds on to the maps.
        if let Some(p) = self.ebpf.program_mut(names::CAPTURE_PROG) {
            if let Ok(x) = <&mut Xdp>::try_from(p) {
                let _ = x.unload();
            }
        }
        if let Some(p) = self.ebpf.program_mut(names::RST_GUARD_PROG) {
            if let Ok(c) = <&mut SchedClassifier>::try_from(p) {
                let _ = c.unload();
            }
        }
    }
}

fn program<'a>(
    ebpf: &'a mut Ebpf,
    name: &str,
) -> Result<&'a mut aya::programs::Program, DatapathError> {
    ebpf.program_mut(name)
        .ok_or_else(|| DatapathError::Load(format!("program {name} missing from the object")))
}

fn take_map(ebpf: &mut Ebpf, name: &str) -> Result<aya::maps::Map, DatapathError> {
    ebpf.take_map(name)
        .ok_or_else(|| DatapathError::Load(format!("map {name} missing from the object")))
}
