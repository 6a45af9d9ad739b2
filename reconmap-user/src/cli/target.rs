//! Parsing `ADDR[:PORT]` target arguments.
use std::net::{Ipv4Addr, SocketAddrV4};

/// Why a target argument was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("empty target")]
    Empty,
    #[error("`{0}`: IPv6 targets are not supported (IPv4 only)")]
    Ipv6(String),
    #[error("`{0}`: not an IPv4 address (expected ADDR or ADDR:PORT, e.g. 192.0.2.25:25)")]
    BadAddress(String),
    #[error("`{0}`: bad port (expected 1-65535)")]
    BadPort(String),
}

/// Parses `192.0.2.1` (port `default_port`) or `192.0.2.1:587`.
pub fn parse_target(text: &str, default_port: u16) -> Result<SocketAddrV4, TargetError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(TargetError::Empty);
    }
    if text.starts_with('[') || text.matches(':').count() > 1 {
        return Err(TargetError::Ipv6(text.to_string()));
    }
    let (addr, port) = match text.split_once(':') {
        Some((a, p)) => {
            let port: u16 = p
                .parse()
                .ok()
                .filter(|&p| p != 0)
                .ok_or_else(|| TargetError::BadPort(text.to_string()))?;
            (a, port)
        }
        None => (text, default_port),
    };
    let ip: Ipv4Addr = addr
        .parse()
        .map_err(|_| TargetError::BadAddress(text.to_string()))?;
    Ok(SocketAddrV4::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_addresses_and_ports() {
        assert_eq!(
            parse_target("192.0.2.7", 25),
            Ok(SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 7), 25))
        );
        assert_eq!(
            parse_target(" 192.0.2.7:587 ", 25),
            Ok(SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 7), 587))
        );
    }

    #[test]
    fn refuses_bad_input_with_a_reason() {
        assert_eq!(parse_target("", 25), Err(TargetError::Empty));
        assert!(matches!(
            parse_target("2001:db8::1", 25),
            Err(TargetError::Ipv6(_))
        ));
        assert!(matches!(
            parse_target("[2001:db8::1]:25", 25),
            Err(TargetError::Ipv6(_))
        ));
        assert!(matches!(
            parse_target("192.0.2.300", 25),
            Err(TargetError::BadAddress(_))
        ));
        assert!(matches!(
            parse_target("mail.example", 25),
            Err(TargetError::BadAddress(_))
        ));
        assert!(matches!(
            parse_target("192.0.2.1:0", 25),
            Err(TargetError::BadPort(_))
        ));
        assert!(matches!(
            parse_target("192.0.2.1:99999", 25),
            Err(TargetError::BadPort(_))
        ));
        assert!(matches!(
            parse_target("192.0.2.1:", 25),
            Err(TargetError::BadPort(_))
        ));
    }
}
