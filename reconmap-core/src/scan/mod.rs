//! Building blocks of `reconmap scan`: target lists, blocklists, pseudo-random order and
//! sharding, and the summary. The sessions themselves run on the same engine as `probe`
//! ([`crate::engine`]).
pub mod blocklist;
pub mod cidr;
pub mod order;
pub mod summary;
pub mod targets;

pub use blocklist::Blocklist;
pub use cidr::Cidr;
pub use order::{shard_order, Permutation, Shard};
pub use summary::Tally;
pub use targets::{parse_target, BadLine, ListFormat, Resolver, TargetError, TargetList};
