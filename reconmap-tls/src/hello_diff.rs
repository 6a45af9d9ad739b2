//! Which ClientHello fields a router's ICMP quote shows changed.
//!
//! [`hello_diff`] takes the TCP payload as sent (starting with the ClientHello record) and the
//! same payload as quoted back in an ICMP Time Exceeded message, which is often cut short.
//! Both are walked field by field with their own length fields (so a removed extension does
//! not shift everything after it), and only what both contain is compared: where one ends the
//! comparison stops with a [`HelloChange::TruncatedAt`]. An element (suite, extension) missing
//! from a cut-short list is only called removed when something after it in the other list is
//! still there. A ClientHello fragmented over several records is compared as one record.
use crate::names::{
    cipher_name, extension_name, group_name, handshake_type_name, signature_scheme_name,
    version_name,
};
use crate::wire::{hex, u16s, Cursor};
use serde::Serialize;

/// One difference between the hello as sent and as quoted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum HelloChange {
    /// A field has another value in the quote (`field` is e.g. `legacy_version`,
    /// `record.length`, `extension server_name`).
    Changed {
        field: String,
        sent: String,
        quoted: String,
    },
    /// Cipher suites only in the quote (`added`) or only in what was sent (`removed`).
    CipherSuites {
        added: Vec<String>,
        removed: Vec<String>,
    },
    /// The same elements in another order (`cipher_suites` or `extensions`).
    Reordered {
        field: String,
    },
    ExtensionAdded {
        name: String,
        value: String,
    },
    ExtensionRemoved {
        name: String,
        value: String,
    },
    /// The comparison stops at `field` (byte `offset` of the payload) because the shorter of
    /// the two ends there; `mid_field` when it ends inside the field rather than before it.
    TruncatedAt {
        field: String,
        offset: usize,
        mid_field: bool,
    },
    /// What was sent is not a ClientHello record: compared byte by byte.
    Bytes {
        first_difference: usize,
        differing: usize,
    },
}

/// Compares a ClientHello payload as sent with its quote. An empty result means no difference
/// in what both contain and neither is cut short.
pub fn hello_diff(sent: &[u8], quoted: &[u8]) -> Vec<HelloChange> {
    if sent.first() != Some(&22) || sent.get(5).is_some_and(|t| *t != 1) {
        return byte_diff(sent, quoted);
    }
    let s = Walk::new(sent);
    let q = Walk::new(quoted);
    let mut changes = Vec::new();
    compare_fixed(&s, &q, &mut changes);
    compare_extensions(&s, &q, &mut changes);
    compare_trailing(&s, &q, &mut changes);
    if let Some(t) = truncation(&s, &q) {
        changes.push(t);
    }
    changes
}

fn byte_diff(sent: &[u8], quoted: &[u8]) -> Vec<HelloChange> {
    let common = sent.len().min(quoted.len());
    let pairs = sent.iter().zip(quoted).take(common);
    let differing = pairs.clone().filter(|(a, b)| a != b).count();
    let mut out = Vec::new();
    if let Some(first) = pairs.clone().position(|(a, b)| a != b) {
        out.push(HelloChange::Bytes {
            first_difference: first,
            differing,
        });
    }
    if sent.len() != quoted.len() {
        out.push(HelloChange::TruncatedAt {
            field: "payload".to_owned(),
            offset: common,
            mid_field: true,
        });
    }
    out
}

/// The fields of a ClientHello payload, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FieldId {
    RecordType,
    RecordVersion,
    RecordLength,
    HandshakeType,
    HandshakeLength,
    LegacyVersion,
    Random,
    SessionId,
    CipherSuites,
    CompressionMethods,
    ExtensionsLength,
    /// An extension's type and length.
    ExtensionHeader,
    Extension(u16),
    Trailing,
}

impl FieldId {
    fn name(self) -> String {
        match self {
            FieldId::RecordType => "record.content_type".into(),
            FieldId::RecordVersion => "record.version".into(),
            FieldId::RecordLength => "record.length".into(),
            FieldId::HandshakeType => "handshake.type".into(),
            FieldId::HandshakeLength => "handshake.length".into(),
            FieldId::LegacyVersion => "legacy_version".into(),
            FieldId::Random => "random".into(),
            FieldId::SessionId => "session_id".into(),
            FieldId::CipherSuites => "cipher_suites".into(),
            FieldId::CompressionMethods => "compression_methods".into(),
            FieldId::ExtensionsLength => "extensions.length".into(),
            FieldId::ExtensionHeader => "extensions".into(),
            FieldId::Extension(t) => format!("extension {}", extension_name(t)),
            FieldId::Trailing => "trailing_bytes".into(),
        }
    }
}

