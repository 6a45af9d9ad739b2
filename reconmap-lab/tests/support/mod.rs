//! Helpers of the hostile-lab self-tests: small topologies of namespaces, helper processes
//! that die with the test, tcpdump captures read back with etherparse, and a reading client.
use std::io::{BufRead, BufReader, Read};
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use reconmap_lab::netns::{self, Netns};

/// Fails unless the test runs as root (these tests never skip).
pub fn require_root() {
    assert!(
        reconmap_sys::privilege::is_root(),
        "the hostile-lab self-tests need root (namespaces, tcpdump, NFQUEUE, raw sockets)"
    );
}

pub const CLIENT_ADDR: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
/// The server in a [`Pair`]; the router's west side in a [`Chain`].
pub const PAIR_SERVER_ADDR: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
pub const CHAIN_SERVER_ADDR: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 6);
/// The client's interface in both topologies.
pub const CLIENT_IF: &str = "c0";

/// client (198.51.100.1, `c0`) === server (198.51.100.2, `s0`), one veth pair.
pub struct Pair {
    pub client: Netns,
    pub server: Netns,
}

impl Pair {
    pub fn new() -> Self {
        let client = Netns::create("hc").expect("client namespace");
        let server = Netns::create("hs").expect("server namespace");
        netns::veth(&client, CLIENT_IF, &server, "s0").expect("veth");
        client
            .run(&["ip", "addr", "add", "198.51.100.1/30", "dev", CLIENT_IF])
            .expect("client address");
        server
            .run(&["ip", "addr", "add", "198.51.100.2/30", "dev", "s0"])
            .expect("server address");
        Self { client, server }
    }

    pub fn target(&self, port: u16) -> SocketAddrV4 {
        SocketAddrV4::new(PAIR_SERVER_ADDR, port)
    }
}

/// client (198.51.100.1) === router (.2 `w0` / .5 `e0`) === server (198.51.100.6), the router
/// forwarding, the client with routes to the server's link and to 192.0.2.0/24.
pub struct Chain {
    pub client: Netns,
    pub router: Netns,
    pub server: Netns,
}

impl Chain {
    pub fn new() -> Self {
        let client = Netns::create("fc").expect("client namespace");
        let router = Netns::create("fr").expect("router namespace");
        let server = Netns::create("fs").expect("server namespace");
        netns::veth(&client, CLIENT_IF, &router, "w0").expect("veth west");
        netns::veth(&router, "e0", &server, "s0").expect("veth east");
        client
            .run_with_input(
                &["ip", "-batch", "-"],
                "address add 198.51.100.1/30 dev c0\nroute add 198.51.100.4/30 via 198.51.100.2\nroute add 192.0.2.0/24 via 198.51.100.2\nroute add 203.0.113.0/24 via 198.51.100.2\n",
            )
            .expect("client addresses");
        router
            .run_with_input(
                &["ip", "-batch", "-"],
                "address add 198.51.100.2/30 dev w0\naddress add 198.51.100.5/30 dev e0\n",
            )
            .expect("router addresses");
        router
            .sysctl("net.ipv4.ip_forward", "1")
            .expect("forwarding");
        server
            .run_with_input(
                &["ip", "-batch", "-"],
                "address add 198.51.100.6/30 dev s0\nroute add 198.51.100.0/24 via 198.51.100.5\n",
            )
            .expect("server addresses");
        Self {
            client,
            router,
            server,
        }
    }

    pub fn target(&self) -> SocketAddrV4 {
        SocketAddrV4::new(CHAIN_SERVER_ADDR, 25)
    }
}

/// A helper process killed (by its PID) and reaped when dropped.
pub struct Proc {
    child: Child,
    name: String,
}

impl Proc {
    /// Starts `program ARGS` in `ns` and waits for its first stderr line (the helpers print
    /// it once they listen or have bound their queue); the rest of stderr goes to the test's.
    pub fn start_in(ns: &Netns, program: &str, args: &[&str]) -> Self {
        let mut child = ns
            .command(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {program}: {e}"));
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr);
        let mut first = String::new();
        lines.read_line(&mut first).expect("first stderr line");
        let name = Path::new(program)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        eprintln!("[{name}] {}", first.trim_end());
        let mut proc = Self { child, name };
        if let Ok(Some(status)) = proc.child.try_wait() {
            panic!("{program} exited at once ({status}): {first}");
        }
        let tag = proc.name.clone();
        std::thread::spawn(move || {
            for line in lines.lines().map_while(Result::ok) {
                eprintln!("[{tag}] {line}");
            }
        });
        assert!(!first.is_empty(), "{} printed nothing", proc.name);
        proc
    }

