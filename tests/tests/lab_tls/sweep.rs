//! The ClientHello sweep without ReconMap: for each TTL a kernel TCP connection from the
//! prober, banner, EHLO, STARTTLS and its 220 read, then one payload (the ClientHello openssl
//! sent, or a control of the same length that is no TLS) written with that IP TTL; the
//! prober's interface is captured meanwhile (AF_PACKET: our own segments as sent, the ICMP
//! Time Exceeded messages, the server's records and RSTs).
use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::{SocketAddrV4, TcpStream};
use std::time::{Duration, Instant};

use nix::sys::socket::{setsockopt, sockopt::Linger};

use crate::capture::Capture;
use crate::records::{records, Record};
use crate::wire::{after, stream, Segment, TimeExceeded, RST};

/// The prober's interface (toward r1).
const IFACE: &str = "east";

/// What a probe writes after the 220.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    /// The ClientHello record.
    Hello,
    /// As many bytes as the ClientHello, all `X`: no TLS record, so TLS boxes let it pass.
    Control,
}

/// Everything one probe saw.
#[derive(Debug, Clone)]
pub struct Probe {
    pub ttl: u8,
    pub payload: Payload,
    /// The client's port.
    pub port: u16,
    /// Every transmission of the payload as captured (retransmissions too).
    pub sent: Vec<Segment>,
    /// Time Exceeded messages quoting a datagram of the payload's length from our port.
    pub quotes: Vec<TimeExceeded>,
    /// TLS records from the server after the 220.
    pub server_records: Vec<Record>,
    /// IP TTLs of RSTs from the target's port 25 to ours.
    pub rst_ttls: Vec<u8>,
}

fn read_reply(reader: &mut BufReader<TcpStream>) -> Vec<String> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line).expect("SMTP reply");
        assert!(n > 0, "the server closed during SMTP: {lines:?}");
        let last = line.as_bytes().get(3) != Some(&b'-');
        lines.push(line.trim_end().to_owned());
        if last {
            return lines;
        }
    }
}

/// The bytes a probe writes.
pub fn bytes(payload: Payload, hello: &[u8]) -> Vec<u8> {
    match payload {
        Payload::Hello => hello.to_vec(),
        Payload::Control => vec![b'X'; hello.len()],
    }
}

/// Runs one probe; call it inside the prober's namespace.
pub fn probe(
    target: SocketAddrV4,
    ttl: u8,
    payload: Payload,
    hello: &[u8],
    window: Duration,
) -> Probe {
    let data = bytes(payload, hello);
    let capture = Capture::open(IFACE);
    let stream_ = TcpStream::connect_timeout(&target.into(), Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("connect {target}: {e}"));
    stream_
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let port = stream_.local_addr().expect("local addr").port();
    let mut reader = BufReader::new(stream_.try_clone().expect("clone"));
    let mut writer = stream_;
    let banner = read_reply(&mut reader);
    assert!(
        banner.last().is_some_and(|l| l.starts_with("220")),
        "{banner:?}"
    );
    writer
        .write_all(b"EHLO prober.lab.example\r\n")
        .expect("EHLO");
    let ehlo = read_reply(&mut reader);
    assert!(ehlo.iter().any(|l| l.ends_with("STARTTLS")), "{ehlo:?}");
    writer.write_all(b"STARTTLS\r\n").expect("STARTTLS");
    let ready = read_reply(&mut reader);
    assert!(
        ready.last().is_some_and(|l| l.starts_with("220")),
        "STARTTLS: {ready:?}"
    );
    writer.set_ttl(u32::from(ttl)).expect("IP_TTL");
    let sent_at = Instant::now();
    match writer.write_all(&data) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!("send the payload: {e}"),
    }
    let frames = capture.collect(sent_at + window);
    // Close with a RST (SO_LINGER 0): no retransmissions of an unacknowledged payload go on
    // after the probe.
    let _ = setsockopt(
        &writer,
        Linger,
        &libc::linger {
            l_onoff: 1,
            l_linger: 0,
        },
    );
    drop(reader);
    drop(writer);
    classify(target, ttl, payload, port, &data, &frames)
}

fn classify(
    target: SocketAddrV4,
    ttl: u8,
    payload: Payload,
    port: u16,
    data: &[u8],
    frames: &[crate::capture::Frame],
) -> Probe {
    let mut p = Probe {
        ttl,
        payload,
        port,
        sent: Vec::new(),
        quotes: Vec::new(),
        server_records: Vec::new(),
        rst_ttls: Vec::new(),
    };
    let mut down = Vec::new();
    let mut quotes = Vec::new();
    for f in frames {
        if !f.outgoing {
            if let Some(te) = TimeExceeded::parse(&f.datagram) {
                quotes.push(te);
                continue;
            }
        }
        let Some(s) = Segment::parse(&f.datagram) else {
            continue;
        };
        if f.outgoing && s.sport == port && s.dport == 25 && s.payload() == data {
            p.sent.push(s);
        } else if !f.outgoing && s.src == *target.ip() && s.sport == 25 && s.dport == port {
            if s.has_flag(RST) {
                p.rst_ttls.push(s.ttl);
            }
            down.push(s);
        }
    }
    let len = p.sent.first().map(|s| s.total_len);
    p.quotes = quotes
        .into_iter()
        .filter(|q| q.quote.sport == port && q.quote.dport == 25 && Some(q.quote.total_len) == len)
        .collect();
    let down: Vec<&Segment> = down.iter().collect();
    let server = stream(&down);
    // The capture was open from the connect on: the 220 is in it.
    p.server_records = records(after(&server, b"Ready to start TLS\r\n").unwrap_or_default());
    p
}
