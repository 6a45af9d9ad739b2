//! How the interface frames packets, so the programs know where the IP header starts: after an
//! Ethernet header (and VLAN tags), or right away on L3 devices (tun, WireGuard, PPP, IP
//! tunnels). Anything else is refused with the device type named, rather than attached blind.
use super::DatapathError;
use reconmap_common::link_kind;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// The framing of an interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkKind {
    Ethernet,
    RawIp,
}

impl LinkKind {
    /// The value of the programs' `LINK_KIND` global.
    pub fn global(self) -> u32 {
        match self {
            LinkKind::Ethernet => link_kind::ETHERNET,
            LinkKind::RawIp => link_kind::RAW_IP,
        }
    }

    /// The framing for an ARPHRD device type.
    pub fn from_arphrd(kind: u16) -> Result<Self, String> {
        Ok(match kind {
            ARPHRD_ETHER => LinkKind::Ethernet,
            ARPHRD_NONE | ARPHRD_PPP | ARPHRD_RAWIP | ARPHRD_TUNNEL | ARPHRD_TUNNEL6
            | ARPHRD_SIT | ARPHRD_IPGRE | ARPHRD_IP6GRE => LinkKind::RawIp,
            ARPHRD_LOOPBACK => return Err("a loopback device".to_string()),
            other => {
                return Err(format!(
                "device type {other} (see linux/if_arp.h), neither Ethernet nor an IP-only link"
            ))
            }
        })
    }
}

const ARPHRD_ETHER: u16 = 1;
const ARPHRD_PPP: u16 = 512;
const ARPHRD_RAWIP: u16 = 519;
const ARPHRD_TUNNEL: u16 = 768;
const ARPHRD_TUNNEL6: u16 = 769;
const ARPHRD_LOOPBACK: u16 = 772;
const ARPHRD_SIT: u16 = 776;
const ARPHRD_IPGRE: u16 = 778;
const ARPHRD_IP6GRE: u16 = 823;
const ARPHRD_NONE: u16 = 65534;

/// The framing of `iface` in the calling thread's network namespace (SIOCGIFHWADDR).
pub fn detect(iface: &str) -> Result<LinkKind, DatapathError> {
    let attach_err = |reason: String| DatapathError::Attach {
        iface: iface.to_string(),
        reason,
    };
    let name = iface.as_bytes();
    if name.is_empty() || name.len() >= libc::IFNAMSIZ {
        return Err(attach_err("bad interface name".to_string()));
    }
    // SAFETY: plain socket(2); checked before use.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(attach_err(format!(
            "cannot open a socket to ask for the device type: {}",
            std::io::Error::last_os_error()
        )));
    }
    // SAFETY: a fresh descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, &src) in req.ifr_name.iter_mut().zip(name) {
        *dst = src as libc::c_char;
    }
    // SAFETY: a valid socket and a valid, NUL-terminated ifreq for SIOCGIFHWADDR.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::SIOCGIFHWADDR, &mut req) };
    if rc != 0 {
        return Err(attach_err(format!(
            "cannot read the device type: {}",
            std::io::Error::last_os_error()
        )));
    }
    // SAFETY: SIOCGIFHWADDR filled the hwaddr member of the union.
    let family = unsafe { req.ifr_ifru.ifru_hwaddr.sa_family };
    LinkKind::from_arphrd(family).map_err(|what| {
        attach_err(format!(
            "unsupported link: {what}; ReconMap attaches to Ethernet (VLAN tags included) and \
             IP-only links (tun, WireGuard, PPP, IP tunnels)"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_types_map_to_framings_or_clear_refusals() {
        assert_eq!(LinkKind::from_arphrd(1), Ok(LinkKind::Ethernet));
        for l3 in [65534, 512, 768, 776, 778] {
            assert_eq!(LinkKind::from_arphrd(l3), Ok(LinkKind::RawIp), "{l3}");
        }
        assert!(LinkKind::from_arphrd(772).is_err());
        let e = LinkKind::from_arphrd(32).expect_err("infiniband");
        assert!(e.contains("32"), "{e}");
        assert!(detect("lo").is_err(), "loopback is refused");
        assert!(detect("no-such-if0").is_err());
    }
}
