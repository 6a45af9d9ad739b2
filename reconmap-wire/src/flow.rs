//! The 4-tuple of a probe flow, seen from the prober.
use reconmap_common::FlowKey;
use std::net::SocketAddrV4;

/// Our end and the server's end of a probe connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowAddrs {
    pub local: SocketAddrV4,
    pub remote: SocketAddrV4,
}

impl FlowAddrs {
    /// The key of this flow in the eBPF flow map (addresses and ports in wire byte order).
    pub fn key(&self) -> FlowKey {
        FlowKey::v4(
            self.local.ip().octets(),
            self.remote.ip().octets(),
            self.local.port().to_be_bytes(),
            self.remote.port().to_be_bytes(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_in_wire_order() {
        let f = FlowAddrs {
            local: "198.51.100.2:40000".parse().expect("addr"),
            remote: "192.0.2.25:25".parse().expect("addr"),
        };
        let k = f.key();
        assert_eq!(k.local_addr[12..], [198, 51, 100, 2]);
        assert_eq!(k.remote_addr[12..], [192, 0, 2, 25]);
        assert_eq!(k.local_port, [0x9c, 0x40]);
        assert_eq!(k.remote_port, [0, 25]);
    }
}
