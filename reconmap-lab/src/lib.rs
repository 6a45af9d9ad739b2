//! The ReconMap lab: paths of routers in network namespaces, real mail servers and
//! STARTTLS-stripping middleboxes, described by scenario files.
pub mod netns;
