//! The scenarios' truth, checked without ReconMap (run as root): a kernel TCP connection sends
//! STARTTLS with a small IP TTL, and the ICMP Time Exceeded quotes show where the bytes change.
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use etherparse::{Icmpv4Slice, Icmpv4Type, Ipv4HeaderSlice, TcpHeaderSlice};
use reconmap_lab::{Lab, Scenario};

const WAIT: Duration = Duration::from_millis(1200);

/// One hop's ICMP Time Exceeded: where it came from, the quote's length and TCP payload.
#[derive(Debug, Clone)]
struct Quote {
    from: Ipv4Addr,
    quote_len: usize,
    payload: Vec<u8>,
}

fn raw_icmp_socket() -> OwnedFd {
    // SAFETY: plain socket(2) call; the result is checked before it is wrapped.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP) };
    assert!(fd >= 0, "raw socket: {}", std::io::Error::last_os_error());
    // SAFETY: fd is a fresh, valid descriptor owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 100_000,
    };
    // SAFETY: tv outlives the call and its size is passed.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            std::ptr::addr_of!(tv).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0);
    fd
}

fn set_ttl(stream: &TcpStream, ttl: u8) {
    stream.set_ttl(u32::from(ttl)).expect("IP_TTL");
}

/// Parses one datagram from the raw socket as Time Exceeded quoting TCP from `local_port`.
fn parse(datagram: &[u8], local_port: u16) -> Option<Quote> {
    let ip = Ipv4HeaderSlice::from_slice(datagram).ok()?;
    let icmp = Icmpv4Slice::from_slice(datagram.get(ip.slice().len()..)?).ok()?;
    if !matches!(icmp.icmp_type(), Icmpv4Type::TimeExceeded(_)) {
        return None;
    }
    let quote = icmp.payload();
    let inner = Ipv4HeaderSlice::from_slice(quote).ok()?;
    let tcp_bytes = quote.get(inner.slice().len()..)?;
    if tcp_bytes.len() < 4 || u16::from_be_bytes([tcp_bytes[0], tcp_bytes[1]]) != local_port {
        return None;
    }
    let payload = TcpHeaderSlice::from_slice(tcp_bytes)
        .ok()
        .and_then(|tcp| tcp_bytes.get(tcp.slice().len()..))
        .unwrap_or_default()
        .to_vec();
    Some(Quote {
        from: ip.source_addr(),
        quote_len: quote.len(),
        payload,
    })
}

/// Opens a session, sends STARTTLS with IP TTL `ttl`, and returns the Time Exceeded it drew.
fn probe(target: SocketAddrV4, ttl: u8) -> Option<Quote> {
    let icmp = raw_icmp_socket();
    let stream = TcpStream::connect_timeout(&target.into(), WAIT).expect("connect");
    stream.set_read_timeout(Some(WAIT)).expect("timeout");
    let local_port = stream.local_addr().expect("local addr").port();
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut writer = stream;
    let mut line = String::new();
    let mut read_reply = |reader: &mut BufReader<TcpStream>| loop {
        line.clear();
        reader.read_line(&mut line).expect("reply line");
        if line.as_bytes().get(3) == Some(&b' ') {
            break;
        }
    };
    read_reply(&mut reader);
    writer
        .write_all(b"EHLO prober.lab.example\r\n")
        .expect("EHLO");
    read_reply(&mut reader);
    set_ttl(&writer, ttl);
    writer.write_all(b"STARTTLS\r\n").expect("STARTTLS");
    let deadline = Instant::now() + WAIT;
    let mut buf = [0u8; 1500];
    while Instant::now() < deadline {
        // SAFETY: buf is valid for its length.
        let n = unsafe { libc::recv(icmp.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        let Ok(n) = usize::try_from(n) else { continue };
        if let Some(q) = buf.get(..n).and_then(|d| parse(d, local_port)) {
            return Some(q);
        }
    }
    None
}

/// Quotes for TTL 1..=n (routers only).
fn quotes(lab: &Lab) -> Vec<Option<Quote>> {
    let target = lab.target();
    let n = u8::try_from(lab.scenario().hops.len()).expect("hops");
    lab.prober()
        .enter(move || (1..=n).map(|ttl| probe(target, ttl)).collect())
        .expect("enter prober")
}

#[test]
fn quotes_match_each_scenarios_truth() {
    reconmap_tests::require_root();
    for name in [
        "mailguard-forward",
        "mailguard-prerouting",
        "mailguard-edge",
        "silent-after",
        "short-quote-after",
        "nat",
        "clean",
    ] {
        let lab = Lab::up(&Scenario::builtin(name).expect("builtin")).expect("up");
        let expect = lab.scenario().expect.clone();
        let quotes = quotes(&lab);
        eprintln!("{name}: {quotes:?}");
        for (i, q) in quotes.iter().enumerate() {
            let ttl = u8::try_from(i + 1).expect("ttl");
            let hop = &lab.scenario().hops[i];
            use reconmap_lab::scenario::RouterKind;
            match hop.router {
                RouterKind::Silent => {
                    assert!(q.is_none(), "{name} ttl {ttl}: silent router answered");
                    continue;
                }
                RouterKind::ShortQuote => {
                    let q = q.as_ref().expect("short-quote router answers");
                    assert_eq!(q.quote_len, 40, "{name} ttl {ttl}");
                    assert!(q.payload.is_empty());
                    continue;
                }
                _ => {}
            }
            let q = q
                .as_ref()
                .unwrap_or_else(|| panic!("{name} ttl {ttl}: no Time Exceeded"));
            assert_eq!(Some(q.from), lab.hop_addr(ttl), "{name} ttl {ttl}");
            assert!(q.quote_len > 40, "{name} ttl {ttl}: full quote");
            let changed = expect.segment_at.is_some_and(|at| ttl >= at);
            let want: &[u8] = if changed {
                b"XXXXXXXX\r\n"
            } else {
                b"STARTTLS\r\n"
            };
            assert_eq!(q.payload, want, "{name} ttl {ttl}");
            if let Some(after) = expect.segment_after {
                if ttl <= after {
                    assert_eq!(q.payload, b"STARTTLS\r\n", "{name} ttl {ttl}");
                }
            }
        }
    }
}