    /// Sends SIGTERM and waits for the process to end.
    pub fn terminate(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The hostile SMTP server in `ns` on `0.0.0.0:port` with `behaviour` and extra arguments.
pub fn hostile_smtp(ns: &Netns, port: u16, behaviour: &str, extra: &[&str]) -> Proc {
    let listen = format!("0.0.0.0:{port}");
    let mut args = vec!["--listen", &listen, "--behaviour", behaviour];
    args.extend_from_slice(extra);
    Proc::start_in(ns, env!("CARGO_BIN_EXE_reconmap-hostile-smtp"), &args)
}

/// A temporary directory, removed on drop.
pub use reconmap_sys::tempdir::TempDir;

/// tcpdump writing TCP and ICMP packets of one interface in one namespace to a file.
pub struct Capture {
    proc: Option<Proc>,
    file: PathBuf,
    _dir: TempDir,
}

impl Capture {
    /// Starts the capture and returns once tcpdump listens.
    pub fn start(ns: &Netns, iface: &str) -> Self {
        let dir = TempDir::create("hostile").expect("temp dir");
        let file = dir.path("capture.pcap");
        let file_arg = file.to_string_lossy().into_owned();
        // --immediate-mode and -U: every packet reaches the file at once, so stopping the
        // capture right after the traffic loses nothing.
        let proc = Proc::start_in(
            ns,
            "tcpdump",
            &[
                "-i",
                iface,
                "-n",
                "-U",
                "--immediate-mode",
                "-w",
                &file_arg,
                "tcp or icmp",
            ],
        );
        Self {
            proc: Some(proc),
            file,
            _dir: dir,
        }
    }

    /// Stops tcpdump and returns the packets it saw.
    pub fn finish(mut self) -> Vec<Packet> {
        // Let the last packets of the traffic reach the interface.
        std::thread::sleep(Duration::from_millis(100));
        if let Some(p) = self.proc.take() {
            p.terminate();
        }
        let bytes = std::fs::read(&self.file).expect("read capture");
        read_pcap(&bytes)
    }
}

/// One captured IPv4 packet.
#[derive(Debug, Clone)]
pub struct Packet {
    /// The IP datagram.
    pub ip: Vec<u8>,
    /// The TCP segment, if it is one.
    pub tcp: Option<Segment>,
}

/// The fields of a captured TCP segment the tests look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    pub syn: bool,
    pub fin: bool,
    pub rst: bool,
    pub has_ack: bool,
    pub payload: Vec<u8>,
}

impl Packet {
    /// Whether this is a TCP segment from `port` (the server side) toward the client.
    pub fn sent_by_port(&self, port: u16) -> Option<&Segment> {
        self.tcp.as_ref().filter(|s| s.sport == port)
    }

    pub fn sent_to_port(&self, port: u16) -> Option<&Segment> {
        self.tcp.as_ref().filter(|s| s.dport == port)
    }
}

/// The IPv4 packets of a classic pcap file (Ethernet link type) written by tcpdump.
pub fn read_pcap(bytes: &[u8]) -> Vec<Packet> {
    let magic = bytes.get(..4).expect("pcap header");
    // Microsecond or nanosecond timestamps, little or big endian.
    let le = match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => false,
        other => panic!("not a pcap file: {other:?}"),
    };
    let u32_at = |at: usize| -> u32 {
        let b: [u8; 4] = bytes
            .get(at..at + 4)
            .expect("pcap field")
            .try_into()
            .expect("4 bytes");
        if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    };
    assert_eq!(u32_at(20), 1, "link type must be Ethernet");
    let mut packets = Vec::new();
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let len = usize::try_from(u32_at(at + 8)).expect("length");
        let frame = bytes
            .get(at + 16..at + 16 + len)
            .expect("truncated pcap record");
        at += 16 + len;
        if let Some(p) = parse_frame(frame) {
            packets.push(p);
        }
    }
    packets
}

fn parse_frame(frame: &[u8]) -> Option<Packet> {
    let sliced = SlicedPacket::from_ethernet(frame).ok()?;
    let Some(NetSlice::Ipv4(ip)) = &sliced.net else {
        return None;
    };
    let header = ip.header();
    let total = usize::from(header.total_len()).min(frame.len().saturating_sub(14));
    let datagram = frame.get(14..14 + total)?.to_vec();
    let tcp = match &sliced.transport {
        Some(TransportSlice::Tcp(t)) => Some(Segment {
            sport: t.source_port(),
            dport: t.destination_port(),
            seq: t.sequence_number(),
            ack: t.acknowledgment_number(),
            syn: t.syn(),
            fin: t.fin(),
            rst: t.rst(),
            has_ack: t.ack(),
            payload: t.payload().to_vec(),
        }),
        _ => None,
    };
    Some(Packet { ip: datagram, tcp })
}

/// Why [`read_until`] stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// What was read ends with the suffix asked for.
    Suffix,
    /// The server closed (FIN).
    Eof,
    /// Nothing more came within the time limit.
    Timeout,
    /// Another error, e.g. a reset.
    Error(std::io::ErrorKind),
}

/// Reads from `stream` until the bytes read end with `suffix` (an empty suffix: until EOF,
/// error or the time limit), at most `limit` long.
pub fn read_until(stream: &mut TcpStream, suffix: &[u8], limit: Duration) -> (Vec<u8>, Stop) {
    let deadline = Instant::now() + limit;
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        if !suffix.is_empty() && got.ends_with(suffix) {
            return (got, Stop::Suffix);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (got, Stop::Timeout);
        }
        stream.set_read_timeout(Some(left)).expect("timeout");
        match stream.read(&mut buf) {
            Ok(0) => return (got, Stop::Eof),
            Ok(n) => got.extend_from_slice(buf.get(..n).unwrap_or_default()),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return (got, Stop::Timeout)
            }
            Err(e) => return (got, Stop::Error(e.kind())),
        }
    }
}

