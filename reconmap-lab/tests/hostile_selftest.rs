//! Self-tests of the hostile lab helpers (root, network namespaces): every behaviour of
//! `reconmap-hostile-smtp` is checked by a plain kernel-socket client in its own namespace,
//! its bytes against the texts the brief gives and its segmentation against a tcpdump capture;
//! every mode of `reconmap-icmp-forge` by a raw ICMP socket in the client namespace.
mod support;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};
use support::*;

const PORT: u16 = 25;
const LIMIT: Duration = Duration::from_secs(3);

// The server's texts as the brief specifies them (written out here, not taken from the binary).
const BANNER: &[u8] = b"220 hostile.lab ESMTP\r\n";
const EHLO: &[u8] = b"250-hostile.lab\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 8BITMIME\r\n";
const READY: &[u8] = b"220 2.0.0 Ready to start TLS\r\n";
const BYE: &[u8] = b"221 2.0.0 Bye\r\n";

fn send(s: &mut TcpStream, bytes: &[u8]) {
    s.write_all(bytes).expect("send");
}

/// Reads exactly `want` (stops at its last bytes) and fails on anything else.
fn expect(s: &mut TcpStream, want: &[u8]) {
    let tail = &want[want.len().saturating_sub(2)..];
    let mut got = Vec::new();
    let deadline = Instant::now() + LIMIT;
    while got.len() < want.len() {
        let (more, stop) = read_until(s, tail, deadline.saturating_duration_since(Instant::now()));
        got.extend_from_slice(&more);
        if stop != Stop::Suffix {
            panic!(
                "expected {:?}, got {:?} then {stop:?}",
                String::from_utf8_lossy(want),
                String::from_utf8_lossy(&got)
            );
        }
    }
    assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(want));
    assert_eq!(got, want);
}

/// Connect, banner, EHLO and its reply; returns the stream and the client's port.
fn greeted(target: SocketAddrV4, banner: &[u8], ehlo_reply: &[u8]) -> (TcpStream, u16) {
    let mut s = connect(target);
    let port = s.local_addr().expect("local address").port();
    expect(&mut s, banner);
    send(&mut s, b"EHLO client.example\r\n");
    expect(&mut s, ehlo_reply);
    (s, port)
}

fn payload_of(segments: &[Segment]) -> Vec<u8> {
    segments.iter().flat_map(|s| s.payload.clone()).collect()
}

/// The data segments of one direction as first sent (retransmissions, which the kernel may
/// merge, left out).
fn data(segments: Vec<Segment>) -> Vec<Segment> {
    fresh(&segments)
        .into_iter()
        .filter(|s| !s.payload.is_empty())
        .collect()
}

#[test]
fn normal_follows_the_script() {
    require_root();
    let pair = Pair::new();
    let _server = hostile_smtp(&pair.server, PORT, "normal", &[]);
    let cap = Capture::start(&pair.client, CLIENT_IF);
    let target = pair.target(PORT);
    let quit_port = pair
        .client
        .enter(move || {
            let (mut s, port) = greeted(target, BANNER, EHLO);
            send(&mut s, b"NOOP now\r\n");
            expect(&mut s, b"500 5.5.1 Command unrecognized: \"NOOP now\"\r\n");
            send(&mut s, b"QUIT\r\n");
            expect(&mut s, BYE);
            assert_eq!(read_until(&mut s, b"", LIMIT), (vec![], Stop::Eof));

            // STARTTLS: 220, then the server waits for the client (no FIN of its own).
            let (mut s, _) = greeted(target, BANNER, EHLO);
            send(&mut s, b"starttls\r\n");
            expect(&mut s, READY);
            let after = read_until(&mut s, b"", Duration::from_millis(300));
            assert_eq!(after, (vec![], Stop::Timeout));
            port
        })
        .expect("enter");
    // A normal QUIT: the 221 and the FIN are separate segments (unlike fin-with-quit).
    let server = fresh(&server_segments(&cap.finish(), PORT, quit_port));
    let fin = server.iter().find(|s| s.fin).expect("server FIN");
    assert!(fin.payload.is_empty(), "{fin:?}");
    assert!(server.iter().any(|s| s.payload == BYE && !s.fin));
}

