//! The datapath on a real interface: two namespaces joined by a veth pair, a kernel listener on
//! port 25 on one side, raw SYNs from the other. Without our programs the kernel resets the
//! handshake; with them (and the flow registered) no RST leaves and the SYN/ACK comes through
//! the ring buffer; an unregistered flow still gets its RST out. Then: nothing stays attached
//! after the datapath is dropped or its process exits (normally, by SIGTERM, even by SIGKILL).
use reconmap_datapath::{Datapath, DatapathOptions};
use reconmap_sys::netns::{self, Netns};
use reconmap_sys::RawSender;
use reconmap_tests::{nft_counters, nft_load, reconmap_in_netns, require_root};
use reconmap_wire::{
    build_ipv4_tcp, parse_captured, Captured, FlowAddrs, IpParams, SeqNumber, TcpFlags, TcpSegment,
};
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};
use std::process::Stdio;
use std::time::Duration;

const PROBER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
const IFACE: &str = "rmp0";

struct Pair {
    prober: Netns,
    server: Netns,
    _listener: TcpListener,
}

fn pair() -> Pair {
    require_root();
    let prober = Netns::create("dpp").expect("prober ns");
    let server = Netns::create("dps").expect("server ns");
    netns::veth(&prober, IFACE, &server, "rms0").expect("veth");
    prober
        .run(&["ip", "addr", "add", "198.51.100.1/30", "dev", IFACE])
        .expect("addr");
    server
        .run(&["ip", "addr", "add", "198.51.100.2/30", "dev", "rms0"])
        .expect("addr");
    let listener = server
        .enter(|| TcpListener::bind(SocketAddrV4::new(SERVER, 25)))
        .expect("enter")
        .expect("listen");
    // Count the RSTs the server receives.
    nft_load(
        server.name(),
        "table inet rmt {\n chain in { type filter hook input priority 0; tcp flags rst counter; }\n}\n",
    );
    Pair {
        prober,
        server,
        _listener: listener,
    }
}

/// RSTs the server namespace `ns` has received.
fn server_rsts(ns: &str) -> u64 {
    nft_counters(ns, "inet", "rmt", "in").iter().sum()
}

fn syn(flow: &FlowAddrs) -> Vec<u8> {
    let seg = TcpSegment {
        seq: SeqNumber(12345),
        flags: TcpFlags {
            syn: true,
            ..TcpFlags::default()
        },
        window: 64240,
        ..TcpSegment::default()
    };
    build_ipv4_tcp(flow, &IpParams::default(), &seg).expect("syn")
}

/// XDP and TC programs attached to `IFACE` in the prober namespace, as the kernel reports them.
fn attached(p: &Pair) -> (bool, bool) {
    let link = p
        .prober
        .run(&["ip", "-d", "link", "show", "dev", IFACE])
        .unwrap_or_default();
    let xdp = link.contains("xdp");
    let tc_classic = p
        .prober
        .run(&["tc", "filter", "show", "dev", IFACE, "egress"])
        .unwrap_or_default();
    // TCX links are not shown by Debian's bpftool; ask the kernel through aya, in the namespace.
    let tcx = p
        .prober
        .enter(|| {
            aya::programs::SchedClassifier::query_tcx(IFACE, aya::programs::TcAttachType::Egress)
                .map(|(_, progs)| progs.iter().any(|i| i.name_as_str() == Some("rst_guard")))
                .unwrap_or(false)
        })
        .unwrap_or(false);
    (xdp, tcx || !tc_classic.trim().is_empty())
}

