//! `reconmap-icmp-forge`: forged ICMP Time Exceeded messages for the lab's routers.
//!
//! An iptables NFQUEUE rule in a router namespace hands this process the client's TCP
//! segments to port 25 (this kernel has no nft `queue`). Every segment is accepted unchanged;
//! for each one that carries a payload with `--match` in it (the STARTTLS probes), forged
//! ICMP Time Exceeded messages quoting it go back to its source through a raw socket, shaped
//! by `--mode`, from `--from`.

use std::net::Ipv4Addr;

use clap::Parser;
use reconmap_lab::seeded::SeededRng;
use reconmap_sys::RawSender;

use reconmap_core::scenario::forge::{self, Probe};
use reconmap_core::scenario::ForgeMode as Mode;

const LONG_ABOUT: &str = "\
Forges ICMP Time Exceeded messages toward the prober for ReconMap's lab.

Runs in a router namespace and reads the NFQUEUE that an iptables rule feeds, e.g.
  iptables -A FORWARD -p tcp --dport 25 -j NFQUEUE --queue-num 2 --queue-bypass
Every queued packet is accepted unchanged. For each TCP segment to --port whose payload
contains --match (any case), the messages of --mode are sent to the segment's source from
--from through a raw socket (TOS 0xc0, TTL 64, type 11 code 0). Quotes start from what a
router where the segment's TTL ran out would send (the datagram up to 548 bytes, TTL 1,
header checksum fixed); each mode breaks it in its own way. Source and destination must lie
in the lab ranges 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 198.18.0.0/15.";

#[derive(Debug, Parser)]
#[command(name = "reconmap-icmp-forge", version, about = "Forged ICMP Time Exceeded for the ReconMap lab", long_about = LONG_ABOUT)]
struct Args {
    /// NFQUEUE number to read.
    #[arg(long, default_value_t = 2)]
    queue: u16,
    /// What to forge for each probe.
    #[arg(long, value_parser = clap::builder::ValueParser::new(|s: &str| s.parse::<Mode>()))]
    mode: Mode,
    /// Source address of the forged messages (default: in the lab's server range, on no
    /// router's path).
    #[arg(long, default_value = "192.0.2.66")]
    from: Ipv4Addr,
    /// Messages per probe in `flood` mode.
    #[arg(long, default_value_t = 100)]
    count: usize,
    /// Seed of the random IP IDs (outer and quoted): same seed, same messages.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// TCP destination port of the segments to answer.
    #[arg(long, default_value_t = 25)]
    port: u16,
    /// Bytes the payload must contain (ASCII, any case); empty: any payload.
    #[arg(long = "match", default_value = "STARTTLS")]
    needle: String,
    /// Print `ready` on stdout once the queue is bound.
    #[arg(long)]
    ready: bool,
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("reconmap-icmp-forge: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<(), String> {
    if !in_lab_ranges(args.from) {
        return Err(format!("--from {} is outside the lab ranges", args.from));
    }
    let raw = RawSender::new(None).map_err(|e| format!("raw socket: {e}"))?;
    let mut queue = nfq::Queue::open().map_err(|e| format!("cannot open NFQUEUE: {e}"))?;
    queue
        .bind(args.queue)
        .map_err(|e| format!("cannot bind queue {}: {e}", args.queue))?;
    if args.ready {
        reconmap_lab::announce_ready()?;
    }
    eprintln!(
        "reconmap-icmp-forge: queue {}, mode {:?}, from {}, port {}, match {:?}",
        args.queue, args.mode, args.from, args.port, args.needle
    );
    let mut rng = SeededRng::new(args.seed);
    loop {
        let mut msg = queue.recv().map_err(|e| format!("receive: {e}"))?;
        let datagram = msg.get_payload().to_vec();
        msg.set_verdict(nfq::Verdict::Accept);
        queue.verdict(msg).map_err(|e| format!("verdict: {e}"))?;
        let Some(probe) = Probe::parse(&datagram, args.port, args.needle.as_bytes()) else {
            continue;
        };
        let to = probe.source();
        if !in_lab_ranges(to) {
            eprintln!("reconmap-icmp-forge: probe from {to} is outside the lab ranges: ignored");
            continue;
        }
        let messages = forge::forge(args.mode, &probe, &mut rng, args.count);
        let mut sent = 0;
        for icmp in &messages {
            let Some(datagram) = forge::ip_datagram(args.from, to, rng.next_u16().max(1), icmp)
            else {
                continue;
            };
            match raw.send(&datagram, to) {
                Ok(()) => sent += 1,
                Err(e) => eprintln!("reconmap-icmp-forge: send to {to}: {e}"),
            }
        }
        eprintln!(
            "reconmap-icmp-forge: probe {to} id {}: sent {sent}/{} {:?}",
            probe.ip_id(),
            messages.len(),
            args.mode
        );
    }
}

/// Whether `addr` is in one of the ranges lab traffic may use.
fn in_lab_ranges(addr: Ipv4Addr) -> bool {
    reconmap_core::scan::Cidr::new(addr, 32)
        .is_some_and(|c| reconmap_core::scenario::plan::is_lab_prefix(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lab_ranges_only() {
        for ok in [
            "192.0.2.66",
            "198.51.100.1",
            "203.0.113.9",
            "198.19.255.1",
            "198.18.0.0",
        ] {
            assert!(in_lab_ranges(ok.parse().expect("addr")), "{ok}");
        }
        for bad in [
            "8.8.8.8",
            "192.0.3.1",
            "198.20.0.1",
            "10.0.0.1",
            "198.51.101.1",
        ] {
            assert!(!in_lab_ranges(bad.parse().expect("addr")), "{bad}");
        }
    }
}
