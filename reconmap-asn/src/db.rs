//! [`AsDb`]: the prefix-to-AS table, loaded once, answering longest-prefix-match lookups.
use std::collections::HashMap;
use std::io::BufRead;
use std::net::IpAddr;
use std::path::Path;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use prefix_trie::PrefixMap;
use serde::{Deserialize, Serialize};

use crate::error::{LineError, LoadError, SkippedLines, Strictness};
use crate::input;
use crate::prefix2as;

/// The most specific announced prefix covering an address, and who originates it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Origin {
    /// The matched prefix (host bits cleared).
    pub prefix: IpNet,
    /// Its origin ASes: one for most prefixes, several for multi-origin prefixes and AS
    /// sets, in the order the file lists them. Never empty.
    pub asns: Vec<u32>,
}

/// A prefix-to-AS table (CAIDA / RouteViews prefix2as), IPv4 and IPv6.
///
/// Each prefix maps to an index into a table of distinct origin sets, so the ~75,000
/// different origin sets of a real file are stored once, not once per prefix.
#[derive(Debug, Clone, Default)]
pub struct AsDb {
    v4: PrefixMap<Ipv4Net, u32>,
    v6: PrefixMap<Ipv6Net, u32>,
    origin_sets: Vec<Box<[u32]>>,
    skipped: SkippedLines,
}

impl AsDb {
    /// Loads a prefix2as file (plain or gzip), stopping at the first malformed line.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, LoadError> {
        Self::load_with(path, Strictness::Strict)
    }

    /// Loads a prefix2as file (plain or gzip) with the given handling of malformed lines.
    pub fn load_with(path: impl AsRef<Path>, strictness: Strictness) -> Result<Self, LoadError> {
        let path = path.as_ref();
        let file = input::open(path)?;
        Self::read(file, Some(path), strictness)
    }

    /// Reads a prefix2as table (plain or gzip) from `reader`, stopping at the first malformed
    /// line.
    pub fn from_reader(reader: impl BufRead) -> Result<Self, LoadError> {
        Self::from_reader_with(reader, Strictness::Strict)
    }

    /// Reads a prefix2as table (plain or gzip) from `reader` with the given handling of
    /// malformed lines.
    pub fn from_reader_with(
        reader: impl BufRead,
        strictness: Strictness,
    ) -> Result<Self, LoadError> {
        Self::read(reader, None, strictness)
    }

    fn read(
        reader: impl BufRead,
        path: Option<&Path>,
        strictness: Strictness,
    ) -> Result<Self, LoadError> {
        let mut builder = Builder::default();
        let mut skipped = SkippedLines::default();
        let mut asns = Vec::with_capacity(4);
        input::read_lines(reader, path, strictness, &mut skipped, |line| {
            let text = std::str::from_utf8(line.bytes).map_err(|_| LineError::NotUtf8)?;
            match prefix2as::parse_line(text, &mut asns)? {
                Some(prefix) => builder.insert(prefix, &asns),
                None => Ok(()),
            }
        })?;
        Ok(builder.finish(skipped))
    }

    /// The longest prefix covering `ip` and its origin ASes; `None` when no prefix covers it.
    /// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) is looked up as IPv4.
    pub fn lookup(&self, ip: IpAddr) -> Option<Origin> {
        let (prefix, set) = self.lookup_index(ip)?;
        let asns = self.origin_sets.get(set)?.to_vec();
        Some(Origin { prefix, asns })
    }

    /// The origin ASes of the longest prefix covering `ip`, without allocating; empty when
    /// no prefix covers it.
    pub fn origins(&self, ip: IpAddr) -> &[u32] {
        self.lookup_index(ip)
            .and_then(|(_, set)| self.origin_sets.get(set))
            .map_or(&[], |set| set)
    }

    fn lookup_index(&self, ip: IpAddr) -> Option<(IpNet, usize)> {
        match ip.to_canonical() {
            IpAddr::V4(v4) => {
                let host = Ipv4Net::from(v4);
                let (prefix, set) = self.v4.get_lpm(&host)?;
                Some((IpNet::V4(prefix), *set as usize))
            }
            IpAddr::V6(v6) => {
                let host = Ipv6Net::from(v6);
                let (prefix, set) = self.v6.get_lpm(&host)?;
                Some((IpNet::V6(prefix), *set as usize))
            }
        }
    }

    /// Number of prefixes (IPv4 and IPv6).
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// No prefix was loaded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of IPv4 prefixes.
    pub fn ipv4_len(&self) -> usize {
        self.v4.len()
    }

    /// Number of IPv6 prefixes.
    pub fn ipv6_len(&self) -> usize {
        self.v6.len()
    }

    /// Number of distinct origin sets (single ASes count as sets of one).
    pub fn origin_set_count(&self) -> usize {
        self.origin_sets.len()
    }

    /// Lines skipped in lenient mode (always empty after a strict load).
    pub fn skipped(&self) -> &SkippedLines {
        &self.skipped
    }

    /// Bytes held by the tables: both tries plus the origin sets.
    pub fn mem_size(&self) -> usize {
        let sets: usize = self
            .origin_sets
            .iter()
            .map(|set| std::mem::size_of::<Box<[u32]>>() + std::mem::size_of_val(&**set))
            .sum();
        self.v4.mem_size() + self.v6.mem_size() + sets
    }
}

/// Collects prefixes while loading; interns origin sets.
#[derive(Default)]
struct Builder {
    v4: PrefixMap<Ipv4Net, u32>,
    v6: PrefixMap<Ipv6Net, u32>,
    origin_sets: Vec<Box<[u32]>>,
    set_index: HashMap<Box<[u32]>, u32>,
}

impl Builder {
    /// Adds a prefix. A prefix listed twice gets the union of both origin lists.
    fn insert(&mut self, prefix: IpNet, asns: &[u32]) -> Result<(), LineError> {
        let earlier = match prefix {
            IpNet::V4(p) => self.v4.get(&p).copied(),
            IpNet::V6(p) => self.v6.get(&p).copied(),
        };
        let set = match earlier.and_then(|i| self.origin_sets.get(i as usize)) {
            Some(existing) => {
                let mut union = existing.to_vec();
                for asn in asns {
                    if !union.contains(asn) {
                        union.push(*asn);
                    }
                }
                self.intern(&union)?
            }
            None => self.intern(asns)?,
        };
        match prefix {
            IpNet::V4(p) => self.v4.insert(p, set),
            IpNet::V6(p) => self.v6.insert(p, set),
        };
        Ok(())
    }

    fn intern(&mut self, asns: &[u32]) -> Result<u32, LineError> {
        if let Some(index) = self.set_index.get(asns) {
            return Ok(*index);
        }
        let index =
            u32::try_from(self.origin_sets.len()).map_err(|_| LineError::TooManyOriginSets)?;
        self.origin_sets.push(asns.into());
        self.set_index.insert(asns.into(), index);
        Ok(index)
    }

    fn finish(mut self, skipped: SkippedLines) -> AsDb {
        self.origin_sets.shrink_to_fit();
        AsDb {
            v4: self.v4,
            v6: self.v6,
            origin_sets: self.origin_sets,
            skipped,
        }
    }
}
