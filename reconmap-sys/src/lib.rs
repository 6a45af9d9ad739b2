//! Operating-system helpers shared by ReconMap, its lab, xtask and the tests: running
//! programs, network namespaces, privileges, locating the project's binaries, and the raw IPv4
//! sender (the only way ReconMap and the lab's boxes put packets on the wire).
pub mod bins;
pub mod netns;
pub mod privilege;
pub mod process;
pub mod raw;

pub use raw::RawSender;
