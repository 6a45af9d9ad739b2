//! The ReconMap lab.
