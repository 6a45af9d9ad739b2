//! Source ports for probe flows: random, outside the kernel's ephemeral range (so the kernel's
//! own connections never pick them), and held by a bound kernel socket for as long as the flow
//! lives, so no other program on the host can take them meanwhile. The socket is bound but never
//! listens: a SYN/ACK to it still finds no socket, and its RST is dropped by `rst_guard`.
use super::DatapathError;
use rand::Rng;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Where probe ports come from when the ephemeral range leaves room (both ends inclusive).
const LOW: u16 = 1024;
const HIGH: u16 = 65535;

/// A source port held for one flow.
#[derive(Debug)]
pub struct PortLease {
    port: u16,
    _socket: OwnedFd,
}

impl PortLease {
    /// Picks a free random port outside the ephemeral range and binds it on `src`.
    pub fn acquire(src: Ipv4Addr, rng: &mut impl Rng) -> Result<Self, DatapathError> {
        let (eph_lo, eph_hi) = ephemeral_range();
        for _ in 0..128 {
            let Some(port) = pick(rng, eph_lo, eph_hi) else {
                return Err(DatapathError::Port(format!(
                    "the ephemeral range {eph_lo}-{eph_hi} leaves no ports for probes"
                )));
            };
            match bind(src, port) {
                Ok(fd) => return Ok(Self { port, _socket: fd }),
                Err(e) if e.raw_os_error() == Some(libc::EADDRINUSE) => continue,
                Err(e) => {
                    return Err(DatapathError::Sys {
                        what: "binding a probe port",
                        source: e,
                    })
                }
            }
        }
        Err(DatapathError::Port(
            "128 random ports were all in use".to_string(),
        ))
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

/// `/proc/sys/net/ipv4/ip_local_port_range` (Linux default 32768-60999 if unreadable).
pub fn ephemeral_range() -> (u16, u16) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| parse_range(&s))
        .unwrap_or((32768, 60999))
}

fn parse_range(s: &str) -> Option<(u16, u16)> {
    let mut it = s.split_whitespace().map(|x| x.parse::<u16>().ok());
    let lo = it.next()??;
    let hi = it.next()??;
    Some((lo.min(hi), lo.max(hi)))
}

/// A random port in [LOW, HIGH] outside [lo, hi].
fn pick(rng: &mut impl Rng, lo: u16, hi: u16) -> Option<u16> {
    let below = if lo > LOW { u32::from(lo - LOW) } else { 0 };
    let above = if hi < HIGH { u32::from(HIGH - hi) } else { 0 };
    let total = below + above;
    if total == 0 {
        return None;
    }
    let n = rng.gen_range(0..total);
    let port = if n < below {
        u32::from(LOW) + n
    } else {
        u32::from(hi) + 1 + (n - below)
    };
    u16::try_from(port).ok()
}

fn bind(src: Ipv4Addr, port: u16) -> Result<OwnedFd, std::io::Error> {
    // SAFETY: plain socket(2); checked below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fresh descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let addr = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(src.octets()),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: valid socket and address of the given length.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(fd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn ports_avoid_the_ephemeral_range() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        for _ in 0..10_000 {
            let p = pick(&mut rng, 32768, 60999).expect("room");
            assert!(
                (LOW..32768).contains(&p) || (61000..=HIGH).contains(&p),
                "{p}"
            );
        }
        assert_eq!(pick(&mut rng, 1024, 65535), None);
        let p = pick(&mut rng, 1024, 65000).expect("room above");
        assert!(p > 65000);
        assert_eq!(parse_range("32768\t60999\n"), Some((32768, 60999)));
        assert_eq!(parse_range("junk"), None);
    }

    #[test]
    fn a_lease_holds_its_port() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        let lease = PortLease::acquire(Ipv4Addr::LOCALHOST, &mut rng).expect("lease");
        let again = bind(Ipv4Addr::LOCALHOST, lease.port());
        assert_eq!(
            again.err().and_then(|e| e.raw_os_error()),
            Some(libc::EADDRINUSE)
        );
    }
}
