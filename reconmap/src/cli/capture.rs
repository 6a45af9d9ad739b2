//! `reconmap capture`: attach the datapath and print what it captures for the given flows
//! (a debugging aid, and how the tests check that a killed process leaves nothing attached).
use anyhow::{bail, Context as _, Result};
use reconmap_datapath::{Datapath, DatapathOptions};
use reconmap_wire::{parse_captured, Captured, FlowAddrs};
use std::io::Write as _;
use std::net::SocketAddrV4;
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Interface to attach to.
    #[arg(long, short = 'i')]
    iface: String,
    /// A flow to register, as LOCAL_ADDR:PORT-REMOTE_ADDR:PORT (repeatable).
    #[arg(long = "flow", value_name = "L:P-R:P", value_parser = parse_flow)]
    flows: Vec<FlowAddrs>,
    /// Stop after this many captured packets.
    #[arg(long)]
    count: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long)]
    seconds: Option<u64>,
}

fn parse_flow(s: &str) -> Result<FlowAddrs, String> {
    let (l, r) = s
        .split_once('-')
        .ok_or_else(|| format!("`{s}`: expected LOCAL_ADDR:PORT-REMOTE_ADDR:PORT"))?;
    let local: SocketAddrV4 = l.parse().map_err(|e| format!("`{l}`: {e}"))?;
    let remote: SocketAddrV4 = r.parse().map_err(|e| format!("`{r}`: {e}"))?;
    Ok(FlowAddrs { local, remote })
}

pub async fn run(args: Args) -> Result<()> {
    reconmap_sys::privilege::check_required()?;
    let mut dp = Datapath::attach(&DatapathOptions::new(&args.iface))?;
    let flows = dp.flows();
    for f in &args.flows {
        flows.register(f.key())?;
    }
    if !dp.detach_needs_net_admin() {
        reconmap_sys::privilege::drop_all()?;
    }
    let mut stream = dp.take_captures()?;
    // Status lines go to stderr; a closed stderr (the reader went away) must not end the run.
    let _ = writeln!(
        std::io::stderr(),
        "capture: attached to {} with {} flow(s)",
        args.iface,
        args.flows.len()
    );
    let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("SIGINT handler")?;
    let deadline = tokio::time::sleep(
        args.seconds
            .map_or(Duration::from_secs(u64::MAX / 4), Duration::from_secs),
    );
    tokio::pin!(deadline);
    let mut seen = 0u64;
    loop {
        if args.count.is_some_and(|c| seen >= c) {
            break;
        }
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            () = &mut deadline => break,
            c = stream.recv() => {
                let c = c?;
                seen += 1;
                let _ = writeln!(std::io::stdout(), "{} {}", c.ts_ns, describe(&c.data));
            }
        }
    }
    let counters = dp.counters()?;
    let _ = writeln!(
        std::io::stderr(),
        "capture: {}",
        serde_json::to_string(&counters)?
    );
    drop(stream);
    drop(dp);
    if args.count.is_some_and(|c| seen < c) {
        bail!("stopped after {seen} packet(s)");
    }
    Ok(())
}

fn describe(data: &[u8]) -> String {
    match parse_captured(data) {
        Ok(Captured::Tcp(s)) => format!(
            "tcp {} > {} [{}] seq {} ack {} len {} ttl {}",
            s.src,
            s.dst,
            s.segment.flags,
            s.segment.seq,
            s.segment.ack,
            s.segment.payload.len(),
            s.ip_ttl
        ),
        Ok(Captured::IcmpError(e)) => format!(
            "icmp {} from {} quote {} bytes id {:?}",
            e.kind,
            e.from,
            e.quote.len(),
            e.quote.ip_id()
        ),
        Err(e) => format!("unparsable ({e})"),
    }
}