#[test]
fn drip_sends_one_byte_per_segment() {
    require_root();
    let pair = Pair::new();
    let _server = hostile_smtp(&pair.server, PORT, "drip", &["--delay-ms", "20"]);
    let cap = Capture::start(&pair.client, CLIENT_IF);
    let target = pair.target(PORT);
    let (port, banner_time) = pair
        .client
        .enter(move || {
            let start = Instant::now();
            let mut s = connect(target);
            expect(&mut s, BANNER);
            let banner_time = start.elapsed();
            send(&mut s, b"QUIT\r\n");
            expect(&mut s, BYE);
            (s.local_addr().expect("local").port(), banner_time)
        })
        .expect("enter");
    // 23 bytes, 22 pauses of 20 ms between them.
    assert!(banner_time >= Duration::from_millis(440), "{banner_time:?}");
    let segments = data(server_segments(&cap.finish(), PORT, port));
    assert!(
        segments.iter().all(|s| s.payload.len() == 1),
        "{segments:?}"
    );
    assert_eq!(payload_of(&segments), [BANNER, BYE].concat());
}

#[test]
fn flood_never_ends_the_reply() {
    require_root();
    let pair = Pair::new();
    let _server = hostile_smtp(&pair.server, PORT, "flood", &[]);
    let target = pair.target(PORT);
    pair.client
        .enter(move || {
            let mut s = connect(target);
            send(&mut s, b"EHLO client.example\r\n");
            let (got, stop) = read_at_least(&mut s, 2_000_000, Duration::from_secs(10));
            assert_eq!(
                stop,
                Stop::Suffix,
                "the flood stopped after {} bytes",
                got.len()
            );
            assert!(got.starts_with(BANNER));
            let rest = &got[BANNER.len()..];
            let mut lines: Vec<&[u8]> = rest.split(|&b| b == b'\n').collect();
            lines.pop(); // the line being written when we stopped reading
            assert!(lines
                .iter()
                .all(|l| l.starts_with(b"250-") && l.ends_with(b"\r")));
            assert!(lines.iter().any(|l| l.len() > 100_000), "very long lines");
            assert!(lines.iter().filter(|l| l.len() < 100).count() >= 500);
        })
        .expect("enter");
}

#[test]
fn mute_completes_the_handshake_and_never_speaks() {
    require_root();
    let pair = Pair::new();
    let _server = hostile_smtp(&pair.server, PORT, "mute", &[]);
    let cap = Capture::start(&pair.client, CLIENT_IF);
    let target = pair.target(PORT);
    let port = pair
        .client
        .enter(move || {
            let mut s = connect(target);
            let quiet = Duration::from_millis(400);
            assert_eq!(read_until(&mut s, b"", quiet), (vec![], Stop::Timeout));
            send(&mut s, b"EHLO client.example\r\n");
            assert_eq!(read_until(&mut s, b"", quiet), (vec![], Stop::Timeout));
            s.local_addr().expect("local").port()
        })
        .expect("enter");
    let packets = cap.finish();
    let server = server_segments(&packets, PORT, port);
    assert!(server.iter().any(|s| s.syn && s.has_ack), "SYN-ACK");
    assert!(server.iter().all(|s| s.payload.is_empty()), "{server:?}");
    let ehlo = data(client_segments(&packets, port));
    let [ehlo] = ehlo.as_slice() else {
        panic!("one EHLO segment: {ehlo:?}")
    };
    let end = ehlo.seq.wrapping_add(ehlo.payload.len() as u32);
    assert!(
        server.iter().any(|s| s.ack == end),
        "the kernel ACKs the EHLO"
    );
}

#[test]
fn mute_after_starttls_acks_but_never_answers() {
    require_root();
    let pair = Pair::new();
    let _server = hostile_smtp(&pair.server, PORT, "mute-after-starttls", &[]);
    let cap = Capture::start(&pair.client, CLIENT_IF);
    let target = pair.target(PORT);
    let port = pair
        .client
        .enter(move || {
            let (mut s, port) = greeted(target, BANNER, EHLO);
            send(&mut s, b"STARTTLS\r\n");
            let after = read_until(&mut s, b"", Duration::from_millis(500));
            assert_eq!(after, (vec![], Stop::Timeout));
            port
        })
        .expect("enter");
    let packets = cap.finish();
    let starttls = client_segments(&packets, port)
        .into_iter()
        .find(|s| s.payload == b"STARTTLS\r\n")
        .expect("STARTTLS segment");
    let server = server_segments(&packets, PORT, port);
    let end = starttls.seq.wrapping_add(10);
    assert!(server.iter().any(|s| s.ack == end), "STARTTLS is ACKed");
    assert_eq!(payload_of(&fresh(&server)), [BANNER, EHLO].concat());
}

