//! The user-space side of the eBPF datapath: load the embedded object, attach `rst_guard` (TC
//! egress, TCX link) and `capture` (XDP link) to the interface, register probe flows, and drain
//! the capture ring buffer asynchronously. Also the other kernel touch points of the prober: the
//! raw send socket, source-port leases and the route lookup.
//!
//! Both programs are attached through fd-based links (TCX on kernels >= 6.6, XDP links), so
//! they go away when the process ends however it ends; [`Datapath`]'s drop detaches them
//! explicitly as well. On kernels without TCX the classifier is attached through a clsact qdisc
//! (added if missing) and removed on drop.
mod flows;
mod port;
mod raw;
mod ring;
mod route;
pub mod sys;

pub use flows::FlowTable;
pub use port::PortLease;
pub use raw::RawSender;
pub use ring::{CaptureKind, CaptureStream, RawCapture};
pub use route::{route_to, Route};

use aya::programs::{tc, SchedClassifier, TcAttachType, Xdp, XdpMode};
use aya::{maps::PerCpuArray, Ebpf, EbpfLoader};
use reconmap_common::{counter, names};
use std::sync::{Arc, Mutex};

/// The eBPF object built by build.rs (empty when built with `AYA_BUILD_SKIP=1`).
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/reconmap"));

/// Errors of the datapath, each saying what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum DatapathError {
    #[error("this binary was built without its eBPF object (AYA_BUILD_SKIP=1); rebuild with `cargo xtask build`")]
    NoObject,
    #[error(
        "permission denied while {0}: ReconMap needs root, or CAP_BPF, CAP_NET_ADMIN and CAP_NET_RAW"
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
    #[error("no route to {dst}: {reason}")]
    Route {
        dst: std::net::Ipv4Addr,
        reason: String,
    },
    #[error("raw socket: {0}")]
    Raw(std::io::Error),
    #[error("no free source port: {0}")]
    Port(String),
    #[error("{what}: {source}")]
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
        let mut cause = Some(err);
        while let Some(e) = cause {
            let eperm = e
                .downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.raw_os_error() == Some(libc::EPERM));
            if eperm {
                return DatapathError::Permission(context.to_string());
            }
            cause = e.source();
        }
        otherwise(format!("{context}: {err}"))
    }
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

    /// Sizes the flow map and ring for `concurrency` sessions in flight: room for the live
    /// flows, those in their grace period and headroom; a ring that holds a few sweeps' worth
    /// of captures per session (at least 1 MiB, at most 256 MiB).
    pub fn sized_for(mut self, concurrency: usize) -> Self {
        let c = u32::try_from(concurrency).unwrap_or(u32::MAX).max(1);
        self.max_flows = c.saturating_mul(4).clamp(1024, 1 << 22);
        let per_session = 64 * std::mem::size_of::<reconmap_common::CaptureEvent>() as u32;
        self.ring_bytes = c
            .saturating_mul(per_session)
            .clamp(1 << 20, 1 << 28)
            .next_power_of_two()
            .min(1 << 28);
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
    _logger: Arc<Mutex<Option<aya_log::EbpfLogger<&'static dyn log::Log>>>>,
}

impl Datapath {
    /// Loads the embedded object with the default map sizes, without attaching it (for
    /// BPF_PROG_TEST_RUN and benchmarks).
    pub fn load() -> Result<Ebpf, DatapathError> {
        Self::load_sized(
            reconmap_common::DEFAULT_MAX_FLOWS,
            reconmap_common::DEFAULT_RING_BYTES,
        )
    }

    /// Loads the embedded object with the flow map and ring buffer sized as given.
    pub fn load_sized(max_flows: u32, ring_bytes: u32) -> Result<Ebpf, DatapathError> {
        if OBJECT.is_empty() {
            return Err(DatapathError::NoObject);
        }
        let mut ebpf = EbpfLoader::new()
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
        let mut ebpf = Self::load_sized(opts.max_flows, opts.ring_bytes)?;
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
                DatapathError::from_aya("attaching capture (XDP)", &e, |r| DatapathError::Attach {
                    iface: iface.clone(),
                    reason: r,
                })
            })?;
        }
        let logger = match aya_log::EbpfLogger::init(&mut ebpf) {
            Ok(l) => Some(l),
            Err(e) => {
                log::debug!("no eBPF log map ({e}); kernel-side logging off");
                None
            }
        };
        let logger = Arc::new(Mutex::new(logger));
        let flows = FlowTable::new(take_map(&mut ebpf, names::FLOWS_MAP)?)?;
        let counters = PerCpuArray::try_from(take_map(&mut ebpf, names::COUNTERS_MAP)?)
            .map_err(|e| DatapathError::Load(format!("COUNTERS: {e}")))?;
        let ring = aya::maps::RingBuf::try_from(take_map(&mut ebpf, names::EVENTS_MAP)?)
            .map_err(|e| DatapathError::Ring(e.to_string()))?;
        let captures = CaptureStream::new(ring, logger.clone())?;
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
            _logger: logger,
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
