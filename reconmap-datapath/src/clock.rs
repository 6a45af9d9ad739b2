//! Maps the kernel's capture timestamps (`bpf_ktime_get_ns`, CLOCK_MONOTONIC) onto
//! `std::time::Instant`, so RTTs are measured from the moment a packet reached the interface,
//! not from when user space got round to reading the ring.
use std::time::{Duration, Instant};

/// A pair of readings of the same instant on both clocks.
#[derive(Clone, Copy, Debug)]
pub struct KernelClock {
    instant: Instant,
    mono_ns: u64,
}

impl KernelClock {
    pub fn new() -> Self {
        let instant = Instant::now();
        Self {
            instant,
            mono_ns: monotonic_ns(),
        }
    }

    /// The `Instant` of a kernel timestamp; never later than `now` (clock reads race a little).
    pub fn to_instant(&self, ts_ns: u64, now: Instant) -> Instant {
        let t = if ts_ns >= self.mono_ns {
            self.instant + Duration::from_nanos(ts_ns - self.mono_ns)
        } else {
            self.instant
                .checked_sub(Duration::from_nanos(self.mono_ns - ts_ns))
                .unwrap_or(self.instant)
        };
        t.min(now)
    }
}

impl Default for KernelClock {
    fn default() -> Self {
        Self::new()
    }
}

fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if rc != 0 {
        return 0;
    }
    u64::try_from(ts.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(ts.tv_nsec).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_timestamps_map_close_to_now() {
        let clock = KernelClock::new();
        let now = Instant::now();
        let mapped = clock.to_instant(monotonic_ns(), now);
        assert!(now.saturating_duration_since(mapped) < Duration::from_millis(50));
        // A timestamp from the future is clamped to now.
        assert_eq!(clock.to_instant(u64::MAX, now), now);
    }
}