#[test]
fn slow_starttls_answers_after_the_delay() {
    require_root();
    let pair = Pair::new();
    let _server = hostile_smtp(&pair.server, PORT, "slow-starttls", &["--delay-ms", "400"]);
    let target = pair.target(PORT);
    pair.client
        .enter(move || {
            let start = Instant::now();
            let (mut s, _) = greeted(target, BANNER, EHLO);
            assert!(
                start.elapsed() < Duration::from_millis(300),
                "EHLO is prompt"
            );
            let asked = Instant::now();
            send(&mut s, b"STARTTLS\r\n");
            expect(&mut s, READY);
            let waited = asked.elapsed();
            assert!(waited >= Duration::from_millis(400), "{waited:?}");
            assert!(waited < Duration::from_millis(1400), "{waited:?}");
        })
        .expect("enter");
}

/// Sends `command` after EHLO and checks that `reply` and the FIN come in one segment.
fn reply_with_fin(behaviour: &str, command: &'static [u8], reply: &'static [u8]) {
    require_root();
    let pair = Pair::new();
    let _server = hostile_smtp(&pair.server, PORT, behaviour, &[]);
    let cap = Capture::start(&pair.client, CLIENT_IF);
    let target = pair.target(PORT);
    let port = pair
        .client
        .enter(move || {
            let (mut s, port) = greeted(target, BANNER, EHLO);
            send(&mut s, command);
            let (got, stop) = read_until(&mut s, b"", LIMIT);
            assert_eq!((got.as_slice(), stop), (reply, Stop::Eof));
            port
        })
        .expect("enter");
    let server = server_segments(&cap.finish(), PORT, port);
    let sent = fresh(&server);
    let fins: Vec<&Segment> = sent.iter().filter(|s| s.fin).collect();
    let [fin] = fins.as_slice() else {
        panic!("one server FIN: {server:?}")
    };
    assert_eq!(fin.payload, reply, "the reply rides on the FIN");
    let replies = data(server.clone());
    assert_eq!(replies.last().map(|s| s.fin), Some(true));
    assert_eq!(payload_of(&replies), [BANNER, EHLO, reply].concat());
}

#[test]
fn fin_with_reply_220() {
    reply_with_fin("fin-with-reply-220", b"STARTTLS\r\n", READY);
}

#[test]
fn fin_with_reply_500() {
    reply_with_fin(
        "fin-with-reply-500",
        b"STARTTLS\r\n",
        b"500 5.5.1 Command unrecognized: \"XXXXXXXX\"\r\n",
    );
}

#[test]
fn fin_with_quit() {
    reply_with_fin("fin-with-quit", b"QUIT\r\n", BYE);
}

#[test]
fn split_cuts_every_reply_the_same_way_for_a_seed() {
    require_root();
    let pair = Pair::new();
    let _seven = hostile_smtp(&pair.server, PORT, "split", &["--seed", "7"]);
    let _eight = hostile_smtp(&pair.server, 26, "split", &["--seed", "8"]);
    let cap = Capture::start(&pair.client, CLIENT_IF);
    let (a, b) = (pair.target(PORT), pair.target(26));
    let ports = pair
        .client
        .enter(move || {
            [a, a, b]
                .into_iter()
                .map(|target| {
                    let (mut s, port) = greeted(target, BANNER, EHLO);
                    send(&mut s, b"QUIT\r\n");
                    expect(&mut s, BYE);
                    (target.port(), port)
                })
                .collect::<Vec<_>>()
        })
        .expect("enter");
    let packets = cap.finish();
    let cuts: Vec<Vec<Vec<usize>>> = ports
        .iter()
        .map(|&(server_port, client_port)| {
            let groups = replies(&packets, server_port, client_port);
            assert_eq!(groups.len(), 3, "banner, EHLO, QUIT replies: {groups:?}");
            for (group, want) in groups.iter().zip([BANNER, EHLO, BYE]) {
                assert_eq!(payload_of(group), want);
                assert!((2..=4).contains(&group.len()), "{group:?}");
            }
            groups
                .iter()
                .map(|g| g.iter().map(|s| s.payload.len()).collect())
                .collect()
        })
        .collect();
    assert_eq!(cuts[0], cuts[1], "same seed, same cuts");
    assert_ne!(cuts[0], cuts[2], "another seed, other cuts");
}

#[test]
fn garbage_after_reply_shares_the_banner_segment() {
    require_root();
    let pair = Pair::new();
    let _server = hostile_smtp(&pair.server, PORT, "garbage-after-reply", &[]);
    let cap = Capture::start(&pair.client, CLIENT_IF);
    let target = pair.target(PORT);
    let banner = b"220 hostile.lab ESMTP\r\nabc\r\n";
    let port = pair
        .client
        .enter(move || greeted(target, banner, EHLO).1)
        .expect("enter");
    let server = data(server_segments(&cap.finish(), PORT, port));
    assert_eq!(
        server.first().map(|s| s.payload.as_slice()),
        Some(&banner[..])
    );
}