/// One field's content (without its length prefix).
#[derive(Clone, Copy, Debug)]
struct Item<'a> {
    id: FieldId,
    data: &'a [u8],
    complete: bool,
}

/// Where a walk ran out of bytes.
#[derive(Clone, Copy, Debug)]
struct End {
    id: FieldId,
    offset: usize,
    mid_field: bool,
}

/// Record header plus handshake header.
const HEADERS_LEN: usize = 9;

fn be_number(data: &[u8]) -> usize {
    data.iter().fold(0usize, |a, b| a << 8 | usize::from(*b))
}

#[derive(Debug)]
struct Walk<'a> {
    fixed: Vec<Item<'a>>,
    extensions: Vec<Item<'a>>,
    /// Every extension the extensions length announces was read.
    extensions_complete: bool,
    trailing: Option<&'a [u8]>,
    /// Offset where the hello message ends (and trailing bytes start).
    body_end: usize,
    end: Option<End>,
}

impl<'a> Walk<'a> {
    fn new(buf: &'a [u8]) -> Self {
        let mut w = Walk {
            fixed: Vec::new(),
            extensions: Vec::new(),
            extensions_complete: false,
            trailing: None,
            body_end: 0,
            end: None,
        };
        w.walk(buf);
        w
    }

    fn walk(&mut self, buf: &'a [u8]) {
        let mut c = Cursor::new(buf);
        let fixed: [(FieldId, usize); 5] = [
            (FieldId::RecordType, 1),
            (FieldId::RecordVersion, 2),
            (FieldId::RecordLength, 2),
            (FieldId::HandshakeType, 1),
            (FieldId::HandshakeLength, 3),
        ];
        for (id, n) in fixed {
            if !self.fixed_field(&mut c, id, n) {
                return;
            }
        }
        let hs_len = self.fixed.last().map_or(0, |i| be_number(i.data));
        // The hello body, bounded by the handshake length; what follows is trailing.
        let body_end = c.pos().saturating_add(hs_len).min(buf.len());
        let body = buf.get(..body_end).unwrap_or(buf);
        let mut b = Cursor::new(body);
        let _ = b.take(c.pos());
        let steps: [(FieldId, usize, usize); 5] = [
            (FieldId::LegacyVersion, 2, 0),
            (FieldId::Random, 32, 0),
            (FieldId::SessionId, 0, 1),
            (FieldId::CipherSuites, 0, 2),
            (FieldId::CompressionMethods, 0, 1),
        ];
        for (id, n, prefix) in steps {
            let ok = if prefix == 0 {
                self.fixed_field(&mut b, id, n)
            } else {
                self.vec_field(&mut b, id, prefix)
            };
            if !ok {
                return self.after_body(buf, body_end);
            }
        }
        if b.is_empty() {
            // Either a hello without extensions or a payload cut right here.
            if buf.len() >= HEADERS_LEN.saturating_add(hs_len) {
                self.extensions_complete = true;
                return self.after_body(buf, body_end);
            }
            self.end_at(FieldId::ExtensionsLength, b.pos(), false);
            return;
        }
        if !self.fixed_field(&mut b, FieldId::ExtensionsLength, 2) {
            return;
        }
        let ext_len = self.fixed.last().map_or(0, |i| be_number(i.data));
        let ext_start = b.pos();
        while b.pos() - ext_start < ext_len {
            let start = b.pos();
            if b.is_empty() {
                self.end_at(FieldId::ExtensionHeader, start, false);
                return;
            }
            let (Some(typ), Some(len)) = (b.u16(), b.u16()) else {
                self.end_at(FieldId::ExtensionHeader, start, true);
                return;
            };
            let len = usize::from(len);
            let avail = len.min(b.remaining());
            let data = b.take(avail).unwrap_or_default();
            let complete = avail == len;
            self.extensions.push(Item {
                id: FieldId::Extension(typ),
                data,
                complete,
            });
            if !complete {
                self.end_at(FieldId::Extension(typ), start, true);
                return;
            }
        }
        self.extensions_complete = true;
        self.after_body(buf, body_end);
    }

