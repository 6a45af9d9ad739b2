//! Privileges: what ReconMap needs, checked up front, and given up once it is set up.
//!
//! Loading and attaching the eBPF programs needs CAP_BPF and CAP_PERFMON (the verifier refuses
//! the programs' pointer arithmetic without CAP_PERFMON), CAP_NET_ADMIN (TC/XDP attach, SO_MARK)
//! and CAP_NET_RAW (the raw socket). Once the programs are attached and the sockets open, every
//! capability is dropped: the maps, the ring buffer and the raw socket are used through file
//! descriptors, so parsing what the network sends never runs with privileges.
pub use caps::Capability;
use caps::{CapSet, CapsHashSet};

/// The capabilities setup needs.
pub const REQUIRED: [Capability; 4] = [
    Capability::CAP_BPF,
    Capability::CAP_PERFMON,
    Capability::CAP_NET_ADMIN,
    Capability::CAP_NET_RAW,
];

/// Why privileges are not right.
#[derive(Debug, thiserror::Error)]
pub enum PrivilegeError {
    #[error(
        "missing capabilities {missing}: run as root, or give the binary CAP_BPF, CAP_PERFMON, \
         CAP_NET_ADMIN and CAP_NET_RAW (e.g. `setcap cap_bpf,cap_perfmon,cap_net_admin,cap_net_raw+ep`)"
    )]
    Missing { missing: String },
    #[error("cannot read or change capabilities: {0}")]
    Caps(String),
}

/// Whether the effective user is root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Fails with a clear message unless every capability setup needs is effective (or can be
/// raised from the permitted set, as with file capabilities).
pub fn check_required() -> Result<(), PrivilegeError> {
    let effective =
        caps::read(None, CapSet::Effective).map_err(|e| PrivilegeError::Caps(e.to_string()))?;
    let permitted =
        caps::read(None, CapSet::Permitted).map_err(|e| PrivilegeError::Caps(e.to_string()))?;
    let missing: Vec<String> = REQUIRED
        .iter()
        .filter(|c| !effective.contains(c) && !permitted.contains(c))
        .map(|c| c.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(PrivilegeError::Missing {
            missing: missing.join(", "),
        });
    }
    // With file capabilities the permitted ones may not be effective yet.
    for c in REQUIRED {
        if !effective.contains(&c) {
            caps::raise(None, CapSet::Effective, c)
                .map_err(|e| PrivilegeError::Caps(e.to_string()))?;
        }
    }
    Ok(())
}

/// Drops every capability from the effective, permitted and inheritable sets (for good: they
/// cannot be raised again). Root's uid stays, so files the run writes are still root's.
pub fn drop_all() -> Result<(), PrivilegeError> {
    drop_all_but(&[])
}

/// Like [`drop_all`], keeping `keep` (effective and permitted).
pub fn drop_all_but(keep: &[Capability]) -> Result<(), PrivilegeError> {
    let kept: CapsHashSet = keep.iter().copied().collect();
    for set in [CapSet::Effective, CapSet::Permitted] {
        caps::set(None, set, &kept).map_err(|e| PrivilegeError::Caps(e.to_string()))?;
    }
    caps::set(None, CapSet::Inheritable, &CapsHashSet::new())
        .map_err(|e| PrivilegeError::Caps(e.to_string()))?;
    // Ambient capabilities would survive an exec; clear them too.
    let _ = caps::clear(None, CapSet::Ambient);
    Ok(())
}

/// The effective capabilities now (for tests and diagnostics).
pub fn effective() -> Result<CapsHashSet, PrivilegeError> {
    caps::read(None, CapSet::Effective).map_err(|e| PrivilegeError::Caps(e.to_string()))
}
