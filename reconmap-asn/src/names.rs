//! [`AsNames`]: a display name per AS number, from a CAIDA as2org file or a simple
//! `asn<TAB>name` list (plain or gzip; the format is detected from the content).
use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;

use serde::Serialize;

use crate::error::{LineError, LoadError, SkippedLines, Strictness};
use crate::input;
use crate::prefix2as::parse_asn;

/// Which format an AS-name file was read as.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NamesFormat {
    /// CAIDA as2org (`YYYYMMDD.as-org2info.txt`): an `aut|…` section and an `org_id|…`
    /// section, each introduced by a `# format:` comment line.
    As2org,
    /// One `asn<TAB>name` per line (`AS` before the number allowed; a space instead of the
    /// tab allowed). Also the format chosen for a file without data lines.
    #[default]
    Simple,
}

/// AS number to display name.
///
/// For as2org the name is the organisation's name (`org_name` of the AS's `org_id`), or
/// the AS's own `aut_name` when the organisation is missing or has an empty name.
#[derive(Debug, Clone, Default)]
pub struct AsNames {
    names: HashMap<u32, String>,
    format: NamesFormat,
    skipped: SkippedLines,
}

impl AsNames {
    /// Loads an AS-name file (plain or gzip), stopping at the first malformed line.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, LoadError> {
        Self::load_with(path, Strictness::Strict)
    }

    /// Loads an AS-name file (plain or gzip) with the given handling of malformed lines.
    pub fn load_with(path: impl AsRef<Path>, strictness: Strictness) -> Result<Self, LoadError> {
        let path = path.as_ref();
        let file = input::open(path)?;
        Self::read(file, Some(path), strictness)
    }

    /// Reads an AS-name file from `reader`, stopping at the first malformed line.
    pub fn from_reader(reader: impl BufRead) -> Result<Self, LoadError> {
        Self::from_reader_with(reader, Strictness::Strict)
    }

    /// Reads an AS-name file from `reader` with the given handling of malformed lines.
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
        let mut parser = Parser::default();
        let mut skipped = SkippedLines::default();
        input::read_lines(reader, path, strictness, &mut skipped, |line| {
            // Registry names are not always clean UTF-8: keep what can be shown.
            parser.line(&String::from_utf8_lossy(line.bytes))
        })?;
        Ok(parser.finish(skipped))
    }

    /// The display name of `asn`.
    pub fn name(&self, asn: u32) -> Option<&str> {
        self.names.get(&asn).map(String::as_str)
    }

    /// `AS64500 (Example Org)`, or `AS64500` when the name is unknown.
    pub fn label(&self, asn: u32) -> String {
        match self.name(asn) {
            Some(name) => format!("AS{asn} ({name})"),
            None => format!("AS{asn}"),
        }
    }

    /// Number of ASes with a name.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// No name was loaded.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The format the file was read as.
    pub fn format(&self) -> NamesFormat {
        self.format
    }

    /// Lines skipped in lenient mode (always empty after a strict load).
    pub fn skipped(&self) -> &SkippedLines {
        &self.skipped
    }
}

/// Where the parser is in the file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum State {
    /// Nothing but comments and blank lines so far.
    #[default]
    Start,
    /// Decided: `asn<TAB>name`.
    Simple,
    /// as2org, in the section of AS entries (`# format:aut|…`).
    As2orgAut,
    /// as2org, in the section of organisations (`# format:org_id|…`).
    As2orgOrg,
}

/// An AS entry of an as2org file.
struct AutEntry {
    aut_name: String,
    org_id: String,
}

#[derive(Default)]
struct Parser {
    state: State,
    simple: HashMap<u32, String>,
    auts: HashMap<u32, AutEntry>,
    orgs: HashMap<String, String>,
}

impl Parser {
    fn line(&mut self, raw: &str) -> Result<(), LineError> {
        let text = raw.trim();
        if text.is_empty() {
            return Ok(());
        }
        if let Some(comment) = text.strip_prefix('#') {
            if self.state != State::Simple {
                if let Some(header) = format_header(comment) {
                    self.state = section_of(header)?;
                }
            }
            return Ok(());
        }
        match self.state {
            State::Start | State::Simple => {
                self.state = State::Simple;
                self.simple_line(text)
            }
            State::As2orgAut => self.aut_line(text),
            State::As2orgOrg => self.org_line(text),
        }
    }

