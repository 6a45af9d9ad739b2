//! The datapath as the engine's [`Transport`]: flows registered in the eBPF map, datagrams out
//! through the raw socket, captures in from the ring buffer with their kernel timestamps.
use super::{
    route_to, CaptureStream, Datapath, DatapathError, DatapathOptions, FlowTable, KernelClock,
    RawCapture,
};
use reconmap_core::engine::{Arrival, Transport, TransportError};
use reconmap_sys::RawSender;
use reconmap_wire::FlowAddrs;
use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::time::Instant;

/// Where and how the prober attaches.
#[derive(Clone, Debug, Default)]
pub struct TransportOptions {
    /// Interface to attach to and send from (default: the route to the first target).
    pub iface: Option<String>,
    /// Source address (default: the route's preferred source).
    pub source: Option<Ipv4Addr>,
    /// Sessions in flight at most.
    pub concurrency: usize,
    /// Packets per second at most (sizes the flow map for flows in their retire grace).
    pub rate: Option<f64>,
}

/// The real network.
pub struct DatapathTransport {
    datapath: Datapath,
    captures: CaptureStream,
    flows: FlowTable,
    sender: RawSender,
    clock: KernelClock,
    source: Ipv4Addr,
    iface: String,
    capacity: usize,
    pending: VecDeque<RawCapture>,
}

impl DatapathTransport {
    /// Attaches the datapath to the interface toward `first_target` (or the one given).
    pub fn open(opts: &TransportOptions, first_target: Ipv4Addr) -> Result<Self, DatapathError> {
        let route = route_to(first_target)?;
        let iface = opts.iface.clone().unwrap_or(route.iface);
        if let Some(s) = opts.source {
            super::route::check_local_source(s)?;
        }
        let source = opts.source.unwrap_or(route.src);
        let dp_opts = DatapathOptions::new(&iface).sized_for(opts.concurrency, opts.rate);
        let capacity = usize::try_from(dp_opts.max_flows).unwrap_or(usize::MAX);
        let mut datapath = Datapath::attach(&dp_opts)?;
        let captures = datapath.take_captures()?;
        let flows = datapath.flows();
        Ok(Self {
            datapath,
            captures,
            flows,
            sender: RawSender::new(Some(reconmap_common::OWN_PACKET_MARK))?,
            clock: KernelClock::new(),
            source,
            iface,
            capacity,
            pending: VecDeque::new(),
        })
    }

    pub fn source(&self) -> Ipv4Addr {
        self.source
    }

    pub fn iface(&self) -> &str {
        &self.iface
    }

    pub fn datapath(&self) -> &Datapath {
        &self.datapath
    }

    /// Waits until captures are there (cancel-safe: what it takes is kept for [`Transport::recv`]).
    pub async fn readable(&mut self) -> Result<(), DatapathError> {
        if !self.pending.is_empty() {
            return Ok(());
        }
        let mut batch = Vec::new();
        self.captures.recv_batch(&mut batch, 1024).await?;
        self.pending.extend(batch);
        Ok(())
    }

    /// Ring items user space could not decode.
    pub fn malformed(&self) -> u64 {
        self.captures.malformed()
    }
}

impl Transport for DatapathTransport {
    fn register(&mut self, flow: FlowAddrs) -> Result<(), TransportError> {
        self.flows.register(flow.key()).map_err(|e| match e {
            DatapathError::FlowMap(m) if m.contains("full") => TransportError::Full,
            other => TransportError::Failed(reconmap_sys::error_chain(&other)),
        })
    }

    fn unregister(&mut self, flow: FlowAddrs) {
        if let Err(e) = self.flows.unregister(flow.key()) {
            log::warn!("cannot unregister flow {flow:?}: {e}");
        }
    }

    fn send(&mut self, datagram: &[u8], dst: Ipv4Addr) -> Result<(), TransportError> {
        self.sender
            .send(datagram, dst)
            .map_err(|e| TransportError::Failed(reconmap_sys::error_chain(&e)))
    }

    fn recv(&mut self, out: &mut Vec<Arrival>, max: usize) -> usize {
        let now = Instant::now();
        let mut n = 0;
        while n < max {
            let raw = match self.pending.pop_front() {
                Some(r) => r,
                None => match self.captures.try_next() {
                    Some(r) => r,
                    None => break,
                },
            };
            out.push(Arrival {
                at: self.clock.to_instant(raw.ts_ns, now),
                data: raw.data,
            });
            n += 1;
        }
        n
    }

    fn capacity(&self) -> usize {
        self.capacity
    }

    fn now(&self) -> Instant {
        Instant::now()
    }
}
