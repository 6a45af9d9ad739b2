//! One raw IPv4 socket (`IPPROTO_RAW`, header included) for every packet the prober sends.
use super::DatapathError;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Sends complete IPv4 datagrams as built (TTL, IP ID and checksums ours).
pub struct RawSender {
    fd: OwnedFd,
}

impl RawSender {
    pub fn new() -> Result<Self, DatapathError> {
        // SAFETY: plain socket(2) call; the result is checked before use.
        let fd = unsafe {
            libc::socket(
                libc::AF_INET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::IPPROTO_RAW,
            )
        };
        if fd < 0 {
            let e = std::io::Error::last_os_error();
            return Err(if e.kind() == std::io::ErrorKind::PermissionDenied {
                DatapathError::Permission("opening a raw socket".to_string())
            } else {
                DatapathError::Raw(e)
            });
        }
        // SAFETY: `fd` is a fresh descriptor we own.
        Ok(Self {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Sends one datagram (starting at its IPv4 header) toward `dst`.
    pub fn send(&self, datagram: &[u8], dst: Ipv4Addr) -> Result<(), DatapathError> {
        let addr = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: 0,
            sin_addr: libc::in_addr {
                s_addr: u32::from_ne_bytes(dst.octets()),
            },
            sin_zero: [0; 8],
        };
        // SAFETY: the buffer and address are valid for the given lengths.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                datagram.as_ptr().cast(),
                datagram.len(),
                0,
                (&addr as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        if n < 0 {
            return Err(DatapathError::Raw(std::io::Error::last_os_error()));
        }
        Ok(())
    }
}
