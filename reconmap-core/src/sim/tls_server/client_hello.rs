//! What the hand-built server profiles read from a ClientHello body (RFC 8446 4.1.2): the
//! version offered, the cipher suites and the extensions that change their answer. Bounds are
//! checked on every read: no input panics.

/// Extension `supported_versions`.
const SUPPORTED_VERSIONS: u16 = 0x002b;
/// Extension `renegotiation_info` (RFC 5746).
pub(super) const RENEGOTIATION_INFO: u16 = 0xff01;
/// The signalling suite `TLS_EMPTY_RENEGOTIATION_INFO_SCSV`, which stands for the extension.
const RENEGOTIATION_SCSV: u16 = 0x00ff;
/// Extension `extended_master_secret` (RFC 7627).
pub(super) const EXTENDED_MASTER_SECRET: u16 = 0x0017;

/// The parts of a ClientHello a TLS <= 1.2 server answers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ClientHelloView {
    /// `legacy_version` (`client_version` before TLS 1.3).
    pub legacy_version: u16,
    pub suites: Vec<u16>,
    /// The `supported_versions` list, when the extension is there.
    pub supported_versions: Option<Vec<u16>>,
    /// Extension types, in order.
    pub extensions: Vec<u16>,
}

impl ClientHelloView {
    /// Parses the body of a `client_hello` handshake message (without its 4-byte header).
    pub fn parse(body: &[u8]) -> Option<Self> {
        let mut c = Cursor(body);
        let legacy_version = c.u16()?;
        c.take(32)?;
        let sid_len = c.u8()?;
        c.take(usize::from(sid_len))?;
        let suites_len = usize::from(c.u16()?);
        if suites_len % 2 != 0 {
            return None;
        }
        let mut sc = Cursor(c.take(suites_len)?);
        let mut suites = Vec::with_capacity(suites_len / 2);
        while let Some(s) = sc.u16() {
            suites.push(s);
        }
        let comp_len = c.u8()?;
        c.take(usize::from(comp_len))?;
        let mut extensions = Vec::new();
        let mut supported_versions = None;
        if !c.0.is_empty() {
            let ext_len = usize::from(c.u16()?);
            let mut ec = Cursor(c.take(ext_len)?);
            while !ec.0.is_empty() {
                let typ = ec.u16()?;
                let len = usize::from(ec.u16()?);
                let data = ec.take(len)?;
                extensions.push(typ);
                if typ == SUPPORTED_VERSIONS {
                    supported_versions = Some(parse_versions(data)?);
                }
            }
        }
        Some(Self {
            legacy_version,
            suites,
            supported_versions,
            extensions,
        })
    }

    /// Whether the client would speak `version`: listed in `supported_versions` when that
    /// is there (RFC 8446: the server then ignores `legacy_version`), else up to
    /// `legacy_version`.
    pub fn offers_version(&self, version: u16) -> bool {
        match &self.supported_versions {
            Some(list) => list.contains(&version),
            None => self.legacy_version >= version,
        }
    }

    pub fn offers_extension(&self, typ: u16) -> bool {
        self.extensions.contains(&typ)
    }

    /// Whether the client asked for secure renegotiation (the extension or the SCSV).
    pub fn offers_renegotiation_info(&self) -> bool {
        self.offers_extension(RENEGOTIATION_INFO) || self.suites.contains(&RENEGOTIATION_SCSV)
    }
}

fn parse_versions(data: &[u8]) -> Option<Vec<u16>> {
    let mut c = Cursor(data);
    let len = usize::from(c.u8()?);
    if len % 2 != 0 {
        return None;
    }
    let mut list = Cursor(c.take(len)?);
    let mut out = Vec::with_capacity(len / 2);
    while let Some(v) = list.u16() {
        out.push(v);
    }
    Some(out)
}

/// A reader over a byte slice that never reads past its end.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.0.len() {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }

    fn u16(&mut self) -> Option<u16> {
        let b = self.take(2)?;
        Some(u16::from_be_bytes([*b.first()?, *b.get(1)?]))
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A ClientHello body: version, suites, extensions (type, data).
    pub(in crate::sim::tls_server) fn body(
        version: u16,
        suites: &[u16],
        exts: &[(u16, Vec<u8>)],
    ) -> Vec<u8> {
        let mut b = version.to_be_bytes().to_vec();
        b.extend_from_slice(&[7; 32]);
        b.push(32);
        b.extend_from_slice(&[9; 32]);
        b.extend_from_slice(&u16::try_from(suites.len() * 2).unwrap().to_be_bytes());
        for s in suites {
            b.extend_from_slice(&s.to_be_bytes());
        }
        b.extend_from_slice(&[1, 0]);
        let mut e = Vec::new();
        for (t, d) in exts {
            e.extend_from_slice(&t.to_be_bytes());
            e.extend_from_slice(&u16::try_from(d.len()).unwrap().to_be_bytes());
            e.extend_from_slice(d);
        }
        if !exts.is_empty() {
            b.extend_from_slice(&u16::try_from(e.len()).unwrap().to_be_bytes());
            b.extend(e);
        }
        b
    }

    #[test]
    fn supported_versions_overrule_the_legacy_version() {
        let modern = body(
            0x0303,
            &[0x1302, 0x1301],
            &[(SUPPORTED_VERSIONS, vec![4, 0x03, 0x04, 0x03, 0x03])],
        );
        let v = ClientHelloView::parse(&modern).expect("parses");
        assert_eq!(v.supported_versions, Some(vec![0x0304, 0x0303]));
        assert!(v.offers_version(0x0303));
        assert!(
            !v.offers_version(0x0301),
            "not listed, whatever legacy_version says"
        );
        let legacy = body(0x0303, &[0x002f], &[(RENEGOTIATION_INFO, vec![0])]);
        let v = ClientHelloView::parse(&legacy).expect("parses");
        assert!(v.offers_version(0x0301) && v.offers_version(0x0303));
        assert!(!v.offers_version(0x0304));
        assert!(v.offers_renegotiation_info());
        assert_eq!(v.suites, vec![0x002f]);
    }

    #[test]
    fn no_extensions_at_all_is_a_valid_hello() {
        let v = ClientHelloView::parse(&body(0x0301, &[0x002f, 0x00ff], &[])).expect("parses");
        assert!(v.extensions.is_empty());
        assert!(
            v.offers_renegotiation_info(),
            "the SCSV stands for the extension"
        );
        assert!(v.offers_version(0x0301) && !v.offers_version(0x0302));
    }

    #[test]
    fn every_truncation_is_refused_without_panic() {
        let full = body(
            0x0303,
            &[0x1301, 0x002f],
            &[
                (SUPPORTED_VERSIONS, vec![2, 0x03, 0x04]),
                (0x0000, vec![1, 2, 3]),
            ],
        );
        assert!(ClientHelloView::parse(&full).is_some());
        // Version, random, session id, two suites, compression: a whole hello without
        // extensions.
        let without_extensions = 2 + 32 + 1 + 32 + 2 + 4 + 2;
        for cut in 0..full.len() {
            let v = ClientHelloView::parse(&full[..cut]);
            if cut == without_extensions {
                assert!(v.is_some_and(|v| v.extensions.is_empty()));
            } else {
                assert_eq!(v, None, "cut at {cut}");
            }
        }
    }
}
