//! The JSON Lines results file: one record per target, written whole (never torn or
//! interleaved), flushed regularly, and readable by `--resume`: targets with a complete record
//! are skipped; records that are not complete (interrupted, not probed, a caught bug) are
//! removed from the file and their targets probed again, so every target ends with exactly one
//! record.
use std::collections::HashSet;
use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::net::SocketAddrV4;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Errors of the results file, each naming the file.
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    #[error("results file {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("results file {path} exists; use --resume to continue it or choose another file")]
    Exists { path: PathBuf },
    #[error(transparent)]
    Output(#[from] super::files::OutputError),
}

/// Rules of records that do not hold a complete trace (`reconmap_core::verdict::RULES`).
const INCOMPLETE_RULES: [&str; 3] = ["interrupted", "not_probed", "internal_error"];

/// What `--resume` found in an existing file.
#[derive(Debug, Default)]
pub struct ResumeState {
    pub done: HashSet<SocketAddrV4>,
    /// Bytes of an incomplete last line that were cut off (a crash mid-write).
    pub truncated_bytes: u64,
    /// Complete lines that were not a record with a `target` (kept, but not counted as done).
    pub unreadable_lines: usize,
    /// Records of targets that were not probed to the end: removed, to be probed again.
    pub incomplete_dropped: usize,
}

/// Appends records to a JSON Lines file.
pub struct ResultsWriter {
    path: PathBuf,
    out: BufWriter<File>,
    last_flush: Instant,
    flush_every: Duration,
}

impl ResultsWriter {
    /// Creates the file (refusing to overwrite one unless `resume`), or on `resume` reads the
    /// targets already done and continues after the last complete line.
    pub fn open(path: &Path, resume: bool) -> Result<(Self, ResumeState), ResultsError> {
        let io = |source| ResultsError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut state = ResumeState::default();
        let exists = std::fs::symlink_metadata(path).is_ok();
        let file = if resume && exists {
            let mut file = super::files::open_no_follow(path, false, true)?;
            let mut text = Vec::new();
            file.read_to_end(&mut text).map_err(io)?;
            let complete = text.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
            state.truncated_bytes = (text.len() - complete) as u64;
            let mut kept = Vec::with_capacity(complete);
            for line in text
                .get(..complete)
                .unwrap_or_default()
                .split(|&b| b == b'\n')
            {
                if line.is_empty() {
                    continue;
                }
                match record_of(line) {
                    Some((_, false)) => {
                        state.incomplete_dropped += 1;
                        continue;
                    }
                    Some((t, true)) => {
                        state.done.insert(t);
                    }
                    None => state.unreadable_lines += 1,
                }
                kept.extend_from_slice(line);
                kept.push(b'\n');
            }
            if state.incomplete_dropped > 0 || state.truncated_bytes > 0 {
                // Rewrite without them (atomically), then continue after the last record.
                drop(file);
                super::files::replace_no_follow(path, &kept)?;
                super::files::open_no_follow(path, true, false)?
            } else {
                file.seek(SeekFrom::End(0)).map_err(io)?;
                file
            }
        } else {
            if exists && !resume {
                let is_empty = std::fs::metadata(path)
                    .map(|m| m.len() == 0)
                    .unwrap_or(false);
                if !is_empty {
                    return Err(ResultsError::Exists {
                        path: path.to_path_buf(),
                    });
                }
            }
            super::files::open_no_follow(path, false, false)?
        };
        Ok((
            Self {
                path: path.to_path_buf(),
                out: BufWriter::with_capacity(64 * 1024, file),
                last_flush: Instant::now(),
                flush_every: Duration::from_secs(1),
            },
            state,
        ))
    }

    /// Writes one record (a single JSON object without newlines) as one line.
    pub fn write_record(&mut self, json: &str) -> Result<(), ResultsError> {
        let io = |source| ResultsError::Io {
            path: self.path.clone(),
            source,
        };
        debug_assert!(!json.contains('\n'));
        let mut line = String::with_capacity(json.len() + 1);
        line.push_str(json);
        line.push('\n');
        self.out.write_all(line.as_bytes()).map_err(io)?;
        if self.last_flush.elapsed() >= self.flush_every {
            self.flush()?;
        }
        Ok(())
    }

