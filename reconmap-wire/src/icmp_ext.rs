//! ICMP extensions (RFC 4884): the structure that may follow the quoted datagram of a Time
//! Exceeded, Destination Unreachable or Parameter Problem message, and the objects it carries:
//! MPLS label stacks (RFC 4950), interface information (RFC 5837), and others by class.
//!
//! Layout after the 8-byte ICMP header: the "original datagram" (zero-padded to a 32-bit
//! boundary and to at least 128 bytes, its length in 32-bit words in ICMP byte 5), then the
//! extension structure: a 4-byte header (version 2 in the top nibble, 12 reserved bits, an RFC
//! 1071 checksum over the whole structure, 0 meaning "not computed") and objects, each a 4-byte
//! header (length in bytes including the header, class-num, c-type) and its payload.
//!
//! Routers that predate RFC 4884 (RFC 4884 section 5.5, many MPLS LSRs) send the structure
//! after exactly 128 bytes of quote and leave the length field 0; like the well-known tracers,
//! such a structure is accepted only when it has version 2 and a checksum that verifies.
//!
//! Parsing never panics: a bad header, checksum or object gives no objects and a typed reason.
use serde::Serialize;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// RFC 4884: with extensions, the original datagram field holds at least 128 bytes.
pub const MIN_ORIGINAL_DATAGRAM: usize = 128;
/// The extension structure's version (RFC 4884 section 7).
pub const EXTENSION_VERSION: u8 = 2;
/// Class-num of the MPLS label stack object (RFC 4950).
pub const CLASS_MPLS: u8 = 1;
/// C-type of the MPLS object: the incoming label stack.
pub const CTYPE_MPLS_INCOMING: u8 = 1;
/// Class-num of the interface information object (RFC 5837).
pub const CLASS_INTERFACE_INFO: u8 = 2;
/// Most objects read from one structure.
pub const MAX_OBJECTS: usize = 16;
/// Most label stack entries read from one MPLS object.
pub const MAX_LABELS: usize = 32;
/// An ICMP error message (outer IP header included) is at most 576 bytes (RFC 1812 4.3.2.3);
/// with a 20-byte IP and 8-byte ICMP header, this is what the quote and extensions may take.
const MAX_ICMP_DATA: usize = 576 - 20 - 8;
/// The length field counts 32-bit words in one byte.
const MAX_LENGTH_FIELD: usize = 255 * 4;
/// Bytes of the extension header and of an object header.
const HEADER_LEN: usize = 4;

/// One MPLS label stack entry as the LSR received it (RFC 3032 layout).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct MplsLabel {
    /// The 20-bit label.
    pub label: u32,
    /// Traffic class (formerly EXP), 3 bits.
    pub tc: u8,
    /// Bottom of stack.
    #[serde(rename = "s")]
    pub bottom: bool,
    pub ttl: u8,
}

impl MplsLabel {
    /// The largest label value (20 bits).
    pub const MAX_LABEL: u32 = 0xf_ffff;

    /// Decodes a 32-bit label stack entry.
    pub fn from_entry(entry: u32) -> Self {
        Self {
            label: entry >> 12,
            tc: ((entry >> 9) & 0x7) as u8,
            bottom: entry & 0x100 != 0,
            ttl: (entry & 0xff) as u8,
        }
    }

    /// Encodes it as a 32-bit label stack entry (label and TC cut to their widths).
    pub fn to_entry(self) -> u32 {
        ((self.label & Self::MAX_LABEL) << 12)
            | (u32::from(self.tc & 0x7) << 9)
            | (u32::from(self.bottom) << 8)
            | u32::from(self.ttl)
    }

    /// The stack an LSR reports for a packet whose label TTL ran out carrying `labels` (top
    /// first): TC 0, TTL 1 in every entry (TTL propagation), bottom-of-stack on the last.
    pub fn expired_stack(labels: &[u32]) -> Vec<MplsLabel> {
        let last = labels.len().saturating_sub(1);
        labels
            .iter()
            .enumerate()
            .map(|(i, &label)| MplsLabel {
                label: label & Self::MAX_LABEL,
                tc: 0,
                bottom: i == last,
                ttl: 1,
            })
            .collect()
    }
}

/// RFC 5837: which interface the object describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InterfaceRole {
    /// The IP interface the offending datagram arrived on.
    Incoming,
    /// The sub-IP component of that interface (e.g. a member of a bundle).
    SubIp,
    /// The IP interface it would have left by.
    Outgoing,
    /// The next hop it would have been sent to.
    NextHop,
}

impl InterfaceRole {
    fn from_bits(bits: u8) -> Self {
        match bits & 0x3 {
            0 => InterfaceRole::Incoming,
            1 => InterfaceRole::SubIp,
            2 => InterfaceRole::Outgoing,
            _ => InterfaceRole::NextHop,
        }
    }
}