/// Connects from the calling thread's namespace (up to 5 s).
pub fn connect(target: SocketAddrV4) -> TcpStream {
    TcpStream::connect_timeout(&target.into(), Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("connect {target}: {e}"))
}

/// The server's data segments of one connection (`client_port`), grouped by the client data
/// segment they follow: group 0 = before the client sent anything (the banner), group k =
/// after the k-th client data segment. Retransmissions (on either side) are left out.
pub fn replies(packets: &[Packet], port: u16, client_port: u16) -> Vec<Vec<Segment>> {
    let mut groups: Vec<Vec<Segment>> = vec![Vec::new()];
    let mut from_client = Fresh::default();
    let mut from_server = Fresh::default();
    for p in packets {
        let Some(s) = &p.tcp else { continue };
        if s.dport == port && s.sport == client_port {
            if from_client.is_new(s) && !s.payload.is_empty() {
                groups.push(Vec::new());
            }
        } else if s.sport == port && s.dport == client_port && from_server.is_new(s) {
            if let Some(g) = groups.last_mut().filter(|_| !s.payload.is_empty()) {
                g.push(s.clone());
            }
        }
    }
    groups
}

/// The segments of one direction that carry new data or a new FIN, as first sent: what the
/// sender's writes made. Retransmissions, which the kernel may merge, are left out.
pub fn fresh(segments: &[Segment]) -> Vec<Segment> {
    let mut seen = Fresh::default();
    segments
        .iter()
        .filter(|s| seen.is_new(s) && (!s.payload.is_empty() || s.fin))
        .cloned()
        .collect()
}

/// Tracks the next sequence number of one direction of a connection.
#[derive(Default)]
struct Fresh {
    next: Option<u32>,
}

impl Fresh {
    /// Whether `s` starts at the next new sequence number (a SYN sets it; segments without
    /// data or FIN are never new).
    fn is_new(&mut self, s: &Segment) -> bool {
        if s.syn {
            self.next = Some(s.seq.wrapping_add(1));
            return false;
        }
        let len = u32::try_from(s.payload.len()).unwrap_or(u32::MAX) + u32::from(s.fin);
        if len == 0 || self.next.is_some_and(|n| n != s.seq) {
            return false;
        }
        self.next = Some(s.seq.wrapping_add(len));
        true
    }
}

/// The server's TCP segments (from `port`) to one client port, in capture order.
pub fn server_segments(packets: &[Packet], port: u16, client_port: u16) -> Vec<Segment> {
    packets
        .iter()
        .filter_map(|p| p.sent_by_port(port))
        .filter(|s| s.dport == client_port)
        .cloned()
        .collect()
}

/// The client's TCP segments from `client_port`, in capture order.
pub fn client_segments(packets: &[Packet], client_port: u16) -> Vec<Segment> {
    packets
        .iter()
        .filter_map(|p| p.tcp.as_ref())
        .filter(|s| s.sport == client_port)
        .cloned()
        .collect()
}

/// Reads until at least `n` bytes came, the stream ended or `limit` passed.
pub fn read_at_least(stream: &mut TcpStream, n: usize, limit: Duration) -> (Vec<u8>, Stop) {
    let deadline = Instant::now() + limit;
    let mut got = Vec::with_capacity(n);
    let mut buf = vec![0u8; 1 << 16];
    while got.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (got, Stop::Timeout);
        }
        stream.set_read_timeout(Some(left)).expect("timeout");
        match stream.read(&mut buf) {
            Ok(0) => return (got, Stop::Eof),
            Ok(k) => got.extend_from_slice(buf.get(..k).unwrap_or_default()),
            Err(e) => return (got, Stop::Error(e.kind())),
        }
    }
    (got, Stop::Suffix)
}

/// The `TcpExt` counters of the namespace (`/proc/net/netstat` read inside it).
pub fn tcp_ext(ns: &Netns) -> std::collections::HashMap<String, u64> {
    let text = ns.run(&["cat", "/proc/net/netstat"]).expect("netstat");
    let rows: Vec<&str> = text.lines().filter(|l| l.starts_with("TcpExt:")).collect();
    let [names, values] = rows.as_slice() else {
        panic!("no TcpExt rows in {text}");
    };
    names
        .split_whitespace()
        .skip(1)
        .zip(values.split_whitespace().skip(1))
        .map(|(k, v)| (k.to_owned(), v.parse().expect("counter")))
        .collect()
}

/// The Internet checksum (RFC 1071): 0 over a region that carries a correct checksum.
pub fn inet_checksum(bytes: &[u8]) -> u16 {
    let mut sum: u64 = 0;
    for pair in bytes.chunks(2) {
        let hi = u64::from(pair.first().copied().unwrap_or_default());
        let lo = u64::from(pair.get(1).copied().unwrap_or_default());
        sum += (hi << 8) | lo;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}
