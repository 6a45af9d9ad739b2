//! Pseudo-random target order and ZMap-style sharding.
//!
//! The order is a keyed permutation of `0..n` (a balanced Feistel network on the smallest even
//! power of two >= n, with cycle walking), so it needs no memory per target, is the same for the
//! same seed on every box, and consecutive probes rarely hit one network. Shard `i` of `s` takes
//! the permutation's positions `i, i+s, i+2s, ...`: every target lands in exactly one shard.

/// A keyed permutation of `0..n`.
#[derive(Clone, Debug)]
pub struct Permutation {
    n: u64,
    half_bits: u32,
    keys: [u64; 4],
}

impl Permutation {
    pub fn new(n: u64, seed: u64) -> Self {
        let bits = 64 - n.saturating_sub(1).leading_zeros();
        let half_bits = bits.div_ceil(2).max(1);
        let mut state = seed;
        let keys = [(); 4].map(|()| splitmix64(&mut state));
        Self { n, half_bits, keys }
    }

    pub fn len(&self) -> u64 {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The element at position `i` (for `i < n`).
    pub fn at(&self, i: u64) -> Option<u64> {
        if i >= self.n {
            return None;
        }
        let mut x = i;
        // Cycle walking: the domain is < 4n, so this ends after a few steps on average.
        loop {
            x = self.feistel(x);
            if x < self.n {
                return Some(x);
            }
        }
    }

    fn feistel(&self, x: u64) -> u64 {
        let mask = (1u64 << self.half_bits) - 1;
        let (mut l, mut r) = (x >> self.half_bits, x & mask);
        for k in self.keys {
            let f = mix(r ^ k) & mask;
            (l, r) = (r, l ^ f);
        }
        (l << self.half_bits) | r
    }
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    mix(*state)
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Which part of the work this box does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    pub fn new(index: u32, count: u32) -> Result<Self, String> {
        if count == 0 {
            return Err("--shards must be at least 1".to_string());
        }
        if index >= count {
            return Err(format!(
                "--shard {index} is out of range for --shards {count} (0..{count})"
            ));
        }
        Ok(Self { index, count })
    }
}

/// The indices (into the target list) this shard visits, in permutation order.
pub fn shard_order(perm: &Permutation, shard: Shard) -> impl Iterator<Item = u64> + '_ {
    (u64::from(shard.index)..perm.len())
        .step_by(usize::try_from(shard.count).unwrap_or(1).max(1))
        .filter_map(|pos| perm.at(pos))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_permutation(n: u64, seed: u64) -> bool {
        let p = Permutation::new(n, seed);
        let mut seen = vec![false; usize::try_from(n).unwrap_or(0)];
        for i in 0..n {
            let Some(x) = p.at(i) else { return false };
            let Some(slot) = seen.get_mut(usize::try_from(x).unwrap_or(usize::MAX)) else {
                return false;
            };
            if *slot {
                return false;
            }
            *slot = true;
        }
        seen.iter().all(|&s| s)
    }

    #[test]
    fn is_a_permutation_for_many_sizes() {
        for n in [0, 1, 2, 3, 5, 16, 17, 255, 256, 1000, 65_537] {
            assert!(is_permutation(n, 42), "n={n}");
        }
    }

    #[test]
    fn same_seed_same_order_other_seed_other_order() {
        let a: Vec<u64> = (0..100)
            .filter_map(|i| Permutation::new(100, 7).at(i))
            .collect();
        let b: Vec<u64> = (0..100)
            .filter_map(|i| Permutation::new(100, 7).at(i))
            .collect();
        let c: Vec<u64> = (0..100)
            .filter_map(|i| Permutation::new(100, 8).at(i))
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        // Not the identity: consecutive targets are spread out.
        assert_ne!(a, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn shards_cover_every_target_exactly_once() {
        let perm = Permutation::new(1001, 99);
        let mut all: Vec<u64> = (0..4)
            .flat_map(|i| shard_order(&perm, Shard::new(i, 4).expect("valid")).collect::<Vec<_>>())
            .collect();
        all.sort_unstable();
        assert_eq!(all, (0..1001).collect::<Vec<_>>());
        assert!(Shard::new(4, 4).is_err());
        assert!(Shard::new(0, 0).is_err());
    }
}
