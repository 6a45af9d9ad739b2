//! Resets toward both ends of a connection, for `--reset` and `--tls-reset`.
//!
//! nftables can only reject toward the sender; a real reset box tears the connection down at
//! both ends. For a client segment it makes one RST to the client (as if from the server:
//! sequence = the client's ACK) and one to the server (as if from the client: sequence = the
//! segment's own).
use std::net::Ipv4Addr;

use etherparse::PacketBuilder;

use crate::packet::{get32, tcp, TcpLayout};

/// A datagram to send with a raw socket, and where to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injected {
    /// Destination address.
    pub to: Ipv4Addr,
    /// The whole IPv4 datagram.
    pub datagram: Vec<u8>,
}

/// The two RSTs for the client segment `datagram` (empty when it is not a TCP segment).
pub fn resets_for(datagram: &[u8]) -> Vec<Injected> {
    let Some(l) = TcpLayout::parse(datagram) else {
        return Vec::new();
    };
    let (Some((client, server)), Some((cport, sport))) = (l.addrs(datagram), l.ports(datagram))
    else {
        return Vec::new();
    };
    let (Some(seq), Some(ack)) = (
        get32(datagram, l.start() + tcp::SEQ),
        get32(datagram, l.start() + tcp::ACK),
    ) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    // To the client, from the server: in window at the client's rcv_nxt (our segment's ACK).
    let mut to_client = Vec::new();
    if PacketBuilder::ipv4(server, client, 64)
        .tcp(sport, cport, ack, 0)
        .rst()
        .write(&mut to_client, &[])
        .is_ok()
    {
        out.push(Injected {
            to: client.into(),
            datagram: to_client,
        });
    }
    // To the server, from the client: at the server's rcv_nxt (this segment's sequence number).
    let mut to_server = Vec::new();
    if PacketBuilder::ipv4(client, server, 64)
        .tcp(cport, sport, seq, 0)
        .rst()
        .write(&mut to_server, &[])
        .is_ok()
    {
        out.push(Injected {
            to: server.into(),
            datagram: to_server,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::fixtures;
    use etherparse::{Ipv4Slice, TcpSlice};

    #[test]
    fn one_rst_each_way_at_the_right_sequence() {
        let seg = fixtures::tcp(
            [198, 51, 100, 1],
            [192, 0, 2, 25],
            40000,
            25,
            77,
            b"STARTTLS\r\n",
        );
        let r = resets_for(&seg);
        assert_eq!(r.len(), 2);
        let parse = |d: &[u8]| {
            let ip = Ipv4Slice::from_slice(d).expect("ip");
            let t = TcpSlice::from_slice(ip.payload().payload).expect("tcp");
            (
                ip.header().destination(),
                t.destination_port(),
                t.sequence_number(),
                t.rst(),
            )
        };
        assert_eq!(r[0].to, Ipv4Addr::new(198, 51, 100, 1));
        assert_eq!(
            parse(&r[0].datagram),
            ([198, 51, 100, 1], 40000, 1000, true)
        );
        assert_eq!(r[1].to, Ipv4Addr::new(192, 0, 2, 25));
        assert_eq!(parse(&r[1].datagram), ([192, 0, 2, 25], 25, 77, true));
        assert!(r.iter().all(|i| fixtures::tcp_checksums_ok(&i.datagram)));
        assert!(resets_for(&[0x45]).is_empty());
    }
}