    pub fn flush(&mut self) -> Result<(), ResultsError> {
        self.last_flush = Instant::now();
        self.out.flush().map_err(|source| ResultsError::Io {
            path: self.path.clone(),
            source,
        })
    }
}

impl Drop for ResultsWriter {
    fn drop(&mut self) {
        let _ = self.out.flush();
    }
}

/// A record's target and whether it is complete.
fn record_of(line: &[u8]) -> Option<(SocketAddrV4, bool)> {
    let v: serde_json::Value = serde_json::from_slice(line).ok()?;
    let target = v.get("target")?.as_str()?.parse().ok()?;
    let rule = v.get("rule").and_then(|r| r.as_str()).unwrap_or_default();
    Some((target, !INCOMPLETE_RULES.contains(&rule)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_names_its_cause_once() {
        // Issue: `(os error 28): ...(os error 28)`: a message that embedded its source was
        // printed again by the `{:#}` chain at the binary's edge.
        let full = || std::io::Error::from_raw_os_error(28);
        let errors = [
            anyhow::Error::from(ResultsError::Io {
                path: "r.jsonl".into(),
                source: full(),
            }),
            anyhow::Error::from(ResultsError::Output(super::super::files::OutputError::Io {
                path: "r.jsonl.meta.json".into(),
                source: full(),
            })),
        ];
        for e in errors {
            let text = format!("{e:#}");
            assert_eq!(text.matches("os error 28").count(), 1, "{text}");
            assert!(text.contains("r.jsonl"), "{text}");
        }
    }

    fn tmp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!(
            "reconmap-results-{}-{name}.jsonl",
            std::process::id()
        ))
    }

    #[test]
    fn resume_skips_done_targets_and_cuts_a_torn_line() {
        let path = tmp("resume");
        std::fs::write(
            &path,
            "{\"target\":\"192.0.2.1:25\",\"verdict\":\"clean\"}\nnot json\n{\"target\":\"192.0.2.2:25\",\"verd",
        )
        .expect("write");
        let (mut w, state) = ResultsWriter::open(&path, true).expect("open");
        assert_eq!(state.done.len(), 1);
        assert!(state.done.contains(&"192.0.2.1:25".parse().expect("addr")));
        assert_eq!(state.unreadable_lines, 1);
        assert!(state.truncated_bytes > 0);
        w.write_record("{\"target\":\"192.0.2.2:25\",\"verdict\":\"clean\"}")
            .expect("write");
        drop(w);
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text.lines().count(), 3);
        assert!(text.ends_with("\"clean\"}\n"));
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn resume_drops_incomplete_records_so_their_targets_are_probed_again() {
        // Issue: records of targets aborted by a second signal counted as done.
        let path = tmp("incomplete");
        std::fs::write(
            &path,
            "{\"target\":\"192.0.2.1:25\",\"rule\":\"clean\"}\n\
             {\"target\":\"192.0.2.2:25\",\"rule\":\"interrupted\"}\n\
             {\"target\":\"192.0.2.3:25\",\"rule\":\"not_probed\"}\n",
        )
        .expect("write");
        let (mut w, state) = ResultsWriter::open(&path, true).expect("open");
        assert_eq!(state.done.len(), 1);
        assert_eq!(state.incomplete_dropped, 2);
        w.write_record("{\"target\":\"192.0.2.2:25\",\"rule\":\"clean\"}")
            .expect("write");
        drop(w);
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(!text.contains("interrupted"));
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn refuses_to_overwrite_without_resume() {
        let path = tmp("exists");
        std::fs::write(&path, "{\"target\":\"192.0.2.1:25\"}\n").expect("write");
        assert!(matches!(
            ResultsWriter::open(&path, false),
            Err(ResultsError::Exists { .. })
        ));
        let _ = std::fs::remove_file(&path);
    }
}