    fn after_body(&mut self, buf: &'a [u8], body_end: usize) {
        self.body_end = body_end;
        if self.end.is_none() {
            if let Some(rest) = buf.get(body_end..).filter(|r| !r.is_empty()) {
                self.trailing = Some(rest);
            }
        }
    }

    fn end_at(&mut self, id: FieldId, offset: usize, mid_field: bool) {
        self.end.get_or_insert(End {
            id,
            offset,
            mid_field,
        });
    }

    /// A field of `n` bytes; false when the input ends at or in it.
    fn fixed_field(&mut self, c: &mut Cursor<'a>, id: FieldId, n: usize) -> bool {
        let start = c.pos();
        if let Some(data) = c.take(n) {
            self.fixed.push(Item {
                id,
                data,
                complete: true,
            });
            return true;
        }
        let rest = c.rest();
        if !rest.is_empty() {
            self.fixed.push(Item {
                id,
                data: rest,
                complete: false,
            });
        }
        self.end_at(id, start, !rest.is_empty());
        false
    }

    /// A field with a `prefix`-byte length; false when the input ends at or in it.
    fn vec_field(&mut self, c: &mut Cursor<'a>, id: FieldId, prefix: usize) -> bool {
        let start = c.pos();
        let len = match prefix {
            1 => c.u8().map(usize::from),
            _ => c.u16().map(usize::from),
        };
        let Some(len) = len else {
            let mid = !c.rest().is_empty();
            self.end_at(id, start, mid);
            return false;
        };
        let avail = len.min(c.remaining());
        let data = c.take(avail).unwrap_or_default();
        let complete = avail == len;
        self.fixed.push(Item { id, data, complete });
        if !complete {
            self.end_at(id, start, true);
        }
        complete
    }

    fn item(&self, id: FieldId) -> Option<&Item<'a>> {
        self.fixed.iter().find(|i| i.id == id)
    }
}

fn compare_fixed(s: &Walk<'_>, q: &Walk<'_>, out: &mut Vec<HelloChange>) {
    for si in &s.fixed {
        let Some(qi) = q.item(si.id) else { continue };
        match si.id {
            FieldId::CipherSuites => compare_suites(si, qi, out),
            _ => {
                let n = si.data.len().min(qi.data.len());
                let both = si.complete && qi.complete;
                let (a, b) = if both {
                    (si.data, qi.data)
                } else {
                    (prefix(si.data, n), prefix(qi.data, n))
                };
                if a != b && (both || is_bytes_field(si.id)) {
                    out.push(HelloChange::Changed {
                        field: si.id.name(),
                        sent: scalar_text(si.id, a),
                        quoted: scalar_text(si.id, b),
                    });
                }
            }
        }
    }
}

fn prefix(data: &[u8], n: usize) -> &[u8] {
    data.get(..n).unwrap_or(data)
}

/// Fields whose common prefix means something when one side is cut.
fn is_bytes_field(id: FieldId) -> bool {
    matches!(
        id,
        FieldId::Random | FieldId::SessionId | FieldId::CompressionMethods
    )
}

fn scalar_text(id: FieldId, data: &[u8]) -> String {
    let n = data.iter().fold(0u64, |a, b| a << 8 | u64::from(*b));
    match id {
        FieldId::RecordVersion | FieldId::LegacyVersion => {
            version_name(u16::try_from(n).unwrap_or(u16::MAX))
        }
        FieldId::HandshakeType => handshake_type_name(u8::try_from(n).unwrap_or(u8::MAX)),
        FieldId::RecordType
        | FieldId::RecordLength
        | FieldId::HandshakeLength
        | FieldId::ExtensionsLength => n.to_string(),
        _ => hex(data),
    }
}

fn compare_suites(si: &Item<'_>, qi: &Item<'_>, out: &mut Vec<HelloChange>) {
    let s: Vec<u16> = u16s(si.data).collect();
    let q: Vec<u16> = u16s(qi.data).collect();
    let d = list_diff(&s, si.complete, &q, qi.complete);
    if !d.added.is_empty() || !d.removed.is_empty() {
        out.push(HelloChange::CipherSuites {
            added: d.added.iter().map(|c| cipher_name(*c)).collect(),
            removed: d.removed.iter().map(|c| cipher_name(*c)).collect(),
        });
    } else if d.reordered {
        out.push(HelloChange::Reordered {
            field: FieldId::CipherSuites.name(),
        });
    }
}

