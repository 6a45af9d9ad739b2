//! Which interface and source address the kernel uses toward a target.
use super::DatapathError;
use std::net::Ipv4Addr;
use std::process::Command;

/// The kernel's route to a destination.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub iface: String,
    pub src: Ipv4Addr,
    pub gateway: Option<Ipv4Addr>,
}

/// Asks the kernel (`ip -j route get DST`) for the route to `dst`.
pub fn route_to(dst: Ipv4Addr) -> Result<Route, DatapathError> {
    let err = |reason: String| DatapathError::Route { dst, reason };
    let out = Command::new("ip")
        .args(["-j", "route", "get", &dst.to_string()])
        .output()
        .map_err(|e| err(format!("cannot run `ip` (package iproute2): {e}")))?;
    if !out.status.success() {
        return Err(err(String::from_utf8_lossy(&out.stderr).trim().to_string()));
    }
    parse_route(&out.stdout).map_err(err)
}

fn parse_route(json: &[u8]) -> Result<Route, String> {
    let v: serde_json::Value =
        serde_json::from_slice(json).map_err(|e| format!("unreadable `ip route` output: {e}"))?;
    let r = v.get(0).ok_or("no route")?;
    if r.get("type")
        .and_then(|t| t.as_str())
        .is_some_and(|t| t != "unicast")
    {
        return Err(format!("route type {}", r["type"]));
    }
    let iface = r
        .get("dev")
        .and_then(|d| d.as_str())
        .ok_or("route without a device")?;
    if iface == "lo" {
        return Err("the target is a local address (route via lo)".to_string());
    }
    let src = r
        .get("prefsrc")
        .and_then(|s| s.as_str())
        .ok_or("route without a source address")?
        .parse()
        .map_err(|e| format!("bad source address: {e}"))?;
    let gateway = r
        .get("gateway")
        .and_then(|g| g.as_str())
        .and_then(|g| g.parse().ok());
    Ok(Route {
        iface: iface.to_string(),
        src,
        gateway,
    })
}

/// Fails unless `addr` is an address of this machine (in the current network namespace):
/// probing from an address the replies cannot reach would make every target look dead.
pub fn check_local_source(addr: Ipv4Addr) -> Result<(), DatapathError> {
    match std::net::UdpSocket::bind((addr, 0)) {
        Ok(_) => Ok(()),
        Err(e) => Err(DatapathError::Source(format!(
            "--source {addr} is not an address of this machine ({e})"
        ))),
    }
}

/// The interface index of `iface`.
pub fn ifindex(iface: &str) -> Result<u32, DatapathError> {
    let name = std::ffi::CString::new(iface).map_err(|_| DatapathError::Attach {
        iface: iface.to_string(),
        reason: "bad interface name".to_string(),
    })?;
    // SAFETY: `name` is a valid NUL-terminated string.
    let idx = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if idx == 0 {
        return Err(DatapathError::Attach {
            iface: iface.to_string(),
            reason: "no such interface".to_string(),
        });
    }
    Ok(idx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ip_route_get_json() {
        let j = br#"[{"dst":"192.0.2.25","gateway":"198.51.100.1","dev":"veth0","prefsrc":"198.51.100.2","flags":[],"uid":0,"cache":[]}]"#;
        let r = parse_route(j).expect("route");
        assert_eq!(r.iface, "veth0");
        assert_eq!(r.src, Ipv4Addr::new(198, 51, 100, 2));
        assert_eq!(r.gateway, Some(Ipv4Addr::new(198, 51, 100, 1)));
        assert!(parse_route(br#"[{"dst":"127.0.0.1","dev":"lo","prefsrc":"127.0.0.1"}]"#).is_err());
        assert!(parse_route(b"[]").is_err());
        assert!(parse_route(b"garbage").is_err());
    }

    #[test]
    fn only_local_sources_are_accepted() {
        assert!(check_local_source(Ipv4Addr::LOCALHOST).is_ok());
        // TEST-NET-3 is nobody's address here.
        let e = check_local_source(Ipv4Addr::new(203, 0, 113, 250)).expect_err("not local");
        assert!(
            e.to_string().contains("not an address of this machine"),
            "{e}"
        );
    }
}
