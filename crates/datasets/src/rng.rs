//! Seeded operations on data: permutations, re-splits by sizes or fractions. The generator is
//! the `seeded` crate's [`SplitMix64`] (re-exported here), so generated data and splits never
//! depend on another crate's algorithm staying the same across versions.

pub use seeded::SplitMix64;

/// A seeded permutation of `0..n`.
pub fn permutation(n: usize, seed: u64, stream: &str) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    SplitMix64::for_stream(seed, stream).shuffle(&mut idx);
    idx
}

/// Splits `items` by a seeded permutation into parts of the given sizes (which must add up
/// to `items.len()`), each part keeping the permuted order.
pub fn split_by_sizes<T>(items: Vec<T>, sizes: &[usize], seed: u64, stream: &str) -> Vec<Vec<T>> {
    assert_eq!(sizes.iter().sum::<usize>(), items.len(), "split sizes must cover every item");
    let order = permutation(items.len(), seed, stream);
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
    fn split_by_sizes_is_a_seeded_partition() {
        let parts = split_by_sizes((0..10).collect::<Vec<_>>(), &[5, 3, 2], 1, "t");
        assert_eq!(parts.iter().map(Vec::len).collect::<Vec<_>>(), vec![5, 3, 2]);
        let mut all: Vec<i32> = parts.concat();
        all.sort();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        assert_eq!(parts, split_by_sizes((0..10).collect::<Vec<_>>(), &[5, 3, 2], 1, "t"));
        assert_ne!(parts, split_by_sizes((0..10).collect::<Vec<_>>(), &[5, 3, 2], 2, "t"));
        assert_eq!(sizes_for_fractions(101, &[0.5, 0.5]), vec![50, 51]);
        assert_eq!(sizes_for_fractions(15_588, &[0.7, 0.15, 0.15]), vec![10_911, 2_338, 2_339]);
    }
}
