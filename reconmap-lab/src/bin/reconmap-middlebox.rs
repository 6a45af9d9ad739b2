//! `reconmap-middlebox --queue N --reset`: the lab's `reset` box. nftables can only reject
//! toward the sender, but a real reset box tears the connection down at both ends. An iptables
//! NFQUEUE rule hands this process the client segments that carry STARTTLS; for each, it sends
//! one RST to the client (as if from the server: sequence = the client's ACK) and one to the
//! server (as if from the client: sequence = the segment's own), and drops the segment.
use etherparse::{IpNumber, Ipv4Slice, PacketBuilder, TcpSlice};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

fn main() {
    if let Err(e) = run() {
        eprintln!("reconmap-middlebox: {e}");
        std::process::exit(1);
    }
}

fn parse_args() -> Result<u16, String> {
    let mut queue = None;
    let mut reset = false;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--queue" => {
                let v = it.next().ok_or("--queue needs a value")?;
                queue = Some(v.parse::<u16>().map_err(|e| format!("--queue {v}: {e}"))?);
            }
            "--reset" => reset = true,
            other => return Err(format!("unknown option {other}")),
        }
    }
    if !reset {
        return Err("only --reset is implemented".to_string());
    }
    queue.ok_or_else(|| "--queue is required".to_string())
}

fn run() -> Result<(), String> {
    let queue_num = parse_args()?;
    let raw = raw_socket().map_err(|e| format!("raw socket: {e}"))?;
    let mut queue = nfq::Queue::open().map_err(|e| format!("cannot open NFQUEUE: {e}"))?;
    queue
        .bind(queue_num)
        .map_err(|e| format!("cannot bind queue {queue_num}: {e}"))?;
    loop {
        let mut msg = queue.recv().map_err(|e| format!("receive: {e}"))?;
        let resets = resets_for(msg.get_payload());
        for (dst, pkt) in &resets {
            if let Err(e) = send(&raw, pkt, *dst) {
                eprintln!("reconmap-middlebox: send RST: {e}");
            }
        }
        // A segment we could not parse is let through untouched; a STARTTLS segment dies here.
        msg.set_verdict(if resets.is_empty() {
            nfq::Verdict::Accept
        } else {
            nfq::Verdict::Drop
        });
        queue.verdict(msg).map_err(|e| format!("verdict: {e}"))?;
    }
}

/// The two RSTs for a client segment: (destination, datagram) pairs.
fn resets_for(datagram: &[u8]) -> Vec<([u8; 4], Vec<u8>)> {
    let Ok(ip) = Ipv4Slice::from_slice(datagram) else {
        return Vec::new();
    };
    if ip.header().protocol() != IpNumber::TCP {
        return Vec::new();
    }
    let Ok(tcp) = TcpSlice::from_slice(ip.payload().payload) else {
        return Vec::new();
    };
    let (client, server) = (ip.header().source(), ip.header().destination());
    let (cport, sport) = (tcp.source_port(), tcp.destination_port());
    let mut out = Vec::new();
    // To the client, from the server: in window at the client's rcv_nxt (our segment's ACK).
    let mut to_client = Vec::new();
    if PacketBuilder::ipv4(server, client, 64)
        .tcp(sport, cport, tcp.acknowledgment_number(), 0)
        .rst()
        .write(&mut to_client, &[])
        .is_ok()
    {
        out.push((client, to_client));
    }
    // To the server, from the client: at the server's rcv_nxt (this segment's sequence number).
    let mut to_server = Vec::new();
    if PacketBuilder::ipv4(client, server, 64)
        .tcp(cport, sport, tcp.sequence_number(), 0)
        .rst()
        .write(&mut to_server, &[])
        .is_ok()
    {
        out.push((server, to_server));
    }
    out
}

fn raw_socket() -> std::io::Result<OwnedFd> {
    // SAFETY: plain socket(2), checked.
    let fd = unsafe {
        libc::socket(
            libc::AF_INET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::IPPROTO_RAW,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn send(fd: &OwnedFd, datagram: &[u8], dst: [u8; 4]) -> std::io::Result<()> {
    let addr = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(dst),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: valid buffer and address for the lengths given.
    let n = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            datagram.as_ptr().cast(),
            datagram.len(),
            0,
            (&addr as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
