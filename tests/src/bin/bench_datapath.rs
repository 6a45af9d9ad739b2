//! Benchmark: per-packet cost of the eBPF programs, from the kernel's own statistics
//! (`BPF_STATS_RUN_TIME`), on a veth pair between two namespaces. Two workloads per program:
//! unrelated traffic (UDP, the common case on a busy scan box) and probe-flow traffic (segments
//! of a registered flow: captured by XDP, RSTs dropped by TC), with 10,000 flows registered.
//! Targets: XDP <= 100 ns per unrelated packet, TC <= 60 ns. Prints figures, asserts nothing.
use anyhow::{Context as _, Result};
use reconmap_common::names;
use reconmap_datapath::stats::{run_stats, test_run, Prog};
use reconmap_datapath::{CaptureStream, Datapath, DatapathOptions};
use reconmap_sys::netns::{self, Netns};
use reconmap_sys::RawSender;
use reconmap_wire::{build_ipv4_tcp, FlowAddrs, IpParams, SeqNumber, TcpFlags, TcpSegment};
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

const PROBER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
const PACKETS: u32 = 100_000;
const FLOWS: u16 = 10_000;

fn main() -> Result<()> {
    let prober = Netns::create("bdp")?;
    let server = Netns::create("bds")?;
    netns::veth(&prober, "bp0", &server, "bs0")?;
    prober.run(&["ip", "addr", "add", "198.51.100.1/30", "dev", "bp0"])?;
    server.run(&["ip", "addr", "add", "198.51.100.2/30", "dev", "bs0"])?;
    let server_name = server.name().to_string();
    let rows = prober.enter(move || -> Result<Vec<(String, f64, u64)>> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async move {
            let _stats =
                aya::sys::enable_stats(aya::sys::Stats::RunTime).context("enable BPF stats")?;
            let mut dp = Datapath::attach(&DatapathOptions::new("bp0"))?;
            let mut stream = dp.take_captures()?;
            let flows = dp.flows();
            for port in 0..FLOWS {
                flows.register(flow(20_000 + port).key())?;
            }
            let probe = flow(20_000);
            let mut rows = Vec::new();
            let stats_of = |dp: &Datapath, prog| -> Result<(u64, u64)> {
                let (time, count) = run_stats(dp.ebpf(), prog)?;
                Ok((u64::try_from(time.as_nanos()).unwrap_or(u64::MAX), count))
            };
            let xdp_fd = |dp: &Datapath| stats_of(dp, Prog::Capture);
            let tc_fd = |dp: &Datapath| stats_of(dp, Prog::RstGuard);
            // XDP, unrelated: UDP from the server side into the prober's interface.
            let before = xdp_fd(&dp)?;
            udp_flood_from(&server_name, SERVER, PROBER)?;
            rows.push(delta("capture (XDP), unrelated UDP", before, xdp_fd(&dp)?));
            // XDP, probe flow: TCP segments of a registered flow (captured into the ring).
            let before = xdp_fd(&dp)?;
            let drained = tcp_flood_from(&server_name, &probe, &mut stream).await?;
            rows.push(delta(
                &format!("capture (XDP), probe flow ({drained} captured)"),
                before,
                xdp_fd(&dp)?,
            ));
            // TC, unrelated: UDP leaving the prober.
            let before = tc_fd(&dp)?;
            let sock = UdpSocket::bind(SocketAddrV4::new(PROBER, 0))?;
            sock.connect(SocketAddrV4::new(SERVER, 9))?;
            for _ in 0..PACKETS {
                let _ = sock.send(b"unrelated");
            }
            rows.push(delta("rst_guard (TC), unrelated UDP", before, tc_fd(&dp)?));
            // TC, probe flow: RSTs of a registered flow (dropped).
            let before = tc_fd(&dp)?;
            let sender = RawSender::new(None)?;
            let rst = build_ipv4_tcp(
                &probe,
                &IpParams::default(),
                &TcpSegment {
                    seq: SeqNumber(1),
                    flags: TcpFlags {
                        rst: true,
                        ..TcpFlags::default()
                    },
                    ..TcpSegment::default()
                },
            )?;
            for _ in 0..PACKETS {
                let _ = sender.send(&rst, SERVER);
            }
            rows.push(delta(
                "rst_guard (TC), probe-flow RSTs (dropped)",
                before,
                tc_fd(&dp)?,
            ));
            let c = dp.counters()?;
            println!("counters: {}", serde_json::to_string(&c)?);
            Ok(rows)
        })
    })??;
    println!("live traffic on veth, kernel bpf_stats (includes the stats' own clock reads):");
    println!(
        "{:<48} {:>10} {:>12}",
        "program / traffic", "ns/packet", "runs"
    );
    for (name, ns, runs) in rows {
        println!("{name:<48} {ns:>10.1} {runs:>12}");
    }
    println!("\nBPF_PROG_TEST_RUN, same frames, kernel-timed over many repeats:");
    println!(
        "{:<48} {:>10} {:>12}",
        "program / frame", "ns/packet", "repeats"
    );
    for (name, ns, repeats) in test_run_figures()? {
        println!("{name:<48} {ns:>10.1} {repeats:>12}");
    }
    println!("targets: XDP <= 100 ns per unrelated packet, TC <= 60 ns");
    Ok(())
}

