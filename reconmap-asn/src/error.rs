//! Errors of loading the prefix-to-AS and AS-name files.
use std::fmt;
use std::io;
use std::path::PathBuf;

use serde::Serialize;

/// Where in the input something went wrong: the file (when loaded from a path) and the
/// 1-based line number. Displays as `FILE:LINE` or `line LINE`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    /// The file, when the input was opened by path.
    pub path: Option<PathBuf>,
    /// 1-based line number.
    pub line: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(path) => write!(f, "{}:{}", path.display(), self.line),
            None => write!(f, "line {}", self.line),
        }
    }
}

/// Why one line of an input file was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "detail")]
pub enum LineError {
    /// The line is not valid UTF-8.
    #[error("not valid UTF-8")]
    NotUtf8,
    /// The line exceeds [`crate::MAX_LINE_BYTES`].
    #[error("line longer than {} bytes", crate::MAX_LINE_BYTES)]
    TooLong,
    /// A prefix2as line without exactly three fields.
    #[error("expected 3 tab-separated fields (prefix, length, ASN), found {0}")]
    FieldCount(usize),
    /// The prefix field is not an IPv4 or IPv6 address.
    #[error("invalid prefix address {0:?}")]
    Address(String),
    /// The length field is not a number within the address family's width.
    #[error("invalid prefix length {length:?} for {family} (0..={max})")]
    PrefixLength {
        /// The field as written.
        length: String,
        /// `IPv4` or `IPv6`.
        family: &'static str,
        /// 32 or 128.
        max: u8,
    },
    /// An AS number that is not a decimal number in 0..=4294967295.
    #[error("invalid AS number {0:?}")]
    Asn(String),
    /// An as2org line with too few `|`-separated fields for its section.
    #[error(
        "expected at least {expected} '|'-separated fields ({section} section), found {found}"
    )]
    As2orgFieldCount {
        /// `aut` or `org`.
        section: &'static str,
        /// The fields that section needs.
        expected: usize,
        /// The fields on the line.
        found: usize,
    },
    /// An as2org `# format:` header naming neither the `aut` nor the `org_id` section.
    #[error("unknown as2org section header {0:?}")]
    As2orgHeader(String),
    /// More distinct origin sets than a `u32` can number (not reachable with real data).
    #[error("more than 4294967295 distinct origin sets")]
    TooManyOriginSets,
    /// An `asn<TAB>name` line without a name.
    #[error("no name after the AS number")]
    MissingName,
}

/// A failure to load a prefix-to-AS or AS-name file.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be opened.
    #[error("cannot open {}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        source: io::Error,
    },
    /// Reading or decompressing failed (a truncated or corrupt gzip stream shows up here).
    #[error("read error after {at}")]
    Read {
        /// The last line read completely.
        at: Location,
        /// The reason.
        source: io::Error,
    },
    /// A line is malformed (strict mode).
    #[error("{at}: {reason}")]
    BadLine {
        /// The file and line.
        at: Location,
        /// What is wrong with it.
        reason: LineError,
    },
}

/// One rejected line, kept in lenient mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BadLine {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub reason: LineError,
}

/// How many lines were rejected in lenient mode, with the first few of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SkippedLines {
    /// Lines rejected in total.
    pub count: usize,
    /// The first [`SkippedLines::KEPT`] of them.
    pub first: Vec<BadLine>,
}

impl SkippedLines {
    /// How many rejected lines are kept for the report.
    pub const KEPT: usize = 5;

    pub(crate) fn record(&mut self, line: usize, reason: LineError) {
        self.count += 1;
        if self.first.len() < Self::KEPT {
            self.first.push(BadLine { line, reason });
        }
    }

    /// No line was rejected.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// What to do with a malformed line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Strictness {
    /// Stop at the first malformed line with [`LoadError::BadLine`].
    #[default]
    Strict,
    /// Skip malformed lines, counting them in [`SkippedLines`].
    Lenient,
}
