//! Names for TLS code points, as the IANA registries spell them (cipher suites, groups and
//! signature schemes as rustls spells them, e.g. `TLS13_AES_128_GCM_SHA256`). Unknown values
//! are written in hex so that nothing is lost.

/// `TLSv1.3`, `TLSv1.2`, `TLSv1.1`, `TLSv1.0`, `SSLv3`, `SSLv2`, else `0x....`.
pub fn version_name(v: u16) -> String {
    match v {
        0x0304 => "TLSv1.3".into(),
        0x0303 => "TLSv1.2".into(),
        0x0302 => "TLSv1.1".into(),
        0x0301 => "TLSv1.0".into(),
        0x0300 => "SSLv3".into(),
        0x0002 | 0x0200 => "SSLv2".into(),
        v if is_grease(v) => format!("grease(0x{v:04x})"),
        v => format!("0x{v:04x}"),
    }
}

/// IANA cipher suite name (rustls' table, which covers the whole registry).
pub fn cipher_name(suite: u16) -> String {
    if is_grease(suite) {
        return format!("grease(0x{suite:04x})");
    }
    rustls::CipherSuite::from(suite)
        .as_str()
        .map_or_else(|| format!("0x{suite:04x}"), str::to_owned)
}

/// Named group (`X25519`, `secp256r1`, ...).
pub fn group_name(group: u16) -> String {
    if is_grease(group) {
        return format!("grease(0x{group:04x})");
    }
    rustls::NamedGroup::from(group)
        .as_str()
        .map_or_else(|| format!("0x{group:04x}"), str::to_owned)
}

/// Signature scheme (`ECDSA_NISTP256_SHA256`, `RSA_PSS_SHA256`, ...).
pub fn signature_scheme_name(scheme: u16) -> String {
    if is_grease(scheme) {
        return format!("grease(0x{scheme:04x})");
    }
    rustls::SignatureScheme::from(scheme)
        .as_str()
        .map_or_else(|| format!("0x{scheme:04x}"), str::to_owned)
}

/// GREASE values (RFC 8701): 0x?a?a with both bytes equal.
pub fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && v >> 8 == v & 0xff
}

/// TLS alert description name (`handshake_failure`, ...).
pub fn alert_name(desc: u8) -> String {
    let name = match desc {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        21 => "decryption_failed",
        22 => "record_overflow",
        30 => "decompression_failure",
        40 => "handshake_failure",
        41 => "no_certificate",
        42 => "bad_certificate",
        43 => "unsupported_certificate",
        44 => "certificate_revoked",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        47 => "illegal_parameter",
        48 => "unknown_ca",
        49 => "access_denied",
        50 => "decode_error",
        51 => "decrypt_error",
        60 => "export_restriction",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        90 => "user_canceled",
        100 => "no_renegotiation",
        109 => "missing_extension",
        110 => "unsupported_extension",
        111 => "certificate_unobtainable",
        112 => "unrecognized_name",
        113 => "bad_certificate_status_response",
        114 => "bad_certificate_hash_value",
        115 => "unknown_psk_identity",
        116 => "certificate_required",
        120 => "no_application_protocol",
        121 => "ech_required",
        other => return format!("alert({other})"),
    };
    name.to_owned()
}

/// TLS extension name (`server_name`, `supported_versions`, ...).
pub fn extension_name(typ: u16) -> String {
    let name = match typ {
        0 => "server_name",
        1 => "max_fragment_length",
        5 => "status_request",
        10 => "supported_groups",
        11 => "ec_point_formats",
        13 => "signature_algorithms",
        14 => "use_srtp",
        15 => "heartbeat",
        16 => "application_layer_protocol_negotiation",
        17 => "status_request_v2",
        18 => "signed_certificate_timestamp",
        21 => "padding",
        22 => "encrypt_then_mac",
        23 => "extended_master_secret",
        27 => "compress_certificate",
        28 => "record_size_limit",
        35 => "session_ticket",
        41 => "pre_shared_key",
        42 => "early_data",
        43 => "supported_versions",
        44 => "cookie",
        45 => "psk_key_exchange_modes",
        47 => "certificate_authorities",
        48 => "oid_filters",
        49 => "post_handshake_auth",
        50 => "signature_algorithms_cert",
        51 => "key_share",
        57 => "quic_transport_parameters",
        13172 => "next_protocol_negotiation",
        17513 => "application_settings",
        65037 => "encrypted_client_hello",
        65281 => "renegotiation_info",
        t if is_grease(t) => return format!("grease(0x{t:04x})"),
        t => return format!("extension(0x{t:04x})"),
    };
    name.to_owned()
}

/// Handshake message type name (`server_hello`, `certificate`, ...).
pub fn handshake_type_name(typ: u8) -> String {
    let name = match typ {
        0 => "hello_request",
        1 => "client_hello",
        2 => "server_hello",
        4 => "new_session_ticket",
        5 => "end_of_early_data",
        8 => "encrypted_extensions",
        11 => "certificate",
        12 => "server_key_exchange",
        13 => "certificate_request",
        14 => "server_hello_done",
        15 => "certificate_verify",
        16 => "client_key_exchange",
        20 => "finished",
        22 => "certificate_status",
        24 => "key_update",
        other => return format!("handshake({other})"),
    };
    name.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_names_known_and_unknown() {
        assert_eq!(version_name(0x0301), "TLSv1.0");
        assert_eq!(version_name(0x7f1c), "0x7f1c");
        assert_eq!(cipher_name(0x1301), "TLS13_AES_128_GCM_SHA256");
        assert_eq!(cipher_name(0xc014), "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA");
        assert_eq!(cipher_name(0x0005), "TLS_RSA_WITH_RC4_128_SHA");
        assert_eq!(cipher_name(0x7777), "0x7777");
        assert_eq!(cipher_name(0x1a1a), "grease(0x1a1a)");
        assert_eq!(group_name(0x001d), "X25519");
        assert_eq!(group_name(0x0017), "secp256r1");
        assert_eq!(signature_scheme_name(0x0804), "RSA_PSS_SHA256");
        assert_eq!(alert_name(40), "handshake_failure");
        assert_eq!(alert_name(70), "protocol_version");
        assert_eq!(alert_name(200), "alert(200)");
        assert_eq!(extension_name(0), "server_name");
        assert_eq!(extension_name(0xff01), "renegotiation_info");
        assert_eq!(extension_name(0x3a3a), "grease(0x3a3a)");
        assert_eq!(extension_name(0x1234), "extension(0x1234)");
        assert_eq!(handshake_type_name(14), "server_hello_done");
        assert!(is_grease(0xfafa) && !is_grease(0x0a1a) && !is_grease(0x1301));
    }
}