#[test]
fn reply_421_to_ehlo_then_close() {
    require_root();
    let pair = Pair::new();
    let _server = hostile_smtp(&pair.server, PORT, "reply-421-to-ehlo", &[]);
    let target = pair.target(PORT);
    pair.client
        .enter(move || {
            let mut s = connect(target);
            expect(&mut s, BANNER);
            send(&mut s, b"EHLO client.example\r\n");
            let (got, stop) = read_until(&mut s, b"", LIMIT);
            assert_eq!(got, b"421 4.7.0 Try again later\r\n");
            assert_eq!(stop, Stop::Eof);
        })
        .expect("enter");
}

#[test]
fn rst_before_starttls_resets_after_the_ehlo_reply() {
    require_root();
    let pair = Pair::new();
    let _server = hostile_smtp(&pair.server, PORT, "rst-before-starttls", &[]);
    let cap = Capture::start(&pair.client, CLIENT_IF);
    let target = pair.target(PORT);
    let port = pair
        .client
        .enter(move || {
            let (mut s, port) = greeted(target, BANNER, EHLO);
            let (got, stop) = read_until(&mut s, b"", LIMIT);
            assert_eq!(
                (got, stop),
                (vec![], Stop::Error(std::io::ErrorKind::ConnectionReset))
            );
            port
        })
        .expect("enter");
    let server = server_segments(&cap.finish(), PORT, port);
    assert!(server.iter().all(|s| !s.fin), "no FIN: {server:?}");
    let last = server.last().expect("segments");
    assert!(last.rst, "ends with a RST: {server:?}");
    assert_eq!(payload_of(&fresh(&server)), [BANNER, EHLO].concat());
}

#[test]
fn masked_multiline_banner() {
    require_root();
    let pair = Pair::new();
    let _server = hostile_smtp(&pair.server, PORT, "masked-multiline-banner", &[]);
    let target = pair.target(PORT);
    pair.client
        .enter(move || {
            greeted(
                target,
                b"220-***** ***2**0*\r\n220 hostile.lab ESMTP\r\n",
                EHLO,
            )
        })
        .expect("enter");
}

#[test]
fn unicode_tricks_in_banner_and_ehlo() {
    require_root();
    let pair = Pair::new();
    let _server = hostile_smtp(&pair.server, PORT, "unicode-tricks", &[]);
    let target = pair.target(PORT);
    // U+200B = e2 80 8b, U+202E = e2 80 ae, U+202C = e2 80 ac, ESC = 1b.
    let banner: &[u8] =
        b"220 hostile\xe2\x80\x8b.lab \x1b[31mESMTP\x1b[0m \xe2\x80\xaeSLTTRATS\xe2\x80\xac \xff\xfe\r\n";
    let ehlo: &[u8] = b"250-hostile\xe2\x80\x8b.lab\r\n250-\x1b[31mPIPELINING\x1b[0m\r\n250-\xe2\x80\xaeSLTTRATS\xe2\x80\xac\r\n250-START\xe2\x80\x8bTLS\r\n250-X-\xc0\xaf\xff\xfe\r\n250-STARTTLS\r\n250 8BITMIME\r\n";
    for text in [banner, ehlo] {
        assert!(std::str::from_utf8(text).is_err());
        for trick in ["\u{202e}", "\u{200b}"] {
            assert!(text.windows(3).any(|w| w == trick.as_bytes()));
        }
        assert!(text.windows(5).any(|w| w == b"\x1b[31m"));
    }
    pair.client
        .enter(move || {
            let (mut s, _) = greeted(target, banner, ehlo);
            send(&mut s, b"STARTTLS\r\n");
            expect(&mut s, READY);
        })
        .expect("enter");
}

#[test]
fn no_starttls_offers_nothing_and_refuses() {
    require_root();
    let pair = Pair::new();
    let _server = hostile_smtp(&pair.server, PORT, "no-starttls", &[]);
    let target = pair.target(PORT);
    pair.client
        .enter(move || {
            let (mut s, _) = greeted(
                target,
                BANNER,
                b"250-hostile.lab\r\n250-PIPELINING\r\n250 8BITMIME\r\n",
            );
            send(&mut s, b"STARTTLS\r\n");
            expect(&mut s, b"502 5.5.1 not implemented\r\n");
        })
        .expect("enter");
}

/// One client of the small-backlog test.
#[derive(Debug)]
struct Queued {
    /// Local port, once connected.
    port: Option<u16>,
    /// When connect() returned (the handshake completed on the client's side).
    connected: Option<Duration>,
    /// When the banner came.
    banner: Option<Duration>,
}

