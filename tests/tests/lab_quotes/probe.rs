//! One probe: a kernel TCP connection from the prober to the target, banner and EHLO read,
//! then one line (`STARTTLS`, or `NOOP` as a control) sent with a given IP TTL; what comes
//! back is read from the socket and from a packet capture on the prober's interface.
use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::{SocketAddrV4, TcpStream};
use std::time::{Duration, Instant};

use crate::capture::{Capture, Frame};
use crate::packets::{Headers, IcmpError};

/// The prober's interface (toward r1).
const IFACE: &str = "east";
/// TCP flag bits.
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const ACK: u8 = 0x10;

/// How the target answered the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// A complete reply (last line).
    Line(String),
    /// The connection was reset.
    Reset,
    /// The peer closed.
    Closed,
    /// Nothing within the window.
    Silence,
}

impl Reply {
    /// The reply code, for a complete reply.
    pub fn code(&self) -> Option<u16> {
        match self {
            Reply::Line(l) => l.get(..3)?.parse().ok(),
            _ => None,
        }
    }
}

/// One of our transmissions of the probe line, as captured.
#[derive(Debug, Clone)]
pub struct Sent {
    pub datagram: Vec<u8>,
    pub headers: Headers,
}

/// Everything one probe saw.
#[derive(Debug, Clone)]
pub struct Probe {
    pub ttl: u8,
    pub line: &'static [u8],
    /// The client's port.
    pub port: u16,
    /// The banner's lines.
    pub banner: Vec<String>,
    /// The EHLO reply's lines.
    pub ehlo: Vec<String>,
    pub reply: Reply,
    /// IP TTL of the SYN/ACK on arrival.
    pub syn_ack_ttl: Option<u8>,
    /// Every transmission of the line (retransmissions too).
    pub sent: Vec<Sent>,
    /// ICMP errors quoting a datagram of the line's length from our port.
    pub errors: Vec<IcmpError>,
    /// IP TTLs of RSTs from the target's port 25 to ours.
    pub rst_ttls: Vec<u8>,
}

fn read_reply(reader: &mut BufReader<TcpStream>) -> Result<Vec<String>, std::io::Error> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(ErrorKind::UnexpectedEof.into());
        }
        let last = line.as_bytes().get(3) != Some(&b'-');
        lines.push(line.trim_end().to_owned());
        if last {
            return Ok(lines);
        }
    }
}

