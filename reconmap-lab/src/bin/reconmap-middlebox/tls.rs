//! TLS boxes: what they look for (a client segment whose payload starts a TLS handshake
//! record) and `--tls-rewrite`'s change to the ClientHello's cipher suite list.
use crate::packet::{get16, put16, TcpLayout};

/// TLS record content type `handshake`.
const HANDSHAKE: u8 = 0x16;
/// Major version byte of every TLS/SSL 3 record.
const MAJOR: u8 = 0x03;
/// Handshake message type `client_hello`.
const CLIENT_HELLO: u8 = 0x01;
/// Record header: type, version (2), length (2).
const RECORD_HEADER: usize = 5;
/// Handshake header: type, length (3).
const HANDSHAKE_HEADER: usize = 4;
/// ClientHello legacy_version (2) and random (32).
const VERSION_AND_RANDOM: usize = 34;

/// Whether `datagram` is a client->`server_port` TCP segment whose payload starts with a TLS
/// handshake record header `16 03 0x`.
pub fn starts_tls_handshake(datagram: &[u8], server_port: u16) -> bool {
    let Some(l) = TcpLayout::parse(datagram) else {
        return false;
    };
    if l.ports(datagram).map(|(_, d)| d) != Some(server_port) {
        return false;
    }
    matches!(l.payload(datagram), [HANDSHAKE, MAJOR, minor, ..] if *minor <= 0x04)
}

/// Offset (in the TCP payload) of the first cipher suite of a ClientHello that starts the
/// payload, if the segment holds it.
fn first_suite_offset(payload: &[u8]) -> Option<usize> {
    if *payload.get(RECORD_HEADER)? != CLIENT_HELLO {
        return None;
    }
    let session_id_len_at = RECORD_HEADER + HANDSHAKE_HEADER + VERSION_AND_RANDOM;
    let session_id_len = usize::from(*payload.get(session_id_len_at)?);
    let suites_len_at = session_id_len_at + 1 + session_id_len;
    let suites_len = get16(payload, suites_len_at)?;
    if suites_len < 2 {
        return None;
    }
    let first = suites_len_at + 2;
    payload.get(first..first + 2)?;
    Some(first)
}

/// Replaces the first cipher suite of a ClientHello carried at the start of a client segment
/// by `suite` and fixes the TCP checksum. Returns whether it changed the segment (not when the
/// suite list lies beyond this segment or already starts with `suite`).
pub fn rewrite_first_suite(datagram: &mut [u8], server_port: u16, suite: u16) -> bool {
    if !starts_tls_handshake(datagram, server_port) {
        return false;
    }
    let Some(l) = TcpLayout::parse(datagram) else {
        return false;
    };
    let Some(offset) = first_suite_offset(l.payload(datagram)) else {
        return false;
    };
    let at = l.payload_start() + offset;
    if get16(datagram, at) == Some(suite) {
        return false;
    }
    put16(datagram, at, suite).is_some() && l.fix_checksum(datagram).is_some()
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::packet::fixtures;

    /// A minimal ClientHello record: suites 0x1302, 0x1301, session id of `sid` bytes.
    pub fn client_hello(sid: usize) -> Vec<u8> {
        let mut body = vec![0x03, 0x03];
        body.extend_from_slice(&[0xab; 32]);
        body.push(u8::try_from(sid).expect("sid"));
        body.extend(std::iter::repeat_n(0x55, sid));
        body.extend_from_slice(&[0x00, 0x04, 0x13, 0x02, 0x13, 0x01, 0x01, 0x00]);
        let mut hs = vec![CLIENT_HELLO, 0, 0, u8::try_from(body.len()).expect("len")];
        hs.extend(body);
        let mut rec = vec![
            HANDSHAKE,
            0x03,
            0x01,
            0,
            u8::try_from(hs.len()).expect("len"),
        ];
        rec.extend(hs);
        rec
    }

    const C: [u8; 4] = [198, 51, 100, 1];
    const S: [u8; 4] = [192, 0, 2, 25];

    #[test]
    fn detects_handshake_records_to_the_server_only() {
        let hello = fixtures::tcp(C, S, 40000, 25, 1, &client_hello(32));
        assert!(starts_tls_handshake(&hello, 25));
        assert!(!starts_tls_handshake(&hello, 587));
        let back = fixtures::tcp(S, C, 25, 40000, 1, &client_hello(32));
        assert!(!starts_tls_handshake(&back, 25));
        let smtp = fixtures::tcp(C, S, 40000, 25, 1, b"STARTTLS\r\n");
        assert!(!starts_tls_handshake(&smtp, 25));
        let appdata = fixtures::tcp(C, S, 40000, 25, 1, &[0x17, 0x03, 0x03, 0, 1, 0]);
        assert!(!starts_tls_handshake(&appdata, 25));
    }

    #[test]
    fn rewrites_the_first_suite_only() {
        for sid in [0, 32] {
            let hello = client_hello(sid);
            let mut d = fixtures::tcp(C, S, 40000, 25, 1, &hello);
            assert!(rewrite_first_suite(&mut d, 25, 0x002f));
            assert!(fixtures::tcp_checksums_ok(&d));
            let payload = &d[40..];
            let at = 5 + 4 + 34 + 1 + sid + 2;
            assert_eq!(&payload[at..at + 4], [0x00, 0x2f, 0x13, 0x01]);
            let changed: Vec<usize> = (0..hello.len())
                .filter(|&i| payload[i] != hello[i])
                .collect();
            assert_eq!(changed, vec![at, at + 1], "only the first suite");
            assert!(
                !rewrite_first_suite(&mut d, 25, 0x002f),
                "already rewritten"
            );
        }
    }

    #[test]
    fn a_hello_cut_before_its_suites_is_left_alone() {
        let hello = client_hello(32);
        for cut in 0..5 + 4 + 34 + 1 + 32 + 4 {
            let mut d = fixtures::tcp(C, S, 40000, 25, 1, &hello[..cut]);
            let before = d.clone();
            assert!(!rewrite_first_suite(&mut d, 25, 0x002f), "cut {cut}");
            assert_eq!(d, before);
        }
    }
}
