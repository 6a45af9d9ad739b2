//! The records a scan writes, read leniently, and what the report derives from one record.
mod attribution;
mod lenient;
mod record;
mod segment;
mod verdict;

pub use attribution::{AttributionClass, Placement};
pub use record::{
    Attribution, Certificate, FieldChange, Hop, HopRef, Record, Reply, Rst, Segment, ServerHello,
    Smtp, Tcp, Tls, TlsFailure, Vantage,
};
pub use segment::SegmentEnd;
pub use verdict::{verdict_info, VerdictInfo, VerdictKind};
