//! A small seeded pseudo-random generator (SplitMix64) for lab helpers whose misbehaviour must
//! be reproducible from a `--seed`: the same seed gives the same sequence on every run and
//! every machine. Not for anything that needs real randomness.

/// SplitMix64: a 64-bit state advanced by a constant, mixed on output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeededRng {
    state: u64,
}

impl SeededRng {
    /// A generator whose sequence is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 pseudo-random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// The next 16 pseudo-random bits.
    pub fn next_u16(&mut self) -> u16 {
        // The top bits mix best; the shift leaves exactly 16 of them.
        (self.next_u64() >> 48) as u16
    }

    /// A value in `low..high` (`low` when the range is empty). The modulo bias is negligible
    /// for the small ranges the lab uses.
    pub fn below(&mut self, low: usize, high: usize) -> usize {
        let span = high.saturating_sub(low) as u64;
        if span == 0 {
            return low;
        }
        low + (self.next_u64() % span) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_other_seed_other_sequence() {
        let a: Vec<u64> = {
            let mut r = SeededRng::new(7);
            (0..4).map(|_| r.next_u64()).collect()
        };
        let b: Vec<u64> = {
            let mut r = SeededRng::new(7);
            (0..4).map(|_| r.next_u64()).collect()
        };
        let c: Vec<u64> = {
            let mut r = SeededRng::new(8);
            (0..4).map(|_| r.next_u64()).collect()
        };
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn below_stays_in_range() {
        let mut r = SeededRng::new(1);
        for _ in 0..1000 {
            let v = r.below(3, 9);
            assert!((3..9).contains(&v));
        }
        assert_eq!(r.below(5, 5), 5);
        assert_eq!(r.below(6, 2), 6);
    }
}