    fn simple_line(&mut self, text: &str) -> Result<(), LineError> {
        let (asn_field, name) = match text.split_once('\t') {
            Some(parts) => parts,
            None => text
                .split_once(|c: char| c.is_ascii_whitespace())
                .unwrap_or((text, "")),
        };
        let asn_field = asn_field.trim();
        let digits = asn_field
            .strip_prefix("AS")
            .or_else(|| asn_field.strip_prefix("as"))
            .unwrap_or(asn_field);
        let asn = parse_asn(digits).ok_or_else(|| LineError::Asn(asn_field.to_string()))?;
        let name = name.trim();
        if name.is_empty() {
            return Err(LineError::MissingName);
        }
        self.simple.insert(asn, name.to_string());
        Ok(())
    }

    /// `aut|changed|aut_name|org_id|opaque_id|source`; a `|` inside `aut_name` is kept by
    /// counting the last three fields from the end.
    fn aut_line(&mut self, text: &str) -> Result<(), LineError> {
        let fields: Vec<&str> = text.split('|').collect();
        let [aut, _changed, name @ .., org_id, _opaque_id, _source] = fields.as_slice() else {
            return Err(as2org_field_count("aut", 6, fields.len()));
        };
        if name.is_empty() {
            return Err(as2org_field_count("aut", 6, fields.len()));
        }
        let asn = parse_asn(aut.trim()).ok_or_else(|| LineError::Asn(aut.to_string()))?;
        self.auts.insert(
            asn,
            AutEntry {
                aut_name: name.join("|").trim().to_string(),
                org_id: org_id.trim().to_string(),
            },
        );
        Ok(())
    }

    /// `org_id|changed|org_name|country|source`; a `|` inside `org_name` is kept by
    /// counting the last two fields from the end.
    fn org_line(&mut self, text: &str) -> Result<(), LineError> {
        let fields: Vec<&str> = text.split('|').collect();
        let [org_id, _changed, name @ .., _country, _source] = fields.as_slice() else {
            return Err(as2org_field_count("org", 5, fields.len()));
        };
        if name.is_empty() {
            return Err(as2org_field_count("org", 5, fields.len()));
        }
        self.orgs
            .insert(org_id.trim().to_string(), name.join("|").trim().to_string());
        Ok(())
    }

    fn finish(self, skipped: SkippedLines) -> AsNames {
        let (format, names) = match self.state {
            State::Start | State::Simple => (NamesFormat::Simple, self.simple),
            State::As2orgAut | State::As2orgOrg => {
                let orgs = self.orgs;
                let names = self
                    .auts
                    .into_iter()
                    .filter_map(|(asn, aut)| {
                        let org_name = orgs.get(&aut.org_id).filter(|n| !n.is_empty());
                        match org_name {
                            Some(name) => Some((asn, name.clone())),
                            None if !aut.aut_name.is_empty() => Some((asn, aut.aut_name)),
                            None => None,
                        }
                    })
                    .collect();
                (NamesFormat::As2org, names)
            }
        };
        AsNames {
            names,
            format,
            skipped,
        }
    }
}

fn as2org_field_count(section: &'static str, expected: usize, found: usize) -> LineError {
    LineError::As2orgFieldCount {
        section,
        expected,
        found,
    }
}

/// The field list of a `# format:` comment (the text after `#`), if it is one.
fn format_header(comment: &str) -> Option<&str> {
    let body = comment.trim_start();
    let head = body.get(..7)?;
    head.eq_ignore_ascii_case("format:")
        .then(|| body.get(7..))
        .flatten()
        .map(str::trim)
}

/// The as2org section a `# format:` header starts, by its first field name.
fn section_of(header: &str) -> Result<State, LineError> {
    let first = header.split('|').next().unwrap_or_default().trim();
    match first {
        "aut" => Ok(State::As2orgAut),
        "org_id" => Ok(State::As2orgOrg),
        _ => Err(LineError::As2orgHeader(header.to_string())),
    }
}
