//! Target arguments: `ADDR[:PORT]` (parsed by the library, see [`reconmap::scan::targets`]).
pub use reconmap::scan::targets::parse_target;
