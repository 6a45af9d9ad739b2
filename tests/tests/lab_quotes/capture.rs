//! An AF_PACKET socket (all protocols, IPv4 kept) on one interface of the namespace it was opened in: every IPv4
//! datagram sent or received there, as the wire carries it (the lab turns checksum offloads
//! off, so outgoing checksums are final).
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// One datagram seen on the interface.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Sent by this host (`PACKET_OUTGOING`), else received.
    pub outgoing: bool,
    /// The IPv4 datagram (no link header).
    pub datagram: Vec<u8>,
}

/// A packet socket bound to one interface.
pub struct Capture {
    fd: OwnedFd,
}

impl Capture {
    /// Opens the capture on `iface` of the calling thread's namespace.
    pub fn open(iface: &str) -> Capture {
        // ETH_P_ALL: outgoing packets reach only "all protocols" taps.
        let proto = (libc::ETH_P_ALL as u16).to_be();
        // SAFETY: plain socket(2); the result is checked before it is wrapped.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_DGRAM, i32::from(proto)) };
        assert!(
            fd >= 0,
            "packet socket: {}",
            std::io::Error::last_os_error()
        );
        // SAFETY: a fresh descriptor owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let name = std::ffi::CString::new(iface).expect("interface name");
        // SAFETY: name is a valid NUL-terminated string for the duration of the call.
        let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
        assert!(index > 0, "no interface {iface}");
        // SAFETY: an all-zero sockaddr_ll is a valid value of this plain C struct.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_protocol = proto;
        addr.sll_ifindex = i32::try_from(index).expect("ifindex");
        // SAFETY: addr outlives the call and its size is passed.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                std::ptr::addr_of!(addr).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0, "bind: {}", std::io::Error::last_os_error());
        let tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 20_000,
        };
        // SAFETY: tv outlives the call and its size is passed.
        let rc = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                std::ptr::addr_of!(tv).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0, "SO_RCVTIMEO: {}", std::io::Error::last_os_error());
        let size: libc::c_int = 4 << 20;
        // SAFETY: size outlives the call and its size is passed.
        let rc = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                std::ptr::addr_of!(size).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0, "SO_RCVBUFFORCE: {}", std::io::Error::last_os_error());
        Capture { fd }
    }

    /// Everything captured so far and until `until` (at most a second longer while packets
    /// keep coming).
    pub fn collect(&self, until: Instant) -> Vec<Frame> {
        let hard_stop = until + Duration::from_secs(1);
        let mut frames = Vec::new();
        while let Some(f) = self.next(if Instant::now() < until {
            until
        } else {
            Instant::now()
        }) {
            frames.push(f);
            if Instant::now() >= hard_stop {
                break;
            }
        }
        frames
    }

    /// The next datagram, or `None` once `until` has passed without one.
    pub fn next(&self, until: Instant) -> Option<Frame> {
        let mut buf = vec![0u8; 65536];
        loop {
            // SAFETY: an all-zero sockaddr_ll is a valid value of this plain C struct.
            let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            let mut len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
            // SAFETY: buf and from are valid for the lengths passed.
            let n = unsafe {
                libc::recvfrom(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    0,
                    std::ptr::addr_of_mut!(from).cast(),
                    &mut len,
                )
            };
            let ipv4 = from.sll_protocol == (libc::ETH_P_IP as u16).to_be();
            if let Ok(n) = usize::try_from(n) {
                if !ipv4 {
                    continue;
                }
                buf.truncate(n);
                return Some(Frame {
                    outgoing: from.sll_pkttype == libc::PACKET_OUTGOING,
                    datagram: buf,
                });
            }
            // Timed out (20 ms) or interrupted.
            if Instant::now() >= until {
                return None;
            }
        }
    }
}