/// Client ports of the established TCP connections `ss` lists in `ns` (`peer`: the client
/// port is the peer's, i.e. `ns` is the server).
fn established(ns: &reconmap_lab::netns::Netns, peer: bool) -> Vec<u16> {
    let out = ns.run(&["ss", "-Htn", "state", "established"]).expect("ss");
    out.lines()
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            let (local, remote) = (cols.get(2)?, cols.get(3)?);
            let (client, server) = if peer {
                (remote, local)
            } else {
                (local, remote)
            };
            if !server.ends_with(":25") {
                return None;
            }
            client.rsplit(':').next()?.parse().ok()
        })
        .collect()
}

/// With syncookies=2 in the server namespace and the accept queue full, the server's kernel
/// drops SYNs, answers the retransmitted ones with cookies once there is room, and then drops
/// the handshake ACKs that find the queue full again: those clients are connected on their
/// side, unknown to the server, and wait for a banner that never comes.
#[test]
fn small_backlog_fills_the_accept_queue() {
    require_root();
    let pair = Pair::new();
    pair.server
        .sysctl("net.ipv4.tcp_syncookies", "2")
        .expect("syncookies");
    let delay = Duration::from_millis(700);
    let _server = hostile_smtp(&pair.server, PORT, "small-backlog", &["--delay-ms", "700"]);
    // The listening socket's Send-Q is its backlog.
    let ss = pair
        .server
        .run(&["ss", "-ltnH", "sport = :25"])
        .expect("ss");
    assert_eq!(ss.split_whitespace().nth(2), Some("1"), "{ss}");
    let before = tcp_ext(&pair.server);
    let cap = Capture::start(&pair.client, CLIENT_IF);
    let target = pair.target(PORT);
    const LATE: usize = 6;
    let watch_until = Duration::from_millis(3400);
    let (clients, sockets) = pair
        .client
        .enter(move || {
            let start = Instant::now();
            // Waits for the banner until `watch_until`; the socket stays open (a client's FIN
            // would let the server's kernel make the lost connection from its cookie).
            let wait_banner = move |s: Option<TcpStream>| {
                let connected = s.as_ref().map(|_| start.elapsed());
                let Some(mut s) = s else {
                    let none = Queued {
                        port: None,
                        connected,
                        banner: None,
                    };
                    return (none, None);
                };
                let port = s.local_addr().ok().map(|a| a.port());
                let left = watch_until.saturating_sub(start.elapsed());
                let (got, _) = read_until(&mut s, BANNER, left);
                let banner = (got == BANNER).then(|| start.elapsed());
                let client = Queued {
                    port,
                    connected,
                    banner,
                };
                (client, Some(s))
            };
            // A is accepted at once; once its banner came the server sleeps, and B and C
            // fill the queue (backlog 1 holds two).
            let mut a = connect(target);
            let (got, _) = read_until(&mut a, BANNER, LIMIT);
            assert_eq!(got, BANNER);
            let a_banner = start.elapsed();
            let mut threads = Vec::new();
            for _ in 0..2 {
                let s = connect(target);
                threads.push(std::thread::spawn(move || wait_banner(Some(s))));
            }
            std::thread::sleep(Duration::from_millis(50));
            // The late ones: their first SYNs find the queue full.
            for _ in 0..LATE {
                threads.push(std::thread::spawn(move || {
                    let s = TcpStream::connect_timeout(&target.into(), Duration::from_secs(5));
                    wait_banner(s.ok())
                }));
            }
            let a = (
                Queued {
                    port: a.local_addr().ok().map(|x| x.port()),
                    connected: Some(Duration::ZERO),
                    banner: Some(a_banner),
                },
                Some(a),
            );
            std::iter::once(a)
                .chain(
                    threads
                        .into_iter()
                        .map(|t| t.join().expect("client thread")),
                )
                .unzip::<_, _, Vec<_>, Vec<_>>()
        })
        .expect("enter");
    let client_side = established(&pair.client, false);
    let server_side = established(&pair.server, true);
    let after = tcp_ext(&pair.server);
    let packets = cap.finish();
    drop(sockets);
    eprintln!("{clients:#?}\nclient side {client_side:?}\nserver side {server_side:?}");
    let grew = |k: &str| after.get(k).copied().unwrap_or(0) - before.get(k).copied().unwrap_or(0);

    // Accepts are paced: A at once, then one every 700 ms.
    let a_banner = clients[0].banner.expect("A's banner");
    assert!(a_banner < Duration::from_millis(300), "{a_banner:?}");
    let mut banners: Vec<Duration> = clients.iter().filter_map(|c| c.banner).collect();
    banners.sort();
    assert!(
        banners.len() >= 4,
        "A, B, C and one late client: {banners:?}"
    );
    for w in banners.windows(2) {
        assert!(
            w[1] - w[0] >= delay - Duration::from_millis(50),
            "{banners:?}"
        );
    }
    // Every SYN-ACK is a cookie.
    let syn_acks = packets
        .iter()
        .filter_map(|p| p.sent_by_port(PORT))
        .filter(|s| s.syn && s.has_ack)
        .count() as u64;
    assert_eq!(grew("SyncookiesSent"), syn_acks);
    // The late clients' first SYNs were dropped: each sent more than one and connected
    // only after a retransmission (1 s).
    for late in &clients[3..] {
        let port = late.port.expect("late client connected");
        let connected = late.connected.expect("connected");
        assert!(connected >= Duration::from_millis(900), "{late:?}");
        let syns = client_segments(&packets, port)
            .iter()
            .filter(|s| s.syn)
            .count();
        assert!(syns >= 2, "{late:?}: {syns} SYNs");
    }
    // Lost handshake ACKs: connected on the client's side, unknown to the server's kernel.
    let lost: Vec<u16> = client_side
        .iter()
        .copied()
        .filter(|p| !server_side.contains(p))
        .collect();
    assert!(!lost.is_empty(), "no lost handshake ACK: {clients:#?}");
    assert!(grew("ListenOverflows") >= (LATE + lost.len()) as u64);
    for port in &lost {
        let c = clients
            .iter()
            .find(|c| c.port == Some(*port))
            .expect("ours");
        assert_eq!(c.banner, None, "{c:?}");
        let server = server_segments(&packets, PORT, *port);
        assert!(
            server.iter().any(|s| s.syn && s.has_ack),
            "SYN-ACK to {c:?}"
        );
        assert!(
            server.iter().all(|s| s.payload.is_empty()),
            "{c:?}: {server:?}"
        );
        let acked = client_segments(&packets, *port)
            .iter()
            .any(|s| !s.syn && s.has_ack && s.payload.is_empty());
        assert!(acked, "{c:?} sent its handshake ACK");
    }
}

