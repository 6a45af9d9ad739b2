//! Where results go: the per-probe report writer (table, JSON, CSV), the scan's JSON Lines file
//! with resume, and the resolver of host names in target lists.
pub mod files;
pub mod report_writer;
pub mod resolver;
pub mod results;