/// An RFC 5837 interface information object: the fields its c-type says are present.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InterfaceInfo {
    pub role: InterfaceRole,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub if_index: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addr: Option<IpAddr>,
    /// The interface name (UTF-8, invalid bytes replaced, trailing NULs removed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
}

/// One object of an extension structure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IcmpExtension {
    /// RFC 4950: the label stack of the packet that caused the error, top first.
    Mpls(Vec<MplsLabel>),
    /// RFC 5837.
    InterfaceInfo(InterfaceInfo),
    /// Any other class (or an MPLS c-type other than 1): named, not interpreted.
    Other {
        class: u8,
        ctype: u8,
        /// Bytes of the object's payload (its header not counted).
        bytes_len: usize,
    },
}

/// Why the bytes after the quote gave no objects.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExtensionError {
    #[error("RFC 4884 length of {len} bytes is below the 128-byte minimum")]
    LengthBelowMinimum { len: usize },
    #[error("RFC 4884 length of {len} bytes exceeds the {available} bytes of the message")]
    LengthBeyondMessage { len: usize, available: usize },
    #[error("extension structure of {len} bytes is shorter than its 4-byte header")]
    HeaderTruncated { len: usize },
    #[error("extension structure version {0} (expected 2)")]
    BadVersion(u8),
    #[error("extension structure checksum {found:#06x} does not verify")]
    BadChecksum { found: u16 },
    #[error("extension object {index}: length {len} is below its 4-byte header")]
    ObjectTooShort { index: usize, len: usize },
    #[error("extension object {index}: {needed} bytes needed, {left} left in the structure")]
    ObjectTruncated {
        index: usize,
        needed: usize,
        left: usize,
    },
    #[error("more than {MAX_OBJECTS} extension objects")]
    TooManyObjects,
    #[error(
        "MPLS object {index}: {len} payload bytes are not 1 to {MAX_LABELS} label stack entries"
    )]
    BadMplsObject { index: usize, len: usize },
    #[error("interface information object {index}: {reason}")]
    BadInterfaceInfo { index: usize, reason: &'static str },
}

/// The extensions of one ICMP error: the objects, or why there are none although the message
/// announced (or seemed to carry) some.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IcmpExtensions {
    pub objects: Vec<IcmpExtension>,
    /// Set when an announced extension structure could not be read (then `objects` is empty).
    pub error: Option<ExtensionError>,
    /// The structure was found the RFC 4884 section 5.5 way: length field 0, structure after
    /// exactly 128 bytes of quote (a non-compliant router).
    pub compat: bool,
}

impl IcmpExtensions {
    fn failed(error: ExtensionError) -> Self {
        Self {
            error: Some(error),
            ..Self::default()
        }
    }

    /// No objects and no error.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty() && self.error.is_none()
    }

    /// Every MPLS label stack entry, top first (objects in order).
    pub fn mpls_labels(&self) -> Vec<MplsLabel> {
        self.objects
            .iter()
            .filter_map(|o| match o {
                IcmpExtension::Mpls(stack) => Some(stack.iter().copied()),
                _ => None,
            })
            .flatten()
            .collect()
    }
}

/// Splits the data of an ICMP error that may carry extensions (time exceeded, unreachable,
/// parameter problem) into the quote and the extensions; returns the quote's length.
///
/// `data` is the message after its 8-byte header, `length_words` its byte 5 (RFC 4884 length in
/// 32-bit words). A non-zero length that is below 128 bytes or beyond the message is not
/// compliant: the whole of `data` is the quote (RFC 4884 section 5) and the error says why no
/// extensions were read.
///
/// When an extension structure delimits the original datagram field (a compliant length, or
/// the section 5.5 structure after 128 bytes), the field is zero-padded to 128 bytes and to a
/// 32-bit boundary by the sender: the quote is the field without its trailing zero bytes. A
/// router that quoted only 28 or 40 bytes must not seem to quote zero bytes it never saw (a
/// payload of zeros would read as a modified STARTTLS); the price is that quoted bytes that
/// really were zero at the very end are dropped, which can only make the quote shorter.
pub fn split_extensions(data: &[u8], length_words: u8) -> (usize, IcmpExtensions) {
    if length_words == 0 {
        return match compat_structure(data) {
            Some(ext) => (unpadded_len(data, MIN_ORIGINAL_DATAGRAM), ext),
            None => (data.len(), IcmpExtensions::default()),
        };
    }
    let len = usize::from(length_words) * 4;
    if len < MIN_ORIGINAL_DATAGRAM {
        return (
            data.len(),
            IcmpExtensions::failed(ExtensionError::LengthBelowMinimum { len }),
        );
    }
    let Some(structure) = data.get(len..) else {
        return (
            data.len(),
            IcmpExtensions::failed(ExtensionError::LengthBeyondMessage {
                len,
                available: data.len(),
            }),
        );
    };
    let ext = match parse_structure(structure) {
        Ok(objects) => IcmpExtensions {
            objects,
            ..IcmpExtensions::default()
        },
        Err(e) => IcmpExtensions::failed(e),
    };
    (unpadded_len(data, len), ext)
}