// ---- reconmap-icmp-forge ----

const FORGE: &str = env!("CARGO_BIN_EXE_reconmap-icmp-forge");

/// What the client saw of one forged run.
struct Forged {
    /// The client's STARTTLS datagram as captured on its interface.
    probe: Vec<u8>,
    /// The ICMP datagrams (outer IP header included) the raw socket received.
    icmp: Vec<Vec<u8>>,
    from: Ipv4Addr,
}

impl Forged {
    /// The ICMP messages, with the outer header checked: from the forged source, to the
    /// client, TOS 0xc0, valid checksums, type 11 code 0.
    fn messages(&self) -> Vec<Vec<u8>> {
        self.icmp
            .iter()
            .map(|d| {
                assert_eq!(d[0], 0x45, "outer header without options");
                assert_eq!(d[1], 0xc0, "TOS of an ICMP error");
                assert_eq!(d[9], 1, "ICMP");
                assert_eq!(Ipv4Addr::from([d[12], d[13], d[14], d[15]]), self.from);
                assert_eq!(Ipv4Addr::from([d[16], d[17], d[18], d[19]]), CLIENT_ADDR);
                assert_eq!(inet_checksum(&d[..20]), 0, "outer header checksum");
                let icmp = d[20..].to_vec();
                assert_eq!((icmp[0], icmp[1]), (11, 0), "time exceeded in transit");
                assert_eq!(inet_checksum(&icmp), 0, "ICMP checksum");
                icmp
            })
            .collect()
    }

    fn probe_id(&self) -> u16 {
        u16::from_be_bytes([self.probe[4], self.probe[5]])
    }

    /// Byte positions where `quote` differs from the probe (over their common length).
    fn diff(&self, quote: &[u8]) -> Vec<usize> {
        quote
            .iter()
            .zip(&self.probe)
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .map(|(i, _)| i)
            .collect()
    }

    /// Checks a quote of the whole probe that differs only at `allowed` (TTL 1 and the header
    /// checksum are always allowed) and has a valid inner header checksum.
    fn assert_quote(&self, quote: &[u8], allowed: &[usize]) {
        assert_eq!(quote.len(), self.probe.len(), "whole probe quoted");
        assert_eq!(quote[8], 1, "TTL where it ran out");
        assert_eq!(inet_checksum(&quote[..20]), 0, "inner header checksum");
        for i in self.diff(quote) {
            assert!(
                [8, 10, 11].contains(&i) || allowed.contains(&i),
                "byte {i} changed: {:02x} -> {:02x}",
                self.probe[i],
                quote[i]
            );
        }
    }
}

