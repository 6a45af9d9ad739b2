//! Host names in target lists, resolved with the system resolver (getaddrinfo).
use reconmap_core::scan::Resolver;
use std::net::{Ipv4Addr, ToSocketAddrs};

/// The system resolver; the first IPv4 address wins.
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn resolve(&self, host: &str, port: u16) -> Result<Ipv4Addr, String> {
        let addrs = (host, port)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve: {e}"))?;
        addrs
            .filter_map(|a| match a {
                std::net::SocketAddr::V4(v4) => Some(*v4.ip()),
                std::net::SocketAddr::V6(_) => None,
            })
            .next()
            .ok_or_else(|| "no IPv4 address".to_string())
    }
}