/// The length of the first `field` bytes of `data` without trailing zero bytes.
fn unpadded_len(data: &[u8], field: usize) -> usize {
    data.get(..field)
        .and_then(|f| f.iter().rposition(|&b| b != 0))
        .map_or(0, |last| last + 1)
}

/// RFC 4884 section 5.5: a structure right after 128 bytes of quote, recognised only by its
/// version and a (non-zero) checksum that verifies.
fn compat_structure(data: &[u8]) -> Option<IcmpExtensions> {
    let structure = data.get(MIN_ORIGINAL_DATAGRAM..)?;
    let header = structure.get(..HEADER_LEN)?;
    let checksum = u16::from_be_bytes([*header.get(2)?, *header.get(3)?]);
    if header.first()? >> 4 != EXTENSION_VERSION || checksum == 0 || !checksum_verifies(structure) {
        return None;
    }
    let objects = parse_structure(structure).ok()?;
    Some(IcmpExtensions {
        objects,
        error: None,
        compat: true,
    })
}

/// Parses an extension structure (header and objects).
pub fn parse_structure(structure: &[u8]) -> Result<Vec<IcmpExtension>, ExtensionError> {
    let header_err = ExtensionError::HeaderTruncated {
        len: structure.len(),
    };
    let header = structure.get(..HEADER_LEN).ok_or(header_err.clone())?;
    let version = header.first().map_or(0, |b| b >> 4);
    if version != EXTENSION_VERSION {
        return Err(ExtensionError::BadVersion(version));
    }
    let found = read16(header, 2).ok_or(header_err)?;
    if found != 0 && !checksum_verifies(structure) {
        return Err(ExtensionError::BadChecksum { found });
    }
    let mut objects = Vec::new();
    let mut at = HEADER_LEN;
    while at < structure.len() {
        let index = objects.len();
        let left = structure.len() - at;
        let rest = structure.get(at..).unwrap_or_default();
        let (Some(len), Some(&class), Some(&ctype)) = (read16(rest, 0), rest.get(2), rest.get(3))
        else {
            return Err(ExtensionError::ObjectTruncated {
                index,
                needed: HEADER_LEN,
                left,
            });
        };
        let len = usize::from(len);
        if len < HEADER_LEN {
            return Err(ExtensionError::ObjectTooShort { index, len });
        }
        let Some(payload) = rest.get(HEADER_LEN..len) else {
            return Err(ExtensionError::ObjectTruncated {
                index,
                needed: len,
                left,
            });
        };
        if index == MAX_OBJECTS {
            return Err(ExtensionError::TooManyObjects);
        }
        objects.push(parse_object(index, class, ctype, payload)?);
        at += len;
    }
    Ok(objects)
}

fn parse_object(
    index: usize,
    class: u8,
    ctype: u8,
    payload: &[u8],
) -> Result<IcmpExtension, ExtensionError> {
    match (class, ctype) {
        (CLASS_MPLS, CTYPE_MPLS_INCOMING) => parse_mpls(index, payload).map(IcmpExtension::Mpls),
        (CLASS_INTERFACE_INFO, _) => {
            parse_interface_info(index, ctype, payload).map(IcmpExtension::InterfaceInfo)
        }
        _ => Ok(IcmpExtension::Other {
            class,
            ctype,
            bytes_len: payload.len(),
        }),
    }
}