/// client - router (with the forger on its FORWARD NFQUEUE) - server (hostile-smtp normal):
/// a session through STARTTLS; returns the STARTTLS datagram and the ICMP the client got.
fn forge_run(mode: &str, from: Ipv4Addr, extra: &[&str], expected: usize) -> Forged {
    require_root();
    let chain = Chain::new();
    chain
        .router
        .run(&[
            "iptables",
            "-A",
            "FORWARD",
            "-p",
            "tcp",
            "--dport",
            "25",
            "-j",
            "NFQUEUE",
            "--queue-num",
            "2",
            "--queue-bypass",
        ])
        .expect("iptables");
    let _server = hostile_smtp(&chain.server, PORT, "normal", &[]);
    let from_arg = from.to_string();
    let mut args = vec!["--queue", "2", "--mode", mode, "--from", &from_arg];
    args.extend_from_slice(extra);
    let _forger = Proc::start_in(&chain.router, FORGE, &args);
    let cap = Capture::start(&chain.client, CLIENT_IF);
    let target = chain.target();
    let icmp = chain
        .client
        .enter(move || {
            let raw = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4)).expect("raw");
            raw.set_read_timeout(Some(Duration::from_millis(300)))
                .expect("timeout");
            let (mut s, _) = greeted(target, BANNER, EHLO);
            send(&mut s, b"STARTTLS\r\n");
            expect(&mut s, READY);
            let start = Instant::now();
            let mut got = Vec::new();
            let mut buf = vec![0u8; 65536];
            // Until 300 ms pass without a message once the expected number came (or 3 s).
            loop {
                match (&raw).read(&mut buf) {
                    Ok(n) => got.push(buf[..n].to_vec()),
                    Err(_) if got.len() >= expected => break,
                    Err(_) => {}
                }
                if start.elapsed() > LIMIT {
                    break;
                }
            }
            got
        })
        .expect("enter");
    let packets = cap.finish();
    let probes: Vec<&Packet> = packets
        .iter()
        .filter(|p| {
            p.sent_to_port(PORT)
                .is_some_and(|s| s.payload == b"STARTTLS\r\n")
        })
        .collect();
    let [probe] = probes.as_slice() else {
        panic!("one STARTTLS segment: {probes:?}")
    };
    assert_eq!(
        icmp.len(),
        expected,
        "ICMP for STARTTLS only, {expected} of them"
    );
    Forged {
        probe: probe.ip.clone(),
        icmp,
        from,
    }
}

#[test]
fn forge_wrong_id() {
    let from = Ipv4Addr::new(203, 0, 113, 7);
    let run = forge_run("wrong-id", from, &[], 1);
    let msgs = run.messages();
    let quote = &msgs[0][8..];
    run.assert_quote(quote, &[4, 5]);
    assert_ne!(u16::from_be_bytes([quote[4], quote[5]]), run.probe_id());
}

#[test]
fn forge_bad_rfc4884() {
    let run = forge_run("bad-rfc4884", Ipv4Addr::new(192, 0, 2, 66), &[], 2);
    let msgs = run.messages();
    assert_eq!(msgs[0][5], 255);
    assert!(255 * 4 > msgs[0].len(), "length beyond the message");
    // 3 words = 12 bytes: the length ends inside the quoted 20-byte IP header.
    assert_eq!(msgs[1][5], 3);
    for m in &msgs {
        run.assert_quote(&m[8..], &[]);
    }
}

#[test]
fn forge_truncated_inner() {
    let run = forge_run("truncated-inner", Ipv4Addr::new(192, 0, 2, 66), &[], 3);
    let msgs = run.messages();
    let quotes: Vec<&[u8]> = msgs.iter().map(|m| &m[8..]).collect();
    // The IP header cut after 12 bytes.
    assert_eq!(quotes[0].len(), 12);
    assert!(run.diff(quotes[0]).iter().all(|i| [8, 10, 11].contains(i)));
    // IHL 15 (60 bytes) with 28 bytes quoted.
    assert_eq!(quotes[1].len(), 28);
    assert_eq!(quotes[1][0], 0x4f);
    assert_eq!(inet_checksum(&quotes[1][..20]), 0);
    assert!(run
        .diff(quotes[1])
        .iter()
        .all(|i| [0, 8, 10, 11].contains(i)));
    // Total length 0xffff.
    assert_eq!(&quotes[2][2..4], &[0xff, 0xff]);
    run.assert_quote(quotes[2], &[2, 3]);
}