/// Runs one probe; call it inside the prober's namespace. `window` bounds the wait for the
/// reply and for ICMP errors after the line was sent.
pub fn probe(target: SocketAddrV4, ttl: u8, line: &'static [u8], window: Duration) -> Probe {
    let capture = Capture::open(IFACE);
    let stream = TcpStream::connect_timeout(&target.into(), Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("connect {target}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let port = stream.local_addr().expect("local addr").port();
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut writer = stream;
    let banner = read_reply(&mut reader).expect("banner");
    writer
        .write_all(b"EHLO prober.lab.example\r\n")
        .expect("EHLO");
    let ehlo = read_reply(&mut reader).expect("EHLO reply");
    writer.set_ttl(u32::from(ttl)).expect("IP_TTL");
    writer.set_read_timeout(Some(window)).expect("timeout");
    let sent_at = Instant::now();
    writer.write_all(line).expect("send the line");
    let reply = match read_reply(&mut reader) {
        Ok(lines) => Reply::Line(lines.last().cloned().unwrap_or_default()),
        Err(e) if e.kind() == ErrorKind::ConnectionReset => Reply::Reset,
        Err(e) if e.kind() == ErrorKind::UnexpectedEof => Reply::Closed,
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Reply::Silence,
        Err(e) => panic!("reading the reply: {e}"),
    };
    let frames = capture.collect(sent_at + window);
    drop(writer);
    let mut p = Probe {
        ttl,
        line,
        port,
        banner,
        ehlo,
        reply,
        syn_ack_ttl: None,
        sent: Vec::new(),
        errors: Vec::new(),
        rst_ttls: Vec::new(),
    };
    classify(&mut p, target, &frames);
    p
}

/// Sorts the captured frames of probe `p` (its port and line) into its transmissions, the
/// target's SYN/ACK and RSTs, and the ICMP errors quoting its line.
fn classify(p: &mut Probe, target: SocketAddrV4, frames: &[Frame]) {
    let (port, line) = (p.port, p.line);
    let mut quoting = Vec::new();
    for f in frames {
        if let Some(e) = (!f.outgoing)
            .then(|| IcmpError::parse(&f.datagram))
            .flatten()
        {
            quoting.push(e);
            continue;
        }
        let Some(h) = Headers::parse(&f.datagram).filter(|h| h.protocol == 6) else {
            continue;
        };
        if f.outgoing && h.sport == port && h.dport == 25 {
            if h.payload.as_deref() == Some(line) {
                p.sent.push(Sent {
                    datagram: f.datagram.clone(),
                    headers: h,
                });
            }
        } else if !f.outgoing && h.src == *target.ip() && h.sport == 25 && h.dport == port {
            let flags = h.flags().unwrap_or_default();
            let ttl = f.datagram.get(8).copied().unwrap_or_default();
            if flags & (SYN | ACK) == SYN | ACK {
                p.syn_ack_ttl = Some(ttl);
            }
            if flags & RST != 0 {
                p.rst_ttls.push(ttl);
            }
        }
    }
    let line_len = p.sent.first().map(|s| s.headers.total_len);
    p.errors = quoting
        .into_iter()
        .filter(|e| {
            e.quoted()
                .is_some_and(|q| q.sport == port && q.dport == 25 && Some(q.total_len) == line_len)
        })
        .collect();
}

/// One connection whose `line` is sent once and then retransmitted by the kernel while the IP
/// TTL is raised through `hops` (TTL, address): after each hop's Time Exceeded the next TTL
/// is set, so the next retransmission goes one hop further. Returns the captured
/// transmissions and each hop's first Time Exceeded quoting our port.
pub fn probe_raising_ttl(
    target: SocketAddrV4,
    line: &'static [u8],
    hops: &[(u8, std::net::Ipv4Addr)],
) -> (Vec<Sent>, Vec<(u8, IcmpError)>) {
    let capture = Capture::open(IFACE);
    let stream = TcpStream::connect_timeout(&target.into(), Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("connect {target}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let port = stream.local_addr().expect("local addr").port();
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut writer = stream;
    read_reply(&mut reader).expect("banner");
    writer
        .write_all(b"EHLO prober.lab.example\r\n")
        .expect("EHLO");
    read_reply(&mut reader).expect("EHLO reply");
    let mut frames = Vec::new();
    let mut quotes = Vec::new();
    // The line's datagram length: quotes of other segments (e.g. a duplicate ACK for the
    // server's retransmitted EHLO reply, whose ACK died with the line) do not count.
    let mut line_len = None;
    for (i, &(ttl, addr)) in hops.iter().enumerate() {
        writer.set_ttl(u32::from(ttl)).expect("IP_TTL");
        if i == 0 {
            writer.write_all(line).expect("send the line");
        }
        // Backoff doubles from 200 ms: the fifth retransmission comes after ~6 s.
        let deadline = Instant::now() + Duration::from_secs(8);
        loop {
            let f = capture
                .next(deadline)
                .unwrap_or_else(|| panic!("no Time Exceeded from {addr} for TTL {ttl}"));
            if f.outgoing {
                let h = Headers::parse(&f.datagram);
                if let Some(h) = h.filter(|h| h.sport == port && h.payload.as_deref() == Some(line))
                {
                    line_len = Some(h.total_len);
                }
            }
            let quote = (!f.outgoing)
                .then(|| IcmpError::parse(&f.datagram))
                .flatten()
                .filter(|e| {
                    e.from == addr
                        && e.quoted().is_some_and(|q| {
                            q.sport == port && q.dport == 25 && Some(q.total_len) == line_len
                        })
                });
            frames.push(f);
            if let Some(e) = quote {
                quotes.push((ttl, e));
                break;
            }
        }
    }
    drop(writer);
    let sent = frames
        .iter()
        .filter(|f| f.outgoing)
        .filter_map(|f| {
            let h = Headers::parse(&f.datagram)?;
            (h.protocol == 6 && h.sport == port && h.payload.as_deref() == Some(line)).then(|| {
                Sent {
                    datagram: f.datagram.clone(),
                    headers: h,
                }
            })
        })
        .collect();
    (sent, quotes)
}