fn parse_mpls(index: usize, payload: &[u8]) -> Result<Vec<MplsLabel>, ExtensionError> {
    let len = payload.len();
    if len == 0 || !len.is_multiple_of(4) || len / 4 > MAX_LABELS {
        return Err(ExtensionError::BadMplsObject { index, len });
    }
    Ok(payload
        .chunks_exact(4)
        .map(|c| MplsLabel::from_entry(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
        .collect())
}

/// RFC 5837 c-type bits (bit 0 is the most significant): role in bits 0-1, then two reserved
/// bits, then which fields follow, in this order.
const IF_INDEX: u8 = 0x08;
const IF_ADDR: u8 = 0x04;
const IF_NAME: u8 = 0x02;
const IF_MTU: u8 = 0x01;
/// Address family identifiers of the IP address sub-object.
const AFI_IPV4: u16 = 1;
const AFI_IPV6: u16 = 2;
/// The interface name sub-object is at most 64 bytes (its length byte included).
const MAX_NAME_SUBOBJECT: usize = 64;

fn parse_interface_info(
    index: usize,
    ctype: u8,
    payload: &[u8],
) -> Result<InterfaceInfo, ExtensionError> {
    let bad = |reason| ExtensionError::BadInterfaceInfo { index, reason };
    let mut r = Reader { bytes: payload };
    let mut info = InterfaceInfo {
        role: InterfaceRole::from_bits(ctype >> 6),
        if_index: None,
        addr: None,
        name: None,
        mtu: None,
    };
    if ctype & IF_INDEX != 0 {
        info.if_index = Some(r.u32().ok_or(bad("ifIndex cut short"))?);
    }
    if ctype & IF_ADDR != 0 {
        let afi = r.u16().ok_or(bad("IP address sub-object cut short"))?;
        r.take(2).ok_or(bad("IP address sub-object cut short"))?;
        info.addr = Some(match afi {
            AFI_IPV4 => {
                let b: [u8; 4] = r.array().ok_or(bad("IPv4 address cut short"))?;
                IpAddr::V4(Ipv4Addr::from(b))
            }
            AFI_IPV6 => {
                let b: [u8; 16] = r.array().ok_or(bad("IPv6 address cut short"))?;
                IpAddr::V6(Ipv6Addr::from(b))
            }
            _ => return Err(bad("unknown address family")),
        });
    }
    if ctype & IF_NAME != 0 {
        let len = usize::from(*r.bytes.first().ok_or(bad("name sub-object cut short"))?);
        if len == 0 || !len.is_multiple_of(4) || len > MAX_NAME_SUBOBJECT {
            return Err(bad(
                "name sub-object length not a multiple of 4 within 4..=64",
            ));
        }
        let sub = r.take(len).ok_or(bad("name sub-object cut short"))?;
        let name = sub.get(1..).unwrap_or_default();
        let end = name.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
        info.name = Some(String::from_utf8_lossy(name.get(..end).unwrap_or_default()).into());
    }
    if ctype & IF_MTU != 0 {
        info.mtu = Some(r.u32().ok_or(bad("MTU cut short"))?);
    }
    if !r.bytes.is_empty() {
        return Err(bad("bytes left after the announced fields"));
    }
    Ok(info)
}

/// Reads fields off the front of a slice; `None` when too few bytes are left.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.bytes.split_at_checked(n)?;
        self.bytes = rest;
        Some(head)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn u16(&mut self) -> Option<u16> {
        self.array().map(u16::from_be_bytes)
    }

    fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_be_bytes)
    }
}

fn read16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*bytes.get(at)?, *bytes.get(at + 1)?]))
}

/// RFC 1071 one's complement sum of `data`, folded to 16 bits (not complemented).
fn ones_sum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for c in data.chunks(2) {
        let word = match *c {
            [a, b] => u16::from_be_bytes([a, b]),
            [a] => u16::from_be_bytes([a, 0]),
            _ => 0,
        };
        sum += u32::from(word);
        sum = (sum & 0xffff) + (sum >> 16);
    }
    // Folded after every word: at most 16 bits remain.
    (sum & 0xffff) as u16
}

/// Whether `data`, with its checksum in place, sums to 0xffff.
fn checksum_verifies(data: &[u8]) -> bool {
    ones_sum(data) == 0xffff
}

/// An extension structure with one RFC 4950 MPLS label stack object (incoming stack, top
/// first), its checksum computed: what an LSR appends to its ICMP errors.
pub fn mpls_extension_structure(stack: &[MplsLabel]) -> Vec<u8> {
    let stack = stack.get(..stack.len().min(MAX_LABELS)).unwrap_or_default();
    let object_len = HEADER_LEN + 4 * stack.len();
    let mut out = Vec::with_capacity(HEADER_LEN + object_len);
    out.extend_from_slice(&[EXTENSION_VERSION << 4, 0, 0, 0]);
    // At most 4 + 4 * MAX_LABELS bytes: fits 16 bits.
    out.extend_from_slice(&(object_len as u16).to_be_bytes());
    out.extend_from_slice(&[CLASS_MPLS, CTYPE_MPLS_INCOMING]);
    for l in stack {
        out.extend_from_slice(&l.to_entry().to_be_bytes());
    }
    let checksum = !ones_sum(&out);
    if let Some(field) = out.get_mut(2..4) {
        field.copy_from_slice(&checksum.to_be_bytes());
    }
    out
}