#[test]
fn forge_wrong_proto() {
    let run = forge_run("wrong-proto", Ipv4Addr::new(192, 0, 2, 66), &[], 1);
    let msgs = run.messages();
    let quote = &msgs[0][8..];
    assert_eq!(quote[9], 17, "UDP");
    assert_eq!(&quote[12..20], &run.probe[12..20], "our addresses");
    run.assert_quote(quote, &[9]);
}

#[test]
fn forge_modified_payload() {
    // 192.0.2.66 is on no path of the chain: a box that does not exist.
    let run = forge_run("modified-payload", Ipv4Addr::new(192, 0, 2, 66), &[], 1);
    let msgs = run.messages();
    let quote = &msgs[0][8..];
    let tcp = etherparse::TcpHeaderSlice::from_slice(&quote[20..]).expect("quoted TCP header");
    let payload_at = 20 + tcp.slice().len();
    assert_eq!(&run.probe[payload_at..], b"STARTTLS\r\n");
    assert_eq!(&quote[payload_at..], b"XXXXXXXX\r\n");
    let sum = tcp
        .calc_checksum_ipv4_raw(
            [quote[12], quote[13], quote[14], quote[15]],
            [quote[16], quote[17], quote[18], quote[19]],
            &quote[payload_at..],
        )
        .expect("checksum");
    assert_eq!(sum, tcp.checksum(), "the rewrite fixed the TCP checksum");
    let changed: Vec<usize> = (payload_at..payload_at + 8).chain([36, 37]).collect();
    run.assert_quote(quote, &changed);
}

#[test]
fn forge_flood() {
    let run = forge_run(
        "flood",
        Ipv4Addr::new(192, 0, 2, 66),
        &["--count", "40"],
        40,
    );
    let msgs = run.messages();
    let mut ids: Vec<u16> = msgs
        .iter()
        .map(|m| {
            run.assert_quote(&m[8..], &[4, 5]);
            u16::from_be_bytes([m[12], m[13]])
        })
        .collect();
    assert!(!ids.contains(&run.probe_id()));
    ids.sort_unstable();
    ids.dedup();
    assert!(ids.len() >= 38, "random IDs: {ids:?}");
}

#[test]
fn forge_refuses_sources_outside_the_lab() {
    let out = std::process::Command::new(FORGE)
        .args(["--mode", "wrong-id", "--from", "8.8.8.8"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("outside the lab ranges"), "{stderr}");
}

/// Queued in mangle PREROUTING, the forger also answers a probe whose TTL runs out at its
/// router (FORWARD never sees it), next to the router's own ICMP.
#[test]
fn forge_in_prerouting_sees_expiring_probes() {
    require_root();
    let chain = Chain::new();
    chain
        .router
        .run(&[
            "iptables",
            "-t",
            "mangle",
            "-A",
            "PREROUTING",
            "-p",
            "tcp",
            "--dport",
            "25",
            "-j",
            "NFQUEUE",
            "--queue-num",
            "2",
            "--queue-bypass",
        ])
        .expect("iptables");
    let _server = hostile_smtp(&chain.server, PORT, "normal", &[]);
    let from = Ipv4Addr::new(192, 0, 2, 66);
    let _forger = Proc::start_in(
        &chain.router,
        FORGE,
        &["--mode", "wrong-id", "--from", "192.0.2.66"],
    );
    let cap = Capture::start(&chain.client, CLIENT_IF);
    let target = chain.target();
    let icmp = chain
        .client
        .enter(move || {
            let raw = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4)).expect("raw");
            raw.set_read_timeout(Some(Duration::from_millis(100)))
                .expect("timeout");
            let (mut s, _) = greeted(target, BANNER, EHLO);
            s.set_ttl(1).expect("ttl");
            send(&mut s, b"STARTTLS\r\n");
            let start = Instant::now();
            let mut got = Vec::new();
            let mut buf = vec![0u8; 65536];
            while start.elapsed() < Duration::from_millis(600) {
                if let Ok(n) = (&raw).read(&mut buf) {
                    got.push(buf[..n].to_vec());
                }
            }
            got
        })
        .expect("enter");
    let packets = cap.finish();
    let sent = packets
        .iter()
        .filter(|p| {
            p.sent_to_port(PORT)
                .is_some_and(|s| s.payload == b"STARTTLS\r\n")
        })
        .count();
    let source = |d: &Vec<u8>| Ipv4Addr::from([d[12], d[13], d[14], d[15]]);
    let forged = icmp.iter().filter(|d| source(d) == from).count();
    let genuine = icmp
        .iter()
        .filter(|d| source(d) == Ipv4Addr::new(198, 51, 100, 2))
        .count();
    assert!(sent >= 1);
    assert_eq!(forged, sent, "one forged message per STARTTLS transmission");
    assert!(genuine >= 1, "the router's own time exceeded");
}
