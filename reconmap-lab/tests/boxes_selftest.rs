//! Self-tests of the real-world boxes (run as root). Each builds its own chain of namespaces
//! `client — r1 — r2 — r3 — server`, puts a box on a router, and checks what the box claims
//! with tools that do not share its code: kernel TCP/UDP sockets, a raw ICMP socket, tcpdump
//! captures parsed with etherparse, `openssl s_client` and `traceroute`.
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use etherparse::{
    Icmpv4Slice, Icmpv4Type, Ipv4HeaderSlice, NetSlice, SlicedPacket, TcpOptionElement,
    TransportSlice,
};
use reconmap_lab::boxes::{
    start_lsr, start_middlebox, start_proxy, BoxMode, IpIdStyle, LsrSpec, ProxySpec, StarttlsPolicy,
};
use reconmap_lab::netns::{self, Netns};
use reconmap_lab::postfix::Postfix;
use reconmap_lab::scenario::TlsProfile;
use reconmap_lab::smtp_session;

/// The server's address (on its lo).
const SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 25);
/// The client's address.
const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
/// A prefix r2 has an `unreachable` route for (Destination Unreachable from r2).
const UNREACHABLE: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 99);
/// Routers between client and server; the server is at TTL `ROUTERS + 1`.
const ROUTERS: usize = 3;
const WAIT: Duration = Duration::from_secs(5);

static NEXT: AtomicU32 = AtomicU32::new(0);

fn require_root() {
    assert!(
        reconmap_sys::privilege::is_root(),
        "the box self-tests need root (network namespaces, iptables, raw sockets)"
    );
}

/// Address of hop `k` on its west side (where its ICMP errors come from).
fn hop_addr(k: usize) -> Ipv4Addr {
    Ipv4Addr::new(198, 51, 100, u8::try_from(4 * k - 2).expect("hop"))
}

/// `west`/`east` addresses of link `i` (node i's east = .4i+1, node i+1's west = .4i+2).
fn link(i: usize, far_end: bool) -> Ipv4Addr {
    Ipv4Addr::new(
        198,
        51,
        100,
        u8::try_from(4 * i + 1 + usize::from(far_end)).expect("link"),
    )
}

/// client — r1 — r2 — r3 — server, torn down on drop (Postfix first, then namespaces, then
/// the temp dir).
struct Chain {
    postfix: Option<Postfix>,
    nodes: Vec<Netns>,
    dir: PathBuf,
}

