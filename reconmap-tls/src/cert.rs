//! What a certificate says (as sent, parsed with x509-parser) and whether a chain would be
//! accepted by a verifying client (rustls-webpki against the vendored webpki-roots store).
use rustls::pki_types::SignatureVerificationAlgorithm;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use serde::Serialize;
use std::time::{SystemTime, UNIX_EPOCH};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
use x509_parser::public_key::PublicKey;

/// The root store chains are checked against: the `webpki-roots` crate pinned in Cargo.toml
/// (Mozilla's list as of that release). A test checks this names the locked version.
pub const ROOT_STORE: &str = "webpki-roots 1.0.10";

/// One certificate as the server sent it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CertInfo {
    pub subject: Option<String>,
    pub issuer: Option<String>,
    /// DNS names of the subjectAltName extension.
    pub san_dns: Vec<String>,
    /// IP addresses of the subjectAltName extension.
    pub san_ip: Vec<String>,
    /// RFC 3339.
    pub not_before: Option<String>,
    /// RFC 3339.
    pub not_after: Option<String>,
    /// `RSA`, `RSA-PSS`, `EC`, `Ed25519`, `Ed448`, `DSA`, else the algorithm OID.
    pub key_type: Option<String>,
    pub key_bits: Option<u32>,
    /// SHA-256 of the DER, lower-case hex.
    pub sha256: String,
    pub der_len: usize,
    /// Why the certificate could not be parsed (the fields above are then unknown).
    pub parse_error: Option<String>,
}

/// Describes one DER certificate; never fails (a bad one gets `parse_error`).
pub fn describe_certificate(der: &[u8]) -> CertInfo {
    let sha256 = crate::wire::hex(ring::digest::digest(&ring::digest::SHA256, der).as_ref());
    let mut info = CertInfo {
        sha256,
        der_len: der.len(),
        ..CertInfo::default()
    };
    let cert = match X509Certificate::from_der(der) {
        Ok((_, cert)) => cert,
        Err(e) => {
            info.parse_error = Some(e.to_string());
            return info;
        }
    };
    info.subject = Some(cert.subject().to_string());
    info.issuer = Some(cert.issuer().to_string());
    match cert.subject_alternative_name() {
        Ok(Some(san)) => {
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(dns) => info.san_dns.push((*dns).to_owned()),
                    GeneralName::IPAddress(ip) => info.san_ip.push(ip_text(ip)),
                    _ => {}
                }
            }
        }
        Ok(None) => {}
        Err(e) => info.parse_error = Some(format!("subjectAltName: {e}")),
    }
    let validity = cert.validity();
    info.not_before = rfc3339(validity.not_before.timestamp());
    info.not_after = rfc3339(validity.not_after.timestamp());
    let (key_type, key_bits) = key_type_and_bits(&cert);
    info.key_type = Some(key_type);
    info.key_bits = key_bits;
    info
}

fn rfc3339(unix: i64) -> Option<String> {
    let t = time::OffsetDateTime::from_unix_timestamp(unix).ok()?;
    t.format(&time::format_description::well_known::Rfc3339)
        .ok()
}

fn ip_text(ip: &[u8]) -> String {
    if let Ok(v4) = <[u8; 4]>::try_from(ip) {
        std::net::Ipv4Addr::from(v4).to_string()
    } else if let Ok(v6) = <[u8; 16]>::try_from(ip) {
        std::net::Ipv6Addr::from(v6).to_string()
    } else {
        crate::wire::hex(ip)
    }
}

