//! Setting up a run: the datapath toward the first target, the source-port range checked
//! against the kernel's, and the engine.
use super::session_args::SessionArgs;
use anyhow::{bail, Context as _, Result};
use reconmap_core::engine::{Engine, PortAllocator, RunPlan};
use reconmap_datapath::{ephemeral_range, listening_ports, DatapathTransport};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Instant;

/// The datapath attached and an engine ready to run.
pub fn open(
    session: &SessionArgs,
    plan: RunPlan,
    first: Ipv4Addr,
) -> Result<(DatapathTransport, Engine)> {
    let ports = &session.source_ports;
    let eph = ephemeral_range();
    if ports.overlaps(&eph) {
        bail!(
            "--source-ports {ports} overlaps the kernel's ephemeral port range {}-{} \
             (net.ipv4.ip_local_port_range): the kernel could pick one of them for its own \
             connections; choose a range outside it",
            eph.start(),
            eph.end()
        );
    }
    let net = DatapathTransport::open(
        &session.transport_options(plan.concurrency, plan.rate),
        first,
    )
    .with_context(|| format!("cannot set up the prober toward {first}"))?;
    let excluded = listening_ports(net.source());
    let allocator = PortAllocator::new(ports.clone(), excluded);
    let engine = Engine::new(
        Arc::new(session.config()),
        plan,
        net.source(),
        allocator,
        rand::random(),
        Instant::now(),
    );
    log::info!("probing from {} on {}", net.source(), net.iface());
    Ok((net, engine))
}
