//! Errors of loading records and rendering reports.
use std::path::PathBuf;

/// What can go wrong building a report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("no input files given")]
    NoInputs,
    #[error("cannot read {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no record could be loaded from {files} file(s) ({bad} bad line(s){first})")]
    NothingLoaded {
        files: usize,
        bad: usize,
        /// The first bad line, `: file:line: why`, or empty.
        first: String,
    },
    #[error("cannot render the HTML template: {0}")]
    Template(#[from] askama::Error),
    #[error("cannot encode the report data: {0}")]
    Encode(#[from] serde_json::Error),
}
