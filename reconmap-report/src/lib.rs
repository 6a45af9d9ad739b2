//! ReconMap reports: where on the network STARTTLS stripping happens, from the JSON records of
//! one or more scans (shards, vantage points), as one self-contained HTML file or as Markdown.
//!
//! Records are read leniently (every field optional) so that records of any schema version
//! load; this crate depends on no other ReconMap crate.
mod error;
mod load;
pub mod model;

pub use error::ReportError;
pub use load::{load_inputs, BadLine, Dataset, InputFile, ScanMeta, MAX_BAD_LINES_KEPT};
pub mod escape;
mod html;
pub mod map;
pub mod summary;
pub mod synthetic;
pub use html::{render_html, HtmlOptions};
pub mod browser;
pub use browser::screenshot;