/// The data of an ICMP error carrying `structure` after `quote` as RFC 4884 asks: the quote
/// zero-padded to a 32-bit boundary and to at least 128 bytes (and cut, on a 32-bit boundary,
/// so that the message stays within 576 bytes), then the structure. Returns the data and the
/// value for the length field (byte 5: the original datagram field in 32-bit words).
pub fn extended_payload(quote: &[u8], structure: &[u8]) -> (Vec<u8>, u8) {
    // Constant bounds, min below max.
    let room = (MAX_ICMP_DATA.saturating_sub(structure.len()) / 4 * 4)
        .clamp(MIN_ORIGINAL_DATAGRAM, MAX_LENGTH_FIELD);
    let kept = quote.len().min(room);
    let field = kept.div_ceil(4).max(MIN_ORIGINAL_DATAGRAM / 4) * 4;
    let mut data = Vec::with_capacity(field + structure.len());
    data.extend_from_slice(quote.get(..kept).unwrap_or_default());
    data.resize(field, 0);
    data.extend_from_slice(structure);
    // `field` is at most MAX_LENGTH_FIELD bytes: the word count fits a byte.
    (data, u8::try_from(field / 4).unwrap_or(u8::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 1071 checksum computed the plain way (a sum in a u64, folded at the end), so the
    /// tests do not lean on the module's own helper.
    fn rfc1071(data: &[u8]) -> u16 {
        let mut sum: u64 = 0;
        for c in data.chunks(2) {
            sum += u64::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
        }
        while sum >> 16 != 0 {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }

    /// Sets the structure's checksum (bytes 2-3) from its content.
    fn with_checksum(mut structure: Vec<u8>) -> Vec<u8> {
        structure[2] = 0;
        structure[3] = 0;
        let c = rfc1071(&structure);
        structure[2..4].copy_from_slice(&c.to_be_bytes());
        structure
    }

    /// A 62-byte quoted datagram (what a Linux router quotes of a STARTTLS probe), padded to
    /// `field` bytes.
    fn quote(field: usize) -> Vec<u8> {
        let mut q: Vec<u8> = (0..62u8).map(|b| b.wrapping_mul(7) | 1).collect();
        q.resize(field, 0);
        q
    }

    /// The RFC 4950 example the output docs use: one entry, label 16004, TC 0, S, TTL 1;
    /// checksum worked out by hand: 0x2000 + 0x0008 + 0x0101 + 0x03e8 + 0x4101 = 0x65f2,
    /// complemented 0x9a0d.
    const MPLS_16004: [u8; 12] = [
        0x20, 0x00, 0x9a, 0x0d, // version 2, checksum
        0x00, 0x08, 0x01, 0x01, // object: 8 bytes, class 1 (MPLS), c-type 1 (incoming)
        0x03, 0xe8, 0x41, 0x01, // label 16004, TC 0, S 1, TTL 1
    ];

    fn label(label: u32, bottom: bool, ttl: u8) -> MplsLabel {
        MplsLabel {
            label,
            tc: 0,
            bottom,
            ttl,
        }
    }

    fn data(quote_field: usize, structure: &[u8]) -> Vec<u8> {
        let mut d = quote(quote_field);
        d.extend_from_slice(structure);
        d
    }

    #[test]
    fn compliant_mpls_extension_after_a_128_byte_field() {
        assert_eq!(rfc1071(&MPLS_16004), 0, "the hand-made checksum verifies");
        let (len, ext) = split_extensions(&data(128, &MPLS_16004), 32);
        assert_eq!(len, 62, "the 62 quoted bytes, without the zero padding");
        assert_eq!(ext.error, None);
        assert!(!ext.compat);
        assert_eq!(
            ext.objects,
            vec![IcmpExtension::Mpls(vec![label(16004, true, 1)])]
        );
        assert_eq!(ext.mpls_labels(), vec![label(16004, true, 1)]);
    }

    #[test]
    fn a_longer_original_datagram_field_is_honoured() {
        let mut d = vec![0x5a; 256];
        d.extend_from_slice(&MPLS_16004);
        let (len, ext) = split_extensions(&d, 64);
        assert_eq!(len, 256);
        assert_eq!(ext.mpls_labels().len(), 1);
    }

    #[test]
    fn zero_padding_of_a_short_quote_is_not_quote() {
        // A router that quotes 28 bytes (RFC 792) pads them to 128 with zeros: the quote is
        // 28 bytes, not 128 of which 100 would be zero "payload".
        let mut d = vec![0x45; 28];
        d.resize(128, 0);
        d.extend_from_slice(&MPLS_16004);
        assert_eq!(split_extensions(&d, 32).0, 28);
        assert_eq!(split_extensions(&d, 0).0, 28, "the compat way too");
        // Quoted bytes that were zero at the very end go with the padding (never more).
        d[20..28].copy_from_slice(&[1, 2, 3, 4, 5, 0, 0, 0]);
        assert_eq!(split_extensions(&d, 32).0, 25);
        // Without an extension structure nothing is trimmed.
        assert_eq!(split_extensions(&d[..128], 0).0, 128);
        // An announced structure that fails to parse still delimits a padded field.
        let mut bad = d[..128].to_vec();
        bad.extend_from_slice(&[0x10, 0, 0, 0]);
        let (len, ext) = split_extensions(&bad, 32);
        assert_eq!((len, ext.error), (25, Some(ExtensionError::BadVersion(1))));
    }

    #[test]
    fn the_encoder_builds_the_hand_made_bytes() {
        let stack = MplsLabel::expired_stack(&[16004]);
        assert_eq!(mpls_extension_structure(&stack), MPLS_16004);
        let two = mpls_extension_structure(&MplsLabel::expired_stack(&[16004, 24001]));
        assert_eq!(rfc1071(&two), 0);
        assert_eq!(
            parse_structure(&two),
            Ok(vec![IcmpExtension::Mpls(vec![
                label(16004, false, 1),
                label(24001, true, 1)
            ])])
        );
    }

    #[test]
    fn label_stack_entries_round_trip() {
        for entry in [0u32, 0xffff_ffff, 0x03e8_4101, 0x0001_2e40] {
            assert_eq!(MplsLabel::from_entry(entry).to_entry(), entry);
        }
        let l = MplsLabel::from_entry(0xffff_fbff);
        assert_eq!((l.label, l.tc, l.bottom, l.ttl), (0xf_ffff, 5, true, 0xff));
        assert_eq!(MplsLabel::expired_stack(&[]), Vec::new());
        assert_eq!(
            MplsLabel::expired_stack(&[0x1f_ffff])[0].label,
            0xf_ffff,
            "cut to 20 bits"
        );
    }

    /// RFC 5837 interface information: incoming interface, ifIndex, IPv4 address, name, MTU.
    fn interface_object() -> Vec<u8> {
        let mut o = vec![0x00, 28, CLASS_INTERFACE_INFO, 0x0f];
        o.extend_from_slice(&7u32.to_be_bytes()); // ifIndex
        o.extend_from_slice(&[0x00, 0x01, 0x00, 0x00, 198, 51, 100, 6]); // AFI 1, address
        o.extend_from_slice(&[8, b'e', b't', b'h', b'0', 0, 0, 0]); // name sub-object
        o.extend_from_slice(&1500u32.to_be_bytes()); // MTU
        o
    }

    #[test]
    fn several_objects_with_an_uncomputed_checksum() {
        let mut s = vec![0x20, 0x00, 0x00, 0x00];
        s.extend_from_slice(&[0x00, 0x0c, 0x01, 0x01]);
        s.extend_from_slice(&[0x03, 0xe8, 0x40, 0xfe, 0x05, 0xdc, 0x11, 0x01]);
        s.extend_from_slice(&interface_object());
        // RFC 8335 interface identification (class 3), and an MPLS object of another c-type.
        s.extend_from_slice(&[0x00, 0x08, 0x03, 0x01, 0, 0, 0, 9]);
        s.extend_from_slice(&[0x00, 0x08, 0x01, 0x02, 0, 0, 0, 0]);
        let (len, ext) = split_extensions(&data(128, &s), 32);
        assert_eq!(len, 62);
        assert_eq!(ext.error, None, "checksum 0 means not computed");
        assert_eq!(
            ext.objects,
            vec![
                IcmpExtension::Mpls(vec![label(16004, false, 254), label(24001, true, 1)]),
                IcmpExtension::InterfaceInfo(InterfaceInfo {
                    role: InterfaceRole::Incoming,
                    if_index: Some(7),
                    addr: Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 6))),
                    name: Some("eth0".to_string()),
                    mtu: Some(1500),
                }),
                IcmpExtension::Other {
                    class: 3,
                    ctype: 1,
                    bytes_len: 4
                },
                IcmpExtension::Other {
                    class: 1,
                    ctype: 2,
                    bytes_len: 4
                },
            ]
        );
    }

    #[test]
    fn interface_info_roles_and_partial_fields() {
        // Outgoing interface (role 2), IPv6 address and MTU only.
        let mut o = vec![0x00, 0x1c, CLASS_INTERFACE_INFO, 0x80 | IF_ADDR | IF_MTU];
        o.extend_from_slice(&[0x00, 0x02, 0x00, 0x00]);
        o.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().expect("v6").octets());
        o.extend_from_slice(&9000u32.to_be_bytes());
        let mut s = with_checksum([&[0x20, 0, 0, 0][..], &o].concat());
        assert_eq!(
            parse_structure(&s),
            Ok(vec![IcmpExtension::InterfaceInfo(InterfaceInfo {
                role: InterfaceRole::Outgoing,
                if_index: None,
                addr: Some("2001:db8::1".parse().expect("v6")),
                name: None,
                mtu: Some(9000),
            })])
        );
        // Role bits 3: the next hop; nothing else.
        s = with_checksum(vec![0x20, 0, 0, 0, 0x00, 0x04, CLASS_INTERFACE_INFO, 0xc0]);
        assert!(matches!(
            parse_structure(&s).as_deref(),
            Ok([IcmpExtension::InterfaceInfo(InterfaceInfo {
                role: InterfaceRole::NextHop,
                ..
            })])
        ));
    }

    #[test]
    fn bad_interface_info_objects_are_refused() {
        let cases: [(u8, Vec<u8>); 5] = [
            (IF_INDEX, vec![0, 0, 1]),                      // ifIndex cut short
            (IF_ADDR, vec![0, 9, 0, 0, 1, 2, 3, 4]),        // unknown AFI
            (IF_NAME, vec![3, b'a', b'b']),                 // name length not a multiple of 4
            (IF_NAME, vec![0, 0, 0, 0]),                    // name length 0
            (IF_MTU, vec![0, 0, 5, 220, 0xaa, 0xbb, 0, 0]), // bytes after the MTU
        ];
        for (ctype, payload) in cases {
            let len = u16::try_from(4 + payload.len()).expect("len");
            let mut s = vec![0x20, 0, 0, 0];
            s.extend_from_slice(&len.to_be_bytes());
            s.extend_from_slice(&[CLASS_INTERFACE_INFO, ctype]);
            s.extend_from_slice(&payload);
            let (_, ext) = split_extensions(&data(128, &s), 32);
            assert!(
                matches!(
                    ext.error,
                    Some(ExtensionError::BadInterfaceInfo { index: 0, .. })
                ),
                "{ctype:#x} {payload:?}: {ext:?}"
            );
            assert!(ext.objects.is_empty());
        }
    }

    #[test]
    fn compat_structure_after_128_bytes_with_length_zero() {
        let (len, ext) = split_extensions(&data(128, &MPLS_16004), 0);
        assert_eq!(len, 62, "the quote is the first 128 bytes, without padding");
        assert!(ext.compat);
        assert_eq!(ext.error, None);
        assert_eq!(ext.mpls_labels(), vec![label(16004, true, 1)]);
    }

    #[test]
    fn compat_needs_version_2_and_a_computed_checksum_that_verifies() {
        let mut zero_sum = MPLS_16004;
        zero_sum[2..4].copy_from_slice(&[0, 0]);
        let mut bad_sum = MPLS_16004;
        bad_sum[3] ^= 1;
        let mut version_1 = with_checksum(MPLS_16004.to_vec());
        version_1[0] = 0x10;
        let version_1 = with_checksum(version_1);
        for s in [&zero_sum[..], &bad_sum[..], &version_1[..]] {
            let d = data(128, s);
            let (len, ext) = split_extensions(&d, 0);
            assert_eq!(len, d.len(), "all of it is quote");
            assert!(ext.is_empty(), "{ext:?}");
        }
        // A plain long quote (Linux quotes up to 548 bytes) is a quote.
        let d = quote(400);
        assert_eq!(split_extensions(&d, 0), (400, IcmpExtensions::default()));
        // So is a quote of exactly 128 bytes with nothing after it.
        assert_eq!(split_extensions(&quote(128), 0).0, 128);
    }

    #[test]
    fn malformed_lengths_keep_the_whole_quote_and_say_why() {
        let d = data(128, &MPLS_16004);
        let (len, ext) = split_extensions(&d, 3);
        assert_eq!(len, d.len());
        assert_eq!(
            ext.error,
            Some(ExtensionError::LengthBelowMinimum { len: 12 })
        );
        let (len, ext) = split_extensions(&d, 255);
        assert_eq!(len, d.len());
        assert_eq!(
            ext.error,
            Some(ExtensionError::LengthBeyondMessage {
                len: 1020,
                available: 140
            })
        );
        assert!(ext.objects.is_empty());
    }

    #[test]
    fn bad_header_or_checksum_gives_no_objects() {
        let mut bad_sum = MPLS_16004;
        bad_sum[11] = 2; // TTL 2: the checksum no longer matches
        let (len, ext) = split_extensions(&data(128, &bad_sum), 32);
        assert_eq!(len, 62);
        assert_eq!(
            ext.error,
            Some(ExtensionError::BadChecksum { found: 0x9a0d })
        );
        assert!(ext.objects.is_empty());

        let mut v1 = MPLS_16004;
        v1[0] = 0x10;
        let (_, ext) = split_extensions(&data(128, &v1), 32);
        assert_eq!(ext.error, Some(ExtensionError::BadVersion(1)));

        for cut in 0..4 {
            let (len, ext) = split_extensions(&data(128, &MPLS_16004[..cut]), 32);
            assert_eq!(len, 62);
            assert_eq!(
                ext.error,
                Some(ExtensionError::HeaderTruncated { len: cut })
            );
        }
    }

    #[test]
    fn truncated_and_zero_length_objects() {
        // The object says 12 bytes, 8 are there (a cut capture would look like this).
        let cut = with_checksum(vec![
            0x20, 0, 0, 0, 0x00, 0x0c, 1, 1, 0x03, 0xe8, 0x41, 0x01,
        ]);
        assert_eq!(
            parse_structure(&cut),
            Err(ExtensionError::ObjectTruncated {
                index: 0,
                needed: 12,
                left: 8
            })
        );
        // Two bytes after a good object: not even an object header.
        let trailing = with_checksum([&MPLS_16004[..], &[0, 4]].concat());
        assert_eq!(
            parse_structure(&trailing),
            Err(ExtensionError::ObjectTruncated {
                index: 1,
                needed: 4,
                left: 2
            })
        );
        // A zero-length object would loop forever if it were believed.
        for len in [0u8, 3] {
            let s = with_checksum(vec![0x20, 0, 0, 0, 0, len, 1, 1, 0, 0, 0, 0]);
            assert_eq!(
                parse_structure(&s),
                Err(ExtensionError::ObjectTooShort {
                    index: 0,
                    len: usize::from(len)
                })
            );
        }
        // An MPLS object whose payload is not whole entries, or empty.
        for payload in [&[0u8; 6][..], &[]] {
            let len = u8::try_from(4 + payload.len()).expect("len");
            let s = with_checksum([&[0x20, 0, 0, 0, 0, len, 1, 1][..], payload].concat());
            assert_eq!(
                parse_structure(&s),
                Err(ExtensionError::BadMplsObject {
                    index: 0,
                    len: payload.len()
                })
            );
        }
        // A header with no object is a valid, empty structure.
        assert_eq!(parse_structure(&[0x20, 0, 0, 0]), Ok(Vec::new()));
    }

    #[test]
    fn object_and_label_counts_are_bounded() {
        let mut many = vec![0x20, 0, 0, 0];
        for _ in 0..=MAX_OBJECTS {
            many.extend_from_slice(&[0, 4, 3, 1]);
        }
        assert_eq!(
            parse_structure(&with_checksum(many)),
            Err(ExtensionError::TooManyObjects)
        );
        let entries = MAX_LABELS + 1;
        let len = u16::try_from(4 + 4 * entries).expect("len");
        let mut deep = vec![0x20, 0, 0, 0];
        deep.extend_from_slice(&len.to_be_bytes());
        deep.extend_from_slice(&[1, 1]);
        deep.resize(deep.len() + 4 * entries, 0);
        assert_eq!(
            parse_structure(&with_checksum(deep)),
            Err(ExtensionError::BadMplsObject {
                index: 0,
                len: 4 * entries
            })
        );
    }

    #[test]
    fn no_input_panics() {
        let full = data(
            128,
            &with_checksum([&MPLS_16004[..], &interface_object()].concat()),
        );
        for cut in 0..=full.len() {
            for words in [0u8, 1, 31, 32, 33, 40, 255] {
                let _ = split_extensions(&full[..cut], words);
            }
            let _ = parse_structure(&full[cut..]);
        }
        // Pseudo-random structures (a fixed LCG: the same bytes every run).
        let mut x: u32 = 0x1234_5678;
        for _ in 0..2000 {
            let n = (x % 96) as usize;
            let mut s = vec![0x20, 0, 0, 0];
            for _ in 0..n {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                s.push((x >> 24) as u8);
            }
            let s = with_checksum(s);
            let _ = parse_structure(&s);
            let _ = split_extensions(&data(128, &s), 0);
        }
    }

    #[test]
    fn extended_payload_pads_cuts_and_sets_the_length() {
        let ext = mpls_extension_structure(&MplsLabel::expired_stack(&[16004]));
        let (d, words) = extended_payload(&quote(62), &ext);
        assert_eq!((d.len(), words), (128 + 12, 32));
        assert_eq!(&d[..62], &quote(62)[..62]);
        assert!(d[62..128].iter().all(|&b| b == 0), "zero padding");
        assert_eq!(split_extensions(&d, words).1.mpls_labels().len(), 1);

        let (d, words) = extended_payload(&[7; 130], &ext);
        assert_eq!((d.len(), words), (132 + 12, 33), "padded to 32 bits");

        // A 548-byte quote no longer fits in 576 bytes with the extension: cut on a word.
        let (d, words) = extended_payload(&[7; 548], &ext);
        assert_eq!((d.len(), words), (536 + 12, 134));
        assert!(20 + 8 + d.len() <= 576);
        let (len, parsed) = split_extensions(&d, words);
        assert_eq!(len, 536);
        assert_eq!(parsed.error, None);
    }
}