impl Chain {
    fn up(with_postfix: bool) -> Chain {
        require_root();
        let start = Instant::now();
        let dir = std::env::temp_dir().join(format!(
            "{}{}-boxes-{}",
            netns::PREFIX,
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut chain = Chain {
            postfix: None,
            nodes: Vec::new(),
            dir,
        };
        chain.nodes.push(Netns::create("client").expect("netns"));
        for k in 1..=ROUTERS {
            chain
                .nodes
                .push(Netns::create(&format!("r{k}")).expect("netns"));
        }
        chain.nodes.push(Netns::create("server").expect("netns"));
        for pair in chain.nodes.windows(2) {
            netns::veth(&pair[0], "east", &pair[1], "west").expect("veth");
        }
        let last = ROUTERS + 1;
        for (i, node) in chain.nodes.iter().enumerate() {
            let mut lines = Vec::new();
            if i > 0 {
                lines.push(format!("address add {}/30 dev west", link(i - 1, true)));
                lines.push(format!(
                    "route add 198.51.100.0/24 via {}",
                    link(i - 1, false)
                ));
            }
            if i < last {
                lines.push(format!("address add {}/30 dev east", link(i, false)));
                let gw = link(i, true);
                for j in i + 1..last {
                    lines.push(format!("route add 198.51.100.{}/30 via {gw}", 4 * j));
                }
                lines.push(format!("route add 192.0.2.0/24 via {gw}"));
                if i == 2 {
                    lines.push("route add unreachable 203.0.113.0/24".into());
                } else if i < 2 {
                    lines.push(format!("route add 203.0.113.0/24 via {gw}"));
                }
                if i == 0 {
                    // The client's route toward r1 for the links (the /24 above is for routers).
                    lines.push(format!("route add 198.51.100.0/24 via {gw}"));
                }
            } else {
                lines.push(format!("address add {SERVER}/32 dev lo"));
            }
            let mut text = lines.join("\n");
            text.push('\n');
            node.run_with_input(&["ip", "-batch", "-"], &text)
                .unwrap_or_else(|e| panic!("node {i}: {e}\n{text}"));
            if (1..last).contains(&i) {
                node.run(&[
                    "sysctl",
                    "-q",
                    "-w",
                    "net.ipv4.ip_forward=1",
                    "net.ipv4.icmp_ratelimit=0",
                    "net.ipv4.icmp_msgs_per_sec=1000000",
                    "net.ipv4.icmp_msgs_burst=1000000",
                ])
                .expect("sysctl");
            }
        }
        if with_postfix {
            chain.postfix = Some(
                Postfix::start(
                    chain.server(),
                    &chain.dir.join("postfix"),
                    Some(TlsProfile::Modern),
                )
                .expect("postfix"),
            );
        }
        eprintln!("chain up in {:?}", start.elapsed());
        chain
    }

    fn client(&self) -> &Netns {
        &self.nodes[0]
    }

    fn router(&self, k: usize) -> &Netns {
        &self.nodes[k]
    }

    fn server(&self) -> &Netns {
        &self.nodes[ROUTERS + 1]
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for Chain {
    fn drop(&mut self) {
        drop(self.postfix.take());
        while let Some(ns) = self.nodes.pop() {
            drop(ns);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ---------------------------------------------------------------------------------------------
// tcpdump captures

/// One captured IPv4 packet, the fields the checks need.
#[derive(Debug, Clone)]
struct Pkt {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ttl: u8,
    ip_id: u16,
    tcp: Option<Seg>,
}

#[derive(Debug, Clone)]
struct Seg {
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    syn: bool,
    ack_flag: bool,
    rst: bool,
    /// SACK blocks (left, right).
    sack: Vec<(u32, u32)>,
    payload: Vec<u8>,
}

/// A running `tcpdump -w`; killed (by PID) on drop if not stopped.
struct Capture {
    child: Option<Child>,
    file: PathBuf,
}

impl Capture {
    /// Starts tcpdump on `iface` in `ns` and waits until it listens.
    fn start(ns: &Netns, iface: &str, filter: &str, file: &Path) -> Capture {
        let mut child = ns
            .command("tcpdump")
            .args([
                "-n",
                "-U",
                "--immediate-mode",
                "-Z",
                "root",
                "-i",
                iface,
                "-w",
            ])
            .arg(file)
            .args(filter.split_whitespace())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tcpdump");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stderr);
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 {
                if line.contains("listening on") {
                    let _ = tx.send(());
                }
                line.clear();
            }
        });
        rx.recv_timeout(WAIT)
            .expect("tcpdump did not start listening");
        Capture {
            child: Some(child),
            file: file.to_owned(),
        }
    }

    /// Stops tcpdump (SIGINT: it flushes) and parses what it wrote.
    fn stop(mut self) -> Vec<Pkt> {
        std::thread::sleep(Duration::from_millis(150));
        if let Some(mut child) = self.child.take() {
            let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
            let _ = child.wait();
        }
        let data = std::fs::read(&self.file).expect("pcap file");
        let pkts = parse_pcap(&data);
        eprintln!(
            "{}: {} bytes, {} packets",
            self.file.display(),
            data.len(),
            pkts.len()
        );
        pkts
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Parses a classic pcap file of Ethernet frames.
fn parse_pcap(data: &[u8]) -> Vec<Pkt> {
    assert!(data.len() >= 24, "pcap header");
    let magic = u32::from_le_bytes(data[..4].try_into().expect("magic"));
    assert!(
        magic == 0xa1b2_c3d4 || magic == 0xa1b2_3c4d,
        "little-endian pcap expected, magic {magic:#x}"
    );
    let linktype = u32::from_le_bytes(data[20..24].try_into().expect("linktype"));
    assert_eq!(linktype, 1, "Ethernet");
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= data.len() {
        let incl = u32::from_le_bytes(data[at + 8..at + 12].try_into().expect("len")) as usize;
        let frame = &data[at + 16..(at + 16 + incl).min(data.len())];
        at += 16 + incl;
        let Ok(p) = SlicedPacket::from_ethernet(frame) else {
            continue;
        };
        let Some(NetSlice::Ipv4(ip)) = &p.net else {
            continue;
        };
        let h = ip.header();
        let tcp = match &p.transport {
            Some(TransportSlice::Tcp(t)) => Some(Seg {
                sport: t.source_port(),
                dport: t.destination_port(),
                seq: t.sequence_number(),
                ack: t.acknowledgment_number(),
                syn: t.syn(),
                ack_flag: t.ack(),
                rst: t.rst(),
                sack: t
                    .options_iterator()
                    .filter_map(Result::ok)
                    .filter_map(|o| match o {
                        TcpOptionElement::SelectiveAcknowledgement(first, rest) => {
                            Some(std::iter::once(first).chain(rest.into_iter().flatten()))
                        }
                        _ => None,
                    })
                    .flatten()
                    .collect(),
                payload: t.payload().to_vec(),
            }),
            _ => None,
        };
        out.push(Pkt {
            src: h.source_addr(),
            dst: h.destination_addr(),
            ttl: h.ttl(),
            ip_id: h.identification(),
            tcp,
        });
    }
    out
}

// ---------------------------------------------------------------------------------------------
// ICMP

fn raw_icmp_socket() -> OwnedFd {
    // SAFETY: plain socket(2); checked before it is wrapped.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP) };
    assert!(fd >= 0, "raw socket: {}", std::io::Error::last_os_error());
    // SAFETY: a fresh descriptor owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 100_000,
    };
    // SAFETY: tv outlives the call; its size is passed.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&raw const tv).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0);
    fd
}

/// An ICMP error as the raw socket got it.
#[derive(Debug, Clone)]
struct IcmpError {
    from: Ipv4Addr,
    icmp_type: u8,
    /// The whole datagram (outer IP header included).
    datagram: Vec<u8>,
    /// The quoted bytes (after the 8-byte ICMP header).
    quote: Vec<u8>,
}

/// Waits for an ICMP error whose quote satisfies `matches`.
fn recv_icmp_error(fd: &OwnedFd, matches: impl Fn(&[u8]) -> bool) -> Option<IcmpError> {
    let deadline = Instant::now() + Duration::from_millis(1500);
    let mut buf = [0u8; 2000];
    while Instant::now() < deadline {
        // SAFETY: buf is valid for its length.
        let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        let Ok(n) = usize::try_from(n) else { continue };
        let d = &buf[..n];
        let Ok(ip) = Ipv4HeaderSlice::from_slice(d) else {
            continue;
        };
        let Ok(icmp) = Icmpv4Slice::from_slice(&d[ip.slice().len()..]) else {
            continue;
        };
        let icmp_type = icmp.type_u8();
        if !matches!(
            icmp.icmp_type(),
            Icmpv4Type::TimeExceeded(_) | Icmpv4Type::DestinationUnreachable(_)
        ) {
            continue;
        }
        let quote = icmp.payload();
        if matches(quote) {
            return Some(IcmpError {
                from: ip.source_addr(),
                icmp_type,
                datagram: d.to_vec(),
                quote: quote.to_vec(),
            });
        }
    }
    None
}

/// RFC 1071: a header or message with its checksum in place sums to 0xffff.
fn checksum_ok(data: &[u8]) -> bool {
    let mut sum: u64 = 0;
    for c in data.chunks(2) {
        sum += u64::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum == 0xffff
}

/// The quoted datagram's IP header length, source port, IP ID and TCP seq (when present).
fn quoted(quote: &[u8]) -> Option<(usize, u16, u16)> {
    let ip = Ipv4HeaderSlice::from_slice(quote).ok()?;
    let l4 = quote.get(ip.slice().len()..)?;
    let sport = u16::from_be_bytes([*l4.first()?, *l4.get(1)?]);
    Some((ip.slice().len(), sport, ip.identification()))
}

// ---------------------------------------------------------------------------------------------
// 1. --truncate-quotes

#[test]
fn truncate_quotes_cut_icmp_errors_to_n_bytes() {
    let chain = Chain::up(false);
    let _r1 = start_middlebox(chain.router(1), &BoxMode::TruncateQuotes(28), 1).expect("r1 box");
    let _r2 = start_middlebox(chain.router(2), &BoxMode::TruncateQuotes(40), 2).expect("r2 box");
    let busy = start_middlebox(chain.router(1), &BoxMode::TruncateQuotes(40), 1);
    assert!(
        busy.is_err(),
        "a second box on a bound queue fails to start"
    );
    let results = chain
        .client()
        .enter(|| {
            let icmp = raw_icmp_socket();
            let udp = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).expect("udp");
            let port = udp.local_addr().expect("addr").port();
            let payload = [0x5a_u8; 300];
            let ours = |q: &[u8]| quoted(q).is_some_and(|(_, sport, _)| sport == port);
            // Destination Unreachable first: r2's route-error limiter shares its per-peer
            // token bucket with the ICMP limiter, which the Time Exceeded would empty.
            udp.send_to(&payload, SocketAddrV4::new(UNREACHABLE, 33434))
                .expect("send");
            let mut got = vec![recv_icmp_error(&icmp, ours)];
            for ttl in 1..=3u32 {
                udp.set_ttl(ttl).expect("ttl");
                udp.send_to(&payload, SocketAddrV4::new(SERVER, 33434))
                    .expect("send");
                got.push(recv_icmp_error(&icmp, ours));
            }
            got
        })
        .expect("enter client");
    let want = [
        (hop_addr(2), 3, 40),
        (hop_addr(1), 11, 28),
        (hop_addr(2), 11, 40),
        (hop_addr(3), 11, 20 + 8 + 300),
    ];
    for (got, (from, icmp_type, len)) in results.iter().zip(want) {
        let e = got
            .as_ref()
            .unwrap_or_else(|| panic!("no ICMP error from {from}: {results:?}"));
        assert_eq!(
            (e.from, e.icmp_type, e.quote.len()),
            (from, icmp_type, len),
            "from, type, quote length"
        );
        let ihl = usize::from(e.datagram[0] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([e.datagram[2], e.datagram[3]]));
        assert_eq!(total, e.datagram.len(), "outer total length fixed");
        assert!(checksum_ok(&e.datagram[..ihl]), "outer IP checksum");
        assert!(checksum_ok(&e.datagram[ihl..]), "ICMP checksum");
        // The quote is the head of what was sent: the inner header still says 328 bytes of
        // UDP datagram, and the UDP header (length 308) is intact when quoted.
        let inner_total = u16::from_be_bytes([e.quote[2], e.quote[3]]);
        assert_eq!(inner_total, 328);
        assert_eq!(u16::from_be_bytes([e.quote[24], e.quote[25]]), 308);
    }
}

// ---------------------------------------------------------------------------------------------
// 2. --rewrite-ip-id

/// A session up to EHLO on a kernel TCP socket, then STARTTLS sent with IP TTL `ttl`; returns
/// the client port, the Time Exceeded quote it drew (if any).
fn starttls_with_ttl(target: SocketAddrV4, ttl: u32) -> (u16, Option<IcmpError>) {
    let icmp = raw_icmp_socket();
    let stream = TcpStream::connect_timeout(&target.into(), WAIT).expect("connect");
    stream.set_read_timeout(Some(WAIT)).expect("timeout");
    let port = stream.local_addr().expect("addr").port();
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut writer = stream;
    let read_reply = |r: &mut BufReader<TcpStream>| {
        let mut line = String::new();
        loop {
            line.clear();
            r.read_line(&mut line).expect("reply");
            if line.as_bytes().get(3) != Some(&b'-') {
                break;
            }
        }
    };
    read_reply(&mut reader);
    writer
        .write_all(b"EHLO client.lab.example\r\n")
        .expect("EHLO");
    read_reply(&mut reader);
    writer.set_ttl(ttl).expect("ttl");
    writer.write_all(b"STARTTLS\r\n").expect("STARTTLS");
    let quote = recv_icmp_error(&icmp, |q| {
        quoted(q).is_some_and(|(ihl, sport, _)| sport == port && q.len() > ihl + 20)
    });
    (port, quote)
}

#[test]
fn rewrite_ip_id_reaches_server_and_later_quotes() {
    const START: u16 = 0x4242;
    let chain = Chain::up(true);
    let _box = start_middlebox(
        chain.router(2),
        &BoxMode::RewriteIpId(IpIdStyle::Counter(START)),
        1,
    )
    .expect("box");
    let at_client = Capture::start(chain.client(), "east", "tcp port 25", &chain.path("c.pcap"));
    let at_server = Capture::start(chain.server(), "west", "tcp port 25", &chain.path("s.pcap"));
    let target = SocketAddrV4::new(SERVER, 25);
    let session = chain
        .client()
        .enter(move || smtp_session(target, "client.lab.example", true, WAIT))
        .expect("enter")
        .expect("the server accepts the rewritten segments");
    assert_eq!(session.starttls_code(), Some(220), "{session:?}");
    // Let the session's close finish before other segments take counter values.
    std::thread::sleep(Duration::from_millis(300));
    let ((_, at_box), (_, beyond)) = chain
        .client()
        .enter(move || (starttls_with_ttl(target, 2), starttls_with_ttl(target, 3)))
        .expect("enter");
    let client_pkts = at_client.stop();
    let server_pkts = at_server.stop();

    // The session's client->server segments, in the order the server got them, carry the
    // box's counter; the same segments left the client with other IDs.
    let first_port = client_pkts
        .iter()
        .find_map(|p| {
            p.tcp
                .as_ref()
                .filter(|t| t.syn && !t.ack_flag)
                .map(|t| t.sport)
        })
        .expect("SYN");
    let key = |t: &Seg| (t.seq, t.ack, t.syn, t.payload.clone());
    let sent: Vec<(u16, &Seg)> = client_pkts
        .iter()
        .filter_map(|p| Some((p.ip_id, p.tcp.as_ref().filter(|t| t.sport == first_port)?)))
        .collect();
    let arrived: Vec<(u16, &Seg)> = server_pkts
        .iter()
        .filter(|p| p.src == CLIENT)
        .filter_map(|p| Some((p.ip_id, p.tcp.as_ref().filter(|t| t.sport == first_port)?)))
        .collect();
    assert!(arrived.len() >= 4, "SYN, ACK, EHLO, STARTTLS: {arrived:?}");
    for (i, (id, seg)) in arrived.iter().enumerate() {
        assert_eq!(
            *id,
            START.wrapping_add(u16::try_from(i).expect("count")),
            "segment {i} at the server"
        );
        let (sent_id, _) = sent
            .iter()
            .find(|(_, s)| key(s) == key(seg))
            .unwrap_or_else(|| panic!("segment {i} not seen at the client"));
        assert_ne!(sent_id, id, "segment {i}: the ID was rewritten");
    }

    // Quotes: r2 checks the TTL before FORWARD, so its own quote has the client's ID; r3 (beyond
    // the box) quotes the rewritten one.
    let sent_id_of = |quote: &IcmpError| {
        let (ihl, sport, _) = quoted(&quote.quote).expect("quote");
        let seq = u32::from_be_bytes(quote.quote[ihl + 4..ihl + 8].try_into().expect("seq"));
        client_pkts
            .iter()
            .find(|p| {
                p.tcp
                    .as_ref()
                    .is_some_and(|t| t.sport == sport && t.seq == seq && !t.payload.is_empty())
            })
            .map(|p| p.ip_id)
            .expect("quoted segment seen at the client")
    };
    let at_box = at_box.expect("Time Exceeded from r2");
    let beyond = beyond.expect("Time Exceeded from r3");
    assert_eq!((at_box.from, beyond.from), (hop_addr(2), hop_addr(3)));
    let id = |q: &IcmpError| quoted(&q.quote).expect("quote").2;
    assert_eq!(
        id(&at_box),
        sent_id_of(&at_box),
        "r2 quotes the original ID"
    );
    assert_ne!(
        id(&beyond),
        sent_id_of(&beyond),
        "r3 quotes the rewritten ID"
    );
    let counted = id(&beyond).wrapping_sub(START);
    assert!(
        counted < 100,
        "r3's quote carries a counter value: {:#x}",
        id(&beyond)
    );
}

// ---------------------------------------------------------------------------------------------
// 3. --seq-randomise

/// An echo server on `0.0.0.0:25` inside `ns` for `connections` connections.
fn echo_server(ns: &Netns, connections: usize) -> std::thread::JoinHandle<()> {
    let listener = ns
        .enter(|| TcpListener::bind((Ipv4Addr::UNSPECIFIED, 25)).expect("bind 25"))
        .expect("enter server");
    std::thread::spawn(move || {
        for _ in 0..connections {
            let (mut s, _) = listener.accept().expect("accept");
            s.set_read_timeout(Some(WAIT)).expect("timeout");
            let mut r = s.try_clone().expect("clone");
            std::io::copy(&mut r, &mut s).expect("echo");
            let _ = s.shutdown(std::net::Shutdown::Write);
        }
    })
}

/// Sends `data` through a kernel TCP connection to an echo server and returns what came back.
fn echo_through(target: SocketAddrV4, data: Vec<u8>) -> Vec<u8> {
    let stream = TcpStream::connect_timeout(&target.into(), WAIT).expect("connect");
    stream.set_read_timeout(Some(WAIT)).expect("timeout");
    let mut writer = stream.try_clone().expect("clone");
    let sender = std::thread::spawn(move || {
        writer.write_all(&data).expect("send");
        writer
            .shutdown(std::net::Shutdown::Write)
            .expect("shutdown");
    });
    let mut back = Vec::new();
    (&stream).read_to_end(&mut back).expect("receive");
    sender.join().expect("sender");
    back
}

#[test]
fn seq_randomise_offsets_each_flow_and_the_connection_works() {
    let chain = Chain::up(false);
    let server = echo_server(chain.server(), 2);
    let _box = start_middlebox(chain.router(2), &BoxMode::SeqRandomise, 1).expect("box");
    // Loss beyond the box makes the server send SACK blocks (in the randomised space).
    chain
        .router(3)
        .run(&[
            "iptables",
            "-A",
            "FORWARD",
            "-p",
            "tcp",
            "--dport",
            "25",
            "-m",
            "length",
            "--length",
            "1000:",
            "-m",
            "statistic",
            "--mode",
            "nth",
            "--every",
            "40",
            "--packet",
            "7",
            "-j",
            "DROP",
        ])
        .expect("loss rule");
    let at_client = Capture::start(
        chain.client(),
        "east",
        "-s 96 tcp port 25",
        &chain.path("c.pcap"),
    );
    let at_server = Capture::start(
        chain.server(),
        "west",
        "-s 96 tcp port 25",
        &chain.path("s.pcap"),
    );
    let target = SocketAddrV4::new(SERVER, 25);
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    for _ in 0..2 {
        let sent = data.clone();
        let back = chain
            .client()
            .enter(move || echo_through(target, sent))
            .expect("enter");
        assert!(
            back == data,
            "echo differs: {} of {} bytes",
            back.len(),
            data.len()
        );
    }
    server.join().expect("echo server");
    let client_pkts = at_client.stop();
    let server_pkts = at_server.stop();

    let flows: Vec<u16> = client_pkts
        .iter()
        .filter_map(|p| {
            p.tcp
                .as_ref()
                .filter(|t| t.syn && !t.ack_flag)
                .map(|t| t.sport)
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(flows.len(), 2, "two connections");
    let mut offsets = Vec::new();
    for port in flows {
        let of = |pkts: &[Pkt], to_server: bool| -> Vec<Seg> {
            pkts.iter()
                .filter_map(|p| p.tcp.clone())
                .filter(|t| {
                    if to_server {
                        t.sport == port
                    } else {
                        t.dport == port
                    }
                })
                .collect()
        };
        let (c_out, s_in) = (of(&client_pkts, true), of(&server_pkts, true));
        let (s_out, c_in) = (of(&server_pkts, false), of(&client_pkts, false));
        let isn = |segs: &[Seg]| segs.iter().find(|t| t.syn).map(|t| t.seq).expect("SYN");
        let offset = isn(&s_in).wrapping_sub(isn(&c_out));
        assert_ne!(offset, 0, "flow {port}: the ISN was randomised");
        // Every client->server sequence number moved by the flow's offset ...
        let shifted: std::collections::BTreeSet<u32> =
            c_out.iter().map(|t| t.seq.wrapping_add(offset)).collect();
        let arrived: std::collections::BTreeSet<u32> = s_in.iter().map(|t| t.seq).collect();
        assert_eq!(shifted, arrived, "flow {port}: seq + offset");
        // ... and every server->client acknowledgement moved back by it.
        let acked: std::collections::BTreeSet<u32> = s_out
            .iter()
            .filter(|t| t.ack_flag)
            .map(|t| t.ack.wrapping_sub(offset))
            .collect();
        let got: std::collections::BTreeSet<u32> =
            c_in.iter().filter(|t| t.ack_flag).map(|t| t.ack).collect();
        assert_eq!(acked, got, "flow {port}: ack - offset");
        // SACK blocks too, edge by edge.
        let sacks = |segs: &[Seg], shift: u32| -> Vec<(u32, u32)> {
            segs.iter()
                .flat_map(|t| t.sack.iter())
                .map(|&(l, r)| (l.wrapping_sub(shift), r.wrapping_sub(shift)))
                .collect()
        };
        let (sent_sacks, got_sacks) = (sacks(&s_out, offset), sacks(&c_in, 0));
        assert!(!sent_sacks.is_empty(), "flow {port}: the loss drew SACKs");
        assert_eq!(sent_sacks, got_sacks, "flow {port}: SACK - offset");
        let (lo, hi) = (isn(&c_out), isn(&c_out).wrapping_add(400_000));
        assert!(
            got_sacks
                .iter()
                .all(|&(l, r)| l.wrapping_sub(lo) < hi.wrapping_sub(lo)
                    && r.wrapping_sub(lo) < hi.wrapping_sub(lo)),
            "flow {port}: SACK blocks in the client's space: {got_sacks:?}"
        );
        assert!(
            s_in.len() > 50,
            "bulk data went through: {} segments",
            s_in.len()
        );
        offsets.push(offset);
    }
    assert_ne!(
        offsets[0], offsets[1],
        "each connection draws its own offset"
    );
}

// ---------------------------------------------------------------------------------------------
// 4. TLS boxes against Postfix with openssl s_client

struct SClient {
    /// `None` when it was still running at the deadline (and was killed).
    status: Option<ExitStatus>,
    output: String,
    elapsed: Duration,
}

impl SClient {
    fn handshake_done(&self) -> bool {
        self.status.is_some_and(|s| s.success()) && self.output.contains("Ciphersuite")
    }
}

fn s_client(ns: &Netns, deadline: Duration) -> SClient {
    let child = ns
        .command("openssl")
        .args([
            "s_client",
            "-starttls",
            "smtp",
            "-connect",
            &format!("{SERVER}:25"),
            "-servername",
            "mx.lab.example",
            "-brief",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl");
    let done = reconmap_sys::process::wait_within(child, deadline).expect("openssl output");
    SClient {
        status: done.status,
        output: done.output,
        elapsed: done.elapsed,
    }
}

/// The first cipher suite of every ClientHello in `pkts` from the client.
fn client_hello_suites(pkts: &[Pkt]) -> Vec<u16> {
    pkts.iter()
        .filter(|p| p.src == CLIENT)
        .filter_map(|p| {
            let d = &p.tcp.as_ref()?.payload;
            if d.first() != Some(&0x16) || d.get(5) != Some(&0x01) {
                return None;
            }
            let sid = usize::from(*d.get(43)?);
            let at = 44 + sid + 2;
            Some(u16::from_be_bytes([*d.get(at)?, *d.get(at + 1)?]))
        })
        .collect()
}

#[test]
fn tls_boxes_drop_reset_and_rewrite_the_client_hello() {
    let chain = Chain::up(true);
    let ok = s_client(chain.client(), WAIT);
    assert!(
        ok.handshake_done(),
        "without a box the handshake works: {}",
        ok.output
    );

    // --tls-drop: the ClientHello never arrives, s_client hangs.
    let tls_box = start_middlebox(chain.router(2), &BoxMode::TlsDrop, 5).expect("box");
    let at_client = Capture::start(
        chain.client(),
        "east",
        "tcp port 25",
        &chain.path("c1.pcap"),
    );
    let at_server = Capture::start(
        chain.server(),
        "west",
        "tcp port 25",
        &chain.path("s1.pcap"),
    );
    let dropped = s_client(chain.client(), Duration::from_secs(3));
    let (c, s) = (at_client.stop(), at_server.stop());
    drop(tls_box);
    assert!(
        dropped.status.is_none(),
        "s_client must hang: {}",
        dropped.output
    );
    assert!(
        client_hello_suites(&c).len() >= 2,
        "ClientHello sent and retransmitted"
    );
    assert!(
        client_hello_suites(&s).is_empty(),
        "no ClientHello reached the server"
    );
    assert!(
        s.iter().any(|p| p
            .tcp
            .as_ref()
            .is_some_and(|t| t.payload.starts_with(b"STARTTLS"))),
        "the SMTP part passed"
    );

    // --tls-reset: both ends reset at once.
    let tls_box = start_middlebox(chain.router(2), &BoxMode::TlsReset, 5).expect("box");
    let at_server = Capture::start(
        chain.server(),
        "west",
        "tcp port 25",
        &chain.path("s2.pcap"),
    );
    let reset = s_client(chain.client(), WAIT);
    let s = at_server.stop();
    drop(tls_box);
    let status = reset.status.expect("s_client ends on the reset");
    assert!(!status.success(), "{}", reset.output);
    assert!(
        reset.elapsed < Duration::from_secs(2),
        "{:?}",
        reset.elapsed
    );
    assert!(
        reset.output.contains("errno=104") || reset.output.contains("reset"),
        "{}",
        reset.output
    );
    assert!(
        s.iter()
            .any(|p| p.src == CLIENT && p.tcp.as_ref().is_some_and(|t| t.rst)),
        "the server got a RST in the client's name"
    );
    assert!(client_hello_suites(&s).is_empty());

    // --tls-rewrite: the server sees 0x002f first, the transcripts differ, the handshake fails.
    let tls_box = start_middlebox(chain.router(2), &BoxMode::TlsRewrite(0x002f), 5).expect("box");
    let at_client = Capture::start(
        chain.client(),
        "east",
        "tcp port 25",
        &chain.path("c3.pcap"),
    );
    let at_server = Capture::start(
        chain.server(),
        "west",
        "tcp port 25",
        &chain.path("s3.pcap"),
    );
    let rewritten = s_client(chain.client(), WAIT);
    let (c, s) = (at_client.stop(), at_server.stop());
    drop(tls_box);
    let sent = client_hello_suites(&c);
    let got = client_hello_suites(&s);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_ne!(sent[0], 0x002f);
    assert_eq!(got, vec![0x002f], "the server saw the rewritten suite");
    let status = rewritten.status.expect("s_client ends");
    assert!(
        !status.success() && !rewritten.handshake_done(),
        "the handshake must fail: {}",
        rewritten.output
    );
    eprintln!("tls-rewrite: {}", rewritten.output.trim());

    // --reset (the STARTTLS reset box the lab already had, now one mode among others).
    let reset_box = start_middlebox(chain.router(2), &BoxMode::Reset, 5).expect("box");
    let at_server = Capture::start(
        chain.server(),
        "west",
        "tcp port 25",
        &chain.path("s4.pcap"),
    );
    let target = SocketAddrV4::new(SERVER, 25);
    let result = chain
        .client()
        .enter(move || smtp_session(target, "client.lab.example", true, WAIT))
        .expect("enter");
    let s = at_server.stop();
    drop(reset_box);
    let err = result.expect_err("STARTTLS ends in a reset").to_string();
    assert!(err.contains("STARTTLS"), "{err}");
    assert!(
        s.iter()
            .any(|p| p.src == CLIENT && p.tcp.as_ref().is_some_and(|t| t.rst)),
        "the server got a RST in the client's name"
    );

    let again = s_client(chain.client(), WAIT);
    assert!(again.handshake_done(), "boxes removed: {}", again.output);
}

// ---------------------------------------------------------------------------------------------
// 5. reconmap-proxy

/// `traceroute -n -q 1 -w 1 -m 8 [extra] SERVER`: hop addresses per line.
fn traceroute(ns: &Netns, extra: &[&str]) -> Vec<Option<Ipv4Addr>> {
    let mut argv = vec!["traceroute", "-n", "-q", "1", "-w", "1", "-m", "8"];
    argv.extend(extra);
    let target = SERVER.to_string();
    argv.push(&target);
    let out = ns.run(&argv).expect("traceroute");
    out.lines()
        .skip(1)
        .map(|l| l.split_whitespace().nth(1).and_then(|a| a.parse().ok()))
        .collect()
}

/// A connect with IP TTL `ttl` (set before the SYN); whether it completed within 1 s.
fn connect_with_ttl(target: SocketAddrV4, ttl: u32) -> bool {
    let socket = nix::sys::socket::socket(
        nix::sys::socket::AddressFamily::Inet,
        nix::sys::socket::SockType::Stream,
        nix::sys::socket::SockFlag::SOCK_NONBLOCK,
        None,
    )
    .expect("socket");
    nix::sys::socket::setsockopt(&socket, nix::sys::socket::sockopt::Ipv4Ttl, &(ttl as i32))
        .expect("IP_TTL");
    let addr = nix::sys::socket::SockaddrIn::from(target);
    let _ = nix::sys::socket::connect(socket.as_raw_fd(), &addr);
    let stream = TcpStream::from(socket);
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        if stream.peer_addr().is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

#[test]
fn proxy_terminates_tcp_and_strips_starttls() {
    let chain = Chain::up(true);
    let target = SocketAddrV4::new(SERVER, 25);
    let proxy = start_proxy(
        chain.router(2),
        &ProxySpec {
            port: 10025,
            starttls: StarttlsPolicy::Refuse,
            server: None,
        },
    )
    .expect("proxy");

    // A kernel TCP client: real banner, EHLO without STARTTLS, STARTTLS refused by the proxy.
    let at_server = Capture::start(chain.server(), "west", "tcp port 25", &chain.path("s.pcap"));
    let t = chain
        .client()
        .enter(move || smtp_session(target, "client.lab.example", true, WAIT))
        .expect("enter")
        .expect("session through the proxy");
    let s = at_server.stop();
    assert!(
        t.has_line("220 mx.lab.example ESMTP ReconMap lab"),
        "{}",
        t.raw
    );
    assert!(!t.offers_starttls(), "{:?}", t.ehlo);
    assert!(t.has_line("250-mx.lab.example"), "{}", t.raw);
    assert!(t.has_line("250 CHUNKING"), "{}", t.raw);
    assert!(t.has_line("250-PIPELINING"), "{}", t.raw);
    assert!(!t.raw.contains("STARTTLS\r\n250"), "{}", t.raw);
    assert!(t.has_line("502 5.5.1 STARTTLS not supported"), "{}", t.raw);
    assert_eq!(t.starttls_code(), Some(502));
    // The client's segments never travel past the proxy: the server talks to r2.
    assert!(!s.is_empty());
    assert!(
        s.iter().all(|p| p.src != CLIENT && p.dst != CLIENT),
        "{s:?}"
    );
    assert!(
        s.iter().any(|p| p.src == link(2, false)),
        "r2 connects to the server"
    );
    assert!(
        !s.iter().any(|p| p
            .tcp
            .as_ref()
            .is_some_and(|t| t.payload.starts_with(b"STARTTLS"))),
        "STARTTLS never reaches the server"
    );

    // TTL-limited TCP: the SYN/ACK for the server's address comes from hop 2 (TTL 64 - 1).
    let at_client = Capture::start(chain.client(), "east", "tcp port 25", &chain.path("c.pcap"));
    let connected = chain
        .client()
        .enter(move || {
            (1..=4)
                .map(|ttl| connect_with_ttl(target, ttl))
                .collect::<Vec<_>>()
        })
        .expect("enter");
    let c = at_client.stop();
    assert_eq!(
        connected,
        [false, true, true, true],
        "TTL 1 dies at r1; from TTL 2 on the proxy on r2 answers"
    );
    let syn_acks: Vec<u8> = c
        .iter()
        .filter(|p| p.src == SERVER && p.tcp.as_ref().is_some_and(|t| t.syn && t.ack_flag))
        .map(|p| p.ttl)
        .collect();
    assert_eq!(
        syn_acks,
        [63, 63, 63],
        "SYN/ACKs sent one hop away (64 - 1)"
    );

    let tcp = traceroute(chain.client(), &["-T", "-p", "25"]);
    assert_eq!(
        tcp,
        vec![Some(hop_addr(1)), Some(SERVER)],
        "TCP: 'server' at hop 2"
    );
    let real = vec![
        Some(hop_addr(1)),
        Some(hop_addr(2)),
        Some(hop_addr(3)),
        Some(SERVER),
    ];
    assert_eq!(
        traceroute(chain.client(), &["-I"]),
        real,
        "ICMP echo: real distance"
    );
    assert_eq!(traceroute(chain.client(), &[]), real, "UDP: real distance");
    drop(proxy);

    // --starttls pass: STARTTLS offered and accepted, TLS relayed byte for byte.
    let _proxy = start_proxy(
        chain.router(2),
        &ProxySpec {
            port: 10025,
            starttls: StarttlsPolicy::Pass,
            server: None,
        },
    )
    .expect("proxy");
    let t = chain
        .client()
        .enter(move || smtp_session(target, "client.lab.example", true, WAIT))
        .expect("enter")
        .expect("session");
    assert!(t.offers_starttls(), "{:?}", t.ehlo);
    assert_eq!(t.starttls_code(), Some(220));
    let tls = s_client(chain.client(), WAIT);
    assert!(
        tls.handshake_done(),
        "TLS through the proxy: {}",
        tls.output
    );
}

// ---------------------------------------------------------------------------------------------
// 6. --mpls-labels

/// A running `tcpdump -l -v -n -i IFACE icmp` whose text output is collected; killed (by PID)
/// on drop if not stopped.
struct TextCapture {
    child: Option<Child>,
    text: std::sync::Arc<std::sync::Mutex<String>>,
}

impl TextCapture {
    fn start(ns: &Netns, iface: &str) -> TextCapture {
        let mut child = ns
            .command("tcpdump")
            .args(["-l", "-v", "-n", "--immediate-mode", "-i", iface, "icmp"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tcpdump");
        let text = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut stdout = child.stdout.take().expect("stdout");
        let sink = text.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .expect("lock")
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stderr);
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 {
                if line.contains("listening on") {
                    let _ = tx.send(());
                }
                line.clear();
            }
        });
        rx.recv_timeout(WAIT)
            .expect("tcpdump did not start listening");
        TextCapture {
            child: Some(child),
            text,
        }
    }

    /// Stops tcpdump (SIGINT: it flushes) and returns what it printed.
    fn stop(mut self) -> String {
        std::thread::sleep(Duration::from_millis(150));
        if let Some(mut child) = self.child.take() {
            let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
            let _ = child.wait();
        }
        std::thread::sleep(Duration::from_millis(50));
        let text = self.text.lock().expect("lock").clone();
        text
    }
}

impl Drop for TextCapture {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The tcpdump text of the one ICMP message from `from` (a message starts at a line with a
/// timestamp and the outer header; its decode follows on indented lines).
fn tcpdump_message(text: &str, from: Ipv4Addr) -> String {
    let head = format!("{from} > {CLIENT}: ICMP");
    let mut out = String::new();
    let mut inside = false;
    for line in text.lines() {
        if !line.starts_with(char::is_whitespace) {
            inside = false;
        }
        if line.contains(&head) {
            assert!(
                !inside && out.is_empty(),
                "one message from {from}:\n{text}"
            );
            inside = true;
        }
        if inside {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// One label stack entry: label, TC, bottom of stack, TTL.
type Entry = (u32, u8, bool, u8);

/// The label stack of an RFC 4884/4950 message, read by hand from the raw bytes: the length
/// field, version 2 and a checksum that verifies are required. `(quote field, labels)` with
/// labels as (label, TC, S, TTL).
fn label_stack(datagram: &[u8]) -> Option<(usize, Vec<Entry>)> {
    let ihl = usize::from(datagram[0] & 0x0f) * 4;
    let icmp = &datagram[ihl..];
    let field = usize::from(icmp[5]) * 4;
    if field == 0 {
        return None;
    }
    let ext = &icmp[8 + field..];
    assert_eq!(ext[0] >> 4, 2, "extension version");
    assert!(checksum_ok(ext), "extension checksum");
    let obj_len = usize::from(u16::from_be_bytes([ext[4], ext[5]]));
    assert_eq!((ext[6], ext[7]), (1, 1), "MPLS label stack object");
    assert_eq!(4 + obj_len, ext.len(), "one object fills the structure");
    let labels = ext[8..4 + obj_len]
        .chunks(4)
        .map(|c| {
            let e = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
            (
                e >> 12,
                ((e >> 9) & 7) as u8,
                e & 0x100 != 0,
                (e & 0xff) as u8,
            )
        })
        .collect();
    Some((field, labels))
}

#[test]
fn mpls_labels_are_appended_as_tcpdump_reads_them() {
    let chain = Chain::up(false);
    // r2: an LSR with a two-label stack. r3: cuts quotes to 28 bytes (filter OUTPUT) and is an
    // LSR too (security OUTPUT, later): the cut quote is padded to 128 bytes.
    let _r2 = start_lsr(
        chain.router(2),
        &LsrSpec {
            labels: vec![16004, 24001],
        },
        4,
    )
    .expect("r2 LSR");
    let _r3_cut = start_middlebox(chain.router(3), &BoxMode::TruncateQuotes(28), 1).expect("r3");
    let _r3 = start_lsr(
        chain.router(3),
        &LsrSpec {
            labels: vec![16005],
        },
        4,
    )
    .expect("r3 LSR");
    let capture = TextCapture::start(chain.client(), "east");
    let results = chain
        .client()
        .enter(|| {
            let icmp = raw_icmp_socket();
            let udp = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).expect("udp");
            let port = udp.local_addr().expect("addr").port();
            let ours = |q: &[u8]| quoted(q).is_some_and(|(_, sport, _)| sport == port);
            (1..=3u32)
                .map(|ttl| {
                    udp.set_ttl(ttl).expect("ttl");
                    udp.send_to(&[0x5a_u8; 60], SocketAddrV4::new(SERVER, 33434))
                        .expect("send");
                    recv_icmp_error(&icmp, ours)
                })
                .collect::<Vec<_>>()
        })
        .expect("enter client");
    let text = capture.stop();
    eprintln!("tcpdump -v:\n{text}");

    // The raw bytes, read by the test's own code.
    let got: Vec<&IcmpError> = results
        .iter()
        .enumerate()
        .map(|(i, r)| {
            r.as_ref()
                .unwrap_or_else(|| panic!("no ICMP error for TTL {}", i + 1))
        })
        .collect();
    for (e, k) in got.iter().zip(1..) {
        assert_eq!(e.from, hop_addr(k));
        let d = &e.datagram;
        let ihl = usize::from(d[0] & 0x0f) * 4;
        assert_eq!(usize::from(u16::from_be_bytes([d[2], d[3]])), d.len());
        assert!(checksum_ok(&d[..ihl]), "outer IP checksum");
        assert!(checksum_ok(&d[ihl..]), "ICMP checksum");
        assert!(d.len() <= 576);
    }
    assert_eq!(label_stack(&got[0].datagram), None, "r1 is no LSR");
    assert_eq!(got[0].quote.len(), 20 + 8 + 60);
    assert_eq!(
        label_stack(&got[1].datagram),
        Some((128, vec![(16004, 0, false, 1), (24001, 0, true, 1)]))
    );
    assert_eq!(
        u16::from_be_bytes([got[1].quote[2], got[1].quote[3]]),
        88,
        "r2 quotes the 88-byte probe"
    );
    assert_eq!(
        &got[1].quote[20..88],
        &got[0].quote[20..88],
        "UDP header and payload quoted in full"
    );
    assert!(
        got[1].quote[88..128].iter().all(|&b| b == 0),
        "zero padding"
    );
    let (field, labels) = label_stack(&got[2].datagram).expect("r3 labels");
    assert_eq!((field, labels), (128, vec![(16005, 0, true, 1)]));
    assert!(
        got[2].quote[28..128].iter().all(|&b| b == 0),
        "r3's 28-byte quote, padded"
    );

    // tcpdump, which shares no code with the box, decodes the same extensions.
    let r1 = tcpdump_message(&text, hop_addr(1));
    let r2 = tcpdump_message(&text, hop_addr(2));
    let r3 = tcpdump_message(&text, hop_addr(3));
    for m in [&r1, &r2, &r3] {
        assert!(m.contains("time exceeded in-transit"), "{m}");
    }
    assert!(!r1.contains("MPLS") && !r1.contains("extension"), "{r1}");
    // tcpdump prints the object's length (4 + 4 per entry) and its top entry.
    for (m, object, top) in [
        (&r2, "Class-Type: 1, length 12", "label 16004, tc 0, ttl 1"),
        (
            &r3,
            "Class-Type: 1, length 8",
            "label 16005, tc 0, [S], ttl 1",
        ),
    ] {
        assert!(m.contains("ICMP Multi-Part extension v2"), "{m}");
        assert!(
            m.contains("(correct)"),
            "extension checksum as tcpdump checks it: {m}"
        );
        assert!(
            m.contains(&format!("MPLS Stack Entry Object (1), {object}")),
            "{m}"
        );
        assert!(m.contains(top), "{m}");
    }
}
