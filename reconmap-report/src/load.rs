//! Loading records: JSON Lines files (one record per line, as `reconmap scan` writes), or a
//! JSON object or array (what `reconmap probe --json` prints, pretty-printed or not), from any
//! number of files (shards, vantage points), gzip-compressed or not. Bad lines are counted and kept with `file:line`;
//! only a load where nothing at all is read fails. A scan's metadata side file
//! (`FILE.meta.json`) is read when it sits next to an input.
use crate::model::{Record, Vantage};
use crate::ReportError;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Cursor, Read};
use std::path::{Path, PathBuf};

/// Bad lines kept with their reason (all are counted).
pub const MAX_BAD_LINES_KEPT: usize = 1000;

/// All loaded records with where they came from.
#[derive(Clone, Debug, Default)]
pub struct Dataset {
    pub records: Vec<Record>,
    pub inputs: Vec<InputFile>,
    /// The first [`MAX_BAD_LINES_KEPT`] bad lines.
    pub bad_lines: Vec<BadLine>,
    /// Every bad line, kept or not.
    pub bad_line_count: usize,
    /// Scan metadata side files found next to the inputs.
    pub metas: Vec<ScanMeta>,
}

/// One input file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputFile {
    pub path: PathBuf,
    pub records: usize,
    pub bad_lines: usize,
}

/// A line (or JSON value) that did not load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadLine {
    pub path: PathBuf,
    /// 1-based.
    pub line: usize,
    pub error: String,
}

impl fmt::Display for BadLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.path.display(), self.line, self.error)
    }
}

/// A scan's metadata (`reconmap scan` writes `RESULTS.meta.json`), flattened to key/value
/// pairs (`stats.finished = 98`) so that fields added later show up too.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScanMeta {
    pub path: PathBuf,
    pub fields: Vec<(String, String)>,
}

impl ScanMeta {
    /// The value of a top-level or dotted key.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

impl Dataset {
    /// A dataset of records given as JSON values (tests, benchmarks, synthetic data). Values
    /// that are not records count as bad lines of the pseudo-file `<memory>`.
    pub fn from_values(values: impl IntoIterator<Item = Value>) -> Self {
        let mut d = Dataset::default();
        let path = PathBuf::from("<memory>");
        let mut input = InputFile {
            path: path.clone(),
            records: 0,
            bad_lines: 0,
        };
        for (i, v) in values.into_iter().enumerate() {
            d.accept_value(v, &path, i + 1, &mut input);
        }
        d.inputs.push(input);
        d.name_vantages();
        d
    }

    /// Records without a `vantage` (older schema) take the vantage name that other records of
    /// the same prober address carry, when exactly one name is known for that address.
    pub fn name_vantages(&mut self) {
        let mut names: HashMap<String, BTreeSet<(String, Option<u32>)>> = HashMap::new();
        for r in &self.records {
            if let (Some(v), Some(prober)) = (&r.vantage, r.prober_addr()) {
                if let Some(name) = &v.name {
                    names
                        .entry(prober.to_string())
                        .or_default()
                        .insert((name.clone(), v.asn));
                }
            }
        }
        for r in &mut self.records {
            if r.vantage.as_ref().is_some_and(|v| v.name.is_some()) {
                continue;
            }
            let Some(prober) = r.prober_addr() else {
                continue;
            };
            let known = names.get(prober).filter(|n| n.len() == 1);
            if let Some((name, asn)) = known.and_then(|n| n.first()) {
                r.vantage = Some(Vantage {
                    name: Some(name.clone()),
                    prober: Some(prober.to_string()),
                    asn: *asn,
                });
            }
        }
    }

    fn bad(&mut self, input: &mut InputFile, line: usize, error: impl Into<String>) {
        input.bad_lines += 1;
        self.bad_line_count += 1;
        if self.bad_lines.len() < MAX_BAD_LINES_KEPT {
            self.bad_lines.push(BadLine {
                path: input.path.clone(),
                line,
                error: error.into(),
            });
        }
    }

    fn accept_record(&mut self, r: Record, input: &mut InputFile, line: usize) {
        if r.target.as_deref().is_none_or(str::is_empty) {
            self.bad(input, line, "record has no `target`");
            return;
        }
        input.records += 1;
        self.records.push(r);
    }

