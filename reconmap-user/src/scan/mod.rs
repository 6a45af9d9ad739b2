//! Building blocks of `reconmap scan`: target lists, blocklists, pseudo-random order and
//! sharding, the JSON Lines results file with resume, and the summary. The sessions themselves
//! run on the same engine as `probe` ([`crate::engine`]).
pub mod blocklist;
pub mod cidr;
pub mod order;
pub mod results;
pub mod summary;
pub mod targets;

pub use blocklist::Blocklist;
pub use cidr::Cidr;
pub use order::{shard_order, Permutation, Shard};
pub use results::{ResultsWriter, ResumeState};
pub use summary::Tally;
pub use targets::{parse_target, BadLine, ListFormat, SystemResolver, TargetError, TargetList};
