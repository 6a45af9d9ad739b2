//! Where a redirected connection was going (netfilter's `SO_ORIGINAL_DST`).
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};

/// The original destination of a connection accepted through an iptables `REDIRECT` (or the
/// local address itself when it was not redirected).
pub fn original_dst(stream: &TcpStream) -> std::io::Result<SocketAddrV4> {
    let sin = nix::sys::socket::getsockopt(stream, nix::sys::socket::sockopt::OriginalDst)
        .map_err(std::io::Error::from)?;
    Ok(SocketAddrV4::new(
        Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)),
        u16::from_be(sin.sin_port),
    ))
}
