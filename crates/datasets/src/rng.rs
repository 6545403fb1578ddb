//! A small seeded PRNG (SplitMix64) and the seeded operations built on it: shuffles, re-splits
//! and the per-(seed, epoch) batch order. Written here so that generated data and splits never
//! depend on another crate's algorithm staying the same across versions.

/// SplitMix64 (Steele, Lea & Flood 2014): 64-bit state, one add and a mix per draw.
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// A generator for one named stream under one seed, e.g. `("mrpc/resplit", 42)`, so that
    /// different uses of the same seed do not share draws.
    pub fn for_stream(stream: &str, seed: u64) -> Self {
        // FNV-1a of the stream name, mixed with the seed.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in stream.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        let mut g = Self::new(h ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        g.next_u64();
        g
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (Lemire's multiply-shift with rejection; exact, no modulo bias).
    pub fn below(&mut self, n: usize) -> usize {
        assert!(n > 0, "below(0)");
        let n = n as u64;
        loop {
            let x = self.next_u64();
            let m = u128::from(x) * u128::from(n);
            let low = m as u64;
            if low >= n || low >= n.wrapping_neg() % n {
                return (m >> 64) as usize;
            }
        }
    }

    /// Uniform in `[0, 1)` with 53 bits.
    pub fn unit_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// Fisher–Yates, in place.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

/// A seeded permutation of `0..n`.
pub fn permutation(n: usize, stream: &str, seed: u64) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    SplitMix64::for_stream(stream, seed).shuffle(&mut idx);
    idx
}

/// Splits `items` by a seeded permutation into parts of the given sizes (which must add up
/// to `items.len()`), each part keeping the permuted order.
pub fn split_by_sizes<T>(items: Vec<T>, sizes: &[usize], stream: &str, seed: u64) -> Vec<Vec<T>> {
    assert_eq!(sizes.iter().sum::<usize>(), items.len(), "split sizes must cover every item");
    let order = permutation(items.len(), stream, seed);
    let mut slots: Vec<Option<T>> = items.into_iter().map(Some).collect();
    let mut out = Vec::with_capacity(sizes.len());
    let mut at = 0;
    for &size in sizes {
        out.push(order[at..at + size].iter().map(|&i| slots[i].take().expect("each index once")).collect());
        at += size;
    }
    out
}

/// Sizes for fractions of `n`: every part but the last is `floor(n * f)`, the last takes the
/// rest, so nothing is dropped.
pub fn sizes_for_fractions(n: usize, fractions: &[f64]) -> Vec<usize> {
    let mut sizes: Vec<usize> = fractions[..fractions.len() - 1]
        .iter()
        .map(|f| (n as f64 * f).floor() as usize)
        .collect();
    let used: usize = sizes.iter().sum();
    sizes.push(n - used);
    sizes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_matches_the_reference_sequence() {
        // Reference values of SplitMix64 seeded with 0 (as in Vigna's splitmix64.c).
        let mut g = SplitMix64::new(0);
        assert_eq!(g.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(g.next_u64(), 0x6e78_9e6a_a1b9_65f4);
        assert_eq!(g.next_u64(), 0x06c4_5d18_8009_454f);
    }

    #[test]
    fn below_is_in_range_and_roughly_uniform() {
        let mut g = SplitMix64::new(7);
        let mut counts = [0usize; 5];
        for _ in 0..50_000 {
            counts[g.below(5)] += 1;
        }
        for c in counts {
            assert!((9_500..10_500).contains(&c), "{counts:?}");
        }
    }

    #[test]
    fn split_by_sizes_is_a_seeded_partition() {
        let parts = split_by_sizes((0..10).collect::<Vec<_>>(), &[5, 3, 2], "t", 1);
        assert_eq!(parts.iter().map(Vec::len).collect::<Vec<_>>(), vec![5, 3, 2]);
        let mut all: Vec<i32> = parts.concat();
        all.sort();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        assert_eq!(parts, split_by_sizes((0..10).collect::<Vec<_>>(), &[5, 3, 2], "t", 1));
        assert_ne!(parts, split_by_sizes((0..10).collect::<Vec<_>>(), &[5, 3, 2], "t", 2));
        assert_eq!(sizes_for_fractions(101, &[0.5, 0.5]), vec![50, 51]);
        assert_eq!(sizes_for_fractions(15_588, &[0.7, 0.15, 0.15]), vec![10_911, 2_338, 2_339]);
    }
}