/// Per-run cost under BPF_PROG_TEST_RUN with `repeat` (no stats overhead, no wakeups).
fn test_run_figures() -> Result<Vec<(String, f64, u32)>> {
    let mut ebpf = Datapath::load(reconmap_datapath::LinkKind::Ethernet)?;
    let mut flows: aya::maps::HashMap<_, reconmap_common::FlowKey, reconmap_common::FlowState> =
        aya::maps::HashMap::try_from(ebpf.take_map(names::FLOWS_MAP).context("FLOWS")?)?;
    for port in 0..FLOWS {
        flows.insert(
            flow(20_000 + port).key(),
            reconmap_common::FlowState::default(),
            0,
        )?;
    }
    let eth = |ip: Vec<u8>| {
        let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00];
        f.extend_from_slice(&ip);
        f
    };
    let udp = {
        let mut out = Vec::new();
        etherparse::PacketBuilder::ipv4(SERVER.octets(), PROBER.octets(), 64)
            .udp(4000, 9)
            .write(&mut out, b"unrelated traffic")?;
        eth(out)
    };
    let probe = flow(20_000);
    let reverse = FlowAddrs {
        local: probe.remote,
        remote: probe.local,
    };
    let seg = |f: &FlowAddrs, rst: bool| -> Result<Vec<u8>> {
        Ok(eth(build_ipv4_tcp(
            f,
            &IpParams::default(),
            &TcpSegment {
                seq: SeqNumber(1),
                flags: TcpFlags {
                    rst,
                    ack: !rst,
                    ..TcpFlags::default()
                },
                payload: if rst {
                    bytes::Bytes::new()
                } else {
                    bytes::Bytes::from_static(b"250 ok\r\n")
                },
                ..TcpSegment::default()
            },
        )?))
    };
    let (xdp_fd, tc_fd) = (Prog::Capture, Prog::RstGuard);
    let run = |prog, frame: &[u8], repeat: u32| -> Result<f64> {
        Ok(test_run(&ebpf, prog, frame, repeat)?.duration.as_nanos() as f64)
    };
    Ok(vec![
        (
            "capture (XDP), unrelated UDP".to_string(),
            run(xdp_fd, &udp, 1_000_000)?,
            1_000_000,
        ),
        // The ring (4 MiB) holds about 6,000 captures; stay below so every run really copies.
        (
            "capture (XDP), probe-flow segment (copied)".to_string(),
            run(xdp_fd, &seg(&reverse, false)?, 5_000)?,
            5_000,
        ),
        (
            "rst_guard (TC), unrelated UDP".to_string(),
            run(tc_fd, &udp, 1_000_000)?,
            1_000_000,
        ),
        (
            "rst_guard (TC), probe-flow RST (dropped)".to_string(),
            run(tc_fd, &seg(&probe, true)?, 1_000_000)?,
            1_000_000,
        ),
    ])
}

fn flow(port: u16) -> FlowAddrs {
    FlowAddrs {
        local: SocketAddrV4::new(PROBER, port),
        remote: SocketAddrV4::new(SERVER, 25),
    }
}

fn delta(name: &str, before: (u64, u64), after: (u64, u64)) -> (String, f64, u64) {
    let runs = after.1.saturating_sub(before.1);
    let ns = after.0.saturating_sub(before.0) as f64 / runs.max(1) as f64;
    (name.to_string(), ns, runs)
}

/// Sends PACKETS UDP datagrams from `from` inside namespace `ns` to `to`.
fn udp_flood_from(ns: &str, from: Ipv4Addr, to: Ipv4Addr) -> Result<()> {
    let file = std::fs::File::open(format!("/run/netns/{ns}"))?;
    std::thread::scope(|s| {
        s.spawn(move || -> Result<()> {
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)?;
            let sock = UdpSocket::bind(SocketAddrV4::new(from, 0))?;
            sock.connect(SocketAddrV4::new(to, 9))?;
            for _ in 0..PACKETS {
                let _ = sock.send(b"unrelated traffic");
            }
            Ok(())
        })
        .join()
        .map_err(|_| anyhow::anyhow!("flood thread panicked"))?
    })
}

/// Sends TCP segments of `flow` (server to prober) from namespace `ns`, draining the ring
/// meanwhile; returns how many captures were drained.
async fn tcp_flood_from(ns: &str, flow: &FlowAddrs, stream: &mut CaptureStream) -> Result<u64> {
    let file = std::fs::File::open(format!("/run/netns/{ns}"))?;
    let reverse = FlowAddrs {
        local: flow.remote,
        remote: flow.local,
    };
    let seg = build_ipv4_tcp(
        &reverse,
        &IpParams::default(),
        &TcpSegment {
            seq: SeqNumber(1),
            flags: TcpFlags {
                ack: true,
                ..TcpFlags::default()
            },
            payload: bytes::Bytes::from_static(b"250 ok\r\n"),
            ..TcpSegment::default()
        },
    )?;
    let dst = *flow.local.ip();
    let flood = std::thread::spawn(move || -> Result<()> {
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)?;
        let sender = RawSender::new(None)?;
        for _ in 0..PACKETS {
            let _ = sender.send(&seg, dst);
        }
        Ok(())
    });
    let mut drained = 0u64;
    let mut batch = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while drained < u64::from(PACKETS) && Instant::now() < deadline {
        match tokio::time::timeout(
            Duration::from_millis(500),
            stream.recv_batch(&mut batch, 4096),
        )
        .await
        {
            Ok(r) => {
                drained += r? as u64;
                batch.clear();
            }
            Err(_) if flood.is_finished() => break,
            Err(_) => {}
        }
    }
    flood
        .join()
        .map_err(|_| anyhow::anyhow!("flood thread panicked"))??;
    Ok(drained)
}