/// Differences between two ordered lists of which either may be cut short.
struct ListDiff<T> {
    added: Vec<T>,
    removed: Vec<T>,
    reordered: bool,
    /// (index in sent, index in quoted) of the elements found in both.
    matched: Vec<(usize, usize)>,
}

fn list_diff<T: PartialEq + Copy>(
    sent: &[T],
    sent_complete: bool,
    quoted: &[T],
    quoted_complete: bool,
) -> ListDiff<T> {
    let mut used = vec![false; sent.len()];
    let mut matched = Vec::new();
    for (qi, q) in quoted.iter().enumerate() {
        let found = sent
            .iter()
            .enumerate()
            .position(|(i, s)| s == q && !used.get(i).copied().unwrap_or(true));
        if let Some(si) = found {
            if let Some(u) = used.get_mut(si) {
                *u = true;
            }
            matched.push((si, qi));
        }
    }
    let reordered = matched.windows(2).any(|w| matches!(w, [a, b] if a.0 > b.0));
    let last_sent = matched.iter().map(|m| m.0).max();
    let last_quoted = matched.iter().map(|m| m.1).max();
    // With one side cut short, an element is certainly gone only if the other side still has
    // something that came after it (in the same order).
    let removed = sent
        .iter()
        .enumerate()
        .filter(|(i, _)| !used.get(*i).copied().unwrap_or(true))
        .filter(|(i, _)| quoted_complete || (!reordered && last_sent.is_some_and(|l| *i < l)))
        .map(|(_, s)| *s)
        .collect();
    let matched_q: Vec<usize> = matched.iter().map(|m| m.1).collect();
    let added = quoted
        .iter()
        .enumerate()
        .filter(|(i, _)| !matched_q.contains(i))
        .filter(|(i, _)| sent_complete || (!reordered && last_quoted.is_some_and(|l| *i < l)))
        .map(|(_, q)| *q)
        .collect();
    ListDiff {
        added,
        removed,
        reordered,
        matched,
    }
}

fn ext_type(item: &Item<'_>) -> u16 {
    match item.id {
        FieldId::Extension(t) => t,
        _ => 0,
    }
}

fn compare_extensions(s: &Walk<'_>, q: &Walk<'_>, out: &mut Vec<HelloChange>) {
    if s.item(FieldId::ExtensionsLength).is_none() || q.item(FieldId::ExtensionsLength).is_none() {
        return;
    }
    let st: Vec<u16> = s.extensions.iter().map(ext_type).collect();
    let qt: Vec<u16> = q.extensions.iter().map(ext_type).collect();
    let d = list_diff(&st, s.extensions_complete, &qt, q.extensions_complete);
    for &(si, qi) in &d.matched {
        let (Some(a), Some(b)) = (s.extensions.get(si), q.extensions.get(qi)) else {
            continue;
        };
        let typ = ext_type(a);
        if a.complete && b.complete {
            if a.data != b.data {
                let (sent, quoted) = describe_pair(typ, a.data, b.data);
                out.push(HelloChange::Changed {
                    field: a.id.name(),
                    sent,
                    quoted,
                });
            }
        } else {
            let n = a.data.len().min(b.data.len());
            let (pa, pb) = (prefix(a.data, n), prefix(b.data, n));
            if pa != pb {
                out.push(HelloChange::Changed {
                    field: a.id.name(),
                    sent: format!("{} (cut)", capped_hex(pa)),
                    quoted: format!("{} (cut)", capped_hex(pb)),
                });
            }
        }
    }
    for typ in d.added {
        let value = find_ext(&q.extensions, typ)
            .map(|v| describe_extension(typ, v))
            .unwrap_or_default();
        out.push(HelloChange::ExtensionAdded {
            name: extension_name(typ),
            value,
        });
    }
    for typ in d.removed {
        let value = find_ext(&s.extensions, typ)
            .map(|v| describe_extension(typ, v))
            .unwrap_or_default();
        out.push(HelloChange::ExtensionRemoved {
            name: extension_name(typ),
            value,
        });
    }
    if d.reordered {
        out.push(HelloChange::Reordered {
            field: "extensions".to_owned(),
        });
    }
}

