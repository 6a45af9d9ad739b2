//! Offline AS attribution for ReconMap.
//!
//! ReconMap finds the *segment* of a path where a STARTTLS command gets rewritten: `after`,
//! the last hop that still saw it intact, and `at`, the first that saw it changed (or the
//! server itself). This crate answers the next question, *whose* box that is: the client's
//! network, a transit network or the mail server's own network.
//!
//! 1. [`AsDb`] loads a prefix-to-AS table (the CAIDA / RouteViews `prefix2as` format:
//!    `prefix<TAB>length<TAB>asn`, IPv4 and IPv6 in one file, plain or gzip) into two
//!    longest-prefix-match tries, once per run. [`AsDb::origins`] gives the origin ASes of
//!    any address (several for multi-origin prefixes).
//! 2. [`AsNames`] loads AS names (CAIDA as2org, or `asn<TAB>name`) for display.
//! 3. [`attribute`] classifies a segment from the origin ASes of the prober, the target and
//!    the two ends of the segment: [`AttributionClass`].
//!
//! ```
//! use reconmap_asn::{attribute, AsDb, AttributionClass};
//! use std::net::IpAddr;
//!
//! let table = "192.0.2.0\t24\t64500\n198.51.100.0\t24\t64501\n203.0.113.0\t24\t64502\n";
//! let db = AsDb::from_reader(table.as_bytes())?;
//! let ip = |s: &str| s.parse::<IpAddr>().unwrap();
//! let prober = db.origins(ip("192.0.2.10"));
//! let target = db.origins(ip("203.0.113.25"));
//! // The STARTTLS command was intact at 198.51.100.1 and changed at 198.51.100.9.
//! let after = db.origins(ip("198.51.100.1"));
//! let at = db.origins(ip("198.51.100.9"));
//! let verdict = attribute(prober, target, after, at);
//! assert_eq!(verdict.class, AttributionClass::Transit);
//! assert_eq!(verdict.asns, vec![64501]);
//! # Ok::<(), reconmap_asn::LoadError>(())
//! ```
//!
//! # Method and its known error
//!
//! (The same, for readers of the output, is in `docs/output-asn.md` of this crate.)
//!
//! Each hop is mapped to the AS that originates, in BGP, the longest prefix covering the
//! address the hop answered from. This is the usual first step of AS-level traceroute and
//! it is known to be wrong at AS borders, in ways that the measurement literature (Mao et
//! al.'s AS-level traceroute work, and later bdrmap and MAP-IT) describes in detail:
//!
//! - **Border interfaces numbered from the neighbour's space.** The link between two
//!   networks is numbered from one of them, often the provider's. The border router of AS A
//!   then answers (ICMP Time Exceeded comes from the inbound interface) from an address of
//!   AS B, so the hop is attributed to B although the box belongs to A. The effect is a
//!   border that appears one hop early or late.
//! - **IXP peering LANs.** At an Internet exchange the routers of many networks share one
//!   LAN prefix, announced by the IXP's own AS or not at all: the hop maps to the IXP or to
//!   nothing, not to the network whose router it is.
//! - **Unannounced infrastructure space.** Backbone interfaces are often numbered from
//!   space that is not announced: no prefix covers them ([`AttributionClass::Unknown`]), or a
//!   covering aggregate of another network does (a wrong answer).
//! - **Third-party addresses.** A router may answer from an interface other than the one the
//!   probe arrived on, e.g. the one on its route back to the prober.
//! - **Multi-origin prefixes, siblings, stale data.** A prefix announced by several ASes,
//!   several ASes of one organisation, or a table older than the measurement.
//!
//! Consequences for reading the classes: [`AttributionClass::Ambiguous`] at a border is
//! expected, not a failure (the change happened at or next to an AS border, and the data
//! cannot say on which side); `transit` and `client_network` can be off by one hop, i.e. a
//! box attributed to the prober's AS can be the first router of its upstream and the other
//! way round. Treat the class as a hint that names candidate networks, not as proof of who
//! operates the box. Tools that resolve borders properly (bdrmap, MAP-IT) combine alias
//! resolution, AS relationships and many traces; this crate does not.
#![forbid(unsafe_code)]

mod attribution;
mod db;
mod error;
mod input;
mod names;
mod prefix2as;

pub use attribution::{attribute, Attribution, AttributionClass};
pub use db::{AsDb, Origin};
pub use error::{BadLine, LineError, LoadError, Location, SkippedLines, Strictness};
pub use input::MAX_LINE_BYTES;
pub use ipnet::IpNet;
pub use names::{AsNames, NamesFormat};