    fn accept_value(&mut self, v: Value, path: &Path, line: usize, input: &mut InputFile) {
        match v {
            Value::Object(_) if looks_like_meta(&v) => {
                self.metas.push(ScanMeta {
                    path: path.to_path_buf(),
                    fields: flatten(&v),
                });
            }
            Value::Object(_) => match serde_json::from_value::<Record>(v) {
                Ok(r) => self.accept_record(r, input, line),
                Err(e) => self.bad(input, line, e.to_string()),
            },
            Value::Array(items) => {
                for item in items {
                    self.accept_value(item, path, line, input);
                }
            }
            other => self.bad(
                input,
                line,
                format!("expected a JSON object, found {}", kind(&other)),
            ),
        }
    }
}

/// Loads every file; bad lines are counted, not fatal, unless no record loads at all.
pub fn load_inputs(paths: &[PathBuf]) -> Result<Dataset, ReportError> {
    if paths.is_empty() {
        return Err(ReportError::NoInputs);
    }
    let mut d = Dataset::default();
    let mut metas_seen = BTreeSet::new();
    for path in paths {
        let mut input = InputFile {
            path: path.clone(),
            records: 0,
            bad_lines: 0,
        };
        let io = |source| ReportError::Io {
            path: path.clone(),
            source,
        };
        let mut reader = BufReader::new(File::open(path).map_err(io)?);
        if reader.fill_buf().map_err(io)?.starts_with(&GZIP_MAGIC) {
            let unzipped = BufReader::new(flate2::bufread::MultiGzDecoder::new(reader));
            load_reader(&mut d, unzipped, &mut input).map_err(io)?;
        } else {
            load_reader(&mut d, reader, &mut input).map_err(io)?;
        }
        d.inputs.push(input);
        for meta_path in meta_paths(path) {
            if meta_path.is_file() && metas_seen.insert(meta_path.clone()) {
                load_meta(&mut d, &meta_path);
                break;
            }
        }
    }
    d.name_vantages();
    if d.records.is_empty() {
        let first = d
            .bad_lines
            .first()
            .map(|b| format!(": {b}"))
            .unwrap_or_default();
        return Err(ReportError::NothingLoaded {
            files: paths.len(),
            bad: d.bad_line_count,
            first,
        });
    }
    Ok(d)
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Where a scan's metadata for this results file may be: `FILE.meta.json`, or for a
/// compressed `FILE.gz`, also `FILE.meta.json`.
fn meta_paths(path: &Path) -> Vec<PathBuf> {
    let text = path.display().to_string();
    let mut out = vec![PathBuf::from(format!("{text}.meta.json"))];
    if let Some(stem) = text.strip_suffix(".gz") {
        out.push(PathBuf::from(format!("{stem}.meta.json")));
    }
    out
}

/// Reads one file: as a stream of JSON values when it opens like pretty-printed JSON or an
/// array, else line by line (JSON Lines, where one bad line spoils nothing else).
fn load_reader<R: BufRead>(
    d: &mut Dataset,
    mut r: R,
    input: &mut InputFile,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut line_no = 0;
    // The first non-blank line decides the format.
    loop {
        buf.clear();
        if r.read_until(b'\n', &mut buf)? == 0 {
            return Ok(());
        }
        line_no += 1;
        if !buf.iter().all(u8::is_ascii_whitespace) {
            break;
        }
    }
    // Pretty-printed JSON opens with a line holding only `{`, or with `[`.
    let trimmed = buf.trim_ascii();
    let stream_mode = trimmed == b"{" || trimmed.first() == Some(&b'[');
    if !stream_mode {
        load_line(d, &buf, input, line_no);
        loop {
            buf.clear();
            if r.read_until(b'\n', &mut buf)? == 0 {
                return Ok(());
            }
            line_no += 1;
            if !buf.iter().all(u8::is_ascii_whitespace) {
                load_line(d, &buf, input, line_no);
            }
        }
    }
    let first_line = line_no;
    let stream = Cursor::new(std::mem::take(&mut buf)).chain(r);
    let values = serde_json::Deserializer::from_reader(stream).into_iter::<Value>();
    for v in values {
        match v {
            Ok(v) => d.accept_value(v, &input.path.clone(), first_line, input),
            Err(e) if e.is_io() => return Err(std::io::Error::other(e)),
            Err(e) => {
                // A JSON syntax error: the rest of the stream cannot be resynchronised.
                let line = first_line + e.line().saturating_sub(1);
                d.bad(input, line, format!("{e} (rest of file skipped)"));
                break;
            }
        }
    }
    Ok(())
}

fn starts_with(buf: &[u8], c: u8) -> bool {
    buf.iter().find(|b| !b.is_ascii_whitespace()) == Some(&c)
}

fn load_line(d: &mut Dataset, line: &[u8], input: &mut InputFile, line_no: usize) {
    if !starts_with(line, b'{') {
        match serde_json::from_slice::<Value>(line) {
            Ok(v) => d.accept_value(v, &input.path.clone(), line_no, input),
            Err(e) => d.bad(input, line_no, e.to_string()),
        }
        return;
    }
    match serde_json::from_slice::<Record>(line) {
        Ok(r) if r.target.is_none() => {
            // Maybe a scan's metadata object given as an input.
            match serde_json::from_slice::<Value>(line) {
                Ok(v) if looks_like_meta(&v) => {
                    d.accept_value(v, &input.path.clone(), line_no, input)
                }
                _ => d.accept_record(r, input, line_no),
            }
        }
        Ok(r) => d.accept_record(r, input, line_no),
        Err(e) => d.bad(input, line_no, e.to_string()),
    }
}

fn load_meta(d: &mut Dataset, path: &Path) {
    let parsed = std::fs::read(path)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice::<Value>(&b).map_err(|e| e.to_string()));
    match parsed {
        Ok(v @ Value::Object(_)) => d.metas.push(ScanMeta {
            path: path.to_path_buf(),
            fields: flatten(&v),
        }),
        Ok(_) => d.metas.push(ScanMeta {
            path: path.to_path_buf(),
            fields: vec![("error".into(), "not a JSON object".into())],
        }),
        Err(e) => d.metas.push(ScanMeta {
            path: path.to_path_buf(),
            fields: vec![("error".into(), e)],
        }),
    }
}

/// A scan metadata object rather than a record: it has `args` and no `target`.
fn looks_like_meta(v: &Value) -> bool {
    v.get("target").is_none() && v.get("args").is_some() && v.get("tool").is_some()
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Flattens an object to `key.sub = value` pairs; lists of scalars are joined with spaces.
fn flatten(v: &Value) -> Vec<(String, String)> {
    fn walk(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, v, out);
                }
            }
            Value::Array(items) if items.iter().all(|i| !i.is_object() && !i.is_array()) => {
                let joined = items.iter().map(scalar).collect::<Vec<_>>().join(" ");
                out.push((prefix.to_string(), joined));
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(&format!("{prefix}.{i}"), item, out);
                }
            }
            other => out.push((prefix.to_string(), scalar(other))),
        }
    }
    let mut out = Vec::new();
    walk("", v, &mut out);
    out
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(text: &str) -> Dataset {
        let mut d = Dataset::default();
        let mut input = InputFile {
            path: PathBuf::from("t.jsonl"),
            records: 0,
            bad_lines: 0,
        };
        load_reader(&mut d, Cursor::new(text.as_bytes().to_vec()), &mut input).unwrap();
        d.inputs.push(input);
        d.name_vantages();
        d
    }

    #[test]
    fn test_jsonl_with_bad_lines() {
        let d = load_str(concat!(
            r#"{"target":"192.0.2.1:25","verdict":"clean"}"#,
            "\n\n",
            "{not json\n",
            r#"{"verdict":"clean"}"#,
            "\n",
            "42\n",
            r#"{"target":"192.0.2.2:25","verdict":"stripped"}"#,
            "\n"
        ));
        assert_eq!(d.records.len(), 2);
        assert_eq!(d.bad_line_count, 3);
        let lines: Vec<usize> = d.bad_lines.iter().map(|b| b.line).collect();
        assert_eq!(lines, vec![3, 4, 5]);
        assert!(d.bad_lines[1].error.contains("target"));
        assert!(d.bad_lines[0].to_string().starts_with("t.jsonl:3: "));
        assert_eq!(d.inputs[0].records, 2);
    }

    #[test]
    fn test_pretty_object_and_array() {
        let pretty = "{\n  \"target\": \"192.0.2.1:25\",\n  \"verdict\": \"clean\"\n}\n";
        assert_eq!(load_str(pretty).records.len(), 1);
        let array = "[\n {\"target\": \"192.0.2.1:25\"},\n {\"target\": \"192.0.2.2:25\"}, 7\n]\n";
        let d = load_str(array);
        assert_eq!(d.records.len(), 2);
        assert_eq!(d.bad_line_count, 1);
        let two_pretty = format!("{pretty}{pretty}");
        assert_eq!(load_str(&two_pretty).records.len(), 2);
    }

    #[test]
    fn test_broken_pretty_json_reports_line() {
        let text = "{\n \"target\": \"192.0.2.1:25\"\n}\n{\n \"target\": ,\n}\n";
        let d = load_str(text);
        assert_eq!(d.records.len(), 1);
        assert_eq!(d.bad_line_count, 1);
        assert_eq!(d.bad_lines[0].line, 5);
    }

    #[test]
    fn test_meta_object_is_not_a_bad_line() {
        let d = load_str(
            r#"{"tool":"reconmap","args":["reconmap","scan"],"seed":7,"stats":{"finished":3}}"#,
        );
        assert!(d.records.is_empty());
        assert_eq!(d.bad_line_count, 0);
        assert_eq!(d.metas[0].get("seed"), Some("7"));
        assert_eq!(d.metas[0].get("stats.finished"), Some("3"));
        assert_eq!(d.metas[0].get("args"), Some("reconmap scan"));
    }

    #[test]
    fn test_invalid_utf8_line_is_bad_not_fatal() {
        let mut bytes = br#"{"target":"192.0.2.1:25"}"#.to_vec();
        bytes.extend_from_slice(b"\n{\"target\":\"\xff\xfe\"}\n");
        let mut d = Dataset::default();
        let mut input = InputFile {
            path: PathBuf::from("x"),
            records: 0,
            bad_lines: 0,
        };
        load_reader(&mut d, Cursor::new(bytes), &mut input).unwrap();
        assert_eq!(d.records.len(), 1);
        assert_eq!(d.bad_line_count, 1);
    }

    #[test]
    fn test_older_records_take_the_vantage_name_of_their_prober() {
        let d = Dataset::from_values(vec![
            serde_json::json!({"target": "192.0.2.1:25", "prober": "198.51.100.1",
                "vantage": {"name": "home", "prober": "198.51.100.1", "asn": 64496}}),
            serde_json::json!({"target": "192.0.2.2:25", "prober": "198.51.100.1"}),
            serde_json::json!({"target": "192.0.2.3:25", "prober": "198.51.100.2"}),
        ]);
        let names: Vec<&str> = d.records.iter().map(|r| r.vantage_name()).collect();
        assert_eq!(names, vec!["home", "home", "198.51.100.2"]);
        assert_eq!(d.records[1].vantage_asn(), Some(64496));
    }

    #[test]
    fn test_gzip_input_and_its_metadata() {
        use std::io::Write as _;
        let dir = std::env::temp_dir().join(format!("rm-load-gz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("results.jsonl.gz");
        let mut gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&path).unwrap(),
            flate2::Compression::default(),
        );
        writeln!(gz, r#"{{"target":"192.0.2.1:25","verdict":"clean"}}"#).unwrap();
        writeln!(gz, "bad").unwrap();
        gz.finish().unwrap();
        std::fs::write(
            dir.join("results.jsonl.meta.json"),
            r#"{"tool":"reconmap","args":["reconmap","scan"],"seed":9}"#,
        )
        .unwrap();
        let d = load_inputs(std::slice::from_ref(&path)).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(d.records.len(), 1);
        assert_eq!(d.bad_lines[0].line, 2);
        assert_eq!(d.metas[0].get("seed"), Some("9"));
    }

    #[test]
    fn test_nothing_loaded_is_an_error() {
        let dir = std::env::temp_dir().join(format!("rm-load-empty-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.jsonl");
        std::fs::write(&path, "nope\n").unwrap();
        let e = load_inputs(std::slice::from_ref(&path)).unwrap_err();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(e.to_string().contains("bad.jsonl:1: "), "{e}");
        assert!(matches!(load_inputs(&[]), Err(ReportError::NoInputs)));
    }

    #[test]
    fn test_from_values() {
        let d = Dataset::from_values(vec![
            serde_json::json!({"target": "192.0.2.1:25"}),
            serde_json::json!("x"),
        ]);
        assert_eq!(d.records.len(), 1);
        assert_eq!(d.bad_line_count, 1);
    }
}