#[test]
fn rsts_of_registered_flows_are_dropped_and_syn_acks_captured() {
    let p = pair();
    let flow_of = |port: u16| FlowAddrs {
        local: SocketAddrV4::new(PROBER, port),
        remote: SocketAddrV4::new(SERVER, 25),
    };
    let server_name = p.server.name().to_string();
    let (baseline, guarded, captured, dropped, unguarded) = p
        .prober
        .enter(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("rt");
            rt.block_on(async move {
                let sender = RawSender::new(None).expect("raw socket");
                // 1. Without our programs: the kernel answers the SYN/ACK with a RST.
                sender.send(&syn(&flow_of(61001)), SERVER).expect("send");
                tokio::time::sleep(Duration::from_millis(300)).await;
                let baseline = server_rsts(&server_name);
                // 2. With the datapath and the flow registered.
                let mut dp = Datapath::attach(&DatapathOptions::new(IFACE)).expect("attach");
                let mut stream = dp.take_captures().expect("captures");
                let f2 = flow_of(61002);
                dp.flows().register(f2.key()).expect("register");
                sender.send(&syn(&f2), SERVER).expect("send");
                let cap = tokio::time::timeout(Duration::from_secs(3), stream.recv())
                    .await
                    .expect("a capture within 3 s")
                    .expect("capture");
                let captured = match parse_captured(&cap.data) {
                    Ok(Captured::Tcp(s)) => {
                        s.segment.flags.syn && s.segment.flags.ack && s.dst == f2.local
                    }
                    _ => false,
                };
                tokio::time::sleep(Duration::from_millis(300)).await;
                let guarded = server_rsts(&server_name);
                let dropped = dp.counters().expect("counters").rst_dropped;
                // 3. An unregistered flow still gets its RST out.
                sender.send(&syn(&flow_of(61003)), SERVER).expect("send");
                tokio::time::sleep(Duration::from_millis(300)).await;
                let unguarded = server_rsts(&server_name);
                drop(stream);
                drop(dp);
                (baseline, guarded, captured, dropped, unguarded)
            })
        })
        .expect("enter prober");
    assert!(
        baseline >= 1,
        "without the datapath the server sees the kernel's RST"
    );
    assert!(
        captured,
        "the SYN/ACK of the registered flow came through the ring buffer"
    );
    assert_eq!(
        guarded, baseline,
        "no RST of the registered flow reached the server"
    );
    assert!(dropped >= 1, "rst_guard counted its drop");
    assert!(
        unguarded > guarded,
        "an unregistered flow's RST still goes out"
    );
    assert_eq!(
        attached(&p),
        (false, false),
        "nothing stays attached after drop"
    );
}

/// Runs `reconmap capture` in the prober namespace until it has attached; returns the child.
fn spawn_capture(p: &Pair) -> std::process::Child {
    let mut child = reconmap_in_netns(p.prober.name())
        .args(["capture", "--iface", IFACE, "--seconds", "30"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn reconmap capture");
    let stderr = child.stderr.take().expect("stderr");
    let mut line = String::new();
    BufReader::new(stderr).read_line(&mut line).expect("read");
    assert!(line.contains("attached"), "capture did not attach: {line}");
    child
}

#[test]
fn nothing_stays_attached_after_the_process_ends() {
    let p = pair();
    for signal in [
        None,
        Some(nix::sys::signal::Signal::SIGTERM),
        Some(nix::sys::signal::Signal::SIGKILL),
    ] {
        let mut child = spawn_capture(&p);
        assert_eq!(
            attached(&p),
            (true, true),
            "both programs attached while running"
        );
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
        match signal {
            Some(s) => nix::sys::signal::kill(pid, s).expect("signal"),
            // A normal end: SIGINT is how a user stops it.
            None => nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("signal"),
        }
        let status = child.wait().expect("wait");
        if signal != Some(nix::sys::signal::Signal::SIGKILL) {
            assert!(status.success(), "clean exit on {signal:?}: {status}");
        }
        // fd-based links go with the process; give the kernel a moment to release them.
        let mut left = attached(&p);
        for _ in 0..20 {
            if left == (false, false) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
            left = attached(&p);
        }
        assert_eq!(left, (false, false), "left attached after {signal:?}");
    }
}
