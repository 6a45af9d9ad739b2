//! One raw IPv4 socket (`IPPROTO_RAW`, header included): datagrams go out exactly as built
//! (TTL, IP ID and checksums ours). Used by the prober and by the lab's packet-forging boxes.
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Why the raw socket could not be opened or used.
#[derive(Debug, thiserror::Error)]
pub enum RawError {
    #[error("permission denied opening a raw socket (needs CAP_NET_RAW)")]
    Permission,
    #[error("permission denied setting SO_MARK on the raw socket (needs CAP_NET_ADMIN)")]
    MarkPermission,
    #[error("raw socket: {0}")]
    Io(#[from] std::io::Error),
}

/// Sends complete IPv4 datagrams.
#[derive(Debug)]
pub struct RawSender {
    fd: OwnedFd,
}

impl RawSender {
    /// Opens the socket. With `mark`, every datagram sent carries that skb mark (SO_MARK), so
    /// the eBPF RST guard can tell our own RSTs from the kernel's.
    pub fn new(mark: Option<u32>) -> Result<Self, RawError> {
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
                RawError::Permission
            } else {
                RawError::Io(e)
            });
        }
        // SAFETY: `fd` is a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        if let Some(mark) = mark {
            // SAFETY: a valid fd, a u32 option value and its size.
            let rc = unsafe {
                libc::setsockopt(
                    fd.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_MARK,
                    std::ptr::addr_of!(mark).cast(),
                    std::mem::size_of::<u32>() as libc::socklen_t,
                )
            };
            if rc != 0 {
                let e = std::io::Error::last_os_error();
                return Err(if e.kind() == std::io::ErrorKind::PermissionDenied {
                    RawError::MarkPermission
                } else {
                    RawError::Io(e)
                });
            }
        }
        Ok(Self { fd })
    }

    /// Sends one datagram (starting at its IPv4 header) toward `dst`.
    pub fn send(&self, datagram: &[u8], dst: Ipv4Addr) -> Result<(), RawError> {
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
            return Err(RawError::Io(std::io::Error::last_os_error()));
        }
        Ok(())
    }
}
