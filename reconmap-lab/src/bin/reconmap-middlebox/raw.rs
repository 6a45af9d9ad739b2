//! A raw IPv4 socket (`IPPROTO_RAW`) that sends whole datagrams the box makes up.
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::reset::Injected;

/// An `AF_INET`/`SOCK_RAW`/`IPPROTO_RAW` socket (we write the IP header).
pub struct RawSocket(OwnedFd);

impl RawSocket {
    /// Opens the socket (needs CAP_NET_RAW).
    pub fn open() -> std::io::Result<Self> {
        // SAFETY: plain socket(2); the result is checked before it is wrapped.
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
        // SAFETY: a fresh descriptor nobody else owns.
        Ok(Self(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Sends one datagram.
    pub fn send(&self, packet: &Injected) -> std::io::Result<()> {
        let addr = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: 0,
            sin_addr: libc::in_addr {
                s_addr: u32::from_ne_bytes(packet.to.octets()),
            },
            sin_zero: [0; 8],
        };
        // SAFETY: the buffer and the address are valid for the lengths given.
        let n = unsafe {
            libc::sendto(
                self.0.as_raw_fd(),
                packet.datagram.as_ptr().cast(),
                packet.datagram.len(),
                0,
                (&raw const addr).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        if n < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
}
