//! The JSON Lines results file: one record per target, written whole (never torn or
//! interleaved), flushed regularly, and readable by `--resume` to skip what is already done.
use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::net::SocketAddrV4;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Errors of the results file, each naming the file.
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    #[error("results file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("results file {path} exists; use --resume to continue it or choose another file")]
    Exists { path: PathBuf },
}

/// What `--resume` found in an existing file.
#[derive(Debug, Default)]
pub struct ResumeState {
    pub done: HashSet<SocketAddrV4>,
    /// Bytes of an incomplete last line that were cut off (a crash mid-write).
    pub truncated_bytes: u64,
    /// Complete lines that were not a record with a `target` (kept, but not counted as done).
    pub unreadable_lines: usize,
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
        let file = if resume && path.exists() {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)
                .map_err(io)?;
            let mut text = Vec::new();
            file.read_to_end(&mut text).map_err(io)?;
            let complete = text.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
            state.truncated_bytes = (text.len() - complete) as u64;
            for line in text
                .get(..complete)
                .unwrap_or_default()
                .split(|&b| b == b'\n')
            {
                if line.is_empty() {
                    continue;
                }
                match target_of(line) {
                    Some(t) => {
                        state.done.insert(t);
                    }
                    None => state.unreadable_lines += 1,
                }
            }
            file.set_len(complete as u64).map_err(io)?;
            file.seek(SeekFrom::End(0)).map_err(io)?;
            file
        } else {
            if path.exists() && !resume {
                let is_empty = std::fs::metadata(path)
                    .map(|m| m.len() == 0)
                    .unwrap_or(false);
                if !is_empty {
                    return Err(ResultsError::Exists {
                        path: path.to_path_buf(),
                    });
                }
            }
            File::create(path).map_err(io)?
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

fn target_of(line: &[u8]) -> Option<SocketAddrV4> {
    let v: serde_json::Value = serde_json::from_slice(line).ok()?;
    v.get("target")?.as_str()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

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
