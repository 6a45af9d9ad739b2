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
    reconmap_sys::privilege::check_required()?;
    let net = DatapathTransport::open(
        &session.transport_options(plan.concurrency, plan.rate),
        first,
    )
    .with_context(|| format!("cannot set up the prober toward {first}"))?;
    let excluded = listening_ports(net.source());
    let allocator = PortAllocator::new(ports.clone(), excluded);
    if allocator.usable() == 0 {
        bail!("--source-ports {ports}: every port of the range has a local service listening");
    }
    give_up_privileges(&net)?;
    let engine = Engine::new(
        Arc::new(session.config()?),
        plan,
        net.source(),
        allocator,
        rand::random(),
        Instant::now(),
    );
    log::info!("probing from {} on {}", net.source(), net.iface());
    Ok((net, engine))
}

/// Everything is set up (programs attached, raw socket open, maps and ring reached through
/// file descriptors): give up every capability, so that nothing parsing what the network sends
/// runs privileged. A clsact-attached classifier (kernels before TCX) keeps CAP_NET_ADMIN to be
/// removed at the end.
pub fn give_up_privileges(net: &DatapathTransport) -> Result<()> {
    use reconmap_sys::privilege::{drop_all_but, Capability};
    let keep: &[Capability] = if net.datapath().detach_needs_net_admin() {
        &[Capability::CAP_NET_ADMIN]
    } else {
        &[]
    };
    drop_all_but(keep).context("cannot drop capabilities after setup")?;
    log::info!("capabilities dropped (kept: {keep:?})");
    Ok(())
}