fn key_type_and_bits(cert: &X509Certificate<'_>) -> (String, Option<u32>) {
    let spki = cert.public_key();
    let oid = spki.algorithm.algorithm.to_id_string();
    match oid.as_str() {
        "1.2.840.113549.1.1.1" | "1.2.840.113549.1.1.10" => {
            let name = if oid.ends_with(".10") {
                "RSA-PSS"
            } else {
                "RSA"
            };
            let bits = match spki.parsed() {
                Ok(PublicKey::RSA(rsa)) => significant_bits(rsa.modulus),
                _ => None,
            };
            (name.to_owned(), bits)
        }
        "1.2.840.10045.2.1" => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string());
            let bits = match curve.as_deref() {
                Some("1.2.840.10045.3.1.7") | Some("1.3.132.0.10") => Some(256),
                Some("1.3.132.0.34") => Some(384),
                Some("1.3.132.0.35") => Some(521),
                // An uncompressed point is 1 + 2 * field bytes.
                _ => u32::try_from(spki.subject_public_key.data.len().saturating_sub(1) / 2 * 8)
                    .ok()
                    .filter(|b| *b > 0),
            };
            ("EC".to_owned(), bits)
        }
        "1.3.101.112" => ("Ed25519".to_owned(), Some(256)),
        "1.3.101.113" => ("Ed448".to_owned(), Some(456)),
        "1.2.840.10040.4.1" => {
            let bits = match spki.parsed() {
                Ok(PublicKey::DSA(y)) => significant_bits(y),
                _ => None,
            };
            ("DSA".to_owned(), bits)
        }
        _ => (oid, None),
    }
}

/// Bits of a big-endian unsigned integer without its leading zeros.
fn significant_bits(be: &[u8]) -> Option<u32> {
    let start = be.iter().position(|&b| b != 0)?;
    let first = *be.get(start)?;
    let bytes = u32::try_from(be.len() - start).ok()?;
    Some((bytes - 1) * 8 + (8 - first.leading_zeros()))
}

/// What a verifying client would say about a chain.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChainCheck {
    /// The chain leads to a root of [`ROOT_STORE`] at the given time, for TLS server use, and
    /// (when a name is given) is valid for that name. `None` when there is no chain.
    pub chain_valid: Option<bool>,
    /// The leaf is valid for the name. `None` without a name or a parseable leaf.
    pub name_matches: Option<bool>,
    /// The first reason the chain is not valid (webpki's words).
    pub error: Option<String>,
}

