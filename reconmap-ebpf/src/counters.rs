//! Bumping the per-CPU counters.
use crate::maps::COUNTERS;

#[inline(always)]
pub fn bump(index: u32) {
    if let Some(c) = COUNTERS.get_ptr_mut(index) {
        // SAFETY: the pointer comes from the map and is valid for this CPU; per-CPU slots are
        // never written concurrently.
        unsafe { *c += 1 };
    }
}
