//! ReconMap reports: where on the network STARTTLS stripping happens, from the JSON records of
//! one or more scans (shards, vantage points), as one self-contained HTML file or as Markdown.
//!
//! Records are read leniently (every field optional) so that records of any schema version
//! load; this crate depends on no other ReconMap crate.
//!
//! ```no_run
//! use reconmap_report::{load_inputs, render_html, render_markdown, HtmlOptions};
//! let data = load_inputs(&["results.jsonl".into()])?;
//! std::fs::write("report.html", render_html(&data, &HtmlOptions::default())?)?;
//! print!("{}", render_markdown(&data));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
pub mod browser;
mod error;
pub mod escape;
mod html;
mod load;
pub mod map;
mod markdown;
pub mod model;
pub mod summary;
pub mod synthetic;
mod view;

pub use browser::screenshot;
pub use error::ReportError;
pub use html::{render_html, HtmlOptions};
pub use load::{load_inputs, BadLine, Dataset, InputFile, ScanMeta, MAX_BAD_LINES_KEPT};
pub use markdown::render_markdown;