/// Checks `chain` (leaf first, as sent) against the vendored roots at `wall`.
pub fn check_chain(
    chain: &[CertificateDer<'_>],
    name: Option<&ServerName<'_>>,
    wall: SystemTime,
    algs: &[&dyn SignatureVerificationAlgorithm],
) -> ChainCheck {
    let Some((leaf, intermediates)) = chain.split_first() else {
        return ChainCheck::default();
    };
    let ee = match webpki::EndEntityCert::try_from(leaf) {
        Ok(ee) => ee,
        Err(e) => {
            return ChainCheck {
                chain_valid: Some(false),
                name_matches: None,
                error: Some(format!("leaf certificate: {e:?}")),
            }
        }
    };
    let since_epoch = wall.duration_since(UNIX_EPOCH).unwrap_or_default();
    let path = ee.verify_for_usage(
        algs,
        webpki_roots::TLS_SERVER_ROOTS,
        intermediates,
        UnixTime::since_unix_epoch(since_epoch),
        webpki::KeyUsage::server_auth(),
        None,
        None,
    );
    let name_result = name.map(|n| ee.verify_is_valid_for_subject_name(n));
    let error = match (&path, &name_result) {
        (Err(e), _) => Some(format!("{e:?}")),
        (Ok(_), Some(Err(e))) => Some(format!("{e:?}")),
        _ => None,
    };
    ChainCheck {
        chain_valid: Some(error.is_none()),
        name_matches: name_result.map(|r| r.is_ok()),
        error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn algs() -> &'static [&'static dyn SignatureVerificationAlgorithm] {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .all
    }

    fn self_signed(names: &[&str]) -> (rcgen::CertifiedKey<rcgen::KeyPair>, Vec<u8>) {
        let names: Vec<String> = names.iter().map(|s| (*s).to_owned()).collect();
        let ck = rcgen::generate_simple_self_signed(names).expect("rcgen");
        let der = ck.cert.der().to_vec();
        (ck, der)
    }

    #[test]
    fn test_describe_self_signed_ec() {
        let (_, der) = self_signed(&["mx.example.test", "192.0.2.7"]);
        let info = describe_certificate(&der);
        assert_eq!(info.parse_error, None);
        assert_eq!(info.subject.as_deref(), Some("CN=rcgen self signed cert"));
        assert_eq!(info.issuer, info.subject);
        assert_eq!(info.san_dns, ["mx.example.test"]);
        assert_eq!(info.san_ip, ["192.0.2.7"]);
        assert_eq!(info.key_type.as_deref(), Some("EC"));
        assert_eq!(info.key_bits, Some(256));
        assert_eq!(info.not_before.as_deref(), Some("1975-01-01T00:00:00Z"));
        assert_eq!(info.not_after.as_deref(), Some("4096-01-01T00:00:00Z"));
        assert_eq!(info.sha256.len(), 64);
        assert_eq!(info.der_len, der.len());
    }

    #[test]
    fn test_describe_openssl_rsa_certificate() {
        // Expected values from `openssl x509` on the same file (testdata/README.md).
        let info = describe_certificate(include_bytes!("../testdata/openssl_rsa2048.der"));
        assert_eq!(info.parse_error, None);
        assert_eq!(
            info.sha256,
            "10eaaff6e6befc889797e52af24a008f54183fce9a7a32d65129b67197d1fe4a"
        );
        assert_eq!(
            info.subject.as_deref(),
            Some("CN=mx.example.test, O=ReconMap Test")
        );
        assert_eq!(info.issuer, info.subject);
        assert_eq!(info.san_dns, ["mx.example.test", "alt.example.test"]);
        assert_eq!(info.not_before.as_deref(), Some("2026-11-23T18:59:14Z"));
        assert_eq!(info.not_after.as_deref(), Some("2036-11-20T18:59:14Z"));
        assert_eq!(info.key_type.as_deref(), Some("RSA"));
        assert_eq!(info.key_bits, Some(2048));
    }

    #[test]
    fn test_describe_ed25519_and_bit_counting() {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).expect("ed25519");
        let params = rcgen::CertificateParams::new(vec!["a.example".to_owned()]).expect("params");
        let cert = params.self_signed(&key).expect("sign");
        let info = describe_certificate(cert.der());
        assert_eq!(info.key_type.as_deref(), Some("Ed25519"));
        assert_eq!(info.key_bits, Some(256));
        assert_eq!(significant_bits(&[0x00, 0x80, 0, 0]), Some(24));
        assert_eq!(significant_bits(&[0x01, 0xff]), Some(9));
        assert_eq!(significant_bits(&[0, 0]), None);
    }

    #[test]
    fn test_describe_garbage_keeps_fingerprint() {
        let info = describe_certificate(b"\x30\x03\x02\x01");
        assert!(info.parse_error.is_some());
        assert_eq!(
            info.sha256,
            crate::wire::hex(
                ring::digest::digest(&ring::digest::SHA256, b"\x30\x03\x02\x01").as_ref()
            )
        );
        assert_eq!(info.subject, None);
    }

    #[test]
    fn test_check_chain_self_signed_is_invalid_and_name_checked() {
        let (_, der) = self_signed(&["mx.example.test"]);
        let chain = [CertificateDer::from(der)];
        let now = UNIX_EPOCH + Duration::from_secs(1_750_000_000);
        let good = ServerName::try_from("mx.example.test").expect("name");
        let c = check_chain(&chain, Some(&good), now, algs());
        assert_eq!(c.chain_valid, Some(false));
        assert_eq!(c.name_matches, Some(true));
        assert_eq!(c.error.as_deref(), Some("UnknownIssuer"));
        let bad = ServerName::try_from("other.example.test").expect("name");
        let c = check_chain(&chain, Some(&bad), now, algs());
        assert_eq!(c.name_matches, Some(false));
        let c = check_chain(&chain, None, now, algs());
        assert_eq!(c.name_matches, None);
        assert_eq!(check_chain(&[], None, now, algs()), ChainCheck::default());
    }

    #[test]
    fn test_root_store_constant_names_the_locked_version() {
        let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock"))
            .expect("workspace Cargo.lock");
        let version = lock
            .split("[[package]]")
            .find(|p| p.contains("name = \"webpki-roots\""))
            .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = \"")))
            .and_then(|v| v.strip_suffix('"'))
            .expect("webpki-roots in Cargo.lock");
        assert_eq!(ROOT_STORE, format!("webpki-roots {version}"));
    }
}