fn find_ext<'a>(list: &[Item<'a>], typ: u16) -> Option<&'a [u8]> {
    list.iter().find(|i| ext_type(i) == typ).map(|i| i.data)
}

fn compare_trailing(s: &Walk<'_>, q: &Walk<'_>, out: &mut Vec<HelloChange>) {
    // Only when both hellos were read whole; a cut side has no trailing bytes to compare.
    if s.end.is_some() || q.end.is_some() {
        return;
    }
    let (a, b) = (
        s.trailing.unwrap_or_default(),
        q.trailing.unwrap_or_default(),
    );
    let n = a.len().min(b.len());
    if prefix(a, n) != prefix(b, n) {
        out.push(HelloChange::Changed {
            field: FieldId::Trailing.name(),
            sent: capped_hex(a),
            quoted: capped_hex(b),
        });
    } else if a.len() != b.len() {
        // The shorter one is cut (a quote that ends with the hello, most likely).
        out.push(HelloChange::TruncatedAt {
            field: FieldId::Trailing.name(),
            offset: s.body_end + n,
            mid_field: n > 0,
        });
    }
}

fn truncation(s: &Walk<'_>, q: &Walk<'_>) -> Option<HelloChange> {
    let end = match (s.end, q.end) {
        (Some(a), Some(b)) => {
            if a.offset <= b.offset {
                a
            } else {
                b
            }
        }
        (Some(e), None) | (None, Some(e)) => e,
        (None, None) => return None,
    };
    Some(HelloChange::TruncatedAt {
        field: end.id.name(),
        offset: end.offset,
        mid_field: end.mid_field,
    })
}

fn describe_pair(typ: u16, a: &[u8], b: &[u8]) -> (String, String) {
    let (da, db) = (describe_extension(typ, a), describe_extension(typ, b));
    if da != db {
        return (da, db);
    }
    let first = a
        .iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    (
        format!("{da} ({} bytes, differs from byte {first})", a.len()),
        format!("{db} ({} bytes)", b.len()),
    )
}

fn capped_hex(data: &[u8]) -> String {
    const CAP: usize = 32;
    match data.get(..CAP) {
        Some(head) if data.len() > CAP => format!("{}... ({} bytes)", hex(head), data.len()),
        _ => hex(data),
    }
}

/// A readable form of an extension's data; hex when it does not parse.
pub(crate) fn describe_extension(typ: u16, data: &[u8]) -> String {
    let parsed = match typ {
        0 => crate::records::server_name_of(data),
        10 => list16(data).map(|v| join(v.into_iter().map(group_name))),
        11 | 45 => Cursor::new(data)
            .vec8()
            .map(|v| join(v.iter().map(u8::to_string))),
        13 | 50 => list16(data).map(|v| join(v.into_iter().map(signature_scheme_name))),
        16 => alpn(data),
        43 => Cursor::new(data)
            .vec8()
            .filter(|v| v.len() % 2 == 0)
            .map(|v| join(u16s(v).map(version_name))),
        51 => key_shares(data),
        21 => Some(format!("{} bytes", data.len())),
        _ => None,
    };
    parsed.unwrap_or_else(|| capped_hex(data))
}

fn join(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

fn list16(data: &[u8]) -> Option<Vec<u16>> {
    let mut c = Cursor::new(data);
    let v = c.vec16()?;
    (c.is_empty() && v.len() % 2 == 0).then(|| u16s(v).collect())
}

fn alpn(data: &[u8]) -> Option<String> {
    let mut c = Cursor::new(data);
    let mut list = Cursor::new(c.vec16()?);
    let mut names = Vec::new();
    while !list.is_empty() {
        names.push(String::from_utf8_lossy(list.vec8()?).into_owned());
    }
    Some(names.join(", "))
}

fn key_shares(data: &[u8]) -> Option<String> {
    let mut c = Cursor::new(data);
    let mut list = Cursor::new(c.vec16()?);
    let mut shares = Vec::new();
    while !list.is_empty() {
        let group = list.u16()?;
        let key = list.vec16()?;
        shares.push(format!("{}({} bytes)", group_name(group), key.len()));
    }
    Some(shares.join(", "))
}

#[cfg(test)]
mod tests;
