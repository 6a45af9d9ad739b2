//! Packet pacing: a token bucket over every packet the engine sends.
use std::time::{Duration, Instant};

/// Rates outside this range are clamped (a rate of 1e-300 would mean one packet in 1e292
/// years; one above a billion per second is no limit at all).
pub const MIN_RATE: f64 = 0.001;
pub const MAX_RATE: f64 = 1e9;

/// `rate` packets per second, with a burst of at most 10 ms worth (at least 1).
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A bucket for `rate` packets per second; NaN, infinite and out-of-range rates are
    /// clamped into [`MIN_RATE`, `MAX_RATE`] (NaN counts as the minimum).
    pub fn new(rate: f64, now: Instant) -> Self {
        let rate = if rate.is_nan() {
            MIN_RATE
        } else {
            rate.clamp(MIN_RATE, MAX_RATE)
        };
        let burst = (rate / 100.0).max(1.0);
        Self {
            rate,
            burst,
            tokens: 1.0,
            last: now,
        }
    }

    /// The rate in effect (after clamping).
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// Takes a token, or says when the next one will be there.
    pub fn take(&mut self, now: Instant) -> Result<(), Instant> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let wait = Duration::try_from_secs_f64((1.0 - self.tokens) / self.rate)
                .unwrap_or(Duration::from_secs(1000));
            Err(now.checked_add(wait).unwrap_or(now))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paces_at_the_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10.0, t0);
        assert!(b.take(t0).is_ok());
        let next = b.take(t0).expect_err("bucket should be empty");
        let wait = next.duration_since(t0);
        assert!(
            wait > Duration::from_millis(90) && wait <= Duration::from_millis(101),
            "{wait:?}"
        );
        assert!(b.take(t0 + Duration::from_millis(100)).is_ok());
        // Over a long run the pace is the rate.
        let mut fast = TokenBucket::new(1000.0, t0);
        let mut t = t0;
        let mut sent = 0;
        while t < t0 + Duration::from_secs(1) {
            match fast.take(t) {
                Ok(()) => sent += 1,
                Err(next) => t = next,
            }
        }
        assert!((995..=1011).contains(&sent), "{sent}");
    }

    #[test]
    fn absurd_rates_are_clamped_never_panic() {
        let t0 = Instant::now();
        for rate in [
            f64::NAN,
            0.0,
            -1.0,
            1e-300,
            f64::MIN_POSITIVE,
            1e300,
            f64::INFINITY,
        ] {
            let mut b = TokenBucket::new(rate, t0);
            assert!(
                b.take(t0).is_ok(),
                "{rate}: the first token is always there"
            );
            if let Err(next) = b.take(t0) {
                assert!(next >= t0, "{rate}");
            }
        }
        assert_eq!(TokenBucket::new(1e-300, t0).rate(), MIN_RATE);
        assert_eq!(TokenBucket::new(1e300, t0).rate(), MAX_RATE);
    }
}
